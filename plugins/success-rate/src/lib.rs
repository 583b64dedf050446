//! Checklist item: commands succeed often enough to trust more autonomy.

use regent_sdk::checklist::*;

/// Passes when the success rate over the assessment window (succeeded /
/// executed) is strictly above `min`. A window in which no command was
/// executed has no rate and fails: no evidence is not good evidence.
pub struct SuccessRate;

/// The bar the success rate must clear.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The rate must be strictly above this, between 0 and 1 (default 0.995).
    pub min: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { min: 0.995 }
    }
}

impl ChecklistItem for SuccessRate {
    type Params = Params;
    const SUMMARY: &'static str = "success rate over the window > min (99.5%)";
    const ITEM: ItemSpec = ItemSpec::new(
        "success-rate",
        "Success rate > 99.5%",
        Category::Technical,
        "command performance",
        5,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        if !(0.0..=1.0).contains(&params.min) {
            return Err(format!(
                "`min` is a rate and must be between 0 and 1, got {}",
                params.min
            ));
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let Some(rate) = ctx.metrics.success_rate else {
            return Ok(fail(
                "no commands were executed in the window, so there is no success rate",
                None,
            ));
        };
        let s = &ctx.metrics.by_status;
        let executed = s.succeeded + s.failed + s.rolled_back;
        let detail = format!(
            "success rate {:.2}% over {executed} executed commands (needs > {:.2}%)",
            rate * 100.0,
            params.min * 100.0
        );
        Ok(if rate > params.min {
            pass(detail, Some(rate))
        } else {
            fail(detail, Some(rate))
        })
    }
}

regent_sdk::checklist_item!(SuccessRate);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn context(succeeded: u64, failed: u64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.metrics.by_status.succeeded = succeeded;
        ctx.metrics.by_status.failed = failed;
        ctx.metrics.commands_total = succeeded + failed;
        ctx.metrics.success_rate = Some(succeeded as f64 / (succeeded + failed) as f64);
        ctx
    }

    #[test]
    fn passes_above_the_minimum() {
        let verdict = SuccessRate::evaluate(&context(999, 1), &Params::default()).unwrap();
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.999));
        assert_eq!(
            verdict.detail,
            "success rate 99.90% over 1000 executed commands (needs > 99.50%)"
        );
    }

    #[test]
    fn fails_below_and_exactly_at_the_minimum() {
        let below = SuccessRate::evaluate(&context(99, 1), &Params::default()).unwrap();
        assert!(!below.passed);
        assert_eq!(below.observed, Some(0.99));
        // 995 of 1000 is exactly 99.5%: the bar is "greater than".
        let at = SuccessRate::evaluate(&context(995, 5), &Params::default()).unwrap();
        assert!(!at.passed);
        let just_above = SuccessRate::evaluate(&context(9951, 49), &Params::default()).unwrap();
        assert!(just_above.passed);
    }

    #[test]
    fn no_executed_commands_fails_without_an_observation() {
        let verdict = SuccessRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert!(verdict
            .detail
            .starts_with("no commands were executed in the window"));
    }

    #[test]
    fn the_minimum_is_a_param() {
        let lenient = Params { min: 0.98 };
        assert!(
            SuccessRate::evaluate(&context(99, 1), &lenient)
                .unwrap()
                .passed
        );
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(SuccessRate::validate(&Params::default()).is_ok());
        assert!(SuccessRate::validate(&Params { min: 0.0 }).is_ok());
        assert!(SuccessRate::validate(&Params { min: 1.0 }).is_ok());
        let err = SuccessRate::validate(&Params { min: 99.5 }).unwrap_err();
        assert_eq!(err, "`min` is a rate and must be between 0 and 1, got 99.5");
        assert!(SuccessRate::validate(&Params { min: -0.1 }).is_err());
        assert!(SuccessRate::validate(&Params { min: f64::NAN }).is_err());
    }
}
