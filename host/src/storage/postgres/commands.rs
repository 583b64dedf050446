//! Commands, incidents and gauges as reported, and their tallies: the port
//! of `storage/sqlite/commands.rs`.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;

use super::{from_json, pg, retention, to_json, PostgresStore, StorageError};
use crate::domain::metrics::{
    CommandRecord, CommandStatus, CommandTally, IncidentCounts, IncidentRecord, MetricsReport,
    NewIncident,
};
use crate::domain::readiness::{Gauge, Incident};
use crate::domain::{Severity, Timestamp};
use crate::storage::repositories::*;

const HOUR_MS: i64 = 3_600_000;

fn status_of(text: &str) -> Result<CommandStatus, StorageError> {
    CommandStatus::parse(text).ok_or_else(|| StorageError::Corrupt {
        table: "commands",
        message: format!("unknown status `{text}`"),
    })
}

fn parse_severity(s: &str) -> Result<Severity, StorageError> {
    s.parse().map_err(|message| StorageError::Corrupt {
        table: "incidents",
        message,
    })
}

/// A count the database returned, as the unsigned count it is.
fn count_of(n: i64, table: &'static str) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| StorageError::Corrupt {
        table,
        message: format!("a count of {n}"),
    })
}

/// Adds rows of `(status, required_approval, n)` to `tally`.
fn add_rows(
    tally: &mut CommandTally,
    rows: &[tokio_postgres::Row],
    table: &'static str,
) -> Result<(), StorageError> {
    for r in rows {
        tally.add(
            status_of(r.get(0))?,
            r.get(1),
            count_of(r.get::<_, i64>(2), table)?,
        );
    }
    Ok(())
}

impl PostgresStore {
    /// Runs a read of several statements on one snapshot of the database,
    /// as SQLite's single connection reads them: a commit or a prune
    /// landing between two statements cannot make a tally count a command
    /// twice or not at all.
    fn read_in_one_snapshot<R>(
        &self,
        f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        self.block_on(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg("begin a consistent read"))?;
            let out = f(&tx).await?;
            tx.commit().await.map_err(pg("finish a consistent read"))?;
            Ok(out)
        })
    }
}

