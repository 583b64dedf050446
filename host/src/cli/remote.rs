//! Commands against a running server: `regent stop`, `resume`, `status`,
//! and the plumbing `regent plugin push|list|activate|rollback` share.
//! They read `REGENT_URL` (default `http://127.0.0.1:4007`),
//! `REGENT_TOKEN` (an operator's token to stop or resume) and, for an
//! HTTPS server with a private CA, `REGENT_CA_FILE`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::{EmergencyStopStatus, ErrorBody, ErrorDetail, ReasonBody, StopReply};

/// The server the CLI talks to when `REGENT_URL` is not set.
pub const DEFAULT_URL: &str = "http://127.0.0.1:4007";

/// How long the quick calls (stop, resume, status) wait for an answer.
const QUICK: Duration = Duration::from_secs(10);

pub struct Remote {
    url: String,
    token: String,
}

/// A non-2xx answer: its status, the server's `{"error": {...}}` when the
/// body is one, and the body as it came.
#[derive(Debug)]
pub struct RemoteError {
    pub status: StatusCode,
    pub error: Option<ErrorDetail>,
    pub text: String,
}

impl RemoteError {
    pub fn of(status: StatusCode, text: &str) -> Self {
        // A proxy in front of the server may answer with its own text, so a
        // body that is not the server's error shape is kept to be shown as is.
        let error = serde_json::from_str::<ErrorBody>(text)
            .ok()
            .map(|body| body.error);
        Self {
            status,
            error,
            text: text.to_string(),
        }
    }

    /// `error.code`, e.g. `gate_failed`.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }

    /// `error.message`, else the body as it came.
    pub fn message(&self) -> String {
        match &self.error {
            Some(e) => e.message.clone(),
            None if self.text.trim().is_empty() => "no details".into(),
            None => self.text.clone(),
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message())
    }
}

impl std::error::Error for RemoteError {}

/// A 2xx answer that does not have the shape this `regent` expects: most
/// likely a server of another version.
///
/// The parse error is part of the message rather than a `source`: it is the
/// one useful detail, and `{:#}` would print it twice.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint} answered something this regent cannot read ({cause}); is the server another version? The answer: {body}")]
pub struct UnexpectedReply {
    pub endpoint: String,
    pub body: String,
    pub cause: serde_json::Error,
}

/// Reads `text`, the answer of `endpoint` (`PUT /api/plugins/x`), as a `T`.
pub fn decode<T: DeserializeOwned>(endpoint: &str, text: &str) -> Result<T, UnexpectedReply> {
    serde_json::from_str(text).map_err(|cause| UnexpectedReply {
        endpoint: endpoint.to_string(),
        body: shorten(text),
        cause,
    })
}

/// Longest part of an unreadable answer quoted in an error.
const QUOTED: usize = 500;

fn shorten(text: &str) -> String {
    if text.chars().count() <= QUOTED {
        text.to_string()
    } else {
        let cut: String = text.chars().take(QUOTED).collect();
        format!("{cut}…")
    }
}

impl Remote {
    /// For `stop`, `resume` and `status`: an operator's token.
    pub fn from_env() -> Result<Self> {
        Self::from_env_for("an operator's token")
    }

    /// `who` completes "REGENT_TOKEN is not set: export ...".
    pub fn from_env_for(who: &str) -> Result<Self> {
        let env = crate::config::Sources::new(&crate::config::process_env);
        let url = env
            .text(None, "REGENT_URL", None)
            .unwrap_or_else(|| DEFAULT_URL.into());
        let token = env
            .env("REGENT_TOKEN")
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

    /// Sends `req` and returns the body of a 2xx answer; a non-2xx answer
    /// becomes a [`RemoteError`] (inside the `anyhow::Error`, for
    /// `downcast_ref`).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<String> {
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                anyhow!("Regent at {} did not answer in time", self.url)
            } else {
                anyhow::Error::new(e).context(format!("cannot reach Regent at {}", self.url))
            }
        })?;
        let status = resp.status();
        let text = resp.text().await;
        if !status.is_success() {
            // The status says what happened even when the body is cut off.
            return Err(RemoteError::of(status, &text.unwrap_or_default()).into());
        }
        text.with_context(|| format!("cannot read the answer of Regent at {}", self.url))
    }

    /// One JSON call, its answer read as a `T`; a non-2xx answer becomes an
    /// error quoting the server, an answer of another shape an
    /// [`UnexpectedReply`] naming the endpoint.
    pub fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<T> {
        let endpoint = format!("{method} {path}");
        let text = Self::block_on(async {
            let client = Self::client(timeout)?;
            let mut req = self.request(&client, method, path);
            if let Some(b) = body {
                req = req.json(b);
            }
            self.send(req).await
        })?;
        Ok(decode(&endpoint, &text)?)
    }

    /// [`Remote::call_with`] with a short timeout.
    fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        self.call_with(method, path, body, QUICK)
    }
}

