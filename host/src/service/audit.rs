//! The audit log, read back. Entries are written by the store together
//! with each change they record, never here.

use std::sync::Arc;

use super::ServiceResult;
use crate::storage::prelude::*;
use crate::storage::{AuditEntry, AuditVerification};

pub struct AuditService {
    db: Arc<dyn Store>,
}

impl AuditService {
    pub fn new(db: Arc<dyn Store>) -> Self {
        Self { db }
    }

    /// Audit entries, newest first.
    pub fn entries(&self, limit: u32) -> ServiceResult<Vec<AuditEntry>> {
        Ok(self.db.audit_entries(limit)?)
    }

    /// Walks the whole hash chain, as `regent audit verify` does, and
    /// names every break in it.
    pub fn verify(&self) -> ServiceResult<AuditVerification> {
        Ok(self.db.verify_audit()?)
    }
}
