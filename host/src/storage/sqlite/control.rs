//! The control snapshot, the decision log and the emergency stop.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::{from_json, json_value, to_json, SqliteStore, StorageError};
use crate::domain::control::{ControlSnapshot, Decision, DecisionRecord, EmergencyStopStatus};
use crate::domain::Timestamp;
use crate::storage::ledger;
use crate::storage::repositories::*;

/// Reads everything [`crate::domain::control::decide`] depends on. Runs on
/// the writer's connection right after each commit, so snapshots are
/// published in commit order.
pub(super) fn read_snapshot(conn: &Connection) -> Result<ControlSnapshot, StorageError> {
    let state: Option<(String, String, bool)> = conn
        .query_row(
            "SELECT phase, whitelist, emergency_stop FROM governance_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let mut snapshot = ControlSnapshot::default();
    if let Some((phase, whitelist, stop)) = state {
        snapshot.phase = phase.parse().map_err(|message| StorageError::Corrupt {
            table: "governance_state",
            message,
        })?;
        snapshot.whitelist = from_json::<Vec<String>>("governance_state", &whitelist)?
            .into_iter()
            .collect();
        snapshot.emergency_stop = stop;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(body, '$.pausedCommandTypes') FROM breaker_events WHERE resolved_ms IS NULL",
    )?;
    for paused in stmt.query_map([], |r| r.get::<_, Option<String>>(0))? {
        if let Some(text) = paused? {
            snapshot
                .paused_command_types
                .extend(from_json::<Vec<String>>("breaker_events", &text)?);
        }
    }
    let mut stmt = conn
        .prepare_cached("SELECT id, agent_id, status FROM workflows WHERE status != 'completed'")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (id, agent, status) = row?;
        if status == "paused" {
            snapshot.paused_workflows.insert(id.clone());
        }
        snapshot.workflow_agents.insert(id, agent);
    }
    let mut stmt = conn.prepare_cached("SELECT id FROM agents WHERE tripped = 1")?;
    for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
        snapshot.tripped_agents.insert(id?);
    }
    super::budgets::read_into_snapshot(conn, &mut snapshot)?;
    snapshot.scopes = super::scopes::read_brakes(conn)?;
    Ok(snapshot)
}

