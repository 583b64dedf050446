//! The program's state (phase, whitelist) and its cycle reports.

use crate::domain::breaker::BreakerRule;
use crate::domain::governance::GovernanceReport;
use crate::domain::{Phase, Timestamp};
use crate::storage::StorageError;

/// The stored singleton; the service derives the API's state from it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    pub phase: Phase,
    pub phase_started_at: Timestamp,
    pub whitelist: Vec<String>,
    pub last_report_at: Option<Timestamp>,
    pub emergency_stop: bool,
}

/// The phase a store starts at when the config says so.
#[derive(Debug, Clone, Copy)]
pub struct InitialState<'a> {
    pub phase: Phase,
    pub started_at: Timestamp,
    pub whitelist: &'a [String],
}

/// The program's state: its phase, whitelist and cycle reports.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait GovernanceRepository: Send + Sync {
    /// The first start: phase L3 from now with an empty whitelist, or the
    /// configured `initial` phase with its whitelist, and the default
    /// breaker rules. Later starts change nothing, whatever the config says.
    ///
    /// One unit of work: the state, the default rules and the audit entry.
    fn initialize(
        &self,
        rules: &[BreakerRule],
        initial: Option<InitialState<'_>>,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    fn state(&self) -> Result<StateRow, StorageError>;

    /// Sets the phase by hand (bootstrapping from an existing system).
    /// A change of phase outside the cycle, decided by
    /// [`phase_change`] on the state inside the transaction, so a racing
    /// approval cannot slip between the check and the write.
    ///
    /// One unit of work: the phase, the pending proposals a lowering
    /// cancels, and the audit entries of both.
    fn change_phase(
        &self,
        requested: Phase,
        started: Option<Timestamp>,
        by_admin: bool,
        whitelist: &[String],
        actor: &str,
        now: Timestamp,
    ) -> Result<StateRow, StorageError>;

    /// Stores the cycle's report and moves `lastReportAt`, together.
    ///
    /// One unit of work: the report, `lastReportAt` and the audit entry.
    fn store_report(&self, r: &mut GovernanceReport, actor: &str) -> Result<(), StorageError>;

    fn reports(&self, limit: u32) -> Result<Vec<GovernanceReport>, StorageError>;

    fn report(&self, id: i64) -> Result<GovernanceReport, StorageError>;
}
