//! The conformance suite: the contract of every repository, written once
//! against `&dyn Store`, so that every backend is held to the same
//! behaviour. A backend runs it with [`conformance_suite!`], given an
//! expression that makes a [`StoreFactory`] for one test (a fresh, empty
//! store that can be opened again).
//!
//! Nothing here may depend on a particular backend: cases speak only
//! through the repository traits, and compare domain values.

use std::sync::{Arc, Barrier};

use crate::domain::auth::{PrincipalKind, Role, TokenRequest};
use crate::domain::breaker::{BreakerAction, BreakerEvent, BreakerRule, ThrottleSpec, Window};
use crate::domain::budget::{
    concurrency_claim, rate_claim, throttle_claim, BatchLimit, BudgetDef, BudgetKey, BudgetKind,
    Claim, ConcurrencyBudget, RateBudget,
};
use crate::domain::control::{Decision, NewStep, NewWorkflow, StepStatus, WorkflowStatus};
use crate::domain::events::{DeliveryStatus, NewEvent};
use crate::domain::fleet::NewAgent;
use crate::domain::governance::{
    Approval, Proposal, ProposalStatus, Rejection, RiskLevel, RiskSummary,
};
use crate::domain::metrics::{CommandRecord, CommandStatus, NewIncident};
use crate::domain::registry::{ActivationKind, PluginVersion, VersionStatus};
use crate::domain::retention::Kept;
use crate::domain::{Phase, PluginKind, Severity, Timestamp};
use crate::storage::prelude::*;
use crate::storage::{
    AttestationRecord, Escalation, EvaluationRecord, IdempotencyScope, InitialState, KeyClaim,
    NewDecision, NewSession, SessionCredential, StorageError, StoredAnswer, StoredSignature,
};

/// Makes the store one test runs against.
pub(crate) trait StoreFactory {
    /// Opens the test's store: empty the first time; opened again (as
    /// after a restart) when called after the earlier handle is dropped.
    fn open(&self) -> Arc<dyn Store>;
}

/// Instantiates every case of the suite as a `#[test]` for one backend.
/// `$factory` is an expression evaluated afresh for each test.
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::storage::conformance::conformance_suite!(@cases $factory;
            governance_initializes_once,
            governance_state_of_an_empty_store_is_not_found,
            a_refused_phase_change_changes_nothing_and_audits_nothing,
            lowering_the_phase_is_audited_and_published,
            the_emergency_stop_turns_on_once_and_resumes_once,
            a_second_pending_proposal_is_a_conflict,
            an_unknown_proposal_is_not_found,
            the_last_approval_moves_the_phase_in_the_same_change,
            a_refused_approval_leaves_no_trace,
            a_rejected_proposal_stays_rejected,
            breaker_rules_round_trip_and_conflict,
            a_trip_stays_open_until_resolved_once,
            paused_command_types_follow_open_trips,
            commands_are_stored_once_by_id,
            incidents_and_gauges_round_trip,
            attestations_round_trip_and_revoke_once,
            tokens_resolve_by_hash_and_revoke_once,
            a_token_for_an_unknown_agent_is_invalid,
            the_admin_token_is_ensured_once,
            the_audit_chain_links_every_change,
            decisions_are_filtered_and_totalled,
            an_answered_decision_survives_reopening,
            committed_changes_survive_reopening,
            workflows_move_only_along_their_lifecycle,
            workflow_steps_form_the_trace,
            events_record_their_action_and_its_delivery,
            agents_register_once,
            concurrent_costs_trip_the_agent_exactly_once,
            a_tripped_agent_resets_once,
            assignments_round_trip,
            plugin_versions_activate_roll_back_and_stay_immutable,
            evaluations_and_shadow_inputs_keep_the_newest,
            a_signature_stays_with_its_version_and_deleted_versions_still_count_as_served,
            retention_prunes_old_rows_and_never_the_audit_log,
            the_store_reports_itself_writable,
            replicas_starting_together_ensure_the_admin_token_once,
            racing_revocations_revoke_a_token_once,
            racing_proposals_leave_one_pending,
            racing_ingests_count_each_command_once,
            the_first_of_repeated_ids_in_a_batch_is_kept,
            command_tallies_agree_with_a_scan,
            command_durations_are_the_windows_reported_durations,
            text_keys_sort_by_bytes,
            reports_assessments_and_snapshots_round_trip,
            incidents_count_by_window_and_severity,
            a_pending_action_is_claimed_by_one_holder_at_a_time,
            command_tallies_survive_pruning_the_raw_commands,
            concurrent_activations_leave_one_version_active,
            a_blob_shared_by_two_versions_survives_deleting_one,
            a_rejection_never_hides_a_stored_version,
            repeated_failures_trip_the_agent_once,
            a_lease_has_one_holder_until_it_expires,
            a_revert_trip_lowers_the_phase_and_cancels_proposals_in_its_change,
            a_session_resolves_until_it_ends_expires_or_its_token_is_revoked,
            a_session_ends_once_and_pruning_spares_live_ones,
            budgets_are_audited_published_and_deleted_with_their_use,
            a_rate_budget_grants_exactly_its_limit_in_order,
            concurrency_leases_are_released_by_completion_or_expiry,
            a_throttle_follows_its_open_event,
            an_idempotency_key_is_claimed_once_then_replays_its_answer,
            another_caller_or_route_has_keys_of_its_own,
            a_released_or_lapsed_claim_frees_its_key_for_the_next_request_only,
            an_expired_answer_frees_its_key_and_is_pruned,
            racing_claims_of_one_key_claim_it_once,
            a_scope_is_revoked_stopped_and_resumed_once_each_audited,
            decisions_keep_their_scope_and_filter_by_it,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let factory = $factory;
                $crate::storage::conformance::$case(&factory);
            }
        )*
    };
}
pub(crate) use conformance_suite;

const T0: i64 = 1_700_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp(T0 + offset_ms)
}

fn initialized(factory: &dyn StoreFactory) -> Arc<dyn Store> {
    let store = factory.open();
    assert!(store
        .initialize(&BreakerRule::defaults(), None, at(0))
        .unwrap());
    store
}

fn audit_count(store: &dyn Store) -> u64 {
    let verification = store.verify_audit().unwrap();
    assert!(
        verification.problems.is_empty(),
        "{:?}",
        verification.problems
    );
    verification.entries
}

fn proposal(from: Phase, to: Phase, approvals: Vec<Role>) -> Proposal {
    Proposal {
        id: 0,
        from_phase: from,
        target_phase: to,
        commands_to_whitelist: vec!["SET_FAN".into()],
        validation_period_days: 7,
        key_achievements: vec![],
        risk_assessment: RiskSummary {
            level: RiskLevel::Low,
            score: 10,
            factors: vec![],
            mitigations: vec![],
            scorer: None,
            scorer_version: None,
        },
        required_approvals: approvals,
        approvals: vec![],
        status: ProposalStatus::Pending,
        created_at: at(1),
        decided_at: None,
        rejection: None,
    }
}

fn approval(role: Role, by: &str) -> Approval {
    Approval {
        role,
        by: by.into(),
        at: at(2),
        comment: None,
    }
}

fn new_agent(id: &str, budget: f64) -> NewAgent {
    NewAgent {
        id: id.into(),
        capabilities: vec!["hvac".into()],
        cost_per_hour: 1.0,
        reputation: 0.5,
        budget,
        model: None,
    }
}

fn token_request(name: &str, agent: Option<&str>) -> TokenRequest {
    TokenRequest {
        name: name.into(),
        roles: vec![Role::Reporter],
        principal: name.into(),
        principal_named: false,
        kind: PrincipalKind::System,
        agent: agent.map(Into::into),
    }
}

fn command(id: &str, status: CommandStatus) -> CommandRecord {
    CommandRecord {
        id: id.into(),
        command_type: "SET_FAN".into(),
        status,
        required_approval: false,
        autonomous: true,
        created_at: Some(at(10)),
        duration_ms: None,
        error: None,
    }
}

fn decision(offset_ms: i64, command_type: &str, outcome: Decision) -> NewDecision {
    NewDecision {
        at: at(offset_ms),
        command_type: command_type.into(),
        workflow_id: None,
        agent_id: None,
        scope: None,
        decision: outcome,
        reasons: vec!["because".into()],
        phase: Phase::L3,
        caller: "agent".into(),
        unbound: true,
        claims: Vec::new(),
    }
}

fn trip_of(rule: &BreakerRule, offset_ms: i64, paused: &[&str]) -> BreakerEvent {
    BreakerEvent {
        id: 0,
        rule_name: rule.name.clone(),
        condition: rule.condition.clone(),
        window: rule.window,
        action: rule.action,
        alert_severity: rule.alert_severity,
        observed_value: Some(1.0),
        reason: "tripped".into(),
        triggered_at: at(offset_ms),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        paused_command_types: paused.iter().map(|s| s.to_string()).collect(),
        throttle: None,
        plugin: rule.plugin.clone(),
        plugin_version: "0.1.0".into(),
        truncated: false,
        check_error: None,
    }
}

fn plugin_version(version: &str, sha: &str) -> PluginVersion {
    PluginVersion {
        name: "item".into(),
        kind: PluginKind::ChecklistItem,
        version: version.into(),
        sha256: sha.into(),
        size_bytes: 3,
        uploaded_at: at(0),
        uploaded_by: "admin".into(),
        signer: None,
        status: VersionStatus::Inactive,
        activated_at: None,
        rejection: None,
    }
}

fn evaluation(offset_ms: i64, plugin: &str) -> EvaluationRecord {
    EvaluationRecord {
        id: 0,
        at: at(offset_ms),
        plugin: plugin.into(),
        version: "0.1.0".into(),
        kind: PluginKind::BreakerCondition,
        input: serde_json::json!({"n": offset_ms}),
        output: Some(serde_json::json!({"tripped": false})),
        error_code: None,
        error: None,
        elapsed_us: 7,
    }
}

// ---- governance state and control -------------------------------------

pub(crate) fn governance_initializes_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    assert!(!store.initialize(&[], None, at(5)).unwrap());
    let state = store.state().unwrap();
    assert_eq!(state.phase, Phase::L3);
    assert_eq!(state.phase_started_at, at(0));
    assert!(state.whitelist.is_empty());
    assert!(!state.emergency_stop);
    assert_eq!(store.rules().unwrap(), BreakerRule::defaults());
    assert_eq!(audit_count(&*store), 1);
}

pub(crate) fn governance_state_of_an_empty_store_is_not_found(factory: &dyn StoreFactory) {
    let store = factory.open();
    assert!(matches!(store.state(), Err(StorageError::NotFound(_))));
    assert_eq!(audit_count(&*store), 0);
}

pub(crate) fn a_refused_phase_change_changes_nothing_and_audits_nothing(
    factory: &dyn StoreFactory,
) {
    let store = initialized(factory);
    let before = audit_count(&*store);
    let raised = store.change_phase(Phase::L4, None, true, &[], "ops", at(5));
    assert!(
        matches!(raised, Err(StorageError::PhaseChange(_))),
        "{raised:?}"
    );
    assert_eq!(store.state().unwrap().phase, Phase::L3);
    assert_eq!(audit_count(&*store), before);
}

pub(crate) fn lowering_the_phase_is_audited_and_published(factory: &dyn StoreFactory) {
    let store = factory.open();
    let whitelist = vec!["SET_FAN".to_string()];
    store
        .initialize(
            &[],
            Some(InitialState {
                phase: Phase::L4,
                started_at: at(0),
                whitelist: &whitelist,
            }),
            at(0),
        )
        .unwrap();
    assert_eq!(store.control().phase, Phase::L4);
    assert!(store.control().whitelist.contains("SET_FAN"));
    let before = audit_count(&*store);
    let state = store
        .change_phase(Phase::L3, None, false, &[], "ops", at(5))
        .unwrap();
    assert_eq!(state.phase, Phase::L3);
    assert_eq!(store.state().unwrap(), state);
    // The control snapshot is rebuilt from the committed change.
    assert_eq!(store.control().phase, Phase::L3);
    assert!(store.control().whitelist.is_empty());
    assert!(audit_count(&*store) > before);
}

