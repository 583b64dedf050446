//! Replicas: heartbeats and liveness, on the database's clock.
//!
//! A heartbeat is not a unit of work: it appends no audit entry and does
//! not bump the change version, so it wakes no other replica. Liveness is
//! judged on the database's clock, so replicas whose own clocks disagree
//! still agree on who is alive.

use super::{pg, PostgresStore};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

// Times are the database's clock in milliseconds since the epoch:
// `clock_timestamp()` rather than `now()`, which is the start of the
// transaction.

/// A replica silent for this long is forgotten: its row says nothing an
/// operator needs any more.
const FORGET_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

impl ReplicaRepository for PostgresStore {
    /// The heartbeat time is the database's, whatever the record says.
    fn heartbeat(&self, replica: &ReplicaRecord) -> Result<(), StorageError> {
        self.read(async |c| {
            c.execute(
                "INSERT INTO replicas (id, address, regent_version, started_ms, heartbeat_ms,
                                           applied_version, applied_ms, plugin_generation)
                     VALUES ($1, $2, $3, $4, (extract(epoch from clock_timestamp()) * 1000)::bigint, $5, $6, $7)
                     ON CONFLICT (id) DO UPDATE SET
                        address = excluded.address,
                        regent_version = excluded.regent_version,
                        started_ms = excluded.started_ms,
                        heartbeat_ms = excluded.heartbeat_ms,
                        applied_version = excluded.applied_version,
                        applied_ms = excluded.applied_ms,
                        plugin_generation = excluded.plugin_generation",
                &[
                    &replica.id,
                    &replica.address,
                    &replica.regent_version,
                    &replica.started_at.millis(),
                    &replica.applied_version,
                    &replica.applied_at.map(|t| t.millis()),
                    &replica.plugin_generation,
                ],
            )
            .await
            .map_err(pg("record a heartbeat"))?;
            c.execute(
                "DELETE FROM replicas
                 WHERE heartbeat_ms < (extract(epoch from clock_timestamp()) * 1000)::bigint - $1",
                &[&FORGET_AFTER_MS],
            )
            .await
            .map_err(pg("forget long-silent replicas"))?;
            Ok(())
        })
    }

    fn live_replicas(&self, live_within_ms: i64) -> Result<Vec<ReplicaRecord>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT id, address, regent_version, started_ms, heartbeat_ms,
                            applied_version, applied_ms, plugin_generation
                     FROM replicas
                     WHERE heartbeat_ms >= (extract(epoch from clock_timestamp()) * 1000)::bigint - $1
                     ORDER BY started_ms, id",
                    &[&live_within_ms],
                )
                .await
                .map_err(pg("read the live replicas"))?;
            Ok(rows
                .iter()
                .map(|r| ReplicaRecord {
                    id: r.get(0),
                    address: r.get(1),
                    regent_version: r.get(2),
                    started_at: Timestamp(r.get(3)),
                    heartbeat_at: Timestamp(r.get(4)),
                    applied_version: r.get(5),
                    applied_at: r.get::<_, Option<i64>>(6).map(Timestamp),
                    plugin_generation: r.get(7),
                })
                .collect())
        })
    }

    fn retire_replica(&self, id: &str) -> Result<(), StorageError> {
        self.read(async |c| {
            c.execute("DELETE FROM replicas WHERE id = $1", &[&id])
                .await
                .map_err(pg("retire a replica"))?;
            Ok(())
        })
    }

    fn database_now(&self) -> Result<Timestamp, StorageError> {
        self.read(async |c| {
            let row = c
                .query_one(
                    "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint",
                    &[],
                )
                .await
                .map_err(pg("read the database's clock"))?;
            Ok(Timestamp(row.get(0)))
        })
    }
}

impl ChangeFeed for PostgresStore {
    fn applied_version(&self) -> i64 {
        self.control_version()
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        PostgresStore::subscribe(self)
    }

