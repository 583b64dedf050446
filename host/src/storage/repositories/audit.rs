//! The audit log: append-only and hash-chained. Entries are appended only by
//! the unit of work that makes the change they record; this repository reads
//! and verifies them.

use serde::Serialize;

use crate::domain::Timestamp;
use crate::storage::StorageError;

/// A change to record, written in the transaction that makes the change.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerification {
    pub entries: u64,
    /// Each break in the chain, in order; empty when the log is intact.
    pub problems: Vec<String>,
}

/// Reading and verifying the hash-chained audit log. Entries are
/// written only by the changes they record, in the same unit of work.
pub trait AuditRepository: Send + Sync {
    /// The newest entries first.
    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StorageError>;

    /// The newest entry's id and hash, as the log itself holds them (not
    /// the head row, which a rewriter could edit along with it).
    fn audit_last(&self) -> Result<Option<(i64, String)>, StorageError>;

    /// The hash of entry `id`, if the log holds it.
    fn audit_hash(&self, id: i64) -> Result<Option<String>, StorageError>;

    /// Walks the chain from the first entry: each row's hash must match its
    /// contents, link to the row before, and the last must be the head.
    fn verify_audit(&self) -> Result<AuditVerification, StorageError>;
}
