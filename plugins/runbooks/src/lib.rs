//! Checklist item: the runbooks are complete, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `runbooks` is on record.
/// Expired and future-dated attestations do not count.
pub struct Runbooks;

// By default an attestation `runbooks` made in any role counts.
impl AttestationDefaults for Runbooks {
    const KEY: &'static str = "runbooks";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<Runbooks>;

impl ChecklistItem for Runbooks {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `runbooks` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "runbooks",
        "Runbooks complete",
        Category::Process,
        "documentation",
        5,
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
regent_sdk::checklist_item!(Runbooks);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_runbooks_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = Runbooks::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `runbooks`");
        ctx.attestations
            .push(attestation("runbooks", "ana", "any_role", NOW));
        assert!(Runbooks::evaluate(&ctx, &Params::default()).unwrap().passed);
    }

    #[test]
    fn item_and_params() {
        let item = Runbooks::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("runbooks", Category::Process, 5, true)
        );
        assert!(Runbooks::validate(&Params::default()).is_ok());
        assert!(Runbooks::validate(&Params::new(" ", None)).is_err());
    }
}
