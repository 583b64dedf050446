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
