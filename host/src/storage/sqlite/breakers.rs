//! Circuit-breaker rules and events; a trip's action runs in the event's
//! transaction.

use rusqlite::{params, OptionalExtension, Transaction};

use super::governance::{cancel_pending, write_phase};
use super::{from_json, json_value, to_json, SqliteStore, StorageError};
use crate::domain::breaker::{BreakerAction, BreakerEvent, BreakerRule};
use crate::domain::{Phase, Timestamp};
use crate::storage::repositories::*;

fn rule_in(tx: &rusqlite::Connection, name: &str) -> Result<Option<BreakerRule>, StorageError> {
    let body: Option<String> = tx
        .query_row(
            "SELECT body FROM breaker_rules WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    body.map(|b| from_json("breaker_rules", &b)).transpose()
}

fn no_rule(name: &str) -> StorageError {
    StorageError::NotFound(format!(
        "no breaker rule named `{name}` (GET /api/circuit-breaker/rules lists them)"
    ))
}

impl BreakerRepository for SqliteStore {
    fn unresolved_event_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM breaker_events WHERE resolved_ms IS NULL",
            [],
            |r| r.get(0),
        )?;
        // count(*) is never negative; if it were, the file is not what
        // Regent wrote, and a scrape must say so rather than report 0.
        u64::try_from(n).map_err(|_| StorageError::Corrupt {
            table: "breaker_events",
            message: format!("count(*) returned {n}"),
        })
    }

    fn rules(&self) -> Result<Vec<BreakerRule>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT body FROM breaker_rules ORDER BY position, name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("breaker_rules", &b?)).collect()
    }

    fn rule(&self, name: &str) -> Result<BreakerRule, StorageError> {
        rule_in(&self.conn(), name)?.ok_or_else(|| no_rule(name))
    }

    fn insert_rule(
        &self,
        rule: &BreakerRule,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            if rule_in(tx, &rule.name)?.is_some() {
                return Err(StorageError::Conflict(format!(
                    "a breaker rule named `{}` already exists",
                    rule.name
                )));
            }
            let position: i64 = tx.query_row(
                "SELECT coalesce(max(position), -1) + 1 FROM breaker_rules",
                [],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO breaker_rules (name, position, body) VALUES (?1, ?2, ?3)",
                params![rule.name, position, to_json(rule)?],
            )?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.create",
                    target: format!("rule/{}", rule.name),
                    before: None,
                    after: Some(json_value(rule)?),
                },
            )?;
            Ok(())
        })
    }

    fn update_rule(
        &self,
        name: &str,
        updated: &BreakerRule,
        actor: &str,
        now: Timestamp,
    ) -> Result<BreakerRule, StorageError> {
        self.write(|tx| {
            let before = rule_in(tx, name)?.ok_or_else(|| no_rule(name))?;
            tx.execute(
                "UPDATE breaker_rules SET body = ?2 WHERE name = ?1",
                params![name, to_json(updated)?],
            )?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.update",
                    target: format!("rule/{name}"),
                    before: Some(json_value(&before)?),
                    after: Some(json_value(updated)?),
                },
            )?;
            Ok(updated.clone())
        })
    }

    fn delete_rule(
        &self,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<BreakerRule, StorageError> {
        self.write(|tx| {
            let before = rule_in(tx, name)?.ok_or_else(|| no_rule(name))?;
            tx.execute("DELETE FROM breaker_rules WHERE name = ?1", [name])?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.delete",
                    target: format!("rule/{name}"),
                    before: Some(json_value(&before)?),
                    after: None,
                },
            )?;
            Ok(before)
        })
    }

    fn record_trip(&self, mut event: BreakerEvent) -> Result<Option<BreakerEvent>, StorageError> {
        let now = event.triggered_at;
        let failed_check = event.check_error.is_some();
        self.write(|tx| {
            let open: Option<String> = tx
                .query_row(
                    "SELECT body FROM breaker_events WHERE rule_name = ?1 AND resolved_ms IS NULL",
                    [&event.rule_name],
                    |r| r.get(0),
                )
                .optional()?;
            let actor = format!("breaker:{}", event.rule_name);
            if let Some(open) = open {
                let mut open: BreakerEvent = from_json("breaker_events", &open)?;
                if failed_check || open.check_error.is_none() {
                    return Ok(None);
                }
                open.resolved_at = Some(now);
                open.resolved_by = Some(actor.clone());
                open.resolution =
                    Some("superseded: the rule was checked again, and tripped".into());
                resolve_in(tx, &open)?;
            }
            if failed_check {
                event.action = BreakerAction::AlertOnly;
            }
            if event.action != BreakerAction::PauseCommandType {
                event.paused_command_types.clear();
            }
            if event.action != BreakerAction::Throttle {
                event.throttle = None;
            }
            tx.execute(
                "INSERT INTO breaker_events (rule_name, triggered_ms, body) VALUES (?1, ?2, '{}')",
                params![event.rule_name, now.millis()],
            )?;
            event.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE breaker_events SET body = ?2 WHERE id = ?1",
                params![event.id, to_json(&event)?],
            )?;
            tx.audit(
                now,
                NewAudit {
                    actor: &actor,
                    action: if failed_check {
                        "breaker.check_failed"
                    } else {
                        "breaker.trip"
                    },
                    target: format!("breaker_event/{}", event.id),
                    before: None,
                    after: Some(json_value(&event)?),
                },
            )?;
            if event.action == BreakerAction::RevertToL3 {
                write_phase(tx, Phase::L3, now, &[], &actor, "phase.revert", now)?;
                cancel_pending(tx, &actor, "reverted to L3 by a circuit breaker", now)?;
            }
            Ok(Some(event))
        })
    }

    fn breaker_events(&self, limit: u32) -> Result<Vec<BreakerEvent>, StorageError> {
        self.events_where("1 = 1 ORDER BY id DESC LIMIT ?1", limit)
    }

    fn unresolved_events(&self) -> Result<Vec<BreakerEvent>, StorageError> {
        self.events_where("resolved_ms IS NULL AND ?1 > 0 ORDER BY id DESC", 1)
    }

    fn events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<BreakerEvent>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM breaker_events WHERE triggered_ms >= ?1 AND triggered_ms < ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![start.millis(), end.millis()], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|b| from_json("breaker_events", &b?)).collect()
    }

    fn paused_command_types(&self) -> Result<Vec<String>, StorageError> {
        let mut types: Vec<String> = self
            .unresolved_events()?
            .into_iter()
            .flat_map(|e| e.paused_command_types)
            .collect();
        types.sort();
        types.dedup();
        Ok(types)
    }

    fn resolve_event(
        &self,
        id: i64,
        by: &str,
        resolution: &str,
        now: Timestamp,
    ) -> Result<BreakerEvent, StorageError> {
        self.write(|tx| {
            let body: Option<String> = tx
                .query_row("SELECT body FROM breaker_events WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let body = body
                .ok_or_else(|| StorageError::NotFound(format!("no breaker event with id {id}")))?;
            let mut event: BreakerEvent = from_json("breaker_events", &body)?;
            if let Some(at) = event.resolved_at {
                return Err(StorageError::Conflict(format!(
                    "breaker event {id} was already resolved at {at} by {}",
                    event.resolved_by.as_deref().unwrap_or("?")
                )));
            }
            event.resolved_at = Some(now);
            event.resolved_by = Some(by.to_string());
            event.resolution = Some(resolution.to_string());
            resolve_in(tx, &event)?;
            tx.audit(
                now,
                NewAudit {
                    actor: by,
                    action: "breaker.resolve",
                    target: format!("breaker_event/{id}"),
                    before: Some(serde_json::json!({"resolvedAt": null})),
                    after: Some(serde_json::json!({"resolvedAt": now, "resolution": resolution})),
                },
            )?;
            Ok(event)
        })
    }

    fn breaker_event_totals(&self) -> Result<Vec<(String, String, String, u64)>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT rule_name, json_extract(body, '$.action'), json_extract(body, '$.alertSeverity'), count(*)
             FROM breaker_events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl SqliteStore {
    fn events_where(&self, clause: &str, arg: u32) -> Result<Vec<BreakerEvent>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT body FROM breaker_events WHERE {clause}"))?;
        let rows = stmt.query_map([arg], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("breaker_events", &b?)).collect()
    }
}

