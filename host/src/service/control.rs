//! The enforcement point and the brakes: authorization with its decision
//! log, the emergency stop, and workflows.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::{ServiceError, ServiceResult};
use crate::config::GovernanceSettings;
use crate::domain::auth::{Principal, Role};
use crate::domain::budget;
use crate::domain::control::{
    decide, AuthorizeRequest, Binding, Decision, DecisionRecord, EmergencyStopStatus, NewStep,
    NewWorkflow, Step, Workflow, WorkflowStatus,
};
use crate::domain::governance::{days_between, GovernanceState};
use crate::domain::{Phase, Timestamp};
use crate::storage::prelude::*;
use crate::storage::{NewDecision, StorageError};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeReply {
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub phase: Phase,
    /// The decision's entry in the decision log.
    pub decision_id: i64,
}

/// A decision as logged: its id, and its outcome once settled against its
/// budgets (an autonomous decision over one is logged as denied or
/// throttled).
#[derive(Debug)]
struct Logged {
    id: i64,
    decision: Decision,
    reasons: Vec<String>,
}

/// One store error answers every waiter of a failed batch, hence the `Arc`.
type Pending = (
    NewDecision,
    oneshot::Sender<Result<Logged, Arc<StorageError>>>,
);

/// The decision log, written by group commit: one writer thread appends
/// every decision waiting at that moment in one transaction (one fsync),
/// and each caller gets its reply only once its entry is on disk. Under
/// load the batches grow; nothing is answered that could be lost.
#[derive(Clone)]
pub struct DecisionLog {
    queue: mpsc::Sender<Pending>,
}

/// Entries per transaction at most; a bigger backlog takes several.
const MAX_BATCH: usize = 2048;

impl DecisionLog {
    pub fn start(db: Arc<dyn Store>) -> Self {
        let (queue, mut rx) = mpsc::channel::<Pending>(64 * 1024);
        let spawned = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut entries = Vec::with_capacity(64);
                    let mut waiters = Vec::with_capacity(64);
                    entries.push(first.0);
                    waiters.push(first.1);
                    while entries.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok((e, w)) => {
                                entries.push(e);
                                waiters.push(w);
                            }
                            Err(_) => break,
                        }
                    }
                    match db.append_decisions(&mut entries) {
                        Ok(ids) => {
                            for ((w, id), e) in waiters.into_iter().zip(ids).zip(entries) {
                                let _ = w.send(Ok(Logged {
                                    id,
                                    decision: e.decision,
                                    reasons: e.reasons,
                                }));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, n = entries.len(), "cannot append to the decision log");
                            let e = Arc::new(e);
                            for w in waiters {
                                let _ = w.send(Err(e.clone()));
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread every authorize call fails with 503: fail
            // closed rather than answer decisions that are not logged.
            tracing::error!(error = %e, "cannot start the decision log writer");
        }
        Self { queue }
    }

    async fn append(&self, entry: NewDecision) -> ServiceResult<Logged> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((entry, tx))
            .await
            .map_err(|_| ServiceError::Unavailable("the decision log is not running".into()))?;
        rx.await
            .map_err(|_| ServiceError::Unavailable("the decision log stopped".into()))?
            .map_err(|source| ServiceError::DependencyFailed {
                what: "the decision log cannot be written".into(),
                source: Box::new(source),
            })
    }
}

