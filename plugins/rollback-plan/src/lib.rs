//! Checklist item: the rollback plan is documented, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `rollback_plan` made by a tech_lead is on
/// record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct RollbackPlan;

// Engineering evidence: by default only a tech_lead's attestation counts.
impl AttestationDefaults for RollbackPlan {
    const KEY: &'static str = "rollback_plan";
    const ROLES: &'static [&'static str] = &["tech_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<RollbackPlan>;

impl ChecklistItem for RollbackPlan {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `rollback_plan` by a tech_lead is on record";
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
    fn looks_for_a_current_rollback_plan_attestation_by_a_tech_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            RollbackPlan::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `rollback_plan`; it needs a tech_lead"
        );
        for role in RollbackPlan::ROLES {
            ctx.attestations = vec![attestation("rollback_plan", "ana", role, NOW)];
            assert_eq!(
                RollbackPlan::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`rollback_plan` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("rollback_plan", "bob", "ops_lead", NOW));
        assert_eq!(
            RollbackPlan::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`rollback_plan` is attested by bob (ops_lead), which does not count: \
                 it needs a tech_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["tech_lead", "ops_lead"]}"#).unwrap();
        assert!(RollbackPlan::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "rollback_plan",
            "ana",
            "tech_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            RollbackPlan::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`rollback_plan` attested by ana (tech_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = RollbackPlan::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("rollback-plan", Category::Process, 2, false)
        );
        assert_eq!(Params::default().roles, ["tech_lead"]);
        assert!(RollbackPlan::validate(&Params::default()).is_ok());
        assert!(RollbackPlan::validate(&Params::new(" ", RollbackPlan::ROLES)).is_err());
        assert_eq!(
            RollbackPlan::validate(&Params::new("rollback_plan", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `rollback_plan`"
        );
        assert!(
            RollbackPlan::validate(&Params::new("rollback_plan", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("rollback_plan", &["exec_sponsor"]));
    }
}
