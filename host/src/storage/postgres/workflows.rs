//! Workflows and their traces, a port of `storage/sqlite/workflows.rs`.
//! Operators can pause and resume a workflow; only the agent that runs it
//! writes its content.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{pg, to_json, PostgresStore, StorageError};
use crate::domain::control::{NewStep, NewWorkflow, Step, Workflow, WorkflowStatus};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const COLUMNS: &str = "id, name, agent_id, status, registered_ms, registered_by, paused_ms, paused_by, pause_reason, completed_ms, step_count";

fn workflow(r: &Row) -> Result<Workflow, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        table: "workflows",
        message,
    };
    let steps: i64 = r.get(10);
    Ok(Workflow {
        id: r.get(0),
        name: r.get(1),
        agent_id: r.get(2),
        status: r.get::<_, &str>(3).parse().map_err(corrupt)?,
        registered_at: Timestamp(r.get(4)),
        registered_by: r.get(5),
        paused_at: r.get::<_, Option<i64>>(6).map(Timestamp),
        paused_by: r.get(7),
        pause_reason: r.get(8),
        completed_at: r.get::<_, Option<i64>>(9).map(Timestamp),
        step_count: u64::try_from(steps)
            .map_err(|_| corrupt(format!("a workflow has {steps} steps")))?,
    })
}

async fn read<C: GenericClient>(c: &C, id: &str) -> Result<Workflow, StorageError> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM workflows WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(pg("read a workflow"))?
        .ok_or_else(|| StorageError::NotFound(format!("no workflow with id `{id}`")))?;
    workflow(&row)
}

fn step(r: &Row) -> Result<Step, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        table: "workflow_steps",
        message,
    };
    let seq: i64 = r.get(0);
    let status: String = r.get(2);
    Ok(Step {
        seq: u64::try_from(seq).map_err(|_| corrupt(format!("a step numbered {seq}")))?,
        name: r.get(1),
        status: serde_json::from_value(serde_json::Value::String(status))
            .map_err(|e| corrupt(e.to_string()))?,
        detail: r
            .get::<_, Option<&str>>(3)
            .map(|d| serde_json::from_str(d).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        at: Timestamp(r.get(4)),
        recorded_by: r.get(5),
    })
}

fn count(n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| StorageError::Corrupt {
        table: "workflows",
        message: format!("count(*) returned {n}"),
    })
}