/// Decides from the current snapshot, logs the decision durably, answers.
/// A caller bound to an agent asks as that agent, whatever the body says;
/// with `require_bound`, a caller bound to none is refused.
pub async fn authorize(
    db: &dyn Store,
    log: &DecisionLog,
    mut request: AuthorizeRequest,
    caller: &Principal,
    require_bound: bool,
) -> ServiceResult<AuthorizeReply> {
    request
        .check()
        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    let binding = match caller.agent {
        Some(_) => Binding::Bound,
        None if require_bound => {
            return Err(ServiceError::Forbidden(format!(
                "this server requires agent-bound tokens for authorize (`require_bound_agents = true`), and `{}` is bound to no agent: an admin mints one with POST /api/tokens {{\"agentId\": ...}}",
                caller.id
            )))
        }
        None => Binding::Unbound,
    };
    request.agent_id = caller.act_for(request.agent_id.as_deref())?;
    let snapshot = db.control();
    if let (Some(w), Binding::Bound) = (&request.workflow_id, binding) {
        if let Some(owner) = snapshot.workflow_agents.get(w) {
            caller.check_workflow_owner(w, owner)?;
        }
    }
    let verdict = decide(&snapshot, &request, binding);
    let claims = if verdict.decision == Decision::Autonomous {
        budget::claims(
            &snapshot.budgets,
            &snapshot.throttles,
            &request.command_type,
            request.scope.as_deref(),
            request.agent_id.as_deref(),
        )
    } else {
        Vec::new()
    };
    let phase = snapshot.phase;
    drop(snapshot);
    let logged = log
        .append(NewDecision {
            at: Timestamp::now(),
            command_type: request.command_type,
            workflow_id: request.workflow_id,
            agent_id: request.agent_id,
            scope: request.scope,
            decision: verdict.decision,
            reasons: verdict.reasons.clone(),
            phase,
            caller: caller.id.clone(),
            unbound: binding == Binding::Unbound,
            claims,
        })
        .await;
    let logged = match logged {
        Ok(logged) => logged,
        // Unlogged, so not answered as a decision; but a denial says why,
        // so a replica cut off from its database (the likeliest cause of
        // both) is told apart from a broken log.
        Err(ServiceError::DependencyFailed { what, source })
            if verdict.decision == Decision::Denied =>
        {
            return Err(ServiceError::DependencyFailed {
                what: format!(
                    "{what}; the request is denied in any case: {}",
                    verdict.reasons.join("; ")
                ),
                source,
            })
        }
        Err(e) => return Err(e),
    };
    Ok(AuthorizeReply {
        decision: logged.decision,
        reasons: logged.reasons,
        phase,
        decision_id: logged.id,
    })
}

pub(super) fn reason_given(reason: &str, what: &str) -> ServiceResult<()> {
    if reason.trim().is_empty() {
        return Err(ServiceError::BadRequest(format!(
            "`reason` is empty: say why {what}"
        )));
    }
    if crate::domain::text::char_len(reason) > 1000 {
        return Err(ServiceError::BadRequest(
            "`reason` is over 1000 characters".into(),
        ));
    }
    Ok(())
}

/// The program's phase and the brakes: the enforcement point with its
/// decision log, the emergency stop, and workflows.
pub struct ControlService {
    db: Arc<dyn Store>,
    settings: GovernanceSettings,
    decisions: DecisionLog,
    /// `[auth] require_bound_agents`.
    require_bound_agents: bool,
}

impl ControlService {
    pub fn new(
        db: Arc<dyn Store>,
        settings: GovernanceSettings,
        decisions: DecisionLog,
        require_bound_agents: bool,
    ) -> Self {
        Self {
            db,
            settings,
            decisions,
            require_bound_agents,
        }
    }

    pub fn state(&self, now: Timestamp) -> ServiceResult<GovernanceState> {
        let row = self.db.state()?;
        Ok(GovernanceState {
            phase: row.phase,
            phase_started_at: row.phase_started_at,
            days_at_phase: days_between(row.phase_started_at, now),
            whitelist: row.whitelist,
            paused_command_types: self.db.paused_command_types()?,
            emergency_stop: row.emergency_stop,
            last_report_at: row.last_report_at,
            min_stabilization_days: self.settings.phases.min_stabilization_days(row.phase),
        })
    }

