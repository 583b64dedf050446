//! The repository traits, so that a call site holding an `Arc<dyn Store>`
//! can call any repository method with one import:
//! `use crate::storage::prelude::*;`.

pub use super::repositories::{
    AccessRepository, AgentRepository, AuditRepository, BreakerRepository, BudgetRepository,
    CommandRepository, CommandSource, ControlRepository, DecisionRepository, EventRepository,
    GovernanceRepository, HealthRepository, IdempotencyRepository, LeaseRepository,
    PluginRepository, ProposalRepository, ReadinessRepository, ReplicaRepository,
    RetentionRepository, ScopeRepository, SessionRepository, WorkflowRepository,
};
pub use super::Store;
