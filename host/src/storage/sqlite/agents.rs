//! Agents, their budgets and breakers, and task assignments.
//!
//! A cost is deducted by one UPDATE inside an IMMEDIATE transaction, so
//! concurrent costs serialize and none is lost; the trip it may cause is
//! written in the same transaction, with its audit entry and escalation.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::events::insert_action;
use super::{from_json, json_value, to_json, SqliteStore, StorageError, UnitOfWork};
use crate::domain::events::ActionRecord;
use crate::domain::fleet::{Agent, AgentBreaker, Assignment, NewAgent};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const COLUMNS: &str = "id, capabilities, cost_per_hour, reputation, budget, budget_remaining, total_cost, model, registered_ms, tripped, trip_reason, tripped_ms, tripped_by, failures";

fn agent(r: &Row<'_>) -> rusqlite::Result<(Agent, String)> {
    Ok((
        Agent {
            id: r.get(0)?,
            capabilities: Vec::new(),
            cost_per_hour: r.get(2)?,
            reputation: r.get(3)?,
            budget: r.get(4)?,
            budget_remaining: r.get(5)?,
            total_cost: r.get(6)?,
            model: r.get(7)?,
            registered_at: Timestamp(r.get(8)?),
            breaker: AgentBreaker {
                tripped: r.get(9)?,
                reason: r.get(10)?,
                tripped_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
                tripped_by: r.get(12)?,
                failures: r.get::<_, i64>(13)? as u32,
            },
        },
        r.get(1)?,
    ))
}

fn parse((mut a, caps): (Agent, String)) -> Result<Agent, StorageError> {
    a.capabilities = from_json("agents", &caps)?;
    Ok(a)
}

fn read(conn: &Connection, id: &str) -> Result<Agent, StorageError> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM agents WHERE id = ?1"),
            [id],
            agent,
        )
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no agent with id `{id}`")))?;
    parse(row)
}

fn breaker_json(a: &Agent) -> serde_json::Value {
    serde_json::json!({"breaker": a.breaker, "budgetRemaining": a.budget_remaining})
}

/// Trips the breaker of `before` (as just read in `tx`), with its audit
/// entry and escalation; returns the tripped agent.
fn trip(
    tx: &UnitOfWork<'_>,
    before: &Agent,
    reason: &str,
    by: &str,
    escalation: &Escalation,
    now: Timestamp,
) -> Result<(Agent, ActionRecord), StorageError> {
    let id = before.id.as_str();
    tx.execute(
        "UPDATE agents SET tripped = 1, trip_reason = ?2, tripped_ms = ?3, tripped_by = ?4 WHERE id = ?1",
        params![id, reason, now.millis(), by],
    )?;
    let after = read(tx, id)?;
    tx.audit(
        now,
        NewAudit {
            actor: by,
            action: "agent.breaker.trip",
            target: format!("agent:{id}"),
            before: Some(breaker_json(before)),
            after: Some(breaker_json(&after)),
        },
    )?;
    let payload = serde_json::json!({
        "type": "ESCALATE",
        "agentId": id,
        "reason": format!("Circuit breaker tripped - {reason}"),
        "context": {"type": "circuit_breaker", "reason": reason, "timestamp": now},
    });
    let action_id = insert_action(
        tx,
        &NewAction {
            kind: "escalation",
            action: "escalate",
            event_id: None,
            agent_id: Some(id),
            payload,
            delivery: escalation.delivery,
        },
        now,
    )?;
    Ok((after, super::events::read_action(tx, action_id)?))
}

/// Applies a cost or a failure to `id` (`update`, then `history`, both
/// taking the agent id as `?1`), then trips `reason` if `over` says the
/// agent crossed its line and is not tripped yet.
#[allow(clippy::too_many_arguments)]
fn charge(
    tx: &UnitOfWork<'_>,
    id: &str,
    update: (&str, &[&dyn rusqlite::ToSql]),
    history: (&str, &[&dyn rusqlite::ToSql]),
    over: impl Fn(&Agent) -> bool,
    reason: &str,
    by: &str,
    escalation: &Escalation,
    now: Timestamp,
) -> Result<(Agent, Option<ActionRecord>), StorageError> {
    if tx.execute(update.0, update.1)? == 0 {
        return Err(StorageError::NotFound(format!("no agent with id `{id}`")));
    }
    tx.execute(history.0, history.1)?;
    let agent = read(tx, id)?;
    if over(&agent) && !agent.breaker.tripped {
        let (tripped, action) = trip(tx, &agent, reason, by, escalation, now)?;
        return Ok((tripped, Some(action)));
    }
    Ok((agent, None))
}