impl WorkflowRepository for PostgresStore {
    fn register_workflow(
        &self,
        w: &NewWorkflow,
        by: &str,
        now: Timestamp,
    ) -> Result<Workflow, StorageError> {
        self.write(async |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO workflows (id, name, agent_id, status, registered_ms, registered_by)
                     VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[&w.id, &w.name, &w.agent_id, &now.millis(), &by],
                )
                .await
                .map_err(pg("register a workflow"))?;
            if inserted == 0 {
                return Err(StorageError::Conflict(format!(
                    "a workflow with id `{}` is already registered",
                    w.id
                )));
            }
            read(&**tx, &w.id).await
        })
    }

    fn workflow(&self, id: &str) -> Result<Workflow, StorageError> {
        self.read(async |c| read(c, id).await)
    }

    fn workflows(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
    ) -> Result<Vec<Workflow>, StorageError> {
        self.read(async |c| {
            c.query(
                &format!(
                    r#"SELECT {COLUMNS} FROM workflows WHERE ($1::text IS NULL OR status = $1)
                       ORDER BY registered_ms DESC, id COLLATE "C" LIMIT $2"#
                ),
                &[&status.map(WorkflowStatus::as_str), &i64::from(limit)],
            )
            .await
            .map_err(pg("read the workflows"))?
            .iter()
            .map(workflow)
            .collect()
        })
    }

    fn paused_workflow_count(&self) -> Result<u64, StorageError> {
        self.read(async |c| {
            count(
                c.query_one(
                    "SELECT count(*) FROM workflows WHERE status = 'paused'",
                    &[],
                )
                .await
                .map_err(pg("count the paused workflows"))?
                .get(0),
            )
        })
    }

    fn append_step(
        &self,
        id: &str,
        step: &NewStep,
        by: &str,
        now: Timestamp,
    ) -> Result<Step, StorageError> {
        self.write(async |tx| {
            let w = read(&**tx, id).await?;
            if w.status == WorkflowStatus::Completed {
                return Err(StorageError::Conflict(format!(
                    "workflow `{id}` is completed; its trace is closed"
                )));
            }
            let seq = w.step_count + 1;
            let stored_seq = i64::try_from(seq).map_err(|_| StorageError::Corrupt {
                table: "workflows",
                message: format!("workflow `{id}` has {} steps", w.step_count),
            })?;
            let at = step.at.unwrap_or(now);
            let status = to_json(&step.status)?;
            tx.execute(
                "INSERT INTO workflow_steps (workflow_id, seq, name, status, detail, at_ms, recorded_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &id,
                    &stored_seq,
                    &step.name,
                    &status.trim_matches('"'),
                    &step.detail.as_ref().map(|d| d.to_string()),
                    &at.millis(),
                    &by,
                ],
            )
            .await
            .map_err(pg("record a workflow step"))?;
            tx.execute(
                "UPDATE workflows SET step_count = $2 WHERE id = $1",
                &[&id, &stored_seq],
            )
            .await
            .map_err(pg("count a workflow's steps"))?;
            Ok(Step {
                seq,
                name: step.name.clone(),
                status: step.status,
                detail: step.detail.clone(),
                at,
                recorded_by: by.to_string(),
            })
        })
    }

    fn trace(&self, id: &str) -> Result<Vec<Step>, StorageError> {
        self.read(async |c| {
            read(c, id).await?;
            c.query(
                "SELECT seq, name, status, detail, at_ms, recorded_by FROM workflow_steps
                 WHERE workflow_id = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .map_err(pg("read a workflow's trace"))?
            .iter()
            .map(step)
            .collect()
        })
    }

    fn move_workflow(
        &self,
        id: &str,
        to: WorkflowStatus,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Workflow, StorageError> {
        self.write(async |tx| {
            let before = read(&**tx, id).await?;
            let allowed = match to {
                WorkflowStatus::Paused => before.status == WorkflowStatus::Running,
                WorkflowStatus::Running => before.status == WorkflowStatus::Paused,
                // The agent cannot release the brake by completing.
                WorkflowStatus::Completed => before.status == WorkflowStatus::Running,
            };
            if !allowed {
                return Err(StorageError::Conflict(format!(
                    "workflow `{id}` is {}; it cannot be {}",
                    before.status.as_str(),
                    match to {
                        WorkflowStatus::Paused => "paused",
                        WorkflowStatus::Running => "resumed",
                        WorkflowStatus::Completed => "completed until it runs",
                    }
                )));
            }
            let moved = pg("move a workflow");
            match to {
                WorkflowStatus::Paused => tx
                    .execute(
                        "UPDATE workflows SET status = 'paused', paused_ms = $2, paused_by = $3, pause_reason = $4
                         WHERE id = $1",
                        &[&id, &now.millis(), &by, &reason],
                    )
                    .await
                    .map_err(&moved)?,
                WorkflowStatus::Running => tx
                    .execute(
                        "UPDATE workflows SET status = 'running', paused_ms = NULL, paused_by = NULL, pause_reason = NULL
                         WHERE id = $1",
                        &[&id],
                    )
                    .await
                    .map_err(&moved)?,
                WorkflowStatus::Completed => tx
                    .execute(
                        "UPDATE workflows SET status = 'completed', completed_ms = $2 WHERE id = $1",
                        &[&id, &now.millis()],
                    )
                    .await
                    .map_err(&moved)?,
            };
            let after = read(&**tx, id).await?;
            tx.audit(
                now,
                NewAudit {
                    actor: by,
                    action: match to {
                        WorkflowStatus::Paused => "workflow.pause",
                        WorkflowStatus::Running => "workflow.resume",
                        WorkflowStatus::Completed => "workflow.complete",
                    },
                    target: format!("workflow:{id}"),
                    before: Some(serde_json::json!({"status": before.status})),
                    after: Some(serde_json::json!({"status": after.status, "reason": reason})),
                },
            )
            .await?;
            Ok(after)
        })
    }
}
