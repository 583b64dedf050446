//! Commands against a running server: `regent stop`, `resume`, `status`.
//! They read `REGENT_URL` (default `http://127.0.0.1:4007`) and
//! `REGENT_TOKEN` (an operator's token to stop or resume).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct Remote {
    url: String,
    token: String,
}

impl Remote {
    pub fn from_env() -> Result<Self> {
        let url = std::env::var("REGENT_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:4007".into());
        let token = std::env::var("REGENT_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .context("REGENT_TOKEN is not set: export an operator's token")?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// One call; a non-2xx answer becomes an error quoting the server.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?;
            let mut req = client
                .request(method, format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("cannot reach Regent at {}", self.url))?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if !status.is_success() {
                let message = json["error"]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| json.to_string());
                bail!("{status}: {message}");
            }
            Ok(json)
        })
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
