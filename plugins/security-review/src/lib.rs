//! Checklist item: a security review was done, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `security_review` is on record.
/// Expired and future-dated attestations do not count.
pub struct SecurityReview;

// By default an attestation `security_review` made in any role counts.
impl AttestationDefaults for SecurityReview {
    const KEY: &'static str = "security_review";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<SecurityReview>;

impl ChecklistItem for SecurityReview {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `security_review` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "security-review",
        "Security review",
        Category::Process,
        "compliance",
        3,
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
regent_sdk::checklist_item!(SecurityReview);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_security_review_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = SecurityReview::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `security_review`");
        ctx.attestations
            .push(attestation("security_review", "ana", "any_role", NOW));
        assert!(
            SecurityReview::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = SecurityReview::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("security-review", Category::Process, 3, false)
        );
        assert!(SecurityReview::validate(&Params::default()).is_ok());
        assert!(SecurityReview::validate(&Params::new(" ", None)).is_err());
    }
}
