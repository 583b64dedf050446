//! Checklist item: product has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `product_approval` made by a product_lead
/// is on record. An attestation in another role does not count, nor an expired
/// or future-dated one.
pub struct ProductApproval;

// Product sign-off: by default only a product_lead's attestation counts.
impl AttestationDefaults for ProductApproval {
    const KEY: &'static str = "product_approval";
    const ROLES: &'static [&'static str] = &["product_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<ProductApproval>;

impl ChecklistItem for ProductApproval {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `product_approval` by a product_lead is on record";
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
        assert_eq!(
            ProductApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `product_approval`; it needs a product_lead"
        );
        for role in ProductApproval::ROLES {
            ctx.attestations = vec![attestation("product_approval", "ana", role, NOW)];
            assert_eq!(
                ProductApproval::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`product_approval` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("product_approval", "bob", "tech_lead", NOW));
        assert_eq!(
            ProductApproval::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`product_approval` is attested by bob (tech_lead), which does not count: \
                 it needs a product_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["product_lead", "tech_lead"]}"#).unwrap();
        assert!(ProductApproval::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "product_approval",
            "ana",
            "product_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            ProductApproval::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`product_approval` attested by ana (product_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = ProductApproval::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("product-approval", Category::Organizational, 4, true)
        );
        assert_eq!(Params::default().roles, ["product_lead"]);
        assert!(ProductApproval::validate(&Params::default()).is_ok());
        assert!(ProductApproval::validate(&Params::new(" ", ProductApproval::ROLES)).is_err());
        assert_eq!(
            ProductApproval::validate(&Params::new("product_approval", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `product_approval`"
        );
        assert!(
            ProductApproval::validate(&Params::new("product_approval", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("product_approval", &["exec_sponsor"]));
    }
}
