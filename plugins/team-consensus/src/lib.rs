//! Checklist item: the team agrees to expand, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `team_consensus` is on record.
/// Expired and future-dated attestations do not count.
pub struct TeamConsensus;

// By default an attestation `team_consensus` made in any role counts.
impl AttestationDefaults for TeamConsensus {
    const KEY: &'static str = "team_consensus";
}

/// Which attestation the item looks for: `key` and `role`, defaulting as
/// above.
pub type Params = AttestationParams<TeamConsensus>;

impl ChecklistItem for TeamConsensus {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "a current attestation `team_consensus` is on record";
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
    fn looks_for_a_current_team_consensus_attestation_in_any_role() {
        let mut ctx = empty_context(NOW);
        let verdict = TeamConsensus::evaluate(&ctx, &Params::default()).unwrap();
        assert_eq!(verdict.detail, "no attestation `team_consensus`");
        ctx.attestations
            .push(attestation("team_consensus", "ana", "any_role", NOW));
        assert!(
            TeamConsensus::evaluate(&ctx, &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn item_and_params() {
        let item = TeamConsensus::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("team-consensus", Category::Organizational, 6, true)
        );
        assert!(TeamConsensus::validate(&Params::default()).is_ok());
        assert!(TeamConsensus::validate(&Params::new(" ", None)).is_err());
    }
}
