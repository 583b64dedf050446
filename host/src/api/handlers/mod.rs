//! Handlers, one module per area. Each reads its request, checks the
//! caller's role, and hands the work to the service on the blocking pool.

pub mod access;
pub mod agents;
pub mod breakers;
pub mod control;
pub mod events;
pub mod governance;
pub mod plugins;
pub mod registry;
pub mod reporting;
pub mod system;
