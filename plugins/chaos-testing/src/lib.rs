//! Checklist item: chaos testing has been completed, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `chaos_testing` is on record.
/// Expired and future-dated attestations do not count.
pub struct ChaosTesting;

// By default an attestation `chaos_testing` made in any role counts.
impl AttestationDefaults for ChaosTesting {
    const KEY: &'static str = "chaos_testing";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<ChaosTesting>;

impl ChecklistItem for ChaosTesting {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `chaos_testing` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "chaos-testing",
        "Chaos testing completed",
        Category::Technical,
        "infrastructure",
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
regent_sdk::checklist_item!(ChaosTesting);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_chaos_testing_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = ChaosTesting::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `chaos_testing`");
        ctx.attestations
            .push(attestation("chaos_testing", "ana", "any_role", NOW));
        assert!(
            ChaosTesting::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = ChaosTesting::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("chaos-testing", Category::Technical, 2, false)
        );
        assert!(ChaosTesting::validate(&Params::default()).is_ok());
        assert!(ChaosTesting::validate(&Params::new(" ", None)).is_err());
    }
}
