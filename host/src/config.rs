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
        let host: IpAddr = match std::env::var("HOST") {
            Ok(h) => h
                .parse()
                .with_context(|| format!("HOST=`{h}` is not an IP address"))?,
            Err(_) => IpAddr::from([127, 0, 0, 1]),
        };
        let port: u16 = match std::env::var("PORT") {
            Ok(p) => p
                .parse()
                .with_context(|| format!("PORT=`{p}` is not a port number"))?,
            Err(_) => 4007,
        };
        Ok(Self {
            addr: SocketAddr::new(host, port),
            plugins_dir,
            cache_dir,
            db_path,
        })
    }
}
