//! Hot-swapping plugins: versions, the gates, shadow runs, signatures,
//! rollback, integrity, the watched directory, and a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regent_host::config::ServeConfig;
use regent_host::storage::prelude::*;
use regent_tests::app::{error_code, error_message, plugin_files, TestApp};
use regent_tests::built_plugins;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

fn fixtures() -> PathBuf {
    built_plugins().join("fixtures")
}

fn v2() -> PathBuf {
    fixtures().join("v2")
}

/// Records every input it serves (no sampling interval), so a test's few
/// assessments are the shadow run's inputs.
async fn spawn() -> TestApp {
    TestApp::spawn_with(&[], false, |c| {
        c.registry.shadow_sample_interval_ms = 0;
    })
    .await
}

/// The swap item's result in a readiness reply: (version, passed).
fn swap_item(report: &Value) -> Option<(String, bool)> {
    report["items"].as_array()?.iter().find_map(|i| {
        (i["id"] == "swap-item").then(|| {
            (
                i["pluginVersion"].as_str().unwrap_or_default().to_string(),
                i["passed"].as_bool().unwrap_or_default(),
            )
        })
    })
}

async fn upload_from(app: &TestApp, dir: &Path, name: &str, query: &str) -> (StatusCode, Value) {
    let (wasm, manifest) = plugin_files(dir, name);
    app.upload(name, query, &wasm, &manifest, None).await
}

/// The audit log's (action, actor) pairs, newest first.
async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let (_, audit) = app.get("/api/audit?limit=200").await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn gate(body: &Value) -> &str {
    body["error"]["gate"].as_str().unwrap_or_default()
}

async fn active_version(app: &TestApp, name: &str) -> Option<String> {
    let (status, body) = app.get(&format!("/api/plugins/{name}")).await;
    (status == StatusCode::OK).then(|| body["version"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn upload_dry_run_activate_rollback_and_delete() {
    let app = spawn().await;

    // A first version of a new item: it passes the gates and serves.
    let (status, body) = upload_from(&app, &fixtures(), "swap-item", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["status"], "active");
    let gates: Vec<&str> = body["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gate"].as_str().unwrap())
        .collect();
    assert_eq!(
        gates,
        [
            "signature",
            "compile",
            "world",
            "describe",
            "params",
            "fixtures",
            "shadow"
        ]
    );
    let first_generation = body["activation"]["generation"].as_u64().unwrap();
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(swap_item(&report), Some(("1.0.0".into(), true)));
    assert_eq!(report["pluginGeneration"], first_generation);
    app.get("/api/readiness/current").await;

    // A dry run of v2 shows what it would change, and changes nothing.
    let (status, body) = upload_from(&app, &v2(), "swap-item", "?dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dryRun"], true);
    assert!(body["activation"].is_null());
    let shadow = &body["shadow"];
    assert_eq!(shadow["comparedWith"], "1.0.0");
    assert!(shadow["inputs"].as_u64().unwrap() >= 2, "{shadow}");
    let difference = &shadow["differences"][0];
    assert_eq!(difference["active"]["passed"], true, "{shadow}");
    assert_eq!(difference["candidate"]["passed"], false, "{shadow}");
    let (_, versions) = app.get("/api/plugins/swap-item/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("1.0.0")
    );

    // Stored but not active, then activated.
    let (status, body) = upload_from(&app, &v2(), "swap-item", "?activate=false").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["status"], "inactive");
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("1.0.0")
    );
    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate",
            json!({"version": "2.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous"], "1.0.0");
    assert!(body["generation"].as_u64().unwrap() > first_generation);
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(swap_item(&report), Some(("2.0.0".into(), false)));
    assert_eq!(report["pluginGeneration"], body["generation"]);

    // The same version again is a conflict; the same bytes again are not.
    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate",
            json!({"version": "2.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (v1_wasm, v2_manifest) = (
        plugin_files(&fixtures(), "swap-item").0,
        plugin_files(&v2(), "swap-item").1,
    );
    let (status, body) = app
        .upload("swap-item", "", &v1_wasm, &v2_manifest, None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "other bytes under 2.0.0: {body}"
    );
    assert!(error_message(&body).contains("immutable"), "{body}");

    // Rollback goes back to 1.0.0, and a second rollback forward again.
    let (status, body) = app.post("/api/plugins/swap-item/rollback", "{}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["version"].as_str(), body["previous"].as_str()),
        (Some("1.0.0"), Some("2.0.0"))
    );
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(swap_item(&report), Some(("1.0.0".into(), true)));

    // The active version cannot be deleted; an inactive one can.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/plugins/swap-item/versions/1.0.0",
            Some(regent_tests::app::ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/plugins/swap-item/versions/2.0.0",
            Some(regent_tests::app::ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, versions) = app.get("/api/plugins/swap-item/versions").await;
    let listed: Vec<(&str, &str)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("1.0.0", "active")]);

    // Every change is audited, and /metrics shows the active version.
    let actions = audit_actions(&app).await;
    for action in ["plugin.upload", "plugin.activate", "plugin.delete"] {
        assert!(
            actions.iter().any(|(a, _)| a == action),
            "{action} not audited: {actions:?}"
        );
    }
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("regent_plugin_active_info{plugin=\"swap-item\",kind=\"checklist-item\",version=\"1.0.0\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("regent_plugin_swaps_total{plugin=\"swap-item\"} 3"),
        "{metrics}"
    );
    regent_tests::promtool_check_metrics(&metrics);

    // Only an admin uploads or swaps.
    let operator = app.token("ops", &["operator"]).await;
    let (status, _) = app
        .send_as(
            Method::POST,
            &operator,
            "/api/plugins/swap-item/rollback",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_gate_refuses_a_bad_candidate_and_the_old_version_keeps_serving() {
    let app = spawn().await;
    let (status, body) = upload_from(&app, &fixtures(), "swap-item", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.get("/api/readiness/current").await;

    // World: a component that exports another world than its manifest's kind.
    let (status, body) = upload_from(&app, &fixtures(), "hostile-wrong-world", "").await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "world"),
        "{body}"
    );
    assert_eq!(error_code(&body), "gate_failed");

    // World again: a new version may not change its plugin's kind.
    let (breaker_wasm, _) = plugin_files(&fixtures(), "swap-breaker");
    let manifest = "name = \"swap-item\"\nkind = \"breaker-condition\"\nversion = \"3.0.0\"\n";
    let (status, body) = app
        .upload("swap-item", "", &breaker_wasm, manifest, None)
        .await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "world"),
        "{body}"
    );
    assert!(error_message(&body).contains("keeps its kind"), "{body}");

    // Compile: bytes that are not a component.
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            b"\0asm not really",
            "name = \"swap-item\"\nkind = \"checklist-item\"\nversion = \"9.0.0\"\n",
            None,
        )
        .await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "compile"),
        "{body}"
    );

    // Describe: the manifest says 2.5.0, the component says 2.0.0.
    let (v2_wasm, v2_manifest) = plugin_files(&v2(), "swap-item");
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &v2_wasm,
            &v2_manifest.replace("2.0.0", "2.5.0"),
            None,
        )
        .await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "describe"),
        "{body}"
    );

    // Fixtures: v2 fails the case its manifest bundles.
    let with_fixture = format!(
        "{v2_manifest}\n[[fixtures]]\ndescription = \"the item passes\"\ninput = {{ now = \"2026-11-01T00:00:00Z\" }}\nexpect = {{ passed = true }}\n"
    );
    let (status, body) = app
        .upload("swap-item", "", &v2_wasm, &with_fixture, None)
        .await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "fixtures"),
        "{body}"
    );
    assert!(error_message(&body).contains("the item passes"), "{body}");
    let (_, versions) = app.get("/api/plugins/swap-item/versions").await;
    let rejected = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "2.0.0")
        .expect("the rejection is recorded");
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected["rejection"]
        .as_str()
        .unwrap()
        .starts_with("fixtures:"));

    // Shadow: a candidate that loops on the recorded readiness contexts.
    let (status, body) = upload_from(&app, &fixtures(), "hostile-loop", "").await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "shadow"),
        "{body}"
    );
    let failures = &body["error"]["details"]["shadow"]["failures"];
    assert_eq!(failures[0]["code"], "timeout", "{body}");

    // Bad input is refused before any gate.
    let (status, body) = app
        .upload("other-name", "", &v2_wasm, &v2_manifest, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("uploaded as `other-name`"),
        "{body}"
    );

    // Through all of it, v1 served, and a valid v2 (no fixture) still goes live.
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(swap_item(&report), Some(("1.0.0".into(), true)));
    assert!(app.get("/api/plugins/hostile-loop").await.0 == StatusCode::NOT_FOUND);
    let (status, body) = app
        .upload("swap-item", "", &v2_wasm, &v2_manifest, None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a rejected version can be retried: {body}"
    );
    let (_, metrics) = app.text("/metrics").await;
    for g in ["world", "compile", "describe", "fixtures", "shadow"] {
        assert!(
            !metrics.contains(&format!("regent_plugin_rejections_total{{gate=\"{g}\"}} 0")),
            "{g} rejection not counted"
        );
    }
}

