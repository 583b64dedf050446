//! The evaluation service records each evaluation it serves: the metric,
//! the shadow sample of a live input, and the row of a requested one. The
//! plugins are the repository's, built once into `target/plugins` by
//! `scripts/build-plugins.sh`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::evaluation::{read_input, PluginInput};
use crate::metrics::GovernanceFigures;
use crate::runtime::{PluginSet, RuntimeConfig};
use crate::service::registry::breaker_input;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built plugin `name` (`items/` holds the standalone checklist items).
fn load(runtime: &PluginRuntime, dir: &str, name: &str) -> LoadedPlugin {
    let manifest = repo().join(dir).join(format!("{name}.toml"));
    runtime
        .load_file(&manifest)
        .unwrap_or_else(|e| panic!("{name} does not load from {}: {e}", manifest.display()))
}

/// The input of one of the plugin's own fixtures.
fn fixture_input(plugin: &str, fixture: &str) -> Value {
    let path = repo().join(format!("plugins/{plugin}/fixtures/{fixture}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut fixture: Value = serde_json::from_str(&text).unwrap();
    fixture["input"].take()
}

struct Fixture {
    db: Arc<dyn Store>,
    exporter: Arc<Metrics>,
    evaluator: PluginEvaluator,
    plugins: PluginSet,
}

impl Fixture {
    fn new() -> Self {
        let runtime = Arc::new(PluginRuntime::new(RuntimeConfig::default()).unwrap());
        let plugins = PluginSet::new([
            load(&runtime, "target/plugins/items", "success-rate"),
            load(&runtime, "target/plugins", "readiness-checklist"),
            load(&runtime, "target/plugins", "expression"),
            load(&runtime, "target/plugins", "severity-weighted"),
            load(&runtime, "target/plugins", "capability-match"),
        ]);
        let db = Arc::new(SqliteStore::open_in_memory().unwrap());
        let exporter = Arc::new(Metrics::default());
        // Every input is sampled: no interval between two samples.
        let recorder = ShadowRecorder::new(db.clone(), Duration::ZERO, 50);
        let evaluator = PluginEvaluator::new(runtime, exporter.clone(), db.clone())
            .with_shadow_recorder(recorder);
        Self {
            db,
            exporter,
            evaluator,
            plugins,
        }
    }

    fn plugin(&self, name: &str) -> &LoadedPlugin {
        self.plugins.get(name).unwrap()
    }

    /// `regent_plugin_evaluations_total` (or `_errors_total`) of one plugin.
    fn metric(&self, name: &str, plugin: &str) -> u64 {
        let kind = self.plugin(plugin).kind();
        let text = self
            .exporter
            .render(Arc::new(GovernanceFigures {
                phase: "L3".into(),
                ..Default::default()
            }))
            .unwrap();
        let prefix = format!("{name}{{plugin=\"{plugin}\",kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map_or(0, |n| n.parse().unwrap())
    }

    fn evaluations(&self, plugin: &str) -> u64 {
        self.metric("regent_plugin_evaluations_total", plugin)
    }

    fn samples(&self, source: &str) -> Vec<Value> {
        self.db
            .shadow_inputs(source, 50)
            .unwrap()
            .into_iter()
            .map(|r| r.input)
            .collect()
    }

    fn rows(&self, plugin: &str) -> usize {
        self.db.recent_evaluations(Some(plugin), 50).unwrap().len()
    }
}

#[test]
fn a_live_evaluation_of_each_kind_records_its_metric_and_shadow_sample() {
    let f = Fixture::new();

    // Checklist: the standalone item and the bundle serving the others.
    let ctx = match read_input(
        PluginKind::ChecklistBundle,
        fixture_input("readiness-checklist", "ready"),
    )
    .unwrap()
    {
        PluginInput::Readiness(ctx) => ctx,
        other => panic!("a readiness context, not {other:?}"),
    };
    let checklist = f.plugins.checklist();
    let assessment = f.evaluator.assess(&checklist, &ctx);
    assert!(!assessment.items.is_empty());
    assert_eq!(f.evaluations("success-rate"), 1);
    assert_eq!(
        f.evaluations("readiness-checklist"),
        1,
        "one call per bundle"
    );
    assert_eq!(
        f.samples("readiness"),
        vec![serde_json::to_value(&ctx).unwrap()]
    );

    // Risk scorer.
    let events = match read_input(
        PluginKind::RiskScorer,
        fixture_input("severity-weighted", "quiet-week"),
    )
    .unwrap()
    {
        PluginInput::Risk(input) => input.events,
        other => panic!("risk input, not {other:?}"),
    };
    f.evaluator
        .score_risk(f.plugin("severity-weighted"), &events)
        .unwrap();
    assert_eq!(f.evaluations("severity-weighted"), 1);
    assert_eq!(
        f.samples("risk"),
        vec![serde_json::json!({ "events": events })]
    );

    // Task matcher.
    let request = match read_input(
        PluginKind::TaskMatcher,
        fixture_input("capability-match", "basic-assignment"),
    )
    .unwrap()
    {
        PluginInput::Match(request) => request,
        other => panic!("a match request, not {other:?}"),
    };
    f.evaluator
        .rank(f.plugin("capability-match"), &request)
        .unwrap();
    assert_eq!(f.evaluations("capability-match"), 1);
    assert_eq!(
        f.samples("matcher"),
        vec![serde_json::to_value(&request).unwrap()]
    );

    // Breaker condition, as a rule's check runs it.
    let window = match read_input(
        PluginKind::BreakerCondition,
        fixture_input("expression", "error-rate-tripped"),
    )
    .unwrap()
    {
        PluginInput::Window(window) => window,
        other => panic!("a metrics window, not {other:?}"),
    };
    let breaker = f.plugin("expression");
    let params = r#"{"condition":"errorRate > 0.05"}"#;
    let sample = || breaker_input("error-rate", breaker.name(), params, &window);
    f.evaluator
        .evaluate(Evaluation::served(breaker, sample), |runtime| {
            runtime.evaluate_breaker_with(breaker, &window, params)
        })
        .unwrap();
    assert_eq!(f.evaluations("expression"), 1);
    assert_eq!(
        f.samples("breaker"),
        vec![breaker_input("error-rate", "expression", params, &window)]
    );

    // Live evaluations are sampled, not stored as rows.
    for plugin in f.plugins.iter() {
        assert_eq!(f.rows(plugin.name()), 0, "{}", plugin.name());
    }
}

#[test]
fn a_requested_evaluation_of_each_kind_records_its_metric_and_row() {
    let f = Fixture::new();
    let cases = [
        ("success-rate", "success-rate", "at-threshold"),
        ("readiness-checklist", "readiness-checklist", "ready"),
        ("expression", "expression", "error-rate-tripped"),
        ("severity-weighted", "severity-weighted", "quiet-week"),
        ("capability-match", "capability-match", "basic-assignment"),
    ];
    for (name, source, fixture) in cases {
        let input = fixture_input(source, fixture);
        let evaluated = f
            .evaluator
            .evaluate_requested(f.plugin(name), input.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.evaluations(name), 1, "{name}");
        let rows = f.db.recent_evaluations(Some(name), 50).unwrap();
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(rows[0].input, input, "{name}");
        assert_eq!(rows[0].output.as_ref(), Some(&evaluated.output), "{name}");
        assert_eq!(rows[0].kind, f.plugin(name).kind(), "{name}");
    }
    // The rows are what candidates replay: no sample besides them.
    for source in ["readiness", "breaker", "risk", "matcher"] {
        assert!(f.samples(source).is_empty(), "{source}");
    }
}

#[test]
fn an_input_the_kind_cannot_read_is_refused_and_not_recorded() {
    let f = Fixture::new();
    let error = f
        .evaluator
        .evaluate_requested(f.plugin("expression"), serde_json::json!({"nope": 1}))
        .unwrap_err();
    assert!(matches!(error, ServiceError::BadRequest(_)), "{error:?}");
    assert_eq!(f.evaluations("expression"), 0);
    assert_eq!(f.rows("expression"), 0);
}

#[test]
fn a_failed_evaluation_is_counted_as_an_error_and_stored_with_its_code() {
    let f = Fixture::new();
    // A risk scorer asked to rank: the runtime refuses the wrong kind.
    let scorer = f.plugin("severity-weighted");
    let request = match read_input(
        PluginKind::TaskMatcher,
        fixture_input("capability-match", "basic-assignment"),
    )
    .unwrap()
    {
        PluginInput::Match(request) => request,
        other => panic!("a match request, not {other:?}"),
    };
    let error = f.evaluator.rank(scorer, &request).unwrap_err();
    assert_eq!(error.failure.code(), "wrong_kind");
    assert_eq!(f.evaluations("severity-weighted"), 1);
    assert_eq!(
        f.metric("regent_plugin_evaluation_errors_total", "severity-weighted"),
        1
    );
}
