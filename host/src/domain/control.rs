//! The enforcement point: what an autonomous system may do right now, and
//! the brakes humans hold (the emergency stop, paused workflows).
//!
//! [`decide`] is a pure function of a [`ControlSnapshot`], so the hot path
//! needs no lock and no query: the store rebuilds the snapshot after every
//! committed change, and the next call sees it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::budget::{ActiveThrottle, Budgets, MAX_LIMIT, MAX_PAYLOAD_BYTES};
use super::scopes::ScopeBrakes;
use super::text::{check_id, TextError};
use super::{Phase, Timestamp};

/// Everything an authorization depends on, as of the last committed change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlSnapshot {
    pub phase: Phase,
    pub whitelist: HashSet<String>,
    /// Command types a breaker paused until its event is resolved.
    pub paused_command_types: HashSet<String>,
    pub emergency_stop: bool,
    pub paused_workflows: HashSet<String>,
    /// The agent of every workflow not completed, running or paused.
    pub workflow_agents: HashMap<String, String>,
    /// Agents whose own breaker is tripped (budget, failures, an operator).
    pub tripped_agents: HashSet<String>,
    /// The scopes with a brake on (revoked or stopped), by name. A scope
    /// not here decides as if the request named none (`domain::scopes`).
    pub scopes: HashMap<String, ScopeBrakes>,
    /// Set when the stored state could not be read: every call is denied.
    pub fault: Option<String>,
    /// Rate and concurrency budgets and batch limits in force.
    pub budgets: Budgets,
    /// Throttles of unresolved `throttle` breaker events.
    pub throttles: Vec<ActiveThrottle>,
}

impl ControlSnapshot {
    pub fn fault(message: String) -> Self {
        Self {
            fault: Some(message),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeRequest {
    #[schema(schema_with = super::text::id)]
    pub command_type: String,
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub workflow_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub agent_id: Option<String>,
    /// The area the command acts on, e.g. `portal:carrier` or
    /// `website:seo`: autonomy can be granted, revoked and stopped per
    /// scope, and budgets can be keyed by it.
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub scope: Option<String>,
    /// How many items the command carries, for command types with a batch
    /// limit (which deny a call that leaves it out).
    #[serde(default, deserialize_with = "super::metrics::whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub batch_size: Option<u64>,
    /// How many bytes the command carries, for command types with a
    /// payload limit (which deny a call that leaves it out).
    #[serde(default, deserialize_with = "super::metrics::whole_number")]
    #[schema(minimum = 0, maximum = 1_125_899_906_842_624_u64)]
    pub payload_bytes: Option<u64>,
}

impl AuthorizeRequest {
    pub fn check(&self) -> Result<(), ControlError> {
        check_id("commandType", &self.command_type)?;
        if let Some(s) = &self.scope {
            check_id("scope", s)?;
        }
        if self.batch_size.is_some_and(|n| n > u64::from(MAX_LIMIT)) {
            return Err(ControlError::OverMaximum {
                field: "batchSize",
                max: u64::from(MAX_LIMIT),
            });
        }
        if self.payload_bytes.is_some_and(|n| n > MAX_PAYLOAD_BYTES) {
            return Err(ControlError::OverMaximum {
                field: "payloadBytes",
                max: MAX_PAYLOAD_BYTES,
            });
        }
        if let Some(w) = &self.workflow_id {
            check_id("workflowId", w)?;
        }
        if let Some(a) = &self.agent_id {
            check_id("agentId", a)?;
        }
        Ok(())
    }
}

/// Why a request to the enforcement point or about a workflow was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("`agentId` is missing: say which agent runs the workflow")]
    MissingAgent,
    #[error("`name` must be 1 to 200 characters")]
    NameLength,
    #[error("`at` ({0}) is in the future")]
    StepInFuture(Timestamp),
    #[error("`detail` must be a JSON object")]
    DetailNotAnObject,
    #[error("`detail` is over 64 KiB of JSON")]
    DetailTooLarge,
    #[error("`{field}` must be at most {max}")]
    OverMaximum { field: &'static str, max: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Autonomous,
    RequiresApproval,
    Denied,
    /// Autonomy is slowed by a tripped breaker's throttle: retry after the
    /// reset the reasons give.
    Throttled,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Autonomous,
        Decision::RequiresApproval,
        Decision::Denied,
        Decision::Throttled,
    ];

    /// Its position in [`Decision::ALL`].
    pub fn index(self) -> usize {
        match self {
            Decision::Autonomous => 0,
            Decision::RequiresApproval => 1,
            Decision::Denied => 2,
            Decision::Throttled => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Autonomous => "autonomous",
            Decision::RequiresApproval => "requires_approval",
            Decision::Denied => "denied",
            Decision::Throttled => "throttled",
        }
    }
}

impl std::str::FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                format!("unknown decision `{s}` (expected autonomous, requires_approval, denied or throttled)")
            })
    }
}

