//! Certificates made per test run, and HTTPS receivers that serve with them.

use std::path::{Path, PathBuf};

use regent_host::config::TlsSettings;

/// A self-signed certificate for `127.0.0.1` and `localhost`, written as
/// PEM files.
pub struct TestCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCert {
    /// Generates a fresh key and certificate into `dir` as `<name>.pem`
    /// and `<name>.key`.
    pub fn generate(dir: &Path, name: &str) -> Self {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("rcgen makes a certificate");
        let cert_file = dir.join(format!("{name}.pem"));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, made.cert.pem()).unwrap();
        std::fs::write(&key_file, made.signing_key.serialize_pem()).unwrap();
        Self {
            cert_file,
            key_file,
        }
    }

    pub fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }
}

/// A client that trusts the certificate in `cert_file`, and only it.
pub fn client_trusting(cert_file: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert_file).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// Serves `router` over HTTPS with `cert` on an ephemeral loopback port,
/// with Regent's own TLS listener; returns `https://127.0.0.1:<port>`.
pub async fn serve_https(router: axum::Router, cert: &TestCert) -> String {
    let acceptor = regent_host::tls::acceptor(&cert.settings()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let listener = regent_host::tls::TlsListener::new(listener, acceptor).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}