    /// Lowers the phase (a brake: operators and admins), or moves the
    /// current phase's start (a bootstrap: admins). Never raises it: only an
    /// approved proposal does. The whitelist follows the phase table.
    pub fn set_phase(
        &self,
        phase: Phase,
        started: Option<Timestamp>,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<GovernanceState> {
        let whitelist = self.settings.phases.whitelist(phase);
        self.db.change_phase(
            phase,
            started,
            who.holds(Role::Admin),
            &whitelist,
            &who.id,
            now,
        )?;
        self.state(now)
    }

    /// Decides whether a command may run now and answers once the decision
    /// is in the decision log (see [`authorize`]).
    pub async fn authorize(
        &self,
        request: AuthorizeRequest,
        caller: &Principal,
    ) -> ServiceResult<AuthorizeReply> {
        authorize(
            &*self.db,
            &self.decisions,
            request,
            caller,
            self.require_bound_agents,
        )
        .await
    }

    /// The decision log, newest first.
    pub fn decisions(
        &self,
        limit: u32,
        command_type: Option<&str>,
        decision: Option<Decision>,
        scope: Option<&str>,
    ) -> ServiceResult<Vec<DecisionRecord>> {
        Ok(self.db.decisions(limit, command_type, decision, scope)?)
    }

    pub fn emergency_stop_status(&self) -> ServiceResult<EmergencyStopStatus> {
        Ok(self.db.emergency_stop_status()?)
    }

    /// Stops or resumes. Needs no plugin: it is one row and one flag.
    pub fn set_emergency_stop(
        &self,
        stop: bool,
        reason: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<(EmergencyStopStatus, bool)> {
        reason_given(
            reason,
            if stop {
                "everything is stopped"
            } else {
                "it is safe to resume"
            },
        )?;
        let out = self.db.set_emergency_stop(stop, &who.id, reason, now)?;
        if out.1 {
            tracing::warn!(stop, by = %who.id, reason, "emergency stop changed");
        }
        Ok(out)
    }

    /// Registers a workflow for the agent the caller acts for: a bound
    /// token's own agent, whatever the body names.
    pub fn register_workflow(
        &self,
        mut w: NewWorkflow,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<Workflow> {
        w.agent_id = who.act_for(w.agent_id.as_deref())?;
        w.check()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        Ok(self.db.register_workflow(&w, &who.id, now)?)
    }

    pub fn workflows(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
    ) -> ServiceResult<Vec<Workflow>> {
        Ok(self.db.workflows(status, limit)?)
    }

    pub fn workflow(&self, id: &str) -> ServiceResult<Workflow> {
        Ok(self.db.workflow(id)?)
    }

    /// A workflow's steps, in order.
    pub fn trace(&self, id: &str) -> ServiceResult<Vec<Step>> {
        Ok(self.db.trace(id)?)
    }

    /// Why the control snapshot denies everything, when it does: it could
    /// not be read, or (on a replica) it has not been confirmed current
    /// within `[cluster] stale_after_ms`. No query: it is the snapshot
    /// `authorize` decides on.
    pub fn control_fault(&self) -> Option<String> {
        self.db.control().fault.clone()
    }

    /// Whether the emergency stop is on, from the control snapshot.
    pub fn emergency_stop_on(&self) -> bool {
        self.db.control().emergency_stop
    }

    /// A bound caller may write only its own agent's workflows.
    fn check_own_workflow(&self, id: &str, who: &Principal) -> ServiceResult<()> {
        if who.agent.is_some() {
            let owner = self.db.workflow(id)?.agent_id;
            who.check_workflow_owner(id, &owner)?;
        }
        Ok(())
    }

    pub fn append_step(
        &self,
        id: &str,
        step: NewStep,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<Step> {
        step.check(now)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        self.check_own_workflow(id, who)?;
        Ok(self.db.append_step(id, &step, &who.id, now)?)
    }

    pub fn move_workflow(
        &self,
        id: &str,
        to: WorkflowStatus,
        reason: Option<&str>,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<Workflow> {
        if let Some(r) = reason {
            reason_given(r, "the workflow is paused")?;
        }
        self.check_own_workflow(id, who)?;
        Ok(self.db.move_workflow(id, to, &who.id, reason, now)?)
    }
}
