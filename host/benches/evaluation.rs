//! Criterion benchmarks of plugin evaluation. Run with `make bench` (it
//! builds the plugins first); results are recorded in docs/benchmarks.md.
//!
//! (a) one checklist item through the runtime, fresh store each time
//! (b) the whole 22-item assessment through the runtime: as served (one
//!     bundle, one instance), and as 22 components (22 instances)
//! (c) the same assessment, the same plugin source compiled natively
//! (d) the same checklist in Rego, evaluated by regorus
//! (e) ranking 10,000 candidates with the Wasm matcher, and natively

// A benchmark has no caller to hand an error to: a failed set-up step
// should stop the run with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod native;
mod rego;
mod workload;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use regent_host::domain::matching::MatchRequest;
use regent_host::domain::readiness::ReadinessContext;
use regent_host::runtime::{
    convert, EngineSettings, Manifest, PluginRuntime, PluginSet, RuntimeConfig,
};

struct Setup {
    runtime: PluginRuntime,
    /// What `regent serve` loads: the checklist is the bundle.
    plugins: PluginSet,
    /// The 22 items as components of their own.
    items: PluginSet,
    ctx: ReadinessContext,
    native_params: Vec<String>,
    rego: rego::RegoChecklist,
    rego_input: regorus::Value,
    match_request: MatchRequest,
}

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins")
}

/// The runtime, the plugins `regent serve` loads (the checklist as one
/// bundle), and the 22 items as components of their own.
fn runtime_with(settings: EngineSettings) -> (PluginRuntime, PluginSet, PluginSet) {
    let runtime = PluginRuntime::new(RuntimeConfig {
        engine: settings,
        ..Default::default()
    })
    .expect("runtime");
    let load = |dir: PathBuf| {
        let (loaded, failed) = runtime
            .load_dir(&dir)
            .expect("run scripts/build-plugins.sh first");
        assert!(failed.is_empty(), "{failed:?}");
        PluginSet::new(loaded)
    };
    let (served, items) = (load(plugins_dir()), load(plugins_dir().join("items")));
    (runtime, served, items)
}

/// The context in the shape the Rego policy reads: camelCase, times in ms.
fn rego_input(ctx: &ReadinessContext) -> regorus::Value {
    let c = convert::readiness_context(ctx);
    let json = serde_json::json!({
        "now": c.now,
        "phase": {"current": "L3", "enteredAt": c.phase.entered_at, "daysAtPhase": c.phase.days_at_phase, "minStabilizationDays": c.phase.min_stabilization_days},
        "metrics": {"commandsTotal": c.metrics.commands_total, "successRate": c.metrics.success_rate, "errorRate": c.metrics.error_rate, "approvalRate": c.metrics.approval_rate, "rollbackRate": c.metrics.rollback_rate},
        "incidents": c.incidents.iter().map(|i| serde_json::json!({"severity": format!("{:?}", i.severity).to_lowercase(), "autonomous": i.autonomous, "occurredAt": i.occurred_at})).collect::<Vec<_>>(),
        "attestations": c.attestations.iter().map(|a| serde_json::json!({"key": a.key, "attestedBy": a.attested_by, "role": a.role, "attestedAt": a.attested_at, "expiresAt": a.expires_at, "evidenceUrl": a.evidence_url})).collect::<Vec<_>>(),
        "facts": {"enabledBreakerRules": c.facts.enabled_breaker_rules, "emergencyStopLastExercised": c.facts.emergency_stop_last_exercised, "metricsLastScraped": c.facts.metrics_last_scraped,
                  "gauges": c.facts.gauges.iter().map(|g| serde_json::json!({"name": g.name, "value": g.value, "updatedAt": g.updated_at})).collect::<Vec<_>>()},
    });
    rego::input_from_json(&json.to_string()).expect("rego input")
}

fn setup() -> Setup {
    let (runtime, plugins, items) = runtime_with(EngineSettings::default());
    let ctx = workload::context();
    let native_params = native::ITEMS
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(plugins_dir().join(format!("items/{name}.toml")))
                .expect("manifest");
            Manifest::parse(&text).expect("manifest").params_json
        })
        .collect();
    let mut rego = rego::RegoChecklist::new().expect("rego");
    let rego_input = rego_input(&ctx);
    rego.set_input(rego_input.clone());
    Setup {
        runtime,
        plugins,
        items,
        ctx,
        native_params,
        rego,
        rego_input,
        match_request: workload::match_request(),
    }
}

