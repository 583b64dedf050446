//! Checklist item: incident playbooks are written, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `incident_playbooks` is on record.
/// Expired and future-dated attestations do not count.
pub struct IncidentPlaybooks;

// By default an attestation `incident_playbooks` made in any role counts.
impl AttestationDefaults for IncidentPlaybooks {
    const KEY: &'static str = "incident_playbooks";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<IncidentPlaybooks>;

impl ChecklistItem for IncidentPlaybooks {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `incident_playbooks` is on record";
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
    fn looks_for_a_current_incident_playbooks_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = IncidentPlaybooks::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `incident_playbooks`");
        ctx.attestations
            .push(attestation("incident_playbooks", "ana", "any_role", NOW));
        assert!(
            IncidentPlaybooks::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = IncidentPlaybooks::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("incident-playbooks", Category::Process, 3, false)
        );
        assert!(IncidentPlaybooks::validate(&Params::default()).is_ok());
        assert!(IncidentPlaybooks::validate(&Params::new(" ", None)).is_err());
    }
}