fn resolve_in(tx: &Transaction<'_>, event: &BreakerEvent) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE breaker_events SET resolved_ms = ?2, body = ?3 WHERE id = ?1",
        params![
            event.id,
            event.resolved_at.map(|t| t.millis()),
            to_json(event)?
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod gauge_tests {
    use crate::domain::breaker::{BreakerAction, BreakerEvent, Window};
    use crate::domain::{Severity, Timestamp};
    use crate::storage::prelude::*;
    use crate::storage::SqliteStore;

    fn trip(db: &SqliteStore, rule: &str, at: i64) -> BreakerEvent {
        let event = BreakerEvent {
            id: 0,
            rule_name: rule.into(),
            condition: "errorRate > 0.05".into(),
            window: Window { millis: 60_000 },
            action: BreakerAction::AlertOnly,
            alert_severity: Severity::High,
            observed_value: Some(0.5),
            reason: "tripped".into(),
            triggered_at: Timestamp(at),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            paused_command_types: Vec::new(),
            throttle: None,
            plugin: "error-rate".into(),
            plugin_version: "1.0.0".into(),
            check_error: None,
            truncated: false,
        };
        db.record_trip(event).unwrap().unwrap()
    }

    #[test]
    fn unresolved_events_are_counted_without_reading_their_bodies() {
        let db = SqliteStore::open_in_memory().unwrap();
        assert_eq!(db.unresolved_event_count().unwrap(), 0);
        let first = trip(&db, "a", 1_000);
        trip(&db, "b", 2_000);
        trip(&db, "c", 3_000);
        db.resolve_event(first.id, "ops", "fixed", Timestamp(4_000))
            .unwrap();
        assert_eq!(
            db.unresolved_event_count().unwrap(),
            db.unresolved_events().unwrap().len() as u64
        );
        assert_eq!(db.unresolved_event_count().unwrap(), 2);
        // A body that no longer parses fails a load of the events, but
        // not their count: the count never decodes a row.
        db.conn()
            .execute("UPDATE breaker_events SET body = 'not json'", [])
            .unwrap();
        assert!(db.unresolved_events().is_err());
        assert_eq!(db.unresolved_event_count().unwrap(), 2);
    }
}
