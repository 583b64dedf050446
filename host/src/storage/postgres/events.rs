//! Engines' events, the actions taken on them, and risk reports. A port
//! of `storage/sqlite/events.rs`, plus the delivery claims that let
//! several replicas share one queue of actions: a replica claims actions
//! with `FOR UPDATE SKIP LOCKED`, so two replicas never claim the same one.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{from_json, pg, to_json, PostgresStore, StorageError, UnitOfWork};
use crate::domain::events::{ActionRecord, DeliveryStatus, EngineEvent, NewEvent, RiskReport};
use crate::domain::{Severity, Timestamp};
use crate::storage::repositories::*;

pub(super) async fn insert_action(
    tx: &UnitOfWork<'_>,
    a: &NewAction<'_>,
    now: Timestamp,
) -> Result<i64, StorageError> {
    Ok(tx
        .query_one(
            "INSERT INTO actions (kind, action, event_id, agent_id, payload, created_ms, delivery)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &a.kind,
                &a.action,
                &a.event_id,
                &a.agent_id,
                &a.payload.to_string(),
                &now.millis(),
                &a.delivery.as_str(),
            ],
        )
        .await
        .map_err(pg("record an action"))?
        .get(0))
}

const EVENT_COLUMNS: &str =
    "id, engine, event_type, severity, details, occurred_ms, reported_by, action";

fn event(r: &Row) -> Result<EngineEvent, StorageError> {
    Ok(EngineEvent {
        id: r.get(0),
        engine: r.get(1),
        event_type: r.get(2),
        severity: r
            .get::<_, &str>(3)
            .parse()
            .map_err(|message| StorageError::Corrupt {
                table: "engine_events",
                message,
            })?,
        details: from_json("engine_events", r.get(4))?,
        occurred_at: Timestamp(r.get(5)),
        reported_by: r.get(6),
        action: r.get(7),
    })
}

const ACTION_COLUMNS: &str = "id, kind, action, event_id, agent_id, payload, created_ms, delivery, attempts, last_error, delivered_ms";

fn action(r: &Row) -> Result<ActionRecord, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        table: "actions",
        message,
    };
    let attempts: i64 = r.get(8);
    Ok(ActionRecord {
        id: r.get(0),
        kind: r.get(1),
        action: r.get(2),
        event_id: r.get(3),
        agent_id: r.get(4),
        payload: from_json("actions", r.get(5))?,
        created_at: Timestamp(r.get(6)),
        delivery: r.get::<_, &str>(7).parse().map_err(corrupt)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(format!("an action has {attempts} attempts")))?,
        last_error: r.get(9),
        delivered_at: r.get::<_, Option<i64>>(10).map(Timestamp),
    })
}

fn actions(rows: &[Row]) -> Result<Vec<ActionRecord>, StorageError> {
    rows.iter().map(action).collect()
}

pub(super) async fn read_action<C: GenericClient>(
    c: &C,
    id: i64,
) -> Result<ActionRecord, StorageError> {
    let row = c
        .query_opt(
            &format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(pg("read an action"))?
        .ok_or_else(|| StorageError::NotFound(format!("no action with id {id}")))?;
    action(&row)
}

fn count(n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| StorageError::Corrupt {
        table: "engine_events",
        message: format!("a count of {n}"),
    })
}

/// `now + ttl_ms`, refused rather than wrapped when it overflows.
fn claim_until(now: Timestamp, ttl_ms: u64) -> Result<i64, StorageError> {
    i64::try_from(ttl_ms)
        .ok()
        .and_then(|ttl| now.millis().checked_add(ttl))
        .ok_or_else(|| StorageError::Invalid(format!("a claim of {ttl_ms} ms does not end")))
}

impl PostgresStore {
    /// Runs one statement outside a unit of work: delivery bookkeeping is
    /// not audited and is no part of the control state, so it neither
    /// takes the writer lock nor wakes the other replicas.
    fn bookkeeping<R>(
        &self,
        f: impl AsyncFnOnce(&super::PgClient) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        self.read(f)
    }
}

