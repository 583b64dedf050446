//! The runtime against plugins that misbehave: each failure is named with
//! the plugin, its version and the cause, and the host keeps serving.

use std::sync::OnceLock;

use regent_host::domain::readiness::ReadinessContext;
use regent_host::domain::Timestamp;
use regent_host::runtime::{
    convert, ChecklistEntry, EvalFailure, LoadError, LoadedPlugin, Manifest, PluginRuntime,
    RuntimeConfig,
};
use regent_tests::app::{TestApp, ADMIN};
use regent_tests::built_plugins;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn load(dir: &str, name: &str) -> Result<LoadedPlugin, LoadError> {
    runtime().load_file(&built_plugins().join(dir).join(format!("{name}.toml")))
}

fn context() -> ReadinessContext {
    let mut ctx: ReadinessContext =
        serde_json::from_value(serde_json::json!({"now": "2026-11-01T00:00:00Z"})).unwrap();
    ctx.phase.days_at_phase = 200;
    ctx
}

/// Evaluates a hostile checklist item, then proves a healthy one still works.
fn failure_of(name: &str) -> EvalFailure {
    let hostile =
        load("fixtures", name).expect("hostile fixtures load: they only misbehave when evaluated");
    let ctx = convert::readiness_context(&context());
    let err = runtime()
        .evaluate_item(&hostile, &ctx)
        .expect_err("a hostile plugin must fail");
    assert_eq!(
        (err.plugin.as_str(), err.version.as_str()),
        (name, "0.1.0"),
        "the error names the plugin and version"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("plugin `{name}` 0.1.0: ")),
        "{err}"
    );

    let healthy = load("plugins/items", "time-at-phase").unwrap();
    let verdict = runtime()
        .evaluate_item(&healthy, &ctx)
        .expect("a healthy plugin still evaluates right after");
    assert!(verdict.passed, "{verdict:?}");
    err.failure
}

#[test]
fn an_infinite_loop_times_out_at_the_plugin_limit() {
    let started = std::time::Instant::now();
    assert_eq!(
        failure_of("hostile-loop"),
        EvalFailure::Timeout { limit_ms: 50 }
    );
    // The limit is enforced, not merely reported: 50 ms plus epoch slack.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_memory_bomb_is_out_of_memory_at_16_mib() {
    assert_eq!(
        failure_of("hostile-memory"),
        EvalFailure::OutOfMemory {
            limit_bytes: 16 << 20
        }
    );
}

#[test]
fn unbounded_recursion_is_a_stack_overflow() {
    assert_eq!(failure_of("hostile-recursion"), EvalFailure::StackOverflow);
}

