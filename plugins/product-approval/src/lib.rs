//! Checklist item: product has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `product_approval`
/// made in the role `product_lead` is on record.
/// Expired and future-dated attestations do not count.
pub struct ProductApproval;

/// Which attestation the item looks for.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key (default `product_approval`).
    pub key: String,
    /// Only attestations made in this role count (default `product_lead`);
    /// `None` accepts any role.
    pub role: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            key: "product_approval".to_string(),
            role: Some("product_lead".to_string()),
        }
    }
}

impl ChecklistItem for ProductApproval {
    type Params = Params;
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
        // An empty key or role can never match an attestation, so the item
        // would fail forever; reject it when the rule is saved instead.
        if params.key.trim().is_empty() {
            return Err("`key` must name an attestation".to_string());
        }
        if params.role.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err("`role` must not be empty; omit it to accept any role".to_string());
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        Ok(attested_item(ctx, &params.key, params.role.as_deref()))
    }
}

regent_sdk::checklist_item!(ProductApproval);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        ProductApproval::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn fails_without_an_attestation() {
        let verdict = evaluate(&empty_context(NOW));
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "no attestation `product_approval` by a product_lead"
        );
    }

    #[test]
    fn passes_with_a_current_attestation() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "product_approval",
            "ana",
            "product_lead",
            NOW - DAY_MS,
        ));
        ctx.attestations[0].expires_at = Some(NOW + DAY_MS);
        let verdict = evaluate(&ctx);
        assert!(verdict.passed, "{}", verdict.detail);
        assert_eq!(
            verdict.detail,
            "`product_approval` attested by ana (product_lead)"
        );
    }

    #[test]
    fn an_expired_attestation_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "product_approval",
            "ana",
            "product_lead",
            NOW - 30 * DAY_MS,
        ));
        // Expiry is exclusive: at the instant it expires it no longer counts.
        ctx.attestations[0].expires_at = Some(NOW);
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "the attestation `product_approval` has expired"
        );
    }

    #[test]
    fn other_keys_do_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "something_else",
            "ana",
            "product_lead",
            NOW - DAY_MS,
        ));
        assert!(!evaluate(&ctx).passed);
    }

    #[test]
    fn only_the_product_lead_role_counts_by_default() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "product_approval",
            "bo",
            "tech_lead",
            NOW - DAY_MS,
        ));
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "`product_approval` is attested, but not by a product_lead"
        );

        let any_role = Params {
            role: None,
            ..Params::default()
        };
        assert!(ProductApproval::evaluate(&ctx, &any_role).unwrap().passed);
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(ProductApproval::validate(&Params::default()).is_ok());
        let key = parse_params::<Params>(r#"{"key": " "}"#).unwrap();
        assert_eq!(
            ProductApproval::validate(&key).unwrap_err(),
            "`key` must name an attestation"
        );
        let role = parse_params::<Params>(r#"{"role": ""}"#).unwrap();
        assert!(ProductApproval::validate(&role)
            .unwrap_err()
            .starts_with("`role` must not be empty"));
        assert!(parse_params::<Params>(r#"{"keys": "x"}"#)
            .unwrap_err()
            .contains("unknown field"));
    }
}
