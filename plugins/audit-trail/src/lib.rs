//! Checklist item: the audit trail is implemented, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `audit_trail` is on record.
/// Expired and future-dated attestations do not count.
pub struct AuditTrail;

/// Which attestation the item looks for.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key (default `audit_trail`).
    pub key: String,
    /// When set, only attestations made in this role count (default:
    /// any role).
    pub role: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            key: "audit_trail".to_string(),
            role: None,
        }
    }
}

impl ChecklistItem for AuditTrail {
    type Params = Params;
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

regent_sdk::checklist_item!(AuditTrail);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        AuditTrail::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn fails_without_an_attestation() {
        let verdict = evaluate(&empty_context(NOW));
        assert!(!verdict.passed);
        assert_eq!(verdict.detail, "no attestation `audit_trail`");
    }

    #[test]
    fn passes_with_a_current_attestation() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("audit_trail", "ana", "tech_lead", NOW - DAY_MS));
        ctx.attestations[0].expires_at = Some(NOW + DAY_MS);
        let verdict = evaluate(&ctx);
        assert!(verdict.passed, "{}", verdict.detail);
        assert_eq!(verdict.detail, "`audit_trail` attested by ana (tech_lead)");
    }

    #[test]
    fn an_expired_attestation_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "audit_trail",
            "ana",
            "tech_lead",
            NOW - 30 * DAY_MS,
        ));
        // Expiry is exclusive: at the instant it expires it no longer counts.
        ctx.attestations[0].expires_at = Some(NOW);
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert_eq!(verdict.detail, "the attestation `audit_trail` has expired");
    }

    #[test]
    fn other_keys_do_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "something_else",
            "ana",
            "tech_lead",
            NOW - DAY_MS,
        ));
        assert!(!evaluate(&ctx).passed);
    }

    #[test]
    fn a_role_can_be_required_by_params() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("audit_trail", "ana", "tech_lead", NOW - DAY_MS));
        let params = Params {
            role: Some("ops_lead".to_string()),
            ..Params::default()
        };
        assert!(!AuditTrail::evaluate(&ctx, &params).unwrap().passed);
        ctx.attestations
            .push(attestation("audit_trail", "bo", "ops_lead", NOW - DAY_MS));
        assert!(AuditTrail::evaluate(&ctx, &params).unwrap().passed);
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(AuditTrail::validate(&Params::default()).is_ok());
        let key = parse_params::<Params>(r#"{"key": " "}"#).unwrap();
        assert_eq!(
            AuditTrail::validate(&key).unwrap_err(),
            "`key` must name an attestation"
        );
        let role = parse_params::<Params>(r#"{"role": ""}"#).unwrap();
        assert!(AuditTrail::validate(&role)
            .unwrap_err()
            .starts_with("`role` must not be empty"));
        assert!(parse_params::<Params>(r#"{"keys": "x"}"#)
            .unwrap_err()
            .contains("unknown field"));
    }
}
