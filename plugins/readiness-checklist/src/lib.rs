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

    /// Every attestation the checklist reads, and the role each item
    /// takes it from by default.
    const DEFAULT_ROLES: [(&str, &str); 15] = [
        ("monitoring", "ops_lead"),
        ("kill_switch_tested", "ops_lead"),
        ("chaos_testing", "tech_lead"),
        ("runbooks", "ops_lead"),
        ("incident_playbooks", "ops_lead"),
        ("architecture_docs", "tech_lead"),
        ("escalation_path", "ops_lead"),
        ("stakeholder_signoff", "exec_sponsor"),
        ("security_review", "tech_lead"),
        ("audit_trail", "tech_lead"),
        ("rollback_plan", "tech_lead"),
        ("oncall_trained", "ops_lead"),
        ("team_consensus", "product_lead"),
        ("product_approval", "product_lead"),
        ("ops_approval", "ops_lead"),
    ];

    fn evaluate_all(ctx: &ReadinessContext) -> Vec<(String, ItemVerdict)> {
        let requests: Vec<ItemRequest> = ITEMS
            .iter()
            .map(|i| ItemRequest {
                item: i.info().id,
                params: "{}".into(),
            })
            .collect();
        let verdicts = bundle::evaluate_items(ITEMS, ctx, &requests);
        requests
            .into_iter()
            .zip(verdicts)
            .map(|(r, v)| (r.item, v.unwrap()))
            .collect()
    }

    #[test]
    fn no_item_takes_an_attestation_from_a_role_that_cannot_attest() {
        let now = 1_800_000_000_000;
        let mut ctx = empty_context(now);
        for role in ["reporter", "viewer", "operator", "admin"] {
            for (key, _) in DEFAULT_ROLES {
                ctx.attestations
                    .push(attestation(key, "bot", role, now - DAY_MS));
            }
        }
        let refused: Vec<_> = evaluate_all(&ctx)
            .into_iter()
            .filter(|(_, v)| v.detail.contains("which does not count: it needs"))
            .collect();
        assert_eq!(refused.len(), 15, "{refused:?}");
        assert!(refused.iter().all(|(_, v)| !v.passed), "{refused:?}");

        // Given in the role each item takes by default, they all count.
        for (key, role) in DEFAULT_ROLES {
            ctx.attestations
                .push(attestation(key, "ana", role, now - 2 * DAY_MS));
        }
        let counted: Vec<_> = evaluate_all(&ctx)
            .into_iter()
            .filter(|(_, v)| v.detail.contains("attested by ana"))
            .collect();
        assert_eq!(counted.len(), 15, "{counted:?}");
        assert!(counted.iter().all(|(_, v)| v.passed), "{counted:?}");
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
