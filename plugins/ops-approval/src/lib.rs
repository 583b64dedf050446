//! Checklist item: operations has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `ops_approval`
/// made in the role `ops_lead` is on record.
/// Expired and future-dated attestations do not count.
pub struct OpsApproval;

// By default only an attestation `ops_approval` made in the role `ops_lead` counts.
impl AttestationDefaults for OpsApproval {
    const KEY: &'static str = "ops_approval";
    const ROLE: Option<&'static str> = Some("ops_lead");
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<OpsApproval>;

impl ChecklistItem for OpsApproval {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `ops_approval` made in the role `ops_lead` is on record";
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
    fn looks_for_a_current_ops_approval_attestation_by_a_ops_lead() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("ops_approval", "ana", "tech_lead", NOW));
        let verdict = OpsApproval::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(
            verdict.detail,
            "`ops_approval` is attested, but not by a ops_lead"
        );
        ctx.attestations
            .push(attestation("ops_approval", "bo", "ops_lead", NOW));
        assert!(
            OpsApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = OpsApproval::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("ops-approval", Category::Organizational, 4, true)
        );
        assert!(OpsApproval::validate(&Params::default()).is_ok());
        assert!(OpsApproval::validate(&Params::new(" ", None)).is_err());
    }
}
