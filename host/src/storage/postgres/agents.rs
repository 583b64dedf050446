//! Agents, their budgets and breakers, and task assignments.
//!
//! A cost is deducted by one `UPDATE ... RETURNING` inside a unit of work:
//! the writer lock serializes it with every other change on every replica,
//! and the row lock the update takes would serialize costs on one agent
//! even without it. The agent it returns is the one this cost produced,
//! so exactly one cost sees the budget cross zero, and the trip it causes
//! is written in the same transaction, with its audit entry and escalation.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::events::{insert_action, read_action};
use super::{from_json, json_value, pg, to_json, PostgresStore, StorageError, UnitOfWork};
use crate::domain::events::ActionRecord;
use crate::domain::fleet::{Agent, AgentBreaker, Assignment, NewAgent};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const COLUMNS: &str = "id, capabilities, cost_per_hour, reputation, budget, budget_remaining, total_cost, model, registered_ms, tripped, trip_reason, tripped_ms, tripped_by, failures";

fn agent_row(r: &Row) -> Result<Agent, StorageError> {
    let id: String = r.get(0);
    let failures: i64 = r.get(13);
    let failures = u32::try_from(failures).map_err(|_| StorageError::Corrupt {
        table: "agents",
        message: format!("agent `{id}` has {failures} failures, not a count"),
    })?;
    Ok(Agent {
        capabilities: from_json("agents", r.get(1))?,
        cost_per_hour: r.get(2),
        reputation: r.get(3),
        budget: r.get(4),
        budget_remaining: r.get(5),
        total_cost: r.get(6),
        model: r.get(7),
        registered_at: Timestamp(r.get(8)),
        breaker: AgentBreaker {
            tripped: r.get(9),
            reason: r.get(10),
            tripped_at: r.get::<_, Option<i64>>(11).map(Timestamp),
            tripped_by: r.get(12),
            failures,
        },
        id,
    })
}

fn no_agent(id: &str) -> StorageError {
    StorageError::NotFound(format!("no agent with id `{id}`"))
}

async fn read<C: GenericClient>(c: &C, id: &str) -> Result<Agent, StorageError> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM agents WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(pg("read an agent"))?
        .ok_or_else(|| no_agent(id))?;
    agent_row(&row)
}

fn breaker_json(a: &Agent) -> serde_json::Value {
    serde_json::json!({"breaker": a.breaker, "budgetRemaining": a.budget_remaining})
}

/// Trips the breaker of `before` (as just read in `tx`), with its audit
/// entry and escalation; returns the tripped agent.
async fn trip(
    tx: &UnitOfWork<'_>,
    before: &Agent,
    reason: &str,
    by: &str,
    escalation: &Escalation,
    now: Timestamp,
) -> Result<(Agent, ActionRecord), StorageError> {
    let id = before.id.as_str();
    let row = tx
        .query_opt(
            &format!(
                "UPDATE agents SET tripped = TRUE, trip_reason = $2, tripped_ms = $3, tripped_by = $4
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &reason, &now.millis(), &by],
        )
        .await
        .map_err(pg("trip an agent's breaker"))?
        .ok_or_else(|| no_agent(id))?;
    let after = agent_row(&row)?;
    tx.audit(
        now,
        NewAudit {
            actor: by,
            action: "agent.breaker.trip",
            target: format!("agent:{id}"),
            before: Some(breaker_json(before)),
            after: Some(breaker_json(&after)),
        },
    )
    .await?;
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
    )
    .await?;
    Ok((after, read_action(&**tx, action_id).await?))
}