#[test]
fn a_panic_is_a_trap_carrying_the_panic_message() {
    match failure_of("hostile-panic") {
        EvalFailure::Trap { message } => {
            assert!(message.starts_with("panicked: "), "{message}");
            assert!(message.contains("gave up on 0 attestations"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn scores_out_of_range_are_refused_as_invalid_output() {
    let scorer = load("fixtures", "hostile-out-of-range").unwrap();
    let err = runtime()
        .score_risk(&scorer, &[])
        .expect_err("a score of 150 breaks the contract");
    assert_eq!(
        err.failure,
        EvalFailure::InvalidOutput {
            message: "overall score 150 is above 100".into()
        }
    );
    let healthy = load("plugins", "severity-weighted").unwrap();
    assert_eq!(runtime().score_risk(&healthy, &[]).unwrap().overall, 0);
}

#[test]
fn a_component_exporting_the_wrong_world_is_refused_with_what_is_missing() {
    let err = load("fixtures", "hostile-wrong-world")
        .expect_err("a task matcher is not a checklist item");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            LoadError::WorldMismatch {
                world: "checklist-item",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        message.contains("missing exports `context-scope`, `evaluate`"),
        "{message}"
    );
    assert!(
        message.contains("it looks like a `task-matcher` plugin"),
        "{message}"
    );
}

#[test]
fn a_checklist_item_that_fails_counts_as_not_passed_with_the_error_as_detail() {
    let panicking = load("fixtures", "hostile-panic").unwrap();
    let looping = load("fixtures", "hostile-loop").unwrap();
    let healthy = load("plugins/items", "time-at-phase").unwrap();
    let assessment = runtime().assess(
        &[
            ChecklistEntry::Item(&healthy),
            ChecklistEntry::Item(&panicking),
            ChecklistEntry::Item(&looping),
        ],
        &context(),
    );
    let by_plugin = |name: &str| assessment.items.iter().find(|i| i.plugin == name).unwrap();
    assert!(by_plugin("time-at-phase").passed);
    let failed = by_plugin("hostile-loop");
    assert!(!failed.passed);
    assert_eq!(failed.error.as_deref(), Some("timeout"));
    assert_eq!(
        failed.detail,
        "plugin `hostile-loop` 0.1.0: timeout: still running after 50 ms"
    );
    assert_eq!(by_plugin("hostile-panic").error.as_deref(), Some("trap"));
    assert_eq!(assessment.score, 5, "only the healthy item's points count");
}

#[test]
fn a_per_plugin_time_limit_overrides_the_default() {
    let path = built_plugins().join("fixtures/hostile-loop.toml");
    let mut manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest.limits.timeout = std::time::Duration::from_millis(5);
    let wasm = std::fs::read(path.with_extension("wasm")).unwrap();
    let plugin = runtime().load(&wasm, manifest).unwrap();
    let err = runtime()
        .evaluate_item(&plugin, &convert::readiness_context(&context()))
        .unwrap_err();
    assert_eq!(err.failure, EvalFailure::Timeout { limit_ms: 5 });
}

#[test]
fn bad_params_are_refused_at_load_not_at_every_evaluation() {
    let path = built_plugins().join("plugins/items/success-rate.toml");
    let mut manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest.params_json = r#"{"min": 7}"#.into();
    let wasm = std::fs::read(path.with_extension("wasm")).unwrap();
    let err = runtime().load(&wasm, manifest).unwrap_err();
    assert!(matches!(err, LoadError::InvalidParams { .. }), "{err:?}");
    assert!(err.to_string().contains("plugin_error"), "{err}");
}

#[test]
fn describe_must_agree_with_the_manifest() {
    let path = built_plugins().join("plugins/items/runbooks.toml");
    let mut manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest.version = "9.9.9".into();
    let wasm = std::fs::read(path.with_extension("wasm")).unwrap();
    let err = runtime().load(&wasm, manifest).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `runbooks`: describe() disagrees with the manifest: version is `0.1.0`, the manifest says `9.9.9`"
    );
}

#[test]
fn a_corrupt_component_is_refused_as_not_a_component() {
    let path = built_plugins().join("plugins/items/runbooks.toml");
    let manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let err = runtime()
        .load(b"\0asm\x0d\0\x01\0garbage", manifest)
        .unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
}

#[test]
fn the_whole_builtin_checklist_is_80_points_in_three_categories() {
    let (loaded, failed) = runtime()
        .load_dir(&built_plugins().join("plugins"))
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let set = regent_host::runtime::PluginSet::new(loaded);
    let checklist = set.checklist();
    assert_eq!(checklist.len(), 22);
    let mut ctx = context();
    ctx.now = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
    let assessment = runtime().assess(&checklist, &ctx);
    assert_eq!(assessment.max_score, 80);
    let possible: Vec<u32> = assessment.categories.iter().map(|c| c.possible).collect();
    assert_eq!(possible, [35, 25, 20]);
    // On an empty context only the phase time and "no critical incidents"
    // hold; every rate, gauge and attestation item fails for want of data.
    let passed: Vec<&str> = assessment
        .items
        .iter()
        .filter(|i| i.passed)
        .map(|i| i.info.id.as_str())
        .collect();
    assert_eq!(
        passed,
        ["no-critical-autonomous-incidents", "time-at-phase"]
    );
    assert_eq!(assessment.score, 10);
    assert!(assessment.blockers.contains(&"success-rate".to_string()));
}

/// A hand-written fixture from `tests/fixtures-wat`, its placeholders
/// replaced, assembled into a component.
fn wat_fixture(name: &str, values: &[(&str, u32)]) -> Vec<u8> {
    let path = regent_tests::repo_root().join(format!("tests/fixtures-wat/{name}.wat"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (placeholder, value) in values {
        text = text.replace(placeholder, &value.to_string());
    }
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{name}.wat: {e}"))
}

fn risk_manifest(name: &str, memory_mib: u32) -> Manifest {
    Manifest::parse(&format!(
        "name = \"{name}\"\nkind = \"risk-scorer\"\nversion = \"0.1.0\"\n\n[limits]\nmemory_mib = {memory_mib}\n"
    ))
    .unwrap()
}

/// Seven helper memories and tables beside the plugin's own, grown by
/// `pages` and `elements` each when it scores.
fn hostile_memories(pages: u32, elements: u32) -> LoadedPlugin {
    let wasm = wat_fixture(
        "hostile-memories",
        &[("PAGES", pages), ("ELEMENTS", elements)],
    );
    runtime()
        .load(&wasm, risk_manifest("hostile-memories", 16))
        .expect("it loads: it only grows when it scores")
}

#[test]
fn several_memories_share_one_budget() {
    // 7 × 1 MiB beside its own memory: within 16 MiB together.
    let modest = hostile_memories(16, 0);
    let assessment = runtime().score_risk(&modest, &[]).unwrap();
    assert_eq!(assessment.overall, 0);

    // 7 × 3 MiB: each memory far below 16 MiB, together past it.
    let hoarder = hostile_memories(48, 0);
    let err = runtime().score_risk(&hoarder, &[]).unwrap_err();
    assert_eq!(
        err.failure,
        EvalFailure::OutOfMemory {
            limit_bytes: 16 << 20
        }
    );
    assert_eq!(err.failure.code(), "out_of_memory");
}

#[test]
fn several_tables_share_one_element_limit() {
    // 7 × 20,000 elements: each table within 100,000, together past it.
    let hoarder = hostile_memories(0, 20_000);
    let err = runtime().score_risk(&hoarder, &[]).unwrap_err();
    assert_eq!(
        err.failure,
        EvalFailure::OutOfTableElements {
            limit_elements: 100_000
        }
    );
    assert_eq!(err.failure.code(), "out_of_memory");
    let modest = hostile_memories(0, 10_000);
    assert_eq!(runtime().score_risk(&modest, &[]).unwrap().overall, 0);
}

fn hostile_output(copies: u32, len: u32, memory_mib: u32) -> LoadedPlugin {
    let wasm = wat_fixture("hostile-output", &[("COPIES", copies), ("LEN", len)]);
    runtime()
        .load(&wasm, risk_manifest("hostile-output", memory_mib))
        .unwrap()
}

#[test]
fn one_buffer_aliased_many_times_is_not_lifted_past_the_memory_budget() {
    // 16 recommendations that all point at one 1 MiB buffer: 16 MiB to
    // copy out of a plugin limited to 2 MiB.
    let plugin = hostile_output(16, 1 << 20, 2);
    let err = runtime().score_risk(&plugin, &[]).unwrap_err();
    assert_eq!(
        err.failure,
        EvalFailure::OutputTooLarge {
            limit_bytes: 2 << 20
        }
    );
    assert_eq!(
        err.to_string(),
        "plugin `hostile-output` 0.1.0: output_too_large: handed the host more than 2097152 bytes in one call"
    );
    // The same buffer handed over once is within the bound.
    let once = hostile_output(1, 1 << 20, 2);
    assert!(runtime().score_risk(&once, &[]).is_ok());
}

#[test]
fn long_text_is_cut_and_marked_as_cut() {
    let long = hostile_output(1, 1 << 20, 2);
    let assessment = runtime().score_risk(&long, &[]).unwrap();
    assert!(assessment.truncated);
    let [text] = assessment.recommendations.as_slice() else {
        panic!("{:?}", assessment.recommendations.len());
    };
    assert_eq!(
        text.as_str(),
        format!(
            "{}… [cut by the host: 1048576 bytes, kept 4096]",
            "A".repeat(4096)
        )
    );

    let many = hostile_output(1_000, 8, 2);
    let assessment = runtime().score_risk(&many, &[]).unwrap();
    assert!(assessment.truncated);
    assert_eq!(assessment.recommendations, vec!["AAAAAAAA"; 32]);

    let honest = hostile_output(3, 8, 2);
    let assessment = runtime().score_risk(&honest, &[]).unwrap();
    assert!(!assessment.truncated);
    assert_eq!(assessment.recommendations.len(), 3);
}

#[tokio::test]
async fn the_stored_rows_say_the_text_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hostile-output.wasm"),
        wat_fixture("hostile-output", &[("COPIES", 1), ("LEN", 100_000)]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hostile-output.toml"),
        "name = \"hostile-output\"\nkind = \"risk-scorer\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(&[(dir.path(), "hostile-output")], false, |c| {
        c.governance.risk_scorer = "hostile-output".into();
    })
    .await;
    let cut = |text: &Value| {
        text.as_str()
            .unwrap()
            .ends_with("… [cut by the host: 100000 bytes, kept 4096]")
    };

    let (status, report) = app
        .call(Method::POST, "/api/governance/report", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    let (_, stored) = app.get("/api/governance/risk-reports").await;
    let stored = &stored[0];
    assert_eq!(stored["id"], report["id"]);
    assert_eq!(stored["truncated"], true, "{stored}");
    assert!(cut(&stored["recommendations"][0]));

    let (status, _) = app
        .post(
            "/api/plugins/hostile-output/evaluate",
            json!({"events": []}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, records) = app.get("/api/evaluations?plugin=hostile-output").await;
    let output = &records[0]["output"];
    assert_eq!(output["truncated"], true, "{output}");
    assert!(cut(&output["recommendations"][0]));
}

#[test]
fn resources_a_plugin_opens_and_never_drops_are_capped() {
    let plugin = |count| {
        let wasm = wat_fixture("hostile-resources", &[("COUNT", count)]);
        runtime()
            .load(&wasm, risk_manifest("hostile-resources", 16))
            .unwrap()
    };
    let modest = plugin(100);
    assert!(modest.summary().uses_wasi);
    assert_eq!(runtime().score_risk(&modest, &[]).unwrap().overall, 0);

    let hoarder = plugin(5_000);
    let err = runtime().score_risk(&hoarder, &[]).unwrap_err();
    assert_eq!(err.failure, EvalFailure::TooManyResources { limit: 1024 });
    assert_eq!(err.failure.code(), "too_many_resources");
}
