//! Versions of the `regent:policy` WIT package: a component built against
//! 0.1.0 still loads (a breaker condition is handed 0.1.0's window, without
//! the latency percentiles 0.2.0 added), and one built against a version the
//! host does not serve is refused, naming both versions and how to rebuild.

use std::sync::OnceLock;

use regent_host::domain::breaker::MetricsWindow;
use regent_host::runtime::{
    LoadError, LoadedPlugin, Manifest, PluginRuntime, RuntimeConfig, PACKAGE_VERSION,
};
use regent_tests::app::{error_code, error_message, TestApp};
use regent_tests::built_plugins;
use reqwest::StatusCode;
use serde_json::json;

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn load(dir: &str, name: &str) -> Result<LoadedPlugin, LoadError> {
    runtime().load_file(&built_plugins().join(dir).join(format!("{name}.toml")))
}

/// Two failures of nine commands, and a slow p95 a 0.1.0 plugin cannot see.
fn window() -> MetricsWindow {
    serde_json::from_value(json!({
        "now": "2026-11-01T00:00:00Z",
        "metrics": {"commandsTotal": 9, "byStatus": {"succeeded": 7, "failed": 2, "rejected": 0, "rolledBack": 0}},
        "p50DurationMs": 300.0, "p95DurationMs": 4000.0, "p99DurationMs": 4000.0
    }))
    .unwrap()
}

/// `tests/fixtures-wat/hostile-output.wat` (a risk scorer that imports the
/// `types` interface), importing it from package version `version`.
fn risk_scorer_importing(version: &str) -> Vec<u8> {
    let path = regent_tests::repo_root().join("tests/fixtures-wat/hostile-output.wat");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("COPIES", "1")
        .replace("LEN", "8");
    let current = format!("\"regent:policy/types@{PACKAGE_VERSION}\"");
    assert!(text.contains(&current), "the fixture imports {current}");
    wat::parse_str(text.replace(&current, &format!("\"regent:policy/types@{version}\""))).unwrap()
}

fn risk_manifest() -> Manifest {
    Manifest::parse("name = \"hostile-output\"\nkind = \"risk-scorer\"\nversion = \"0.1.0\"\n")
        .unwrap()
}

#[test]
fn the_host_serves_0_2_0() {
    assert_eq!(PACKAGE_VERSION, "0.2.0");
    let expression = load("plugins", "expression").unwrap();
    assert_eq!(expression.summary().wit_package.as_deref(), Some("0.2.0"));
}

#[test]
fn a_breaker_built_against_0_1_0_loads_and_is_handed_the_old_window() {
    let legacy = load("fixtures", "legacy-breaker").expect("a 0.1.0 breaker condition loads");
    assert_eq!(legacy.summary().wit_package.as_deref(), Some("0.1.0"));
    let verdict = runtime().evaluate_breaker(&legacy, &window()).unwrap();
    assert!(verdict.tripped);
    assert_eq!(verdict.observed, Some(2.0));
    assert_eq!(
        verdict.reason,
        "legacy-breaker 0.1.0: 2 failures of 9 commands"
    );
    // Its params are checked through the 0.1.0 world too.
    runtime()
        .validate_breaker_params(&legacy, "{\"condition\": \"failures > 0\"}")
        .unwrap();
}

#[test]
fn a_component_importing_0_1_0_types_loads_where_its_world_is_unchanged() {
    let plugin = runtime()
        .load(&risk_scorer_importing("0.1.0"), risk_manifest())
        .expect("the risk-scorer world is the same in 0.1.0");
    assert_eq!(plugin.summary().wit_package.as_deref(), Some("0.1.0"));
    let assessment = runtime().score_risk(&plugin, &[]).unwrap();
    assert_eq!(assessment.recommendations, ["AAAAAAAA"]);
}

#[test]
fn a_component_for_a_version_the_host_does_not_serve_is_refused_saying_how_to_rebuild() {
    for version in ["0.3.0", "0.0.9", "1.0.0"] {
        let err = match runtime().load(&risk_scorer_importing(version), risk_manifest()) {
            Err(err) => err,
            Ok(_) => panic!("a component built against {version} loaded"),
        };
        assert!(
            matches!(&err, LoadError::PackageVersion { built_for, serves: "0.2.0", .. } if built_for == version),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "plugin `hostile-output`: built against `regent:policy@{version}`, but this host serves \
                 `regent:policy@0.2.0` (and still loads 0.1.0): rebuild it against 0.2.0 with this host's \
                 SDK (`regent plugin build`), or for other toolchains with this host's `wit/` directory"
            )
        );
    }
}

#[tokio::test]
async fn uploads_take_0_1_0_components_and_refuse_unserved_versions_at_the_world_gate() {
    let app = TestApp::spawn().await;
    let manifest = "name = \"hostile-output\"\nkind = \"risk-scorer\"\nversion = \"0.3.0\"\n";
    let (status, body) = app
        .upload(
            "hostile-output",
            "",
            &risk_scorer_importing("0.3.0"),
            manifest,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "gate_failed");
    assert_eq!(body["error"]["gate"], "world", "{body}");
    let message = error_message(&body);
    assert!(
        message.contains(
            "built against `regent:policy@0.3.0`, but this host serves `regent:policy@0.2.0`"
        ),
        "{message}"
    );
    assert!(message.contains("rebuild it against 0.2.0"), "{message}");

    let fixtures = built_plugins().join("fixtures");
    let (wasm, manifest) = regent_tests::app::plugin_files(&fixtures, "legacy-breaker");
    let (status, body) = app
        .upload("legacy-breaker", "", &wasm, &manifest, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"]["status"], "active", "{body}");
    let (status, plugin) = app.get("/api/plugins/legacy-breaker").await;
    assert_eq!(status, StatusCode::OK, "{plugin}");
    assert_eq!(plugin["witPackage"], "0.1.0", "{plugin}");
}