pub(crate) fn the_emergency_stop_turns_on_once_and_resumes_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    assert!(!store.emergency_stop_status().unwrap().active);
    let (status, changed) = store
        .set_emergency_stop(true, "ops", "drill", at(5))
        .unwrap();
    assert!(changed && status.active);
    assert!(store.control().emergency_stop);
    // Stopping again keeps the first stop's actor and reason.
    let (again, changed) = store
        .set_emergency_stop(true, "someone", "else", at(6))
        .unwrap();
    assert!(!changed);
    assert_eq!(again.by.as_deref(), Some("ops"));
    assert_eq!(again.reason.as_deref(), Some("drill"));
    let audited = audit_count(&*store);
    let (resumed, changed) = store
        .set_emergency_stop(false, "ops", "done", at(7))
        .unwrap();
    assert!(changed && !resumed.active);
    assert!(!store.control().emergency_stop);
    assert_eq!(audit_count(&*store), audited + 1);
    assert!(matches!(
        store.set_emergency_stop(false, "ops", "again", at(8)),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(audit_count(&*store), audited + 1);
}

// ---- proposals ----------------------------------------------------------

pub(crate) fn a_second_pending_proposal_is_a_conflict(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut first = proposal(Phase::L3, Phase::L3Plus, vec![Role::TechLead]);
    store.create_proposal(&mut first, "cycle").unwrap();
    assert!(first.id > 0);
    let audited = audit_count(&*store);
    let mut second = proposal(Phase::L3, Phase::L3Plus, vec![Role::TechLead]);
    assert!(matches!(
        store.create_proposal(&mut second, "cycle"),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(audit_count(&*store), audited);
    assert_eq!(store.proposals(false).unwrap(), vec![first.clone()]);
    assert_eq!(store.proposal(first.id).unwrap(), first);
}

pub(crate) fn an_unknown_proposal_is_not_found(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    assert!(matches!(
        store.proposal(4242),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        store.approve_proposal(4242, approval(Role::TechLead, "ana"), true, &[]),
        Err(StorageError::NotFound(_))
    ));
}

pub(crate) fn the_last_approval_moves_the_phase_in_the_same_change(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut p = proposal(
        Phase::L3,
        Phase::L3Plus,
        vec![Role::TechLead, Role::OpsLead],
    );
    store.create_proposal(&mut p, "cycle").unwrap();
    let whitelist = vec!["SET_FAN".to_string()];
    let half = store
        .approve_proposal(p.id, approval(Role::TechLead, "ana"), true, &whitelist)
        .unwrap();
    assert_eq!(half.status, ProposalStatus::Pending);
    assert_eq!(store.state().unwrap().phase, Phase::L3);
    let done = store
        .approve_proposal(p.id, approval(Role::OpsLead, "bob"), true, &whitelist)
        .unwrap();
    assert_eq!(done.status, ProposalStatus::Approved);
    let state = store.state().unwrap();
    assert_eq!(state.phase, Phase::L3Plus);
    assert_eq!(state.whitelist, whitelist);
    assert_eq!(store.control().phase, Phase::L3Plus);
    assert!(store.proposals(false).unwrap().is_empty());
    assert_eq!(store.proposals(true).unwrap(), vec![done]);
    audit_count(&*store);
}

pub(crate) fn a_refused_approval_leaves_no_trace(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut p = proposal(
        Phase::L3,
        Phase::L3Plus,
        vec![Role::TechLead, Role::OpsLead],
    );
    store.create_proposal(&mut p, "cycle").unwrap();
    store
        .approve_proposal(p.id, approval(Role::TechLead, "ana"), true, &[])
        .unwrap();
    let audited = audit_count(&*store);
    // The same principal cannot approve twice, under another role.
    let twice = store.approve_proposal(p.id, approval(Role::OpsLead, "ana"), true, &[]);
    assert!(matches!(twice, Err(StorageError::Decision(_))), "{twice:?}");
    assert_eq!(store.proposal(p.id).unwrap().approvals.len(), 1);
    assert_eq!(audit_count(&*store), audited);
}

pub(crate) fn a_rejected_proposal_stays_rejected(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut p = proposal(Phase::L3, Phase::L3Plus, vec![Role::TechLead]);
    store.create_proposal(&mut p, "cycle").unwrap();
    let rejected = store
        .reject_proposal(
            p.id,
            Rejection {
                role: Role::TechLead,
                by: "ana".into(),
                at: at(3),
                reason: "not yet".into(),
            },
            true,
        )
        .unwrap();
    assert_eq!(rejected.status, ProposalStatus::Rejected);
    assert_eq!(store.proposal(p.id).unwrap(), rejected);
    let late = store.approve_proposal(p.id, approval(Role::TechLead, "bob"), true, &[]);
    assert!(late.is_err(), "{late:?}");
    assert_eq!(store.state().unwrap().phase, Phase::L3);
}

// ---- breakers -----------------------------------------------------------

pub(crate) fn breaker_rules_round_trip_and_conflict(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut rule = BreakerRule::defaults()[0].clone();
    assert!(matches!(
        store.insert_rule(&rule, "ops", at(1)),
        Err(StorageError::Conflict(_))
    ));
    rule.name = "conformance-rule".into();
    store.insert_rule(&rule, "ops", at(1)).unwrap();
    assert_eq!(store.rule(&rule.name).unwrap(), rule);
    let mut updated = rule.clone();
    updated.enabled = false;
    let stored = store
        .update_rule(&rule.name, &updated, "ops", at(2))
        .unwrap();
    assert_eq!(stored, updated);
    assert_eq!(store.rule(&rule.name).unwrap(), updated);
    store.delete_rule(&rule.name, "ops", at(3)).unwrap();
    assert!(matches!(
        store.rule(&rule.name),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_rule(&rule.name, "ops", at(4)),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(store.rules().unwrap(), BreakerRule::defaults());
    audit_count(&*store);
}

pub(crate) fn a_trip_stays_open_until_resolved_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut rule = BreakerRule::defaults()[0].clone();
    rule.action = BreakerAction::AlertOnly;
    let first = store.record_trip(trip_of(&rule, 10, &[])).unwrap().unwrap();
    assert!(first.id > 0);
    // The rule is open: tripping again records nothing new.
    assert_eq!(store.record_trip(trip_of(&rule, 20, &[])).unwrap(), None);
    assert_eq!(store.unresolved_events().unwrap(), vec![first.clone()]);
    let resolved = store
        .resolve_event(first.id, "ops", "fixed", at(30))
        .unwrap();
    assert_eq!(resolved.resolved_by.as_deref(), Some("ops"));
    assert!(store.unresolved_events().unwrap().is_empty());
    assert!(matches!(
        store.resolve_event(first.id, "ops", "again", at(40)),
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.resolve_event(4242, "ops", "none", at(40)),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(store.breaker_events(10).unwrap(), vec![resolved]);
    assert_eq!(store.events_between(at(0), at(100)).unwrap().len(), 1);
    // What /metrics counts by rule: the one trip, under its rule.
    let totals = store.breaker_event_totals().unwrap();
    assert_eq!(totals.len(), 1, "{totals:?}");
    assert_eq!((totals[0].0.as_str(), totals[0].3), (rule.name.as_str(), 1));
    audit_count(&*store);
}

pub(crate) fn paused_command_types_follow_open_trips(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut rule = BreakerRule::defaults()[0].clone();
    rule.action = BreakerAction::PauseCommandType;
    let event = store
        .record_trip(trip_of(&rule, 10, &["SET_FAN"]))
        .unwrap()
        .unwrap();
    assert_eq!(store.paused_command_types().unwrap(), ["SET_FAN"]);
    assert!(store.control().paused_command_types.contains("SET_FAN"));
    store
        .resolve_event(event.id, "ops", "fixed", at(20))
        .unwrap();
    assert!(store.paused_command_types().unwrap().is_empty());
    assert!(store.control().paused_command_types.is_empty());
}

// ---- commands, incidents, gauges --------------------------------------

pub(crate) fn commands_are_stored_once_by_id(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let batch = [
        command("c1", CommandStatus::Succeeded),
        command("c2", CommandStatus::Failed),
    ];
    let first = store.insert_commands(&batch, at(20)).unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 0));
    let again = store
        .insert_commands(
            &[
                command("c2", CommandStatus::Failed),
                command("c3", CommandStatus::Succeeded),
            ],
            at(21),
        )
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (1, 1));
    let totals = store.command_totals().unwrap();
    assert_eq!((totals.succeeded, totals.failed), (2, 1));
    let tally = store.command_tally(at(0), at(100)).unwrap();
    assert_eq!(tally, totals);
    assert_eq!(
        store.failed_command_types(at(0), at(100)).unwrap(),
        ["SET_FAN"]
    );
    assert_eq!(store.succeeded_commands_of(&["SET_FAN"]).unwrap(), 2);
}

pub(crate) fn incidents_and_gauges_round_trip(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let incident = store
        .insert_incident(
            &NewIncident {
                severity: Severity::High,
                autonomous: true,
                command_type: Some("SET_FAN".into()),
                description: "fan stuck".into(),
                occurred_at: Some(at(5)),
            },
            "qa",
            at(6),
        )
        .unwrap();
    assert_eq!(store.recent_incidents(10).unwrap(), vec![incident]);
    assert_eq!(store.incidents_since(at(0)).unwrap().len(), 1);
    let (_, autonomous) = store.incident_totals().unwrap();
    assert_eq!(autonomous, 1);
    let gauge = store.set_gauge("eval_coverage", 0.75, at(7)).unwrap();
    store.set_gauge("eval_coverage", 0.8, at(8)).unwrap();
    let gauges = store.gauges().unwrap();
    assert_eq!(gauges.len(), 1);
    assert_ne!(gauges[0], gauge, "the newer value replaces the older");
}

// ---- readiness and access ---------------------------------------------

pub(crate) fn attestations_round_trip_and_revoke_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let stored = store
        .create_attestation(&AttestationRecord {
            id: 0,
            key: "runbooks".into(),
            attested_by: "ana".into(),
            token_id: 0,
            role: Role::TechLead,
            attested_at: at(1),
            expires_at: None,
            evidence_url: Some("https://example.test/runbook".into()),
            accepted_by: vec![],
        })
        .unwrap();
    assert!(stored.id > 0);
    let listed = store.attestations().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "runbooks");
    assert_eq!(store.attester(stored.id).unwrap().as_deref(), Some("ana"));
    let audited = audit_count(&*store);
    store.revoke_attestation(stored.id, "ana", at(2)).unwrap();
    assert!(store.attestations().unwrap().is_empty());
    assert!(matches!(
        store.revoke_attestation(stored.id, "ana", at(3)),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(audit_count(&*store), audited + 1);
}

pub(crate) fn tokens_resolve_by_hash_and_revoke_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let token = store
        .create_token(&token_request("ci", None), "hash-ci", "admin", at(1))
        .unwrap();
    let found = store.token_by_hash("hash-ci").unwrap().unwrap();
    assert_eq!(found, token);
    assert_eq!(found.to_principal().id, "ci");
    assert_eq!(store.token_by_hash("nope").unwrap(), None);
    assert!(matches!(
        store.create_token(&token_request("ci", None), "hash-2", "admin", at(2)),
        Err(StorageError::Conflict(_))
    ));
    let revoked = store.revoke_token(token.id, "admin", at(3)).unwrap();
    assert_eq!(revoked.revoked_at, Some(at(3)));
    assert!(matches!(
        store.revoke_token(token.id, "admin", at(4)),
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.revoke_token(4242, "admin", at(4)),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(store.tokens().unwrap().len(), 1);
}

pub(crate) fn a_token_for_an_unknown_agent_is_invalid(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let audited = audit_count(&*store);
    assert!(matches!(
        store.create_token(&token_request("bot", Some("ghost")), "h", "admin", at(1)),
        Err(StorageError::Invalid(_))
    ));
    assert!(store.tokens().unwrap().is_empty());
    assert_eq!(audit_count(&*store), audited);
    store
        .register_agent(&new_agent("ghost", 10.0), "admin", at(2))
        .unwrap();
    let bound = store
        .create_token(&token_request("bot", Some("ghost")), "h", "admin", at(3))
        .unwrap();
    assert_eq!(bound.agent_id.as_deref(), Some("ghost"));
}

pub(crate) fn the_admin_token_is_ensured_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    assert!(!store.has_admin_token().unwrap());
    assert!(store.ensure_admin_token("bootstrap", "h1", at(1)).unwrap());
    assert!(!store.ensure_admin_token("bootstrap", "h1", at(2)).unwrap());
    assert!(store.has_admin_token().unwrap());
    let admin = store.token_by_hash("h1").unwrap().unwrap();
    assert!(admin.roles.contains(&Role::Admin));
}

// ---- audit and decisions ----------------------------------------------

pub(crate) fn the_audit_chain_links_every_change(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .set_emergency_stop(true, "ops", "drill", at(1))
        .unwrap();
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(2))
        .unwrap();
    let entries = store.audit_entries(100).unwrap();
    assert_eq!(entries.len() as u64, audit_count(&*store));
    // Newest first, each linking to the one before it.
    for pair in entries.windows(2) {
        assert_eq!(pair[0].prev_hash, pair[1].hash);
        assert!(pair[0].id > pair[1].id);
    }
    let newest = &entries[0];
    assert_eq!(
        store.audit_last().unwrap(),
        Some((newest.id, newest.hash.clone()))
    );
    assert_eq!(
        store.audit_hash(newest.id).unwrap(),
        Some(newest.hash.clone())
    );
    assert_eq!(store.audit_hash(newest.id + 100).unwrap(), None);
    assert_eq!(newest.action, "agent.register");
}

pub(crate) fn decisions_are_filtered_and_totalled(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let ids = store
        .append_decisions(&mut [
            decision(1, "SET_FAN", Decision::Autonomous),
            decision(2, "OPEN_VALVE", Decision::Autonomous),
            decision(3, "SET_FAN", Decision::Denied),
        ])
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let fans = store.decisions(10, Some("SET_FAN"), None, None).unwrap();
    assert_eq!(
        fans.iter().map(|d| d.decision_id).collect::<Vec<_>>(),
        [ids[2], ids[0]]
    );
    let autonomous = store
        .decisions(10, None, Some(Decision::Autonomous), None)
        .unwrap();
    assert_eq!(autonomous.len(), 2);
    let totals = store.decision_totals().unwrap();
    assert_eq!(totals.iter().map(|(_, n)| n).sum::<u64>(), 3);
    assert!(totals.contains(&(Decision::Autonomous, 2)));
    assert_eq!(
        store
            .unbound_decision_totals()
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        3
    );
}

pub(crate) fn an_answered_decision_survives_reopening(factory: &dyn StoreFactory) {
    let ids = {
        let store = initialized(factory);
        store
            .append_decisions(&mut [decision(1, "SET_FAN", Decision::Autonomous)])
            .unwrap()
    };
    let reopened = factory.open();
    let stored = reopened.decisions(10, None, None, None).unwrap();
    assert_eq!(
        stored.iter().map(|d| d.decision_id).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(stored[0].reasons, ["because"]);
    assert!(reopened
        .decision_totals()
        .unwrap()
        .contains(&(Decision::Autonomous, 1)));
}

pub(crate) fn committed_changes_survive_reopening(factory: &dyn StoreFactory) {
    let audited = {
        let store = initialized(factory);
        store
            .set_emergency_stop(true, "ops", "drill", at(1))
            .unwrap();
        store
            .register_agent(&new_agent("a1", 10.0), "admin", at(2))
            .unwrap();
        audit_count(&*store)
    };
    let reopened = factory.open();
    assert!(reopened.state().unwrap().emergency_stop);
    // The control snapshot is rebuilt from what was committed.
    assert!(reopened.control().emergency_stop);
    assert_eq!(reopened.agent("a1").unwrap().budget, 10.0);
    assert_eq!(audit_count(&*reopened), audited);
}

// ---- workflows --------------------------------------------------------

pub(crate) fn workflows_move_only_along_their_lifecycle(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    let new = NewWorkflow {
        id: "wf1".into(),
        name: "cool down".into(),
        agent_id: Some("a1".into()),
    };
    let w = store.register_workflow(&new, "a1", at(2)).unwrap();
    assert_eq!(w.status, WorkflowStatus::Running);
    assert!(matches!(
        store.register_workflow(&new, "a1", at(3)),
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.workflow("nope"),
        Err(StorageError::NotFound(_))
    ));
    let paused = store
        .move_workflow("wf1", WorkflowStatus::Paused, "ops", Some("look"), at(4))
        .unwrap();
    assert_eq!(paused.status, WorkflowStatus::Paused);
    assert!(store.control().paused_workflows.contains("wf1"));
    assert_eq!(store.paused_workflow_count().unwrap(), 1);
    let audited = audit_count(&*store);
    // A paused workflow cannot complete: the agent cannot release the brake.
    assert!(matches!(
        store.move_workflow("wf1", WorkflowStatus::Completed, "a1", None, at(5)),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(audit_count(&*store), audited);
    store
        .move_workflow("wf1", WorkflowStatus::Running, "ops", None, at(6))
        .unwrap();
    assert!(store.control().paused_workflows.is_empty());
    assert_eq!(
        store.workflows(Some(WorkflowStatus::Running), 10).unwrap(),
        vec![store.workflow("wf1").unwrap()]
    );
}

pub(crate) fn workflow_steps_form_the_trace(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    let new = NewWorkflow {
        id: "wf1".into(),
        name: "cool down".into(),
        agent_id: Some("a1".into()),
    };
    store.register_workflow(&new, "a1", at(2)).unwrap();
    for (i, name) in ["plan", "act"].iter().enumerate() {
        let step = store
            .append_step(
                "wf1",
                &NewStep {
                    name: name.to_string(),
                    status: StepStatus::Succeeded,
                    detail: Some(serde_json::json!({"i": i})),
                    at: None,
                },
                "a1",
                at(3 + i as i64),
            )
            .unwrap();
        assert_eq!(step.seq, i as u64 + 1);
    }
    let trace = store.trace("wf1").unwrap();
    assert_eq!(
        trace.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["plan", "act"]
    );
    store
        .move_workflow("wf1", WorkflowStatus::Completed, "a1", None, at(9))
        .unwrap();
    let closed = store.append_step(
        "wf1",
        &NewStep {
            name: "late".into(),
            status: StepStatus::Started,
            detail: None,
            at: None,
        },
        "a1",
        at(10),
    );
    assert!(matches!(closed, Err(StorageError::Conflict(_))));
    assert!(matches!(
        store.trace("nope"),
        Err(StorageError::NotFound(_))
    ));
}

// ---- events and actions -------------------------------------------------

pub(crate) fn events_record_their_action_and_its_delivery(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let event = NewEvent {
        engine: "qa".into(),
        event_type: "regression".into(),
        severity: Severity::High,
        details: None,
        occurred_at: Some(at(1)),
    };
    let (stored, action) = store
        .insert_event(
            &event,
            "qa",
            Some(("notify", DeliveryStatus::Pending)),
            at(2),
        )
        .unwrap();
    let action = action.unwrap();
    assert_eq!(action.event_id, Some(stored.id));
    assert_eq!(store.engine_events(10, None, None).unwrap(), vec![stored]);
    assert_eq!(store.pending_actions().unwrap(), vec![action.clone()]);
    store
        .record_delivery(action.id, DeliveryStatus::Delivered, None, at(3))
        .unwrap();
    assert!(store.pending_actions().unwrap().is_empty());
    assert_eq!(
        store.actions(10).unwrap()[0].delivery,
        DeliveryStatus::Delivered
    );
    // Only a pending action can be dropped.
    assert!(!store.mark_dropped(action.id, "queue full").unwrap());
    let (_, quiet) = store.insert_event(&event, "qa", None, at(4)).unwrap();
    assert!(quiet.is_none());
    assert_eq!(store.engine_events_between(at(0), at(10)).unwrap().len(), 2);
}

// ---- agents and assignments --------------------------------------------

pub(crate) fn agents_register_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let agent = store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    assert_eq!(agent.budget_remaining, 10.0);
    assert!(matches!(
        store.register_agent(&new_agent("a1", 5.0), "admin", at(2)),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(store.agents().unwrap(), vec![agent]);
    assert!(matches!(
        store.agent("ghost"),
        Err(StorageError::NotFound(_))
    ));
    let escalation = Escalation {
        delivery: DeliveryStatus::NotConfigured,
    };
    assert!(matches!(
        store.record_cost("ghost", "op", 1.0, "ghost", &escalation, at(3)),
        Err(StorageError::NotFound(_))
    ));
}

pub(crate) fn concurrent_costs_trip_the_agent_exactly_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    const CALLERS: usize = 8;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let escalation = Escalation {
                    delivery: DeliveryStatus::Pending,
                };
                store
                    .record_cost("a1", "op", 2.0, "a1", &escalation, at(10 + i as i64))
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("a caller panicked"))
        .collect();
    let trips = results
        .iter()
        .filter(|(_, action)| action.is_some())
        .count();
    assert_eq!(trips, 1, "exactly one cost crosses the line");
    let agent = store.agent("a1").unwrap();
    assert_eq!(agent.budget_remaining, 10.0 - 2.0 * CALLERS as f64);
    assert_eq!(agent.total_cost, 2.0 * CALLERS as f64);
    assert!(agent.breaker.tripped);
    assert!(store.control().tripped_agents.contains("a1"));
    assert_eq!(store.pending_actions().unwrap().len(), 1);
    let trips_audited = store
        .audit_entries(100)
        .unwrap()
        .iter()
        .filter(|e| e.action == "agent.breaker.trip")
        .count();
    assert_eq!(trips_audited, 1);
    audit_count(&*store);
}

pub(crate) fn a_tripped_agent_resets_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    assert!(matches!(
        store.reset_agent("a1", 20.0, "ops", at(2)),
        Err(StorageError::Conflict(_))
    ));
    let escalation = Escalation {
        delivery: DeliveryStatus::NotConfigured,
    };
    let (tripped, _) = store
        .trip_agent("a1", "manual", "ops", &escalation, at(3))
        .unwrap();
    assert!(tripped.breaker.tripped);
    assert!(matches!(
        store.trip_agent("a1", "again", "ops", &escalation, at(4)),
        Err(StorageError::Conflict(_))
    ));
    let reset = store.reset_agent("a1", 20.0, "ops", at(5)).unwrap();
    assert!(!reset.breaker.tripped);
    assert_eq!(reset.budget_remaining, 20.0);
    assert!(store.control().tripped_agents.is_empty());
}

pub(crate) fn assignments_round_trip(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let assignment = crate::domain::fleet::Assignment {
        id: 0,
        task_id: "t1".into(),
        agent_id: None,
        score: None,
        candidates: vec![],
        excluded: vec![],
        excluded_counts: Default::default(),
        matcher: "capability-match".into(),
        matcher_version: "0.1.0".into(),
        max_cost: 5.0,
        required_capabilities: vec!["hvac".into()],
        assigned_at: at(1),
        requested_by: "planner".into(),
    };
    let stored = store.insert_assignment(&assignment).unwrap();
    assert!(stored.id > 0);
    assert_eq!(store.assignments(10).unwrap(), vec![stored]);
    assert_eq!(store.assignment_totals().unwrap(), (1, 1));
}

// ---- plugins ------------------------------------------------------------

pub(crate) fn plugin_versions_activate_roll_back_and_stay_immutable(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .store_plugin_version(
            &plugin_version("1.0.0", "aa"),
            "m1",
            b"one",
            None,
            "plugin.upload",
        )
        .unwrap();
    store
        .store_plugin_version(
            &plugin_version("1.1.0", "bb"),
            "m2",
            b"two",
            None,
            "plugin.upload",
        )
        .unwrap();
    assert!(matches!(
        store.store_plugin_version(
            &plugin_version("1.1.0", "cc"),
            "m2",
            b"other",
            None,
            "plugin.upload"
        ),
        Err(StorageError::Conflict(m)) if m.contains("immutable")
    ));
    assert_eq!(
        store.plugin_kind("item").unwrap().as_deref(),
        Some(PluginKind::ChecklistItem.world())
    );
    let now = at(5);
    store
        .activate_plugin_version(
            "item",
            "1.0.0",
            ActivationKind::Upload,
            false,
            None,
            "a",
            now,
        )
        .unwrap();
    assert_eq!(
        store
            .activate_plugin_version(
                "item",
                "1.1.0",
                ActivationKind::Activate,
                false,
                None,
                "a",
                now
            )
            .unwrap()
            .as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        store.active_plugin_versions().unwrap(),
        [("item".to_string(), "1.1.0".to_string())]
    );
    assert_eq!(
        store.rollback_target("item").unwrap().as_deref(),
        Some("1.0.0")
    );
    let stored = store.stored_plugin("item", "1.1.0").unwrap();
    assert_eq!(
        (stored.manifest.as_str(), stored.bytes.as_slice()),
        ("m2", &b"two"[..])
    );
    assert_eq!(stored.version.activated_at, Some(now));
    assert!(matches!(
        store.delete_plugin_version("item", "1.1.0", "a", now),
        Err(StorageError::Conflict(m)) if m.contains("is active")
    ));
    store
        .delete_plugin_version("item", "1.0.0", "a", now)
        .unwrap();
    assert_eq!(store.plugin_version("item", "1.0.0").unwrap(), None);
    assert_eq!(
        store.versions_ever_active("item").unwrap().len(),
        2,
        "a deleted version still counts as served"
    );
    assert!(matches!(
        store.stored_plugin("item", "9.9.9"),
        Err(StorageError::NotFound(_))
    ));
    audit_count(&*store);
}

pub(crate) fn evaluations_and_shadow_inputs_keep_the_newest(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store.record_evaluation(&evaluation(1, "a")).unwrap();
    store.record_evaluation(&evaluation(2, "b")).unwrap();
    let all = store.recent_evaluations(None, 10).unwrap();
    assert_eq!(
        all.iter().map(|e| e.plugin.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    let only_a = store.recent_evaluations(Some("a"), 10).unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].input, serde_json::json!({"n": 1}));
    assert_eq!(only_a[0].kind, PluginKind::BreakerCondition);
    for n in 0..5 {
        store
            .record_shadow_input("expression", &serde_json::json!({"n": n}), 3, at(n))
            .unwrap();
    }
    let kept = store.shadow_inputs("expression", 10).unwrap();
    assert_eq!(
        kept.iter()
            .map(|r| r.input["n"].as_i64())
            .collect::<Vec<_>>(),
        [Some(4), Some(3), Some(2)]
    );
}

pub(crate) fn a_signature_stays_with_its_version_and_deleted_versions_still_count_as_served(
    factory: &dyn StoreFactory,
) {
    let store = initialized(factory);
    let signature = StoredSignature {
        json: "{\"format\":\"x\"}".into(),
        public_key: "key-a".into(),
    };
    let mut signed = plugin_version("1.0.0", "aa");
    signed.signer = Some("alice".into());
    store
        .store_plugin_version(&signed, "m1", b"one", Some(&signature), "plugin.upload")
        .unwrap();
    store
        .store_plugin_version(
            &plugin_version("2.0.0", "bb"),
            "m2",
            b"two",
            None,
            "plugin.upload",
        )
        .unwrap();
    assert_eq!(
        store
            .stored_plugin("item", "1.0.0")
            .unwrap()
            .signature
            .as_deref(),
        Some(signature.json.as_str())
    );
    assert_eq!(
        store.stored_plugin("item", "2.0.0").unwrap().signature,
        None
    );

    let again = StoredSignature {
        json: "{\"format\":\"y\"}".into(),
        public_key: "key-b".into(),
    };
    store
        .set_plugin_signature("item", "2.0.0", "bob", &again, "admin", at(3))
        .unwrap();
    let stored = store.stored_plugin("item", "2.0.0").unwrap();
    assert_eq!(stored.signature.as_deref(), Some(again.json.as_str()));
    assert_eq!(stored.version.signer.as_deref(), Some("bob"));
    assert!(matches!(
        store.set_plugin_signature("item", "9.0.0", "bob", &again, "admin", at(3)),
        Err(StorageError::NotFound(_))
    ));

    let now = at(4);
    store
        .activate_plugin_version(
            "item",
            "2.0.0",
            ActivationKind::Upload,
            false,
            None,
            "a",
            now,
        )
        .unwrap();
    store
        .activate_plugin_version(
            "item",
            "1.0.0",
            ActivationKind::Activate,
            true,
            Some("2.0.0"),
            "a",
            now,
        )
        .unwrap();
    store
        .delete_plugin_version("item", "2.0.0", "a", now)
        .unwrap();
    assert_eq!(
        store.versions_ever_active("item").unwrap(),
        ["2.0.0", "1.0.0"]
    );
    assert!(store.versions_ever_active("other").unwrap().is_empty());
    let actions: Vec<String> = store
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"plugin.downgrade".to_string()));
    assert!(actions.contains(&"plugin.signature_added".to_string()));
    audit_count(&*store);
}

// ---- retention and health ---------------------------------------------

pub(crate) fn retention_prunes_old_rows_and_never_the_audit_log(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .set_emergency_stop(true, "ops", "drill", at(0))
        .unwrap();
    let audited = audit_count(&*store);
    let mut old: Vec<_> = (0..5)
        .map(|i| decision(i, "SET_FAN", Decision::Autonomous))
        .collect();
    store.append_decisions(&mut old).unwrap();
    store
        .append_decisions(&mut [decision(1_000_000, "SET_FAN", Decision::Autonomous)])
        .unwrap();
    let mut pruned = 0;
    loop {
        let n = store.prune_batch(Kept::Decisions, at(500_000), 2).unwrap();
        assert!(n <= 2);
        pruned += n;
        if n < 2 {
            break;
        }
    }
    assert_eq!(pruned, 5);
    assert_eq!(store.decisions(10, None, None, None).unwrap().len(), 1);
    // Totals are counters: pruning the rows does not lower them.
    assert!(store
        .decision_totals()
        .unwrap()
        .contains(&(Decision::Autonomous, 6)));
    for what in Kept::ALL {
        store.prune_batch(what, at(10_000_000), 1_000).unwrap();
    }
    assert_eq!(audit_count(&*store), audited);
    assert!(store.commands_horizon().unwrap().is_some());
}

pub(crate) fn the_store_reports_itself_writable(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store.check_writable().unwrap();
    assert!(store.schema_version().unwrap() > 0);
    // Checking writes nothing a reader can see.
    assert_eq!(audit_count(&*store), 1);
}

// ---- races between callers and replicas, and exact reads ----------------

/// Runs `work(i)` on `callers` threads released together, each on one of
/// two handles to the same store (two replicas, where the backend has
/// them), and returns their results in caller order.
fn race<T: Send + 'static>(
    factory: &dyn StoreFactory,
    first: Arc<dyn Store>,
    callers: usize,
    work: impl Fn(&dyn Store, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let handles = [first, factory.open()];
    let barrier = Arc::new(Barrier::new(callers));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..callers)
        .map(|i| {
            let store = handles[i % 2].clone();
            let barrier = barrier.clone();
            let work = work.clone();
            std::thread::spawn(move || {
                barrier.wait();
                work(&*store, i)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a caller panicked"))
        .collect()
}

fn audited_actions(store: &dyn Store, action: &str) -> usize {
    store
        .audit_entries(1_000)
        .unwrap()
        .iter()
        .filter(|e| e.action == action)
        .count()
}

pub(crate) fn replicas_starting_together_ensure_the_admin_token_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let minted = race(factory, store.clone(), 6, |store, i| {
        store
            .ensure_admin_token("bootstrap", "h-admin", at(i as i64))
            .unwrap()
    });
    assert_eq!(minted.iter().filter(|m| **m).count(), 1, "{minted:?}");
    assert_eq!(store.tokens().unwrap().len(), 1);
    assert_eq!(audited_actions(&*store, "token.create"), 1);
    audit_count(&*store);
}

pub(crate) fn racing_revocations_revoke_a_token_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let token = store
        .create_token(&token_request("ci", None), "hash-ci", "admin", at(1))
        .unwrap();
    let id = token.id;
    let outcomes = race(factory, store.clone(), 6, move |store, i| {
        store.revoke_token(id, "admin", at(10 + i as i64))
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    for outcome in &outcomes {
        match outcome {
            Ok(revoked) => assert!(revoked.revoked_at.is_some()),
            Err(StorageError::Conflict(m)) => {
                assert_eq!(m, &format!("token {id} is already revoked"))
            }
            Err(e) => panic!("a revocation failed: {e:?}"),
        }
    }
    assert_eq!(store.token_by_hash("hash-ci").unwrap(), None);
    assert_eq!(audited_actions(&*store, "token.revoke"), 1);
    audit_count(&*store);
}

pub(crate) fn racing_proposals_leave_one_pending(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let outcomes = race(factory, store.clone(), 6, |store, _| {
        let mut p = proposal(Phase::L3, Phase::L3Plus, vec![Role::TechLead]);
        store.create_proposal(&mut p, "cycle").map(|()| p)
    });
    let created: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(created.len(), 1);
    for outcome in &outcomes {
        if let Err(e) = outcome {
            // The same refusal, word for word, on every backend.
            assert!(
                matches!(e, StorageError::Conflict(m) if m == "a proposal is already pending"),
                "{e:?}"
            );
        }
    }
    assert_eq!(store.proposals(false).unwrap(), vec![created[0].clone()]);
    assert_eq!(audited_actions(&*store, "proposal.create"), 1);
    audit_count(&*store);
}

pub(crate) fn racing_ingests_count_each_command_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    const CALLERS: usize = 6;
    // Every caller reports the same 40 shared commands, in its own order,
    // and 10 of its own.
    let accepted = race(factory, store.clone(), CALLERS, |store, i| {
        let mut batch: Vec<_> = (0..40)
            .map(|n| {
                let status = CommandStatus::ALL[n % 4];
                command(&format!("shared-{}", (n + i * 7) % 40), status)
            })
            .collect();
        batch.extend((0..10).map(|n| command(&format!("own-{i}-{n}"), CommandStatus::Failed)));
        let ingested = store.insert_commands(&batch, at(20)).unwrap();
        assert_eq!(ingested.accepted + ingested.duplicates, 50);
        ingested.accepted
    });
    let unique = 40 + 10 * CALLERS as u64;
    assert_eq!(accepted.iter().sum::<u64>(), unique);
    assert_eq!(store.command_totals().unwrap().total(), unique);
    assert_eq!(store.command_tally(at(0), at(100)).unwrap().total(), unique);
}

pub(crate) fn the_first_of_repeated_ids_in_a_batch_is_kept(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let ingested = store
        .insert_commands(
            &[
                command("c1", CommandStatus::Failed),
                command("c2", CommandStatus::Succeeded),
                command("c1", CommandStatus::Succeeded),
            ],
            at(20),
        )
        .unwrap();
    assert_eq!((ingested.accepted, ingested.duplicates), (2, 1));
    let totals = store.command_totals().unwrap();
    assert_eq!((totals.succeeded, totals.failed), (1, 1));
    assert_eq!(store.succeeded_commands_of(&["SET_FAN"]).unwrap(), 1);
    // A type named twice is counted twice, as the sum over the names.
    assert_eq!(
        store
            .succeeded_commands_of(&["SET_FAN", "SET_FAN", "NONE"])
            .unwrap(),
        2
    );
    let empty = store.insert_commands(&[], at(21)).unwrap();
    assert_eq!((empty.accepted, empty.duplicates, empty.expired), (0, 0, 0));
}

/// Both backends hand the breaker window the same durations: those of the
/// commands in `[start, end)` that reported one, so the domain computes the
/// same percentiles on each.
pub(crate) fn command_durations_are_the_windows_reported_durations(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let timed = |id: &str, offset: i64, duration_ms: Option<u64>| CommandRecord {
        created_at: Some(at(offset)),
        duration_ms,
        ..command(id, CommandStatus::Succeeded)
    };
    let batch = [
        timed("before", 99, Some(9_999)),
        timed("first", 100, Some(3_000)),
        timed("untimed", 150, None),
        timed("zero", 160, Some(0)),
        timed("big", 170, Some(i64::MAX as u64)),
        timed("last", 199, Some(40)),
        timed("at-end", 200, Some(7_777)),
    ];
    assert_eq!(store.insert_commands(&batch, at(0)).unwrap().accepted, 7);
    let mut durations = store.command_durations(at(100), at(200)).unwrap();
    durations.sort_unstable();
    assert_eq!(durations, [0, 40, 3_000, i64::MAX as u64]);
    let window = crate::domain::metrics::DurationPercentiles::of(durations);
    assert_eq!(window.p50, Some(40.0));
    assert_eq!(window.p95, Some(i64::MAX as f64));
    // Commands in the window but none with a duration: no latency figures.
    assert!(store
        .command_durations(at(150), at(151))
        .unwrap()
        .is_empty());
    assert!(store
        .command_durations(at(300), at(400))
        .unwrap()
        .is_empty());
}

pub(crate) fn command_tallies_agree_with_a_scan(factory: &dyn StoreFactory) {
    const HOUR: i64 = 3_600_000;
    let store = initialized(factory);
    let base = 10 * HOUR;
    let batch: Vec<_> = (0..300i64)
        .map(|i| CommandRecord {
            id: format!("c{i}"),
            command_type: if i % 3 == 0 { "ABORT" } else { "SET_FAN" }.into(),
            status: CommandStatus::ALL[(i % 4) as usize],
            required_approval: i % 5 == 0,
            autonomous: true,
            created_at: Some(Timestamp(base + i * 61_000)),
            duration_ms: Some(i as u64),
            error: None,
        })
        .collect();
    assert_eq!(
        store
            .insert_commands(&batch, Timestamp(base))
            .unwrap()
            .accepted,
        300
    );
    let scan = |from: i64, to: i64| {
        let mut tally = crate::domain::metrics::CommandTally::default();
        for c in &batch {
            if (from..to).contains(&c.created_at.unwrap().millis()) {
                tally.add(c.status, c.required_approval, 1);
            }
        }
        tally
    };
    // Ragged edges, whole hours, within one hour, and before everything.
    for (from, to) in [
        (base + 1_234, base + 4 * HOUR - 77),
        (base, base + 6 * HOUR),
        (base + 100_000, base + 900_000),
        (0, base),
    ] {
        assert_eq!(
            store.command_tally(Timestamp(from), Timestamp(to)).unwrap(),
            scan(from, to),
            "{from}..{to}"
        );
    }
    assert_eq!(store.command_totals().unwrap(), scan(i64::MIN, i64::MAX));
    let failed = store
        .failed_command_types(Timestamp(base), Timestamp(base + 6 * HOUR))
        .unwrap();
    // Sorted by bytes, as text is on every backend: uppercase first.
    assert_eq!(failed, ["ABORT", "SET_FAN"]);
}

pub(crate) fn text_keys_sort_by_bytes(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    for (i, name) in ["b", "B", "a", "_x", "a1", "A-1"].into_iter().enumerate() {
        store.set_gauge(name, i as f64, at(i as i64)).unwrap();
    }
    let names: Vec<_> = store
        .gauges()
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["A-1", "B", "_x", "a", "a1", "b"]);
}

pub(crate) fn reports_assessments_and_snapshots_round_trip(factory: &dyn StoreFactory) {
    use crate::domain::governance::{
        BreakerEventCounts, CycleDecision, GovernanceReport, ReportReadiness,
    };
    use crate::domain::metrics::{CommandTally, IncidentCounts, MetricsReport};
    use crate::domain::readiness::{Assessment, ReadinessReport, ReadinessStatus};

    let store = initialized(factory);
    assert_eq!(store.latest_snapshot().unwrap(), None);
    assert_eq!(store.latest_assessment().unwrap(), None);
    assert!(store.reports(10).unwrap().is_empty());
    assert!(matches!(store.report(4242), Err(StorageError::NotFound(_))));

    let metrics = MetricsReport::new(
        at(0),
        at(100),
        &CommandTally::default(),
        IncidentCounts::default(),
        0,
    );
    let first = store.store_snapshot(&metrics, at(100)).unwrap();
    let second = store.store_snapshot(&metrics, at(200)).unwrap();
    assert!(second > first);
    assert_eq!(store.latest_snapshot().unwrap(), Some(metrics.clone()));

    let mut assessment = ReadinessReport::new(at(5), Phase::L3, &Assessment::from_items(vec![]));
    store.store_assessment(&mut assessment).unwrap();
    assert!(assessment.id > 0);
    assert_eq!(store.latest_assessment().unwrap(), Some(assessment.clone()));

    let audited = audit_count(&*store);
    let report = |offset: i64| GovernanceReport {
        id: 0,
        period_start: at(0),
        period_end: at(offset),
        generated_at: at(offset),
        phase: Phase::L3,
        metrics: metrics.clone(),
        readiness: ReportReadiness {
            score: 0,
            max_score: 0,
            percentage: 0.0,
            status: ReadinessStatus::NeedsWork,
            blockers: vec![],
        },
        breaker_events: BreakerEventCounts {
            total: 0,
            unresolved: 0,
        },
        decision: CycleDecision {
            proposal_created: false,
            proposal_id: None,
            reasons: vec!["not ready".into()],
        },
    };
    let mut older = report(300);
    let mut newer = report(400);
    store.store_report(&mut older, "cycle").unwrap();
    store.store_report(&mut newer, "cycle").unwrap();
    assert!(newer.id > older.id);
    assert_eq!(store.report(older.id).unwrap(), older);
    assert_eq!(store.reports(10).unwrap(), vec![newer.clone(), older]);
    assert_eq!(store.reports(1).unwrap(), vec![newer]);
    assert_eq!(store.state().unwrap().last_report_at, Some(at(400)));
    assert_eq!(audit_count(&*store), audited + 2);
}

pub(crate) fn incidents_count_by_window_and_severity(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    for (offset, severity, autonomous) in [
        (10, Severity::Critical, true),
        (10, Severity::Critical, false),
        (20, Severity::Low, true),
        (30, Severity::Critical, true),
        (90, Severity::High, false),
    ] {
        store
            .insert_incident(
                &NewIncident {
                    severity,
                    autonomous,
                    command_type: None,
                    description: format!("at {offset}"),
                    occurred_at: Some(at(offset)),
                },
                "qa",
                at(100),
            )
            .unwrap();
    }
    let (counts, critical_autonomous) = store.incident_counts(at(10), at(90)).unwrap();
    assert_eq!((counts.critical, counts.low, counts.high), (3, 1, 0));
    assert_eq!(critical_autonomous, 2);
    let (all, autonomous) = store.incident_totals().unwrap();
    assert_eq!(all.high, 1);
    assert_eq!(autonomous, 3);
    // Oldest first, ties in the order they were reported.
    let since: Vec<_> = store
        .incidents_since(at(10))
        .unwrap()
        .into_iter()
        .map(|i| (i.occurred_at, i.autonomous))
        .collect();
    assert_eq!(
        since,
        [
            (at(10), true),
            (at(10), false),
            (at(20), true),
            (at(30), true),
            (at(90), false)
        ]
    );
    // Newest first, ties newest reported first.
    let recent: Vec<_> = store
        .recent_incidents(3)
        .unwrap()
        .into_iter()
        .map(|i| i.description)
        .collect();
    assert_eq!(recent, ["at 90", "at 30", "at 20"]);
    let ties: Vec<_> = store
        .recent_incidents(10)
        .unwrap()
        .into_iter()
        .filter(|i| i.occurred_at == at(10))
        .map(|i| i.autonomous)
        .collect();
    assert_eq!(ties, [false, true]);
}

// ---- webhook delivery claims ------------------------------------------

pub(crate) fn a_pending_action_is_claimed_by_one_holder_at_a_time(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let event = NewEvent {
        engine: "qa".into(),
        event_type: "regression".into(),
        severity: Severity::Critical,
        details: None,
        occurred_at: Some(at(1)),
    };
    const ACTIONS: usize = 20;
    let ids: Vec<i64> = (0..ACTIONS)
        .map(|i| {
            let (_, action) = store
                .insert_event(
                    &event,
                    "qa",
                    Some(("notify", DeliveryStatus::Pending)),
                    at(2 + i as i64),
                )
                .unwrap();
            action.unwrap().id
        })
        .collect();
    // Settled, so never claimed.
    store
        .insert_event(
            &event,
            "qa",
            Some(("notify", DeliveryStatus::NotConfigured)),
            at(50),
        )
        .unwrap();
    let audited = audit_count(&*store);

    // Holders claiming side by side, a few at a time, until none is left.
    const HOLDERS: usize = 4;
    const TTL: u64 = 60_000;
    let barrier = Arc::new(Barrier::new(HOLDERS));
    let handles: Vec<_> = (0..HOLDERS)
        .map(|h| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .claim_pending_actions(&format!("replica-{h}"), 3, TTL, at(100))
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    assert!(claimed.windows(2).all(|w| w[0].id < w[1].id));
                    assert!(claimed
                        .iter()
                        .all(|a| a.delivery == DeliveryStatus::Pending));
                    mine.extend(claimed.iter().map(|a| a.id));
                }
            })
        })
        .collect();
    let by_holder: Vec<Vec<i64>> = handles
        .into_iter()
        .map(|h| h.join().expect("a claimer panicked"))
        .collect();
    let mut claimed: Vec<i64> = by_holder.concat();
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "every pending action claimed exactly once");

    // A held claim keeps everyone else out until it lapses; its holder
    // renews it.
    let (holder, first) = by_holder
        .iter()
        .enumerate()
        .find_map(|(h, mine)| mine.first().map(|id| (format!("replica-{h}"), *id)))
        .unwrap();
    assert!(store
        .claim_pending_actions("late", 100, TTL, at(101))
        .unwrap()
        .is_empty());
    assert!(!store.claim_action(first, "late", TTL, at(101)).unwrap());
    assert!(store.claim_action(first, &holder, TTL, at(102)).unwrap());

    // Lapsed claims (a holder that died) are taken again, each once.
    let lapsed = at(100 + TTL as i64);
    assert!(
        !store.claim_action(first, "heir", TTL, lapsed).unwrap(),
        "renewed"
    );
    let retaken: Vec<i64> = store
        .claim_pending_actions("heir", 100, TTL, lapsed)
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        retaken,
        ids[..]
            .iter()
            .copied()
            .filter(|id| *id != first)
            .collect::<Vec<_>>()
    );
    assert!(store
        .claim_action(first, "heir", TTL, at(102 + TTL as i64))
        .unwrap());
    assert!(!store
        .claim_action(first, &holder, TTL, at(103 + TTL as i64))
        .unwrap());

    // A settled action is nobody's to claim.
    store
        .record_delivery(first, DeliveryStatus::Delivered, None, at(200_000))
        .unwrap();
    assert!(!store.claim_action(first, "heir", TTL, at(200_001)).unwrap());
    assert!(store
        .claim_pending_actions("other", 100, TTL, at(10 * TTL as i64))
        .unwrap()
        .iter()
        .all(|a| a.id != first));
    assert_eq!(store.pending_actions().unwrap().len(), ACTIONS - 1);
    // Claims are bookkeeping, not changes: nothing is audited.
    assert_eq!(audit_count(&*store), audited);
}

