//! The whole 80-point readiness checklist as one `checklist-bundle`
//! component: the 22 built-in items, each still its own crate (and its own
//! `checklist-item` component), evaluated here in one instance per
//! assessment instead of 22.

regent_sdk::checklist_bundle!(
    "the 22 items of the 80-point readiness checklist";
    time_at_phase::TimeAtPhase,
    success_rate::SuccessRate,
    approval_rate::ApprovalRate,
    rollback_rate::RollbackRate,
    eval_coverage::EvalCoverage,
    no_critical_autonomous_incidents::NoCriticalAutonomousIncidents,
    breakers_configured::BreakersConfigured,
    monitoring_in_place::MonitoringInPlace,
    kill_switch_tested::KillSwitchTested,
    chaos_testing::ChaosTesting,
    runbooks::Runbooks,
    incident_playbooks::IncidentPlaybooks,
    architecture_docs::ArchitectureDocs,
    escalation_path::EscalationPath,
    stakeholder_signoff::StakeholderSignoff,
    security_review::SecurityReview,
    audit_trail::AuditTrail,
    rollback_plan::RollbackPlan,
    oncall_trained::OncallTrained,
    team_consensus::TeamConsensus,
    product_approval::ProductApproval,
    ops_approval::OpsApproval,
);

#[cfg(test)]
mod tests {
    use super::ITEMS;
    use regent_sdk::bundle::{self, ItemRequest};
    use regent_sdk::checklist::*;

    #[test]
    fn bundles_all_22_items_once_for_80_points() {
        assert_eq!(ITEMS.len(), 22);
        bundle::check_unique(ITEMS).unwrap();
        let points: u32 = ITEMS.iter().map(|i| i.info().points).sum();
        assert_eq!(points, 80);
    }

    #[test]
    fn each_request_runs_its_own_item_on_its_own_params() {
        let mut ctx = empty_context(1_800_000_000_000);
        ctx.metrics.success_rate = Some(0.99);
        let request = |item: &str, params: &str| ItemRequest {
            item: item.into(),
            params: params.into(),
        };
        let verdicts = bundle::evaluate_items(
            ITEMS,
            &ctx,
            &[
                request("success-rate", "{}"),
                request("success-rate", r#"{"min": 0.9}"#),
                request("no-such-item", "{}"),
                request("success-rate", r#"{"min": "high"}"#),
            ],
        );
        assert!(!verdicts[0].as_ref().unwrap().passed);
        assert!(verdicts[1].as_ref().unwrap().passed);
        assert!(verdicts[2]
            .as_ref()
            .unwrap_err()
            .starts_with("the bundle has no item `no-such-item` (it has `time-at-phase`"));
        assert!(verdicts[3]
            .as_ref()
            .unwrap_err()
            .starts_with("invalid params"));
    }
}
