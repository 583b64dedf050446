//! Whether the store is usable, for `/ready` and `regent audit`.

use crate::storage::StorageError;

/// Whether the store can be written, and its schema version.
pub trait HealthRepository: Send + Sync {
    /// Whether a write can be committed now: `/ready` asks this.
    fn check_writable(&self) -> Result<(), StorageError>;

    fn schema_version(&self) -> Result<i64, StorageError>;
}
