//! Commands against a running server: `regent stop`, `resume`, `status`,
//! and the plumbing `regent plugin push|list|activate|rollback` share.
//! They read `REGENT_URL` (default `http://127.0.0.1:4007`),
//! `REGENT_TOKEN` (an operator's token to stop or resume) and, for an
//! HTTPS server with a private CA, `REGENT_CA_FILE`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::StatusCode;
use serde_json::Value;

/// How long the quick calls (stop, resume, status) wait for an answer.
const QUICK: Duration = Duration::from_secs(10);

pub struct Remote {
    url: String,
    token: String,
}

/// A non-2xx answer: its status, and its body (`{"error": {...}}` as the
/// server words it, or the raw text as a JSON string).
#[derive(Debug)]
pub struct RemoteError {
    pub status: StatusCode,
    pub body: Value,
}

impl RemoteError {
    pub fn of(status: StatusCode, text: &str) -> Self {
        let body = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
        Self { status, body }
    }

    /// `error.code`, e.g. `gate_failed`.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// `error.message`, else the body as it came.
    pub fn message(&self) -> String {
        match (&self.body["error"]["message"], &self.body) {
            (Value::String(m), _) => m.clone(),
            (_, Value::String(text)) if text.trim().is_empty() => "no details".into(),
            (_, Value::String(text)) => text.clone(),
            (_, body) => body.to_string(),
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message())
    }
}

impl std::error::Error for RemoteError {}

impl Remote {
    /// For `stop`, `resume` and `status`: an operator's token.
    pub fn from_env() -> Result<Self> {
        Self::from_env_for("an operator's token")
    }

    /// `who` completes "REGENT_TOKEN is not set: export ...".
    pub fn from_env_for(who: &str) -> Result<Self> {
        let url = std::env::var("REGENT_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:4007".into());
        let token = std::env::var("REGENT_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .with_context(|| format!("REGENT_TOKEN is not set: export {who}"))?;
        Ok(Self {
            url: url.trim().trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Runs `fut` to completion on a current-thread runtime.
    pub fn block_on<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)
    }

    /// A client whose requests give up after `timeout`. With
    /// `REGENT_CA_FILE`, it trusts only the roots in that PEM file: a
    /// server whose `[tls]` certificate a private CA signed.
    pub fn client(timeout: Duration) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().timeout(timeout);
        if let Some(path) = std::env::var_os("REGENT_CA_FILE").filter(|p| !p.is_empty()) {
            let path = std::path::PathBuf::from(path);
            let pem = std::fs::read(&path)
                .with_context(|| format!("cannot read REGENT_CA_FILE {}", path.display()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("REGENT_CA_FILE {} is not PEM", path.display()))?;
            if roots.is_empty() {
                bail!("REGENT_CA_FILE {} holds no certificate", path.display());
            }
            builder = builder.tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        Ok(builder.build()?)
    }

    /// A request to `path` (starting with `/`) carrying the token.
    pub fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// Sends `req` and reads the JSON answer; a non-2xx answer becomes a
    /// [`RemoteError`] (inside the `anyhow::Error`, for `downcast_ref`).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                anyhow!("Regent at {} did not answer in time", self.url)
            } else {
                anyhow::Error::new(e).context(format!("cannot reach Regent at {}", self.url))
            }
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RemoteError::of(status, &text).into());
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// One JSON call; a non-2xx answer becomes an error quoting the server.
    pub fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        Self::block_on(async {
            let client = Self::client(timeout)?;
            let mut req = self.request(&client, method, path);
            if let Some(b) = body {
                req = req.json(&b);
            }
            self.send(req).await
        })
    }

    /// [`Remote::call_with`] with a short timeout.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.call_with(method, path, body, QUICK)
    }
}

fn show(status: &Value) -> String {
    if status["active"].as_bool() == Some(true) {
        format!(
            "STOPPED since {} by {}: {}",
            status["since"].as_str().unwrap_or("?"),
            status["by"].as_str().unwrap_or("?"),
            status["reason"].as_str().unwrap_or("?")
        )
    } else {
        let last = status["lastActivatedAt"]
            .as_str()
            .map(|t| format!(" (last stopped {t})"))
            .unwrap_or_default();
        format!("RUNNING: autonomous operation is allowed{last}")
    }
}

pub fn stop(reason: &str) -> Result<()> {
    let r = Remote::from_env()?;
    let status = r.call(
        reqwest::Method::POST,
        "/api/emergency-stop",
        Some(serde_json::json!({ "reason": reason })),
    )?;
    if status["changed"].as_bool() == Some(false) {
        println!("already stopped; nothing changed");
    }
    println!("{}", show(&status));
    Ok(())
}

pub fn resume(reason: &str) -> Result<()> {
    let r = Remote::from_env()?;
    let status = r.call(
        reqwest::Method::POST,
        "/api/emergency-stop/resume",
        Some(serde_json::json!({ "reason": reason })),
    )?;
    println!("{}", show(&status));
    Ok(())
}

pub fn status() -> Result<()> {
    let r = Remote::from_env()?;
    let status = r.call(reqwest::Method::GET, "/api/emergency-stop", None)?;
    println!("{}", show(&status));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_the_server_message_or_the_raw_body() {
        let e = RemoteError::of(
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"forbidden","message":"needs the admin role"}}"#,
        );
        assert_eq!(e.code(), Some("forbidden"));
        assert_eq!(e.to_string(), "403 Forbidden: needs the admin role");
        let e = RemoteError::of(StatusCode::BAD_GATEWAY, "upstream down");
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "502 Bad Gateway: upstream down");
        let e = RemoteError::of(StatusCode::NOT_FOUND, r#"{"x":1}"#);
        assert_eq!(e.to_string(), r#"404 Not Found: {"x":1}"#);
    }
}
