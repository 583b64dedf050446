//! Plugins from another toolchain: Python, built by componentize-py. They
//! import WASI; Regent links a WASI that grants nothing, so they run but
//! can reach nothing.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regent_host::domain::breaker::MetricsWindow;
use regent_host::runtime::{
    DiskCache, EngineSettings, EvalFailure, LoadedPlugin, PluginRuntime, RuntimeConfig,
};
use regent_tests::app::TestApp;
use regent_tests::built_plugins;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Compiling an 18 MB Python component takes seconds: cache it.
        let disk_cache = DiskCache::open(
            &built_plugins().join("test-cache"),
            &regent_tests::test_cache_key(),
            1 << 30,
        )
        .unwrap();
        PluginRuntime::new(RuntimeConfig {
            disk_cache: Some(disk_cache),
            ..Default::default()
        })
        .unwrap()
    })
}

/// Where `make python-plugins` put the Python plugins.
fn python_fixtures() -> PathBuf {
    regent_tests::built_python_plugins().to_path_buf()
}

fn load(name: &str) -> LoadedPlugin {
    let plugin = runtime()
        .load_file(&python_fixtures().join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    runtime().persist_compiled(&plugin);
    plugin
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

/// The hostile-wait fixture's evaluation with `mode` as its rule's condition.
fn wait_in(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    mode: &str,
) -> Result<String, regent_host::runtime::EvalError> {
    let w = window(json!({"now": "2026-11-01T00:00:00Z"}));
    let params = json!({ "condition": mode }).to_string();
    runtime
        .evaluate_breaker_with(plugin, &w, &params)
        .map(|v| v.reason)
}

/// A hang guard, far below the fixture's 30 s waits, not a speed claim.
const HANG_GUARD: Duration = Duration::from_secs(10);

#[test]
fn a_sleep_or_a_poll_in_a_host_call_fails_as_a_timeout_and_the_next_evaluation_succeeds() {
    let plugin = load("hostile-wait");
    assert_eq!(plugin.summary().timeout_ms, 2000);
    // CPython's sleep blocks on its one pollable; select polls a list.
    for (mode, call) in [
        ("sleep", "wasi:io/poll.[method]pollable.block"),
        ("select", "wasi:io/poll.poll"),
    ] {
        let started = Instant::now();
        let err = wait_in(runtime(), &plugin, mode).expect_err(mode);
        assert!(started.elapsed() < HANG_GUARD, "{mode}: {err}");
        assert_eq!(err.failure.code(), "timeout", "{mode}: {err}");
        assert_eq!(
            err.failure,
            EvalFailure::Blocked {
                call: call.into(),
                limit_ms: 2000
            },
            "{mode}: the error names the host call"
        );
        assert_eq!(
            wait_in(runtime(), &plugin, "ok").unwrap(),
            "returned 'ok'",
            "after {mode}"
        );
    }
}

#[test]
fn polling_forever_ends_at_the_time_limit() {
    let plugin = load("hostile-wait");
    let started = Instant::now();
    let err = wait_in(runtime(), &plugin, "busy-poll").expect_err("busy-poll");
    assert!(started.elapsed() < HANG_GUARD, "{err}");
    assert_eq!(err.failure, EvalFailure::Timeout { limit_ms: 2000 });
    assert_eq!(wait_in(runtime(), &plugin, "ok").unwrap(), "returned 'ok'");
}

#[test]
fn a_wait_that_is_over_at_once_and_a_read_of_stdin_return() {
    let plugin = load("hostile-wait");
    assert_eq!(
        wait_in(runtime(), &plugin, "sleep-zero").unwrap(),
        "returned 'sleep-zero'"
    );
    assert_eq!(wait_in(runtime(), &plugin, "stdin").unwrap(), "returned ''");
}

/// A small pool: loading holds two componentize-py instances at once, of
/// over a dozen core instances each, and this is about the least that fits.
const PYTHON_POOL: u32 = 8;

#[test]
fn an_evaluation_that_waited_frees_its_instance_slot() {
    // Twice as many failed evaluations as the pool has slots: a slot kept
    // by each would make the later ones, and the last, `unavailable`.
    let small = PluginRuntime::new(RuntimeConfig {
        disk_cache: Some(
            DiskCache::open(
                &built_plugins().join("test-cache"),
                &regent_tests::test_cache_key(),
                1 << 30,
            )
            .unwrap(),
        ),
        engine: EngineSettings {
            concurrent_instances: PYTHON_POOL,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let plugin = small
        .load_file(&python_fixtures().join("hostile-wait.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    for round in 0..2 * PYTHON_POOL {
        let err = wait_in(&small, &plugin, "sleep").expect_err("sleep");
        assert_eq!(err.failure.code(), "timeout", "round {round}: {err}");
    }
    assert_eq!(wait_in(&small, &plugin, "ok").unwrap(), "returned 'ok'");
}

#[tokio::test]
async fn a_breaker_rule_whose_plugin_waits_is_recorded_with_its_error_and_the_rules_after_it_still_trip(
) {
    let py = tokio::task::spawn_blocking(python_fixtures).await.unwrap();
    let app = TestApp::spawn_with(&[(py.as_path(), "hostile-wait")], true, |c| {
        c.breaker_check_interval = Duration::from_millis(100);
    })
    .await;
    let operator = app.token("oncall", &["operator"]).await;
    // Checked in order: the waiting rule first, then one that always trips.
    for (name, plugin, condition) in [
        ("Sleeper", "hostile-wait", "sleep"),
        ("Always", "expression", "failures >= 0"),
    ] {
        let rule = json!({"name": name, "enabled": true, "condition": condition, "window": "5m",
                          "action": "revert_to_l3", "alertSeverity": "critical", "plugin": plugin});
        let (status, body) = app
            .post_as(&operator, "/api/circuit-breaker/rules", &rule)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // The background checker: neither rule is skipped, nor stalls the other.
    let started = Instant::now();
    let events = loop {
        let (_, events) = app.get("/api/circuit-breaker/events?limit=100").await;
        let events = events.as_array().unwrap().clone();
        let of = |rule: &str| events.iter().find(|e| e["ruleName"] == rule).cloned();
        if let (Some(sleeper), Some(always)) = (of("Sleeper"), of("Always")) {
            break (sleeper, always);
        }
        assert!(
            started.elapsed() < HANG_GUARD,
            "the checker recorded no event for both rules: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (sleeper, always) = events;
    let error = sleeper["checkError"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(
            "plugin `hostile-wait` 0.1.0: timeout: waited in `wasi:io/poll.[method]pollable.block`"
        ),
        "{sleeper}"
    );
    assert_eq!(
        sleeper["action"], "alert_only",
        "a rule that cannot be checked runs no action"
    );
    assert_eq!(sleeper["plugin"], "hostile-wait");
    assert!(always.get("checkError").is_none(), "{always}");
    assert_eq!(always["action"], "revert_to_l3");

    // Checked again: a rule keeps one open event, failed or tripped.
    let (status, created) = app
        .post_as(&operator, "/api/circuit-breaker/check", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created, json!([]));
    let (_, unresolved) = app.get("/api/circuit-breaker/events/unresolved").await;
    let open: Vec<&str> = unresolved
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ruleName"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["Always", "Sleeper"], "{unresolved}");

    // Counted where plugin failures are.
    let (_, metrics) = app.text("/metrics").await;
    let errors = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "regent_plugin_evaluation_errors_total{plugin=\"hostile-wait\",kind=\"breaker-condition\"} ",
            )
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(errors.parse::<u64>().unwrap() >= 1, "{errors}");
}
