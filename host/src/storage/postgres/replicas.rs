//! Replicas: heartbeats and liveness. Not yet implemented: every method fails with a
//! backend error naming itself.

#![allow(unused_variables)]

use super::PostgresStore;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

fn not_yet(method: &'static str) -> StorageError {
    StorageError::Backend {
        operation: method,
        source: "not implemented yet".into(),
    }
}

impl ReplicaRepository for PostgresStore {
    fn heartbeat(&self, replica: &ReplicaRecord) -> Result<(), StorageError> {
        Err(not_yet("ReplicaRepository::heartbeat"))
    }

    fn live_replicas(&self, live_within_ms: i64) -> Result<Vec<ReplicaRecord>, StorageError> {
        Err(not_yet("ReplicaRepository::live_replicas"))
    }

    fn retire_replica(&self, id: &str) -> Result<(), StorageError> {
        Err(not_yet("ReplicaRepository::retire_replica"))
    }

    fn database_now(&self) -> Result<Timestamp, StorageError> {
        Err(not_yet("ReplicaRepository::database_now"))
    }
}