/// A decision and every reason behind it. A denial lists every brake that
/// is on, so an operator releasing one can see whether another still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub reasons: Vec<String>,
}

/// Who asks, as far as the brakes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A token bound to the request's agent: the per-agent brakes hold
    /// whatever ids the body leaves out.
    Bound,
    /// A token bound to no agent: braked per agent only by the ids it names.
    Unbound,
}

impl ControlSnapshot {
    /// The paused workflows of `agent`, sorted.
    pub fn paused_workflows_of(&self, agent: &str) -> Vec<&str> {
        let mut paused: Vec<&str> = self
            .paused_workflows
            .iter()
            .filter(|w| self.workflow_agents.get(*w).is_some_and(|a| a == agent))
            .map(String::as_str)
            .collect();
        paused.sort_unstable();
        paused
    }
}

pub fn decide(snapshot: &ControlSnapshot, request: &AuthorizeRequest, binding: Binding) -> Verdict {
    let mut denials = Vec::new();
    if let Some(fault) = &snapshot.fault {
        denials.push(format!("the control state cannot be read ({fault})"));
    }
    if snapshot.emergency_stop {
        denials.push("the emergency stop is on".to_string());
    }
    // The request's scope, when it has a brake on; below the global stop.
    let scope = request
        .scope
        .as_deref()
        .and_then(|s| snapshot.scopes.get(s).map(|b| (s, b)));
    if let Some(d) = scope.and_then(|(s, b)| b.stop_denial(s)) {
        denials.push(d);
    }
    if let Some(w) = request
        .workflow_id
        .as_deref()
        .filter(|w| snapshot.paused_workflows.contains(*w))
    {
        denials.push(format!("workflow `{w}` is paused"));
    }
    if let Some(a) = request
        .agent_id
        .as_deref()
        .filter(|a| snapshot.tripped_agents.contains(*a))
    {
        denials.push(format!("agent `{a}`'s circuit breaker is tripped"));
    }
    if let (Binding::Bound, Some(agent)) = (binding, request.agent_id.as_deref()) {
        // A bound agent cannot step around a pause by naming no workflow,
        // or one that is not its own (its own paused one is denied above).
        let names_its_own_workflow = request
            .workflow_id
            .as_deref()
            .is_some_and(|w| snapshot.workflow_agents.get(w).is_some_and(|a| a == agent));
        let paused = snapshot.paused_workflows_of(agent);
        if !names_its_own_workflow && !paused.is_empty() {
            denials.push(format!(
                "agent `{agent}` has paused workflow(s) {}; a call that names none of its running workflows is held by the pause",
                paused
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if let Some(limit) = snapshot.budgets.batches.get(&request.command_type) {
        denials.extend(limit.refusals(
            &request.command_type,
            request.batch_size,
            request.payload_bytes,
        ));
    }
    if !denials.is_empty() {
        // A revoke holds too: named so that lifting the others is not
        // taken for a return to autonomy.
        denials.extend(scope.and_then(|(s, b)| b.revoke_denial(s)));
        return Verdict {
            decision: Decision::Denied,
            reasons: denials,
        };
    }
    let command = request.command_type.as_str();
    let phase = snapshot.phase;
    if !snapshot.whitelist.contains(command) {
        return Verdict {
            decision: Decision::RequiresApproval,
            reasons: vec![format!("`{command}` is not in the {phase} whitelist")],
        };
    }
    if snapshot.paused_command_types.contains(command) {
        return Verdict {
            decision: Decision::RequiresApproval,
            reasons: vec![format!(
                "`{command}` is paused by a circuit breaker until its event is resolved"
            )],
        };
    }
    // A revoked scope takes away autonomy only: what needs an approval
    // (above) still asks for one.
    if let Some(d) = scope.and_then(|(s, b)| b.revoke_denial(s)) {
        return Verdict {
            decision: Decision::Denied,
            reasons: vec![d],
        };
    }
    Verdict {
        decision: Decision::Autonomous,
        reasons: vec![format!("`{command}` is in the {phase} whitelist")],
    }
}

/// One entry of the decision log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub decision_id: i64,
    pub at: Timestamp,
    pub command_type: String,
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
    /// The scope the request named, if any.
    pub scope: Option<String>,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub phase: Phase,
    /// The principal that asked.
    pub caller: String,
    /// The caller's token was bound to no agent, so the per-agent brakes
    /// held only by the ids it chose to name.
    pub unbound: bool,
}

/// The emergency stop as `GET /api/emergency-stop` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyStopStatus {
    pub active: bool,
    /// When the current stop began; `null` while not stopped.
    pub since: Option<Timestamp>,
    pub by: Option<String>,
    pub reason: Option<String>,
    /// The last stop ever activated, active or not: the "kill switch
    /// tested" fact the checklist reads.
    pub last_activated_at: Option<Timestamp>,
    pub last_resumed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    Running,
    Paused,
    Completed,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "running",
            WorkflowStatus::Paused => "paused",
            WorkflowStatus::Completed => "completed",
        }
    }
}

