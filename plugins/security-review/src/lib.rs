//! Checklist item: a security review was done, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `security_review` made by a tech_lead is
/// on record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct SecurityReview;

// Engineering evidence: by default only a tech_lead's attestation counts.
impl AttestationDefaults for SecurityReview {
    const KEY: &'static str = "security_review";
    const ROLES: &'static [&'static str] = &["tech_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<SecurityReview>;

impl ChecklistItem for SecurityReview {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `security_review` by a tech_lead is on record";
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
    fn looks_for_a_current_security_review_attestation_by_a_tech_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            SecurityReview::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `security_review`; it needs a tech_lead"
        );
        for role in SecurityReview::ROLES {
            ctx.attestations = vec![attestation("security_review", "ana", role, NOW)];
            assert_eq!(
                SecurityReview::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`security_review` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("security_review", "bob", "ops_lead", NOW));
        assert_eq!(
            SecurityReview::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`security_review` is attested by bob (ops_lead), which does not count: \
                 it needs a tech_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["tech_lead", "ops_lead"]}"#).unwrap();
        assert!(SecurityReview::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "security_review",
            "ana",
            "tech_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            SecurityReview::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`security_review` attested by ana (tech_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = SecurityReview::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("security-review", Category::Process, 3, false)
        );
        assert_eq!(Params::default().roles, ["tech_lead"]);
        assert!(SecurityReview::validate(&Params::default()).is_ok());
        assert!(SecurityReview::validate(&Params::new(" ", SecurityReview::ROLES)).is_err());
        assert_eq!(
            SecurityReview::validate(&Params::new("security_review", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `security_review`"
        );
        assert!(
            SecurityReview::validate(&Params::new("security_review", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("security_review", &["exec_sponsor"]));
    }
}
