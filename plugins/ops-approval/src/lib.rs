//! Checklist item: operations has approved the expansion, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `ops_approval`
/// made in the role `ops_lead` is on record.
/// Expired and future-dated attestations do not count.
pub struct OpsApproval;

/// Which attestation the item looks for.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key (default `ops_approval`).
    pub key: String,
    /// Only attestations made in this role count (default `ops_lead`);
    /// `None` accepts any role.
    pub role: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            key: "ops_approval".to_string(),
            role: Some("ops_lead".to_string()),
        }
    }
}

impl ChecklistItem for OpsApproval {
    type Params = Params;
    const SUMMARY: &'static str =
        "a current attestation `ops_approval` made in the role `ops_lead` is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "ops-approval",
        "Ops approval",
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

regent_sdk::checklist_item!(OpsApproval);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        OpsApproval::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn fails_without_an_attestation() {
        let verdict = evaluate(&empty_context(NOW));
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "no attestation `ops_approval` by a ops_lead"
        );
    }

    #[test]
    fn passes_with_a_current_attestation() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("ops_approval", "ana", "ops_lead", NOW - DAY_MS));
        ctx.attestations[0].expires_at = Some(NOW + DAY_MS);
        let verdict = evaluate(&ctx);
        assert!(verdict.passed, "{}", verdict.detail);
        assert_eq!(verdict.detail, "`ops_approval` attested by ana (ops_lead)");
    }

    #[test]
    fn an_expired_attestation_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "ops_approval",
            "ana",
            "ops_lead",
            NOW - 30 * DAY_MS,
        ));
        // Expiry is exclusive: at the instant it expires it no longer counts.
        ctx.attestations[0].expires_at = Some(NOW);
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert_eq!(verdict.detail, "the attestation `ops_approval` has expired");
    }

    #[test]
    fn other_keys_do_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "something_else",
            "ana",
            "ops_lead",
            NOW - DAY_MS,
        ));
        assert!(!evaluate(&ctx).passed);
    }

    #[test]
    fn only_the_ops_lead_role_counts_by_default() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("ops_approval", "bo", "tech_lead", NOW - DAY_MS));
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "`ops_approval` is attested, but not by a ops_lead"
        );

        let any_role = Params {
            role: None,
            ..Params::default()
        };
        assert!(OpsApproval::evaluate(&ctx, &any_role).unwrap().passed);
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(OpsApproval::validate(&Params::default()).is_ok());
        let key = parse_params::<Params>(r#"{"key": " "}"#).unwrap();
        assert_eq!(
            OpsApproval::validate(&key).unwrap_err(),
            "`key` must name an attestation"
        );
        let role = parse_params::<Params>(r#"{"role": ""}"#).unwrap();
        assert!(OpsApproval::validate(&role)
            .unwrap_err()
            .starts_with("`role` must not be empty"));
        assert!(parse_params::<Params>(r#"{"keys": "x"}"#)
            .unwrap_err()
            .contains("unknown field"));
    }
}