pub(crate) fn command_tallies_survive_pruning_the_raw_commands(factory: &dyn StoreFactory) {
    const HOUR: i64 = 3_600_000;
    let store = initialized(factory);
    let base = 10 * HOUR;
    let batch: Vec<_> = (0..100i64)
        .map(|i| CommandRecord {
            id: format!("c{i}"),
            command_type: "SET_FAN".into(),
            status: CommandStatus::ALL[(i % 4) as usize],
            required_approval: i % 3 == 0,
            autonomous: true,
            created_at: Some(Timestamp(base + i * 179_000)),
            duration_ms: None,
            error: None,
        })
        .collect();
    store.insert_commands(&batch, Timestamp(base)).unwrap();
    let windows = [
        (base, base + 5 * HOUR),
        (base, base + 2 * HOUR),
        (base + 3 * HOUR + 1_234, base + 5 * HOUR),
    ];
    let tally =
        |(from, to): (i64, i64)| store.command_tally(Timestamp(from), Timestamp(to)).unwrap();
    let before: Vec<_> = windows.into_iter().map(tally).collect();
    let totals = store.command_totals().unwrap();
    // A cutoff mid-hour prunes whole hours only.
    while store
        .prune_batch(Kept::Commands, Timestamp(base + 2 * HOUR + 1_800_000), 7)
        .unwrap()
        > 0
    {}
    assert_eq!(
        store.commands_horizon().unwrap(),
        Some(Timestamp(base + 2 * HOUR))
    );
    let after: Vec<_> = windows.into_iter().map(tally).collect();
    assert_eq!(after, before);
    assert_eq!(store.command_totals().unwrap(), totals);
    // A command from before the horizon is neither stored nor counted
    // again, whether it was pruned or never seen.
    let late = store
        .insert_commands(
            &[
                batch[0].clone(),
                CommandRecord {
                    id: "new-but-old".into(),
                    ..batch[1].clone()
                },
            ],
            Timestamp(base + 6 * HOUR),
        )
        .unwrap();
    assert_eq!((late.accepted, late.duplicates, late.expired), (0, 0, 2));
    assert_eq!(store.command_totals().unwrap(), totals);
}

