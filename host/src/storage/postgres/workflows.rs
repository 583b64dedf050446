//! Not yet ported from `storage/sqlite/workflows.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::control::{NewStep, NewWorkflow, Step, Workflow, WorkflowStatus};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl WorkflowRepository for PostgresStore {
    fn register_workflow( &self, w: &NewWorkflow, by: &str, now: Timestamp, ) -> Result<Workflow, StorageError> {
        Err(not_ported("WorkflowRepository::register_workflow"))
    }

    fn workflow(&self, id: &str) -> Result<Workflow, StorageError> {
        Err(not_ported("WorkflowRepository::workflow"))
    }

    fn workflows( &self, status: Option<WorkflowStatus>, limit: u32, ) -> Result<Vec<Workflow>, StorageError> {
        Err(not_ported("WorkflowRepository::workflows"))
    }

    fn paused_workflow_count(&self) -> Result<u64, StorageError> {
        Err(not_ported("WorkflowRepository::paused_workflow_count"))
    }

    fn append_step( &self, id: &str, step: &NewStep, by: &str, now: Timestamp, ) -> Result<Step, StorageError> {
        Err(not_ported("WorkflowRepository::append_step"))
    }

    fn trace(&self, id: &str) -> Result<Vec<Step>, StorageError> {
        Err(not_ported("WorkflowRepository::trace"))
    }

    fn move_workflow( &self, id: &str, to: WorkflowStatus, by: &str, reason: Option<&str>, now: Timestamp, ) -> Result<Workflow, StorageError> {
        Err(not_ported("WorkflowRepository::move_workflow"))
    }

}