#[tokio::test]
async fn force_activates_despite_shadow_failures_and_is_audited() {
    let app = spawn().await;
    app.get("/api/readiness/current").await;
    let (status, body) = upload_from(&app, &fixtures(), "hostile-loop", "?force=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activation"]["forced"], true);
    assert!(!body["shadow"]["failures"].as_array().unwrap().is_empty());
    let actions = audit_actions(&app).await;
    for forced in ["plugin.upload_forced", "plugin.activate_forced"] {
        assert!(actions.iter().any(|(a, _)| a == forced), "{actions:?}");
    }
    // Forced in, it fails closed in the assessment without harming the rest.
    let (status, report) = app.get("/api/readiness/current").await;
    assert_eq!(status, StatusCode::OK);
    let item = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["plugin"] == "hostile-loop")
        .unwrap();
    assert_eq!(
        (item["passed"].as_bool(), item["error"].as_str()),
        (Some(false), Some("timeout"))
    );
}

/// The signature file `regent plugin sign` writes for `wasm` with `manifest`.
fn signed(key: &ed25519::SigningKey, wasm: &[u8], manifest: &str) -> String {
    serde_json::to_string(&regent_host::signing::sign_plugin(key, wasm, manifest).unwrap()).unwrap()
}

mod ed25519 {
    pub use ed25519_dalek::SigningKey;
}

#[tokio::test]
async fn signatures_are_required_when_configured() {
    let trusted = ed25519::SigningKey::from_bytes(&[7; 32]);
    let stranger = ed25519::SigningKey::from_bytes(&[9; 32]);
    let app = TestApp::spawn_with(&[], false, |c| {
        c.registry.require_signed = true;
        c.registry.trusted_keys.insert(
            "release".into(),
            regent_host::signing::public_key_b64(&trusted),
        );
    })
    .await;
    let (wasm, manifest) = plugin_files(&fixtures(), "swap-item");

    let (status, body) = app.upload("swap-item", "", &wasm, &manifest, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "unsigned: {body}");
    assert!(error_message(&body).contains("gate `signature`"), "{body}");
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &wasm,
            &manifest,
            Some(&signed(&stranger, &wasm, &manifest)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "unknown signer: {body}");
    assert!(
        error_message(&body).contains("not among the trusted keys"),
        "{body}"
    );
    let (v2_wasm, _) = plugin_files(&v2(), "swap-item");
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &wasm,
            &manifest,
            Some(&signed(&trusted, &v2_wasm, &manifest)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "signature of other bytes: {body}"
    );
    assert!(app.get("/api/plugins/swap-item").await.0 == StatusCode::NOT_FOUND);

    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &wasm,
            &manifest,
            Some(&signed(&trusted, &wasm, &manifest)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["signer"], "release");

    let refusals = audit_actions(&app)
        .await
        .iter()
        .filter(|(action, actor)| action == "plugin.signature_refused" && actor == "test-admin")
        .count();
    assert_eq!(refusals, 3);
}

fn public_key(key: &ed25519::SigningKey) -> String {
    regent_host::signing::public_key_b64(key)
}

