//! Not yet ported from `storage/sqlite/retention.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::retention::Kept;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl RetentionRepository for PostgresStore {
    fn prune_batch(&self, what: Kept, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        Err(not_ported("RetentionRepository::prune_batch"))
    }

    fn commands_horizon(&self) -> Result<Option<Timestamp>, StorageError> {
        Err(not_ported("RetentionRepository::commands_horizon"))
    }

}
