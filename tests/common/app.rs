//! A real server on an ephemeral port, per test, with its own database.

use std::path::{Path, PathBuf};

use regent_host::api::auth::hash_token;
use regent_host::config::{InitialPhase, ServeConfig};
use regent_host::domain::Timestamp;
use regent_host::startup;
use regent_host::storage::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::built_plugins;

pub const ADMIN: &str = "test-admin-token";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Copies `<name>.wasm` and `<name>.toml` from `from` into `to`.
pub fn copy_plugin(from: &Path, to: &Path, name: &str) {
    for ext in ["wasm", "toml"] {
        std::fs::copy(
            from.join(format!("{name}.{ext}")),
            to.join(format!("{name}.{ext}")),
        )
        .unwrap_or_else(|e| panic!("cannot copy {name}.{ext}: {e}"));
    }
}

/// A plugins directory with the built-in plugins plus `extra` (pairs of
/// source directory and plugin name).
pub fn plugins_dir(root: &Path, extra: &[(&Path, &str)]) -> PathBuf {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let served = built_plugins().join("plugins");
    for entry in std::fs::read_dir(&served).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            copy_plugin(
                &served,
                &plugins,
                path.file_stem().unwrap().to_str().unwrap(),
            );
        }
    }
    for (from, name) in extra {
        copy_plugin(from, &plugins, name);
    }
    plugins
}

impl TestApp {
    /// The built-in plugins plus `extra`, with `configure` applied to the
    /// config (the breaker checker runs only if `background`).
    pub async fn spawn_with(
        extra: &[(&Path, &str)],
        background: bool,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = plugins_dir(dir.path(), extra);
        let db_path = dir.path().join("regent.db");
        // The admin token exists before the server starts, as if given by
        // REGENT_ADMIN_TOKEN (which is process-wide, so not set here).
        regent_host::storage::SqliteStore::open(&db_path)
            .unwrap()
            .ensure_admin_token("test-admin", &hash_token(ADMIN), Timestamp::now())
            .unwrap();
        // Shared, so each test server does not recompile every plugin.
        let mut config =
            ServeConfig::new(plugins, built_plugins().join("test-cache"), db_path.clone());
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.compile.cache_key_file = Some(crate::test_cache_key());
        // Tests scrape right after a change: the store's figures are read each time.
        config.metrics.store_cache_ms = 0;
        configure(&mut config);
        let build = config.clone();
        let state = tokio::task::spawn_blocking(move || startup::build_state(&build))
            .await
            .unwrap()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        if background {
            startup::spawn_background(&state, &config);
        }
        // With `[tls]`, the server speaks only HTTPS and the client trusts
        // only its certificate.
        let (base, client) = match &config.tls {
            Some(tls) => {
                let acceptor = regent_host::tls::acceptor(tls).unwrap();
                tokio::spawn(startup::serve_tls(listener, acceptor, state));
                let client = crate::tls::client_trusting(&tls.cert_file);
                (format!("https://{addr}"), client)
            }
            None => {
                tokio::spawn(startup::serve(listener, state));
                (format!("http://{addr}"), reqwest::Client::new())
            }
        };
        Self {
            base,
            client,
            db_path,
            dir,
        }
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(&[], false, |_| {}).await
    }

    /// A program adopted at `phase`, reached `ago_ms` ago: the config's
    /// `initial_phase`, since only an approved proposal raises a running
    /// program's phase.
    pub async fn spawn_at(phase: &str, ago_ms: i64) -> Self {
        Self::spawn_with(&[], false, |c| start_at(c, phase, ago_ms)).await
    }

    /// Sends `body` (JSON text or bytes) with `token`; returns the status
    /// and the JSON reply (`null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(ADMIN), None).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(ADMIN), Some(body.into()))
            .await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            path,
            Some(token),
            Some(body.to_string().into()),
        )
        .await
    }

    pub async fn send_as(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(token), Some(body.to_string().into()))
            .await
    }

    /// A new token holding `roles`; returns its secret.
    pub async fn token(&self, name: &str, roles: &[&str]) -> String {
        let (status, body) = self
            .post_as(ADMIN, "/api/tokens", &json!({"name": name, "roles": roles}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A pending proposal from `from` to `to` needing `roles`, written to
    /// the store as the weekly cycle would; returns its id.
    pub fn propose(&self, from: &str, to: &str, roles: &[&str]) -> i64 {
        let mut p: regent_host::domain::governance::Proposal = serde_json::from_value(json!({
            "id": 0, "fromPhase": from, "targetPhase": to, "commandsToWhitelist": [],
            "validationPeriodDays": 21, "keyAchievements": ["a clean month"],
            "riskAssessment": {"level": "low", "score": 5, "factors": [], "mitigations": [],
                               "scorer": null, "scorerVersion": null},
            "requiredApprovals": roles, "approvals": [], "status": "pending",
            "createdAt": Timestamp::now().to_string(), "decidedAt": null
        }))
        .unwrap();
        regent_host::storage::SqliteStore::open(&self.db_path)
            .unwrap()
            .create_proposal(&mut p, "test-cycle")
            .unwrap();
        p.id
    }

    pub async fn text(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}

/// Sets the config's `initial_phase` to `phase`, reached `ago_ms` ago.
pub fn start_at(config: &mut ServeConfig, phase: &str, ago_ms: i64) {
    config.initial_phase = Some(InitialPhase {
        phase: phase.parse().unwrap(),
        started_at: Timestamp(Timestamp::now().millis() - ago_ms),
    });
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

pub fn error_message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A plugin's component and manifest text, as built into `dir`.
pub fn plugin_files(dir: &Path, name: &str) -> (Vec<u8>, String) {
    let wasm = std::fs::read(dir.join(format!("{name}.wasm")))
        .unwrap_or_else(|e| panic!("cannot read {name}.wasm in {}: {e}", dir.display()));
    let manifest = std::fs::read_to_string(dir.join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("cannot read {name}.toml in {}: {e}", dir.display()));
    (wasm, manifest)
}

impl TestApp {
    /// `PUT /api/plugins/{name}{query}` as multipart, with the admin token.
    pub async fn upload(
        &self,
        name: &str,
        query: &str,
        wasm: &[u8],
        manifest: &str,
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new()
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(wasm.to_vec()).file_name(format!("{name}.wasm")),
            )
            .text("manifest", manifest.to_string());
        if let Some(sig) = signature {
            form = form.text("signature", sig.to_string());
        }
        let resp = self
            .client
            .put(format!("{}/api/plugins/{name}{query}", self.base))
            .bearer_auth(ADMIN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}
