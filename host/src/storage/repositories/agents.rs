//! Agents, their budgets and breakers, and task assignments.

use crate::domain::events::{ActionRecord, DeliveryStatus};
use crate::domain::fleet::{Agent, Assignment, NewAgent};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// How a trip is escalated: the seed's ESCALATE message.
pub struct Escalation {
    pub delivery: DeliveryStatus,
}

/// Agents, their budgets and breakers, and task assignments.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait AgentRepository: Send + Sync {
    fn register_agent(&self, a: &NewAgent, by: &str, now: Timestamp)
        -> Result<Agent, StorageError>;

    fn agent(&self, id: &str) -> Result<Agent, StorageError>;

    /// Every agent, by id.
    fn agents(&self) -> Result<Vec<Agent>, StorageError>;

    /// Deducts a cost; trips the breaker with `budget_exhausted` when the
    /// remaining budget reaches zero or below.
    ///
    /// One unit of work: the cost is deducted, and when it crosses the
    /// budget the agent's trip, its escalation action and audit entry are
    /// written with it. Concurrent costs serialize: exactly one trips.
    fn record_cost(
        &self,
        id: &str,
        operation: &str,
        cost: f64,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, Option<ActionRecord>), StorageError>;

    /// Counts a failure; trips `repeated_failures` at the threshold.
    ///
    /// One unit of work, as [`AgentRepository::record_cost`], for failures.
    #[allow(clippy::too_many_arguments)]
    fn record_failure(
        &self,
        id: &str,
        task_id: Option<&str>,
        reason: Option<&str>,
        threshold: u32,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, Option<ActionRecord>), StorageError>;

    /// An operator's trip. Tripping a tripped breaker is a conflict: the
    /// first reason stands.
    ///
    /// One unit of work: the trip, its escalation action and audit entry.
    fn trip_agent(
        &self,
        id: &str,
        reason: &str,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, ActionRecord), StorageError>;

    /// Resets a tripped breaker with a new budget and clears the failures.
    fn reset_agent(
        &self,
        id: &str,
        new_budget: f64,
        by: &str,
        now: Timestamp,
    ) -> Result<Agent, StorageError>;

    fn insert_assignment(&self, a: &Assignment) -> Result<Assignment, StorageError>;

    fn assignments(&self, limit: u32) -> Result<Vec<Assignment>, StorageError>;

    /// (assignments, of which no agent qualified).
    fn assignment_totals(&self) -> Result<(u64, u64), StorageError>;
}