    fn newest_version(&self) -> Result<i64, StorageError> {
        self.read(async |c| {
            Ok(
                c.query_one("SELECT version FROM change_version WHERE id = 1", &[])
                    .await
                    .map_err(pg("read the change version"))?
                    .get(0),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::super::test_support::TestDatabase;
    use super::super::{PostgresOptions, PostgresStore};
    use crate::domain::Timestamp;
    use crate::storage::prelude::*;
    use crate::storage::{ChangeFeed, ReplicaRecord};

    fn connect(db: &TestDatabase, options: PostgresOptions) -> Arc<PostgresStore> {
        Arc::new(PostgresStore::connect(&db.url, options).expect("the test store connects"))
    }

    fn replica(id: &str, applied_version: i64) -> ReplicaRecord {
        ReplicaRecord {
            id: id.into(),
            address: "127.0.0.1:4007".into(),
            regent_version: "0.0.0-test".into(),
            started_at: Timestamp(1_000),
            // Not used: the database's clock decides.
            heartbeat_at: Timestamp(0),
            applied_version,
            applied_at: Some(Timestamp(2_000)),
            plugin_generation: 3,
        }
    }

    #[test]
    fn heartbeats_list_live_replicas_on_the_database_clock_and_wake_nobody() {
        let db = TestDatabase::create();
        let store = connect(&db, PostgresOptions::default());
        let before = store.newest_version().unwrap();
        let now = store.database_now().unwrap();
        assert!(
            (now.millis() - Timestamp::now().millis()).abs() < 5_000,
            "the database's clock is {now}"
        );

        store.heartbeat(&replica("a", 0)).unwrap();
        store.heartbeat(&replica("b", 0)).unwrap();
        store.heartbeat(&replica("a", 7)).unwrap();
        let live = store.live_replicas(10_000).unwrap();
        assert_eq!(live.len(), 2, "{live:?}");
        let a = live.iter().find(|r| r.id == "a").unwrap();
        assert_eq!(a.applied_version, 7, "refreshed, not duplicated");
        assert_eq!(a.applied_at, Some(Timestamp(2_000)));
        assert_eq!(a.plugin_generation, 3);
        assert!(a.heartbeat_at.millis() >= now.millis(), "{a:?}");
        assert_eq!(
            store.newest_version().unwrap(),
            before,
            "a heartbeat is not a change: it must not wake the other replicas"
        );
        assert_eq!(store.audit_entries(100).unwrap().len(), 0);

        std::thread::sleep(Duration::from_millis(30));
        assert!(
            store.live_replicas(10).unwrap().is_empty(),
            "a heartbeat older than the bound is not live"
        );
        store.retire_replica("a").unwrap();
        let live = store.live_replicas(10_000).unwrap();
        assert_eq!(
            live.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }

    /// A stop through one replica is in the other's control snapshot within
    /// the poll bound, notification or not.
    #[test]
    fn a_stop_on_one_replica_reaches_the_other() {
        let db = TestDatabase::create();
        let options = PostgresOptions {
            poll_every: Duration::from_millis(100),
            ..PostgresOptions::default()
        };
        let a = connect(&db, options.clone());
        // The state a first start writes, without needing its repository.
        a.read(async |c| {
            c.execute(
                "INSERT INTO governance_state (id, phase, phase_started_ms, whitelist)
                 VALUES (1, 'L3', 0, '[]')",
                &[],
            )
            .await
            .map_err(super::pg("seed the governance state"))
        })
        .unwrap();
        let b = connect(&db, options);
        a.follow_changes();
        b.follow_changes();
        let mut changes = ChangeFeed::subscribe(&*b);
        assert!(!b.control().emergency_stop);

        let started = Instant::now();
        a.set_emergency_stop(true, "oncall", "drill", Timestamp::now())
            .unwrap();
        assert!(a.control().emergency_stop, "the committing replica at once");
        while !b.control().emergency_stop {
            assert!(
                started.elapsed() < Duration::from_millis(100 + 500),
                "not seen within the poll bound"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(b.applied_version(), a.applied_version());
        assert_eq!(b.applied_version(), b.newest_version().unwrap());
        assert!(
            changes.has_changed().unwrap(),
            "subscribers are woken by the applied change"
        );
        assert_eq!(*changes.borrow_and_update(), b.applied_version());
    }

    /// A snapshot not confirmed within `stale_after` is a fault that denies
    /// everything, with the reason; confirming it again lifts the fault.
    #[test]
    fn a_snapshot_older_than_the_bound_fails_closed() {
        let db = TestDatabase::create();
        // Nothing follows: the snapshot is confirmed only at connect.
        let store = connect(
            &db,
            PostgresOptions {
                stale_after: Duration::from_millis(50),
                poll_every: Duration::from_millis(10),
                ..PostgresOptions::default()
            },
        );
        assert_eq!(store.control().fault, None);
        std::thread::sleep(Duration::from_millis(80));
        let fault = store.control().fault.clone().expect("a stale snapshot");
        assert!(
            fault.contains("last confirmed") && fault.contains("bound 50 ms"),
            "{fault}"
        );
        assert!(store.check_writable().is_err(), "/ready's check fails too");
        store.refresh_control().unwrap();
        assert_eq!(store.control().fault, None);
    }
}
