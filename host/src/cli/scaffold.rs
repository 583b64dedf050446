//! `regent plugin new <kind> <name>`: a plugin crate that builds, tests and
//! passes its fixtures as generated.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::domain::PluginKind;
use crate::runtime::manifest::check_name;

pub fn new_plugin(kind: &str, name: &str, parent: &Path, sdk: Option<&Path>) -> Result<()> {
    let kind: PluginKind = kind.parse().map_err(anyhow::Error::msg)?;
    if kind == PluginKind::ChecklistBundle {
        bail!("a checklist-bundle groups item crates that already exist: scaffold each item with `regent plugin new checklist-item <name>`, then list them in a crate that calls `regent_sdk::checklist_bundle!` (see plugins/readiness-checklist)");
    }
    check_name(name).map_err(anyhow::Error::msg)?;
    if name.contains('_') {
        bail!("name `{name}` must use `-`, not `_`: it becomes the crate's name");
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = match sdk {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk"),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("cannot find Regent's SDK at {} (pass --sdk)", sdk.display()))?;

    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("fixtures"))?;
    let write = |file: &str, text: String| std::fs::write(dir.join(file), text);
    write("Cargo.toml", cargo_toml(name, &sdk))?;
    let (params, source, fixture) = template(kind);
    let manifest = format!(
        "name = \"{name}\"\nkind = \"{}\"\nversion = \"0.1.0\"\n\n[params]\n{params}",
        kind.world()
    );
    write(&format!("{name}.toml"), manifest)?;
    write("src/lib.rs", source.replace("{name}", name))?;
    write("fixtures/example.json", fixture.to_string())?;
    write(".gitignore", "target/\ndist/\n".into())?;
    println!("created {} ({} plugin)", dir.display(), kind);
    println!(
        "next: cd {} && cargo test && regent plugin build . && regent plugin test .",
        dir.display()
    );
    Ok(())
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
regent-sdk = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}

# Its own workspace, so it builds wherever it is created.
[workspace]

[profile.release]
panic = "abort"
lto = true
codegen-units = 1
"#,
        sdk = sdk.display()
    )
}

/// The manifest params, source and fixture a new plugin of `kind` starts with.
fn template(kind: PluginKind) -> (&'static str, &'static str, &'static str) {
    let i = match kind {
        PluginKind::ChecklistItem => 0,
        PluginKind::BreakerCondition => 1,
        PluginKind::RiskScorer => 2,
        PluginKind::TaskMatcher => 3,
        // Refused by `new_plugin` before it gets here.
        PluginKind::ChecklistBundle => 0,
    };
    (PARAMS[i], SOURCES[i], FIXTURES[i])
}

const PARAMS: [&str; 4] = [
    "min = 0.995\n",
    "max_error_rate = 0.05\n",
    "weight = 10\n",
    "min_reputation = 0.5\n",
];

/// Guest code for a new plugin. Its `Result<_, String>` is the SDK's, which
/// mirrors the WIT's `result<_, string>`: the plugin boundary, not the host.
const SOURCES: [&str; 4] = [
    r#"//! {name}: a readiness checklist item.

use regent_sdk::checklist::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The success rate must be above this.
    pub min: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { min: 0.995 }
    }
}

pub struct Item;

impl ChecklistItem for Item {
    type Params = Params;
    const SUMMARY: &'static str = "success rate above a threshold";
    const ITEM: ItemSpec = ItemSpec::new("{name}", "Success rate above threshold", Category::Technical, "command performance", 5, false);

    fn evaluate(ctx: &ReadinessContext, p: &Params) -> Result<ItemVerdict, String> {
        Ok(match ctx.metrics.success_rate {
            None => fail("no commands executed in the window", None),
            Some(rate) if rate > p.min => pass(format!("success rate {rate:.4} > {}", p.min), Some(rate)),
            Some(rate) => fail(format!("success rate {rate:.4} <= {}", p.min), Some(rate)),
        })
    }
}

regent_sdk::checklist_item!(Item);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_above_the_threshold_and_fails_without_data() {
        let mut ctx = empty_context(0);
        assert!(!Item::evaluate(&ctx, &Params::default()).unwrap().passed);
        ctx.metrics.success_rate = Some(0.999);
        assert!(Item::evaluate(&ctx, &Params::default()).unwrap().passed);
    }
}
"#,
    r#"//! {name}: a circuit-breaker condition.

use regent_sdk::breaker::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Trip when the error rate is above this.
    pub max_error_rate: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { max_error_rate: 0.05 }
    }
}

pub struct Condition;

impl BreakerCondition for Condition {
    type Params = Params;
    const SUMMARY: &'static str = "trips when the error rate exceeds a budget";

    fn validate(p: &Params) -> Result<(), String> {
        if (0.0..=1.0).contains(&p.max_error_rate) { Ok(()) } else { Err("max_error_rate must be within 0..=1".into()) }
    }