/// The audit log's entries of `action`, newest first.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let (_, audit) = app.get("/api/audit?limit=200").await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// The attack: an admin without the signing key ships a signed rule with
/// its manifest changed. Before signatures covered the manifest, this went
/// live under the author's signature.
#[tokio::test]
async fn a_signed_rule_whose_manifest_changed_after_signing_is_refused() {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let release = ed25519::SigningKey::from_bytes(&[7; 32]);
    let app = TestApp::spawn_with(&[], false, |c| {
        c.registry.require_signed = true;
        c.registry
            .trusted_keys
            .insert("release".into(), public_key(&release));
    })
    .await;
    let (wasm, manifest) = plugin_files(&fixtures(), "swap-item");
    // What the author reviewed and signed: a tight time limit.
    let reviewed = format!("{manifest}\n[limits]\ntimeout_ms = 50\n");
    let signature = signed(&release, &wasm, &reviewed);
    let loosened = reviewed.replace("timeout_ms = 50", "timeout_ms = 5000");

    let (status, body) = app
        .upload("swap-item", "", &wasm, &loosened, Some(&signature))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "changed manifest: {body}");
    let message = error_message(&body);
    assert!(
        message.contains("gate `signature`") && message.contains("manifest sha256"),
        "{message}"
    );
    // Rewriting the file's claim does not help: the signature is checked
    // over the manifest that was sent.
    let mut relabelled: Value = serde_json::from_str(&signature).unwrap();
    relabelled["manifestSha256"] =
        regent_host::runtime::cache::sha256_hex(loosened.as_bytes()).into();
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &wasm,
            &loosened,
            Some(&relabelled.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "relabelled: {body}");
    assert!(error_message(&body).contains("does not verify"), "{body}");
    // A signature of the old format (the component's digest alone) is
    // refused, saying how to sign again.
    let digest = from_hex(&regent_host::runtime::cache::sha256_hex(&wasm));
    let old = json!({
        "sha256": regent_host::runtime::cache::sha256_hex(&wasm),
        "publicKey": public_key(&release),
        "signature": base64::engine::general_purpose::STANDARD.encode(release.sign(&digest).to_bytes()),
    });
    let (status, body) = app
        .upload("swap-item", "", &wasm, &reviewed, Some(&old.to_string()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "old format: {body}");
    let message = error_message(&body);
    assert!(
        message.contains("old format") && message.contains("regent plugin sign"),
        "{message}"
    );
    assert_eq!(
        app.get("/api/plugins/swap-item/versions").await.0,
        StatusCode::NOT_FOUND,
        "nothing refused was stored"
    );
    // (The unsigned built-in plugins were refused at start, by the directory.)
    let refused = audited(&app, "plugin.signature_refused").await;
    assert_eq!(
        refused
            .iter()
            .filter(|e| e["actor"] == "test-admin")
            .count(),
        3,
        "{refused:?}"
    );

    // The manifest as signed goes in.
    let (status, body) = app
        .upload("swap-item", "", &wasm, &reviewed, Some(&signature))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["signer"], "release");
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("1.0.0")
    );
    // Once stored, the version's manifest is as immutable as its bytes.
    let (status, body) = app
        .upload("swap-item", "", &wasm, &loosened, Some(&signature))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_message(&body).contains("another manifest"), "{body}");
}

/// A second server on `first`'s store, trusting only `keys`: a restart
/// with another config.
async fn restarted(first: &TestApp, keys: &[(&str, &ed25519::SigningKey)]) -> TestApp {
    let db = first.db_path.clone();
    let keys: Vec<(String, String)> = keys
        .iter()
        .map(|(name, key)| (name.to_string(), public_key(key)))
        .collect();
    TestApp::spawn_with(&[], false, move |c| {
        c.db_path = db;
        c.registry.trusted_keys = keys.into_iter().collect();
    })
    .await
}

/// The attack: a key is removed from the config (it leaked, or its holder
/// left), and an admin tries to bring back what it signed.
#[tokio::test]
async fn a_removed_key_makes_its_versions_unactivatable_and_fails_ready() {
    let retired = ed25519::SigningKey::from_bytes(&[5; 32]);
    let current = ed25519::SigningKey::from_bytes(&[6; 32]);
    let first = TestApp::spawn_with(&[], false, |c| {
        c.registry
            .trusted_keys
            .insert("retired".into(), public_key(&retired));
        c.registry
            .trusted_keys
            .insert("current".into(), public_key(&current));
    })
    .await;
    let (v1_wasm, v1_manifest) = plugin_files(&fixtures(), "swap-item");
    let (v2_wasm, v2_manifest) = plugin_files(&v2(), "swap-item");
    for (wasm, manifest) in [(&v1_wasm, &v1_manifest), (&v2_wasm, &v2_manifest)] {
        let sig = signed(&retired, wasm, manifest);
        let (status, body) = first
            .upload("swap-item", "", wasm, manifest, Some(&sig))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"]["signer"], "retired");
    }
    assert_eq!(first.text("/ready").await.0, StatusCode::OK);

    let app = restarted(&first, &[("current", &current)]).await;
    // 2.0.0 still serves (dropping it would change decisions unasked), and
    // /ready names it until a trusted version replaces it.
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("2.0.0")
    );
    let (status, ready) = app.text("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready.contains("swap-item")
            && ready.contains("2.0.0")
            && ready.contains("not among the trusted keys"),
        "{ready}"
    );
    // Neither an activation (even forced) nor a rollback brings back what
    // the removed key signed.
    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate?force=true",
            json!({"version": "1.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("swap-item@1.0.0 cannot be activated")
            && message.contains("not among the trusted keys"),
        "{message}"
    );
    let (status, body) = app.post("/api/plugins/swap-item/rollback", "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "rollback: {body}");
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("2.0.0")
    );
    let refusals = audited(&app, "plugin.signature_refused").await;
    let on: Vec<(&str, &str)> = refusals
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["after"]["on"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        on,
        [
            ("test-admin", "rollback"),
            ("test-admin", "activate"),
            ("regent", "start")
        ]
    );

    // Signed again by a trusted key, the serving version is whole again.
    let (status, body) = app
        .upload(
            "swap-item",
            "",
            &v2_wasm,
            &v2_manifest,
            Some(&signed(&current, &v2_wasm, &v2_manifest)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["signer"], "current");
    assert_eq!(app.text("/ready").await.0, StatusCode::OK);
    let added = audited(&app, "plugin.signature_added").await;
    assert_eq!(added[0]["after"]["signer"], "current", "{added:?}");
    assert_eq!(added[0]["before"]["signer"], "retired", "{added:?}");
}

/// A store from before signatures covered the manifest keeps a signer and
/// no signature: such a version is refused until signed again.
#[tokio::test]
async fn a_version_signed_in_the_old_format_is_refused_until_signed_again() {
    let release = ed25519::SigningKey::from_bytes(&[7; 32]);
    let first = TestApp::spawn_with(&[], false, |c| {
        c.registry
            .trusted_keys
            .insert("release".into(), public_key(&release));
    })
    .await;
    let (wasm, manifest) = plugin_files(&fixtures(), "swap-item");
    let sig = signed(&release, &wasm, &manifest);
    let (status, body) = first
        .upload("swap-item", "", &wasm, &manifest, Some(&sig))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // As migration 6 leaves a version signed before it.
    let db = rusqlite::Connection::open(&first.db_path).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE plugin_versions SET signature = NULL, signer_key = NULL WHERE name = 'swap-item'",
        [],
    )
    .unwrap();
    drop(db);

    let app = restarted(&first, &[("release", &release)]).await;
    let (status, ready) = app.text("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready.contains("swap-item")
            && ready.contains("old format")
            && ready.contains("regent plugin sign"),
        "{ready}"
    );
    let (status, body) = app
        .upload("swap-item", "", &wasm, &manifest, Some(&sig))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.text("/ready").await.0, StatusCode::OK);
}

