//! The readiness checklist: its context, item verdicts and the assessment.

use serde::{Deserialize, Serialize};

use super::metrics::CommandMetrics;
use super::{Category, Phase, Severity, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Incident {
    pub severity: Severity,
    #[serde(default)]
    pub autonomous: bool,
    pub occurred_at: Timestamp,
    #[serde(default)]
    pub command_type: Option<String>,
}

/// Where the program stands. Fields left out default from `current`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PhaseStatus {
    pub current: Phase,
    pub entered_at: Option<Timestamp>,
    pub days_at_phase: u32,
    pub min_stabilization_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestation {
    pub key: String,
    pub attested_by: String,
    pub role: String,
    pub attested_at: Timestamp,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub evidence_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gauge {
    pub name: String,
    pub value: f64,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Facts {
    pub enabled_breaker_rules: u32,
    pub emergency_stop_last_exercised: Option<Timestamp>,
    pub metrics_last_scraped: Option<Timestamp>,
    pub gauges: Vec<Gauge>,
}

/// Everything a checklist item may look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadinessContext {
    pub now: Timestamp,
    #[serde(default)]
    pub phase: PhaseStatus,
    #[serde(default)]
    pub metrics: CommandMetrics,
    #[serde(default)]
    pub incidents: Vec<Incident>,
    #[serde(default)]
    pub attestations: Vec<Attestation>,
    #[serde(default)]
    pub facts: Facts,
}

/// The parts of the readiness context a checklist item reads. It is handed
/// nothing else: `now`, the phase, the metrics and the facts' scalars, plus
/// what is listed here. `None` means every attestation (or gauge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextScope {
    pub incidents: bool,
    pub attestation_keys: Option<Vec<String>>,
    pub gauge_names: Option<Vec<String>>,
}

impl ContextScope {
    pub fn everything() -> Self {
        Self {
            incidents: true,
            attestation_keys: None,
            gauge_names: None,
        }
    }

    pub fn is_everything(&self) -> bool {
        self.incidents && self.attestation_keys.is_none() && self.gauge_names.is_none()
    }

    /// What several items read together: a bundle is handed the union of
    /// its items' scopes. "Everything" in any part absorbs the rest.
    pub fn union<'a>(scopes: impl IntoIterator<Item = &'a ContextScope>) -> ContextScope {
        fn merge(into: &mut Option<Vec<String>>, from: &Option<Vec<String>>) {
            match (into.as_mut(), from) {
                (Some(names), Some(more)) => {
                    for name in more {
                        if !names.contains(name) {
                            names.push(name.clone());
                        }
                    }
                }
                _ => *into = None,
            }
        }
        let mut union = ContextScope {
            incidents: false,
            attestation_keys: Some(Vec::new()),
            gauge_names: Some(Vec::new()),
        };
        for scope in scopes {
            union.incidents |= scope.incidents;
            merge(&mut union.attestation_keys, &scope.attestation_keys);
            merge(&mut union.gauge_names, &scope.gauge_names);
        }
        union
    }

    pub fn reads_attestation(&self, key: &str) -> bool {
        self.attestation_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == key))
    }

    /// Whether an item with this scope and these params counts an
    /// attestation of `key` made in `role`. The roles an item accepts are
    /// its `roles` param (or the older single `role`); an item whose params
    /// name neither keeps its plugin's defaults, which the host cannot see,
    /// so it is not claimed here.
    pub fn accepts_attestation(&self, params: &serde_json::Value, key: &str, role: &str) -> bool {
        if !self.reads_attestation(key) {
            return false;
        }
        let key_param = params.get("key").and_then(|k| k.as_str());
        if key_param.is_some_and(|k| k != key) {
            return false;
        }
        match (params.get("roles"), params.get("role")) {
            (Some(serde_json::Value::Array(roles)), _) => {
                roles.iter().any(|r| r.as_str() == Some(role))
            }
            (_, Some(serde_json::Value::String(r))) => r == role,
            _ => false,
        }
    }

    pub fn reads_gauge(&self, name: &str) -> bool {
        self.gauge_names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// What a checklist item says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemInfo {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub subcategory: String,
    pub points: u32,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemVerdict {
    pub passed: bool,
    pub detail: String,
    pub observed: Option<f64>,
    /// True when the host cut the plugin's `detail` to its length cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One item's line in an assessment. An item whose evaluation failed counts
/// as not passed (fail closed), with the error as its detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    #[serde(flatten)]
    pub info: ItemInfo,
    pub passed: bool,
    pub detail: String,
    pub observed: Option<f64>,
    /// The evaluation error's code when the item could not be evaluated.
    pub error: Option<String>,
    pub plugin: String,
    pub plugin_version: String,
    /// True when the host cut the plugin's `detail` to its length cap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryScore {
    pub category: Category,
    pub earned: u32,
    pub possible: u32,
}

/// A whole checklist's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub score: u32,
    pub max_score: u32,
    pub categories: Vec<CategoryScore>,
    /// Ids of required items that did not pass: each blocks expansion.
    pub blockers: Vec<String>,
    pub items: Vec<ItemResult>,
}

