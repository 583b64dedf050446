//! Commands, incidents and gauges as reported, and their tallies.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::{from_json, to_json, SqliteStore, StorageError};
use crate::domain::metrics::MetricsReport;
use crate::domain::metrics::{
    CommandRecord, CommandStatus, CommandTally, IncidentCounts, IncidentRecord, NewIncident,
};
use crate::domain::readiness::{Gauge, Incident};
use crate::domain::{Severity, Timestamp};
use crate::storage::repositories::*;

pub(super) const HOUR_MS: i64 = 3_600_000;

fn status_of(text: &str) -> Result<CommandStatus, StorageError> {
    CommandStatus::parse(text).ok_or_else(|| StorageError::Corrupt {
        table: "commands",
        message: format!("unknown status `{text}`"),
    })
}

/// A stored `duration_ms`: never negative, since ingest refuses what does
/// not fit (`MetricsError::DurationTooLarge`).
fn duration_of(ms: i64) -> Result<u64, StorageError> {
    u64::try_from(ms).map_err(|_| StorageError::Corrupt {
        table: "commands",
        message: format!("a duration of {ms} ms"),
    })
}

impl CommandRepository for SqliteStore {
    fn insert_commands(
        &self,
        records: &[CommandRecord],
        received: Timestamp,
    ) -> Result<Ingested, StorageError> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO commands
                 (id, command_type, status, required_approval, autonomous, created_ms, duration_ms, error, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut hours: HashMap<(i64, CommandStatus, bool), i64> = HashMap::new();
            let mut types: HashMap<(&str, CommandStatus), i64> = HashMap::new();
            let horizon = super::retention::horizon(tx, super::retention::COMMANDS_HORIZON)?;
            let mut accepted = 0;
            let mut expired = 0;
            for r in records {
                let created = r.created_at.unwrap_or(received).millis();
                if horizon.is_some_and(|h| created < h) {
                    expired += 1;
                    continue;
                }
                let n = insert.execute(params![
                    r.id,
                    r.command_type,
                    r.status.as_str(),
                    r.required_approval,
                    r.autonomous,
                    created,
                    r.duration_ms.map(|d| d as i64),
                    r.error,
                    received.millis(),
                ])?;
                if n == 1 {
                    accepted += 1;
                    *hours
                        .entry((created.div_euclid(HOUR_MS) * HOUR_MS, r.status, r.required_approval))
                        .or_default() += 1;
                    *types.entry((r.command_type.as_str(), r.status)).or_default() += 1;
                }
            }
            let mut bump = tx.prepare_cached(
                "INSERT INTO command_hours (hour_ms, status, required_approval, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (hour_ms, status, required_approval) DO UPDATE SET n = n + excluded.n",
            )?;
            for ((hour, status, approval), n) in hours {
                bump.execute(params![hour, status.as_str(), approval, n])?;
            }
            let mut bump_type = tx.prepare_cached(
                "INSERT INTO command_type_totals (command_type, status, n) VALUES (?1, ?2, ?3)
                 ON CONFLICT (command_type, status) DO UPDATE SET n = n + excluded.n",
            )?;
            for ((command_type, status), n) in types {
                bump_type.execute(params![command_type, status.as_str(), n])?;
            }
            Ok(Ingested {
                accepted,
                duplicates: records.len() as u64 - accepted - expired,
                expired,
            })
        })
    }

    fn command_tally(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<CommandTally, StorageError> {
        let conn = self.conn();
        let (mut start, mut end) = (start.millis(), end.millis());
        if let Some(horizon) = super::retention::horizon(&conn, super::retention::COMMANDS_HORIZON)?
        {
            if start < horizon {
                start = start.div_euclid(HOUR_MS) * HOUR_MS;
            }
            if end < horizon && end.rem_euclid(HOUR_MS) != 0 {
                end = end.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
            }
        }
        let mut tally = CommandTally::default();
        let first_hour = start.div_euclid(HOUR_MS) * HOUR_MS
            + if start.rem_euclid(HOUR_MS) == 0 {
                0
            } else {
                HOUR_MS
            };
        let last_hour_end = end.div_euclid(HOUR_MS) * HOUR_MS;
        let mut raw = conn.prepare_cached(
            "SELECT status, required_approval, count(*) FROM commands
             WHERE created_ms >= ?1 AND created_ms < ?2 GROUP BY status, required_approval",
        )?;
        let mut add_raw =
            |from: i64, to: i64, tally: &mut CommandTally| -> Result<(), StorageError> {
                if from >= to {
                    return Ok(());
                }
                let mut rows = raw.query(params![from, to])?;
                while let Some(r) = rows.next()? {
                    let status: String = r.get(0)?;
                    tally.add(status_of(&status)?, r.get(1)?, r.get::<_, i64>(2)? as u64);
                }
                Ok(())
            };
        if first_hour >= last_hour_end {
            add_raw(start, end, &mut tally)?;
            return Ok(tally);
        }
        add_raw(start, first_hour, &mut tally)?;
        add_raw(last_hour_end, end, &mut tally)?;
        let mut hours = conn.prepare_cached(
            "SELECT status, required_approval, sum(n) FROM command_hours
             WHERE hour_ms >= ?1 AND hour_ms < ?2 GROUP BY status, required_approval",
        )?;
        let mut rows = hours.query(params![first_hour, last_hour_end])?;
        while let Some(r) = rows.next()? {
            let status: String = r.get(0)?;
            tally.add(status_of(&status)?, r.get(1)?, r.get::<_, i64>(2)? as u64);
        }
        Ok(tally)
    }

    fn command_durations(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<u64>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT duration_ms FROM commands
             WHERE created_ms >= ?1 AND created_ms < ?2 AND duration_ms IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![start.millis(), end.millis()], |r| {
            r.get::<_, i64>(0)
        })?;
        let mut durations = Vec::new();
        for d in rows {
            durations.push(duration_of(d?)?);
        }
        Ok(durations)
    }

    fn command_totals(&self) -> Result<CommandTally, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT status, required_approval, sum(n) FROM command_hours GROUP BY status, required_approval",
        )?;
        let mut rows = stmt.query([])?;
        let mut tally = CommandTally::default();
        while let Some(r) = rows.next()? {
            let status: String = r.get(0)?;
            tally.add(status_of(&status)?, r.get(1)?, r.get::<_, i64>(2)? as u64);
        }
        Ok(tally)
    }

    fn failed_command_types(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT command_type FROM commands
             WHERE created_ms >= ?1 AND created_ms < ?2 AND status = 'failed' ORDER BY command_type",
        )?;
        let rows = stmt.query_map(params![start.millis(), end.millis()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn succeeded_commands_of(&self, types: &[&str]) -> Result<u64, StorageError> {
        let conn = self.conn();
        let mut total = 0u64;
        for t in types {
            let n: i64 = conn.query_row(
                "SELECT coalesce(sum(n), 0) FROM command_type_totals WHERE command_type = ?1 AND status = 'succeeded'",
                [t],
                |r| r.get(0),
            )?;
            total += n as u64;
        }
        Ok(total)
    }

    fn insert_incident(
        &self,
        incident: &NewIncident,
        reported_by: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StorageError> {
        let occurred = incident.occurred_at.unwrap_or(now);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO incidents (severity, autonomous, command_type, description, occurred_ms, reported_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    incident.severity.as_str(),
                    incident.autonomous,
                    incident.command_type,
                    incident.description,
                    occurred.millis(),
                    reported_by
                ],
            )?;
            Ok(IncidentRecord {
                id: tx.last_insert_rowid(),
                severity: incident.severity,
                autonomous: incident.autonomous,
                command_type: incident.command_type.clone(),
                description: incident.description.clone(),
                occurred_at: occurred,
                reported_by: reported_by.to_string(),
            })
        })
    }

    fn recent_incidents(&self, limit: u32) -> Result<Vec<IncidentRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, severity, autonomous, command_type, description, occurred_ms, reported_by
             FROM incidents ORDER BY occurred_ms DESC, id DESC LIMIT ?1",
        )?;
        let mut rows = stmt.query([limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(IncidentRecord {
                id: r.get(0)?,
                severity: parse_severity(&r.get::<_, String>(1)?)?,
                autonomous: r.get(2)?,
                command_type: r.get(3)?,
                description: r.get(4)?,
                occurred_at: Timestamp(r.get(5)?),
                reported_by: r.get(6)?,
            });
        }
        Ok(out)
    }

    fn incident_counts(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<(IncidentCounts, u32), StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT severity, autonomous, count(*) FROM incidents
             WHERE occurred_ms >= ?1 AND occurred_ms < ?2 GROUP BY severity, autonomous",
        )?;
        let mut rows = stmt.query(params![start.millis(), end.millis()])?;
        let mut counts = IncidentCounts::default();
        let mut critical_autonomous = 0;
        while let Some(r) = rows.next()? {
            let severity = parse_severity(&r.get::<_, String>(0)?)?;
            let autonomous: bool = r.get(1)?;
            let n = r.get::<_, i64>(2)? as u32;
            counts.add(severity, n);
            if autonomous && severity == Severity::Critical {
                critical_autonomous += n;
            }
        }
        Ok((counts, critical_autonomous))
    }

    fn incidents_since(&self, start: Timestamp) -> Result<Vec<Incident>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT severity, autonomous, occurred_ms, command_type FROM incidents
             WHERE occurred_ms >= ?1 ORDER BY occurred_ms",
        )?;
        let mut rows = stmt.query([start.millis()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Incident {
                severity: parse_severity(&r.get::<_, String>(0)?)?,
                autonomous: r.get(1)?,
                occurred_at: Timestamp(r.get(2)?),
                command_type: r.get(3)?,
            });
        }
        Ok(out)
    }

    fn set_gauge(&self, name: &str, value: f64, now: Timestamp) -> Result<Gauge, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO gauges (name, value, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                params![name, value, now.millis()],
            )?;
            Ok(Gauge { name: name.to_string(), value, updated_at: Some(now) })
        })
    }

    fn gauges(&self) -> Result<Vec<Gauge>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT name, value, updated_ms FROM gauges ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(Gauge {
                name: r.get(0)?,
                value: r.get(1)?,
                updated_at: Some(Timestamp(r.get(2)?)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn incident_totals(&self) -> Result<(IncidentCounts, u64), StorageError> {
        let (counts, _) = self.incident_counts(Timestamp(i64::MIN), Timestamp(i64::MAX))?;
        let autonomous: i64 =
            self.conn()
                .query_row("SELECT count(*) FROM incidents WHERE autonomous", [], |r| {
                    r.get(0)
                })?;
        Ok((counts, autonomous as u64))
    }

    fn store_snapshot(&self, m: &MetricsReport, now: Timestamp) -> Result<i64, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO metrics_snapshots (at_ms, body) VALUES (?1, ?2)",
                params![now.millis(), to_json(m)?],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn latest_snapshot(&self) -> Result<Option<MetricsReport>, StorageError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM metrics_snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| from_json("metrics_snapshots", &b)).transpose()
    }
}