/// What a cost or a failure does to an agent: the update that applies it
/// (returning the agent's columns), the history row it leaves (both take
/// the agent id as `$1`), and the line past which the breaker trips.
struct Charge<'a, F> {
    update: (&'a str, &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)]),
    history: (&'a str, &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)]),
    over: F,
    reason: &'a str,
}

/// Applies `charge` to `id`, then trips its reason if the agent as this
/// change left it crossed the line and is not tripped yet.
async fn charge(
    tx: &UnitOfWork<'_>,
    id: &str,
    charge: Charge<'_, impl Fn(&Agent) -> bool>,
    by: &str,
    escalation: &Escalation,
    now: Timestamp,
) -> Result<(Agent, Option<ActionRecord>), StorageError> {
    let row = tx
        .query_opt(charge.update.0, charge.update.1)
        .await
        .map_err(pg("charge an agent"))?
        .ok_or_else(|| no_agent(id))?;
    tx.execute(charge.history.0, charge.history.1)
        .await
        .map_err(pg("record an agent's history"))?;
    let agent = agent_row(&row)?;
    if (charge.over)(&agent) && !agent.breaker.tripped {
        let (tripped, action) = trip(tx, &agent, charge.reason, by, escalation, now).await?;
        return Ok((tripped, Some(action)));
    }
    Ok((agent, None))
}

impl AgentRepository for PostgresStore {
    fn register_agent(
        &self,
        a: &NewAgent,
        by: &str,
        now: Timestamp,
    ) -> Result<Agent, StorageError> {
        self.write(async |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "INSERT INTO agents (id, capabilities, cost_per_hour, reputation, budget, budget_remaining, model, registered_ms)
                         VALUES ($1, $2, $3, $4, $5, $5, $6, $7) ON CONFLICT (id) DO NOTHING
                         RETURNING {COLUMNS}"
                    ),
                    &[
                        &a.id,
                        &to_json(&a.capabilities)?,
                        &a.cost_per_hour,
                        &a.reputation,
                        &a.budget,
                        &a.model,
                        &now.millis(),
                    ],
                )
                .await
                .map_err(pg("register an agent"))?
                .ok_or_else(|| {
                    StorageError::Conflict(format!(
                        "an agent with id `{}` is already registered",
                        a.id
                    ))
                })?;
            let stored = agent_row(&row)?;
            tx.audit(
                now,
                NewAudit {
                    actor: by,
                    action: "agent.register",
                    target: format!("agent:{}", a.id),
                    before: None,
                    after: Some(json_value(&stored)?),
                },
            )
            .await?;
            Ok(stored)
        })
    }

    fn agent(&self, id: &str) -> Result<Agent, StorageError> {
        self.read(async |c| read(c, id).await)
    }

    fn agents(&self) -> Result<Vec<Agent>, StorageError> {
        self.read(async |c| {
            // Byte order, as SQLite sorts, whatever the database's locale.
            c.query(
                &format!("SELECT {COLUMNS} FROM agents ORDER BY id COLLATE \"C\""),
                &[],
            )
            .await
            .map_err(pg("read the agents"))?
            .iter()
            .map(agent_row)
            .collect()
        })
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
        let update = format!(
            "UPDATE agents SET budget_remaining = budget_remaining - $2, total_cost = total_cost + $2
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        self.write(async |tx| {
            charge(
                tx,
                id,
                Charge {
                    update: (&update, &[&id, &cost]),
                    history: (
                        "INSERT INTO agent_costs (agent_id, operation, cost, at_ms, reported_by) VALUES ($1, $2, $3, $4, $5)",
                        &[&id, &operation, &cost, &now.millis(), &by],
                    ),
                    over: |a: &Agent| a.budget_remaining <= 0.0,
                    reason: crate::domain::fleet::BUDGET_EXHAUSTED,
                },
                by,
                escalation,
                now,
            )
            .await
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
        let update =
            format!("UPDATE agents SET failures = failures + 1 WHERE id = $1 RETURNING {COLUMNS}");
        self.write(async |tx| {
            charge(
                tx,
                id,
                Charge {
                    update: (&update, &[&id]),
                    history: (
                        "INSERT INTO agent_failures (agent_id, task_id, reason, at_ms, reported_by) VALUES ($1, $2, $3, $4, $5)",
                        &[&id, &task_id, &reason, &now.millis(), &by],
                    ),
                    over: |a: &Agent| a.breaker.failures >= threshold,
                    reason: crate::domain::fleet::REPEATED_FAILURES,
                },
                by,
                escalation,
                now,
            )
            .await
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
        self.write(async |tx| {
            let a = read(&**tx, id).await?;
            if a.breaker.tripped {
                return Err(StorageError::Conflict(format!(
                    "agent `{id}`'s breaker is already tripped ({})",
                    a.breaker.reason.as_deref().unwrap_or("no reason")
                )));
            }
            trip(tx, &a, reason, by, escalation, now).await
        })
    }

    fn reset_agent(
        &self,
        id: &str,
        new_budget: f64,
        by: &str,
        now: Timestamp,
    ) -> Result<Agent, StorageError> {
        self.write(async |tx| {
            let before = read(&**tx, id).await?;
            if !before.breaker.tripped {
                return Err(StorageError::Conflict(format!(
                    "agent `{id}`'s breaker is not tripped; there is nothing to reset"
                )));
            }
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE agents SET tripped = FALSE, trip_reason = NULL, tripped_ms = NULL, tripped_by = NULL,
                         failures = 0, budget = $2, budget_remaining = $2 WHERE id = $1 RETURNING {COLUMNS}"
                    ),
                    &[&id, &new_budget],
                )
                .await
                .map_err(pg("reset an agent's breaker"))?
                .ok_or_else(|| no_agent(id))?;
            let after = agent_row(&row)?;
            tx.audit(
                now,
                NewAudit {
                    actor: by,
                    action: "agent.breaker.reset",
                    target: format!("agent:{id}"),
                    before: Some(breaker_json(&before)),
                    after: Some(breaker_json(&after)),
                },
            )
            .await?;
            Ok(after)
        })
    }

    fn insert_assignment(&self, a: &Assignment) -> Result<Assignment, StorageError> {
        // No control state changes: outside the writer lock. The id is
        // drawn first so the row is written whole, its body carrying it, in
        // one statement.
        self.read(async |c| {
            let mut stored = a.clone();
            stored.id = c
                .query_one(
                    "SELECT nextval(pg_get_serial_sequence('assignments', 'id'))",
                    &[],
                )
                .await
                .map_err(pg("number an assignment"))?
                .get(0);
            c.execute(
                "INSERT INTO assignments (id, task_id, agent_id, at_ms, body) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &stored.id,
                    &stored.task_id,
                    &stored.agent_id,
                    &stored.assigned_at.millis(),
                    &to_json(&stored)?,
                ],
            )
            .await
            .map_err(pg("record an assignment"))?;
            Ok(stored)
        })
    }

    fn assignments(&self, limit: u32) -> Result<Vec<Assignment>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT body FROM assignments ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(pg("read the assignments"))?
            .iter()
            .map(|r| from_json("assignments", r.get(0)))
            .collect()
        })
    }

    fn assignment_totals(&self) -> Result<(u64, u64), StorageError> {
        self.read(async |c| {
            let row = c
                .query_one(
                    "SELECT count(*), count(*) - count(agent_id) FROM assignments",
                    &[],
                )
                .await
                .map_err(pg("count the assignments"))?;
            let count = |i: usize| {
                let n: i64 = row.get(i);
                u64::try_from(n).map_err(|_| StorageError::Corrupt {
                    table: "assignments",
                    message: format!("a count of {n}"),
                })
            };
            Ok((count(0)?, count(1)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::super::test_support::TestDatabase;
    use super::super::PostgresOptions;
    use super::*;
    use crate::domain::events::DeliveryStatus;
    use crate::domain::fleet::BUDGET_EXHAUSTED;
    use crate::storage::ControlRepository;

    fn new_agent(id: &str, budget: f64) -> NewAgent {
        NewAgent {
            id: id.into(),
            capabilities: vec!["hvac".into()],
            cost_per_hour: 1.5,
            reputation: 0.9,
            budget,
            model: Some("m".into()),
        }
    }

    /// Two handles on one database, as two replicas: costs from both
    /// serialize on the database, so the trip happens once.
    #[test]
    fn costs_from_two_replicas_trip_the_agent_exactly_once() {
        let database = TestDatabase::create();
        let replicas: Vec<Arc<PostgresStore>> = (0..2)
            .map(|_| {
                Arc::new(PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap())
            })
            .collect();
        replicas[0]
            .register_agent(&new_agent("a1", 10.0), "admin", Timestamp(1))
            .unwrap();
        const CALLERS: usize = 12;
        let barrier = Arc::new(Barrier::new(CALLERS));
        let handles: Vec<_> = (0..CALLERS)
            .map(|i| {
                let store = replicas[i % 2].clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let escalation = Escalation {
                        delivery: DeliveryStatus::Pending,
                    };
                    store
                        .record_cost("a1", "op", 1.0, "a1", &escalation, Timestamp(10 + i as i64))
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let actions: Vec<_> = results.iter().filter_map(|(_, a)| a.clone()).collect();
        assert_eq!(actions.len(), 1, "exactly one cost crosses the line");
        assert_eq!(actions[0].agent_id.as_deref(), Some("a1"));
        assert_eq!(actions[0].delivery, DeliveryStatus::Pending);
        assert_eq!(actions[0].payload["type"], "ESCALATE");
        for replica in &replicas {
            let agent = replica.agent("a1").unwrap();
            assert_eq!(agent.budget_remaining, 10.0 - CALLERS as f64);
            assert_eq!(agent.total_cost, CALLERS as f64);
            assert_eq!(agent.breaker.reason.as_deref(), Some(BUDGET_EXHAUSTED));
            replica.refresh_control().unwrap();
            assert!(replica.control().tripped_agents.contains("a1"));
        }
        let trips = replicas[1]
            .audit_entries(100)
            .unwrap()
            .iter()
            .filter(|e| e.action == "agent.breaker.trip")
            .count();
        assert_eq!(trips, 1);
        assert!(replicas[1].verify_audit().unwrap().problems.is_empty());
    }

    #[test]
    fn register_trip_reset_and_assignments() {
        let database = TestDatabase::create();
        let db = PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap();
        let a = db
            .register_agent(&new_agent("b", 3.0), "admin", Timestamp(1))
            .unwrap();
        db.register_agent(&new_agent("A", 3.0), "admin", Timestamp(1))
            .unwrap();
        assert_eq!(a.capabilities, ["hvac"]);
        assert!(matches!(
            db.register_agent(&new_agent("b", 1.0), "admin", Timestamp(2)),
            Err(StorageError::Conflict(m)) if m == "an agent with id `b` is already registered"
        ));
        assert_eq!(
            db.agents()
                .unwrap()
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
            ["A", "b"],
            "byte order, as SQLite"
        );
        let escalation = Escalation {
            delivery: DeliveryStatus::NotConfigured,
        };
        let (tripped, action) = db
            .trip_agent("b", "manual", "ops", &escalation, Timestamp(3))
            .unwrap();
        assert_eq!(tripped.breaker.tripped_by.as_deref(), Some("ops"));
        assert_eq!(action.delivery, DeliveryStatus::NotConfigured);
        assert!(matches!(
            db.trip_agent("b", "again", "ops", &escalation, Timestamp(4)),
            Err(StorageError::Conflict(m)) if m.contains("(manual)")
        ));
        assert!(matches!(
            db.trip_agent("ghost", "x", "ops", &escalation, Timestamp(4)),
            Err(StorageError::NotFound(_))
        ));
        let reset = db.reset_agent("b", 7.0, "ops", Timestamp(5)).unwrap();
        assert_eq!((reset.budget, reset.budget_remaining), (7.0, 7.0));
        assert_eq!(reset.breaker.reason, None);

        let assignment = Assignment {
            id: 0,
            task_id: "t1".into(),
            agent_id: Some("b".into()),
            score: Some(0.5),
            candidates: vec![],
            excluded: vec![],
            excluded_counts: Default::default(),
            matcher: "capability-match".into(),
            matcher_version: "0.1.0".into(),
            max_cost: 5.0,
            required_capabilities: vec!["hvac".into()],
            assigned_at: Timestamp(6),
            requested_by: "planner".into(),
        };
        let first = db.insert_assignment(&assignment).unwrap();
        let second = db
            .insert_assignment(&Assignment {
                agent_id: None,
                score: None,
                ..assignment
            })
            .unwrap();
        assert!(second.id > first.id);
        assert_eq!(db.assignments(10).unwrap(), [second.clone(), first]);
        assert_eq!(db.assignments(1).unwrap(), [second]);
        assert_eq!(db.assignment_totals().unwrap(), (2, 1));
    }
}
