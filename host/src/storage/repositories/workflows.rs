//! Workflows, their steps (the trace) and their status moves.

use crate::domain::control::{NewStep, NewWorkflow, Step, Workflow, WorkflowStatus};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// Workflows, their steps and their status.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait WorkflowRepository: Send + Sync {
    fn register_workflow(
        &self,
        w: &NewWorkflow,
        by: &str,
        now: Timestamp,
    ) -> Result<Workflow, StorageError>;

    fn workflow(&self, id: &str) -> Result<Workflow, StorageError>;

    fn workflows(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
    ) -> Result<Vec<Workflow>, StorageError>;

    fn paused_workflow_count(&self) -> Result<u64, StorageError>;

    /// Appends a step. A paused workflow still records its trace (the agent
    /// reports what it did, or that it is waiting); a completed one is closed.
    fn append_step(
        &self,
        id: &str,
        step: &NewStep,
        by: &str,
        now: Timestamp,
    ) -> Result<Step, StorageError>;

    fn trace(&self, id: &str) -> Result<Vec<Step>, StorageError>;

    /// Moves a workflow between statuses, audited: running to paused and
    /// back, running to completed. Any other move is a conflict that names
    /// the current status.
    fn move_workflow(
        &self,
        id: &str,
        to: WorkflowStatus,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Workflow, StorageError>;
}
