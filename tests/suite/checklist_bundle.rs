//! Checklist bundles: the 22 built-in items in one component, evaluated on
//! one instance per assessment. They must decide exactly as the items do on
//! their own, let one item be replaced on its own, and let a bad item fail
//! alone.

use std::path::PathBuf;
use std::sync::OnceLock;

use regent_host::domain::readiness::{Assessment, ReadinessContext};
use regent_host::runtime::{
    ChecklistEntry, LoadError, LoadedPlugin, Manifest, PluginRuntime, PluginSet, RuntimeConfig,
};
use regent_tests::built_plugins;

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn manifest_path(dir: &str, name: &str) -> PathBuf {
    built_plugins().join(dir).join(format!("{name}.toml"))
}

fn load(dir: &str, name: &str) -> LoadedPlugin {
    runtime()
        .load_file(&manifest_path(dir, name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Loads `name` from `dir` with its manifest's `[params]` replaced.
fn load_with_params(dir: &str, name: &str, params_json: &str) -> Result<LoadedPlugin, LoadError> {
    let mut manifest =
        Manifest::parse(&std::fs::read_to_string(manifest_path(dir, name)).unwrap()).unwrap();
    manifest.params_json = params_json.to_string();
    let wasm = std::fs::read(built_plugins().join(dir).join(format!("{name}.wasm"))).unwrap();
    runtime().load(&wasm, manifest)
}

/// The role each attestation item takes its attestation from by default.
const DEFAULT_ROLES: [(&str, &str); 15] = [
    ("monitoring", "ops_lead"),
    ("kill_switch_tested", "ops_lead"),
    ("chaos_testing", "tech_lead"),
    ("runbooks", "ops_lead"),
    ("incident_playbooks", "ops_lead"),
    ("architecture_docs", "tech_lead"),
    ("escalation_path", "ops_lead"),
    ("stakeholder_signoff", "exec_sponsor"),
    ("security_review", "tech_lead"),
    ("audit_trail", "tech_lead"),
    ("rollback_plan", "tech_lead"),
    ("oncall_trained", "ops_lead"),
    ("team_consensus", "tech_lead"),
    ("product_approval", "product_lead"),
    ("ops_approval", "ops_lead"),
];

/// A program with 16 attestations, 3 incidents and 2 gauges, each
/// attestation made in the role its item takes by default.
fn rich_context() -> ReadinessContext {
    let mut ctx: ReadinessContext =
        serde_json::from_str(include_str!("../../host/benches/context.json")).unwrap();
    for a in &mut ctx.attestations {
        let (_, role) = DEFAULT_ROLES.iter().find(|(k, _)| *k == a.key).unwrap();
        a.role = role.to_string();
    }
    ctx
}

/// The rich context with `runbooks` attested by the governed system itself
/// and `escalation_path` by a tech lead: neither counts.
fn wrong_roles_context() -> ReadinessContext {
    let mut ctx = rich_context();
    for a in &mut ctx.attestations {
        match a.key.as_str() {
            "runbooks" => a.role = "reporter".into(),
            "escalation_path" => a.role = "tech_lead".into(),
            _ => {}
        }
    }
    ctx
}

fn contexts() -> Vec<(&'static str, ReadinessContext)> {
    let empty: ReadinessContext =
        serde_json::from_value(serde_json::json!({"now": "2026-11-01T00:00:00Z"})).unwrap();
    let mut later = rich_context();
    // A year on: attestations expire, the incident ages, the phase matures.
    later.now = regent_host::domain::Timestamp::parse("2027-11-01T00:00:00Z").unwrap();
    later.phase.days_at_phase = 610;
    let mut no_rates = rich_context();
    no_rates.metrics.success_rate = None;
    no_rates.metrics.approval_rate = None;
    no_rates.facts.gauges.clear();
    vec![
        ("rich", rich_context()),
        ("empty", empty),
        ("a year later", later),
        ("no rates", no_rates),
        ("wrong roles", wrong_roles_context()),
    ]
}

fn assess(plugins: &PluginSet, ctx: &ReadinessContext) -> Assessment {
    runtime().assess(&plugins.checklist(), ctx)
}

#[test]
fn the_bundle_decides_every_item_exactly_as_the_standalone_items_do() {
    let bundle = PluginSet::new([load("plugins", "readiness-checklist")]);
    let (items, failed) = runtime()
        .load_dir(&built_plugins().join("plugins/items"))
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let items = PluginSet::new(items);
    for (name, ctx) in contexts() {
        let (bundled, alone) = (assess(&bundle, &ctx), assess(&items, &ctx));
        assert_eq!(bundled.items.len(), 22, "{name}");
        assert_eq!(bundled.score, alone.score, "{name}");
        assert_eq!(bundled.blockers, alone.blockers, "{name}");
        for (b, a) in bundled.items.iter().zip(&alone.items) {
            assert_eq!(b.info, a.info, "{name}");
            assert_eq!(
                (b.passed, &b.detail, b.observed, &b.error),
                (a.passed, &a.detail, a.observed, &a.error),
                "{name}: item `{}`",
                b.info.id
            );
            assert_eq!(b.plugin, "readiness-checklist");
            assert_eq!(a.plugin, a.info.id);
        }
    }
    // Not a vacuous comparison: the contexts pass and fail different items.
    let scores: Vec<u32> = contexts()
        .iter()
        .map(|(_, ctx)| assess(&bundle, ctx).score)
        .collect();
    assert_eq!(scores[..2], [80, 5], "{scores:?}");
    assert!(scores[2] < 80 && scores[3] < 80, "{scores:?}");
    assert_eq!(scores[4], 80 - 5 - 4, "{scores:?}");
}

#[test]
fn an_item_plugin_takes_its_item_over_from_the_bundle() {
    // The operator wants runbooks attested by an exec sponsor from now on.
    let runbooks = load_with_params(
        "plugins/items",
        "runbooks",
        r#"{"key": "runbooks", "roles": ["exec_sponsor"]}"#,
    )
    .unwrap();
    let plugins = PluginSet::new([load("plugins", "readiness-checklist"), runbooks]);
    let checklist = plugins.checklist();
    assert_eq!(checklist.len(), 22, "the item is replaced, not added");
    let standalone: Vec<&str> = checklist
        .iter()
        .filter(|e| matches!(e, ChecklistEntry::Item(_)))
        .map(|e| e.plugin().name())
        .collect();
    assert_eq!(standalone, ["runbooks"]);

    let assessment = runtime().assess(&checklist, &rich_context());
    let result = |id: &str| assessment.items.iter().find(|i| i.info.id == id).unwrap();
    assert_eq!(result("runbooks").plugin, "runbooks");
    assert!(
        !result("runbooks").passed,
        "the ops lead's attestation no longer counts"
    );
    assert_eq!(
        result("runbooks").detail,
        "`runbooks` is attested by ben (ops_lead), which does not count: it needs an exec_sponsor"
    );
    assert_eq!(result("incident-playbooks").plugin, "readiness-checklist");
    assert!(result("incident-playbooks").passed);
}

#[test]
fn an_attestation_in_a_role_the_item_does_not_take_does_not_count() {
    let bundle = PluginSet::new([load("plugins", "readiness-checklist")]);
    let assessment = assess(&bundle, &wrong_roles_context());
    let result = |id: &str| assessment.items.iter().find(|i| i.info.id == id).unwrap();
    let runbooks = result("runbooks");
    assert!(!runbooks.passed);
    assert_eq!(
        runbooks.detail,
        "`runbooks` is attested by ben (reporter), which does not count: it needs an ops_lead"
    );
    let escalation = result("escalation-path");
    assert!(!escalation.passed);
    assert_eq!(
        escalation.detail,
        "`escalation_path` is attested by cyd (tech_lead), which does not count: \
         it needs an ops_lead"
    );
    assert_eq!(
        assessment.blockers,
        ["runbooks", "escalation-path"],
        "both are required items"
    );
    assert_eq!(
        result("team-consensus").detail,
        "`team_consensus` attested by cyd (tech_lead)"
    );

    // Whose attestation counts is each item's param.
    let widened = load_with_params(
        "plugins",
        "readiness-checklist",
        r#"{"runbooks": {"roles": ["ops_lead"]},
            "escalation-path": {"roles": ["ops_lead", "tech_lead"]}}"#,
    )
    .unwrap();
    let assessment = assess(&PluginSet::new([widened]), &wrong_roles_context());
    let result = |id: &str| assessment.items.iter().find(|i| i.info.id == id).unwrap();
    assert!(!result("runbooks").passed);
    assert!(result("escalation-path").passed);
    assert_eq!(
        result("escalation-path").detail,
        "`escalation_path` attested by cyd (tech_lead)"
    );
}

#[test]
fn roles_that_could_never_count_are_refused_when_the_bundle_loads() {
    let err = |params: &str| {
        load_with_params("plugins", "readiness-checklist", params)
            .unwrap_err()
            .to_string()
    };
    let empty = err(r#"{"runbooks": {"roles": []}}"#);
    assert!(
        empty.contains("item `runbooks`")
            && empty.contains("`roles` is empty: no one could attest `runbooks`"),
        "{empty}"
    );
    let reporter = err(r#"{"monitoring-in-place": {"roles": ["ops_lead", "reporter"]}}"#);
    assert!(
        reporter.contains("item `monitoring-in-place`")
            && reporter.contains(
                "`roles` names `reporter`, which cannot attest \
                 (the attesting roles are tech_lead, ops_lead, product_lead, exec_sponsor)"
            ),
        "{reporter}"
    );
    let both = err(r#"{"ops-approval": {"role": "ops_lead", "roles": ["ops_lead"]}}"#);
    assert!(
        both.contains("item `ops-approval`") && both.contains("give `roles` or `role`, not both"),
        "{both}"
    );
}

#[test]
fn a_looping_item_fails_alone_and_its_neighbours_still_decide() {
    let plugins = PluginSet::new([load("fixtures", "hostile-bundle")]);
    let mut ctx = rich_context();
    ctx.phase.days_at_phase = 45;
    let assessment = assess(&plugins, &ctx);
    let result = |id: &str| assessment.items.iter().find(|i| i.info.id == id).unwrap();

    let steady = result("steady");
    assert!(steady.passed, "{steady:?}");
    assert_eq!(steady.detail, "45 days >= 30");
    let spinner = result("spinner");
    assert_eq!(
        (spinner.passed, spinner.error.as_deref()),
        (false, Some("timeout"))
    );
    assert!(
        spinner
            .detail
            .starts_with("plugin `hostile-bundle` 0.1.0: timeout"),
        "{}",
        spinner.detail
    );
    let refuser = result("refuser");
    assert_eq!(refuser.error.as_deref(), Some("plugin_error"));
    assert!(
        refuser
            .detail
            .ends_with("item `refuser`: no data to decide on"),
        "{}",
        refuser.detail
    );
    assert_eq!(assessment.score, 3);
    assert_eq!(assessment.blockers, Vec::<String>::new());
}

#[test]
fn a_bundles_params_are_checked_item_by_item_when_it_loads() {
    let err = |params: &str| {
        load_with_params("fixtures", "hostile-bundle", params)
            .unwrap_err()
            .to_string()
    };
    assert!(
        err(r#"{"stedy": {"min_days": 3}}"#).contains(
            "`[params.stedy]` names no item of this bundle (it has `steady`, `spinner`, `refuser`)"
        ),
        "{}",
        err(r#"{"stedy": {"min_days": 3}}"#)
    );
    let zero = err(r#"{"steady": {"min_days": 0}}"#);
    assert!(
        zero.contains("item `steady`") && zero.contains("min_days must be at least 1"),
        "{zero}"
    );
    let missing = err("{}");
    assert!(
        missing.contains("item `steady`") && missing.contains("missing field `min_days`"),
        "{missing}"
    );
    let not_table = err(r#"{"steady": 3}"#);
    assert!(
        not_table.contains("`params.steady` must be a table"),
        "{not_table}"
    );
}

#[test]
fn a_bundle_is_handed_only_what_its_items_read() {
    let bundle = load("plugins", "readiness-checklist");
    let summary = bundle.summary();
    let reads = summary.reads.as_ref().unwrap();
    let mut keys = reads.attestation_keys.clone().unwrap();
    keys.sort();
    assert_eq!(
        keys.len(),
        15,
        "13 attestation items, plus monitoring and the kill switch: {keys:?}"
    );
    assert!(keys.contains(&"kill_switch_tested".to_string()));
    assert_eq!(
        reads.gauge_names.as_deref(),
        Some(&["evalCoverage".to_string()][..])
    );
    assert!(
        reads.incidents,
        "no-critical-autonomous-incidents reads them"
    );
    let ops = summary
        .items
        .iter()
        .find(|i| i.item.id == "ops-approval")
        .unwrap();
    assert_eq!(
        ops.reads.attestation_keys,
        Some(vec!["ops_approval".to_string()])
    );
    assert!(!ops.reads.incidents);
}

#[test]
fn an_item_component_is_not_a_bundle() {
    let mut manifest = Manifest::parse(
        &std::fs::read_to_string(manifest_path("plugins/items", "runbooks")).unwrap(),
    )
    .unwrap();
    manifest.kind = regent_host::domain::PluginKind::ChecklistBundle;
    let wasm = std::fs::read(built_plugins().join("plugins/items/runbooks.wasm")).unwrap();
    let err = runtime().load(&wasm, manifest).unwrap_err().to_string();
    assert!(
        err.contains("missing export `evaluate-items`")
            && err.contains("it looks like a `checklist-item` plugin"),
        "{err}"
    );
}