/// The three implementations must agree before their speeds mean anything.
fn check_agreement(s: &mut Setup) {
    let wasm = s.runtime.assess(&s.plugins.checklist(), &s.ctx);
    let components = s.runtime.assess(&s.items.checklist(), &s.ctx);
    assert_eq!(
        wasm.items
            .iter()
            .map(|i| (i.passed, &i.detail))
            .collect::<Vec<_>>(),
        components
            .items
            .iter()
            .map(|i| (i.passed, &i.detail))
            .collect::<Vec<_>>(),
        "the bundle and the standalone items disagree"
    );
    let native = native::assess(&s.ctx, &s.native_params);
    let (rego_score, rego_passed) = s.rego.assess().expect("rego assess");
    let mut wasm_passed: Vec<&str> = wasm
        .items
        .iter()
        .filter(|i| i.passed)
        .map(|i| i.info.id.as_str())
        .collect();
    wasm_passed.sort();
    eprintln!(
        "agreement: wasm {} / native {} / rego {} of {} points",
        wasm.score, native.score, rego_score, wasm.max_score
    );
    assert_eq!(wasm.score, native.score, "wasm and native disagree");
    assert_eq!(u64::from(wasm.score), rego_score, "wasm and rego disagree");
    assert_eq!(
        wasm_passed,
        rego_passed.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let plugin = s.plugins.get("capability-match").expect("matcher");
    let wasm_rank = s.runtime.rank(plugin, &s.match_request).expect("rank");
    let native_rank = native::rank(&s.match_request);
    assert_eq!(wasm_rank.ranked.len(), native_rank.ranked.len());
    assert_eq!(
        wasm_rank.ranked.first().map(|r| &r.id),
        native_rank.ranked.first().map(|r| &r.id)
    );
    eprintln!(
        "agreement: matcher ranks {} and excludes {} of 10000",
        wasm_rank.ranked.len(),
        wasm_rank.excluded.len()
    );
}

fn benches(c: &mut Criterion) {
    let mut s = setup();
    check_agreement(&mut s);
    let item = s.items.get("success-rate").expect("success-rate").clone();
    let wit_ctx = convert::readiness_context(&s.ctx);

    let mut g = c.benchmark_group("a_checklist_item");
    g.bench_function("wasm_fresh_store", |b| {
        b.iter(|| s.runtime.evaluate_item(&item, black_box(&wit_ctx)).unwrap())
    });
    g.bench_function("instantiate_only", |b| {
        b.iter(|| s.runtime.instantiate_only(&item).unwrap())
    });
    let (cold, _, cold_items) = runtime_with(EngineSettings {
        memory_keep_resident: 0,
        ..Default::default()
    });
    let cold_item = cold_items.get("success-rate").unwrap().clone();
    g.bench_function("wasm_fresh_store_no_keep_resident", |b| {
        b.iter(|| cold.evaluate_item(&cold_item, black_box(&wit_ctx)).unwrap())
    });
    g.finish();

    let checklist = s.plugins.checklist();
    let components = s.items.checklist();
    let mut g = c.benchmark_group("assessment_22_items");
    g.bench_function("b_wasm", |b| {
        b.iter(|| s.runtime.assess(&checklist, black_box(&s.ctx)))
    });
    g.bench_function("b_wasm_22_components", |b| {
        b.iter(|| s.runtime.assess(&components, black_box(&s.ctx)))
    });
    g.bench_function("c_native", |b| {
        b.iter(|| native::assess(black_box(&s.ctx), &s.native_params))
    });
    g.bench_function("d_rego", |b| {
        b.iter(|| {
            s.rego.set_input(s.rego_input.clone());
            s.rego.assess().unwrap()
        })
    });
    g.finish();

    let matcher = s.plugins.get("capability-match").unwrap().clone();
    let mut g = c.benchmark_group("e_rank_10000_candidates");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("wasm", |b| {
        b.iter(|| {
            s.runtime
                .rank(&matcher, black_box(&s.match_request))
                .unwrap()
        })
    });
    g.bench_function("native", |b| {
        b.iter(|| native::rank(black_box(&s.match_request)))
    });
    g.finish();

    percentiles("e_rank_10000_candidates/wasm", || {
        drop(s.runtime.rank(&matcher, &s.match_request).unwrap())
    });
    percentiles("e_rank_10000_candidates/native", || {
        drop(native::rank(&s.match_request))
    });
}

/// Criterion reports means and medians; the targets for (e) are a p95.
fn percentiles(name: &str, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name}: p50 {:.2?}  p95 {:.2?}  p99 {:.2?}  (300 runs)",
        at(0.50),
        at(0.95),
        at(0.99)
    );
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
