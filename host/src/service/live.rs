//! The live control view the console's overview follows (`GET
//! /api/stream`): the phase, the emergency stop, paused workflows,
//! unresolved breaker events, the configured scopes and the control fault.
//!
//! One poller per process reads the view every [`POLL_EVERY`] while at
//! least one stream is open, and publishes it only when it changed; every
//! stream follows that one publication. So open streams cost the store one
//! read per poll whatever their number, and none when there are none. The
//! poller reads the store itself, not the control snapshot alone, so a stop
//! committed by another replica reaches this replica's streams within a
//! poll whether or not its notification has arrived.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::{ServiceError, ServiceResult};
use crate::domain::control::EmergencyStopStatus;
use crate::domain::scopes::Scope;
use crate::domain::{Phase, Timestamp};
use crate::storage::prelude::*;
use crate::storage::StorageError;

/// How often the view is read while a stream is open.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Streams open at once in one process, at most: each holds a connection
/// and a task; past this, a new one is refused with 503.
pub const MAX_STREAMS: usize = 256;

/// What the control plane looks like now, as `event: control` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlView {
    pub phase: Phase,
    /// `null` only when the store could not be read (see `fault`).
    pub phase_started_at: Option<Timestamp>,
    pub emergency_stop: LiveStop,
    /// Workflows paused by an operator.
    pub paused_workflows: u64,
    /// Agents whose own breaker is tripped.
    pub tripped_agents: u64,
    /// Command types paused by unresolved breaker events, sorted.
    pub paused_command_types: Vec<String>,
    /// `null` only when the store could not be read (see `fault`).
    pub unresolved_breaker_events: Option<u64>,
    /// Every configured scope with its grant and stop, by name; empty when
    /// the store could not be read (see `fault`).
    pub scopes: Vec<Scope>,
    /// Why every authorize call is denied regardless (the control state
    /// could not be read, or this replica's is stale); `null` when none.
    pub fault: Option<String>,
}

/// The emergency stop: `GET /api/emergency-stop`'s fields, and `at`, when
/// the current stop began (the same as `since`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveStop {
    #[serde(flatten)]
    pub status: EmergencyStopStatus,
    pub at: Option<Timestamp>,
}

impl From<EmergencyStopStatus> for LiveStop {
    fn from(status: EmergencyStopStatus) -> Self {
        Self {
            at: status.since,
            status,
        }
    }
}

/// What the client is told when the store cannot be read: the cause goes
/// to the log only, as for any fault of the server.
const UNREADABLE: &str =
    "cannot read the control state from the store; the server log has the details";

/// The latest view, published to every open stream.
type Latest = Option<Arc<ControlView>>;

pub struct LiveService {
    db: Arc<dyn Store>,
    latest: watch::Sender<Latest>,
    /// Whether the poller runs; changed only under this lock, together with
    /// the check of who is subscribed, so it never stops while a stream
    /// that just subscribed waits for it.
    polling: Mutex<bool>,
    streams: Arc<Semaphore>,
    /// Set at shutdown: every stream ends, so a graceful shutdown does not
    /// wait on streams that would never end by themselves.
    closing: watch::Sender<bool>,
    /// Whether the last read failed, so a failure is logged once.
    failing: AtomicBool,
}

