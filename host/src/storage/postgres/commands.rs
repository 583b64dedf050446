//! Not yet ported from `storage/sqlite/commands.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::metrics::{
    CommandRecord, CommandTally, IncidentCounts, IncidentRecord, MetricsReport, NewIncident,
};
use crate::domain::readiness::{Gauge, Incident};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl CommandRepository for PostgresStore {
    fn insert_commands( &self, records: &[CommandRecord], received: Timestamp, ) -> Result<Ingested, StorageError> {
        Err(not_ported("CommandRepository::insert_commands"))
    }

    fn command_tally(&self, start: Timestamp, end: Timestamp) -> Result<CommandTally, StorageError> {
        Err(not_ported("CommandRepository::command_tally"))
    }

    fn command_totals(&self) -> Result<CommandTally, StorageError> {
        Err(not_ported("CommandRepository::command_totals"))
    }

    fn failed_command_types( &self, start: Timestamp, end: Timestamp, ) -> Result<Vec<String>, StorageError> {
        Err(not_ported("CommandRepository::failed_command_types"))
    }

    fn succeeded_commands_of(&self, types: &[&str]) -> Result<u64, StorageError> {
        Err(not_ported("CommandRepository::succeeded_commands_of"))
    }

    fn insert_incident( &self, incident: &NewIncident, reported_by: &str, now: Timestamp, ) -> Result<IncidentRecord, StorageError> {
        Err(not_ported("CommandRepository::insert_incident"))
    }

    fn recent_incidents(&self, limit: u32) -> Result<Vec<IncidentRecord>, StorageError> {
        Err(not_ported("CommandRepository::recent_incidents"))
    }

    fn incident_counts( &self, start: Timestamp, end: Timestamp, ) -> Result<(IncidentCounts, u32), StorageError> {
        Err(not_ported("CommandRepository::incident_counts"))
    }

    fn incidents_since(&self, start: Timestamp) -> Result<Vec<Incident>, StorageError> {
        Err(not_ported("CommandRepository::incidents_since"))
    }

    fn set_gauge(&self, name: &str, value: f64, now: Timestamp) -> Result<Gauge, StorageError> {
        Err(not_ported("CommandRepository::set_gauge"))
    }

    fn gauges(&self) -> Result<Vec<Gauge>, StorageError> {
        Err(not_ported("CommandRepository::gauges"))
    }

    fn incident_totals(&self) -> Result<(IncidentCounts, u64), StorageError> {
        Err(not_ported("CommandRepository::incident_totals"))
    }

    fn store_snapshot(&self, m: &MetricsReport, now: Timestamp) -> Result<i64, StorageError> {
        Err(not_ported("CommandRepository::store_snapshot"))
    }

    fn latest_snapshot(&self) -> Result<Option<MetricsReport>, StorageError> {
        Err(not_ported("CommandRepository::latest_snapshot"))
    }

}
