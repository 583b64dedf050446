//! Handlers, one module per area. Each reads its request, is given the
//! caller the router table's guard already checked, calls one service
//! method (on the blocking pool) and shapes the reply. None touches the
//! store.

pub mod access;
pub mod agents;
pub mod breakers;
pub mod budgets;
pub mod control;
pub mod events;
pub mod governance;
pub mod plugins;
pub mod registry;
pub mod replicas;
pub mod reporting;
pub mod scopes;
pub mod sessions;
pub mod system;
