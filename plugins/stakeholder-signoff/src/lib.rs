//! Checklist item: the stakeholders have signed off, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `stakeholder_signoff` is on record.
/// Expired and future-dated attestations do not count.
pub struct StakeholderSignoff;

// By default an attestation `stakeholder_signoff` made in any role counts.
impl AttestationDefaults for StakeholderSignoff {
    const KEY: &'static str = "stakeholder_signoff";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<StakeholderSignoff>;

impl ChecklistItem for StakeholderSignoff {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `stakeholder_signoff` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "stakeholder-signoff",
        "Stakeholder sign-off",
        Category::Process,
        "approval workflow",
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
regent_sdk::checklist_item!(StakeholderSignoff);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_stakeholder_signoff_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = StakeholderSignoff::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `stakeholder_signoff`");
        ctx.attestations
            .push(attestation("stakeholder_signoff", "ana", "any_role", NOW));
        assert!(
            StakeholderSignoff::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = StakeholderSignoff::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("stakeholder-signoff", Category::Process, 4, true)
        );
        assert!(StakeholderSignoff::validate(&Params::default()).is_ok());
        assert!(StakeholderSignoff::validate(&Params::new(" ", None)).is_err());
    }
}
