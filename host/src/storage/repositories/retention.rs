//! Pruning of old rows. The audit log is never pruned, and totals are never
//! touched.

use crate::domain::retention::Kept;
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// Pruning of old rows, a small batch at a time.
pub trait RetentionRepository: Send + Sync {
    /// Prunes at most `batch` rows of `what` older than `cutoff`, in one
    /// transaction, and returns how many went. A pass calls it again while
    /// it returns `batch`. Nothing pruned is part of the control state, so
    /// the snapshot is not rebuilt.
    fn prune_batch(&self, what: Kept, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError>;

    /// Commands created before this may have been pruned (`None`: none
    /// were).
    fn commands_horizon(&self) -> Result<Option<Timestamp>, StorageError>;
}
