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
    const PANIC_MESSAGES: bool = false;
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
        check_rate("min", params.min)
    }

    fn scope(_: &Params) -> ContextScope {
        ContextScope::scalars()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let s = &ctx.metrics.by_status;
        let executed = s.succeeded + s.failed + s.rolled_back;
        let bar = Bound::Above(params.min);
        Ok(bar.verdict(
            ctx.metrics.success_rate,
            "no commands were executed in the window, so there is no success rate",
            |rate| {
                let rate = percent(rate);
                format!("success rate {rate} over {executed} executed commands (needs {bar})")
            },
        ))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(SuccessRate);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn context(succeeded: u64, failed: u64, rolled_back: u64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        let s = &mut ctx.metrics.by_status;
        (s.succeeded, s.failed, s.rolled_back) = (succeeded, failed, rolled_back);
        let executed = succeeded + failed + rolled_back;
        ctx.metrics.success_rate = Some(succeeded as f64 / executed as f64);
        ctx
    }

    #[test]
    fn passes_strictly_above_99_5_percent_of_executed_commands() {
        let verdict = SuccessRate::evaluate(&context(999, 0, 1), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            pass(
                "success rate 99.90% over 1000 executed commands (needs > 99.50%)",
                Some(0.999)
            )
        );
        // 995 of 1000 is exactly 99.5%: the bar is "greater than".
        let at = SuccessRate::evaluate(&context(995, 5, 0), &Params::default()).unwrap();
        assert!(!at.passed);
    }

    #[test]
    fn no_executed_commands_fails() {
        let verdict = SuccessRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            fail(
                "no commands were executed in the window, so there is no success rate",
                None
            )
        );
    }

    #[test]
    fn item_and_params() {
        let item = SuccessRate::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("success-rate", Category::Technical, 5, true)
        );
        let lenient = Params { min: 0.98 };
        assert!(
            SuccessRate::evaluate(&context(99, 1, 0), &lenient)
                .unwrap()
                .passed
        );
        assert!(SuccessRate::validate(&Params::default()).is_ok());
        assert!(SuccessRate::validate(&Params { min: 99.5 }).is_err());
    }
}
