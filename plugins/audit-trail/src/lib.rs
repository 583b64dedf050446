//! Checklist item: the audit trail is implemented, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `audit_trail` made by a tech_lead is on
/// record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct AuditTrail;

// Engineering evidence: by default only a tech_lead's attestation counts.
impl AttestationDefaults for AuditTrail {
    const KEY: &'static str = "audit_trail";
    const ROLES: &'static [&'static str] = &["tech_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<AuditTrail>;

impl ChecklistItem for AuditTrail {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `audit_trail` by a tech_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "audit-trail",
        "Audit trail implementation",
        Category::Process,
        "compliance",
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
regent_sdk::checklist_item!(AuditTrail);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_audit_trail_attestation_by_a_tech_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            AuditTrail::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `audit_trail`; it needs a tech_lead"
        );
        for role in AuditTrail::ROLES {
            ctx.attestations = vec![attestation("audit_trail", "ana", role, NOW)];
            assert_eq!(
                AuditTrail::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`audit_trail` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("audit_trail", "bob", "ops_lead", NOW));
        assert_eq!(
            AuditTrail::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`audit_trail` is attested by bob (ops_lead), which does not count: \
                 it needs a tech_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["tech_lead", "ops_lead"]}"#).unwrap();
        assert!(AuditTrail::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations
            .push(attestation("audit_trail", "ana", "tech_lead", NOW - DAY_MS));
        assert_eq!(
            AuditTrail::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`audit_trail` attested by ana (tech_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = AuditTrail::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("audit-trail", Category::Process, 2, false)
        );
        assert_eq!(Params::default().roles, ["tech_lead"]);
        assert!(AuditTrail::validate(&Params::default()).is_ok());
        assert!(AuditTrail::validate(&Params::new(" ", AuditTrail::ROLES)).is_err());
        assert_eq!(
            AuditTrail::validate(&Params::new("audit_trail", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `audit_trail`"
        );
        assert!(
            AuditTrail::validate(&Params::new("audit_trail", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("audit_trail", &["exec_sponsor"]));
    }
}
