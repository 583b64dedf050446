//! The control snapshot the enforcement point decides on, and the emergency
//! stop.

use std::sync::Arc;

use crate::domain::control::{ControlSnapshot, EmergencyStopStatus};
use crate::domain::Timestamp;
use crate::storage::StorageError;

pub trait ControlRepository: Send + Sync {
    /// The control state as of the last committed change.
    fn control(&self) -> Arc<ControlSnapshot>;

    fn emergency_stop_status(&self) -> Result<EmergencyStopStatus, StorageError>;

    /// Turns the stop on or off. Stopping while stopped changes nothing
    /// (the first stop's time, actor and reason stand); resuming while
    /// running is a conflict. Each change is audited in its transaction.
    fn set_emergency_stop(
        &self,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(EmergencyStopStatus, bool), StorageError>;
}