/// The attack: an admin brings back an older signed version (with a bug
/// the newer one fixed). It takes `force`, and the audit log says so.
#[tokio::test]
async fn a_downgrade_takes_force_and_is_audited_as_one() {
    let app = spawn().await;
    for dir in [fixtures(), v2()] {
        let (status, body) = upload_from(&app, &dir, "swap-item", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate",
            json!({"version": "1.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("downgrade") && message.contains("2.0.0") && message.contains("force"),
        "{message}"
    );
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("2.0.0")
    );
    assert!(audited(&app, "plugin.downgrade").await.is_empty());

    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate?force=true",
            json!({"version": "1.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downgradeFrom"], "2.0.0");
    let downgrades = audited(&app, "plugin.downgrade").await;
    assert_eq!(downgrades.len(), 1, "{downgrades:?}");
    assert_eq!(downgrades[0]["actor"], "test-admin");
    assert_eq!(downgrades[0]["after"]["version"], "1.0.0");
    assert_eq!(downgrades[0]["after"]["downgradeFrom"], "2.0.0");

    // Forward again is no downgrade; a rollback needs no force (going back
    // is what it is for) but is audited as a downgrade too.
    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate",
            json!({"version": "2.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["downgradeFrom"].is_null(), "{body}");
    let (status, body) = app.post("/api/plugins/swap-item/rollback", "{}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["downgradeFrom"], "2.0.0");
    let downgrades = audited(&app, "plugin.downgrade").await;
    assert_eq!(downgrades.len(), 2);
    assert_eq!(downgrades[0]["after"]["how"], "rollback");

    // An upload that would activate a lower version is refused whole;
    // stored without activating, it is not a downgrade.
    for dir in [v2(), fixtures()] {
        let (status, body) = upload_from(&app, &dir, "swap-breaker", "").await;
        if dir == v2() {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert!(error_message(&body).contains("downgrade"), "{body}");
        }
    }
    let (_, versions) = app.get("/api/plugins/swap-breaker/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    let (status, body) = upload_from(&app, &fixtures(), "swap-breaker", "?activate=false").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        active_version(&app, "swap-breaker").await.as_deref(),
        Some("2.0.0")
    );
}

#[tokio::test]
async fn a_corrupted_stored_blob_is_refused_and_fails_ready() {
    let app = spawn().await;
    let (status, _) = upload_from(&app, &fixtures(), "swap-item", "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = upload_from(&app, &v2(), "swap-item", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.text("/ready").await.0, StatusCode::OK);

    // Someone edits v1's stored bytes behind Regent's back.
    let sha = plugin_sha(&app, "1.0.0").await;
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE plugin_blobs SET bytes = CAST('tampered' AS BLOB) WHERE sha256 = ?1",
        [&sha],
    )
    .unwrap();
    drop(db);

    let (status, body) = app
        .post(
            "/api/plugins/swap-item/activate",
            json!({"version": "1.0.0"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        error_message(&body).contains("do not match their sha256"),
        "{body}"
    );
    let (status, body) = app.post("/api/plugins/swap-item/rollback", "{}").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "rollback to the corrupted version: {body}"
    );
    // v2 keeps serving, and /ready says what is wrong.
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(swap_item(&report), Some(("2.0.0".into(), false)));
    let (status, ready) = app.text("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready.contains("swap-item") && ready.contains("sha256"),
        "{ready}"
    );
}

async fn plugin_sha(app: &TestApp, version: &str) -> String {
    let (_, versions) = app.get("/api/plugins/swap-item/versions").await;
    versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_new_plugin_written_then_renamed_into_a_watched_dir_goes_live_within_two_seconds() {
    let app = TestApp::spawn_with(&[(&fixtures(), "swap-item")], true, |c| {
        c.watch = true;
    })
    .await;
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("1.0.0")
    );
    let dir = app.dir.path().join("plugins");
    // Write-then-rename: the watcher never sees half a file.
    let (wasm, manifest) = plugin_files(&v2(), "swap-item");
    std::fs::write(dir.join(".swap-item.wasm.tmp"), &wasm).unwrap();
    std::fs::write(dir.join(".swap-item.toml.tmp"), &manifest).unwrap();
    let started = Instant::now();
    std::fs::rename(dir.join(".swap-item.wasm.tmp"), dir.join("swap-item.wasm")).unwrap();
    std::fs::rename(dir.join(".swap-item.toml.tmp"), dir.join("swap-item.toml")).unwrap();
    loop {
        if active_version(&app, "swap-item").await.as_deref() == Some("2.0.0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not live within 2 s of the rename"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken change is refused through the same gates; 2.0.0 keeps serving.
    std::fs::write(
        dir.join(".swap-item.toml.tmp"),
        manifest.replace("2.0.0", "2.1.0"),
    )
    .unwrap();
    std::fs::rename(dir.join(".swap-item.toml.tmp"), dir.join("swap-item.toml")).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("2.0.0")
    );
    let (_, versions) = app.get("/api/plugins/swap-item/versions").await;
    assert!(
        versions
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["version"] == "2.1.0" && v["status"] == "rejected"),
        "{versions}"
    );
}

/// The swap item's version in the set of generation `g`: that of the last
/// swap-item activation at or before `g`.
fn item_version_at(history: &[(u64, String)], g: u64) -> Option<&str> {
    history
        .iter()
        .filter(|(at, _)| *at <= g)
        .max_by_key(|(at, _)| *at)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_swaps_under_load_fail_no_request_and_mix_no_versions() {
    let app = TestApp::spawn_with(&[], true, |c| {
        c.breaker_check_interval = Duration::from_millis(20);
    })
    .await;
    let mut item_history: Vec<(u64, String)> = Vec::new();
    for (dir, name, query) in [
        (fixtures(), "swap-item", ""),
        (v2(), "swap-item", "?activate=false"),
        (fixtures(), "swap-breaker", ""),
        (v2(), "swap-breaker", "?activate=false"),
    ] {
        let (status, body) = upload_from(&app, &dir, name, query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if let Some(g) = body["activation"]["generation"].as_u64() {
            if name == "swap-item" {
                item_history.push((g, body["activation"]["version"].as_str().unwrap().into()));
            }
        }
    }
    let operator = app.token("ops", &["operator"]).await;
    let agent = app.token("agent", &["reporter"]).await;
    let rule = json!({"name": "Swapped", "enabled": true, "condition": "any", "plugin": "swap-breaker",
                      "window": "5m", "action": "alert_only", "alertSeverity": "HIGH"});
    let (status, body) = app
        .post_as(&operator, "/api/circuit-breaker/rules", &rule)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..6 {
        let (base, token, stop) = (app.base.clone(), agent.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut replies = Vec::new();
            let mut failures = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let request = if worker % 2 == 0 {
                    client.get(format!("{base}/api/readiness/current"))
                } else {
                    client
                        .post(format!("{base}/api/authorize"))
                        .json(&json!({"commandType": "SET_POWER"}))
                };
                match request.bearer_auth(&token).send().await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let body: Value = r.json().await.unwrap();
                        if worker % 2 == 0 {
                            replies.push(body);
                        }
                    }
                    Ok(r) => failures.push(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (replies, failures)
        }));
    }

    let mut swaps = 0;
    let mut activation_ms = Vec::new();
    for round in 0..30 {
        // Back to 1.0.0 after 2.0.0 served is a downgrade: it takes force.
        let (version, query) = if round % 2 == 0 {
            ("2.0.0", "")
        } else {
            ("1.0.0", "?force=true")
        };
        for name in ["swap-item", "swap-breaker"] {
            let (status, body) = app
                .post(
                    &format!("/api/plugins/{name}/activate{query}"),
                    json!({"version": version}).to_string(),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "swap {swaps}: {body}");
            swaps += 1;
            activation_ms.push(body["elapsedMs"].as_f64().unwrap());
            if name == "swap-item" {
                item_history.push((body["generation"].as_u64().unwrap(), version.into()));
            }
        }
        // Let the breaker's v2 trip again next time.
        let (_, open) = app.get("/api/circuit-breaker/events/unresolved").await;
        for event in open.as_array().unwrap() {
            let id = event["id"].as_i64().unwrap();
            app.post_as(
                &operator,
                &format!("/api/circuit-breaker/events/{id}/resolve"),
                &json!({"resolution": "swap test"}),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut readiness_replies = Vec::new();
    for task in load {
        let (replies, failures) = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed requests during swaps: {failures:?}"
        );
        readiness_replies.extend(replies);
    }
    assert!(swaps >= 60);
    assert!(
        readiness_replies.len() >= 60,
        "too little load: {}",
        readiness_replies.len()
    );
    let mut seen_versions = std::collections::BTreeSet::new();
    for reply in &readiness_replies {
        let g = reply["pluginGeneration"].as_u64().unwrap();
        let (version, passed) = swap_item(reply).expect("the swap item is assessed");
        // Its verdict is its version's, and its version is its set's.
        assert_eq!(
            passed,
            version == "1.0.0",
            "{version} gave passed = {passed}"
        );
        assert_eq!(
            item_version_at(&item_history, g),
            Some(version.as_str()),
            "generation {g}"
        );
        seen_versions.insert(version);
    }
    assert_eq!(
        seen_versions.len(),
        2,
        "both versions served during the swaps"
    );

    // Only v2 trips, so every breaker event of the swapped rule names v2.
    let (_, events) = app.get("/api/circuit-breaker/events?limit=1000").await;
    let swapped: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ruleName"] == "Swapped")
        .collect();
    assert!(!swapped.is_empty(), "the v2 breaker never tripped");
    for e in swapped {
        assert_eq!(e["pluginVersion"], "2.0.0", "{e}");
        assert!(e["reason"].as_str().unwrap().contains("v2"), "{e}");
    }
    activation_ms.sort_by(f64::total_cmp);
    eprintln!(
        "{swaps} swaps under load: activation median {:.1} ms, max {:.1} ms; {} readiness replies checked",
        activation_ms[activation_ms.len() / 2],
        activation_ms[activation_ms.len() - 1],
        readiness_replies.len()
    );
}

/// The real binary: plugins pushed with `regent plugin push`, then
/// `kill -9`, then a restart that comes back with the same active set.
#[tokio::test]
async fn a_restart_after_activations_comes_back_with_the_same_active_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("regent.db");
    let plugins = regent_tests::app::plugins_dir(dir.path(), &[(&fixtures(), "swap-item")]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let start = || {
        std::process::Command::new(regent_tests::regent_bin())
            .args(["serve", "--plugins-dir"])
            .arg(&plugins)
            .arg("--cache-dir")
            .arg(built_plugins().join("test-cache"))
            .env("GOVERNANCE_DB_PATH", &db)
            .env("PORT", port.to_string())
            .env("REGENT_ADMIN_TOKEN", regent_tests::app::ADMIN)
            .env("REGENT_CACHE_KEY_FILE", regent_tests::test_cache_key())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let req = client
            .get(format!("{base}{path}"))
            .bearer_auth(regent_tests::app::ADMIN);
        async move {
            let resp = req.send().await.unwrap();
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let wait_ready = || async {
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{base}/ready")).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(regent_tests::regent_bin())
            .args(args)
            .env("REGENT_URL", &base)
            .env("REGENT_TOKEN", regent_tests::app::ADMIN)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "regent {args:?}: {text}");
        text
    };
    let path = |p: PathBuf| p.to_str().unwrap().to_string();

    let mut child = start();
    wait_ready().await;
    let pushed = cli(&[
        "plugin",
        "push",
        &path(v2().join("swap-item.wasm")),
        "--manifest",
        &path(v2().join("swap-item.toml")),
    ]);
    assert!(pushed.contains("2.0.0"), "{pushed}");
    for from in [fixtures(), v2()] {
        cli(&[
            "plugin",
            "push",
            &path(from.join("swap-breaker.wasm")),
            "--manifest",
            &path(from.join("swap-breaker.toml")),
        ]);
    }
    let rolled = cli(&["plugin", "rollback", "swap-breaker"]);
    assert!(
        rolled.contains("active: swap-breaker 1.0.0 (was 2.0.0)"),
        "{rolled}"
    );
    cli(&["plugin", "activate", "swap-breaker", "2.0.0"]);
    let listed = cli(&["plugin", "list", "swap-item"]);
    assert!(
        listed.contains("1.0.0") && listed.contains("2.0.0"),
        "{listed}"
    );
    // Every reply above was read through the server's own types (wire/):
    // a field the CLI does not find fails the command, not prints `?`.
    let active_set = cli(&["plugin", "list"]);
    assert!(
        active_set.lines().any(|l| l.starts_with("swap-item ")
            && l.contains("checklist-item")
            && l.contains("2.0.0")),
        "{active_set}"
    );
    let (_, before) = get("/api/plugins").await;
    let active = |set: &Value| -> Vec<(String, String, String)> {
        set.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["version"].as_str().unwrap().to_string(),
                    p["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = active(&before);
    assert!(before
        .iter()
        .any(|(n, v, _)| n == "swap-item" && v == "2.0.0"));
    assert!(before
        .iter()
        .any(|(n, v, _)| n == "swap-breaker" && v == "2.0.0"));

    child.kill().unwrap(); // SIGKILL: no shutdown.
    child.wait().unwrap();
    let mut child = start();
    wait_ready().await;
    let (_, after) = get("/api/plugins").await;
    let (_, report) = get("/api/readiness/current").await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(active(&after), before, "the active set after the restart");
    assert_eq!(swap_item(&report), Some(("2.0.0".into(), false)));
}

/// An evaluation that holds the old set keeps the old version alive and
/// serving it; when it lets go, the old version and its code are freed.
#[test]
fn an_old_version_is_freed_when_its_last_reader_lets_go() {
    use regent_host::runtime::{ActivePlugins, Manifest, PluginRuntime, PluginSet, RuntimeConfig};
    use std::sync::Arc;
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let load = |dir: &Path| {
        let (wasm, manifest) = plugin_files(dir, "swap-item");
        runtime
            .load(&wasm, Manifest::parse(&manifest).unwrap())
            .unwrap()
    };
    let v1 = Arc::new(load(&fixtures()));
    let old = Arc::downgrade(&v1);
    let active = ActivePlugins::new(PluginSet::from_shared([v1]));
    let in_flight = active.current();

    active.publish(active.current().with(Arc::new(load(&v2()))));
    runtime.release_compiled_except(&active.current());
    assert_eq!(
        active.current().get("swap-item").unwrap().version(),
        "2.0.0"
    );
    assert_eq!(in_flight.get("swap-item").unwrap().version(), "1.0.0");
    assert!(old.upgrade().is_some(), "freed while an evaluation uses it");
    assert_eq!(
        runtime.compiled_in_memory(),
        1,
        "only the active version's code is cached"
    );

    drop(in_flight);
    assert!(
        old.upgrade().is_none(),
        "the old version outlived its last reader"
    );
    assert_eq!(active.current().generation(), 2);
}

/// An upload that names a part twice is refused before any gate runs:
/// which of two components a signature vouches for must never be a guess.
#[tokio::test]
async fn an_upload_naming_a_part_twice_is_refused() {
    let app = spawn().await;
    let (wasm, manifest) = plugin_files(&fixtures(), "swap-item");
    let (other_wasm, _) = plugin_files(&v2(), "swap-item");
    let form = reqwest::multipart::Form::new()
        .part("wasm", reqwest::multipart::Part::bytes(wasm))
        .text("manifest", manifest)
        .part("wasm", reqwest::multipart::Part::bytes(other_wasm));
    let resp = app
        .client
        .put(format!("{}/api/plugins/swap-item", app.base))
        .bearer_auth(regent_tests::app::ADMIN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "bad_request");
    assert_eq!(error_message(&body), "part `wasm` is given more than once");
    let (status, versions) = app.get("/api/plugins/swap-item/versions").await;
    assert!(
        status == StatusCode::NOT_FOUND || !versions.to_string().contains("\"rejected\""),
        "nothing was stored: {versions}"
    );
}

/// A server on `config` as given (its plugins, database and cache), with
/// the test admin token; `dir` is kept alive with it.
async fn serve_config(dir: tempfile::TempDir, config: ServeConfig) -> TestApp {
    use regent_host::api::auth::hash_token;
    use regent_host::domain::Timestamp;
    regent_host::storage::SqliteStore::open(&config.db_path)
        .unwrap()
        .ensure_admin_token(
            "test-admin",
            &hash_token(regent_tests::app::ADMIN),
            Timestamp::now(),
        )
        .unwrap();
    let build = config.clone();
    let state = tokio::task::spawn_blocking(move || regent_host::startup::build_state(&build))
        .await
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(regent_host::startup::serve(listener, state));
    TestApp {
        base,
        client: reqwest::Client::new(),
        db_path: config.db_path.clone(),
        dir,
    }
}

/// The compile cache's artifact files, by the sha256 that names them.
fn artifacts(cache: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            (name[..64].to_string(), p)
        })
        .collect();
    found.sort();
    found
}

/// The active plugins: (name, sha256, compiled_from).
async fn compiled_from(app: &TestApp) -> Vec<(String, String, String)> {
    let (status, list) = app.get("/api/plugins").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut plugins: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["sha256"].as_str().unwrap().to_string(),
                p["compiledFrom"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    plugins.sort();
    plugins
}

/// Every checklist item's (id, passed, detail).
async fn verdicts(app: &TestApp) -> Vec<(String, bool, String)> {
    let (status, report) = app.get("/api/readiness/current").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["passed"].as_bool().unwrap(),
                i["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The attack on the compile cache: whoever can write its directory puts
/// native code there that carries a valid plain checksum. It must never
/// run: the restarted server deletes it, recompiles, and decides as before.
#[tokio::test]
async fn a_cached_artifact_rewritten_with_a_valid_plain_checksum_is_recompiled_on_restart() {
    let sha256 = |bytes: &[u8]| sha2::Sha256::digest(bytes).to_vec();
    let root = tempfile::tempdir().unwrap();
    let plugins = regent_tests::app::plugins_dir(root.path(), &[]);
    let cache = root.path().join("cache");
    let config = ServeConfig::new(plugins, cache.clone(), root.path().join("regent.db"));

    let first = serve_config(tempfile::tempdir().unwrap(), config.clone()).await;
    let before = verdicts(&first).await;
    let active = compiled_from(&first).await;
    drop(first);
    let on_disk = artifacts(&cache);
    let path_of = |name: &str| {
        let sha = &active.iter().find(|(n, _, _)| n == name).unwrap().1;
        on_disk.iter().find(|(s, _)| s == sha).unwrap().1.clone()
    };
    let [victim, evil, old] = [0, 1, 2].map(|i| active[i].0.as_str());
    // The victim gets another plugin's native code, with the plain sha256
    // of that code where this server's MAC goes; another plugin gets its
    // own code in the old format (the code, then its sha256).
    const HEADER: usize = 8 + 32;
    let evil_code = std::fs::read(path_of(evil)).unwrap()[HEADER..].to_vec();
    let mut forged = b"RGNCWSM2".to_vec();
    forged.extend_from_slice(&sha256(&evil_code));
    forged.extend_from_slice(&evil_code);
    std::fs::write(path_of(victim), &forged).unwrap();
    let own = std::fs::read(path_of(old)).unwrap()[HEADER..].to_vec();
    let mut old_format = own.clone();
    old_format.extend_from_slice(&sha256(&own));
    std::fs::write(path_of(old), &old_format).unwrap();

    let second = serve_config(tempfile::tempdir().unwrap(), config).await;
    let after = compiled_from(&second).await;
    assert_eq!(
        after.iter().map(|(n, s, _)| (n, s)).collect::<Vec<_>>(),
        active.iter().map(|(n, s, _)| (n, s)).collect::<Vec<_>>(),
        "every plugin loads again"
    );
    for (name, _, from) in &after {
        let expected = if name == victim || name == old {
            "compiled"
        } else {
            "disk"
        };
        assert_eq!(from, expected, "{name}");
    }
    assert_eq!(
        verdicts(&second).await,
        before,
        "the verdicts are unchanged"
    );
    let rewritten = std::fs::read(path_of(victim)).unwrap();
    assert!(rewritten != forged, "the forged file was replaced");
    assert!(rewritten.starts_with(b"RGNCWSM2"));
    let (status, ready) = second.text("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb128(body.len(), out);
    out.extend_from_slice(body);
}

/// `wasm` with a custom section of `payload` appended: the same plugin
/// with other bytes, so another sha256.
fn with_custom_section(wasm: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = vec![4];
    body.extend_from_slice(b"test");
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    section(0, &body, &mut out);
    out
}

fn unique(wasm: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    with_custom_section(wasm, &nonce)
}

/// A component whose one core module holds `functions` long functions:
/// cheap to send, seconds to compile.
fn slow_component(functions: usize, ops: usize) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module); // (func (param i32) (result i32))
    let mut funcs = Vec::new();
    leb128(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0, functions));
    section(3, &funcs, &mut module);
    // Sixteen locals, each step mixing two into a third: long-lived values
    // for the register allocator.
    let mut body = vec![1, 16, 0x7f];
    for i in 0..ops {
        let (a, b, c) = (
            (i % 17) as u8,
            ((i * 7 + 3) % 17) as u8,
            ((i * 5 + 1) % 17) as u8,
        );
        body.extend_from_slice(&[0x20, a, 0x20, b, 0x6a, 0x41, (i % 60) as u8, 0x6c, 0x21, c]);
    }
    body.extend_from_slice(&[0x20, 0, 0x0b]);
    let mut sized = Vec::new();
    leb128(body.len(), &mut sized);
    sized.extend_from_slice(&body);
    let mut code = Vec::new();
    leb128(functions, &mut code);
    for _ in 0..functions {
        code.extend_from_slice(&sized);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component); // a core module section
    component
}

const SLOW_MANIFEST: &str = "name = \"slow\"\nkind = \"checklist-item\"\nversion = \"1.0.0\"\n";

/// A server with no plugins, its own cache, and `configure` applied.
async fn bare_server(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mut config = ServeConfig::new(
        plugins,
        root.path().join("cache"),
        root.path().join("regent.db"),
    );
    configure(&mut config);
    serve_config(root, config).await
}

#[tokio::test]
async fn a_refused_or_dry_run_upload_leaves_no_compiled_artifact() {
    let app = spawn().await;
    let cache = built_plugins().join("test-cache");
    let (wasm, manifest) = plugin_files(&v2(), "swap-item");
    let wasm = unique(&wasm);
    let sha = hex(&sha2::Sha256::digest(&wasm));
    let written = || artifacts(&cache).iter().any(|(s, _)| *s == sha);

    let (status, body) = app
        .upload("swap-item", "?dry_run=true", &wasm, &manifest, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!written(), "a dry run left compiled code behind");

    // Compiled, then refused by a later gate: describe() says 2.0.0.
    let wrong = manifest.replace("version = \"2.0.0\"", "version = \"2.0.1\"");
    assert_ne!(wrong, manifest);
    let (status, body) = app.upload("swap-item", "", &wasm, &wrong, None).await;
    assert_eq!(
        (status, gate(&body)),
        (StatusCode::BAD_REQUEST, "describe"),
        "{body}"
    );
    assert!(!written(), "a refused upload left compiled code behind");

    let (status, body) = app
        .upload("swap-item", "?activate=false", &wasm, &manifest, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(written(), "a stored version's compiled code is kept");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each compile bound refuses with a status and a message naming it; the
/// compile given up on keeps its slot until it ends, so a second upload
/// finds every slot busy.
#[tokio::test]
async fn uploads_over_a_compile_bound_are_refused_naming_the_bound() {
    let slow = slow_component(200, 2_000);
    let app = bare_server(|c| {
        c.compile.timeout_ms = 300;
        c.compile.max_concurrent = 1;
        c.registry.max_upload_bytes = slow.len() + 64;
    })
    .await;

    let too_big = with_custom_section(&slow, &[0; 128]);
    let (status, body) = app.upload("slow", "", &too_big, SLOW_MANIFEST, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        error_message(&body).contains("[plugin_registry] max_upload_bytes"),
        "{body}"
    );

    let (status, body) = app.upload("slow", "", &slow, SLOW_MANIFEST, None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        "{body}"
    );
    assert!(
        error_message(&body).contains("[compile] timeout_ms"),
        "{body}"
    );

    let (status, body) = app.upload("slow", "", &slow, SLOW_MANIFEST, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        error_message(&body).contains("[compile] max_concurrent"),
        "{body}"
    );

    let (_, versions) = app.get("/api/plugins/slow/versions").await;
    assert!(
        versions.as_array().is_none_or(|v| v.is_empty()),
        "nothing stored: {versions}"
    );
}

/// On a runtime with one thread, a compile on that thread would stall
/// every request until it ended.
#[tokio::test(flavor = "current_thread")]
async fn the_server_answers_while_a_component_compiles() {
    let app = bare_server(|_| {}).await;
    let slow = slow_component(200, 2_000);
    let (base, client) = (app.base.clone(), app.client.clone());
    let sent = Instant::now();
    let upload = tokio::spawn(async move {
        let form = reqwest::multipart::Form::new()
            .part("wasm", reqwest::multipart::Part::bytes(slow))
            .text("manifest", SLOW_MANIFEST);
        client
            .put(format!("{base}/api/plugins/slow"))
            .bearer_auth(regent_tests::app::ADMIN)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status()
    });
    let mut answered_during_compile = 0;
    while !upload.is_finished() {
        let (status, _) = app.text("/health").await;
        assert_eq!(status, StatusCode::OK);
        // Well after the upload reached the server, and before it ended.
        if sent.elapsed() > Duration::from_millis(500) && !upload.is_finished() {
            answered_during_compile += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = upload.await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "refused at the world gate");
    assert!(
        answered_during_compile > 0,
        "no request was answered while the component compiled"
    );
}

/// A FIFO in place of a component would block a reader forever; an
/// oversized one would be read whole. Both are refused, the server starts,
/// and /ready says why.
#[tokio::test]
async fn the_plugins_directory_reads_only_regular_files_under_the_cap() {
    let (wasm, manifest) = plugin_files(&fixtures(), "swap-item");
    let app = tokio::time::timeout(
        Duration::from_secs(120),
        bare_server(|c| {
            std::fs::write(c.plugins_dir.join("swap-item.toml"), &manifest).unwrap();
            std::fs::write(c.plugins_dir.join("swap-item.wasm"), &wasm).unwrap();
            let fifo = manifest.replace("swap-item", "fifo-item");
            std::fs::write(c.plugins_dir.join("fifo-item.toml"), fifo).unwrap();
            let made = std::process::Command::new("mkfifo")
                .arg(c.plugins_dir.join("fifo-item.wasm"))
                .status()
                .unwrap();
            assert!(made.success());
            let big = manifest.replace("swap-item", "big-item");
            std::fs::write(c.plugins_dir.join("big-item.toml"), big).unwrap();
            std::fs::write(
                c.plugins_dir.join("big-item.wasm"),
                vec![0u8; wasm.len() + 1],
            )
            .unwrap();
            c.registry.max_upload_bytes = wasm.len();
        }),
    )
    .await
    .expect("the server never started: the import blocked on a FIFO");
    assert_eq!(
        active_version(&app, "swap-item").await.as_deref(),
        Some("1.0.0")
    );
    assert_eq!(active_version(&app, "fifo-item").await, None);
    assert_eq!(active_version(&app, "big-item").await, None);
    let (status, ready) = app.text("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready.contains("fifo-item.wasm is not a regular file but a FIFO"),
        "{ready}"
    );
    assert!(
        ready.contains("over the bound of") && ready.contains("[plugin_registry] max_upload_bytes"),
        "{ready}"
    );
}

/// A name keeps its kind. If the store cannot say which kind a name was
/// stored with, the upload is refused (500, nothing stored) rather than
/// let through with the kind gate skipped, and the client is not shown
/// the store's error.
#[tokio::test]
async fn a_store_error_reading_a_names_kind_refuses_the_upload() {
    let app = spawn().await;
    let (status, body) = upload_from(&app, &fixtures(), "swap-item", "?activate=false").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The stored kind becomes unreadable: a blob where text belongs.
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE plugin_versions SET kind = X'00' WHERE name = 'swap-item'",
        [],
    )
    .unwrap();

    let (status, body) = upload_from(&app, &v2(), "swap-item", "?activate=false").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(error_code(&body), "internal");
    let message = error_message(&body);
    assert!(
        !message.contains("database") && !message.contains("kind"),
        "internal details leaked to the client: {body}"
    );
    let stored: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM plugin_versions WHERE name = 'swap-item' AND version = '2.0.0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0, "a version was stored with its kind unchecked");
}
