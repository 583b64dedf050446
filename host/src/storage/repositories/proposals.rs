//! Proposals to expand the phase, their approvals and rejections.

use crate::domain::governance::{Approval, Proposal, Rejection};
use crate::storage::StorageError;

/// Proposals to raise the phase, and the decisions on them.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait ProposalRepository: Send + Sync {
    /// Stores a new pending proposal. A second pending one is a conflict.
    fn create_proposal(&self, p: &mut Proposal, actor: &str) -> Result<(), StorageError>;

    fn proposal(&self, id: i64) -> Result<Proposal, StorageError>;

    /// Newest first; only pending ones unless `all`.
    fn proposals(&self, all: bool) -> Result<Vec<Proposal>, StorageError>;

    /// Records an approval; the last one needed moves the phase to the
    /// target with `whitelist`, in the same transaction.
    ///
    /// One unit of work: the approval, the phase it moves when it is the
    /// last one needed, and the audit entries of both.
    fn approve_proposal(
        &self,
        id: i64,
        approval: Approval,
        held: bool,
        whitelist: &[String],
    ) -> Result<Proposal, StorageError>;

    fn reject_proposal(
        &self,
        id: i64,
        rejection: Rejection,
        held: bool,
    ) -> Result<Proposal, StorageError>;
}
