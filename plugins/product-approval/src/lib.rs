//! Checklist item: product has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `product_approval`
/// made in the role `product_lead` is on record.
/// Expired and future-dated attestations do not count.
pub struct ProductApproval;

// By default only an attestation `product_approval` made in the role `product_lead` counts.
impl AttestationDefaults for ProductApproval {
    const KEY: &'static str = "product_approval";
    const ROLE: Option<&'static str> = Some("product_lead");
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<ProductApproval>;

impl ChecklistItem for ProductApproval {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `product_approval` made in the role `product_lead` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "product-approval",
        "Product approval",
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
regent_sdk::checklist_item!(ProductApproval);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_product_approval_attestation_by_a_product_lead() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("product_approval", "ana", "tech_lead", NOW));
        let verdict = ProductApproval::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(
            verdict.detail,
            "`product_approval` is attested, but not by a product_lead"
        );
        ctx.attestations
            .push(attestation("product_approval", "bo", "product_lead", NOW));
        assert!(
            ProductApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = ProductApproval::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("product-approval", Category::Organizational, 4, true)
        );
        assert!(ProductApproval::validate(&Params::default()).is_ok());
        assert!(ProductApproval::validate(&Params::new(" ", None)).is_err());
    }
}
