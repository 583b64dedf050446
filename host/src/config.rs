//! Server configuration, from flags and the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub plugins_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub db_path: PathBuf,
}

impl ServeConfig {
    /// `HOST` and `PORT` override 127.0.0.1:4007.
    pub fn from_env(plugins_dir: PathBuf, cache_dir: PathBuf, db_path: PathBuf) -> Result<Self> {
        let addr = listen_addr(|key| std::env::var(key).ok())?;
        Ok(Self {
            addr,
            plugins_dir,
            cache_dir,
            db_path,
        })
    }
}

fn listen_addr(var: impl Fn(&str) -> Option<String>) -> Result<SocketAddr> {
    let host: IpAddr = match var("HOST") {
        Some(h) => h
            .parse()
            .with_context(|| format!("HOST=`{h}` is not an IP address"))?,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    let port: u16 = match var("PORT") {
        Some(p) => p
            .parse()
            .with_context(|| format!("PORT=`{p}` is not a port number"))?,
        None => 4007,
    };
    Ok(SocketAddr::new(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_loopback_4007_unless_host_or_port_say_otherwise() {
        assert_eq!(
            listen_addr(|_| None).unwrap(),
            "127.0.0.1:4007".parse().unwrap()
        );
        let env = |k: &str| match k {
            "HOST" => Some("0.0.0.0".to_string()),
            "PORT" => Some("8080".to_string()),
            _ => None,
        };
        assert_eq!(listen_addr(env).unwrap(), "0.0.0.0:8080".parse().unwrap());
        let err = listen_addr(|k| (k == "PORT").then(|| "http".to_string())).unwrap_err();
        assert_eq!(err.to_string(), "PORT=`http` is not a port number");
    }
}
