//! Checklist item: the rollback plan is documented, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `rollback_plan` is on record.
/// Expired and future-dated attestations do not count.
pub struct RollbackPlan;

// By default an attestation `rollback_plan` made in any role counts.
impl AttestationDefaults for RollbackPlan {
    const KEY: &'static str = "rollback_plan";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<RollbackPlan>;

impl ChecklistItem for RollbackPlan {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `rollback_plan` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "rollback-plan",
        "Rollback plan documented",
        Category::Process,
        "compliance",
        2,
        false,
    );

    fn validate(params: &Params) -> Result<(), String> {
        params.check()
    }

    fn scope(params: &Params) -> ContextScope {
        params.scope()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        Ok(params.verdict(ctx))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(RollbackPlan);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_rollback_plan_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = RollbackPlan::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `rollback_plan`");
        ctx.attestations
            .push(attestation("rollback_plan", "ana", "any_role", NOW));
        assert!(
            RollbackPlan::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = RollbackPlan::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("rollback-plan", Category::Process, 2, false)
        );
        assert!(RollbackPlan::validate(&Params::default()).is_ok());
        assert!(RollbackPlan::validate(&Params::new(" ", None)).is_err());
    }
}