// ---- plugins and agents under concurrency -------------------------------

/// Callers on two handles (replicas, where the backend has them)
/// activating versions of one plugin at once: each activation is
/// serialized, so exactly one version ends active and each activation
/// names the one it replaced.
pub(crate) fn concurrent_activations_leave_one_version_active(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    const CALLERS: usize = 6;
    let versions: Vec<String> = (0..CALLERS).map(|i| format!("1.{i}.0")).collect();
    for (i, v) in versions.iter().enumerate() {
        store
            .store_plugin_version(
                &plugin_version(v, &format!("sha{i}")),
                "m",
                b"bytes",
                None,
                "plugin.upload",
            )
            .unwrap();
    }
    let audited = audit_count(&*store);
    let results = race(factory, store.clone(), CALLERS, |store, i| {
        let version = format!("1.{i}.0");
        let previous = store
            .activate_plugin_version(
                "item",
                &version,
                ActivationKind::Activate,
                false,
                None,
                "a",
                at(10),
            )
            .unwrap();
        (version, previous)
    });
    let active: Vec<_> = store
        .plugin_versions("item")
        .unwrap()
        .into_iter()
        .filter(|v| v.status == VersionStatus::Active)
        .map(|v| v.version)
        .collect();
    assert_eq!(active.len(), 1, "one active version: {active:?}");
    assert_eq!(
        store.active_plugin_versions().unwrap(),
        [("item".to_string(), active[0].clone())]
    );
    // The activations form one chain: the first replaced nothing, every
    // other replaced a distinct version, and the last is the one active.
    assert_eq!(results.iter().filter(|(_, p)| p.is_none()).count(), 1);
    let mut replaced: Vec<String> = results.iter().filter_map(|(_, p)| p.clone()).collect();
    replaced.sort();
    replaced.dedup();
    assert_eq!(replaced.len(), CALLERS - 1);
    assert!(!replaced.contains(&active[0]));
    let last = results
        .iter()
        .find(|(v, _)| *v == active[0])
        .and_then(|(_, p)| p.clone());
    assert_eq!(store.rollback_target("item").unwrap(), last);
    assert_eq!(audited_actions(&*store, "plugin.activate"), CALLERS);
    assert_eq!(audit_count(&*store), audited + CALLERS as u64);
}

