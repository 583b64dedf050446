//! Engines' events, the actions taken on them, and risk reports.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{from_json, to_json, SqliteStore, StorageError};
use crate::domain::events::{ActionRecord, DeliveryStatus, EngineEvent, NewEvent, RiskReport};
use crate::domain::{Severity, Timestamp};
use crate::storage::repositories::*;

pub(super) fn insert_action(
    tx: &Transaction<'_>,
    a: &NewAction<'_>,
    now: Timestamp,
) -> Result<i64, StorageError> {
    tx.execute(
        "INSERT INTO actions (kind, action, event_id, agent_id, payload, created_ms, delivery)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            a.kind,
            a.action,
            a.event_id,
            a.agent_id,
            a.payload.to_string(),
            now.millis(),
            a.delivery.as_str()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

const EVENT_COLUMNS: &str =
    "id, engine, event_type, severity, details, occurred_ms, reported_by, action";

fn event(r: &Row<'_>) -> rusqlite::Result<(EngineEvent, String, String)> {
    Ok((
        EngineEvent {
            id: r.get(0)?,
            engine: r.get(1)?,
            event_type: r.get(2)?,
            severity: Severity::Low,
            details: serde_json::Value::Null,
            occurred_at: Timestamp(r.get(5)?),
            reported_by: r.get(6)?,
            action: r.get(7)?,
        },
        r.get(3)?,
        r.get(4)?,
    ))
}

fn parse_event(
    (mut e, severity, details): (EngineEvent, String, String),
) -> Result<EngineEvent, StorageError> {
    e.severity = severity.parse().map_err(|message| StorageError::Corrupt {
        table: "engine_events",
        message,
    })?;
    e.details = from_json("engine_events", &details)?;
    Ok(e)
}

const ACTION_COLUMNS: &str = "id, kind, action, event_id, agent_id, payload, created_ms, delivery, attempts, last_error, delivered_ms";

fn action(r: &Row<'_>) -> rusqlite::Result<(ActionRecord, String, String)> {
    Ok((
        ActionRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            action: r.get(2)?,
            event_id: r.get(3)?,
            agent_id: r.get(4)?,
            payload: serde_json::Value::Null,
            created_at: Timestamp(r.get(6)?),
            delivery: DeliveryStatus::Pending,
            attempts: r.get::<_, i64>(8)? as u32,
            last_error: r.get(9)?,
            delivered_at: r.get::<_, Option<i64>>(10)?.map(Timestamp),
        },
        r.get(5)?,
        r.get(7)?,
    ))
}

fn parse_action(
    (mut a, payload, delivery): (ActionRecord, String, String),
) -> Result<ActionRecord, StorageError> {
    a.payload = from_json("actions", &payload)?;
    a.delivery = delivery.parse().map_err(|message| StorageError::Corrupt {
        table: "actions",
        message,
    })?;
    Ok(a)
}

pub(super) fn read_action(conn: &Connection, id: i64) -> Result<ActionRecord, StorageError> {
    let row = conn
        .query_row(
            &format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"),
            [id],
            action,
        )
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no action with id {id}")))?;
    parse_action(row)
}

/// `now + ttl_ms`, refused rather than wrapped when it overflows.
fn claim_until(now: Timestamp, ttl_ms: u64) -> Result<i64, StorageError> {
    i64::try_from(ttl_ms)
        .ok()
        .and_then(|ttl| now.millis().checked_add(ttl))
        .ok_or_else(|| StorageError::Invalid(format!("a claim of {ttl_ms} ms does not end")))
}

impl EventRepository for SqliteStore {
    fn insert_event(
        &self,
        e: &NewEvent,
        by: &str,
        action: Option<(&str, DeliveryStatus)>,
        now: Timestamp,
    ) -> Result<(EngineEvent, Option<ActionRecord>), StorageError> {
        self.write(|tx| {
            let occurred = e.occurred_at.unwrap_or(now);
            let details = e
                .details
                .clone()
                .unwrap_or_else(|| serde_json::json!({}));
            tx.execute(
                "INSERT INTO engine_events (engine, event_type, severity, details, occurred_ms, reported_by, action)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    e.engine,
                    e.event_type,
                    e.severity.as_str(),
                    details.to_string(),
                    occurred.millis(),
                    by,
                    action.map(|a| a.0)
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO engine_event_totals (engine, severity, n) VALUES (?1, ?2, 1)
                 ON CONFLICT (engine, severity) DO UPDATE SET n = n + 1",
                params![e.engine, e.severity.as_str()],
            )?;
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
                    )?;
                    Some(read_action(tx, aid)?)
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
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM engine_events
             WHERE (?1 IS NULL OR engine = ?1) AND (?2 IS NULL OR severity = ?2)
             ORDER BY occurred_ms DESC, id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![engine, severity.map(Severity::as_str), limit],
            event,
        )?;
        rows.map(|r| parse_event(r?)).collect()
    }

    fn engine_events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<EngineEvent>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM engine_events
             WHERE occurred_ms >= ?1 AND occurred_ms < ?2 ORDER BY occurred_ms, id"
        ))?;
        let rows = stmt.query_map(params![start.millis(), end.millis()], event)?;
        rows.map(|r| parse_event(r?)).collect()
    }

    fn event_counts_since(
        &self,
        start: Timestamp,
    ) -> Result<(Vec<(String, u64)>, u64), StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT engine, count(*) FROM engine_events WHERE occurred_ms >= ?1 GROUP BY engine ORDER BY engine",
        )?;
        let by_engine = stmt
            .query_map([start.millis()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let critical: i64 = conn.query_row(
            "SELECT count(*) FROM engine_events WHERE occurred_ms >= ?1 AND severity = 'critical'",
            [start.millis()],
            |r| r.get(0),
        )?;
        Ok((by_engine, critical as u64))
    }

    fn event_totals(&self) -> Result<Vec<(String, String, u64)>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT engine, severity, n FROM engine_event_totals ORDER BY engine, severity",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn actions(&self, limit: u32) -> Result<Vec<ActionRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit], action)?;
        rows.map(|r| parse_action(r?)).collect()
    }

    fn pending_actions(&self) -> Result<Vec<ActionRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery = 'pending' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], action)?;
        rows.map(|r| parse_action(r?)).collect()
    }

    fn claim_pending_actions(
        &self,
        holder: &str,
        limit: u32,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<Vec<ActionRecord>, StorageError> {
        let until = claim_until(now, ttl_ms)?;
        let mut conn = self.conn();
        // One writer at a time: the claim and the read of what it claimed
        // see no other claimer in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claimed = {
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE actions SET claimed_by = ?1, claim_expires_ms = ?2
                 WHERE id IN (
                     SELECT id FROM actions
                     WHERE delivery = 'pending' AND (claimed_by IS NULL OR claim_expires_ms <= ?3)
                     ORDER BY id LIMIT ?4)
                 RETURNING {ACTION_COLUMNS}"
            ))?;
            let rows = stmt.query_map(params![holder, until, now.millis(), limit], action)?;
            rows.map(|r| parse_action(r?))
                .collect::<Result<Vec<_>, StorageError>>()?
        };
        tx.commit()?;
        let mut claimed = claimed;
        claimed.sort_by_key(|a| a.id);
        Ok(claimed)
    }

    fn claim_action(
        &self,
        id: i64,
        holder: &str,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let until = claim_until(now, ttl_ms)?;
        let changed = self.conn().execute(
            "UPDATE actions SET claimed_by = ?2, claim_expires_ms = ?3
             WHERE id = ?1 AND delivery = 'pending'
               AND (claimed_by IS NULL OR claimed_by = ?2 OR claim_expires_ms <= ?4)",
            params![id, holder, until, now.millis()],
        )?;
        Ok(changed == 1)
    }

    fn record_delivery(
        &self,
        id: i64,
        status: DeliveryStatus,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE actions SET attempts = attempts + 1, delivery = ?2, last_error = ?3,
             delivered_ms = CASE WHEN ?2 = 'delivered' THEN ?4 ELSE delivered_ms END WHERE id = ?1",
            params![id, status.as_str(), error, now.millis()],
        )?;
        Ok(())
    }

    fn mark_dropped(&self, id: i64, reason: &str) -> Result<bool, StorageError> {
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE actions SET delivery = 'dropped', last_error = ?2
             WHERE id = ?1 AND delivery = 'pending'",
            params![id, reason],
        )?;
        Ok(changed == 1)
    }

    fn drop_pending_beyond(&self, keep: usize, reason: &str) -> Result<usize, StorageError> {
        let conn = self.conn();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        Ok(conn.execute(
            "UPDATE actions SET delivery = 'dropped', last_error = ?2
             WHERE delivery = 'pending' AND id NOT IN
               (SELECT id FROM actions WHERE delivery = 'pending' ORDER BY id DESC LIMIT ?1)",
            params![keep, reason],
        )?)
    }

    fn insert_risk_report(&self, report: &RiskReport) -> Result<RiskReport, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO risk_reports (generated_ms, risk_score, body) VALUES (?1, ?2, ?3)",
                params![
                    report.generated_at.millis(),
                    report.risk_score,
                    to_json(report)?
                ],
            )?;
            let mut stored = report.clone();
            stored.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE risk_reports SET body = ?2 WHERE id = ?1",
                params![stored.id, to_json(&stored)?],
            )?;
            Ok(stored)
        })
    }

    fn risk_reports(&self, limit: u32) -> Result<Vec<RiskReport>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM risk_reports ORDER BY generated_ms DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("risk_reports", &b?)).collect()
    }
}