fn parse_severity(s: &str) -> Result<Severity, StorageError> {
    s.parse().map_err(|message| StorageError::Corrupt {
        table: "incidents",
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(id: &str, status: CommandStatus, at: i64) -> CommandRecord {
        CommandRecord {
            id: id.into(),
            command_type: "SET_FAN".into(),
            status,
            required_approval: false,
            autonomous: true,
            created_at: Some(Timestamp(at)),
            duration_ms: None,
            error: None,
        }
    }

    #[test]
    fn a_repeated_id_changes_nothing_and_tallies_agree_with_a_scan() {
        let db = SqliteStore::open_in_memory().unwrap();
        let base = 10 * HOUR_MS;
        let mut batch = Vec::new();
        for i in 0..500i64 {
            let status = CommandStatus::ALL[(i % 4) as usize];
            batch.push(cmd(&format!("c{i}"), status, base + i * 37_000));
        }
        batch.push(cmd("c1", CommandStatus::Failed, base));
        let r = db.insert_commands(&batch, Timestamp(base)).unwrap();
        assert_eq!(
            r,
            Ingested {
                accepted: 500,
                duplicates: 1,
                expired: 0
            }
        );
        let again = db.insert_commands(&batch[..10], Timestamp(base)).unwrap();
        assert_eq!(
            again,
            Ingested {
                accepted: 0,
                duplicates: 10,
                expired: 0
            }
        );
        // Ranges with ragged edges, whole hours, and none: the hourly sums
        // plus the edges must equal counting each command.
        for (from, to) in [
            (base + 1_234, base + 5 * HOUR_MS - 77),
            (base, base + 6 * HOUR_MS),
            (base + 100_000, base + 900_000),
            (0, base),
        ] {
            let tally = db.command_tally(Timestamp(from), Timestamp(to)).unwrap();
            let expected = batch[..500]
                .iter()
                .filter(|c| (from..to).contains(&c.created_at.unwrap().millis()))
                .count() as u64;
            assert_eq!(tally.total(), expected, "{from}..{to}");
        }
        assert_eq!(db.command_totals().unwrap().total(), 500);
        // 125 succeeded, each `SET_FAN`; the repeated `c1` added nothing.
        assert_eq!(
            db.succeeded_commands_of(&["SET_FAN", "ABORT"]).unwrap(),
            125
        );
    }
}
