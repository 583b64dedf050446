//! Risk scorer: severity-weighted event counts per risk category.
//!
//! Each category is fed by a set of engines. A category's score is the sum
//! of the severity weights of its engines' events, capped at 100; an engine
//! may feed several categories (by default `maos` and `qa` feed two each),
//! and an engine that feeds none adds to no score. The overall score is the
//! mean of the category scores, rounded half up. Recommendations follow the
//! category order: each category whose score is strictly above its
//! threshold adds its text, then any critical event (from any engine,
//! mapped or not) adds "Address N critical events immediately".

use regent_sdk::risk::*;
use std::collections::BTreeMap;

/// Scores governance events by severity weight per risk category.
pub struct SeverityWeighted;

/// The category map, the severity weights and the recommendation
/// thresholds. Every field defaults to the governance engine's values.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The categories, in report order, each with the engines that feed it.
    /// A list rather than a table, because the order is part of the output
    /// and TOML tables do not keep it.
    pub categories: Vec<RiskCategory>,
    /// Points each event adds to its categories, by severity.
    pub weights: Weights,
    /// Per category, the score above which a recommendation is made.
    /// Setting this table replaces all the default thresholds, and every key
    /// must name a category.
    pub thresholds: BTreeMap<String, Threshold>,
}

/// One risk category and the engines whose events count towards it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskCategory {
    /// The category's name, e.g. `billing_risk`.
    pub name: String,
    /// The engines that feed it, e.g. `billing`.
    pub engines: Vec<String>,
}

/// Points per event, by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Default 25.
    pub critical: u32,
    /// Default 15.
    pub high: u32,
    /// Default 5.
    pub medium: u32,
    /// Default 1.
    pub low: u32,
}

/// When a category's score calls for a recommendation, and which.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The recommendation is made when the score is strictly above this.
    pub above: u32,
    /// What humans should do.
    pub recommendation: String,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            critical: 25,
            high: 15,
            medium: 5,
            low: 1,
        }
    }
}

impl Weights {
    fn of(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        let category = |name: &str, engines: &[&str]| RiskCategory {
            name: name.to_string(),
            engines: engines.iter().map(|e| e.to_string()).collect(),
        };
        let threshold = |name: &str, above: u32, text: &str| {
            (
                name.to_string(),
                Threshold {
                    above,
                    recommendation: text.to_string(),
                },
            )
        };
        Self {
            categories: vec![
                category("operational_risk", &["qa", "documentation", "maos"]),
                category("billing_risk", &["billing"]),
                category("security_risk", &["compliance", "maos"]),
                category("client_risk", &["voice_engine", "image_engine"]),
                category("performance_risk", &["deep_agent", "qa"]),
            ],
            weights: Weights::default(),
            thresholds: BTreeMap::from([
                threshold(
                    "operational_risk",
                    50,
                    "Review QA failures and documentation gaps",
                ),
                threshold(
                    "billing_risk",
                    30,
                    "Audit billing sync and token enforcement",
                ),
                threshold(
                    "security_risk",
                    40,
                    "Review compliance violations and MAOS permissions",
                ),
                threshold(
                    "client_risk",
                    30,
                    "Check voice/image generation success rates",
                ),
                threshold(
                    "performance_risk",
                    40,
                    "Optimize Deep Agent routing and response times",
                ),
            ]),
        }
    }
}

/// The most any score can be.
const MAX_SCORE: u32 = 100;

impl RiskScorer for SeverityWeighted {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "sums severity weights of each category's engines' events, capped at 100; overall is their mean";

    fn validate(params: &Params) -> Result<(), String> {
        if params.categories.is_empty() {
            return Err("`categories` must list at least one category".to_string());
        }
        for (i, category) in params.categories.iter().enumerate() {
            if category.name.trim().is_empty() {
                return Err(format!("category {} has an empty name", i + 1));
            }
            if params.categories[..i]
                .iter()
                .any(|c| c.name == category.name)
            {
                return Err(format!("category `{}` is listed twice", category.name));
            }
        }
        for (name, threshold) in &params.thresholds {
            if !params.categories.iter().any(|c| &c.name == name) {
                return Err(format!(
                    "a threshold is set for `{name}`, which is not a category"
                ));
            }
            if threshold.above >= MAX_SCORE {
                return Err(format!(
                    "the threshold for `{name}` is {}, but scores never exceed {MAX_SCORE}",
                    threshold.above
                ));
            }
            if threshold.recommendation.trim().is_empty() {
                return Err(format!(
                    "the threshold for `{name}` has an empty recommendation"
                ));
            }
        }
        Ok(())
    }