/// One open stream's share of the feed: the view as published, the
/// shutdown signal, and its place under [`MAX_STREAMS`] until dropped.
pub struct LiveSubscription {
    pub updates: watch::Receiver<Latest>,
    pub closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl LiveService {
    pub fn new(db: Arc<dyn Store>) -> Self {
        Self::with_capacity(db, MAX_STREAMS)
    }

    pub fn with_capacity(db: Arc<dyn Store>, max_streams: usize) -> Self {
        Self {
            db,
            latest: watch::channel(None).0,
            polling: Mutex::new(false),
            streams: Arc::new(Semaphore::new(max_streams)),
            closing: watch::channel(false).0,
            failing: AtomicBool::new(false),
        }
    }

    /// The view now. Blocking: it reads the store. A store that cannot be
    /// read gives the snapshot's view with a fault, never an error: the
    /// overview must show that something is wrong, not go blank.
    pub fn view(&self) -> ControlView {
        let snapshot = self.db.control();
        let mut paused_command_types: Vec<String> =
            snapshot.paused_command_types.iter().cloned().collect();
        paused_command_types.sort();
        let read = || -> Result<_, StorageError> {
            Ok((
                self.db.state()?,
                self.db.emergency_stop_status()?,
                self.db.unresolved_event_count()?,
                self.db.scopes()?,
            ))
        };
        let (phase_started_at, emergency_stop, unresolved, scopes, fault) = match read() {
            Ok((state, stop, unresolved, scopes)) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the live control view reads the store again");
                }
                (
                    Some(state.phase_started_at),
                    LiveStop::from(stop),
                    Some(unresolved),
                    scopes,
                    snapshot.fault.clone(),
                )
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "cannot read the live control view from the store");
                }
                let stop = EmergencyStopStatus {
                    active: snapshot.emergency_stop,
                    since: None,
                    by: None,
                    reason: None,
                    last_activated_at: None,
                    last_resumed_at: None,
                };
                let fault = snapshot.fault.clone().unwrap_or_else(|| UNREADABLE.into());
                (None, LiveStop::from(stop), None, Vec::new(), Some(fault))
            }
        };
        ControlView {
            phase: snapshot.phase,
            phase_started_at,
            emergency_stop,
            paused_workflows: snapshot.paused_workflows.len() as u64,
            tripped_agents: snapshot.tripped_agents.len() as u64,
            paused_command_types,
            unresolved_breaker_events: unresolved,
            scopes,
            fault,
        }
    }

    /// Opens a stream's subscription, starting the poller if none runs.
    /// `Unavailable` past [`MAX_STREAMS`] open streams, or once the server
    /// is shutting down.
    pub fn subscribe(self: &Arc<Self>) -> ServiceResult<LiveSubscription> {
        if *self.closing.borrow() {
            return Err(ServiceError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        let permit = self.streams.clone().try_acquire_owned().map_err(|_| {
            ServiceError::Unavailable(format!(
                "{MAX_STREAMS} live streams are open on this server, the most it serves at once; close one (another console tab) or retry later"
            ))
        })?;
        // Subscribed before the poller is checked, so a poller about to
        // stop sees this subscriber and keeps going.
        let updates = self.latest.subscribe();
        let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
        if !*polling {
            *polling = true;
            tokio::spawn(poll(self.clone()));
        }
        Ok(LiveSubscription {
            updates,
            closing: self.closing.subscribe(),
            _permit: permit,
        })
    }

    /// Ends every open stream and refuses new ones: called at shutdown.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether the poller should stop: nobody listens, or the server is
    /// closing. Marks it stopped under the lock when so.
    fn idle(&self) -> bool {
        let mut polling = self.polling.lock().unwrap_or_else(|p| p.into_inner());
        if self.latest.receiver_count() == 0 || *self.closing.borrow() {
            *polling = false;
            return true;
        }
        false
    }
}

/// Reads the view every [`POLL_EVERY`] and publishes it when it changed,
/// until no stream listens.
async fn poll(service: Arc<LiveService>) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if service.idle() {
            return;
        }
        let reader = service.clone();
        match tokio::task::spawn_blocking(move || reader.view()).await {
            Ok(view) => {
                service.latest.send_if_modified(|latest| {
                    if latest.as_deref() == Some(&view) {
                        return false;
                    }
                    *latest = Some(Arc::new(view));
                    true
                });
            }
            Err(e) => tracing::error!(error = %e, "the live control view task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::Principal;
    use crate::storage::SqliteStore;

    fn store() -> Arc<dyn Store> {
        let db = SqliteStore::open_in_memory().unwrap();
        db.initialize(&[], None, Timestamp::now()).unwrap();
        Arc::new(db)
    }

    #[tokio::test]
    async fn a_stop_is_published_to_an_open_subscription_within_a_poll() {
        let db = store();
        let live = Arc::new(LiveService::new(db.clone()));
        let mut sub = live.subscribe().unwrap();
        // The first view is published at the first poll.
        tokio::time::timeout(Duration::from_secs(2), sub.updates.changed())
            .await
            .unwrap()
            .unwrap();
        let first = sub.updates.borrow_and_update().clone().unwrap();
        assert!(!first.emergency_stop.status.active);
        assert_eq!(first.unresolved_breaker_events, Some(0));

        let who = Principal::internal("ops");
        db.set_emergency_stop(true, &who.id, "brakes", Timestamp::now())
            .unwrap();
        tokio::time::timeout(Duration::from_secs(2), sub.updates.changed())
            .await
            .unwrap()
            .unwrap();
        let stopped = sub.updates.borrow_and_update().clone().unwrap();
        assert!(stopped.emergency_stop.status.active);
        assert_eq!(stopped.emergency_stop.status.by.as_deref(), Some("ops"));
        assert_eq!(
            stopped.emergency_stop.at,
            stopped.emergency_stop.status.since
        );
        assert!(stopped.emergency_stop.at.is_some());
    }

    #[tokio::test]
    async fn a_scope_revoked_is_published_with_who_and_why() {
        let db = store();
        let live = Arc::new(LiveService::new(db.clone()));
        let mut sub = live.subscribe().unwrap();
        tokio::time::timeout(Duration::from_secs(2), sub.updates.changed())
            .await
            .unwrap()
            .unwrap();
        assert!(sub
            .updates
            .borrow_and_update()
            .clone()
            .unwrap()
            .scopes
            .is_empty());
        db.set_scope_autonomy(
            "portal:carrier",
            false,
            "olga",
            "bad week",
            Timestamp::now(),
        )
        .unwrap();
        tokio::time::timeout(Duration::from_secs(2), sub.updates.changed())
            .await
            .unwrap()
            .unwrap();
        let view = sub.updates.borrow_and_update().clone().unwrap();
        assert_eq!(view.scopes.len(), 1);
        assert_eq!(view.scopes[0].scope, "portal:carrier");
        assert!(!view.scopes[0].autonomous);
        assert_eq!(view.scopes[0].autonomy_by.as_deref(), Some("olga"));
    }

    #[tokio::test]
    async fn streams_past_the_cap_are_refused_and_a_closed_one_frees_its_place() {
        let live = Arc::new(LiveService::with_capacity(store(), 2));
        let a = live.subscribe().unwrap();
        let _b = live.subscribe().unwrap();
        match live.subscribe() {
            Err(ServiceError::Unavailable(m)) => assert!(m.contains("live streams"), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a third stream was admitted"),
        }
        drop(a);
        let _c = live.subscribe().unwrap();
    }

    #[tokio::test]
    async fn closing_ends_every_stream_and_refuses_new_ones() {
        let live = Arc::new(LiveService::new(store()));
        let mut sub = live.subscribe().unwrap();
        live.close();
        tokio::time::timeout(Duration::from_secs(1), sub.closing.changed())
            .await
            .unwrap()
            .unwrap();
        assert!(*sub.closing.borrow());
        assert!(live.subscribe().is_err());
    }

    #[tokio::test]
    async fn the_poller_stops_when_the_last_stream_closes() {
        let live = Arc::new(LiveService::new(store()));
        drop(live.subscribe().unwrap());
        tokio::time::sleep(POLL_EVERY * 3).await;
        assert!(!*live.polling.lock().unwrap());
        // ...and starts again for the next one.
        let _sub = live.subscribe().unwrap();
        assert!(*live.polling.lock().unwrap());
    }
}