impl AgentRepository for SqliteStore {
    fn register_agent(
        &self,
        a: &NewAgent,
        by: &str,
        now: Timestamp,
    ) -> Result<Agent, StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO agents (id, capabilities, cost_per_hour, reputation, budget, budget_remaining, model, registered_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                params![
                    a.id,
                    to_json(&a.capabilities)?,
                    a.cost_per_hour,
                    a.reputation,
                    a.budget,
                    a.model,
                    now.millis()
                ],
            )?;
            if inserted == 0 {
                return Err(StorageError::Conflict(format!(
                    "an agent with id `{}` is already registered",
                    a.id
                )));
            }
            let stored = read(tx, &a.id)?;
            tx.audit(now,
                NewAudit {
                    actor: by,
                    action: "agent.register",
                    target: format!("agent:{}", a.id),
                    before: None,
                    after: Some(json_value(&stored)?),
                },
            )?;
            Ok(stored)
        })
    }

    fn agent(&self, id: &str) -> Result<Agent, StorageError> {
        read(&self.conn(), id)
    }

    fn agents(&self) -> Result<Vec<Agent>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM agents ORDER BY id"))?;
        let rows = stmt.query_map([], agent)?;
        rows.map(|r| parse(r?)).collect()
    }

    fn record_cost(
        &self,
        id: &str,
        operation: &str,
        cost: f64,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, Option<ActionRecord>), StorageError> {
        self.write(|tx| {
            charge(
                tx,
                id,
                (
                    "UPDATE agents SET budget_remaining = budget_remaining - ?2, total_cost = total_cost + ?2 WHERE id = ?1",
                    params![id, cost],
                ),
                (
                    "INSERT INTO agent_costs (agent_id, operation, cost, at_ms, reported_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, operation, cost, now.millis(), by],
                ),
                |a| a.budget_remaining <= 0.0,
                crate::domain::fleet::BUDGET_EXHAUSTED,
                by,
                escalation,
                now,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_failure(
        &self,
        id: &str,
        task_id: Option<&str>,
        reason: Option<&str>,
        threshold: u32,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, Option<ActionRecord>), StorageError> {
        self.write(|tx| {
            charge(
                tx,
                id,
                ("UPDATE agents SET failures = failures + 1 WHERE id = ?1", params![id]),
                (
                    "INSERT INTO agent_failures (agent_id, task_id, reason, at_ms, reported_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, task_id, reason, now.millis(), by],
                ),
                |a| a.breaker.failures >= threshold,
                crate::domain::fleet::REPEATED_FAILURES,
                by,
                escalation,
                now,
            )
        })
    }

    fn trip_agent(
        &self,
        id: &str,
        reason: &str,
        by: &str,
        escalation: &Escalation,
        now: Timestamp,
    ) -> Result<(Agent, ActionRecord), StorageError> {
        self.write(|tx| {
            let a = read(tx, id)?;
            if a.breaker.tripped {
                return Err(StorageError::Conflict(format!(
                    "agent `{id}`'s breaker is already tripped ({})",
                    a.breaker.reason.as_deref().unwrap_or("no reason")
                )));
            }
            trip(tx, &a, reason, by, escalation, now)
        })
    }

    fn reset_agent(
        &self,
        id: &str,
        new_budget: f64,
        by: &str,
        now: Timestamp,
    ) -> Result<Agent, StorageError> {
        self.write(|tx| {
            let before = read(tx, id)?;
            if !before.breaker.tripped {
                return Err(StorageError::Conflict(format!(
                    "agent `{id}`'s breaker is not tripped; there is nothing to reset"
                )));
            }
            tx.execute(
                "UPDATE agents SET tripped = 0, trip_reason = NULL, tripped_ms = NULL, tripped_by = NULL,
                 failures = 0, budget = ?2, budget_remaining = ?2 WHERE id = ?1",
                params![id, new_budget],
            )?;
            let after = read(tx, id)?;
            tx.audit(now,
                NewAudit {
                    actor: by,
                    action: "agent.breaker.reset",
                    target: format!("agent:{id}"),
                    before: Some(breaker_json(&before)),
                    after: Some(breaker_json(&after)),
                },
            )?;
            Ok(after)
        })
    }

    fn insert_assignment(&self, a: &Assignment) -> Result<Assignment, StorageError> {
        // No control state changes: plain transaction, no snapshot rebuild.
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO assignments (task_id, agent_id, at_ms, body) VALUES (?1, ?2, ?3, '')",
            params![a.task_id, a.agent_id, a.assigned_at.millis()],
        )?;
        let mut stored = a.clone();
        stored.id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE assignments SET body = ?2 WHERE id = ?1",
            params![stored.id, to_json(&stored)?],
        )?;
        tx.commit()?;
        Ok(stored)
    }

    fn assignments(&self, limit: u32) -> Result<Vec<Assignment>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT body FROM assignments ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("assignments", &b?)).collect()
    }

    fn assignment_totals(&self) -> Result<(u64, u64), StorageError> {
        let conn = self.conn();
        let (all, failed): (i64, i64) = conn.query_row(
            "SELECT count(*), count(*) - count(agent_id) FROM assignments",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((all as u64, failed as u64))
    }
}
