//! The replicas sharing one store: this one's heartbeat, following the
//! changes the others commit, who is alive, and who has applied a stop.
//!
//! - **Heartbeat.** Every `[cluster] heartbeat_ms`, and at once whenever
//!   the applied control version moves (so a stop's confirmation does not
//!   wait for the next tick), this replica records the control version it
//!   decides on, when it applied it, and its plugin generation. Not a unit
//!   of work: no audit entry, no change version, so it wakes nobody.
//! - **Following.** The control snapshot follows the store by itself
//!   ([`ChangeFeed`]). What services keep in memory follows here, once per
//!   burst of changes (a change arriving while one is applied is taken
//!   with the next pass): the token cache is forgotten, the fleet reread,
//!   and the plugin set swapped to the store's active versions.
//! - **Confirmation.** After a stop or a resume commits, the replica that
//!   took it waits (bounded by `[cluster] stop_confirm_ms`) for every live
//!   replica to report a control version at least as new, and names those
//!   that did not.
//!
//! On SQLite there is one replica and no feed: the heartbeat still runs
//! (so `GET /api/replicas` shows it), and a stop is confirmed at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::registry::{Followed, PluginRegistry};
use super::{AccessService, FleetService, ServiceResult};
use crate::config::ClusterSettings;
use crate::domain::Timestamp;
use crate::runtime::ActivePlugins;
use crate::storage::prelude::*;
use crate::storage::{ChangeFeed, Lease, ReplicaRecord, StorageError};

/// How often a stop's confirmation rereads the live replicas.
const CONFIRM_POLL: Duration = Duration::from_millis(10);

/// The longest a failed follow waits before it is tried again without a
/// new change to wake it.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// This process as the other replicas and operators see it.
#[derive(Debug, Clone)]
pub struct ReplicaIdentity {
    pub id: String,
    /// Where it serves (`host:port`).
    pub address: String,
    pub regent_version: String,
    pub started_at: Timestamp,
}

impl ReplicaIdentity {
    /// This process, serving at `address`.
    pub fn this_process(address: String) -> Self {
        Self {
            id: crate::replica::replica_id().to_string(),
            address,
            regent_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Timestamp::now(),
        }
    }
}

/// The `[cluster]` bounds the service keeps to.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaBounds {
    pub heartbeat: Duration,
    pub live_within: Duration,
    pub stop_confirm: Duration,
}

impl From<&ClusterSettings> for ReplicaBounds {
    fn from(c: &ClusterSettings) -> Self {
        Self {
            heartbeat: Duration::from_millis(c.heartbeat_ms),
            live_within: Duration::from_millis(c.live_within_ms),
            stop_confirm: Duration::from_millis(c.stop_confirm_ms),
        }
    }
}

/// What the service needs besides the store: built in `startup.rs`.
pub struct ReplicaDeps {
    pub identity: ReplicaIdentity,
    pub bounds: ReplicaBounds,
    /// How the control snapshot follows the other replicas; `None` when
    /// this process is the only one (SQLite).
    pub feed: Option<Arc<dyn ChangeFeed>>,
}

/// The replicas as `GET /api/replicas` shows them.
#[derive(Debug, Clone)]
pub struct ReplicasView {
    pub this_replica: String,
    /// The newest change version committed: a replica behind it lags.
    pub newest_version: i64,
    pub live_within_ms: u64,
    /// The database's clock when read: leases expire by it.
    pub now: Timestamp,
    pub replicas: Vec<ReplicaRecord>,
    pub leases: Vec<Lease>,
}

/// Whether one live replica applied a change, and how long after its
/// commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub id: String,
    pub address: String,
    pub confirmed: bool,
    /// From the commit returning here to the replica applying it, by the
    /// two replicas' clocks; `None` while unconfirmed.
    pub delay_ms: Option<u64>,
}

/// The live replicas' confirmations of a stop or a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmations {
    pub replicas: Vec<Confirmation>,
    /// Why the live replicas could not be read, if they could not: those
    /// listed are then the last known (this one at least).
    pub error: Option<String>,
}

/// The control version this replica decides on, and when it applied it.
#[derive(Debug, Clone, Copy)]
struct Applied {
    version: i64,
    at: Timestamp,
}