pub(crate) fn a_blob_shared_by_two_versions_survives_deleting_one(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    for v in ["1.0.0", "1.1.0"] {
        store
            .store_plugin_version(
                &plugin_version(v, "same"),
                "m",
                b"shared",
                None,
                "plugin.upload",
            )
            .unwrap();
    }
    store
        .delete_plugin_version("item", "1.0.0", "a", at(1))
        .unwrap();
    assert_eq!(
        store.stored_plugin("item", "1.1.0").unwrap().bytes,
        b"shared"
    );
    assert!(matches!(
        store.stored_plugin("item", "1.0.0"),
        Err(StorageError::NotFound(_))
    ));
    // Once no version refers to them, the bytes are gone: a later upload
    // under the same digest stores its own.
    store
        .delete_plugin_version("item", "1.1.0", "a", at(2))
        .unwrap();
    store
        .store_plugin_version(
            &plugin_version("1.2.0", "same"),
            "m",
            b"fresh",
            None,
            "plugin.upload",
        )
        .unwrap();
    assert_eq!(
        store.stored_plugin("item", "1.2.0").unwrap().bytes,
        b"fresh"
    );
    audit_count(&*store);
}

pub(crate) fn a_rejection_never_hides_a_stored_version(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .store_plugin_version(
            &plugin_version("1.0.0", "aa"),
            "m",
            b"one",
            None,
            "plugin.upload",
        )
        .unwrap();
    let mut bad_retry = plugin_version("1.0.0", "zz");
    bad_retry.rejection = Some("fixtures: nope".into());
    store.record_rejection(&bad_retry, "m", "fixtures").unwrap();
    let kept = store.plugin_version("item", "1.0.0").unwrap().unwrap();
    assert_eq!(
        (kept.status, kept.sha256.as_str()),
        (VersionStatus::Inactive, "aa")
    );

    let mut rejected = plugin_version("2.0.0", "yy");
    rejected.rejection = Some("world: nope".into());
    store.record_rejection(&rejected, "m", "world").unwrap();
    assert_eq!(
        store
            .plugin_version("item", "2.0.0")
            .unwrap()
            .unwrap()
            .status,
        VersionStatus::Rejected
    );
    assert!(matches!(
        store.stored_plugin("item", "2.0.0"),
        Err(StorageError::Conflict(m)) if m.contains("world: nope")
    ));
    assert!(matches!(
        store.activate_plugin_version(
            "item",
            "2.0.0",
            ActivationKind::Activate,
            false,
            None,
            "a",
            at(1)
        ),
        Err(StorageError::Conflict(_))
    ));
    // A retry of the rejected version replaces the rejection, and is the
    // newest upload.
    store
        .store_plugin_version(
            &plugin_version("2.0.0", "yy"),
            "m",
            b"two",
            None,
            "plugin.upload",
        )
        .unwrap();
    let versions = store.plugin_versions("item").unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version.as_str(), v.status))
            .collect::<Vec<_>>(),
        [
            ("2.0.0", VersionStatus::Inactive),
            ("1.0.0", VersionStatus::Inactive)
        ]
    );
    assert_eq!(store.stored_plugin("item", "2.0.0").unwrap().bytes, b"two");
    let audit = store.audit_entries(100).unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "plugin.reject").count(),
        2
    );
    audit_count(&*store);
}

