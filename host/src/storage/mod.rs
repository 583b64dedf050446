//! Storage: one repository trait per aggregate, and the backends that
//! implement them. Callers see domain types and [`StorageError`], never
//! SQL, connections or a backend's error types.
//!
//! The layers above hold an `Arc<dyn Store>` and call repository methods
//! through the traits (`use crate::storage::prelude::*;`). Only the
//! composition root (`startup.rs`, the CLI's offline commands and tests)
//! names a backend such as [`SqliteStore`]. `docs/storage.md` describes
//! the repositories, the unit of work and the guarantees a backend keeps;
//! [`conformance`] is the suite every backend must pass.

mod codec;
mod ledger;
mod postgres;
pub mod prelude;
pub mod repositories;
mod sqlite;

#[cfg(test)]
pub(crate) mod conformance;

#[cfg(test)]
pub(crate) use postgres::test_support as postgres_test_support;
pub use postgres::{redact as redact_url, PostgresOptions, PostgresStore};
pub use repositories::{
    AccessRepository, AgentRepository, AttestationRecord, AuditEntry, AuditRepository,
    AuditVerification, BreakerRepository, BudgetRepository, ChangeFeed, CommandRepository,
    CommandSource, ControlRepository, DecisionRepository, Escalation, EvaluationRecord,
    EventRepository, GovernanceRepository, HealthRepository, IdempotencyRepository,
    IdempotencyScope, Ingested, InitialState, KeyClaim, Lease, LeaseRepository, NewAction,
    NewAudit, NewDecision, NewSession, PluginRepository, ProposalRepository, ReadinessRepository,
    RecordedInput, ReplicaRecord, ReplicaRepository, RetentionRepository, ScopeRepository,
    SessionCredential, SessionRecord, SessionRepository, SourcePage, StateRow, StoredAnswer,
    StoredPlugin, StoredSignature, TokenRecord, WorkflowRepository,
};
#[cfg(test)]
pub(crate) use sqlite::test_support;
pub use sqlite::{SqliteCommandSource, SqliteStore};

/// A backend's own error, kept as the source of a [`StorageError`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Everything the host needs from a store: every repository, shareable
/// across threads. Implemented for any type that implements them all, so a
/// backend implements the repositories and gets `Store` for free.
pub trait Store:
    GovernanceRepository
    + ControlRepository
    + BudgetRepository
    + CommandRepository
    + ReadinessRepository
    + BreakerRepository
    + ProposalRepository
    + AuditRepository
    + DecisionRepository
    + WorkflowRepository
    + EventRepository
    + AgentRepository
    + PluginRepository
    + AccessRepository
    + RetentionRepository
    + HealthRepository
    + ReplicaRepository
    + LeaseRepository
    + SessionRepository
    + IdempotencyRepository
    + ScopeRepository
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: GovernanceRepository
        + ControlRepository
        + BudgetRepository
        + CommandRepository
        + ReadinessRepository
        + BreakerRepository
        + ProposalRepository
        + AuditRepository
        + DecisionRepository
        + WorkflowRepository
        + EventRepository
        + AgentRepository
        + PluginRepository
        + AccessRepository
        + RetentionRepository
        + HealthRepository
        + ReplicaRepository
        + LeaseRepository
        + SessionRepository
        + IdempotencyRepository
        + ScopeRepository
        + Send
        + Sync
{
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The store could not be opened or migrated.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: BackendError,
    },
    /// The backend failed (I/O, a lock held too long, a broken statement).
    /// The backend's own error is kept as the source.
    #[error("database error: cannot {operation}: {source}")]
    Backend {
        operation: &'static str,
        #[source]
        source: BackendError,
    },
    /// A record that cannot be encoded for storage: refused rather than
    /// stored as a placeholder.
    #[error("cannot encode a `{what}` for storage: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the stored state (a duplicate, a second
    /// pending proposal, a decision already taken).
    #[error("{0}")]
    Conflict(String),
    /// The request names something the store does not hold (an agent to
    /// bind a token to): the caller's mistake, found in the transaction.
    #[error("{0}")]
    Invalid(String),
    /// A decision the domain refused, checked inside the transaction.
    #[error(transparent)]
    Decision(#[from] crate::domain::governance::DecisionError),
    /// A phase change the domain refused, checked inside the transaction.
    #[error(transparent)]
    PhaseChange(#[from] crate::domain::governance::PhaseChangeError),
    /// A stored row that does not parse: the file was edited by hand or
    /// written by a newer Regent.
    #[error("corrupt row in `{table}`: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
}
