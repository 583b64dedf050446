//! Checklist item: operations has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `ops_approval` made by an ops_lead is on
/// record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct OpsApproval;

// Operational readiness: by default only an ops_lead's attestation counts.
impl AttestationDefaults for OpsApproval {
    const KEY: &'static str = "ops_approval";
    const ROLES: &'static [&'static str] = &["ops_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<OpsApproval>;

impl ChecklistItem for OpsApproval {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `ops_approval` by an ops_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "ops-approval",
        "Ops approval",
        Category::Organizational,
        "stakeholder buy-in",
        4,
        true,
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
regent_sdk::checklist_item!(OpsApproval);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_ops_approval_attestation_by_an_ops_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            OpsApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `ops_approval`; it needs an ops_lead"
        );
        for role in OpsApproval::ROLES {
            ctx.attestations = vec![attestation("ops_approval", "ana", role, NOW)];
            assert_eq!(
                OpsApproval::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`ops_approval` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("ops_approval", "bob", "tech_lead", NOW));
        assert_eq!(
            OpsApproval::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`ops_approval` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(OpsApproval::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations
            .push(attestation("ops_approval", "ana", "ops_lead", NOW - DAY_MS));
        assert_eq!(
            OpsApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`ops_approval` attested by ana (ops_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = OpsApproval::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("ops-approval", Category::Organizational, 4, true)
        );
        assert_eq!(Params::default().roles, ["ops_lead"]);
        assert!(OpsApproval::validate(&Params::default()).is_ok());
        assert!(OpsApproval::validate(&Params::new(" ", OpsApproval::ROLES)).is_err());
        assert_eq!(
            OpsApproval::validate(&Params::new("ops_approval", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `ops_approval`"
        );
        assert!(
            OpsApproval::validate(&Params::new("ops_approval", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("ops_approval", &["exec_sponsor"]));
    }
}
