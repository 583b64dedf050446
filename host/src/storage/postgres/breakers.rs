//! Circuit-breaker rules and events; a trip's action runs in the event's
//! unit of work. A port of `storage/sqlite/breakers.rs`: same errors, same
//! audit entries, same order.

use deadpool_postgres::GenericClient;

use super::governance::{cancel_pending, write_phase};
use super::{from_json, json_value, pg, to_json, PostgresStore, StorageError, UnitOfWork};
use crate::domain::breaker::{BreakerAction, BreakerEvent, BreakerRule};
use crate::domain::{Phase, Timestamp};
use crate::storage::repositories::*;

async fn rule_in<C: GenericClient>(c: &C, name: &str) -> Result<Option<BreakerRule>, StorageError> {
    c.query_opt("SELECT body FROM breaker_rules WHERE name = $1", &[&name])
        .await
        .map_err(pg("read a breaker rule"))?
        .map(|r| from_json("breaker_rules", r.get(0)))
        .transpose()
}

fn no_rule(name: &str) -> StorageError {
    StorageError::NotFound(format!(
        "no breaker rule named `{name}` (GET /api/circuit-breaker/rules lists them)"
    ))
}

fn events(rows: &[tokio_postgres::Row]) -> Result<Vec<BreakerEvent>, StorageError> {
    rows.iter()
        .map(|r| from_json("breaker_events", r.get(0)))
        .collect()
}

fn count(table: &'static str, n: i64) -> Result<u64, StorageError> {
    // count(*) is never negative; if it were, the database is not what
    // Regent wrote, and a scrape must say so rather than report 0.
    u64::try_from(n).map_err(|_| StorageError::Corrupt {
        table,
        message: format!("count(*) returned {n}"),
    })
}

