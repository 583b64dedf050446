//! Least privilege for checklist items: each item is handed only the parts
//! of the readiness context it declared (`context-scope`), never the rest.

use regent_host::domain::readiness::{ContextScope, ReadinessContext};
use regent_host::runtime::{convert, LoadedPlugin, Manifest, PluginRuntime, RuntimeConfig};
use regent_tests::built_plugins;

/// A context with three attestations, two incidents and two gauges.
fn context() -> ReadinessContext {
    serde_json::from_value(serde_json::json!({
        "now": "2026-11-01T00:00:00Z",
        "metrics": {"successRate": 0.999},
        "incidents": [
            {"severity": "critical", "autonomous": true, "occurredAt": "2026-10-01T00:00:00Z"},
            {"severity": "low", "autonomous": false, "occurredAt": "2026-10-02T00:00:00Z"}
        ],
        "attestations": [
            {"key": "runbooks", "attestedBy": "ana", "role": "ops_lead", "attestedAt": "2026-10-01T00:00:00Z"},
            {"key": "ops_approval", "attestedBy": "ben", "role": "ops_lead", "attestedAt": "2026-10-01T00:00:00Z"},
            {"key": "runbooks", "attestedBy": "old", "role": "ops_lead", "attestedAt": "2025-10-01T00:00:00Z"}
        ],
        "facts": {
            "enabledBreakerRules": 4,
            "gauges": [{"name": "evalCoverage", "value": 0.93}, {"name": "secretGauge", "value": 1.0}]
        }
    }))
    .unwrap()
}

fn probe(runtime: &PluginRuntime, params: Option<&str>) -> LoadedPlugin {
    let path = built_plugins().join("fixtures/scope-probe.toml");
    let mut manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if let Some(params) = params {
        manifest.params_json = params.to_string();
    }
    let wasm = std::fs::read(path.with_extension("wasm")).unwrap();
    runtime.load(&wasm, manifest).expect("the probe loads")
}

fn seen(runtime: &PluginRuntime, plugin: &LoadedPlugin) -> String {
    let ctx = convert::readiness_context(&context());
    runtime.evaluate_item(plugin, &ctx).unwrap().detail
}

#[test]
fn an_item_sees_only_the_attestations_and_gauges_it_declared() {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let plugin = probe(&runtime, None);
    assert_eq!(
        plugin.summary().reads,
        Some(ContextScope {
            incidents: false,
            attestation_keys: Some(vec!["runbooks".into()]),
            gauge_names: Some(vec!["evalCoverage".into()]),
        }),
        "the scope is asked once, at load, and shown to operators"
    );
    assert_eq!(
        seen(&runtime, &plugin),
        "attestations=runbooks,runbooks incidents=0 gauges=evalCoverage \
         breakerRules=4 successRate=Some(0.999)",
        "both `runbooks` attestations, no other attestation, no incident, \
         no other gauge; scalars always come"
    );
}

#[test]
fn incidents_come_only_when_asked_for() {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let plugin = probe(&runtime, Some(r#"{"incidents": true}"#));
    assert_eq!(
        seen(&runtime, &plugin),
        "attestations= incidents=2 gauges= breakerRules=4 successRate=Some(0.999)"
    );
}

#[test]
fn an_item_that_declares_nothing_sees_everything() {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let plugin = probe(&runtime, Some(r#"{"everything": true}"#));
    assert_eq!(plugin.summary().reads, Some(ContextScope::everything()));
    assert_eq!(
        seen(&runtime, &plugin),
        "attestations=runbooks,ops_approval,runbooks incidents=2 \
         gauges=evalCoverage,secretGauge breakerRules=4 successRate=Some(0.999)"
    );
}

#[test]
fn builtin_attestation_items_read_only_their_own_key() {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let plugin = runtime
        .load_file(&built_plugins().join("plugins/items/ops-approval.toml"))
        .unwrap();
    let reads = plugin.summary().reads.clone().unwrap();
    assert_eq!(
        reads.attestation_keys,
        Some(vec!["ops_approval".to_string()])
    );
    assert!(!reads.incidents);
    let verdict = runtime
        .evaluate_item(&plugin, &convert::readiness_context(&context()))
        .unwrap();
    assert!(verdict.passed, "{verdict:?}");
}
