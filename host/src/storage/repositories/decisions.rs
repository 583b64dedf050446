//! The decision log: every authorization decision, appended in batches.

use crate::domain::budget::Claim;
use crate::domain::control::{Decision, DecisionRecord};
use crate::domain::{Phase, Timestamp};
use crate::storage::StorageError;

/// A decision to append; the log gives it its id.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub at: Timestamp,
    pub command_type: String,
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
    /// The scope the request named, if any.
    pub scope: Option<String>,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub phase: Phase,
    pub caller: String,
    pub unbound: bool,
    /// The budgets an autonomous decision draws on. The log settles them
    /// as it appends: a decision over one is logged (and answered) as
    /// `denied` or `throttled` instead.
    pub claims: Vec<Claim>,
}

/// The decision log of every authorization.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait DecisionRepository: Send + Sync {
    /// Appends decisions in one transaction (one fsync for the batch) and
    /// returns their ids in order. Decisions change no control state, so
    /// the snapshot is not rebuilt.
    ///
    /// Autonomous decisions with claims are first settled against their
    /// budgets under a lock every replica takes, in batch order; each one
    /// over a budget has its decision and reasons changed in place.
    ///
    /// One unit of work for the whole batch (the decision log's group
    /// commit: one sync to disk for many decisions) with the totals. Durable
    /// when it returns: a decision is answered only after this.
    fn append_decisions(&self, batch: &mut [NewDecision]) -> Result<Vec<i64>, StorageError>;

    /// The newest `limit` decisions, filtered by whichever of command
    /// type, outcome and scope are given.
    fn decisions(
        &self,
        limit: u32,
        command_type: Option<&str>,
        decision: Option<Decision>,
        scope: Option<&str>,
    ) -> Result<Vec<DecisionRecord>, StorageError>;

    /// Decisions ever made, by outcome.
    fn decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError>;

    /// Decisions made for callers bound to no agent, by outcome.
    fn unbound_decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError>;
}