impl BreakerRepository for PostgresStore {
    fn unresolved_event_count(&self) -> Result<u64, StorageError> {
        self.read(async |c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM breaker_events WHERE resolved_ms IS NULL",
                    &[],
                )
                .await
                .map_err(pg("count the unresolved breaker events"))?
                .get(0);
            count("breaker_events", n)
        })
    }

    fn rules(&self) -> Result<Vec<BreakerRule>, StorageError> {
        self.read(async |c| {
            c.query(
                // Byte order, as SQLite's: the database's collation is not ours.
                r#"SELECT body FROM breaker_rules ORDER BY position, name COLLATE "C""#,
                &[],
            )
            .await
            .map_err(pg("read the breaker rules"))?
            .iter()
            .map(|r| from_json("breaker_rules", r.get(0)))
            .collect()
        })
    }

    fn rule(&self, name: &str) -> Result<BreakerRule, StorageError> {
        self.read(async |c| rule_in(c, name).await?.ok_or_else(|| no_rule(name)))
    }

    fn insert_rule(
        &self,
        rule: &BreakerRule,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(async |tx| {
            if rule_in(&**tx, &rule.name).await?.is_some() {
                return Err(StorageError::Conflict(format!(
                    "a breaker rule named `{}` already exists",
                    rule.name
                )));
            }
            let position: i64 = tx
                .query_one(
                    "SELECT coalesce(max(position), -1) + 1 FROM breaker_rules",
                    &[],
                )
                .await
                .map_err(pg("place a breaker rule"))?
                .get(0);
            tx.execute(
                "INSERT INTO breaker_rules (name, position, body) VALUES ($1, $2, $3)",
                &[&rule.name, &position, &to_json(rule)?],
            )
            .await
            .map_err(pg("insert a breaker rule"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.create",
                    target: format!("rule/{}", rule.name),
                    before: None,
                    after: Some(json_value(rule)?),
                },
            )
            .await?;
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
        self.write(async |tx| {
            let before = rule_in(&**tx, name).await?.ok_or_else(|| no_rule(name))?;
            tx.execute(
                "UPDATE breaker_rules SET body = $2 WHERE name = $1",
                &[&name, &to_json(updated)?],
            )
            .await
            .map_err(pg("update a breaker rule"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.update",
                    target: format!("rule/{name}"),
                    before: Some(json_value(&before)?),
                    after: Some(json_value(updated)?),
                },
            )
            .await?;
            Ok(updated.clone())
        })
    }

    fn delete_rule(
        &self,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<BreakerRule, StorageError> {
        self.write(async |tx| {
            let before = rule_in(&**tx, name).await?.ok_or_else(|| no_rule(name))?;
            tx.execute("DELETE FROM breaker_rules WHERE name = $1", &[&name])
                .await
                .map_err(pg("delete a breaker rule"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "rule.delete",
                    target: format!("rule/{name}"),
                    before: Some(json_value(&before)?),
                    after: None,
                },
            )
            .await?;
            Ok(before)
        })
    }

    fn record_trip(&self, mut event: BreakerEvent) -> Result<Option<BreakerEvent>, StorageError> {
        let now = event.triggered_at;
        let failed_check = event.check_error.is_some();
        self.write(async |tx| {
            let open = tx
                .query_opt(
                    "SELECT body FROM breaker_events WHERE rule_name = $1 AND resolved_ms IS NULL",
                    &[&event.rule_name],
                )
                .await
                .map_err(pg("read the rule's open breaker event"))?;
            let actor = format!("breaker:{}", event.rule_name);
            if let Some(open) = open {
                let mut open: BreakerEvent = from_json("breaker_events", open.get(0))?;
                if failed_check || open.check_error.is_none() {
                    return Ok(None);
                }
                open.resolved_at = Some(now);
                open.resolved_by = Some(actor.clone());
                open.resolution =
                    Some("superseded: the rule was checked again, and tripped".into());
                resolve_in(tx, &open).await?;
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
            event.id = tx
                .query_one(
                    "INSERT INTO breaker_events (rule_name, triggered_ms, body) VALUES ($1, $2, '{}')
                     RETURNING id",
                    &[&event.rule_name, &now.millis()],
                )
                .await
                .map_err(pg("record a breaker event"))?
                .get(0);
            tx.execute(
                "UPDATE breaker_events SET body = $2 WHERE id = $1",
                &[&event.id, &to_json(&event)?],
            )
            .await
            .map_err(pg("record a breaker event"))?;
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
            )
            .await?;
            if event.action == BreakerAction::RevertToL3 {
                write_phase(tx, Phase::L3, now, &[], &actor, "phase.revert", now).await?;
                cancel_pending(tx, &actor, "reverted to L3 by a circuit breaker", now).await?;
            }
            Ok(Some(event))
        })
    }

    fn breaker_events(&self, limit: u32) -> Result<Vec<BreakerEvent>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT body FROM breaker_events ORDER BY id DESC LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await
                .map_err(pg("read the breaker events"))?;
            events(&rows)
        })
    }

    fn unresolved_events(&self) -> Result<Vec<BreakerEvent>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT body FROM breaker_events WHERE resolved_ms IS NULL ORDER BY id DESC",
                    &[],
                )
                .await
                .map_err(pg("read the unresolved breaker events"))?;
            events(&rows)
        })
    }

    fn events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<BreakerEvent>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT body FROM breaker_events WHERE triggered_ms >= $1 AND triggered_ms < $2
                     ORDER BY id",
                    &[&start.millis(), &end.millis()],
                )
                .await
                .map_err(pg("read the breaker events"))?;
            events(&rows)
        })
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
        self.write(async |tx| {
            let row = tx
                .query_opt("SELECT body FROM breaker_events WHERE id = $1", &[&id])
                .await
                .map_err(pg("read a breaker event"))?
                .ok_or_else(|| StorageError::NotFound(format!("no breaker event with id {id}")))?;
            let mut event: BreakerEvent = from_json("breaker_events", row.get(0))?;
            if let Some(at) = event.resolved_at {
                return Err(StorageError::Conflict(format!(
                    "breaker event {id} was already resolved at {at} by {}",
                    event.resolved_by.as_deref().unwrap_or("?")
                )));
            }
            event.resolved_at = Some(now);
            event.resolved_by = Some(by.to_string());
            event.resolution = Some(resolution.to_string());
            resolve_in(tx, &event).await?;
            tx.audit(
                now,
                NewAudit {
                    actor: by,
                    action: "breaker.resolve",
                    target: format!("breaker_event/{id}"),
                    before: Some(serde_json::json!({"resolvedAt": null})),
                    after: Some(serde_json::json!({"resolvedAt": now, "resolution": resolution})),
                },
            )
            .await?;
            Ok(event)
        })
    }

    fn breaker_event_totals(&self) -> Result<Vec<(String, String, String, u64)>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    r#"SELECT rule_name, action, severity, n FROM (
                           SELECT rule_name, body::jsonb ->> 'action' AS action,
                                  body::jsonb ->> 'alertSeverity' AS severity, count(*) AS n
                           FROM breaker_events GROUP BY 1, 2, 3) AS totals
                       ORDER BY rule_name COLLATE "C", action COLLATE "C", severity COLLATE "C""#,
                    &[],
                )
                .await
                .map_err(pg("count the breaker events"))?;
            rows.iter()
                .map(|r| {
                    let field = |i: usize, name: &str| {
                        r.get::<_, Option<String>>(i)
                            .ok_or_else(|| StorageError::Corrupt {
                                table: "breaker_events",
                                message: format!("an event has no `{name}`"),
                            })
                    };
                    Ok((
                        r.get(0),
                        field(1, "action")?,
                        field(2, "alertSeverity")?,
                        count("breaker_events", r.get(3))?,
                    ))
                })
                .collect()
        })
    }
}

async fn resolve_in(tx: &UnitOfWork<'_>, event: &BreakerEvent) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE breaker_events SET resolved_ms = $2, body = $3 WHERE id = $1",
        &[
            &event.id,
            &event.resolved_at.map(|t| t.millis()),
            &to_json(event)?,
        ],
    )
    .await
    .map_err(pg("resolve a breaker event"))?;
    Ok(())
}
