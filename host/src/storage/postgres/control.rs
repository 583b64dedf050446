//! The control snapshot, the decision log and the emergency stop.

use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::{budgets, from_json, json_value, pg, to_json, PostgresStore, StorageError};
use crate::domain::control::{ControlSnapshot, Decision, DecisionRecord, EmergencyStopStatus};
use crate::domain::Timestamp;
use crate::storage::ledger;
use crate::storage::repositories::*;

/// Reads everything [`crate::domain::control::decide`] depends on.
/// [`PostgresStore::refresh_control`] runs it in a repeatable-read
/// transaction together with the change version it describes.
pub(super) async fn read_snapshot<C: GenericClient>(
    c: &C,
) -> Result<ControlSnapshot, StorageError> {
    let read = pg("read the control state");
    let mut snapshot = ControlSnapshot::default();
    if let Some(row) = c
        .query_opt(
            "SELECT phase, whitelist, emergency_stop FROM governance_state WHERE id = 1",
            &[],
        )
        .await
        .map_err(&read)?
    {
        let phase: String = row.get(0);
        snapshot.phase = phase.parse().map_err(|message| StorageError::Corrupt {
            table: "governance_state",
            message,
        })?;
        snapshot.whitelist = from_json::<Vec<String>>("governance_state", row.get(1))?
            .into_iter()
            .collect();
        snapshot.emergency_stop = row.get(2);
    }
    for row in c
        .query(
            "SELECT (body::jsonb -> 'pausedCommandTypes')::text FROM breaker_events
             WHERE resolved_ms IS NULL",
            &[],
        )
        .await
        .map_err(&read)?
    {
        if let Some(text) = row.get::<_, Option<&str>>(0) {
            if text != "null" {
                snapshot
                    .paused_command_types
                    .extend(from_json::<Vec<String>>("breaker_events", text)?);
            }
        }
    }
    for row in c
        .query(
            "SELECT id, agent_id, status FROM workflows WHERE status != 'completed'",
            &[],
        )
        .await
        .map_err(&read)?
    {
        let (id, agent, status): (String, String, &str) = (row.get(0), row.get(1), row.get(2));
        if status == "paused" {
            snapshot.paused_workflows.insert(id.clone());
        }
        snapshot.workflow_agents.insert(id, agent);
    }
    for row in c
        .query("SELECT id FROM agents WHERE tripped", &[])
        .await
        .map_err(&read)?
    {
        snapshot.tripped_agents.insert(row.get(0));
    }
    budgets::read_into_snapshot(c, &mut snapshot).await?;
    snapshot.scopes = super::scopes::read_brakes(c).await?;
    Ok(snapshot)
}

impl ControlRepository for PostgresStore {
    fn control(&self) -> Arc<ControlSnapshot> {
        self.published_control()
    }

    fn emergency_stop_status(&self) -> Result<EmergencyStopStatus, StorageError> {
        self.read(async |c| stop_status(c).await)
    }

    fn set_emergency_stop(
        &self,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(EmergencyStopStatus, bool), StorageError> {
        self.write(async |tx| {
            let before = stop_status(&**tx).await?;
            if before.active == stop {
                if stop {
                    return Ok((before, false));
                }
                return Err(StorageError::Conflict(
                    "the emergency stop is not on; there is nothing to resume".into(),
                ));
            }
            tx.execute(
                "UPDATE governance_state SET emergency_stop = $1 WHERE id = 1",
                &[&stop],
            )
            .await
            .map_err(pg("set the emergency stop"))?;
            let action = if stop { "stop" } else { "resume" };
            tx.execute(
                "INSERT INTO emergency_stops (action, at_ms, actor, reason) VALUES ($1, $2, $3, $4)",
                &[&action, &now.millis(), &actor, &reason],
            )
            .await
            .map_err(pg("record the emergency stop"))?;
            let after = stop_status(&**tx).await?;
            tx.audit(
                now,
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
            )
            .await?;
            Ok((after, true))
        })
    }
}

/// A decision batch in one statement. Each row's id is drawn in a
/// materialized step and returned in the batch's order, so every decision
/// is answered with its own row's id (an `INSERT ... RETURNING` alone does
/// not promise its rows' order). The data-modifying steps run exactly once
/// whether or not the final `SELECT` reads them.
const APPEND_DECISIONS: &str = "
    WITH batch AS MATERIALIZED (
        SELECT nextval(pg_get_serial_sequence('decisions', 'id')) AS id, b.*
        FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::boolean[], $14::text[])
             WITH ORDINALITY AS b(at_ms, command_type, workflow_id, agent_id, decision, reasons,
                                  phase, caller, unbound, scope, position)
    ),
    logged AS (
        INSERT INTO decisions (id, at_ms, command_type, workflow_id, agent_id, decision, reasons, phase, caller, unbound, scope)
        SELECT id, at_ms, command_type, workflow_id, agent_id, decision, reasons, phase, caller, unbound, scope
        FROM batch
    ),
    totals AS (
        INSERT INTO decision_totals (decision, n)
        SELECT * FROM UNNEST($10::text[], $11::bigint[])
        ON CONFLICT (decision) DO UPDATE SET n = decision_totals.n + excluded.n
    ),
    unbound_totals AS (
        INSERT INTO unbound_decision_totals (decision, n)
        SELECT * FROM UNNEST($12::text[], $13::bigint[])
        ON CONFLICT (decision) DO UPDATE SET n = unbound_decision_totals.n + excluded.n
    )
    SELECT id FROM batch ORDER BY position";

