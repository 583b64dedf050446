//! Checklist item: the team agrees to expand, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `team_consensus` made by a tech_lead, an
/// ops_lead, a product_lead or an exec_sponsor is on record. An attestation in
/// another role does not count, nor an expired or future-dated one.
pub struct TeamConsensus;

// Team consensus: by default any of the four attesting roles may record it,
// never the governed system itself (a reporter), an operator or an admin.
impl AttestationDefaults for TeamConsensus {
    const KEY: &'static str = "team_consensus";
    const ROLES: &'static [&'static str] = &ATTESTING_ROLES;
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<TeamConsensus>;

impl ChecklistItem for TeamConsensus {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `team_consensus` by a tech_lead, an ops_lead, a product_lead or an exec_sponsor is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "team-consensus",
        "Team consensus achieved",
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
regent_sdk::checklist_item!(TeamConsensus);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_team_consensus_attestation_by_an_approver() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            TeamConsensus::evaluate(&ctx, &Params::default()).unwrap().detail,
            "no attestation `team_consensus`; it needs a tech_lead, an ops_lead, a product_lead or an exec_sponsor"
        );
        for role in TeamConsensus::ROLES {
            ctx.attestations = vec![attestation("team_consensus", "ana", role, NOW)];
            assert_eq!(
                TeamConsensus::evaluate(&ctx, &Params::default()).unwrap(),
                pass(format!("`team_consensus` attested by ana ({role})"), None)
            );
        }
    }

    #[test]
    fn an_attestation_by_a_role_that_cannot_approve_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("team_consensus", "bot", "reporter", NOW));
        assert_eq!(
            TeamConsensus::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`team_consensus` is attested by bot (reporter), which does not count: \
                 it needs a tech_lead, an ops_lead, a product_lead or an exec_sponsor",
                None
            )
        );
        // Narrowed to the tech lead, the ops lead's word no longer counts.
        ctx.attestations.push(attestation(
            "team_consensus",
            "bo",
            "ops_lead",
            NOW - DAY_MS,
        ));
        assert!(
            TeamConsensus::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
        let tech = parse_params::<Params>(r#"{"roles": ["tech_lead"]}"#).unwrap();
        assert_eq!(
            TeamConsensus::evaluate(&ctx, &tech).unwrap().detail,
            "`team_consensus` is attested by bot (reporter), which does not count: it needs a tech_lead"
        );
    }

    #[test]
    fn item_and_params() {
        let item = TeamConsensus::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("team-consensus", Category::Organizational, 6, true)
        );
        assert_eq!(
            Params::default().roles,
            ["tech_lead", "ops_lead", "product_lead", "exec_sponsor"]
        );
        assert!(TeamConsensus::validate(&Params::default()).is_ok());
        assert!(TeamConsensus::validate(&Params::new(" ", TeamConsensus::ROLES)).is_err());
        assert_eq!(
            TeamConsensus::validate(&Params::new("team_consensus", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `team_consensus`"
        );
        assert!(
            TeamConsensus::validate(&Params::new("team_consensus", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("team_consensus", &["exec_sponsor"]));
    }
}