    fn evaluate(w: &MetricsWindow, p: &Params) -> Result<BreakerVerdict, String> {
        Ok(match w.metrics.error_rate {
            None => BreakerVerdict { tripped: false, observed: None, reason: "errorRate has no data".into() },
            Some(rate) => BreakerVerdict {
                tripped: rate > p.max_error_rate,
                observed: Some(rate),
                reason: format!("errorRate {rate:.4} vs budget {}", p.max_error_rate),
            },
        })
    }
}

regent_sdk::breaker_condition!(Condition);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_over_budget_only() {
        let mut w = empty_window(0, 3_600_000);
        assert!(!Condition::evaluate(&w, &Params::default()).unwrap().tripped);
        w.metrics.error_rate = Some(0.2);
        assert!(Condition::evaluate(&w, &Params::default()).unwrap().tripped);
    }
}
"#,
    r#"//! {name}: a risk scorer.

use regent_sdk::risk::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Points per critical event.
    pub weight: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self { weight: 10 }
    }
}

pub struct Scorer;

impl RiskScorer for Scorer {
    type Params = Params;
    const SUMMARY: &'static str = "counts critical events";

    fn score(events: &[GovernanceEvent], p: &Params) -> Result<RiskAssessment, String> {
        let critical = events.iter().filter(|e| e.severity == Severity::Critical).count() as u32;
        let score = (critical * p.weight).min(100);
        Ok(RiskAssessment {
            categories: vec![CategoryScore { category: "critical_risk".into(), score }],
            overall: score,
            recommendations: if critical > 0 { vec![format!("Address {critical} critical events immediately")] } else { vec![] },
        })
    }
}

regent_sdk::risk_scorer!(Scorer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_critical_events_capped_at_100() {
        let events: Vec<_> = (0..12).map(|i| event("billing", Severity::Critical, i)).collect();
        assert_eq!(Scorer::score(&events, &Params::default()).unwrap().overall, 100);
        assert_eq!(Scorer::score(&events[..2], &Params::default()).unwrap().overall, 20);
    }
}
"#,
    r#"//! {name}: a task matcher.

use regent_sdk::matcher::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Candidates below this reputation are excluded.
    pub min_reputation: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { min_reputation: 0.5 }
    }
}

pub struct Matcher;

impl TaskMatcher for Matcher {
    type Params = Params;
    const SUMMARY: &'static str = "ranks by reputation, with every required capability";

    fn rank(task: &Task, candidates: &[Candidate], _: &AssignmentPolicy, p: &Params) -> Result<Ranking, String> {
        let mut ranking = Ranking { ranked: vec![], excluded: vec![] };
        // Candidates are identified by their position in `candidates`.
        for (i, c) in candidates.iter().enumerate() {
            let index = position(i);
            let has_all = task.required_capabilities.iter().all(|r| c.capabilities.contains(r));
            let capability_match = if has_all { 1.0 } else { 0.0 };
            if !has_all || c.reputation < p.min_reputation {
                ranking.excluded.push(ExcludedCandidate {
                    index,
                    reason: ExclusionReason::InsufficientCapability,
                    capability_match,
                });
            } else {
                ranking.ranked.push(RankedCandidate { index, score: c.reputation, capability_match });
            }
        }
        ranking.ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(ranking)
    }
}

regent_sdk::task_matcher!(Matcher);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_reputation() {
        let t = task("t", &["a"], None);
        let cs = [candidate(&["a"], 1.0, 0.6, 5.0), candidate(&["a"], 1.0, 0.9, 5.0)];
        let policy = AssignmentPolicy { min_capability_match: 0.7, max_cost_per_hour: None };
        let r = Matcher::rank(&t, &cs, &policy, &Params::default()).unwrap();
        assert_eq!(r.ranked[0].index, 1, "the second candidate is more reputable");
    }
}
"#,
];

const FIXTURES: [&str; 4] = [
    r#"{"description": "a high success rate passes", "input": {"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.999}}, "expect": {"passed": true, "observed": 0.999}}
"#,
    r#"{"description": "an error rate over budget trips", "input": {"now": "2026-11-01T00:00:00Z", "metrics": {"errorRate": 0.2}}, "expect": {"tripped": true, "observed": 0.2}}
"#,
    r#"{"description": "two critical events score 20", "input": {"events": [{"engine": "billing", "eventType": "x", "severity": "critical", "occurredAt": "2026-11-01T00:00:00Z"}, {"engine": "qa", "eventType": "y", "severity": "CRITICAL", "occurredAt": "2026-11-01T00:00:00Z"}]}, "expect": {"overall": 20}}
"#,
    r#"{"description": "the more reputable agent ranks first", "input": {"task": {"id": "t", "requiredCapabilities": ["a"]}, "candidates": [{"id": "x", "capabilities": ["a"], "costPerHour": 1, "reputation": 0.6, "budgetRemaining": 5}, {"id": "y", "capabilities": ["a"], "costPerHour": 1, "reputation": 0.9, "budgetRemaining": 5}]}, "expect": {"ranked": [{"id": "y"}, {"id": "x"}]}}
"#,
];