impl DecisionRepository for PostgresStore {
    /// Group commit without the writer lock: the batch's rows are
    /// independent, and the totals are upserts that add atomically, so
    /// batches from several replicas commit side by side. A batch with
    /// budget claims settles them first under the budget lock, in the same
    /// transaction as its rows.
    fn append_decisions(&self, batch: &mut [NewDecision]) -> Result<Vec<i64>, StorageError> {
        let claims = ledger::claims_of(batch);
        self.block_on(async {
            let mut client = self.client().await?;
            if claims.is_empty() {
                return insert_batch(&client, batch).await;
            }
            let tx = client
                .transaction()
                .await
                .map_err(pg("begin settling a decision batch"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&budgets::BUDGET_LOCK])
                .await
                .map_err(pg("take the budget lock"))?;
            let usage = budgets::usage(&tx, &claims, ledger::settled_at(batch), true).await?;
            let writes = ledger::settle_batch(batch, usage);
            let ids = insert_batch(&tx, batch).await?;
            budgets::write_ledger(&tx, &writes, &ids).await?;
            tx.commit().await.map_err(pg("commit a decision batch"))?;
            Ok(ids)
        })
    }

    fn decisions(
        &self,
        limit: u32,
        command_type: Option<&str>,
        decision: Option<Decision>,
        scope: Option<&str>,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT id, at_ms, command_type, workflow_id, agent_id, decision, reasons, phase, caller, unbound, scope
                     FROM decisions WHERE ($1::text IS NULL OR command_type = $1) AND ($2::text IS NULL OR decision = $2)
                       AND ($4::text IS NULL OR scope = $4)
                     ORDER BY id DESC LIMIT $3",
                    &[&command_type, &decision.map(Decision::as_str), &i64::from(limit), &scope],
                )
                .await
                .map_err(pg("read the decision log"))?;
            let corrupt = |message: String| StorageError::Corrupt {
                table: "decisions",
                message,
            };
            rows.iter()
                .map(|r| {
                    Ok(DecisionRecord {
                        decision_id: r.get(0),
                        at: Timestamp(r.get(1)),
                        command_type: r.get(2),
                        workflow_id: r.get(3),
                        agent_id: r.get(4),
                        scope: r.get(10),
                        decision: r.get::<_, &str>(5).parse().map_err(corrupt)?,
                        reasons: from_json("decisions", r.get(6))?,
                        phase: r.get::<_, &str>(7).parse().map_err(corrupt)?,
                        caller: r.get(8),
                        unbound: r.get(9),
                    })
                })
                .collect()
        })
    }

    fn decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError> {
        self.read(async |c| totals_by_decision(c, "decision_totals").await)
    }

    fn unbound_decision_totals(&self) -> Result<Vec<(Decision, u64)>, StorageError> {
        self.read(async |c| totals_by_decision(c, "unbound_decision_totals").await)
    }
}

