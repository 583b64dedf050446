//! Leases on background work. Not yet implemented: every method fails with a
//! backend error naming itself.

#![allow(unused_variables)]

use super::SqliteStore;
use crate::storage::repositories::*;
use crate::storage::StorageError;

fn not_yet(method: &'static str) -> StorageError {
    StorageError::Backend {
        operation: method,
        source: "not implemented yet".into(),
    }
}

impl LeaseRepository for SqliteStore {
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StorageError> {
        Err(not_yet("LeaseRepository::acquire_lease"))
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        Err(not_yet("LeaseRepository::release_lease"))
    }

    fn leases(&self) -> Result<Vec<Lease>, StorageError> {
        Err(not_yet("LeaseRepository::leases"))
    }
}
