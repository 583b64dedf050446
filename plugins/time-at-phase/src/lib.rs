//! Checklist item: the program has held its current phase long enough.

use regent_sdk::checklist::*;

/// Passes when the days at the current phase reach the phase's minimum
/// stabilization: 180 days at L3 ("6+ months"), then the current phase's
/// validation period. The host supplies that minimum in the context.
pub struct TimeAtPhase;

impl ChecklistItem for TimeAtPhase {
    type Params = NoParams;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "days at the current phase >= its minimum stabilization";
    const ITEM: ItemSpec = ItemSpec::new(
        "time-at-phase",
        "Time at current phase",
        Category::Technical,
        "command performance",
        5,
        true,
    );

    fn scope(_: &NoParams) -> ContextScope {
        ContextScope::scalars()
    }

    fn evaluate(ctx: &ReadinessContext, _: &NoParams) -> Result<ItemVerdict, String> {
        let (held, needed) = (ctx.phase.days_at_phase, ctx.phase.min_stabilization_days);
        let detail = format!("{held} of {needed} days at the current phase");
        Ok(if held >= needed {
            pass(detail, Some(held.into()))
        } else {
            fail(detail, Some(held.into()))
        })
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(TimeAtPhase);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_only_once_the_minimum_is_held() {
        let mut ctx = empty_context(0);
        ctx.phase.days_at_phase = 179;
        let verdict = TimeAtPhase::evaluate(&ctx, &NoParams {}).unwrap();
        assert!(!verdict.passed);
        assert_eq!(verdict.detail, "179 of 180 days at the current phase");
        ctx.phase.days_at_phase = 180;
        assert!(TimeAtPhase::evaluate(&ctx, &NoParams {}).unwrap().passed);
    }
}
