//! Checklist item: the architecture docs are up to date, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `architecture_docs` is on record.
/// Expired and future-dated attestations do not count.
pub struct ArchitectureDocs;

// By default an attestation `architecture_docs` made in any role counts.
impl AttestationDefaults for ArchitectureDocs {
    const KEY: &'static str = "architecture_docs";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<ArchitectureDocs>;

impl ChecklistItem for ArchitectureDocs {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `architecture_docs` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "architecture-docs",
        "Architecture docs updated",
        Category::Process,
        "documentation",
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
regent_sdk::checklist_item!(ArchitectureDocs);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_architecture_docs_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = ArchitectureDocs::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `architecture_docs`");
        ctx.attestations
            .push(attestation("architecture_docs", "ana", "any_role", NOW));
        assert!(
            ArchitectureDocs::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = ArchitectureDocs::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("architecture-docs", Category::Process, 2, false)
        );
        assert!(ArchitectureDocs::validate(&Params::default()).is_ok());
        assert!(ArchitectureDocs::validate(&Params::new(" ", None)).is_err());
    }
}