/// Inserts a batch as settled, with one statement, and returns its ids in
/// the batch's order.
async fn insert_batch<C: GenericClient>(
    client: &C,
    batch: &[NewDecision],
) -> Result<Vec<i64>, StorageError> {
    let mut at_ms = Vec::with_capacity(batch.len());
    let mut command_types = Vec::with_capacity(batch.len());
    let mut workflows = Vec::with_capacity(batch.len());
    let mut agents = Vec::with_capacity(batch.len());
    let mut decisions = Vec::with_capacity(batch.len());
    let mut reasons = Vec::with_capacity(batch.len());
    let mut phases = Vec::with_capacity(batch.len());
    let mut callers = Vec::with_capacity(batch.len());
    let mut unbounds = Vec::with_capacity(batch.len());
    let mut scopes = Vec::with_capacity(batch.len());
    let mut totals = [0i64; Decision::ALL.len()];
    let mut unbound = [0i64; Decision::ALL.len()];
    for d in batch {
        at_ms.push(d.at.millis());
        command_types.push(d.command_type.as_str());
        workflows.push(d.workflow_id.as_deref());
        agents.push(d.agent_id.as_deref());
        decisions.push(d.decision.as_str());
        reasons.push(to_json(&d.reasons)?);
        phases.push(d.phase.as_str());
        callers.push(d.caller.as_str());
        unbounds.push(d.unbound);
        scopes.push(d.scope.as_deref());
        let at = d.decision.index();
        totals[at] += 1;
        if d.unbound {
            unbound[at] += 1;
        }
    }
    // Each totals upsert lists its decisions in `Decision::ALL`'s
    // order on every replica, so two batches bumping the same totals
    // lock their rows in the same order and cannot deadlock.
    let bumps = |counts: [i64; Decision::ALL.len()]| -> (Vec<&'static str>, Vec<i64>) {
        Decision::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(d, n)| (d.as_str(), n))
            .unzip()
    };
    let (total_decisions, total_counts) = bumps(totals);
    let (unbound_decisions, unbound_counts) = bumps(unbound);
    let statement = client
        .prepare_cached(APPEND_DECISIONS)
        .await
        .map_err(pg("prepare the decision batch"))?;
    // One statement, so one round trip and one atomic commit,
    // whatever the batch's size: the rows and both totals commit
    // together or not at all.
    let rows = client
        .query(
            &statement,
            &[
                &at_ms,
                &command_types,
                &workflows,
                &agents,
                &decisions,
                &reasons,
                &phases,
                &callers,
                &unbounds,
                &total_decisions,
                &total_counts,
                &unbound_decisions,
                &unbound_counts,
                &scopes,
            ],
        )
        .await
        .map_err(pg("log a decision batch"))?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    if ids.len() != batch.len() {
        return Err(StorageError::Corrupt {
            table: "decisions",
            message: format!(
                "a batch of {} decisions was logged as {} rows",
                batch.len(),
                ids.len()
            ),
        });
    }
    Ok(ids)
}

async fn totals_by_decision<C: GenericClient>(
    c: &C,
    table: &str,
) -> Result<Vec<(Decision, u64)>, StorageError> {
    let rows = c
        .query(&format!("SELECT decision, n FROM {table}"), &[])
        .await
        .map_err(pg("read the decision totals"))?;
    Ok(Decision::ALL
        .into_iter()
        .map(|d| {
            let n = rows
                .iter()
                .find(|r| r.get::<_, &str>(0) == d.as_str())
                .map(|r| r.get::<_, i64>(1))
                .unwrap_or(0);
            (d, n.max(0) as u64)
        })
        .collect())
}

pub(super) async fn stop_status<C: GenericClient>(
    c: &C,
) -> Result<EmergencyStopStatus, StorageError> {
    let read = pg("read the emergency stop");
    let active: bool = c
        .query_opt(
            "SELECT emergency_stop FROM governance_state WHERE id = 1",
            &[],
        )
        .await
        .map_err(&read)?
        .map(|r| r.get(0))
        .unwrap_or(false);
    let last = |action: &'static str| {
        let read = &read;
        async move {
            Ok::<_, StorageError>(
                c.query_opt(
                    "SELECT at_ms, actor, reason FROM emergency_stops WHERE action = $1 ORDER BY id DESC LIMIT 1",
                    &[&action],
                )
                .await
                .map_err(read)?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1), r.get::<_, String>(2))),
            )
        }
    };
    let stopped = last("stop").await?;
    let resumed = last("resume").await?;
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