pub(crate) fn repeated_failures_trip_the_agent_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    store
        .register_agent(&new_agent("a1", 10.0), "admin", at(1))
        .unwrap();
    let escalation = Escalation {
        delivery: DeliveryStatus::NotConfigured,
    };
    let mut trips = 0;
    for n in 1..=4u32 {
        let (agent, action) = store
            .record_failure(
                "a1",
                Some("t1"),
                Some("timeout"),
                3,
                "a1",
                &escalation,
                at(1 + i64::from(n)),
            )
            .unwrap();
        assert_eq!(agent.breaker.failures, n);
        assert_eq!(agent.breaker.tripped, n >= 3);
        if let Some(action) = action {
            trips += 1;
            assert_eq!(action.agent_id.as_deref(), Some("a1"));
            assert_eq!(action.kind, "escalation");
            assert_eq!(
                agent.breaker.reason.as_deref(),
                Some(crate::domain::fleet::REPEATED_FAILURES)
            );
        }
    }
    assert_eq!(trips, 1);
    assert!(store.control().tripped_agents.contains("a1"));
    assert!(matches!(
        store.record_failure("ghost", None, None, 3, "ghost", &escalation, at(9)),
        Err(StorageError::NotFound(_))
    ));
    let reset = store.reset_agent("a1", 5.0, "ops", at(10)).unwrap();
    assert_eq!(reset.breaker.failures, 0);
    audit_count(&*store);
}

// ---- leases ---------------------------------------------------------------

pub(crate) fn a_lease_has_one_holder_until_it_expires(factory: &dyn StoreFactory) {
    let store = factory.open();
    let audited = store.audit_last().unwrap();
    // Replicas race for free leases: each goes to exactly one of them.
    const RACERS: usize = 6;
    for round in 0..4 {
        let name = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .acquire_lease(&name, &format!("replica-{i}"), 60_000)
                        .unwrap()
                })
            })
            .collect();
        let won: Vec<crate::storage::Lease> = racers
            .into_iter()
            .filter_map(|r| r.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "{name}: {won:?}");
    }

    let first = store.acquire_lease("checks", "a", 60_000).unwrap().unwrap();
    assert_eq!(first.holder, "a");
    assert_eq!(first.acquired_at, first.renewed_at);
    assert_eq!(
        first.expires_at.millis() - first.renewed_at.millis(),
        60_000
    );
    assert!(first.held_at(first.renewed_at));
    assert_eq!(store.acquire_lease("checks", "b", 60_000).unwrap(), None);
    // The holder renews: later expiry, same acquisition.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let renewed = store.acquire_lease("checks", "a", 60_000).unwrap().unwrap();
    assert_eq!(renewed.acquired_at, first.acquired_at);
    assert!(renewed.renewed_at > first.renewed_at, "{renewed:?}");
    assert!(renewed.expires_at > first.expires_at, "{renewed:?}");
    assert!(store.leases().unwrap().contains(&renewed));

    // A lease not renewed lapses, and then another takes it; the former
    // holder cannot renew it back.
    let short = store.acquire_lease("short", "a", 150).unwrap().unwrap();
    assert_eq!(store.acquire_lease("short", "b", 60_000).unwrap(), None);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let taken = store.acquire_lease("short", "b", 60_000).unwrap().unwrap();
    assert_eq!(taken.holder, "b");
    assert!(
        taken.acquired_at >= short.expires_at,
        "{taken:?} after {short:?}"
    );
    assert_eq!(store.acquire_lease("short", "a", 60_000).unwrap(), None);

    // Only the holder releases; a released lease is free at once, and
    // stays listed (expired) with its last holder until taken.
    store.release_lease("checks", "b").unwrap();
    assert_eq!(store.acquire_lease("checks", "b", 60_000).unwrap(), None);
    store.release_lease("checks", "a").unwrap();
    let released = store
        .leases()
        .unwrap()
        .into_iter()
        .find(|l| l.name == "checks")
        .unwrap();
    assert_eq!(released.holder, "a");
    assert!(released.expires_at < renewed.expires_at, "{released:?}");
    let next = store.acquire_lease("checks", "b", 60_000).unwrap().unwrap();
    assert_eq!(next.holder, "b");
    assert!(next.acquired_at > first.acquired_at);

    assert!(matches!(
        store.acquire_lease("checks", "b", 0),
        Err(StorageError::Invalid(_))
    ));
    // Leases are not governance: nothing is audited.
    assert_eq!(store.audit_last().unwrap(), audited);
}

// ---- a trip's action --------------------------------------------------

pub(crate) fn a_revert_trip_lowers_the_phase_and_cancels_proposals_in_its_change(
    factory: &dyn StoreFactory,
) {
    let store = factory.open();
    let whitelist = vec!["SET_FAN".to_string()];
    let raised = InitialState {
        phase: Phase::L3Plus,
        started_at: at(0),
        whitelist: &whitelist,
    };
    assert!(store
        .initialize(&BreakerRule::defaults(), Some(raised), at(0))
        .unwrap());
    let mut pending = proposal(Phase::L3Plus, Phase::L4, vec![Role::TechLead]);
    store.create_proposal(&mut pending, "cycle").unwrap();
    let audited = audit_count(&*store);
    let mut rule = BreakerRule::defaults()[0].clone();
    rule.action = BreakerAction::RevertToL3;
    let trip = store
        .record_trip(trip_of(&rule, 10, &["SET_FAN"]))
        .unwrap()
        .unwrap();
    assert!(
        trip.paused_command_types.is_empty(),
        "only a pause trip pauses"
    );
    let state = store.state().unwrap();
    assert_eq!(
        (state.phase, state.phase_started_at, state.whitelist.len()),
        (Phase::L3, at(10), 0)
    );
    assert_eq!(store.control().phase, Phase::L3);
    assert!(store.control().whitelist.is_empty());
    assert!(store.control().paused_command_types.is_empty());
    assert_eq!(
        store.proposal(pending.id).unwrap().status,
        ProposalStatus::Cancelled
    );
    let actions: Vec<String> = store
        .audit_entries(3)
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["breaker.trip", "phase.revert", "proposal.cancel"]);
    assert_eq!(audit_count(&*store), audited + 3);
}