fn show(status: &EmergencyStopStatus) -> String {
    if status.active {
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "(not recorded)".into());
        format!(
            "STOPPED since {} by {}: {}",
            or_unknown(status.since.map(|t| t.to_string())),
            or_unknown(status.by.clone()),
            or_unknown(status.reason.clone()),
        )
    } else {
        let last = status
            .last_activated_at
            .map(|t| format!(" (last stopped {t})"))
            .unwrap_or_default();
        format!("RUNNING: autonomous operation is allowed{last}")
    }
}

fn set_stop(path: &str, reason: &str) -> Result<StopReply> {
    let body = ReasonBody {
        reason: reason.to_string(),
    };
    Remote::from_env()?.call(Method::POST, path, Some(&body))
}

pub fn stop(reason: &str) -> Result<()> {
    let reply = set_stop("/api/emergency-stop", reason)?;
    if !reply.changed {
        println!("already stopped; nothing changed");
    }
    println!("{}", show(&reply.status));
    print!("{}", show_replicas(&reply));
    Ok(())
}

pub fn resume(reason: &str) -> Result<()> {
    let reply = set_stop("/api/emergency-stop/resume", reason)?;
    println!("{}", show(&reply.status));
    print!("{}", show_replicas(&reply));
    Ok(())
}

/// Which replicas applied the change, one line each; nothing more for a
/// single replica that did.
fn show_replicas(reply: &StopReply) -> String {
    let all = reply.replicas.iter().all(|r| r.confirmed);
    let mut out = String::new();
    if reply.replicas.len() > 1 || !all {
        for r in &reply.replicas {
            let state = match r.delay_ms {
                Some(ms) if r.confirmed => format!("applied after {ms} ms"),
                _ if r.confirmed => "applied".to_string(),
                _ => "NOT CONFIRMED".to_string(),
            };
            out.push_str(&format!("  replica {} ({}): {state}\n", r.id, r.address));
        }
    }
    if let Some(error) = &reply.confirmation_error {
        out.push_str(&format!(
            "  the replicas could not all be checked: {error}\n"
        ));
    }
    out
}

pub fn status() -> Result<()> {
    let status: EmergencyStopStatus =
        Remote::from_env()?.call(Method::GET, "/api/emergency-stop", None::<&()>)?;
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

    #[test]
    fn the_cli_reads_the_stop_reply_the_server_serializes() {
        let at = crate::domain::Timestamp::parse("2026-11-01T10:00:00Z").unwrap();
        let status = crate::domain::control::EmergencyStopStatus {
            active: true,
            since: Some(at),
            by: Some("oncall".into()),
            reason: Some("drill".into()),
            last_activated_at: Some(at),
            last_resumed_at: None,
        };
        // The handler's reply, as it goes on the wire.
        let sent = serde_json::to_string(&StopReply {
            status: status.into(),
            changed: true,
            replicas: vec![
                crate::wire::ReplicaConfirmation {
                    id: "a-1-00".into(),
                    address: "10.0.0.1:4007".into(),
                    confirmed: true,
                    delay_ms: Some(0),
                },
                crate::wire::ReplicaConfirmation {
                    id: "b-2-00".into(),
                    address: "10.0.0.2:4007".into(),
                    confirmed: false,
                    delay_ms: None,
                },
            ],
            confirmation_error: None,
        })
        .unwrap();
        let read: StopReply = decode("POST /api/emergency-stop", &sent).unwrap();
        assert!(read.changed);
        assert_eq!(
            show_replicas(&read),
            "  replica a-1-00 (10.0.0.1:4007): applied after 0 ms\n  replica b-2-00 (10.0.0.2:4007): NOT CONFIRMED\n"
        );
        assert_eq!(
            show(&read.status),
            "STOPPED since 2026-11-01T10:00:00Z by oncall: drill"
        );
        // A status without a field it always has is refused, not shown as "none".
        let err = decode::<EmergencyStopStatus>(
            "GET /api/emergency-stop",
            r#"{"active": false, "since": null, "by": null, "reason": null, "lastResumedAt": null}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("GET /api/emergency-stop answered")
                && err.contains("missing field `lastActivatedAt`"),
            "{err}"
        );
    }
}