pub struct ReplicaService {
    db: Arc<dyn Store>,
    feed: Option<Arc<dyn ChangeFeed>>,
    identity: ReplicaIdentity,
    bounds: ReplicaBounds,
    plugins: Arc<ActivePlugins>,
    access: Arc<AccessService>,
    fleet: Arc<FleetService>,
    registry: Arc<PluginRegistry>,
    applied: Mutex<Applied>,
    /// Set at a clean shutdown: no heartbeat may bring the row back.
    retired: AtomicBool,
    /// Whether the last heartbeat failed, so a failure is logged once
    /// rather than at every tick.
    failing: AtomicBool,
}

impl ReplicaService {
    pub(crate) fn new(
        db: Arc<dyn Store>,
        deps: ReplicaDeps,
        plugins: Arc<ActivePlugins>,
        access: Arc<AccessService>,
        fleet: Arc<FleetService>,
        registry: Arc<PluginRegistry>,
    ) -> Self {
        let ReplicaDeps {
            identity,
            bounds,
            feed,
        } = deps;
        let applied = Applied {
            version: feed.as_ref().map_or(0, |f| f.applied_version()),
            at: identity.started_at,
        };
        Self {
            db,
            feed,
            identity,
            bounds,
            plugins,
            access,
            fleet,
            registry,
            applied: Mutex::new(applied),
            retired: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        }
    }

    pub fn id(&self) -> &str {
        &self.identity.id
    }

    /// The control version applied now, noting when it moved.
    fn applied(&self) -> Applied {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = &self.feed {
            let version = feed.applied_version();
            if version != applied.version {
                *applied = Applied {
                    version,
                    at: Timestamp::now(),
                };
            }
        }
        *applied
    }

    fn record(&self) -> ReplicaRecord {
        let applied = self.applied();
        ReplicaRecord {
            id: self.identity.id.clone(),
            address: self.identity.address.clone(),
            regent_version: self.identity.regent_version.clone(),
            started_at: self.identity.started_at,
            heartbeat_at: Timestamp::now(),
            applied_version: applied.version,
            applied_at: Some(applied.at),
            plugin_generation: i64::try_from(self.plugins.current().generation())
                .unwrap_or(i64::MAX),
        }
    }

    /// Records this replica's heartbeat now. Blocking.
    pub fn heartbeat(&self) -> Result<(), StorageError> {
        if self.retired.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.db.heartbeat(&self.record())
    }

    /// Removes this replica's row at a clean shutdown, and stops the
    /// heartbeat from bringing it back. Blocking.
    pub fn retire(&self) -> Result<(), StorageError> {
        self.retired.store(true, Ordering::SeqCst);
        self.db.retire_replica(&self.identity.id)
    }

    /// Starts the heartbeat, and (with a feed) the following of other
    /// replicas' changes, on the current tokio runtime.
    pub fn spawn(self: &Arc<Self>) {
        tokio::spawn(heartbeats(self.clone()));
        if let Some(feed) = &self.feed {
            tokio::spawn(follow(self.clone(), feed.subscribe()));
        }
    }

    /// Brings what services keep in memory up to the store after another
    /// replica's change. Returns whether everything is current. Blocking.
    pub fn follow_changes(&self) -> bool {
        // First and unconditionally: a revoked token must not outlive the
        // change that revoked it, whatever else fails below.
        self.access.forget_cached_tokens();
        let mut current = true;
        if let Err(e) = self.fleet.reload() {
            tracing::warn!(error = %e, "cannot reread the fleet after another replica's change");
            current = false;
        }
        match self.registry.follow_store() {
            Ok(Followed::Unchanged | Followed::Swapped { .. }) => {}
            Ok(Followed::Behind(problems)) => {
                tracing::warn!(?problems, "the plugin set cannot follow the store yet");
                current = false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the store's active plugin versions");
                current = false;
            }
        }
        current
    }

    /// Every live replica, what it applied and how far it lags, and the
    /// leases on background work.
    pub fn live(&self) -> ServiceResult<ReplicasView> {
        let newest_version = match &self.feed {
            Some(feed) => feed.newest_version()?,
            None => self.applied().version,
        };
        let replicas = self.db.live_replicas(self.live_within_ms())?;
        let leases = self.db.leases()?;
        Ok(ReplicasView {
            this_replica: self.identity.id.clone(),
            newest_version,
            live_within_ms: self.bounds.live_within.as_millis() as u64,
            now: self.db.database_now()?,
            replicas,
            leases,
        })
    }

    fn live_within_ms(&self) -> i64 {
        i64::try_from(self.bounds.live_within.as_millis()).unwrap_or(i64::MAX)
    }

