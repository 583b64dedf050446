//! Checklist item: a clear escalation path is defined, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `escalation_path` made by an ops_lead is
/// on record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct EscalationPath;

// Operational readiness: by default only an ops_lead's attestation counts.
impl AttestationDefaults for EscalationPath {
    const KEY: &'static str = "escalation_path";
    const ROLES: &'static [&'static str] = &["ops_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<EscalationPath>;

impl ChecklistItem for EscalationPath {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `escalation_path` by an ops_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "escalation-path",
        "Clear escalation path",
        Category::Process,
        "approval workflow",
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
regent_sdk::checklist_item!(EscalationPath);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_escalation_path_attestation_by_an_ops_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            EscalationPath::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `escalation_path`; it needs an ops_lead"
        );
        for role in EscalationPath::ROLES {
            ctx.attestations = vec![attestation("escalation_path", "ana", role, NOW)];
            assert_eq!(
                EscalationPath::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`escalation_path` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("escalation_path", "bob", "tech_lead", NOW));
        assert_eq!(
            EscalationPath::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`escalation_path` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(EscalationPath::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "escalation_path",
            "ana",
            "ops_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            EscalationPath::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`escalation_path` attested by ana (ops_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = EscalationPath::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("escalation-path", Category::Process, 4, true)
        );
        assert_eq!(Params::default().roles, ["ops_lead"]);
        assert!(EscalationPath::validate(&Params::default()).is_ok());
        assert!(EscalationPath::validate(&Params::new(" ", EscalationPath::ROLES)).is_err());
        assert_eq!(
            EscalationPath::validate(&Params::new("escalation_path", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `escalation_path`"
        );
        assert!(
            EscalationPath::validate(&Params::new("escalation_path", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("escalation_path", &["exec_sponsor"]));
    }
}
