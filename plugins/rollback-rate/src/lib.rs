//! Checklist item: commands rarely have to be rolled back.

use regent_sdk::checklist::*;

/// Passes when the rollback rate over the assessment window (rolled back /
/// executed) is strictly below `max`. A window in which no command was
/// executed has no rate and fails: a clean record needs a record.
pub struct RollbackRate;

/// The ceiling the rollback rate must stay under.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The rate must be strictly below this, between 0 and 1 (default 0.02).
    pub max: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { max: 0.02 }
    }
}

impl ChecklistItem for RollbackRate {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "rollback rate over the window < max (2%)";
    const ITEM: ItemSpec = ItemSpec::new(
        "rollback-rate",
        "Rollback rate < 2%",
        Category::Technical,
        "command performance",
        2,
        false,
    );

    fn validate(params: &Params) -> Result<(), String> {
        check_rate("max", params.max)
    }

    fn scope(_: &Params) -> ContextScope {
        ContextScope::scalars()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let rolled_back = ctx.metrics.by_status.rolled_back;
        let bar = Bound::Below(params.max);
        Ok(bar.verdict(
            ctx.metrics.rollback_rate,
            "no commands were executed in the window, so there is no rollback rate",
            |rate| {
                format!(
                    "rollback rate {} ({rolled_back} rolled back; needs {bar})",
                    percent(rate)
                )
            },
        ))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(RollbackRate);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn context(executed: u64, rolled_back: u64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.metrics.by_status.succeeded = executed - rolled_back;
        ctx.metrics.by_status.rolled_back = rolled_back;
        ctx.metrics.rollback_rate = Some(rolled_back as f64 / executed as f64);
        ctx
    }

    #[test]
    fn passes_strictly_below_2_percent() {
        let verdict = RollbackRate::evaluate(&context(100, 1), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            pass(
                "rollback rate 1.00% (1 rolled back; needs < 2.00%)",
                Some(0.01)
            )
        );
        // 2 of 100 is exactly 2%: the bar is "less than".
        let at = RollbackRate::evaluate(&context(100, 2), &Params::default()).unwrap();
        assert!(!at.passed);
    }

    #[test]
    fn no_executed_commands_fails() {
        let verdict = RollbackRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            fail(
                "no commands were executed in the window, so there is no rollback rate",
                None
            )
        );
    }

    #[test]
    fn item_and_params() {
        let item = RollbackRate::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("rollback-rate", Category::Technical, 2, false)
        );
        let lenient = Params { max: 0.2 };
        assert!(
            RollbackRate::evaluate(&context(10, 1), &lenient)
                .unwrap()
                .passed
        );
        assert!(RollbackRate::validate(&Params::default()).is_ok());
        assert!(RollbackRate::validate(&Params { max: 2.0 }).is_err());
    }
}