impl EventRepository for PostgresStore {
    fn insert_event(
        &self,
        e: &NewEvent,
        by: &str,
        action: Option<(&str, DeliveryStatus)>,
        now: Timestamp,
    ) -> Result<(EngineEvent, Option<ActionRecord>), StorageError> {
        self.write(async |tx| {
            let occurred = e.occurred_at.unwrap_or(now);
            let details = e
                .details
                .clone()
                .unwrap_or_else(|| serde_json::json!({}));
            let id: i64 = tx
                .query_one(
                    "INSERT INTO engine_events (engine, event_type, severity, details, occurred_ms, reported_by, action)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &e.engine,
                        &e.event_type,
                        &e.severity.as_str(),
                        &details.to_string(),
                        &occurred.millis(),
                        &by,
                        &action.map(|a| a.0),
                    ],
                )
                .await
                .map_err(pg("record an event"))?
                .get(0);
            tx.execute(
                "INSERT INTO engine_event_totals (engine, severity, n) VALUES ($1, $2, 1)
                 ON CONFLICT (engine, severity) DO UPDATE SET n = engine_event_totals.n + 1",
                &[&e.engine, &e.severity.as_str()],
            )
            .await
            .map_err(pg("count an event"))?;
            let event = EngineEvent {
                id,
                engine: e.engine.clone(),
                event_type: e.event_type.clone(),
                severity: e.severity,
                details,
                occurred_at: occurred,
                reported_by: by.to_string(),
                action: action.map(|a| a.0.to_string()),
            };
            let record = match action {
                None => None,
                Some((name, delivery)) => {
                    let payload = serde_json::json!({
                        "type": "AUTO_ACTION",
                        "action": name,
                        "event": &event,
                    });
                    let aid = insert_action(
                        tx,
                        &NewAction {
                            kind: "auto_action",
                            action: name,
                            event_id: Some(id),
                            agent_id: None,
                            payload,
                            delivery,
                        },
                        now,
                    )
                    .await?;
                    Some(read_action(&**tx, aid).await?)
                }
            };
            Ok((event, record))
        })
    }

    fn engine_events(
        &self,
        limit: u32,
        engine: Option<&str>,
        severity: Option<Severity>,
    ) -> Result<Vec<EngineEvent>, StorageError> {
        self.read(async |c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM engine_events
                     WHERE ($1::text IS NULL OR engine = $1) AND ($2::text IS NULL OR severity = $2)
                     ORDER BY occurred_ms DESC, id DESC LIMIT $3"
                ),
                &[&engine, &severity.map(Severity::as_str), &i64::from(limit)],
            )
            .await
            .map_err(pg("read the events"))?
            .iter()
            .map(event)
            .collect()
        })
    }

    fn engine_events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<EngineEvent>, StorageError> {
        self.read(async |c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM engine_events
                     WHERE occurred_ms >= $1 AND occurred_ms < $2 ORDER BY occurred_ms, id"
                ),
                &[&start.millis(), &end.millis()],
            )
            .await
            .map_err(pg("read the events"))?
            .iter()
            .map(event)
            .collect()
        })
    }

    fn event_counts_since(
        &self,
        start: Timestamp,
    ) -> Result<(Vec<(String, u64)>, u64), StorageError> {
        self.read(async |c| {
            let by_engine = c
                .query(
                    r#"SELECT engine, count(*) FROM engine_events WHERE occurred_ms >= $1
                       GROUP BY engine ORDER BY engine COLLATE "C""#,
                    &[&start.millis()],
                )
                .await
                .map_err(pg("count the events"))?
                .iter()
                .map(|r| Ok((r.get(0), count(r.get(1))?)))
                .collect::<Result<Vec<_>, StorageError>>()?;
            let critical: i64 = c
                .query_one(
                    "SELECT count(*) FROM engine_events WHERE occurred_ms >= $1 AND severity = 'critical'",
                    &[&start.millis()],
                )
                .await
                .map_err(pg("count the critical events"))?
                .get(0);
            Ok((by_engine, count(critical)?))
        })
    }

    fn event_totals(&self) -> Result<Vec<(String, String, u64)>, StorageError> {
        self.read(async |c| {
            c.query(
                r#"SELECT engine, severity, n FROM engine_event_totals
                   ORDER BY engine COLLATE "C", severity COLLATE "C""#,
                &[],
            )
            .await
            .map_err(pg("read the event totals"))?
            .iter()
            .map(|r| Ok((r.get(0), r.get(1), count(r.get(2))?)))
            .collect()
        })
    }

    fn actions(&self, limit: u32) -> Result<Vec<ActionRecord>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!("SELECT {ACTION_COLUMNS} FROM actions ORDER BY id DESC LIMIT $1"),
                    &[&i64::from(limit)],
                )
                .await
                .map_err(pg("read the actions"))?;
            actions(&rows)
        })
    }

    fn pending_actions(&self) -> Result<Vec<ActionRecord>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery = 'pending' ORDER BY id"
                    ),
                    &[],
                )
                .await
                .map_err(pg("read the pending actions"))?;
            actions(&rows)
        })
    }

    fn claim_pending_actions(
        &self,
        holder: &str,
        limit: u32,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<Vec<ActionRecord>, StorageError> {
        let until = claim_until(now, ttl_ms)?;
        self.bookkeeping(async |c| {
            // Rows another replica is claiming right now are skipped, not
            // waited for; a row claimed and committed meanwhile is checked
            // again against the condition once locked, so it is not taken.
            let rows = c
                .query(
                    &format!(
                        "UPDATE actions SET claimed_by = $1, claim_expires_ms = $2
                         WHERE id IN (
                             SELECT id FROM actions
                             WHERE delivery = 'pending'
                               AND (claimed_by IS NULL OR claim_expires_ms <= $3)
                             ORDER BY id LIMIT $4
                             FOR UPDATE SKIP LOCKED)
                         RETURNING {ACTION_COLUMNS}"
                    ),
                    &[&holder, &until, &now.millis(), &i64::from(limit)],
                )
                .await
                .map_err(pg("claim pending actions"))?;
            let mut claimed = actions(&rows)?;
            claimed.sort_by_key(|a| a.id);
            Ok(claimed)
        })
    }

    fn claim_action(
        &self,
        id: i64,
        holder: &str,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let until = claim_until(now, ttl_ms)?;
        self.bookkeeping(async |c| {
            let changed = c
                .execute(
                    "UPDATE actions SET claimed_by = $2, claim_expires_ms = $3
                     WHERE id = $1 AND delivery = 'pending'
                       AND (claimed_by IS NULL OR claimed_by = $2 OR claim_expires_ms <= $4)",
                    &[&id, &holder, &until, &now.millis()],
                )
                .await
                .map_err(pg("claim an action"))?;
            Ok(changed == 1)
        })
    }

    fn record_delivery(
        &self,
        id: i64,
        status: DeliveryStatus,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.bookkeeping(async |c| {
            c.execute(
                "UPDATE actions SET attempts = attempts + 1, delivery = $2, last_error = $3,
                 delivered_ms = CASE WHEN $2 = 'delivered' THEN $4 ELSE delivered_ms END WHERE id = $1",
                &[&id, &status.as_str(), &error, &now.millis()],
            )
            .await
            .map_err(pg("record a delivery attempt"))?;
            Ok(())
        })
    }

    fn mark_dropped(&self, id: i64, reason: &str) -> Result<bool, StorageError> {
        self.bookkeeping(async |c| {
            let changed = c
                .execute(
                    "UPDATE actions SET delivery = 'dropped', last_error = $2
                     WHERE id = $1 AND delivery = 'pending'",
                    &[&id, &reason],
                )
                .await
                .map_err(pg("record a dropped action"))?;
            Ok(changed == 1)
        })
    }

    fn drop_pending_beyond(&self, keep: usize, reason: &str) -> Result<usize, StorageError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.bookkeeping(async |c| {
            let dropped = c
                .execute(
                    "UPDATE actions SET delivery = 'dropped', last_error = $2
                     WHERE delivery = 'pending' AND id NOT IN
                       (SELECT id FROM actions WHERE delivery = 'pending' ORDER BY id DESC LIMIT $1)",
                    &[&keep, &reason],
                )
                .await
                .map_err(pg("record dropped actions"))?;
            usize::try_from(dropped).map_err(|_| StorageError::Corrupt {
                table: "actions",
                message: format!("{dropped} rows changed"),
            })
        })
    }

    fn insert_risk_report(&self, report: &RiskReport) -> Result<RiskReport, StorageError> {
        self.write(async |tx| {
            let mut stored = report.clone();
            stored.id = tx
                .query_one(
                    "INSERT INTO risk_reports (generated_ms, risk_score, body) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[
                        &report.generated_at.millis(),
                        &i64::from(report.risk_score),
                        &to_json(report)?,
                    ],
                )
                .await
                .map_err(pg("store a risk report"))?
                .get(0);
            tx.execute(
                "UPDATE risk_reports SET body = $2 WHERE id = $1",
                &[&stored.id, &to_json(&stored)?],
            )
            .await
            .map_err(pg("store a risk report"))?;
            Ok(stored)
        })
    }

    fn risk_reports(&self, limit: u32) -> Result<Vec<RiskReport>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT body FROM risk_reports ORDER BY generated_ms DESC, id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(pg("read the risk reports"))?
            .iter()
            .map(|r| from_json("risk_reports", r.get(0)))
            .collect()
        })
    }
}