impl ControlRepository for SqliteStore {
    fn control(&self) -> Arc<ControlSnapshot> {
        self.control
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn emergency_stop_status(&self) -> Result<EmergencyStopStatus, StorageError> {
        stop_status(&self.conn())
    }

    fn set_emergency_stop(
        &self,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(EmergencyStopStatus, bool), StorageError> {
        self.write(|tx| {
            let before = stop_status(tx)?;
            if before.active == stop {
                if stop {
                    return Ok((before, false));
                }
                return Err(StorageError::Conflict(
                    "the emergency stop is not on; there is nothing to resume".into(),
                ));
            }
            tx.execute(
                "UPDATE governance_state SET emergency_stop = ?1 WHERE id = 1",
                [stop],
            )?;
            let action = if stop { "stop" } else { "resume" };
            tx.execute(
                "INSERT INTO emergency_stops (action, at_ms, actor, reason) VALUES (?1, ?2, ?3, ?4)",
                params![action, now.millis(), actor, reason],
            )?;
            let after = stop_status(tx)?;
            tx.audit(now,
                NewAudit {
                    actor,
                    action: if stop {
                        "emergency_stop.activate"
                    } else {
                        "emergency_stop.resume"
                    },
                    target: "emergency_stop".into(),
                    before: Some(json_value(&before)?),
                    after: Some(serde_json::json!({"active": after.active, "reason": reason})),
                },
            )?;
            Ok((after, true))
        })
    }
}

impl DecisionRepository for SqliteStore {
    fn append_decisions(&self, batch: &mut [NewDecision]) -> Result<Vec<i64>, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claims = ledger::claims_of(batch);
        let ledger_writes = if claims.is_empty() {
            None
        } else {
            let usage = super::budgets::usage(&tx, &claims, ledger::settled_at(batch), true)?;
            Some(ledger::settle_batch(batch, usage))
        };
        let mut ids = Vec::with_capacity(batch.len());
        let mut totals = [0i64; Decision::ALL.len()];
        let mut unbound = [0i64; Decision::ALL.len()];
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO decisions (at_ms, command_type, workflow_id, agent_id, decision, reasons, phase, caller, unbound, scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for d in batch {
                insert.execute(params![
                    d.at.millis(),
                    d.command_type,
                    d.workflow_id,
                    d.agent_id,
                    d.decision.as_str(),
                    to_json(&d.reasons)?,
                    d.phase.as_str(),
                    d.caller,
                    d.unbound,
                    d.scope,
                ])?;
                ids.push(tx.last_insert_rowid());
                let at = d.decision.index();
                totals[at] += 1;
                if d.unbound {
                    unbound[at] += 1;
                }
            }
            // Literal statements: a `format!` here built and hashed a new
            // SQL string per batch just to find the cached statement.
            for (bump_sql, counts) in [
                (
                    "INSERT INTO decision_totals (decision, n) VALUES (?1, ?2)
                     ON CONFLICT (decision) DO UPDATE SET n = n + excluded.n",
                    totals,
                ),
                (
                    "INSERT INTO unbound_decision_totals (decision, n) VALUES (?1, ?2)
                     ON CONFLICT (decision) DO UPDATE SET n = n + excluded.n",
                    unbound,
                ),
            ] {
                let mut bump = tx.prepare_cached(bump_sql)?;
                for (d, n) in Decision::ALL.iter().zip(counts) {
                    if n > 0 {
                        bump.execute(params![d.as_str(), n])?;
                    }
                }
            }
        }
        if let Some(writes) = ledger_writes {
            super::budgets::write_ledger(&tx, &writes, &ids)?;
        }
        tx.commit()?;
        Ok(ids)
    }

    fn decisions(
        &self,
        limit: u32,
        command_type: Option<&str>,
        decision: Option<Decision>,
        scope: Option<&str>,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, at_ms, command_type, workflow_id, agent_id, decision, reasons, phase, caller, unbound, scope
             FROM decisions WHERE (?1 IS NULL OR command_type = ?1) AND (?2 IS NULL OR decision = ?2)
               AND (?4 IS NULL OR scope = ?4)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![command_type, decision.map(Decision::as_str), limit, scope],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, bool>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            },
        )?;
        let corrupt = |message: String| StorageError::Corrupt {
            table: "decisions",
            message,
        };
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                at,
                command_type,
                workflow_id,
                agent_id,
                decision,
                reasons,
                phase,
                caller,
                unbound,
                scope,
            ) = row?;
            out.push(DecisionRecord {
                decision_id: id,
                at: Timestamp(at),
                command_type,
                workflow_id,
                agent_id,
                scope,
                decision: decision.parse().map_err(corrupt)?,
                reasons: from_json("decisions", &reasons)?,
                phase: phase.parse().map_err(corrupt)?,
                caller,
                unbound,
            });
        }
        Ok(out)
    }

    fn decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError> {
        totals_by_decision(&self.conn(), "decision_totals")
    }

    fn unbound_decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError> {
        totals_by_decision(&self.conn(), "unbound_decision_totals")
    }
}

fn totals_by_decision(
    conn: &Connection,
    table: &str,
) -> Result<Vec<(Decision, u64)>, StorageError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT n FROM {table} WHERE decision = ?1"))?;
    Decision::ALL
        .into_iter()
        .map(|d| {
            let n: Option<i64> = stmt.query_row([d.as_str()], |r| r.get(0)).optional()?;
            Ok((d, n.unwrap_or(0) as u64))
        })
        .collect()
}

fn stop_status(conn: &Connection) -> Result<EmergencyStopStatus, StorageError> {
    let active: bool = conn
        .query_row(
            "SELECT emergency_stop FROM governance_state WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let last = |action: &str| -> Result<Option<(i64, String, String)>, StorageError> {
        Ok(conn
            .query_row(
                "SELECT at_ms, actor, reason FROM emergency_stops WHERE action = ?1 ORDER BY id DESC LIMIT 1",
                [action],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    };
    let stopped = last("stop")?;
    let resumed = last("resume")?;
    let current = stopped.clone().filter(|_| active);
    Ok(EmergencyStopStatus {
        active,
        since: current.as_ref().map(|s| Timestamp(s.0)),
        by: current.as_ref().map(|s| s.1.clone()),
        reason: current.map(|s| s.2),
        last_activated_at: stopped.map(|s| Timestamp(s.0)),
        last_resumed_at: resumed.map(|s| Timestamp(s.0)),
    })
}
