//! Checklist item: the evaluation suite covers enough of the system.

use regent_sdk::checklist::*;

/// Passes when the latest value of the coverage gauge (by default
/// `evalCoverage`, reported to the host as a share between 0 and 1) is
/// strictly above `min`. A gauge that was never reported fails.
pub struct EvalCoverage;

/// Which gauge to read and the bar it must clear.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The gauge's name (default `evalCoverage`).
    pub gauge: String,
    /// The coverage must be strictly above this, between 0 and 1 (default 0.90).
    pub min: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            gauge: "evalCoverage".to_string(),
            min: 0.90,
        }
    }
}

impl ChecklistItem for EvalCoverage {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "the eval coverage gauge > min (90%)";
    const ITEM: ItemSpec = ItemSpec::new(
        "eval-coverage",
        "Eval coverage > 90%",
        Category::Technical,
        "safety & testing",
        5,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        if params.gauge.trim().is_empty() {
            return Err("`gauge` must name a gauge".to_string());
        }
        check_share("min", "a coverage share", params.min)
    }

    fn scope(params: &Params) -> ContextScope {
        ContextScope::scalars().with_gauge(&params.gauge)
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let name = &params.gauge;
        let bar = Bound::Above(params.min);
        Ok(bar.verdict(
            gauge(ctx, name),
            format!("the gauge `{name}` was never reported"),
            |coverage| format!("{name} is {} (needs {bar})", percent(coverage)),
        ))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(EvalCoverage);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn context(name: &str, value: f64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.facts.gauges.push(Gauge {
            name: name.to_string(),
            value,
            updated_at: NOW - DAY_MS,
        });
        ctx
    }

    #[test]
    fn passes_when_the_eval_coverage_gauge_is_strictly_above_90_percent() {
        let verdict =
            EvalCoverage::evaluate(&context("evalCoverage", 0.95), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            pass("evalCoverage is 95.00% (needs > 90.00%)", Some(0.95))
        );
        let at = EvalCoverage::evaluate(&context("evalCoverage", 0.9), &Params::default());
        assert!(!at.unwrap().passed);
    }

    #[test]
    fn a_gauge_never_reported_fails() {
        // Other gauges are not a stand-in for the one asked for.
        let other = EvalCoverage::evaluate(&context("testCoverage", 0.99), &Params::default());
        assert_eq!(
            other.unwrap(),
            fail("the gauge `evalCoverage` was never reported", None)
        );
    }

    #[test]
    fn item_and_params() {
        let item = EvalCoverage::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("eval-coverage", Category::Technical, 5, true)
        );
        let params = Params {
            gauge: "testCoverage".to_string(),
            min: 0.5,
        };
        assert!(
            EvalCoverage::evaluate(&context("testCoverage", 0.6), &params)
                .unwrap()
                .passed
        );
        assert!(EvalCoverage::validate(&Params::default()).is_ok());
        let share = Params {
            min: 90.0,
            ..Params::default()
        };
        assert_eq!(
            EvalCoverage::validate(&share).unwrap_err(),
            "`min` is a coverage share and must be between 0 and 1, got 90"
        );
        let empty = Params {
            gauge: " ".to_string(),
            ..Params::default()
        };
        assert_eq!(
            EvalCoverage::validate(&empty).unwrap_err(),
            "`gauge` must name a gauge"
        );
    }
}