impl CommandRepository for PostgresStore {
    fn insert_commands(
        &self,
        records: &[CommandRecord],
        received: Timestamp,
    ) -> Result<Ingested, StorageError> {
        self.write(async |tx| {
            let horizon = retention::horizon(&**tx, retention::COMMANDS_HORIZON).await?;
            let mut expired = 0;
            // The first record with an id is the one stored, as SQLite's
            // row-by-row `INSERT OR IGNORE` keeps it.
            let mut seen = HashSet::new();
            let mut fresh: Vec<(&CommandRecord, i64)> = Vec::new();
            for r in records {
                let created = r.created_at.unwrap_or(received).millis();
                if horizon.is_some_and(|h| created < h) {
                    expired += 1;
                    continue;
                }
                if seen.insert(r.id.as_str()) {
                    fresh.push((r, created));
                }
            }
            // One statement for the whole batch: the writer lock is held
            // for one round trip, not one per command.
            // The same 64 bits SQLite stores for a duration past i64::MAX.
            let durations = fresh
                .iter()
                .map(|(r, _)| r.duration_ms.map(|d| d as i64))
                .collect::<Vec<_>>();
            let inserted = tx
                .query(
                    "INSERT INTO commands
                     (id, command_type, status, required_approval, autonomous, created_ms, duration_ms, error, received_ms)
                     SELECT id, command_type, status, required_approval, autonomous, created_ms, duration_ms, error, $9
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::boolean[],
                                 $6::bigint[], $7::bigint[], $8::text[])
                          AS batch (id, command_type, status, required_approval, autonomous, created_ms, duration_ms, error)
                     ON CONFLICT (id) DO NOTHING
                     RETURNING id",
                    &[
                        &fresh.iter().map(|(r, _)| r.id.as_str()).collect::<Vec<_>>(),
                        &fresh.iter().map(|(r, _)| r.command_type.as_str()).collect::<Vec<_>>(),
                        &fresh.iter().map(|(r, _)| r.status.as_str()).collect::<Vec<_>>(),
                        &fresh.iter().map(|(r, _)| r.required_approval).collect::<Vec<_>>(),
                        &fresh.iter().map(|(r, _)| r.autonomous).collect::<Vec<_>>(),
                        &fresh.iter().map(|(_, created)| *created).collect::<Vec<_>>(),
                        &durations,
                        &fresh.iter().map(|(r, _)| r.error.as_deref()).collect::<Vec<_>>(),
                        &received.millis(),
                    ],
                )
                .await
                .map_err(pg("store commands"))?;
            let stored: HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
            let mut hours: HashMap<(i64, CommandStatus, bool), i64> = HashMap::new();
            let mut types: HashMap<(&str, CommandStatus), i64> = HashMap::new();
            for (r, created) in fresh.iter().filter(|(r, _)| stored.contains(&r.id)) {
                *hours
                    .entry((created.div_euclid(HOUR_MS) * HOUR_MS, r.status, r.required_approval))
                    .or_default() += 1;
                *types.entry((r.command_type.as_str(), r.status)).or_default() += 1;
            }
            let accepted = stored.len() as u64;
            if !hours.is_empty() {
                let (keys, counts): (Vec<_>, Vec<i64>) = hours.into_iter().unzip();
                tx.execute(
                    "INSERT INTO command_hours (hour_ms, status, required_approval, n)
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::bigint[])
                     ON CONFLICT (hour_ms, status, required_approval)
                     DO UPDATE SET n = command_hours.n + excluded.n",
                    &[
                        &keys.iter().map(|k| k.0).collect::<Vec<_>>(),
                        &keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
                        &keys.iter().map(|k| k.2).collect::<Vec<_>>(),
                        &counts,
                    ],
                )
                .await
                .map_err(pg("count commands by hour"))?;
            }
            if !types.is_empty() {
                let (keys, counts): (Vec<_>, Vec<i64>) = types.into_iter().unzip();
                tx.execute(
                    "INSERT INTO command_type_totals (command_type, status, n)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                     ON CONFLICT (command_type, status)
                     DO UPDATE SET n = command_type_totals.n + excluded.n",
                    &[
                        &keys.iter().map(|k| k.0).collect::<Vec<_>>(),
                        &keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
                        &counts,
                    ],
                )
                .await
                .map_err(pg("count commands by type"))?;
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
        self.read_in_one_snapshot(async |c| {
            let (mut start, mut end) = (start.millis(), end.millis());
            if let Some(horizon) = retention::horizon(c, retention::COMMANDS_HORIZON).await? {
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
            let raw = c
                .prepare_cached(
                    "SELECT status, required_approval, count(*) FROM commands
                     WHERE created_ms >= $1 AND created_ms < $2 GROUP BY status, required_approval",
                )
                .await
                .map_err(pg("prepare the command count"))?;
            let add_raw = async |from: i64, to: i64, tally: &mut CommandTally| {
                if from >= to {
                    return Ok::<_, StorageError>(());
                }
                let rows = c
                    .query(&raw, &[&from, &to])
                    .await
                    .map_err(pg("count commands"))?;
                add_rows(tally, &rows, "commands")
            };
            if first_hour >= last_hour_end {
                add_raw(start, end, &mut tally).await?;
                return Ok(tally);
            }
            add_raw(start, first_hour, &mut tally).await?;
            add_raw(last_hour_end, end, &mut tally).await?;
            let rows = c
                .query(
                    "SELECT status, required_approval, sum(n)::bigint FROM command_hours
                     WHERE hour_ms >= $1 AND hour_ms < $2 GROUP BY status, required_approval",
                    &[&first_hour, &last_hour_end],
                )
                .await
                .map_err(pg("count commands by hour"))?;
            add_rows(&mut tally, &rows, "command_hours")?;
            Ok(tally)
        })
    }

    fn command_durations(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<u64>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT duration_ms FROM commands
                 WHERE created_ms >= $1 AND created_ms < $2 AND duration_ms IS NOT NULL",
                &[&start.millis(), &end.millis()],
            )
            .await
            .map_err(pg("read the command durations"))?
            .iter()
            .map(|r| {
                let ms: i64 = r.get(0);
                // Never negative: ingest refuses what does not fit.
                u64::try_from(ms).map_err(|_| StorageError::Corrupt {
                    table: "commands",
                    message: format!("a duration of {ms} ms"),
                })
            })
            .collect()
        })
    }

    fn command_totals(&self) -> Result<CommandTally, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT status, required_approval, sum(n)::bigint FROM command_hours
                     GROUP BY status, required_approval",
                    &[],
                )
                .await
                .map_err(pg("count commands"))?;
            let mut tally = CommandTally::default();
            add_rows(&mut tally, &rows, "command_hours")?;
            Ok(tally)
        })
    }

    fn failed_command_types(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        self.read(async |c| {
            // Byte order, as SQLite sorts text, whatever the database's
            // collation.
            Ok(c.query(
                "SELECT DISTINCT command_type COLLATE \"C\" FROM commands
                     WHERE created_ms >= $1 AND created_ms < $2 AND status = 'failed'
                     ORDER BY 1",
                &[&start.millis(), &end.millis()],
            )
            .await
            .map_err(pg("read the failed command types"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn succeeded_commands_of(&self, types: &[&str]) -> Result<u64, StorageError> {
        self.read(async |c| {
            // A type named twice counts twice, as SQLite's sum per type does.
            let n: i64 = c
                .query_one(
                    "SELECT coalesce(sum(t.n), 0)::bigint
                     FROM unnest($1::text[]) AS asked (command_type)
                     JOIN command_type_totals t
                       ON t.command_type = asked.command_type AND t.status = 'succeeded'",
                    &[&types],
                )
                .await
                .map_err(pg("count succeeded commands"))?
                .get(0);
            count_of(n, "command_type_totals")
        })
    }

    fn insert_incident(
        &self,
        incident: &NewIncident,
        reported_by: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StorageError> {
        let occurred = incident.occurred_at.unwrap_or(now);
        self.write(async |tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO incidents (severity, autonomous, command_type, description, occurred_ms, reported_by)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &incident.severity.as_str(),
                        &incident.autonomous,
                        &incident.command_type,
                        &incident.description,
                        &occurred.millis(),
                        &reported_by,
                    ],
                )
                .await
                .map_err(pg("store an incident"))?
                .get(0);
            Ok(IncidentRecord {
                id,
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
        self.read(async |c| {
            c.query(
                "SELECT id, severity, autonomous, command_type, description, occurred_ms, reported_by
                 FROM incidents ORDER BY occurred_ms DESC, id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(pg("read the incidents"))?
            .iter()
            .map(|r| {
                Ok(IncidentRecord {
                    id: r.get(0),
                    severity: parse_severity(r.get(1))?,
                    autonomous: r.get(2),
                    command_type: r.get(3),
                    description: r.get(4),
                    occurred_at: Timestamp(r.get(5)),
                    reported_by: r.get(6),
                })
            })
            .collect()
        })
    }

    fn incident_counts(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<(IncidentCounts, u32), StorageError> {
        self.read(async |c| incident_counts(c, start, end).await)
    }

    fn incidents_since(&self, start: Timestamp) -> Result<Vec<Incident>, StorageError> {
        self.read(async |c| {
            // Ties in id order, as SQLite walks its index on the time.
            c.query(
                "SELECT severity, autonomous, occurred_ms, command_type FROM incidents
                 WHERE occurred_ms >= $1 ORDER BY occurred_ms, id",
                &[&start.millis()],
            )
            .await
            .map_err(pg("read the incidents"))?
            .iter()
            .map(|r| {
                Ok(Incident {
                    severity: parse_severity(r.get(0))?,
                    autonomous: r.get(1),
                    occurred_at: Timestamp(r.get(2)),
                    command_type: r.get(3),
                })
            })
            .collect()
        })
    }

    fn set_gauge(&self, name: &str, value: f64, now: Timestamp) -> Result<Gauge, StorageError> {
        self.write(async |tx| {
            tx.execute(
                "INSERT INTO gauges (name, value, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                &[&name, &value, &now.millis()],
            )
            .await
            .map_err(pg("set a gauge"))?;
            Ok(Gauge {
                name: name.to_string(),
                value,
                updated_at: Some(now),
            })
        })
    }

    fn gauges(&self) -> Result<Vec<Gauge>, StorageError> {
        self.read(async |c| {
            Ok(c.query(
                "SELECT name, value, updated_ms FROM gauges ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(pg("read the gauges"))?
            .iter()
            .map(|r| Gauge {
                name: r.get(0),
                value: r.get(1),
                updated_at: Some(Timestamp(r.get(2))),
            })
            .collect())
        })
    }

    fn incident_totals(&self) -> Result<(IncidentCounts, u64), StorageError> {
        self.read_in_one_snapshot(async |c| {
            let (counts, _) = incident_counts(c, Timestamp(i64::MIN), Timestamp(i64::MAX)).await?;
            let autonomous: i64 = c
                .query_one("SELECT count(*) FROM incidents WHERE autonomous", &[])
                .await
                .map_err(pg("count the incidents"))?
                .get(0);
            Ok((counts, count_of(autonomous, "incidents")?))
        })
    }

    fn store_snapshot(&self, m: &MetricsReport, now: Timestamp) -> Result<i64, StorageError> {
        self.write(async |tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO metrics_snapshots (at_ms, body) VALUES ($1, $2) RETURNING id",
                    &[&now.millis(), &to_json(m)?],
                )
                .await
                .map_err(pg("store a metrics snapshot"))?
                .get(0))
        })
    }

    fn latest_snapshot(&self) -> Result<Option<MetricsReport>, StorageError> {
        self.read(async |c| {
            c.query_opt(
                "SELECT body FROM metrics_snapshots ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg("read the latest metrics snapshot"))?
            .map(|r| from_json("metrics_snapshots", r.get(0)))
            .transpose()
        })
    }
}

async fn incident_counts<C: GenericClient>(
    c: &C,
    start: Timestamp,
    end: Timestamp,
) -> Result<(IncidentCounts, u32), StorageError> {
    let rows = c
        .query(
            "SELECT severity, autonomous, count(*) FROM incidents
             WHERE occurred_ms >= $1 AND occurred_ms < $2 GROUP BY severity, autonomous",
            &[&start.millis(), &end.millis()],
        )
        .await
        .map_err(pg("count the incidents"))?;
    let mut counts = IncidentCounts::default();
    let mut critical_autonomous = 0;
    for r in rows {
        let severity = parse_severity(r.get(0))?;
        let autonomous: bool = r.get(1);
        // SQLite's backend narrows the same way; a window of more than
        // four billion incidents is not a real one.
        let n = r.get::<_, i64>(2) as u32;
        counts.add(severity, n);
        if autonomous && severity == Severity::Critical {
            critical_autonomous += n;
        }
    }
    Ok((counts, critical_autonomous))
}