    fn score(events: &[GovernanceEvent], params: &Params) -> Result<RiskAssessment, String> {
        let categories: Vec<CategoryScore> = params
            .categories
            .iter()
            .map(|category| {
                let total: u64 = events
                    .iter()
                    .filter(|e| category.engines.contains(&e.engine))
                    .map(|e| u64::from(params.weights.of(e.severity)))
                    .sum();
                let score = total.min(u64::from(MAX_SCORE)) as u32;
                CategoryScore {
                    category: category.name.clone(),
                    score,
                }
            })
            .collect();

        // Integer arithmetic rounds the mean half up exactly, as JavaScript's
        // Math.round does for the non-negative scores here.
        let n = categories.len() as u64;
        let sum: u64 = categories.iter().map(|c| u64::from(c.score)).sum();
        let overall = if n == 0 {
            0
        } else {
            ((2 * sum + n) / (2 * n)) as u32
        };

        let mut recommendations: Vec<String> = categories
            .iter()
            .filter_map(|c| {
                let threshold = params.thresholds.get(&c.category)?;
                (c.score > threshold.above).then(|| threshold.recommendation.clone())
            })
            .collect();
        let critical = events
            .iter()
            .filter(|e| e.severity == Severity::Critical)
            .count();
        if critical > 0 {
            recommendations.push(format!("Address {critical} critical events immediately"));
        }

        Ok(RiskAssessment {
            categories,
            overall,
            recommendations,
        })
    }
}

