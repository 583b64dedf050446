//! Checklist item: incident playbooks are written, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `incident_playbooks` made by an ops_lead
/// is on record. An attestation in another role does not count, nor an expired
/// or future-dated one.
pub struct IncidentPlaybooks;

// Operational readiness: by default only an ops_lead's attestation counts.
impl AttestationDefaults for IncidentPlaybooks {
    const KEY: &'static str = "incident_playbooks";
    const ROLES: &'static [&'static str] = &["ops_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<IncidentPlaybooks>;

impl ChecklistItem for IncidentPlaybooks {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `incident_playbooks` by an ops_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "incident-playbooks",
        "Incident playbooks",
        Category::Process,
        "documentation",
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
regent_sdk::checklist_item!(IncidentPlaybooks);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_incident_playbooks_attestation_by_an_ops_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            IncidentPlaybooks::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `incident_playbooks`; it needs an ops_lead"
        );
        for role in IncidentPlaybooks::ROLES {
            ctx.attestations = vec![attestation("incident_playbooks", "ana", role, NOW)];
            assert_eq!(
                IncidentPlaybooks::evaluate(&ctx, &Params::default()).unwrap(),
                pass(
                    format!("`incident_playbooks` attested by ana ({role})"),
                    None
                )
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("incident_playbooks", "bob", "tech_lead", NOW));
        assert_eq!(
            IncidentPlaybooks::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`incident_playbooks` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(IncidentPlaybooks::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "incident_playbooks",
            "ana",
            "ops_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            IncidentPlaybooks::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`incident_playbooks` attested by ana (ops_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = IncidentPlaybooks::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("incident-playbooks", Category::Process, 3, false)
        );
        assert_eq!(Params::default().roles, ["ops_lead"]);
        assert!(IncidentPlaybooks::validate(&Params::default()).is_ok());
        assert!(IncidentPlaybooks::validate(&Params::new(" ", IncidentPlaybooks::ROLES)).is_err());
        assert_eq!(
            IncidentPlaybooks::validate(&Params::new("incident_playbooks", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `incident_playbooks`"
        );
        assert!(
            IncidentPlaybooks::validate(&Params::new("incident_playbooks", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(
            sponsor,
            Params::new("incident_playbooks", &["exec_sponsor"])
        );
    }
}
