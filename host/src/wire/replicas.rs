//! `GET /api/replicas`: the replicas sharing one store, what each decides
//! on, and who holds which lease on background work.

use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::service::replicas::ReplicasView;

// What `GET /api/replicas` answers. (No doc comment: it would become the
// schema's description.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicasReply {
    /// The replica that answered.
    pub this_replica: String,
    /// The newest change version committed to the store.
    pub newest_version: i64,
    /// A replica is live when its last heartbeat is at most this old.
    pub live_within_ms: u64,
    /// Every live replica, oldest start first.
    pub replicas: Vec<ReplicaStatus>,
    /// Every lease, held or expired.
    pub leases: Vec<LeaseStatus>,
}

// One live replica. (No doc comment: it would become the schema's
// description.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub id: String,
    /// Where it serves (`host:port`).
    pub address: String,
    /// The Regent version it runs.
    pub version: String,
    pub started_at: Timestamp,
    /// Its last heartbeat, by the store's clock.
    pub heartbeat_at: Timestamp,
    /// The change version of the control snapshot it decides on.
    pub applied_version: i64,
    /// When it applied that version, by its own clock.
    #[serde(deserialize_with = "super::nullable")]
    pub applied_at: Option<Timestamp>,
    /// How many change versions it is behind the newest.
    pub lag: i64,
    /// How many plugin-set swaps it has applied since it started.
    pub plugin_generation: i64,
    /// The leases it holds now.
    pub leases: Vec<String>,
}

// A lease on background work. (No doc comment: it would become the
// schema's description.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseStatus {
    pub name: String,
    pub holder: String,
    pub acquired_at: Timestamp,
    pub renewed_at: Timestamp,
    pub expires_at: Timestamp,
    /// Whether it is held now (not expired by the store's clock).
    pub held: bool,
}

impl From<ReplicasView> for ReplicasReply {
    fn from(v: ReplicasView) -> Self {
        let replicas = v
            .replicas
            .into_iter()
            .map(|r| ReplicaStatus {
                leases: v
                    .leases
                    .iter()
                    .filter(|l| l.holder == r.id && l.held_at(v.now))
                    .map(|l| l.name.clone())
                    .collect(),
                lag: (v.newest_version - r.applied_version).max(0),
                id: r.id,
                address: r.address,
                version: r.regent_version,
                started_at: r.started_at,
                heartbeat_at: r.heartbeat_at,
                applied_version: r.applied_version,
                applied_at: r.applied_at,
                plugin_generation: r.plugin_generation,
            })
            .collect();
        let leases = v
            .leases
            .iter()
            .map(|l| LeaseStatus {
                name: l.name.clone(),
                holder: l.holder.clone(),
                acquired_at: l.acquired_at,
                renewed_at: l.renewed_at,
                expires_at: l.expires_at,
                held: l.held_at(v.now),
            })
            .collect();
        Self {
            this_replica: v.this_replica,
            newest_version: v.newest_version,
            live_within_ms: v.live_within_ms,
            replicas,
            leases,
        }
    }
}
