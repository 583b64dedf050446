//! Not yet ported from `storage/sqlite/events.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::events::{ActionRecord, DeliveryStatus, EngineEvent, NewEvent, RiskReport};
use crate::domain::{Severity, Timestamp};
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl EventRepository for PostgresStore {
    fn insert_event( &self, e: &NewEvent, by: &str, action: Option<(&str, DeliveryStatus)>, now: Timestamp, ) -> Result<(EngineEvent, Option<ActionRecord>), StorageError> {
        Err(not_ported("EventRepository::insert_event"))
    }

    fn engine_events( &self, limit: u32, engine: Option<&str>, severity: Option<Severity>, ) -> Result<Vec<EngineEvent>, StorageError> {
        Err(not_ported("EventRepository::engine_events"))
    }

    fn engine_events_between( &self, start: Timestamp, end: Timestamp, ) -> Result<Vec<EngineEvent>, StorageError> {
        Err(not_ported("EventRepository::engine_events_between"))
    }

    fn event_counts_since( &self, start: Timestamp, ) -> Result<(Vec<(String, u64)>, u64), StorageError> {
        Err(not_ported("EventRepository::event_counts_since"))
    }

    fn event_totals(&self) -> Result<Vec<(String, String, u64)>, StorageError> {
        Err(not_ported("EventRepository::event_totals"))
    }

    fn actions(&self, limit: u32) -> Result<Vec<ActionRecord>, StorageError> {
        Err(not_ported("EventRepository::actions"))
    }

    fn pending_actions(&self) -> Result<Vec<ActionRecord>, StorageError> {
        Err(not_ported("EventRepository::pending_actions"))
    }

    fn record_delivery( &self, id: i64, status: DeliveryStatus, error: Option<&str>, now: Timestamp, ) -> Result<(), StorageError> {
        Err(not_ported("EventRepository::record_delivery"))
    }

    fn mark_dropped(&self, id: i64, reason: &str) -> Result<bool, StorageError> {
        Err(not_ported("EventRepository::mark_dropped"))
    }

    fn drop_pending_beyond(&self, keep: usize, reason: &str) -> Result<usize, StorageError> {
        Err(not_ported("EventRepository::drop_pending_beyond"))
    }

    fn insert_risk_report(&self, report: &RiskReport) -> Result<RiskReport, StorageError> {
        Err(not_ported("EventRepository::insert_risk_report"))
    }

    fn risk_reports(&self, limit: u32) -> Result<Vec<RiskReport>, StorageError> {
        Err(not_ported("EventRepository::risk_reports"))
    }

}
