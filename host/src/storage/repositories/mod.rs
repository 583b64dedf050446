//! One trait per aggregate. Each speaks domain types and [`StorageError`]
//! and hides how the backend stores them.
//!
//! A method documented as *one unit of work* changes everything it names
//! (and appends its audit entries) atomically: either all of it is
//! committed and durable when the method returns `Ok`, or nothing is.
//! Such a method may span aggregates (a cost and the agent's trip, an
//! approval and the phase it moves); the backend runs it in one
//! transaction rather than letting the caller hold one.
//!
//! [`StorageError`]: crate::storage::StorageError

mod access;
mod agents;
mod audit;
mod breakers;
mod budgets;
mod command_source;
mod commands;
mod control;
mod decisions;
mod events;
mod governance;
mod health;
mod idempotency;
mod leases;
mod plugins;
mod proposals;
mod readiness;
mod replicas;
mod retention;
pub(crate) mod scopes;
mod sessions;
mod workflows;

pub use access::{AccessRepository, TokenRecord};
pub use agents::{AgentRepository, Escalation};
pub use audit::{AuditEntry, AuditRepository, AuditVerification, NewAudit};
pub use breakers::BreakerRepository;
pub use budgets::BudgetRepository;
pub use command_source::{CommandSource, SourcePage};
pub use commands::{CommandRepository, Ingested};
pub use control::ControlRepository;
pub use decisions::{DecisionRepository, NewDecision};
pub use events::{EventRepository, NewAction};
pub use governance::{GovernanceRepository, InitialState, StateRow};
pub use health::HealthRepository;
pub use idempotency::{IdempotencyRepository, IdempotencyScope, KeyClaim, StoredAnswer};
pub use leases::{Lease, LeaseRepository};
pub use plugins::{
    EvaluationRecord, PluginRepository, RecordedInput, StoredPlugin, StoredSignature,
};
pub use proposals::ProposalRepository;
pub use readiness::{AttestationRecord, ReadinessRepository};
pub use replicas::{ChangeFeed, ReplicaRecord, ReplicaRepository};
pub use retention::RetentionRepository;
pub use scopes::ScopeRepository;
pub(crate) use sessions::audited as audited_session;
pub use sessions::{NewSession, SessionCredential, SessionRecord, SessionRepository};
pub use workflows::WorkflowRepository;