    /// Waits, up to `[cluster] stop_confirm_ms`, for every live replica to
    /// apply what this one committed just before `committed_at`, and says
    /// which did and how long each took. Blocking.
    pub fn confirm_applied(&self, committed_at: Timestamp) -> Confirmations {
        let this = |applied: Applied| Confirmation {
            id: self.identity.id.clone(),
            address: self.identity.address.clone(),
            confirmed: true,
            delay_ms: Some(delay(committed_at, applied.at)),
        };
        let Some(feed) = &self.feed else {
            // One process: the commit republished its snapshot before
            // returning, so it is applied.
            return Confirmations {
                replicas: vec![this(self.applied())],
                error: None,
            };
        };
        // At least the commit's version: the newest in the database, which
        // no replica can have applied before the commit.
        let target = match feed.newest_version() {
            Ok(newest) => newest.max(feed.applied_version()),
            Err(e) => {
                return Confirmations {
                    replicas: vec![this(self.applied())],
                    error: Some(format!("cannot read the newest change version: {e}")),
                }
            }
        };
        let deadline = Instant::now() + self.bounds.stop_confirm;
        let mut known: Vec<ReplicaRecord> = Vec::new();
        loop {
            let last_error = match self.db.live_replicas(self.live_within_ms()) {
                Ok(live) => {
                    known = live;
                    None
                }
                Err(e) => Some(format!("cannot read the live replicas: {e}")),
            };
            let applied = self.applied();
            let mut replicas: Vec<Confirmation> = known
                .iter()
                .filter(|r| r.id != self.identity.id)
                .map(|r| {
                    let confirmed = r.applied_version >= target;
                    Confirmation {
                        id: r.id.clone(),
                        address: r.address.clone(),
                        confirmed,
                        delay_ms: r
                            .applied_at
                            .filter(|_| confirmed)
                            .map(|at| delay(committed_at, at)),
                    }
                })
                .collect();
            // This replica by what it holds, not by its last heartbeat.
            let mine = Confirmation {
                confirmed: applied.version >= target,
                delay_ms: (applied.version >= target).then(|| delay(committed_at, applied.at)),
                ..this(applied)
            };
            replicas.insert(0, mine);
            let all = last_error.is_none() && replicas.iter().all(|r| r.confirmed);
            if all || Instant::now() >= deadline {
                return Confirmations {
                    replicas,
                    error: last_error,
                };
            }
            std::thread::sleep(CONFIRM_POLL);
        }
    }
}

fn delay(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.millis() - from.millis()).unwrap_or(0)
}

/// Records the heartbeat every `heartbeat` and whenever the applied
/// version moves; ends at retirement.
async fn heartbeats(service: Arc<ReplicaService>) {
    let mut changes = service.feed.as_ref().map(|f| f.subscribe());
    let mut tick = tokio::time::interval(service.bounds.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let gone = match changes.as_mut() {
            Some(rx) => {
                tokio::select! {
                    _ = tick.tick() => false,
                    changed = rx.changed() => changed.is_err(),
                }
            }
            None => {
                tick.tick().await;
                false
            }
        };
        if gone {
            // The store is gone: ticks alone from now on.
            changes = None;
        }
        if service.retired.load(Ordering::SeqCst) {
            return;
        }
        let beat = service.clone();
        let outcome = tokio::task::spawn_blocking(move || beat.heartbeat()).await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("the heartbeat task failed: {e}")),
        };
        match failure {
            None => {
                if service.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(replica = %service.identity.id, "heartbeats recorded again");
                }
            }
            Some(error) => {
                if !service.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(replica = %service.identity.id, %error, "cannot record this replica's heartbeat: the others will count it as dead");
                }
            }
        }
    }
}

/// Follows other replicas' changes: one pass per burst, and after a pass
/// that left something behind, again after a growing wait even without a
/// new change.
async fn follow(service: Arc<ReplicaService>, mut changes: tokio::sync::watch::Receiver<i64>) {
    let mut retry: Option<Duration> = None;
    loop {
        let woke = match retry {
            Some(wait) => tokio::time::timeout(wait, changes.changed())
                .await
                .unwrap_or(Ok(())),
            None => changes.changed().await,
        };
        if woke.is_err() {
            return;
        }
        let pass = service.clone();
        let current = tokio::task::spawn_blocking(move || pass.follow_changes())
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "following another replica's change failed");
                false
            });
        retry = if current {
            None
        } else {
            let base = service.bounds.heartbeat;
            Some(retry.map_or(base, |wait| (wait * 2).min(MAX_RETRY)))
        };
    }
}
