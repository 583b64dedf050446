//! Leases: background work that must run on one replica at a time.

use crate::domain::Timestamp;
use crate::storage::StorageError;

/// Who holds a lease, and until when (the database's clock).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub acquired_at: Timestamp,
    pub renewed_at: Timestamp,
    pub expires_at: Timestamp,
}

pub trait LeaseRepository: Send + Sync {
    /// Takes `name` for `holder` for `ttl_ms` if it is free or expired, or
    /// renews it if `holder` already holds it. `Some` with the lease when
    /// `holder` holds it after the call, `None` when another does.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StorageError>;

    /// Gives `name` up if `holder` holds it.
    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError>;

    /// Every lease, held or expired.
    fn leases(&self) -> Result<Vec<Lease>, StorageError>;
}

impl Lease {
    /// A lease lasts a positive time: a zero or negative one would be
    /// expired as it is taken. Both backends refuse it alike.
    pub(crate) fn check_ttl(ttl_ms: i64) -> Result<(), StorageError> {
        if ttl_ms <= 0 {
            return Err(StorageError::Invalid(format!(
                "a lease lasts at least 1 ms, not {ttl_ms}"
            )));
        }
        Ok(())
    }

    /// Whether the lease still binds at `now` (the database's clock).
    pub fn held_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}
