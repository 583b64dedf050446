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
        if !(0.0..=1.0).contains(&params.min) {
            return Err(format!(
                "`min` is a coverage share and must be between 0 and 1, got {}",
                params.min
            ));
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let name = &params.gauge;
        let Some(coverage) = gauge(ctx, name) else {
            return Ok(fail(format!("the gauge `{name}` was never reported"), None));
        };
        let detail = format!(
            "{name} is {:.2}% (needs > {:.2}%)",
            coverage * 100.0,
            params.min * 100.0
        );
        Ok(if coverage > params.min {
            pass(detail, Some(coverage))
        } else {
            fail(detail, Some(coverage))
        })
    }
}

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
    fn passes_above_the_minimum() {
        let verdict = EvalCoverage::evaluate(&context("evalCoverage", 0.95), &Params::default());
        let verdict = verdict.unwrap();
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.95));
        assert_eq!(verdict.detail, "evalCoverage is 95.00% (needs > 90.00%)");
    }

    #[test]
    fn fails_at_or_below_the_minimum() {
        let at = EvalCoverage::evaluate(&context("evalCoverage", 0.9), &Params::default()).unwrap();
        assert!(!at.passed);
        assert_eq!(at.observed, Some(0.9));
        let low =
            EvalCoverage::evaluate(&context("evalCoverage", 0.4), &Params::default()).unwrap();
        assert!(!low.passed);
    }

    #[test]
    fn a_gauge_never_reported_fails() {
        let verdict = EvalCoverage::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert_eq!(
            verdict.detail,
            "the gauge `evalCoverage` was never reported"
        );
        // Other gauges are not a stand-in for the one asked for.
        let other = EvalCoverage::evaluate(&context("testCoverage", 0.99), &Params::default());
        assert!(!other.unwrap().passed);
    }

    #[test]
    fn the_gauge_name_is_a_param() {
        let params = Params {
            gauge: "testCoverage".to_string(),
            ..Params::default()
        };
        assert!(
            EvalCoverage::evaluate(&context("testCoverage", 0.99), &params)
                .unwrap()
                .passed
        );
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(EvalCoverage::validate(&Params::default()).is_ok());
        let err = EvalCoverage::validate(&Params {
            min: 90.0,
            ..Params::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            "`min` is a coverage share and must be between 0 and 1, got 90"
        );
        let empty = Params {
            gauge: String::new(),
            ..Params::default()
        };
        assert_eq!(
            EvalCoverage::validate(&empty).unwrap_err(),
            "`gauge` must name a gauge"
        );
    }
}
