//! Checklist item: chaos testing has been completed, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `chaos_testing` made by a tech_lead is on
/// record. An attestation in another role does not count, nor an expired or
/// future-dated one.
pub struct ChaosTesting;

// Engineering evidence: by default only a tech_lead's attestation counts.
impl AttestationDefaults for ChaosTesting {
    const KEY: &'static str = "chaos_testing";
    const ROLES: &'static [&'static str] = &["tech_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<ChaosTesting>;

impl ChecklistItem for ChaosTesting {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `chaos_testing` by a tech_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "chaos-testing",
        "Chaos testing completed",
        Category::Technical,
        "infrastructure",
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
regent_sdk::checklist_item!(ChaosTesting);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_chaos_testing_attestation_by_a_tech_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            ChaosTesting::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `chaos_testing`; it needs a tech_lead"
        );
        for role in ChaosTesting::ROLES {
            ctx.attestations = vec![attestation("chaos_testing", "ana", role, NOW)];
            assert_eq!(
                ChaosTesting::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`chaos_testing` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("chaos_testing", "bob", "ops_lead", NOW));
        assert_eq!(
            ChaosTesting::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`chaos_testing` is attested by bob (ops_lead), which does not count: \
                 it needs a tech_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["tech_lead", "ops_lead"]}"#).unwrap();
        assert!(ChaosTesting::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "chaos_testing",
            "ana",
            "tech_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            ChaosTesting::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`chaos_testing` attested by ana (tech_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = ChaosTesting::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("chaos-testing", Category::Technical, 2, false)
        );
        assert_eq!(Params::default().roles, ["tech_lead"]);
        assert!(ChaosTesting::validate(&Params::default()).is_ok());
        assert!(ChaosTesting::validate(&Params::new(" ", ChaosTesting::ROLES)).is_err());
        assert_eq!(
            ChaosTesting::validate(&Params::new("chaos_testing", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `chaos_testing`"
        );
        assert!(
            ChaosTesting::validate(&Params::new("chaos_testing", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("chaos_testing", &["exec_sponsor"]));
    }
}
