//! Checklist item: the on-call rotation is trained, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `oncall_trained` made by an ops_lead is
/// on record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct OncallTrained;

// Operational readiness: by default only an ops_lead's attestation counts.
impl AttestationDefaults for OncallTrained {
    const KEY: &'static str = "oncall_trained";
    const ROLES: &'static [&'static str] = &["ops_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<OncallTrained>;

impl ChecklistItem for OncallTrained {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `oncall_trained` by an ops_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "oncall-trained",
        "On-call rotation trained",
        Category::Organizational,
        "team readiness",
        6,
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
regent_sdk::checklist_item!(OncallTrained);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_oncall_trained_attestation_by_an_ops_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            OncallTrained::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `oncall_trained`; it needs an ops_lead"
        );
        for role in OncallTrained::ROLES {
            ctx.attestations = vec![attestation("oncall_trained", "ana", role, NOW)];
            assert_eq!(
                OncallTrained::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`oncall_trained` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("oncall_trained", "bob", "tech_lead", NOW));
        assert_eq!(
            OncallTrained::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`oncall_trained` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(OncallTrained::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "oncall_trained",
            "ana",
            "ops_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            OncallTrained::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`oncall_trained` attested by ana (ops_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = OncallTrained::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("oncall-trained", Category::Organizational, 6, true)
        );
        assert_eq!(Params::default().roles, ["ops_lead"]);
        assert!(OncallTrained::validate(&Params::default()).is_ok());
        assert!(OncallTrained::validate(&Params::new(" ", OncallTrained::ROLES)).is_err());
        assert_eq!(
            OncallTrained::validate(&Params::new("oncall_trained", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `oncall_trained`"
        );
        assert!(
            OncallTrained::validate(&Params::new("oncall_trained", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("oncall_trained", &["exec_sponsor"]));
    }
}
