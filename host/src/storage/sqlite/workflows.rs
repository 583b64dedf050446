//! Workflows and their traces. Operators can pause and resume a workflow;
//! only the agent that runs it writes its content.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{to_json, SqliteStore, StorageError};
use crate::domain::control::{NewStep, NewWorkflow, Step, Workflow, WorkflowStatus};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const COLUMNS: &str = "id, name, agent_id, status, registered_ms, registered_by, paused_ms, paused_by, pause_reason, completed_ms, step_count";

fn workflow(r: &Row<'_>) -> rusqlite::Result<(Workflow, String)> {
    let status: String = r.get(3)?;
    Ok((
        Workflow {
            id: r.get(0)?,
            name: r.get(1)?,
            agent_id: r.get(2)?,
            status: WorkflowStatus::Running,
            registered_at: Timestamp(r.get(4)?),
            registered_by: r.get(5)?,
            paused_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
            paused_by: r.get(7)?,
            pause_reason: r.get(8)?,
            completed_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
            step_count: r.get::<_, i64>(10)? as u64,
        },
        status,
    ))
}

fn parse((mut w, status): (Workflow, String)) -> Result<Workflow, StorageError> {
    w.status = status.parse().map_err(|message| StorageError::Corrupt {
        table: "workflows",
        message,
    })?;
    Ok(w)
}

fn read(conn: &Connection, id: &str) -> Result<Workflow, StorageError> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM workflows WHERE id = ?1"),
            [id],
            workflow,
        )
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no workflow with id `{id}`")))?;
    parse(row)
}

impl WorkflowRepository for SqliteStore {
    fn register_workflow(
        &self,
        w: &NewWorkflow,
        by: &str,
        now: Timestamp,
    ) -> Result<Workflow, StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO workflows (id, name, agent_id, status, registered_ms, registered_by)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5) ON CONFLICT (id) DO NOTHING",
                params![w.id, w.name, w.agent_id, now.millis(), by],
            )?;
            if inserted == 0 {
                return Err(StorageError::Conflict(format!(
                    "a workflow with id `{}` is already registered",
                    w.id
                )));
            }
            read(tx, &w.id)
        })
    }

    fn workflow(&self, id: &str) -> Result<Workflow, StorageError> {
        read(&self.conn(), id)
    }

    fn workflows(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
    ) -> Result<Vec<Workflow>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM workflows WHERE (?1 IS NULL OR status = ?1)
             ORDER BY registered_ms DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![status.map(WorkflowStatus::as_str), limit], workflow)?;
        rows.map(|r| parse(r?)).collect()
    }

    fn paused_workflow_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM workflows WHERE status = 'paused'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn append_step(
        &self,
        id: &str,
        step: &NewStep,
        by: &str,
        now: Timestamp,
    ) -> Result<Step, StorageError> {
        self.write(|tx| {
            let w = read(tx, id)?;
            if w.status == WorkflowStatus::Completed {
                return Err(StorageError::Conflict(format!(
                    "workflow `{id}` is completed; its trace is closed"
                )));
            }
            let seq = w.step_count + 1;
            let at = step.at.unwrap_or(now);
            tx.execute(
                "INSERT INTO workflow_steps (workflow_id, seq, name, status, detail, at_ms, recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    seq as i64,
                    step.name,
                    to_json(&step.status)?.trim_matches('"'),
                    step.detail.as_ref().map(|d| d.to_string()),
                    at.millis(),
                    by
                ],
            )?;
            tx.execute(
                "UPDATE workflows SET step_count = ?2 WHERE id = ?1",
                params![id, seq as i64],
            )?;
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
        let conn = self.conn();
        read(&conn, id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, name, status, detail, at_ms, recorded_by FROM workflow_steps
             WHERE workflow_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let corrupt = |message: String| StorageError::Corrupt {
            table: "workflow_steps",
            message,
        };
        rows.map(|row| {
            let (seq, name, status, detail, at, by) = row?;
            Ok(Step {
                seq: seq as u64,
                name,
                status: serde_json::from_value(serde_json::Value::String(status))
                    .map_err(|e| corrupt(e.to_string()))?,
                detail: detail
                    .map(|d| serde_json::from_str(&d).map_err(|e| corrupt(e.to_string())))
                    .transpose()?,
                at: Timestamp(at),
                recorded_by: by,
            })
        })
        .collect()
    }

    fn move_workflow(
        &self,
        id: &str,
        to: WorkflowStatus,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Workflow, StorageError> {
        self.write(|tx| {
            let before = read(tx, id)?;
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
            match to {
                WorkflowStatus::Paused => tx.execute(
                    "UPDATE workflows SET status = 'paused', paused_ms = ?2, paused_by = ?3, pause_reason = ?4 WHERE id = ?1",
                    params![id, now.millis(), by, reason],
                )?,
                WorkflowStatus::Running => tx.execute(
                    "UPDATE workflows SET status = 'running', paused_ms = NULL, paused_by = NULL, pause_reason = NULL WHERE id = ?1",
                    [id],
                )?,
                WorkflowStatus::Completed => tx.execute(
                    "UPDATE workflows SET status = 'completed', completed_ms = ?2 WHERE id = ?1",
                    params![id, now.millis()],
                )?,
            };
            let after = read(tx, id)?;
            tx.audit(now,
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
            )?;
            Ok(after)
        })
    }
}
