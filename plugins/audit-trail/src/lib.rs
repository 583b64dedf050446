//! Checklist item: the audit trail is implemented, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `audit_trail` is on record.
/// Expired and future-dated attestations do not count.
pub struct AuditTrail;

// By default an attestation `audit_trail` made in any role counts.
impl AttestationDefaults for AuditTrail {
    const KEY: &'static str = "audit_trail";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<AuditTrail>;

impl ChecklistItem for AuditTrail {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `audit_trail` is on record";
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
    fn looks_for_a_current_audit_trail_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = AuditTrail::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `audit_trail`");
        ctx.attestations
            .push(attestation("audit_trail", "ana", "any_role", NOW));
        assert!(
            AuditTrail::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = AuditTrail::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("audit-trail", Category::Process, 2, false)
        );
        assert!(AuditTrail::validate(&Params::default()).is_ok());
        assert!(AuditTrail::validate(&Params::new(" ", None)).is_err());
    }
}
