//! Not yet ported from `storage/sqlite/agents.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::events::{ActionRecord, DeliveryStatus};
use crate::domain::fleet::{Agent, Assignment, NewAgent};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl AgentRepository for PostgresStore {
    fn register_agent(&self, a: &NewAgent, by: &str, now: Timestamp) -> Result<Agent, StorageError> {
        Err(not_ported("AgentRepository::register_agent"))
    }

    fn agent(&self, id: &str) -> Result<Agent, StorageError> {
        Err(not_ported("AgentRepository::agent"))
    }

    fn agents(&self) -> Result<Vec<Agent>, StorageError> {
        Err(not_ported("AgentRepository::agents"))
    }

    fn record_cost( &self, id: &str, operation: &str, cost: f64, by: &str, escalation: &Escalation, now: Timestamp, ) -> Result<(Agent, Option<ActionRecord>), StorageError> {
        Err(not_ported("AgentRepository::record_cost"))
    }

    fn record_failure( &self, id: &str, task_id: Option<&str>, reason: Option<&str>, threshold: u32, by: &str, escalation: &Escalation, now: Timestamp, ) -> Result<(Agent, Option<ActionRecord>), StorageError> {
        Err(not_ported("AgentRepository::record_failure"))
    }

    fn trip_agent( &self, id: &str, reason: &str, by: &str, escalation: &Escalation, now: Timestamp, ) -> Result<(Agent, ActionRecord), StorageError> {
        Err(not_ported("AgentRepository::trip_agent"))
    }

    fn reset_agent( &self, id: &str, new_budget: f64, by: &str, now: Timestamp, ) -> Result<Agent, StorageError> {
        Err(not_ported("AgentRepository::reset_agent"))
    }

    fn insert_assignment(&self, a: &Assignment) -> Result<Assignment, StorageError> {
        Err(not_ported("AgentRepository::insert_assignment"))
    }

    fn assignments(&self, limit: u32) -> Result<Vec<Assignment>, StorageError> {
        Err(not_ported("AgentRepository::assignments"))
    }

    fn assignment_totals(&self) -> Result<(u64, u64), StorageError> {
        Err(not_ported("AgentRepository::assignment_totals"))
    }

}
