//! The replicas sharing one database: who is alive, and what each has
//! applied. A single SQLite process is a fleet of one.

use crate::domain::Timestamp;
use crate::storage::StorageError;

/// One replica as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRecord {
    /// Unique per process: chosen at start.
    pub id: String,
    /// Where it serves (`host:port`), for an operator to find it.
    pub address: String,
    pub regent_version: String,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    /// The change version of the control snapshot it decides on.
    pub applied_version: i64,
    /// When it applied that version.
    pub applied_at: Option<Timestamp>,
    /// How many plugin-set changes it has applied since it started.
    pub plugin_generation: i64,
}

pub trait ReplicaRepository: Send + Sync {
    /// Inserts or refreshes this replica's row.
    fn heartbeat(&self, replica: &ReplicaRecord) -> Result<(), StorageError>;

    /// Every replica whose heartbeat is at most `live_within_ms` old, by
    /// the database's clock, oldest start first.
    fn live_replicas(&self, live_within_ms: i64) -> Result<Vec<ReplicaRecord>, StorageError>;

    /// Removes this replica's row at a clean shutdown.
    fn retire_replica(&self, id: &str) -> Result<(), StorageError>;

    /// The database's clock, in milliseconds since the epoch: leases and
    /// liveness are judged on one clock, not on each replica's own.
    fn database_now(&self) -> Result<Timestamp, StorageError>;
}

/// How this process follows the changes other processes commit to a shared
/// store: the change version of the control snapshot it has applied, and a
/// wake-up at each newly applied one. Only a store shared by replicas has
/// one (PostgreSQL); a SQLite file has a single writer, this process.
pub trait ChangeFeed: Send + Sync {
    /// The change version of the control snapshot this process decides on.
    fn applied_version(&self) -> i64;

    /// Changes each time a newer version is applied (several in a burst
    /// may show as one).
    fn subscribe(&self) -> tokio::sync::watch::Receiver<i64>;

    /// The newest version committed, read from the database: a replica
    /// whose applied version is lower lags behind it.
    fn newest_version(&self) -> Result<i64, StorageError>;
}