impl std::str::FromStr for WorkflowStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "running" => Ok(WorkflowStatus::Running),
            "paused" => Ok(WorkflowStatus::Paused),
            "completed" => Ok(WorkflowStatus::Completed),
            _ => Err(format!(
                "unknown workflow status `{s}` (expected running, paused or completed)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWorkflow {
    #[schema(schema_with = super::text::id)]
    pub id: String,
    #[schema(schema_with = super::text::text_200)]
    pub name: String,
    /// Required, unless the caller's token is bound to an agent: then it
    /// is that agent.
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub agent_id: Option<String>,
}

impl NewWorkflow {
    pub fn check(&self) -> Result<(), ControlError> {
        check_id("id", &self.id)?;
        let agent = self.agent_id.as_deref().ok_or(ControlError::MissingAgent)?;
        check_id("agentId", agent)?;
        if super::text::is_blank(&self.name) || super::text::char_len(&self.name) > 200 {
            return Err(ControlError::NameLength);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub agent_id: String,
    pub status: WorkflowStatus,
    pub registered_at: Timestamp,
    pub registered_by: String,
    pub paused_at: Option<Timestamp>,
    pub paused_by: Option<String>,
    pub pause_reason: Option<String>,
    pub completed_at: Option<Timestamp>,
    pub step_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Succeeded,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewStep {
    #[schema(schema_with = super::text::text_200)]
    pub name: String,
    pub status: StepStatus,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// When the step happened; the time it was received when absent.
    #[serde(default)]
    pub at: Option<Timestamp>,
}

impl NewStep {
    pub fn check(&self, now: Timestamp) -> Result<(), ControlError> {
        if super::text::is_blank(&self.name) || super::text::char_len(&self.name) > 200 {
            return Err(ControlError::NameLength);
        }
        if let Some(at) = self.at {
            if at.millis() > now.millis() + 60_000 {
                return Err(ControlError::StepInFuture(at));
            }
        }
        if let Some(d) = &self.detail {
            if !d.is_object() {
                return Err(ControlError::DetailNotAnObject);
            }
            if d.to_string().len() > 64 * 1024 {
                return Err(ControlError::DetailTooLarge);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub seq: u64,
    pub name: String,
    pub status: StepStatus,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    pub at: Timestamp,
    pub recorded_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scopes::ScopeBrake;
    use Binding::{Bound, Unbound};

    /// `decide` with the binding first, so the calls read left to right.
    fn decide(s: &ControlSnapshot, binding: Binding, r: &AuthorizeRequest) -> Verdict {
        super::decide(s, r, binding)
    }

    fn snapshot() -> ControlSnapshot {
        ControlSnapshot {
            phase: Phase::L3Plus,
            whitelist: ["POWER_ON".to_string(), "FAN_SET".to_string()].into(),
            ..Default::default()
        }
    }

    fn ask(command: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            command_type: command.into(),
            workflow_id: Some("wf-1".into()),
            agent_id: Some("agent-1".into()),
            scope: None,
            batch_size: None,
            payload_bytes: None,
        }
    }

    #[test]
    fn a_batch_limit_denies_an_oversized_or_unsized_command_and_nothing_else() {
        let mut s = snapshot();
        s.budgets.batches.insert(
            "FAN_SET".into(),
            crate::domain::budget::BatchLimit {
                max_batch: Some(50),
                max_payload_bytes: None,
            },
        );
        let mut fan = ask("FAN_SET");
        let v = decide(&s, Unbound, &fan);
        assert_eq!(v.decision, Decision::Denied, "{v:?}");
        assert!(v.reasons[0].contains("`batchSize` is required"));
        fan.batch_size = Some(51);
        assert_eq!(decide(&s, Unbound, &fan).decision, Decision::Denied);
        fan.batch_size = Some(50);
        assert_eq!(decide(&s, Unbound, &fan).decision, Decision::Autonomous);
        // Under the stop, both brakes are named.
        s.emergency_stop = true;
        fan.batch_size = Some(51);
        assert_eq!(decide(&s, Unbound, &fan).reasons.len(), 2);
    }

    #[test]
    fn whitelisted_commands_run_autonomously_and_others_need_approval() {
        let s = snapshot();
        assert_eq!(
            decide(&s, Unbound, &ask("POWER_ON")).decision,
            Decision::Autonomous
        );
        let v = decide(&s, Unbound, &ask("DRUM_SET"));
        assert_eq!(v.decision, Decision::RequiresApproval);
        assert!(v.reasons[0].contains("not in the L3+ whitelist"), "{v:?}");
    }

    #[test]
    fn a_paused_command_type_needs_approval_even_when_whitelisted() {
        let mut s = snapshot();
        s.paused_command_types.insert("FAN_SET".into());
        let v = decide(&s, Unbound, &ask("FAN_SET"));
        assert_eq!(v.decision, Decision::RequiresApproval);
        assert!(v.reasons[0].contains("paused by a circuit breaker"));
    }

    #[test]
    fn every_brake_denies_and_all_that_hold_are_named() {
        let mut s = snapshot();
        s.emergency_stop = true;
        assert_eq!(
            decide(&s, Unbound, &ask("POWER_ON")).decision,
            Decision::Denied
        );
        s.paused_workflows.insert("wf-1".into());
        s.tripped_agents.insert("agent-1".into());
        let v = decide(&s, Unbound, &ask("POWER_ON"));
        assert_eq!(v.decision, Decision::Denied);
        assert_eq!(v.reasons.len(), 3, "{v:?}");

        let mut only_workflow = snapshot();
        only_workflow.paused_workflows.insert("wf-1".into());
        assert_eq!(
            decide(&only_workflow, Unbound, &ask("POWER_ON")).reasons,
            vec!["workflow `wf-1` is paused".to_string()]
        );
        // Another workflow of the same agent is not braked.
        let mut other = ask("POWER_ON");
        other.workflow_id = Some("wf-2".into());
        assert_eq!(
            decide(&only_workflow, Unbound, &other).decision,
            Decision::Autonomous
        );

        let mut only_agent = snapshot();
        only_agent.tripped_agents.insert("agent-1".into());
        assert_eq!(
            decide(&only_agent, Unbound, &ask("POWER_ON")).decision,
            Decision::Denied
        );
    }

    #[test]
    fn a_bound_agent_cannot_step_around_its_paused_workflow() {
        let mut s = snapshot();
        for (w, a) in [
            ("wf-1", "agent-1"),
            ("wf-2", "agent-1"),
            ("wf-9", "agent-9"),
        ] {
            s.workflow_agents.insert(w.into(), a.into());
        }
        s.paused_workflows.insert("wf-1".into());
        let mut silent = ask("POWER_ON");
        silent.workflow_id = None;
        let v = decide(&s, Bound, &silent);
        assert_eq!(v.decision, Decision::Denied, "{v:?}");
        assert!(
            v.reasons[0].contains("agent `agent-1` has paused workflow(s) `wf-1`"),
            "{v:?}"
        );
        // The same call from an unbound token: only the ids it names brake.
        assert_eq!(decide(&s, Unbound, &silent).decision, Decision::Autonomous);
        // Naming a workflow that is not its own, or not registered, is no way out.
        for w in ["wf-9", "made-up"] {
            let mut other = silent.clone();
            other.workflow_id = Some(w.into());
            assert_eq!(decide(&s, Bound, &other).decision, Decision::Denied, "{w}");
        }
        // Its own running workflow goes on; the paused one is denied as such.
        let mut own = silent.clone();
        own.workflow_id = Some("wf-2".into());
        assert_eq!(decide(&s, Bound, &own).decision, Decision::Autonomous);
        let v = decide(&s, Bound, &ask("POWER_ON"));
        assert_eq!(v.reasons, vec!["workflow `wf-1` is paused".to_string()]);
        // A tripped breaker holds whatever is named.
        s.paused_workflows.clear();
        s.tripped_agents.insert("agent-1".into());
        assert_eq!(decide(&s, Bound, &silent).decision, Decision::Denied);
    }

    fn in_scope(command: &str, scope: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            scope: Some(scope.into()),
            ..ask(command)
        }
    }

    fn brake(by: &str, reason: &str) -> Option<ScopeBrake> {
        Some(ScopeBrake {
            by: by.into(),
            reason: reason.into(),
        })
    }

    #[test]
    fn a_revoked_scope_denies_only_its_own_would_be_autonomous_decisions() {
        let mut s = snapshot();
        s.scopes.insert(
            "portal:carrier".into(),
            ScopeBrakes {
                revoked: brake("olga", "bad week"),
                stopped: None,
            },
        );
        let v = decide(&s, Unbound, &in_scope("POWER_ON", "portal:carrier"));
        assert_eq!(v.decision, Decision::Denied, "{v:?}");
        assert_eq!(
            v.reasons,
            vec!["autonomy is revoked for scope `portal:carrier` by olga: bad week".to_string()]
        );
        // Other scopes, unknown ones and no scope at all follow the phase.
        for other in [
            in_scope("POWER_ON", "website:seo"),
            in_scope("POWER_ON", "never:configured"),
            ask("POWER_ON"),
        ] {
            assert_eq!(decide(&s, Unbound, &other).decision, Decision::Autonomous);
        }
        // What needs an approval still asks for one.
        let v = decide(&s, Unbound, &in_scope("DRUM_SET", "portal:carrier"));
        assert_eq!(v.decision, Decision::RequiresApproval, "{v:?}");
    }

    #[test]
    fn a_stopped_scope_denies_everything_in_it_and_the_global_stop_stays_above() {
        let mut s = snapshot();
        s.scopes.insert(
            "portal:carrier".into(),
            ScopeBrakes {
                revoked: None,
                stopped: brake("ivan", "outage"),
            },
        );
        for command in ["POWER_ON", "DRUM_SET"] {
            let v = decide(&s, Unbound, &in_scope(command, "portal:carrier"));
            assert_eq!(v.decision, Decision::Denied, "{v:?}");
            assert_eq!(
                v.reasons,
                vec!["scope `portal:carrier` is stopped by ivan: outage".to_string()]
            );
        }
        assert_eq!(
            decide(&s, Unbound, &in_scope("POWER_ON", "website:seo")).decision,
            Decision::Autonomous
        );
        // Every brake that holds is named: global, scope stop, revoke.
        s.emergency_stop = true;
        s.scopes.get_mut("portal:carrier").unwrap().revoked = brake("olga", "bad week");
        let v = decide(&s, Unbound, &in_scope("DRUM_SET", "portal:carrier"));
        assert_eq!(v.decision, Decision::Denied);
        assert_eq!(v.reasons.len(), 3, "{v:?}");
        assert_eq!(v.reasons[0], "the emergency stop is on");
        // The global stop denies the scopes without a brake too.
        assert_eq!(
            decide(&s, Unbound, &in_scope("POWER_ON", "website:seo")).reasons,
            vec!["the emergency stop is on".to_string()]
        );
    }

    #[test]
    fn ids_are_checked() {
        assert!(ask("").check().is_err());
        assert!(ask(&"X".repeat(129)).check().is_err());
        assert!(ask("A\nB").check().is_err());
        assert!(ask("POWER_ON").check().is_ok());
    }
}
