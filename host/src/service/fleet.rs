//! Agents, budgets, per-agent breakers and task assignment.
//!
//! Assignment ranks the whole fleet on every request, so the fleet is kept
//! in memory as one shared list of candidates. Every change goes to the
//! store first and then to the list, under one lock, so the list follows
//! the store in commit order; a ranking borrows the list (an `Arc`) and a
//! change made meanwhile copies it rather than waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::{PluginDeps, ServiceError, ServiceResult};
use crate::config::GovernanceSettings;
use crate::domain::auth::Principal;
use crate::domain::events::ActionRecord;
use crate::domain::fleet::{Agent, AgentUpdate, AssignRequest, Assignment, CostReport, NewAgent};
use crate::domain::matching::{AssignmentPolicy, Candidate, MatchRequest, Task};
use crate::domain::Timestamp;
use crate::storage::prelude::*;
use crate::storage::{Escalation, StorageError};
use crate::webhook::Notifier;

/// Refuses a token bound to an agent other than `id`.
fn own_agent(id: &str, who: &Principal) -> ServiceResult<()> {
    who.act_for(Some(id))
        .map(|_| ())
        .map_err(ServiceError::from)
}

#[derive(Default)]
pub struct Fleet {
    candidates: RwLock<Arc<Vec<Candidate>>>,
    index: Mutex<HashMap<String, usize>>,
    /// Held across a store write and the list update that follows it.
    writer: Mutex<()>,
}