regent_sdk::risk_scorer!(SeverityWeighted);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn events(list: &[(&str, Severity)]) -> Vec<GovernanceEvent> {
        list.iter()
            .map(|&(engine, severity)| event(engine, severity, NOW))
            .collect()
    }

    fn score(list: &[(&str, Severity)]) -> RiskAssessment {
        SeverityWeighted::score(&events(list), &Params::default()).unwrap()
    }

    fn scores(assessment: &RiskAssessment) -> Vec<(&str, u32)> {
        assessment
            .categories
            .iter()
            .map(|c| (c.category.as_str(), c.score))
            .collect()
    }

    #[test]
    fn no_events_no_risk() {
        let assessment = score(&[]);
        assert_eq!(
            scores(&assessment),
            [
                ("operational_risk", 0),
                ("billing_risk", 0),
                ("security_risk", 0),
                ("client_risk", 0),
                ("performance_risk", 0)
            ]
        );
        assert_eq!(assessment.overall, 0);
        assert!(assessment.recommendations.is_empty());
    }

    #[test]
    fn four_critical_billing_events_max_out_billing_risk() {
        let assessment = score(&[("billing", Severity::Critical); 4]);
        assert_eq!(scores(&assessment)[1], ("billing_risk", 100));
        assert_eq!(assessment.overall, 20);
        assert_eq!(
            assessment.recommendations,
            [
                "Audit billing sync and token enforcement",
                "Address 4 critical events immediately"
            ]
        );
    }

    #[test]
    fn scores_are_capped_at_100() {
        let assessment = score(&[("billing", Severity::Critical); 9]);
        assert_eq!(scores(&assessment)[1], ("billing_risk", 100));
        assert_eq!(assessment.overall, 20);
    }

    #[test]
    fn a_weekly_mix_across_engines() {
        let assessment = score(&[
            ("qa", Severity::High),
            ("qa", Severity::Medium),
            ("documentation", Severity::Critical),
            ("maos", Severity::High),
            ("compliance", Severity::Low),
            ("voice_engine", Severity::Critical),
            ("image_engine", Severity::High),
            ("deep_agent", Severity::Medium),
            ("billing", Severity::Low),
        ]);
        // qa and maos each feed two categories.
        assert_eq!(
            scores(&assessment),
            [
                ("operational_risk", 60),
                ("billing_risk", 1),
                ("security_risk", 16),
                ("client_risk", 40),
                ("performance_risk", 25)
            ]
        );
        // 142 / 5 = 28.4
        assert_eq!(assessment.overall, 28);
        assert_eq!(
            assessment.recommendations,
            [
                "Review QA failures and documentation gaps",
                "Check voice/image generation success rates",
                "Address 2 critical events immediately"
            ]
        );
    }

    #[test]
    fn the_mean_rounds_half_up() {
        // 13 / 5 = 2.6 rounds up; 12 / 5 = 2.4 rounds down.
        let medium = ("billing", Severity::Medium);
        let low = ("billing", Severity::Low);
        assert_eq!(score(&[medium, medium, low, low, low]).overall, 3);
        assert_eq!(score(&[medium, medium, low, low]).overall, 2);

        // Exactly .5 needs an even number of categories: 3 / 2 = 1.5 -> 2.
        let params = Params {
            categories: vec![
                RiskCategory {
                    name: "a".into(),
                    engines: vec!["x".into()],
                },
                RiskCategory {
                    name: "b".into(),
                    engines: vec!["y".into()],
                },
            ],
            thresholds: BTreeMap::new(),
            ..Params::default()
        };
        SeverityWeighted::validate(&params).unwrap();
        let list = events(&[
            ("x", Severity::Low),
            ("x", Severity::Low),
            ("y", Severity::Low),
        ]);
        assert_eq!(SeverityWeighted::score(&list, &params).unwrap().overall, 2);
        let list = events(&[("x", Severity::Low)]);
        assert_eq!(
            SeverityWeighted::score(&list, &params).unwrap().overall,
            1,
            "0.5 -> 1"
        );
    }

    #[test]
    fn thresholds_are_strictly_above() {
        let at = score(&[("billing", Severity::High), ("billing", Severity::High)]);
        assert_eq!(scores(&at)[1], ("billing_risk", 30));
        assert!(at.recommendations.is_empty());
        let above = score(&[
            ("billing", Severity::High),
            ("billing", Severity::High),
            ("billing", Severity::Low),
        ]);
        assert_eq!(
            above.recommendations,
            ["Audit billing sync and token enforcement"]
        );
    }

    #[test]
    fn unknown_engines_only_count_as_critical_events() {
        let assessment = score(&[
            ("marketing", Severity::Critical),
            ("marketing", Severity::High),
        ]);
        assert!(assessment.categories.iter().all(|c| c.score == 0));
        assert_eq!(assessment.overall, 0);
        assert_eq!(
            assessment.recommendations,
            ["Address 1 critical events immediately"]
        );
    }

    #[test]
    fn weights_are_params() {
        let params = Params {
            weights: Weights {
                critical: 50,
                ..Weights::default()
            },
            ..Params::default()
        };
        let list = events(&[
            ("billing", Severity::Critical),
            ("billing", Severity::Medium),
        ]);
        let assessment = SeverityWeighted::score(&list, &params).unwrap();
        assert_eq!(assessment.categories[1].score, 55);
        let partial: Params = parse_params(r#"{"weights": {"low": 2}}"#).unwrap();
        assert_eq!(
            partial.weights,
            Weights {
                low: 2,
                ..Weights::default()
            }
        );
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        SeverityWeighted::validate(&Params::default()).unwrap();

        let check =
            |json: &str| SeverityWeighted::validate(&parse_params(json).unwrap()).unwrap_err();
        assert_eq!(
            check(r#"{"categories": []}"#),
            "`categories` must list at least one category"
        );
        assert_eq!(
            check(
                r#"{"categories": [{"name": "a", "engines": []}, {"name": "a", "engines": []}], "thresholds": {}}"#
            ),
            "category `a` is listed twice"
        );
        assert_eq!(
            check(r#"{"categories": [{"name": " ", "engines": []}], "thresholds": {}}"#),
            "category 1 has an empty name"
        );
        // Replacing the categories leaves the default thresholds dangling.
        assert_eq!(
            check(r#"{"categories": [{"name": "billing_risk", "engines": ["billing"]}]}"#),
            "a threshold is set for `client_risk`, which is not a category"
        );
        assert_eq!(
            check(r#"{"thresholds": {"billing_risk": {"above": 100, "recommendation": "x"}}}"#),
            "the threshold for `billing_risk` is 100, but scores never exceed 100"
        );
        assert_eq!(
            check(r#"{"thresholds": {"billing_risk": {"above": 10, "recommendation": ""}}}"#),
            "the threshold for `billing_risk` has an empty recommendation"
        );
        assert!(parse_params::<Params>(r#"{"weights": {"severe": 3}}"#).is_err());
    }
}
