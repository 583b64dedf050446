//! Checklist item: the on-call rotation is trained, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `oncall_trained` is on record.
/// Expired and future-dated attestations do not count.
pub struct OncallTrained;

// By default an attestation `oncall_trained` made in any role counts.
impl AttestationDefaults for OncallTrained {
    const KEY: &'static str = "oncall_trained";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<OncallTrained>;

impl ChecklistItem for OncallTrained {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `oncall_trained` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "oncall-trained",
        "On-call rotation trained",
        Category::Organizational,
        "team readiness",
        6,
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
regent_sdk::checklist_item!(OncallTrained);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_oncall_trained_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = OncallTrained::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `oncall_trained`");
        ctx.attestations
            .push(attestation("oncall_trained", "ana", "any_role", NOW));
        assert!(
            OncallTrained::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = OncallTrained::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("oncall-trained", Category::Organizational, 6, true)
        );
        assert!(OncallTrained::validate(&Params::default()).is_ok());
        assert!(OncallTrained::validate(&Params::new(" ", None)).is_err());
    }
}