impl Fleet {
    pub fn load(db: &dyn Store) -> Result<Self, StorageError> {
        let agents = db.agents()?;
        let index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        Ok(Self {
            candidates: RwLock::new(Arc::new(agents.iter().map(Agent::candidate).collect())),
            index: Mutex::new(index),
            writer: Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Vec<Candidate>> {
        self.candidates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the list with the store's agents, after another replica
    /// changed some. Under the writer lock, so a change made here is not
    /// lost between the read and the replacement.
    pub fn reload(&self, db: &dyn Store) -> Result<(), StorageError> {
        let _one_writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let agents = db.agents()?;
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = self.candidates.write().unwrap_or_else(|p| p.into_inner());
        *index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        *list = Arc::new(agents.iter().map(Agent::candidate).collect());
        Ok(())
    }

    fn put(&self, agent: &Agent) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = self.candidates.write().unwrap_or_else(|p| p.into_inner());
        let list = Arc::make_mut(&mut list);
        match index.get(&agent.id) {
            Some(&i) => list[i] = agent.candidate(),
            None => {
                index.insert(agent.id.clone(), list.len());
                list.push(agent.candidate());
            }
        }
    }

    /// Runs a store write, then mirrors the agent it returns.
    fn change<T>(
        &self,
        write: impl FnOnce() -> Result<T, StorageError>,
        agent: impl Fn(&T) -> &Agent,
    ) -> Result<T, StorageError> {
        let _one_writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let out = write()?;
        self.put(agent(&out));
        Ok(out)
    }
}

/// Agents, their budgets and breakers, and task assignment.
pub struct FleetService {
    db: Arc<dyn Store>,
    plugin: PluginDeps,
    settings: GovernanceSettings,
    notifier: Notifier,
    fleet: Fleet,
}

impl FleetService {
    /// Loads the agents into memory: call once at start.
    pub(crate) fn new(
        db: Arc<dyn Store>,
        plugin: PluginDeps,
        settings: GovernanceSettings,
        notifier: Notifier,
    ) -> Result<Self, StorageError> {
        let fleet = Fleet::load(&*db)?;
        Ok(Self {
            db,
            plugin,
            settings,
            notifier,
            fleet,
        })
    }

    /// Every agent the store holds.
    pub fn agents(&self) -> ServiceResult<Vec<Agent>> {
        Ok(self.db.agents()?)
    }

    pub fn agent(&self, id: &str) -> ServiceResult<Agent> {
        Ok(self.db.agent(id)?)
    }

    /// The agents whose breaker is tripped.
    pub fn tripped(&self) -> ServiceResult<Vec<Agent>> {
        Ok(self
            .db
            .agents()?
            .into_iter()
            .filter(|a| a.breaker.tripped)
            .collect())
    }

    /// Reads the fleet again from the store: another replica changed it.
    pub fn reload(&self) -> ServiceResult<()> {
        Ok(self.fleet.reload(&*self.db)?)
    }

    /// The in-memory fleet as assignment ranks it.
    pub fn snapshot(&self) -> Arc<Vec<Candidate>> {
        self.fleet.snapshot()
    }

    /// Recorded assignments, newest first.
    pub fn assignments(&self, limit: u32) -> ServiceResult<Vec<Assignment>> {
        Ok(self.db.assignments(limit)?)
    }

    /// `[matching]`: the matcher plugin and the policy it ranks with.
    pub fn matching(&self) -> &crate::domain::fleet::MatchingPolicy {
        &self.settings.matching
    }

    fn escalation(&self) -> Escalation {
        Escalation {
            delivery: self.notifier.initial_status(),
        }
    }

    fn escalate(&self, action: Option<ActionRecord>) {
        if let Some(a) = action {
            tracing::warn!(agent = ?a.agent_id, payload = %a.payload, "agent breaker tripped; escalating");
            self.notifier.send(a);
        }
    }

    pub fn register_agent(
        &self,
        agent: NewAgent,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<Agent> {
        agent
            .check()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        Ok(self
            .fleet
            .change(|| self.db.register_agent(&agent, who, now), |a| a)?)
    }

    /// Deducts a cost from agent `id`. A token bound to another agent is
    /// refused: an agent reports only its own spending.
    pub fn record_cost(
        &self,
        id: &str,
        cost: CostReport,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<AgentUpdate> {
        cost.check()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        own_agent(id, who)?;
        // A total that overflows to infinity would be stored as one (and
        // read back as JSON null), or refused by PostgreSQL as a 500.
        let before = self.db.agent(id)?;
        if !(before.total_cost + cost.cost).is_finite()
            || !(before.budget_remaining - cost.cost).is_finite()
        {
            return Err(ServiceError::BadRequest(format!(
                "a cost of {} would take agent `{id}`'s totals past the largest number stored",
                cost.cost
            )));
        }
        let who = who.id.as_str();
        let escalation = self.escalation();
        let (agent, action) = self.fleet.change(
            || {
                self.db
                    .record_cost(id, &cost.operation, cost.cost, who, &escalation, now)
            },
            |(a, _)| a,
        )?;
        let tripped = action
            .as_ref()
            .map(|_| crate::domain::fleet::BUDGET_EXHAUSTED.to_string());
        self.escalate(action);
        Ok(AgentUpdate { agent, tripped })
    }

    pub fn record_failure(
        &self,
        id: &str,
        task_id: Option<&str>,
        reason: Option<&str>,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<AgentUpdate> {
        own_agent(id, who)?;
        let who = who.id.as_str();
        let escalation = self.escalation();
        let threshold = self.settings.matching.failure_threshold;
        let (agent, action) = self.fleet.change(
            || {
                self.db
                    .record_failure(id, task_id, reason, threshold, who, &escalation, now)
            },
            |(a, _)| a,
        )?;
        let tripped = action
            .as_ref()
            .map(|_| crate::domain::fleet::REPEATED_FAILURES.to_string());
        self.escalate(action);
        Ok(AgentUpdate { agent, tripped })
    }

    pub fn trip_agent(
        &self,
        id: &str,
        reason: &str,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<Agent> {
        if reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "`reason` is empty: say why the breaker is tripped".into(),
            ));
        }
        let escalation = self.escalation();
        let (agent, action) = self.fleet.change(
            || self.db.trip_agent(id, reason, who, &escalation, now),
            |(a, _)| a,
        )?;
        self.escalate(Some(action));
        Ok(agent)
    }

    pub fn reset_agent(
        &self,
        id: &str,
        new_budget: f64,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<Agent> {
        crate::domain::fleet::positive("newBudget", new_budget)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        Ok(self
            .fleet
            .change(|| self.db.reset_agent(id, new_budget, who, now), |a| a)?)
    }

    /// Ranks the whole fleet for a task with the configured matcher and
    /// records the outcome, whoever wins (or that nobody qualified).
    pub fn assign(
        &self,
        request: AssignRequest,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<Assignment> {
        request
            .check()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        if self.db.control().emergency_stop {
            return Err(ServiceError::Conflict(
                "the emergency stop is on: no task is assigned until it is resumed".into(),
            ));
        }
        let policy = &self.settings.matching;
        let plugins = self.plugin.plugins.current();
        let plugin = plugins.get(&policy.matcher).ok_or_else(|| {
            ServiceError::Unavailable(format!("task matcher `{}` is not loaded", policy.matcher))
        })?;
        let max_cost = request.max_cost.unwrap_or(policy.max_cost_per_task);
        let match_request = MatchRequest {
            task: Task {
                id: request.task_id.clone(),
                required_capabilities: request.required_capabilities.clone(),
                max_cost_per_hour: Some(max_cost),
            },
            candidates: self.fleet.snapshot(),
            policy: AssignmentPolicy {
                min_capability_match: policy.min_capability_match,
                max_cost_per_hour: None,
            },
        };
        let started = Instant::now();
        let ranking = self
            .plugin
            .evaluator
            .rank(plugin, &match_request)
            .map_err(ServiceError::Plugin)?;
        let assignment = Assignment::from_ranking(
            &request,
            max_cost,
            ranking,
            (plugin.name(), plugin.version()),
            who,
            now,
        );
        let stored = self.db.insert_assignment(&assignment)?;
        self.plugin.exporter.assignment_ranked(started.elapsed());
        Ok(stored)
    }
}
