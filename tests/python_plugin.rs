//! Plugins from another toolchain: Python, built by componentize-py. They
//! import WASI; Regent links a WASI that grants nothing, so they run but
//! can reach nothing.

use std::process::Command;
use std::sync::OnceLock;

use regent_host::domain::breaker::MetricsWindow;
use regent_host::runtime::{LoadedPlugin, PluginRuntime, RuntimeConfig};
use regent_tests::{built_plugins, repo_root};
use serde_json::{json, Value};

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Compiling an 18 MB Python component takes seconds: cache it.
        let cache_dir = Some(built_plugins().join("test-cache"));
        PluginRuntime::new(RuntimeConfig {
            cache_dir,
            ..Default::default()
        })
        .unwrap()
    })
}

fn load(name: &str) -> LoadedPlugin {
    static BUILT: OnceLock<()> = OnceLock::new();
    let out = repo_root().join("target/plugins-py");
    BUILT.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("tests/fixtures-py/build.sh"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "building the Python plugins failed");
    });
    runtime()
        .load_file(&out.join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn window(json: Value) -> MetricsWindow {
    serde_json::from_value(json).unwrap()
}

#[test]
fn a_python_breaker_condition_runs_like_any_other() {
    let plugin = load("error-budget");
    assert!(plugin.summary().uses_wasi);
    assert_eq!(plugin.version(), "0.1.0");

    let over = window(json!({"now": "2026-11-01T00:00:00Z", "metrics": {"errorRate": 0.08}}));
    let verdict = runtime().evaluate_breaker(&plugin, &over).unwrap();
    assert!(verdict.tripped);
    assert_eq!(verdict.observed, Some(0.08));
    assert_eq!(
        verdict.reason,
        "errorRate 0.0800 > 0.05 (error budget exhausted)"
    );

    let no_data = window(json!({"now": "2026-11-01T00:00:00Z"}));
    let verdict = runtime().evaluate_breaker(&plugin, &no_data).unwrap();
    assert!(!verdict.tripped);
    assert_eq!(verdict.reason, "errorRate has no data");
}

#[test]
fn a_python_plugin_can_reach_no_file_env_network_clock_or_entropy() {
    let probe = load("sandbox-probe");
    let w = window(json!({"now": "2026-11-01T00:00:00Z"}));
    let report = |plugin: &LoadedPlugin| -> Value {
        serde_json::from_str(&runtime().evaluate_breaker(plugin, &w).unwrap().reason).unwrap()
    };
    let first = report(&probe);

    assert_eq!(first["read_file"]["ok"], false, "{first}");
    let root = &first["list_root"];
    assert!(
        root["ok"] == false || root["value"] == json!([]),
        "no preopened directories: {root}"
    );
    assert_eq!(
        first["environ"],
        json!({"ok": true, "value": {}}),
        "no environment"
    );
    assert_eq!(first["connect"]["ok"], false, "{first}");
    assert_eq!(
        first["stdin"],
        json!({"ok": true, "value": ""}),
        "stdin is closed: reading it returns at once, with nothing"
    );
    assert_eq!(
        first["wall_clock"],
        json!({"ok": true, "value": 0.0}),
        "the clock is stopped at the epoch"
    );
    // Fresh store each time, fixed seed: the same "random" bytes every run.
    let second = report(&probe);
    assert_eq!(
        first["urandom"], second["urandom"],
        "no entropy reaches the plugin"
    );
}
