//! The control snapshot the enforcement point decides on, and the emergency
//! stop.

use std::sync::Arc;

use crate::domain::control::{ControlSnapshot, EmergencyStopStatus};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// What the enforcement point decides on, and the emergency stop. The
/// snapshot is rebuilt after every committed change, so reading it needs
/// no query.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait ControlRepository: Send + Sync {
    /// The control state as of the last committed change.
    fn control(&self) -> Arc<ControlSnapshot>;

    fn emergency_stop_status(&self) -> Result<EmergencyStopStatus, StorageError>;

    /// Turns the stop on or off. Stopping while stopped changes nothing
    /// (the first stop's time, actor and reason stand); resuming while
    /// running is a conflict. Each change is audited in its transaction.
    ///
    /// One unit of work: the stop, its history row and its audit entry.
    fn set_emergency_stop(
        &self,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(EmergencyStopStatus, bool), StorageError>;
}