// ---- console sessions -------------------------------------------------

fn new_session(hash: &str, principal: &str, token_id: Option<i64>, expires: i64) -> NewSession {
    NewSession {
        secret_hash: hash.into(),
        principal: principal.into(),
        kind: PrincipalKind::Person,
        roles: vec![Role::Operator],
        credential: if token_id.is_some() {
            SessionCredential::Token
        } else {
            SessionCredential::Oidc
        },
        token_id,
        agent: None,
        created_at: at(10),
        expires_at: at(expires),
    }
}

pub(crate) fn a_session_resolves_until_it_ends_expires_or_its_token_is_revoked(
    factory: &dyn StoreFactory,
) {
    let store = initialized(factory);
    let mut request = token_request("alice", None);
    request.roles = vec![Role::Operator];
    request.kind = PrincipalKind::Person;
    let token = store
        .create_token(&request, "hash-alice", "admin", at(1))
        .unwrap();
    let audited = audit_count(&*store);

    let by_token = store
        .create_session(&new_session("s-token", "alice", Some(token.id), 1_000))
        .unwrap();
    let by_idp = store
        .create_session(&new_session("s-oidc", "carol", None, 1_000))
        .unwrap();
    assert_ne!(by_token.id, by_idp.id);
    // Each start is audited, by the person who signed in.
    assert_eq!(audit_count(&*store), audited + 2);
    let starts = store.audit_entries(2).unwrap();
    assert!(starts.iter().all(|e| e.action == "session.start"));
    assert!(starts
        .iter()
        .any(|e| e.actor == "alice" && e.target == format!("session/{}", by_token.id)));
    // Neither the secret nor its hash reaches the audit log.
    assert!(starts
        .iter()
        .all(|e| !e.after.as_ref().unwrap().to_string().contains("s-token")));

    // A token session carries its token as it is now.
    let live = store.session_by_hash("s-token", at(500)).unwrap().unwrap();
    assert_eq!(live.token.as_ref().map(|t| t.id), Some(token.id));
    assert_eq!(live.principal, "alice");
    assert_eq!(live.roles, [Role::Operator]);
    let oidc = store.session_by_hash("s-oidc", at(500)).unwrap().unwrap();
    assert_eq!(oidc.credential, SessionCredential::Oidc);
    assert_eq!(oidc.token, None);
    assert_eq!(store.session_by_hash("nope", at(500)).unwrap(), None);

    // Expired at its expiry, not a millisecond later.
    assert_eq!(store.session_by_hash("s-oidc", at(1_000)).unwrap(), None);
    assert!(store.session_by_hash("s-oidc", at(999)).unwrap().is_some());

    // Revoking the token ends what it signed in, at once.
    store.revoke_token(token.id, "admin", at(600)).unwrap();
    assert_eq!(store.session_by_hash("s-token", at(601)).unwrap(), None);
    // ...and no new session can be started with it.
    assert!(matches!(
        store.create_session(&new_session("s-late", "alice", Some(token.id), 2_000)),
        Err(StorageError::Invalid(_))
    ));
    // A duplicate secret is refused, never shared.
    assert!(store
        .create_session(&new_session("s-oidc", "mallory", None, 2_000))
        .is_err());
}

pub(crate) fn a_session_ends_once_and_pruning_spares_live_ones(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    for (hash, expires) in [("ended", 10_000), ("expired", 100), ("live", 10_000)] {
        store
            .create_session(&new_session(hash, "dana", None, expires))
            .unwrap();
    }
    let audited = audit_count(&*store);
    let ended = store.end_session("ended", at(50)).unwrap();
    assert_eq!(ended.ended_at, Some(at(50)));
    assert_eq!(store.session_by_hash("ended", at(60)).unwrap(), None);
    let last = store.audit_entries(1).unwrap().remove(0);
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("session.end", "dana")
    );
    assert_eq!(audit_count(&*store), audited + 1);
    // Ending it again, or a session that never was, changes nothing.
    for hash in ["ended", "never"] {
        assert!(matches!(
            store.end_session(hash, at(70)),
            Err(StorageError::NotFound(_))
        ));
    }
    assert_eq!(audit_count(&*store), audited + 1);

    // Pruning at 200 takes the ended (50) and the expired (100) sessions,
    // one batch at a time, and never the live one or the audit log.
    assert_eq!(store.prune_sessions(at(200), 1).unwrap(), 1);
    assert_eq!(store.prune_sessions(at(200), 10).unwrap(), 1);
    assert_eq!(store.prune_sessions(at(200), 10).unwrap(), 0);
    assert_eq!(store.prune_batch(Kept::Sessions, at(200), 10).unwrap(), 0);
    assert!(store.session_by_hash("live", at(200)).unwrap().is_some());
    assert_eq!(audit_count(&*store), audited + 1);
    // Through retention, once it has expired too.
    assert_eq!(
        store.prune_batch(Kept::Sessions, at(20_000), 10).unwrap(),
        1
    );
}

fn claiming(offset_ms: i64, claims: &[Claim]) -> NewDecision {
    NewDecision {
        claims: claims.to_vec(),
        ..decision(offset_ms, "SET_FAN", Decision::Autonomous)
    }
}

pub(crate) fn budgets_are_audited_published_and_deleted_with_their_use(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let rate = RateBudget {
        key: BudgetKey::All,
        limit: 2,
        window: Window { millis: 60_000 },
    };
    assert_eq!(
        store
            .put_budget("fleet", &BudgetDef::Rate(rate.clone()), "oncall", at(1))
            .unwrap(),
        None
    );
    assert_eq!(
        store.control().budgets.rates,
        [("fleet".to_string(), rate.clone())]
    );
    let claim = rate_claim("fleet", &rate);
    store
        .append_decisions(&mut [claiming(2, std::slice::from_ref(&claim))])
        .unwrap();
    assert_eq!(
        store
            .budget_usage(std::slice::from_ref(&claim), at(3))
            .unwrap()[&claim.ledger]
            .used,
        1
    );
    // Seeding never overwrites what is stored.
    let other = BudgetDef::Rate(RateBudget {
        limit: 9,
        ..rate.clone()
    });
    assert!(!store.seed_budget("fleet", &other, at(4)).unwrap());
    assert!(store
        .seed_budget(
            "batch",
            &BudgetDef::Batch(BatchLimit {
                max_batch: Some(5),
                max_payload_bytes: None
            }),
            at(4)
        )
        .unwrap());
    assert_eq!(store.budgets().unwrap().len(), 2);
    assert_eq!(store.control().budgets.batches["batch"].max_batch, Some(5));

    let deleted = store
        .delete_budget(BudgetKind::Rate, "fleet", "oncall", at(5))
        .unwrap();
    assert_eq!(deleted, BudgetDef::Rate(rate.clone()));
    assert!(matches!(
        store.delete_budget(BudgetKind::Rate, "fleet", "oncall", at(6)),
        Err(StorageError::NotFound(_))
    ));
    assert!(store.control().budgets.rates.is_empty());
    // A budget made again under the name starts afresh.
    store
        .put_budget("fleet", &BudgetDef::Rate(rate), "oncall", at(7))
        .unwrap();
    assert_eq!(
        store
            .budget_usage(std::slice::from_ref(&claim), at(8))
            .unwrap()[&claim.ledger]
            .used,
        0
    );
    let mut entries = store.audit_entries(100).unwrap();
    entries.sort_by_key(|e| e.id);
    let actions: Vec<String> = entries
        .into_iter()
        .filter(|e| e.target.starts_with("budget:"))
        .map(|e| format!("{} {} {}", e.action, e.actor, e.target))
        .collect();
    assert_eq!(
        actions,
        [
            "budget.put oncall budget:rate:fleet",
            "budget.put config budget:batch:batch",
            "budget.delete oncall budget:rate:fleet",
            "budget.put oncall budget:rate:fleet",
        ]
    );
}

pub(crate) fn a_rate_budget_grants_exactly_its_limit_in_order(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let rate = RateBudget {
        key: BudgetKey::All,
        limit: 3,
        window: Window { millis: 60_000 },
    };
    let claim = rate_claim("fleet", &rate);
    let claims = std::slice::from_ref(&claim);
    let mut batch: Vec<NewDecision> = (0..5).map(|i| claiming(i, claims)).collect();
    // A decision that needs approval draws on nothing.
    batch.insert(
        1,
        NewDecision {
            claims: claims.to_vec(),
            ..decision(1, "OPEN_VALVE", Decision::RequiresApproval)
        },
    );
    let ids = store.append_decisions(&mut batch).unwrap();
    let outcomes: Vec<Decision> = batch.iter().map(|d| d.decision).collect();
    use Decision::*;
    assert_eq!(
        outcomes,
        [
            Autonomous,
            RequiresApproval,
            Autonomous,
            Autonomous,
            Denied,
            Denied
        ]
    );
    assert!(
        batch[4].reasons[0].contains("refills at"),
        "{:?}",
        batch[4].reasons
    );
    // Logged as settled.
    let logged = store.decisions(10, None, Some(Denied), None).unwrap();
    assert_eq!(
        logged.iter().map(|d| d.decision_id).collect::<Vec<_>>(),
        [ids[5], ids[4]]
    );
    assert_eq!(logged[0].reasons, batch[5].reasons);
    // A later batch finds the budget used; once the window has passed, it refills.
    let mut later = vec![claiming(10, claims)];
    store.append_decisions(&mut later).unwrap();
    assert_eq!(later[0].decision, Denied);
    let mut next_window = vec![claiming(60_000 + 2_000, claims)];
    store.append_decisions(&mut next_window).unwrap();
    assert_eq!(next_window[0].decision, Autonomous);
}

pub(crate) fn concurrency_leases_are_released_by_completion_or_expiry(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let budget = ConcurrencyBudget {
        key: BudgetKey::All,
        limit: 2,
        lease_ttl: Window { millis: 10_000 },
    };
    let claim = concurrency_claim("fleet", &budget);
    let claims = std::slice::from_ref(&claim);
    let mut batch: Vec<NewDecision> = (0..3).map(|i| claiming(i, claims)).collect();
    let ids = store.append_decisions(&mut batch).unwrap();
    assert_eq!(batch[2].decision, Decision::Denied);
    assert!(
        batch[2].reasons[0].contains("is full (2 of 2)"),
        "{:?}",
        batch[2].reasons
    );
    assert_eq!(
        store.decision_caller(ids[0]).unwrap(),
        Some(("agent".to_string(), Decision::Autonomous))
    );
    assert_eq!(store.decision_caller(ids[2] + 100).unwrap(), None);
    assert_eq!(store.release_leases(ids[0], at(5)).unwrap(), 1);
    assert_eq!(store.release_leases(ids[0], at(5)).unwrap(), 0);
    let mut again = vec![claiming(6, claims), claiming(7, claims)];
    store.append_decisions(&mut again).unwrap();
    assert_eq!(
        again.iter().map(|d| d.decision).collect::<Vec<_>>(),
        [Decision::Autonomous, Decision::Denied]
    );
    // Past the TTL every lease has lapsed, completed or not.
    assert_eq!(
        store.budget_usage(claims, at(10_010)).unwrap()[&claim.ledger].used,
        0
    );
    let mut late = vec![claiming(10_010, claims)];
    store.append_decisions(&mut late).unwrap();
    assert_eq!(late[0].decision, Decision::Autonomous);
}

pub(crate) fn a_throttle_follows_its_open_event(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let mut rule = BreakerRule::defaults().remove(0);
    rule.name = "slow".into();
    rule.action = BreakerAction::Throttle;
    rule.throttle = Some(ThrottleSpec {
        limit: 1,
        per: Window { millis: 60_000 },
        command_type: None,
    });
    store.insert_rule(&rule, "oncall", at(1)).unwrap();
    let mut event = trip_of(&rule, 2, &[]);
    event.throttle = rule.throttle.clone();
    let event = store.record_trip(event).unwrap().unwrap();
    let throttles = store.control().throttles.clone();
    assert_eq!(throttles.len(), 1);
    assert_eq!(throttles[0].rule_name, "slow");
    let claim = throttle_claim(&throttles[0]);
    let mut batch = vec![
        claiming(3, std::slice::from_ref(&claim)),
        claiming(4, std::slice::from_ref(&claim)),
    ];
    store.append_decisions(&mut batch).unwrap();
    assert_eq!(batch[1].decision, Decision::Throttled);
    assert_eq!(
        store
            .decisions(10, None, Some(Decision::Throttled), None)
            .unwrap()
            .len(),
        1
    );
    store
        .resolve_event(event.id, "oncall", "fixed", at(5))
        .unwrap();
    assert!(store.control().throttles.is_empty());
}

