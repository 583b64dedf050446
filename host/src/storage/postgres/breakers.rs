//! Not yet ported from `storage/sqlite/breakers.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::breaker::{BreakerEvent, BreakerRule};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl BreakerRepository for PostgresStore {
    fn rules(&self) -> Result<Vec<BreakerRule>, StorageError> {
        Err(not_ported("BreakerRepository::rules"))
    }

    fn rule(&self, name: &str) -> Result<BreakerRule, StorageError> {
        Err(not_ported("BreakerRepository::rule"))
    }

    fn insert_rule( &self, rule: &BreakerRule, actor: &str, now: Timestamp, ) -> Result<(), StorageError> {
        Err(not_ported("BreakerRepository::insert_rule"))
    }

    fn update_rule( &self, name: &str, updated: &BreakerRule, actor: &str, now: Timestamp, ) -> Result<BreakerRule, StorageError> {
        Err(not_ported("BreakerRepository::update_rule"))
    }

    fn delete_rule( &self, name: &str, actor: &str, now: Timestamp, ) -> Result<BreakerRule, StorageError> {
        Err(not_ported("BreakerRepository::delete_rule"))
    }

    fn record_trip(&self, event: BreakerEvent) -> Result<Option<BreakerEvent>, StorageError> {
        Err(not_ported("BreakerRepository::record_trip"))
    }

    fn breaker_events(&self, limit: u32) -> Result<Vec<BreakerEvent>, StorageError> {
        Err(not_ported("BreakerRepository::breaker_events"))
    }

    fn unresolved_events(&self) -> Result<Vec<BreakerEvent>, StorageError> {
        Err(not_ported("BreakerRepository::unresolved_events"))
    }

    fn unresolved_event_count(&self) -> Result<u64, StorageError> {
        Err(not_ported("BreakerRepository::unresolved_event_count"))
    }

    fn events_between( &self, start: Timestamp, end: Timestamp, ) -> Result<Vec<BreakerEvent>, StorageError> {
        Err(not_ported("BreakerRepository::events_between"))
    }

    fn paused_command_types(&self) -> Result<Vec<String>, StorageError> {
        Err(not_ported("BreakerRepository::paused_command_types"))
    }

    fn resolve_event( &self, id: i64, by: &str, resolution: &str, now: Timestamp, ) -> Result<BreakerEvent, StorageError> {
        Err(not_ported("BreakerRepository::resolve_event"))
    }

    fn breaker_event_totals(&self) -> Result<Vec<(String, String, String, u64)>, StorageError> {
        Err(not_ported("BreakerRepository::breaker_event_totals"))
    }

}