impl Assessment {
    /// Totals item results into scores per category and overall.
    pub fn from_items(items: Vec<ItemResult>) -> Self {
        let mut categories: Vec<CategoryScore> = [
            Category::Technical,
            Category::Process,
            Category::Organizational,
        ]
        .into_iter()
        .map(|category| CategoryScore {
            category,
            earned: 0,
            possible: 0,
        })
        .collect();
        for item in &items {
            if let Some(total) = categories
                .iter_mut()
                .find(|c| c.category == item.info.category)
            {
                total.possible += item.info.points;
                if item.passed {
                    total.earned += item.info.points;
                }
            }
        }
        let blockers = items
            .iter()
            .filter(|i| i.info.required && !i.passed)
            .map(|i| i.info.id.clone())
            .collect();
        Self {
            score: categories.iter().map(|c| c.earned).sum(),
            max_score: categories.iter().map(|c| c.possible).sum(),
            categories,
            blockers,
            items,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    AlmostReady,
    NeedsWork,
}

impl ReadinessStatus {
    /// `ready` needs 95% and no failed required item; below 90% needs work.
    pub fn of(score: u32, max_score: u32, required_failed: bool) -> (f64, Self) {
        let percentage = if max_score == 0 {
            0.0
        } else {
            f64::from(score) * 100.0 / f64::from(max_score)
        };
        // Percentages are compared in whole points (76/80 is exactly 95%).
        let status = if score * 100 >= 95 * max_score && max_score > 0 && !required_failed {
            ReadinessStatus::Ready
        } else if score * 100 < 90 * max_score || max_score == 0 {
            ReadinessStatus::NeedsWork
        } else {
            ReadinessStatus::AlmostReady
        };
        (percentage, status)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReadinessStatus::Ready => "ready",
            ReadinessStatus::AlmostReady => "almost_ready",
            ReadinessStatus::NeedsWork => "needs_work",
        }
    }
}

/// A stored readiness assessment, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessReport {
    pub id: i64,
    pub assessed_at: Timestamp,
    pub phase: Phase,
    pub overall: OverallReadiness,
    pub categories: CategoryReadiness,
    pub items: Vec<ReportItem>,
    /// The generation of the plugin set that decided every item: each
    /// item's `pluginVersion` is that set's version of its plugin.
    #[serde(default)]
    pub plugin_generation: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverallReadiness {
    pub score: u32,
    pub max_score: u32,
    pub percentage: f64,
    pub status: ReadinessStatus,
    /// Names of the required items that failed.
    pub blockers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointsOf {
    pub score: u32,
    pub max_score: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryReadiness {
    pub technical: PointsOf,
    pub process: PointsOf,
    pub organizational: PointsOf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportItem {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub subcategory: String,
    pub weight: u32,
    pub required: bool,
    pub passed: bool,
    pub detail: String,
    pub plugin: String,
    pub plugin_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when the host cut the plugin's `detail` to its length cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl ReadinessReport {
    pub fn new(assessed_at: Timestamp, phase: Phase, a: &Assessment) -> Self {
        let points = |c: Category| {
            a.categories
                .iter()
                .find(|s| s.category == c)
                .map(|s| PointsOf {
                    score: s.earned,
                    max_score: s.possible,
                })
                .unwrap_or(PointsOf {
                    score: 0,
                    max_score: 0,
                })
        };
        let (percentage, status) =
            ReadinessStatus::of(a.score, a.max_score, !a.blockers.is_empty());
        Self {
            id: 0,
            assessed_at,
            phase,
            plugin_generation: 0,
            overall: OverallReadiness {
                score: a.score,
                max_score: a.max_score,
                percentage: (percentage * 10.0).round() / 10.0,
                status,
                blockers: a
                    .items
                    .iter()
                    .filter(|i| i.info.required && !i.passed)
                    .map(|i| i.info.name.clone())
                    .collect(),
            },
            categories: CategoryReadiness {
                technical: points(Category::Technical),
                process: points(Category::Process),
                organizational: points(Category::Organizational),
            },
            items: a
                .items
                .iter()
                .map(|i| ReportItem {
                    id: i.info.id.clone(),
                    name: i.info.name.clone(),
                    category: i.info.category,
                    subcategory: i.info.subcategory.clone(),
                    weight: i.info.points,
                    required: i.info.required,
                    passed: i.passed,
                    detail: i.detail.clone(),
                    plugin: i.plugin.clone(),
                    plugin_version: i.plugin_version.clone(),
                    error: i.error.clone(),
                    truncated: i.truncated,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(incidents: bool, keys: Option<&[&str]>, gauges: Option<&[&str]>) -> ContextScope {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
        ContextScope {
            incidents,
            attestation_keys: keys.map(names),
            gauge_names: gauges.map(names),
        }
    }

    #[test]
    fn a_union_of_scopes_reads_what_any_of_them_reads() {
        let union = ContextScope::union(&[
            scope(false, Some(&["runbooks"]), Some(&[])),
            scope(
                true,
                Some(&["runbooks", "chaos_testing"]),
                Some(&["evalCoverage"]),
            ),
        ]);
        assert_eq!(
            union,
            scope(
                true,
                Some(&["runbooks", "chaos_testing"]),
                Some(&["evalCoverage"])
            )
        );
        let union = ContextScope::union(&[
            scope(false, Some(&["a"]), Some(&[])),
            scope(false, None, Some(&[])),
        ]);
        assert_eq!(
            union.attestation_keys, None,
            "every attestation absorbs a list"
        );
        assert_eq!(ContextScope::union(&[]), scope(false, Some(&[]), Some(&[])));
    }

    fn item(id: &str, category: Category, points: u32, required: bool, passed: bool) -> ItemResult {
        ItemResult {
            info: ItemInfo {
                id: id.into(),
                name: id.into(),
                category,
                subcategory: "s".into(),
                points,
                required,
            },
            passed,
            detail: String::new(),
            observed: None,
            error: None,
            plugin: id.into(),
            plugin_version: "0.1.0".into(),
            truncated: false,
        }
    }

    #[test]
    fn totals_points_by_category_and_lists_required_failures() {
        let a = Assessment::from_items(vec![
            item("a", Category::Technical, 5, true, true),
            item("b", Category::Technical, 3, true, false),
            item("c", Category::Process, 2, false, false),
            item("d", Category::Organizational, 6, false, true),
        ]);
        assert_eq!((a.score, a.max_score), (11, 16));
        assert_eq!(
            a.categories[0],
            CategoryScore {
                category: Category::Technical,
                earned: 5,
                possible: 8
            }
        );
        assert_eq!(
            a.categories[1],
            CategoryScore {
                category: Category::Process,
                earned: 0,
                possible: 2
            }
        );
        assert_eq!(a.blockers, vec!["b".to_string()]);
    }

    #[test]
    fn context_json_defaults_everything_but_now() {
        let ctx: ReadinessContext =
            serde_json::from_str(r#"{"now":"2026-11-01T00:00:00Z"}"#).unwrap();
        assert_eq!(ctx.metrics.success_rate, None);
        assert_eq!(ctx.phase.current, Phase::L3);
        let err = serde_json::from_str::<ReadinessContext>(
            r#"{"now":"2026-11-01T00:00:00Z","metric":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `metric`"), "{err}");
    }
}
