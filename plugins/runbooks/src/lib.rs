//! Checklist item: the runbooks are complete, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `runbooks` made by an ops_lead is on
/// record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct Runbooks;

// Operational readiness: by default only an ops_lead's attestation counts.
impl AttestationDefaults for Runbooks {
    const KEY: &'static str = "runbooks";
    const ROLES: &'static [&'static str] = &["ops_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<Runbooks>;

impl ChecklistItem for Runbooks {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `runbooks` by an ops_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "runbooks",
        "Runbooks complete",
        Category::Process,
        "documentation",
        5,
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
regent_sdk::checklist_item!(Runbooks);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_runbooks_attestation_by_an_ops_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            Runbooks::evaluate(&ctx, &Params::default()).unwrap().detail,
            "no attestation `runbooks`; it needs an ops_lead"
        );
        for role in Runbooks::ROLES {
            ctx.attestations = vec![attestation("runbooks", "ana", role, NOW)];
            assert_eq!(
                Runbooks::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`runbooks` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("runbooks", "bob", "tech_lead", NOW));
        assert_eq!(
            Runbooks::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`runbooks` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(Runbooks::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations
            .push(attestation("runbooks", "ana", "ops_lead", NOW - DAY_MS));
        assert_eq!(
            Runbooks::evaluate(&ctx, &Params::default()).unwrap().detail,
            "`runbooks` attested by ana (ops_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = Runbooks::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("runbooks", Category::Process, 5, true)
        );
        assert_eq!(Params::default().roles, ["ops_lead"]);
        assert!(Runbooks::validate(&Params::default()).is_ok());
        assert!(Runbooks::validate(&Params::new(" ", Runbooks::ROLES)).is_err());
        assert_eq!(
            Runbooks::validate(&Params::new("runbooks", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `runbooks`"
        );
        assert!(Runbooks::validate(&Params::new("runbooks", &["reporter"]))
            .unwrap_err()
            .starts_with("`roles` names `reporter`, which cannot attest"));
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("runbooks", &["exec_sponsor"]));
    }
}
