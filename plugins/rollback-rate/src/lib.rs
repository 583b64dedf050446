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
        if !(0.0..=1.0).contains(&params.max) {
            return Err(format!(
                "`max` is a rate and must be between 0 and 1, got {}",
                params.max
            ));
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let Some(rate) = ctx.metrics.rollback_rate else {
            return Ok(fail(
                "no commands were executed in the window, so there is no rollback rate",
                None,
            ));
        };
        let detail = format!(
            "rollback rate {:.2}% ({} rolled back; needs < {:.2}%)",
            rate * 100.0,
            ctx.metrics.by_status.rolled_back,
            params.max * 100.0
        );
        Ok(if rate < params.max {
            pass(detail, Some(rate))
        } else {
            fail(detail, Some(rate))
        })
    }
}

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
    fn passes_below_the_maximum() {
        let verdict = RollbackRate::evaluate(&context(100, 1), &Params::default()).unwrap();
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.01));
        assert_eq!(
            verdict.detail,
            "rollback rate 1.00% (1 rolled back; needs < 2.00%)"
        );
        assert!(
            RollbackRate::evaluate(&context(100, 0), &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn fails_at_or_above_the_maximum() {
        // 2 of 100 is exactly 2%: the bar is "less than".
        assert!(
            !RollbackRate::evaluate(&context(100, 2), &Params::default())
                .unwrap()
                .passed
        );
        let above = RollbackRate::evaluate(&context(10, 1), &Params::default()).unwrap();
        assert!(!above.passed);
        assert_eq!(above.observed, Some(0.1));
    }

    #[test]
    fn no_data_fails() {
        let verdict = RollbackRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert!(verdict
            .detail
            .starts_with("no commands were executed in the window"));
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(RollbackRate::validate(&Params::default()).is_ok());
        let err = RollbackRate::validate(&Params { max: 2.0 }).unwrap_err();
        assert_eq!(err, "`max` is a rate and must be between 0 and 1, got 2");
        assert!(RollbackRate::validate(&Params { max: -0.01 }).is_err());
    }
}
