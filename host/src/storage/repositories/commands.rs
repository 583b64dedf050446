//! Commands, incidents and gauges as reported, their tallies, and the metrics
//! snapshots computed from them.

use crate::domain::metrics::{
    CommandRecord, CommandTally, IncidentCounts, IncidentRecord, MetricsReport, NewIncident,
};
use crate::domain::readiness::{Gauge, Incident};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// What an ingest did: new records, and ids already stored (or repeated
/// within the batch), which changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ingested {
    pub accepted: u64,
    pub duplicates: u64,
    /// Records created before the retention horizon, which changed
    /// nothing: their ids may have been pruned, so storing them could
    /// count a command twice. Absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired: u64,
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Commands, incidents and gauges reported by the services, and the
/// metrics snapshots computed from them.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait CommandRepository: Send + Sync {
    /// Stores a batch in one transaction: all of it or none of it.
    ///
    /// One unit of work: the new commands with their hourly and per-type
    /// counts, so a tally never disagrees with the rows.
    fn insert_commands(
        &self,
        records: &[CommandRecord],
        received: Timestamp,
    ) -> Result<Ingested, StorageError>;

    /// Command counts with `start <= createdAt < end`. Whole hours come
    /// from the hourly table; only the ragged edges scan commands. An edge
    /// before the retention horizon (on an hour) has no raw commands left,
    /// so it widens to its whole hour.
    fn command_tally(&self, start: Timestamp, end: Timestamp)
        -> Result<CommandTally, StorageError>;

    /// The `durationMs` of every command with `start <= createdAt < end`
    /// that reported one, in no particular order: what a breaker window's
    /// latency percentiles are computed from, in the domain
    /// (`DurationPercentiles`), so that every backend agrees. Raw commands
    /// only: a window never reaches before the retention horizon of a
    /// rule's window (see `failed_command_types`).
    fn command_durations(&self, start: Timestamp, end: Timestamp)
        -> Result<Vec<u64>, StorageError>;

    /// Every command ever stored, by status: the Prometheus counters.
    fn command_totals(&self) -> Result<CommandTally, StorageError>;

    /// Command types that failed in `[start, end)`, sorted.
    fn failed_command_types(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError>;

    /// Successful commands of these types: emergency aborts for `/metrics`.
    fn succeeded_commands_of(&self, types: &[&str]) -> Result<u64, StorageError>;

    fn insert_incident(
        &self,
        incident: &NewIncident,
        reported_by: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StorageError>;

    /// The newest incidents first.
    fn recent_incidents(&self, limit: u32) -> Result<Vec<IncidentRecord>, StorageError>;

    /// Incidents in `[start, end)` by severity, and the critical ones
    /// caused by autonomous actions.
    fn incident_counts(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<(IncidentCounts, u32), StorageError>;

    /// Incidents since `start`, oldest first, as checklist items see them.
    fn incidents_since(&self, start: Timestamp) -> Result<Vec<Incident>, StorageError>;

    fn set_gauge(&self, name: &str, value: f64, now: Timestamp) -> Result<Gauge, StorageError>;

    fn gauges(&self) -> Result<Vec<Gauge>, StorageError>;

    /// Every incident ever, by severity, and those caused autonomously.
    fn incident_totals(&self) -> Result<(IncidentCounts, u64), StorageError>;

    fn store_snapshot(&self, m: &MetricsReport, now: Timestamp) -> Result<i64, StorageError>;

    fn latest_snapshot(&self) -> Result<Option<MetricsReport>, StorageError>;
}