fn key_scope(caller: &str, route: &str, key: &str) -> IdempotencyScope {
    IdempotencyScope {
        caller: caller.into(),
        route: route.into(),
        key: key.into(),
    }
}

fn answer(body: &str) -> StoredAnswer {
    StoredAnswer {
        status: 201,
        body: body.into(),
    }
}

pub(crate) fn an_idempotency_key_is_claimed_once_then_replays_its_answer(
    factory: &dyn StoreFactory,
) {
    let store = initialized(factory);
    let audited = audit_count(&*store);
    let k = key_scope("token:bot", "POST /api/authorize", "k1");
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp", "c1", at(0), 60_000)
            .unwrap(),
        KeyClaim::Claimed
    );
    // While the first request works, the key is held, whatever the body.
    for fp in ["fp", "other"] {
        assert_eq!(
            store
                .claim_idempotency_key(&k, fp, "c2", at(10), 60_000)
                .unwrap(),
            KeyClaim::InProgress {
                fingerprint: "fp".into()
            }
        );
    }
    assert!(store
        .complete_idempotency_key(&k, "c1", &answer(r#"{"id":1}"#), at(100_000))
        .unwrap());
    // Answered once: a second completion changes nothing.
    assert!(!store
        .complete_idempotency_key(&k, "c1", &answer(r#"{"id":2}"#), at(100_000))
        .unwrap());
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp", "c3", at(20), 60_000)
            .unwrap(),
        KeyClaim::Answered {
            fingerprint: "fp".into(),
            answer: answer(r#"{"id":1}"#)
        }
    );
    // An answered key is not released by a late failure.
    assert!(!store.release_idempotency_key(&k, "c1").unwrap());
    // Bookkeeping: nothing audited.
    assert_eq!(audit_count(&*store), audited);
}

pub(crate) fn another_caller_or_route_has_keys_of_its_own(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let first = key_scope("token:a", "POST /api/authorize", "same");
    assert_eq!(
        store
            .claim_idempotency_key(&first, "fp", "c1", at(0), 60_000)
            .unwrap(),
        KeyClaim::Claimed
    );
    for other in [
        key_scope("token:b", "POST /api/authorize", "same"),
        key_scope("token:a", "POST /api/commands", "same"),
    ] {
        assert_eq!(
            store
                .claim_idempotency_key(&other, "fp", "c2", at(1), 60_000)
                .unwrap(),
            KeyClaim::Claimed,
            "{other:?}"
        );
    }
}

pub(crate) fn a_released_or_lapsed_claim_frees_its_key_for_the_next_request_only(
    factory: &dyn StoreFactory,
) {
    let store = initialized(factory);
    let k = key_scope("token:bot", "POST /api/agents/{id}/costs", "k");
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp", "c1", at(0), 100)
            .unwrap(),
        KeyClaim::Claimed
    );
    // Only the holder releases it.
    assert!(!store.release_idempotency_key(&k, "someone-else").unwrap());
    assert!(store.release_idempotency_key(&k, "c1").unwrap());
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp", "c2", at(1), 100)
            .unwrap(),
        KeyClaim::Claimed
    );
    // Held until its lease ends (at 101), then anyone's.
    assert!(matches!(
        store
            .claim_idempotency_key(&k, "fp", "c3", at(100), 100)
            .unwrap(),
        KeyClaim::InProgress { .. }
    ));
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp2", "c3", at(101), 100)
            .unwrap(),
        KeyClaim::Claimed
    );
    // The lapsed holder can neither answer nor release its successor's claim.
    assert!(!store
        .complete_idempotency_key(&k, "c2", &answer("{}"), at(10_000))
        .unwrap());
    assert!(!store.release_idempotency_key(&k, "c2").unwrap());
    assert!(store
        .complete_idempotency_key(&k, "c3", &answer(r#"{"by":"c3"}"#), at(10_000))
        .unwrap());
    assert_eq!(
        store
            .claim_idempotency_key(&k, "fp2", "c4", at(200), 100)
            .unwrap(),
        KeyClaim::Answered {
            fingerprint: "fp2".into(),
            answer: answer(r#"{"by":"c3"}"#)
        }
    );
}

pub(crate) fn an_expired_answer_frees_its_key_and_is_pruned(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    for key in ["old", "young"] {
        let k = key_scope("token:bot", "POST /api/authorize", key);
        store
            .claim_idempotency_key(&k, "fp", "c", at(0), 60_000)
            .unwrap();
        let expires = if key == "old" { at(1_000) } else { at(5_000) };
        assert!(store
            .complete_idempotency_key(&k, "c", &answer(key), expires)
            .unwrap());
    }
    // A claim abandoned without an answer expires with its lease.
    let orphan = key_scope("token:bot", "POST /api/authorize", "orphan");
    store
        .claim_idempotency_key(&orphan, "fp", "c", at(0), 500)
        .unwrap();
    let old = key_scope("token:bot", "POST /api/authorize", "old");
    assert!(matches!(
        store
            .claim_idempotency_key(&old, "fp", "c2", at(999), 60_000)
            .unwrap(),
        KeyClaim::Answered { .. }
    ));
    // Nothing has expired before 500.
    assert_eq!(store.prune_idempotency_keys(at(500), 10).unwrap(), 0);
    // By 1,001 the orphan (500) and the old answer (1,000) have, one batch
    // at a time; the young answer stays.
    assert_eq!(store.prune_idempotency_keys(at(1_001), 1).unwrap(), 1);
    assert_eq!(
        store
            .prune_batch(Kept::IdempotencyKeys, at(1_001), 10)
            .unwrap(),
        1
    );
    assert_eq!(store.prune_idempotency_keys(at(1_001), 10).unwrap(), 0);
    // Pruned, the old key is free again; the young one still answers.
    assert_eq!(
        store
            .claim_idempotency_key(&old, "new-body", "c3", at(1_002), 60_000)
            .unwrap(),
        KeyClaim::Claimed
    );
    let young = key_scope("token:bot", "POST /api/authorize", "young");
    assert!(matches!(
        store
            .claim_idempotency_key(&young, "fp", "c4", at(1_002), 60_000)
            .unwrap(),
        KeyClaim::Answered { .. }
    ));
    // Past its retention a key is free even before the pruner runs.
    assert_eq!(
        store
            .claim_idempotency_key(&young, "other", "c5", at(5_000), 60_000)
            .unwrap(),
        KeyClaim::Claimed
    );
}

pub(crate) fn racing_claims_of_one_key_claim_it_once(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    const CALLERS: usize = 8;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .claim_idempotency_key(
                        &key_scope("token:bot", "POST /api/authorize", "race"),
                        "fp",
                        &format!("c{i}"),
                        at(0),
                        60_000,
                    )
                    .unwrap()
            })
        })
        .collect();
    let claims: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("a claimer panicked"))
        .collect();
    let claimed = claims.iter().filter(|c| **c == KeyClaim::Claimed).count();
    assert_eq!(claimed, 1, "{claims:?}");
    assert!(claims
        .iter()
        .all(|c| matches!(c, KeyClaim::Claimed | KeyClaim::InProgress { .. })));
}

// ---- scopes ---------------------------------------------------------------

pub(crate) fn a_scope_is_revoked_stopped_and_resumed_once_each_audited(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    assert!(store.scopes().unwrap().is_empty());
    assert!(matches!(
        store.scope("portal:carrier"),
        Err(StorageError::NotFound(_))
    ));
    let audited = audit_count(&*store);

    // A revoke configures the scope and brakes it in the snapshot.
    let (revoked, changed) = store
        .set_scope_autonomy("portal:carrier", false, "olga", "bad week", at(1))
        .unwrap();
    assert!(changed && !revoked.autonomous && !revoked.stopped);
    assert_eq!(revoked.autonomy_by.as_deref(), Some("olga"));
    assert_eq!(revoked.autonomy_at, Some(at(1)));
    assert_eq!(store.scope("portal:carrier").unwrap(), revoked);
    let brakes = store
        .control()
        .scopes
        .get("portal:carrier")
        .cloned()
        .unwrap();
    assert_eq!(brakes.revoked.unwrap().reason, "bad week");
    assert!(brakes.stopped.is_none());
    assert_eq!(audit_count(&*store), audited + 1);
    // Revoking again changes nothing and audits nothing.
    let (again, changed) = store
        .set_scope_autonomy("portal:carrier", false, "ivan", "again", at(2))
        .unwrap();
    assert!(!changed);
    assert_eq!(again.autonomy_reason.as_deref(), Some("bad week"));
    assert_eq!(audit_count(&*store), audited + 1);
    // A grant lifts the brake: a granted scope is not in the snapshot.
    let (granted, changed) = store
        .set_scope_autonomy("portal:carrier", true, "olga", "fixed", at(3))
        .unwrap();
    assert!(changed && granted.autonomous);
    assert!(store.control().scopes.is_empty());

    // A stop of a scope nobody configured configures it, granted.
    let (stopped, changed) = store
        .set_scope_stop("website:seo", true, "ivan", "outage", at(4))
        .unwrap();
    assert!(changed && stopped.stopped && stopped.autonomous);
    assert_eq!(stopped.stopped_by.as_deref(), Some("ivan"));
    assert_eq!(stopped.autonomy_by, None);
    let brakes = store.control().scopes.get("website:seo").cloned().unwrap();
    assert_eq!(brakes.stopped.unwrap().by, "ivan");
    assert!(brakes.revoked.is_none());
    let (_, changed) = store
        .set_scope_stop("website:seo", true, "olga", "second", at(5))
        .unwrap();
    assert!(!changed);
    let (resumed, changed) = store
        .set_scope_stop("website:seo", false, "ivan", "back", at(6))
        .unwrap();
    assert!(changed && !resumed.stopped);
    assert_eq!(resumed.last_resumed_at, Some(at(6)));
    assert_eq!(resumed.stop_reason, None);
    assert!(store.control().scopes.is_empty());
    let audited_now = audit_count(&*store);
    assert_eq!(audited_now, audited + 4);
    // Resuming what runs, or a scope never configured, is a conflict.
    for scope in ["website:seo", "never:configured"] {
        assert!(matches!(
            store.set_scope_stop(scope, false, "ivan", "again", at(7)),
            Err(StorageError::Conflict(_))
        ));
    }
    assert_eq!(audit_count(&*store), audited_now);
    assert!(matches!(
        store.scope("never:configured"),
        Err(StorageError::NotFound(_))
    ));
    // Listed by name, byte order.
    assert_eq!(
        store
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.scope.as_str())
            .collect::<Vec<_>>(),
        ["portal:carrier", "website:seo"]
    );
    let actions: Vec<String> = store
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("scope."))
        .map(|e| format!("{} {}", e.action, e.target))
        .collect();
    for expected in [
        "scope.revoke scope:portal:carrier",
        "scope.grant scope:portal:carrier",
        "scope.stop scope:website:seo",
        "scope.resume scope:website:seo",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
}

pub(crate) fn decisions_keep_their_scope_and_filter_by_it(factory: &dyn StoreFactory) {
    let store = initialized(factory);
    let in_scope = |offset, scope: Option<&str>| NewDecision {
        scope: scope.map(String::from),
        ..decision(offset, "SET_FAN", Decision::Autonomous)
    };
    let ids = store
        .append_decisions(&mut [
            in_scope(1, Some("portal:carrier")),
            in_scope(2, None),
            in_scope(3, Some("website:seo")),
            in_scope(4, Some("portal:carrier")),
        ])
        .unwrap();
    let carrier = store
        .decisions(10, None, None, Some("portal:carrier"))
        .unwrap();
    assert_eq!(
        carrier.iter().map(|d| d.decision_id).collect::<Vec<_>>(),
        [ids[3], ids[0]]
    );
    assert!(carrier
        .iter()
        .all(|d| d.scope.as_deref() == Some("portal:carrier")));
    let all = store.decisions(10, None, None, None).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[2].scope, None);
}
