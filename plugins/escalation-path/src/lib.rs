//! Checklist item: a clear escalation path is defined, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `escalation_path` is on record.
/// Expired and future-dated attestations do not count.
pub struct EscalationPath;

// By default an attestation `escalation_path` made in any role counts.
impl AttestationDefaults for EscalationPath {
    const KEY: &'static str = "escalation_path";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<EscalationPath>;

impl ChecklistItem for EscalationPath {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `escalation_path` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "escalation-path",
        "Clear escalation path",
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
regent_sdk::checklist_item!(EscalationPath);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_escalation_path_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = EscalationPath::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `escalation_path`");
        ctx.attestations
            .push(attestation("escalation_path", "ana", "any_role", NOW));
        assert!(
            EscalationPath::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = EscalationPath::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("escalation-path", Category::Process, 4, true)
        );
        assert!(EscalationPath::validate(&Params::default()).is_ok());
        assert!(EscalationPath::validate(&Params::new(" ", None)).is_err());
    }
}
