//! The audit log, read back. Entries are written by the store together
//! with each change they record, never here.

use std::sync::Arc;

use super::ServiceResult;
use crate::storage::prelude::*;
use crate::storage::AuditEntry;

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
}
