//! Budgets and batch limits as operators set them, and the ledger that
//! the decision log settles autonomous decisions against.

use std::collections::HashMap;

use crate::domain::budget::{BudgetDef, BudgetKind, Claim, Usage};
use crate::domain::control::Decision;
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// The budgets' definitions (part of the control snapshot) and their use.
/// The use is written by [`super::DecisionRepository::append_decisions`],
/// which settles each batch under a lock every replica takes.
pub trait BudgetRepository: Send + Sync {
    /// Creates or replaces a budget (a batch limit is named by its command
    /// type), returning the definition it replaced. Usage already counted
    /// stays with the name.
    ///
    /// One unit of work: the definition and its audit entry.
    fn put_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<BudgetDef>, StorageError>;

    /// Removes a budget and its usage; `NotFound` when there is none.
    ///
    /// One unit of work: the definition, its ledger rows and the audit entry.
    fn delete_budget(
        &self,
        kind: BudgetKind,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<BudgetDef, StorageError>;

    /// Adds a budget from the configuration unless one of that kind and
    /// name exists: after the first start, the store is the truth and an
    /// operator's edit is not undone by a restart. True when added.
    ///
    /// One unit of work: the definition and its audit entry.
    fn seed_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Every budget's definition, by kind and name.
    fn budgets(&self) -> Result<Vec<(BudgetKind, String, BudgetDef)>, StorageError>;

    /// How much of each claimed ledger is in use at `now`.
    fn budget_usage(
        &self,
        claims: &[Claim],
        now: Timestamp,
    ) -> Result<HashMap<String, Usage>, StorageError>;

    /// Who decision `id` was answered to, and its outcome; none when there
    /// is no such decision.
    fn decision_caller(&self, decision_id: i64)
        -> Result<Option<(String, Decision)>, StorageError>;

    /// Releases the concurrency leases decision `id` holds, returning how
    /// many it held (zero once completed or expired).
    fn release_leases(&self, decision_id: i64, now: Timestamp) -> Result<u32, StorageError>;
}
