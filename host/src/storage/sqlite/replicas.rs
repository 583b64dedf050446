//! Replicas: the one process serving this file, as its heartbeat says.
//!
//! A heartbeat is not a unit of work: no audit entry, and the control
//! snapshot is not republished. The clock is this process's own, which is
//! the only one writing.

use rusqlite::params;

use super::SqliteStore;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

/// A replica silent for this long is forgotten (a process that was killed
/// and never came back under that id).
const FORGET_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

impl ReplicaRepository for SqliteStore {
    /// The heartbeat time is this process's clock, whatever the record says.
    fn heartbeat(&self, replica: &ReplicaRecord) -> Result<(), StorageError> {
        let now = Timestamp::now().millis();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO replicas (id, address, regent_version, started_ms, heartbeat_ms,
                                   applied_version, applied_ms, plugin_generation)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET
                address = excluded.address,
                regent_version = excluded.regent_version,
                started_ms = excluded.started_ms,
                heartbeat_ms = excluded.heartbeat_ms,
                applied_version = excluded.applied_version,
                applied_ms = excluded.applied_ms,
                plugin_generation = excluded.plugin_generation",
            params![
                replica.id,
                replica.address,
                replica.regent_version,
                replica.started_at.millis(),
                now,
                replica.applied_version,
                replica.applied_at.map(|t| t.millis()),
                replica.plugin_generation,
            ],
        )?;
        conn.execute(
            "DELETE FROM replicas WHERE heartbeat_ms < ?1",
            params![now - FORGET_AFTER_MS],
        )?;
        Ok(())
    }

    fn live_replicas(&self, live_within_ms: i64) -> Result<Vec<ReplicaRecord>, StorageError> {
        let since = Timestamp::now().millis() - live_within_ms;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, address, regent_version, started_ms, heartbeat_ms,
                    applied_version, applied_ms, plugin_generation
             FROM replicas WHERE heartbeat_ms >= ?1 ORDER BY started_ms, id",
        )?;
        let rows = stmt.query_map(params![since], |r| {
            Ok(ReplicaRecord {
                id: r.get(0)?,
                address: r.get(1)?,
                regent_version: r.get(2)?,
                started_at: Timestamp(r.get(3)?),
                heartbeat_at: Timestamp(r.get(4)?),
                applied_version: r.get(5)?,
                applied_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
                plugin_generation: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn retire_replica(&self, id: &str) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM replicas WHERE id = ?1", params![id])?;
        Ok(())
    }

    fn database_now(&self) -> Result<Timestamp, StorageError> {
        Ok(Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::domain::Timestamp;
    use crate::storage::prelude::*;
    use crate::storage::{ReplicaRecord, SqliteStore};

    #[test]
    fn the_one_replica_heartbeats_without_an_audit_entry_and_retires() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut me = ReplicaRecord {
            id: "host-1-ab".into(),
            address: "127.0.0.1:4007".into(),
            regent_version: "0.0.0-test".into(),
            started_at: Timestamp::now(),
            heartbeat_at: Timestamp(0),
            applied_version: 0,
            applied_at: None,
            plugin_generation: 1,
        };
        store.heartbeat(&me).unwrap();
        me.plugin_generation = 2;
        store.heartbeat(&me).unwrap();
        let live = store.live_replicas(10_000).unwrap();
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].plugin_generation, 2);
        assert!(live[0].heartbeat_at.millis() >= me.started_at.millis());
        assert!(store.audit_entries(10).unwrap().is_empty());

        std::thread::sleep(Duration::from_millis(30));
        assert!(store.live_replicas(10).unwrap().is_empty());
        store.retire_replica(&me.id).unwrap();
        assert!(store.live_replicas(10_000).unwrap().is_empty());
        let now = store.database_now().unwrap();
        assert!((now.millis() - Timestamp::now().millis()).abs() < 1_000);
    }
}
