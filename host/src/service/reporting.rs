//! What autonomous systems report: commands (posted, or copied from a
//! command service's database), incidents and gauges, and the metrics
//! computed over them.

use std::sync::{Arc, Mutex};

use super::{ServiceError, ServiceResult};
use crate::domain::governance::DAY_MS;
use crate::domain::metrics::{CommandRecord, IncidentRecord, MetricsReport, NewIncident};
use crate::domain::readiness::Gauge;
use crate::domain::Timestamp;
use crate::storage::prelude::*;
use crate::storage::{CommandSource, Ingested};

pub struct ReportingService {
    db: Arc<dyn Store>,
    /// A command service's database to copy commands from, and how far.
    command_source: Option<(Box<dyn CommandSource>, Mutex<i64>)>,
}

impl ReportingService {
    pub fn new(db: Arc<dyn Store>, command_source: Option<Box<dyn CommandSource>>) -> Self {
        Self {
            db,
            command_source: command_source.map(|s| (s, Mutex::new(0))),
        }
    }

    /// Stores a checked batch of command records, all or nothing.
    pub fn ingest_commands(
        &self,
        records: &[CommandRecord],
        now: Timestamp,
    ) -> ServiceResult<Ingested> {
        Ok(self.db.insert_commands(records, now)?)
    }

    /// Copies new rows from the command source, if any; returns how many
    /// were new. Starting over after a restart is harmless: ids are
    /// idempotent.
    pub fn sync_command_source(&self) -> ServiceResult<u64> {
        let Some((source, cursor)) = &self.command_source else {
            return Ok(0);
        };
        // One sync at a time; the cursor only moves after a page is stored.
        let mut cursor = cursor.lock().unwrap_or_else(|p| p.into_inner());
        let mut accepted = 0;
        loop {
            let page = source.read_after(*cursor, 5_000)?;
            for why in &page.skipped {
                tracing::warn!(%why, "command source row skipped");
            }
            if page.last_rowid == *cursor {
                return Ok(accepted);
            }
            if !page.records.is_empty() {
                accepted += self
                    .db
                    .insert_commands(&page.records, Timestamp::now())?
                    .accepted;
            }
            *cursor = page.last_rowid;
        }
    }

    pub fn record_incident(
        &self,
        incident: &NewIncident,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<IncidentRecord> {
        Ok(self.db.insert_incident(incident, who, now)?)
    }

    /// Incidents, newest first.
    pub fn incidents(&self, limit: u32) -> ServiceResult<Vec<IncidentRecord>> {
        Ok(self.db.recent_incidents(limit)?)
    }

    pub fn set_gauge(&self, name: &str, value: f64, now: Timestamp) -> ServiceResult<Gauge> {
        Ok(self.db.set_gauge(name, value, now)?)
    }

    /// Metrics of commands and incidents in `[start, end)`.
    pub fn metrics(&self, start: Timestamp, end: Timestamp) -> ServiceResult<MetricsReport> {
        // `start == end` is an empty window: every count is zero.
        if start > end {
            return Err(ServiceError::BadRequest(format!(
                "`start` ({start}) must not be after `end` ({end})"
            )));
        }
        let tally = self.db.command_tally(start, end)?;
        let (incidents, critical_autonomous) = self.db.incident_counts(start, end)?;
        Ok(MetricsReport::new(
            start,
            end,
            &tally,
            incidents,
            critical_autonomous,
        ))
    }

    /// The last 7 days, whole, and day by day (oldest first).
    pub fn weekly_metrics(
        &self,
        now: Timestamp,
    ) -> ServiceResult<(MetricsReport, Vec<MetricsReport>)> {
        // Ending just after now: a record stamped this millisecond counts.
        let start = Timestamp(now.millis() + 1 - 7 * DAY_MS);
        let total = self.metrics(start, Timestamp(now.millis() + 1))?;
        let days = (0..7)
            .map(|d| {
                let from = Timestamp(start.millis() + d * DAY_MS);
                self.metrics(from, Timestamp(from.millis() + DAY_MS))
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok((total, days))
    }

    /// The metrics snapshot the last cycle stored.
    pub fn latest_snapshot(&self) -> ServiceResult<MetricsReport> {
        self.db.latest_snapshot()?.ok_or_else(|| {
            ServiceError::NotFound("no metrics snapshot yet: the governance cycle stores one (POST /api/governance/run-cycle)".into())
        })
    }
}
