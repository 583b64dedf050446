//! Delivers auto-actions and escalations to the configured webhook.
//!
//! An action is stored (as `pending`) in the transaction that creates it,
//! before anything is sent, so a slow or dead receiver never blocks or
//! loses the event. A background task POSTs each action's payload with a
//! timeout, retries with exponential backoff, and records every attempt;
//! actions still pending at start (a crash mid-delivery) are sent again.
//!
//! Transport: HTTPS with rustls and the system's roots (or `ca_file`'s),
//! redirects never followed, so a receiver cannot bounce the payload to a
//! host nobody configured. With a secret, each request carries
//! `Regent-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
//! Waiting actions are held in a bounded queue: when it is full the oldest
//! is recorded as `dropped`, never lost silently.
//!
//! Replicas sharing one store deliver each action once: a sender claims an
//! action in the store ([`EventRepository::claim_action`]) before each
//! attempt and skips it when another holds it, and every few seconds it
//! claims the pending actions nobody holds
//! ([`EventRepository::claim_pending_actions`]): those left by a replica
//! that died mid-delivery, once its claim lapses.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::config::WebhookSettings;
use crate::domain::events::{ActionRecord, DeliveryStatus};
use crate::domain::Timestamp;
use crate::storage::prelude::*;
use crate::storage::StorageError;
use crate::tls::TlsError;

/// The header carrying the payload's signature.
pub const SIGNATURE_HEADER: &str = "regent-signature";
/// A shorter secret could be guessed offline from one signed payload.
pub const MIN_SECRET_BYTES: usize = 16;

/// The HMAC key; never printed.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook url `{url}` is not a URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("webhook url `{0}` must use https:// (plain http:// only to a loopback receiver)")]
    Insecure(String),
    #[error("webhook `{0}` must be at least 1")]
    Zero(&'static str),
    #[error("the webhook secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("webhook TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot build the webhook client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the webhook's waiting actions: {0}")]
    Storage(#[from] StorageError),
}

/// Why one delivery attempt failed; recorded as the action's `lastError`.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("the webhook answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the webhook answered {status} to {location}; redirects are not followed")]
    Redirect {
        status: reqwest::StatusCode,
        location: String,
    },
    #[error("the webhook did not answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach the webhook: {0}")]
    Unreachable(String),
    #[error("cannot encode the payload: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Checks `[webhook]`: the url's scheme, the numbers, the secret's length.
pub fn check_settings(settings: &WebhookSettings) -> Result<(), WebhookError> {
    if let Some(url) = &settings.url {
        target(url)?;
    }
    for (name, value) in [
        ("attempts", u64::from(settings.attempts)),
        ("timeout_ms", settings.timeout_ms),
        ("queue_capacity", settings.queue_capacity as u64),
    ] {
        if value == 0 {
            return Err(WebhookError::Zero(name));
        }
    }
    if let Some(secret) = &settings.secret {
        if secret.0.len() < MIN_SECRET_BYTES {
            return Err(WebhookError::ShortSecret);
        }
    }
    Ok(())
}

/// Plain HTTP is allowed only where it never crosses a network: to a
/// relay on this machine.
fn target(url: &str) -> Result<reqwest::Url, WebhookError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| WebhookError::BadUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(WebhookError::Insecure(url.into())),
    }
}

/// How often a sender claims the pending actions nobody holds.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long an action claimed by a sweep stays this sender's while it
/// waits in the queue; past it, another replica may take it.
const QUEUED_CLAIM_MS: u64 = 60_000;
/// Slack on every claim, for replicas' clocks that differ a little and a
/// slow round trip to the store.
const CLAIM_MARGIN_MS: u64 = 5_000;

/// Actions waiting for the sender, oldest first, at most `capacity`, and
/// the one being delivered.
struct Queue {
    waiting: Mutex<Waiting>,
    arrived: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Waiting {
    actions: VecDeque<ActionRecord>,
    /// The ids in `actions` and the one in delivery: an action a sweep
    /// claims again while it is already here is not queued twice.
    ids: HashSet<i64>,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Self {
            waiting: Mutex::new(Waiting::default()),
            arrived: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `action` last, unless it is already here; returns the oldest
    /// waiting one if it had to make room.
    fn push(&self, action: ActionRecord) -> Option<ActionRecord> {
        let pushed_out = {
            let mut waiting = self.lock();
            if !waiting.ids.insert(action.id) {
                return None;
            }
            let oldest = (waiting.actions.len() >= self.capacity)
                .then(|| waiting.actions.pop_front())
                .flatten();
            if let Some(oldest) = &oldest {
                waiting.ids.remove(&oldest.id);
            }
            waiting.actions.push_back(action);
            oldest
        };
        self.arrived.notify_one();
        pushed_out
    }

    /// The oldest waiting action; its id stays known until [`Self::done`].
    fn pop(&self) -> Option<ActionRecord> {
        self.lock().actions.pop_front()
    }

    fn done(&self, id: i64) {
        self.lock().ids.remove(&id);
    }

    /// How many more actions fit.
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.lock().actions.len())
    }

    async fn next(&self) -> ActionRecord {
        loop {
            if let Some(action) = self.pop() {
                return action;
            }
            // `notify_one` keeps a permit when nobody waits, so an action
            // pushed between `pop` and here is not missed.
            self.arrived.notified().await;
        }
    }
}

struct Sender {
    queue: Queue,
    db: Arc<dyn Store>,
    /// Who claims: this replica.
    holder: String,
}

impl Sender {
    /// Claims pending actions nobody holds, as many as the queue has room
    /// for, and queues them.
    async fn sweep(&self) {
        let room = u32::try_from(self.queue.room()).unwrap_or(u32::MAX);
        if room == 0 {
            return;
        }
        let db = self.db.clone();
        let holder = self.holder.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            db.claim_pending_actions(&holder, room, QUEUED_CLAIM_MS, Timestamp::now())
        })
        .await;
        match claimed {
            Ok(Ok(actions)) => {
                if !actions.is_empty() {
                    tracing::info!(
                        claimed = actions.len(),
                        "claimed pending webhook actions nobody held"
                    );
                }
                for action in actions {
                    self.queue.push(action);
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot claim pending webhook actions; trying again later")
            }
            Err(error) => tracing::error!(%error, "the webhook claim sweep failed"),
        }
    }

    /// Claims (or renews) `id` for `ttl_ms` before an attempt. `false`:
    /// another replica holds it, it is settled, or the store cannot say;
    /// either way this sender must not send it now.
    async fn claim(&self, id: i64, ttl_ms: u64) -> bool {
        let db = self.db.clone();
        let holder = self.holder.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            db.claim_action(id, &holder, ttl_ms, Timestamp::now())
        })
        .await;
        match claimed {
            Ok(Ok(mine)) => mine,
            Ok(Err(error)) => {
                // Still pending in the store: a sweep takes it again once
                // the claim lapses.
                tracing::warn!(action = id, %error, "cannot claim a webhook action; it waits for a later sweep");
                false
            }
            Err(error) => {
                tracing::error!(action = id, %error, "claiming a webhook action failed");
                false
            }
        }
    }

    fn dropped_reason(&self) -> String {
        format!(
            "dropped: {} newer actions were waiting for the webhook (queue_capacity)",
            self.queue.capacity
        )
    }
}

#[derive(Clone)]
pub struct Notifier {
    sender: Option<Arc<Sender>>,
}

impl Notifier {
    /// No webhook: actions are recorded as `not_configured`.
    pub fn disabled() -> Self {
        Self { sender: None }
    }

    /// Checks the settings, builds the client, queues the actions a
    /// previous run left pending, and starts the sender on the current
    /// tokio runtime.
    pub fn start(settings: WebhookSettings, db: Arc<dyn Store>) -> Result<Self, WebhookError> {
        Self::start_as(
            settings,
            db,
            crate::replica::replica_id().to_string(),
            SWEEP_EVERY,
        )
    }

    /// [`Self::start`], claiming as `holder`, sweeping every `sweep_every`.
    fn start_as(
        settings: WebhookSettings,
        db: Arc<dyn Store>,
        holder: String,
        sweep_every: Duration,
    ) -> Result<Self, WebhookError> {
        check_settings(&settings)?;
        let Some(url) = settings.url.as_deref() else {
            return Ok(Self::disabled());
        };
        let url = target(url)?;
        let mut client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none());
        if url.scheme() == "https" {
            client = client
                .use_preconfigured_tls(crate::tls::client_config(settings.ca_file.as_deref())?);
        }
        let client = client.build().map_err(WebhookError::Client)?;
        let signer = settings
            .secret
            .as_ref()
            .map(|s| Hmac::<Sha256>::new_from_slice(s.0.as_bytes()))
            .transpose()
            .map_err(|_| WebhookError::ShortSecret)?;
        let sender = Arc::new(Sender {
            queue: Queue::new(settings.queue_capacity),
            db,
            holder,
        });
        // Read before the server takes requests, so a new action is never
        // queued twice; more than the queue holds are dropped, oldest first.
        let reason = sender.dropped_reason();
        let dropped = sender
            .db
            .drop_pending_beyond(settings.queue_capacity, &reason)?;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "undelivered webhook actions from before the start recorded as dropped"
            );
        }
        // Only what this replica claims: another replica's actions stay
        // with it, and a dead one's are taken once their claims lapse.
        let room = u32::try_from(sender.queue.room()).unwrap_or(u32::MAX);
        for action in sender.db.claim_pending_actions(
            &sender.holder,
            room,
            QUEUED_CLAIM_MS,
            Timestamp::now(),
        )? {
            sender.queue.push(action);
        }
        let delivery = Delivery {
            client,
            url,
            settings,
            signer,
        };
        let worker = sender.clone();
        tokio::spawn(async move {
            loop {
                let action = worker.queue.next().await;
                delivery.deliver(&worker, &action).await;
                worker.queue.done(action.id);
            }
        });
        let sweeper = sender.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(sweep_every).await;
                sweeper.sweep().await;
            }
        });
        Ok(Self {
            sender: Some(sender),
        })
    }

    /// What a new action's delivery starts as.
    pub fn initial_status(&self) -> DeliveryStatus {
        if self.sender.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::NotConfigured
        }
    }

    /// Queues a stored action; never blocks on the receiver. When the
    /// queue is full the oldest waiting action is recorded as `dropped`.
    pub fn send(&self, action: ActionRecord) {
        let Some(sender) = &self.sender else {
            return;
        };
        let Some(oldest) = sender.queue.push(action) else {
            return;
        };
        let reason = sender.dropped_reason();
        tracing::warn!(action = oldest.id, "{reason}");
        if let Err(error) = sender.db.mark_dropped(oldest.id, &reason) {
            tracing::error!(action = oldest.id, %error, "cannot record a dropped webhook action; it stays pending and is sent again at the next start");
        }
    }
}

struct Delivery {
    client: reqwest::Client,
    url: reqwest::Url,
    settings: WebhookSettings,
    signer: Option<Hmac<Sha256>>,
}

impl Delivery {
    /// The pause after failed attempt `attempt`.
    fn backoff_ms(&self, attempt: u32) -> u64 {
        self.settings
            .backoff_ms
            .saturating_mul(1 << (attempt - 1).min(10))
    }

    async fn deliver(&self, sender: &Sender, action: &ActionRecord) {
        let db = &sender.db;
        let attempts = self.settings.attempts;
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            // Held through this attempt and the pause after it, so nobody
            // else sends it meanwhile; renewed before the next.
            let hold_ms = self
                .settings
                .timeout_ms
                .saturating_add(if last { 0 } else { self.backoff_ms(attempt) })
                .saturating_add(CLAIM_MARGIN_MS);
            if !sender.claim(action.id, hold_ms).await {
                if attempt > 1 {
                    tracing::warn!(
                        action = action.id,
                        attempt,
                        "no longer holds a webhook action between attempts; leaving it to its holder"
                    );
                }
                return;
            }
            let outcome = self.attempt(action).await;
            let (status, error) = match &outcome {
                Ok(()) => (DeliveryStatus::Delivered, None),
                Err(e) if last => (DeliveryStatus::Failed, Some(e.to_string())),
                Err(e) => (DeliveryStatus::Pending, Some(e.to_string())),
            };
            let db = db.clone();
            let id = action.id;
            let recorded = tokio::task::spawn_blocking(move || {
                db.record_delivery(id, status, error.as_deref(), Timestamp::now())
            })
            .await;
            if !matches!(recorded, Ok(Ok(()))) {
                tracing::error!(action = id, "cannot record a webhook delivery attempt");
            }
            match outcome {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(action = id, attempt, error = %e, "webhook delivery failed");
                    if !last {
                        tokio::time::sleep(Duration::from_millis(self.backoff_ms(attempt))).await;
                    }
                }
            }
        }
    }

    async fn attempt(&self, action: &ActionRecord) -> Result<(), DeliveryError> {
        // The exact bytes sent are the bytes signed.
        let body = serde_json::to_vec(&serde_json::json!({
            "id": action.id,
            "kind": action.kind,
            "action": action.action,
            "payload": action.payload,
        }))?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-regent-action-id", action.id.to_string());
        if let Some(signer) = &self.signer {
            // Signed per attempt: a retry carries a fresh timestamp, so a
            // receiver's replay window never rejects it.
            let now = Timestamp::now().millis().div_euclid(1000);
            request = request.header(SIGNATURE_HEADER, signature(signer.clone(), now, &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                DeliveryError::Timeout(self.settings.timeout_ms)
            } else {
                DeliveryError::Unreachable(with_causes(&e))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or("an unnamed location")
                .to_string();
            Err(DeliveryError::Redirect { status, location })
        } else {
            Err(DeliveryError::Status(status))
        }
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe does:
/// the timestamp is signed with the body, so it cannot be swapped for a
/// fresher one when replaying.
fn signature(mut mac: Hmac<Sha256>, unix_seconds: i64, body: &[u8]) -> String {
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// reqwest's own message hides why a connection failed (a refused
/// certificate, a reset); the sources say.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: i64) -> ActionRecord {
        ActionRecord {
            id,
            kind: "auto_action".into(),
            action: "notify_admin".into(),
            event_id: None,
            agent_id: None,
            payload: serde_json::json!({}),
            created_at: Timestamp(0),
            delivery: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
            delivered_at: None,
        }
    }

    #[test]
    fn a_full_queue_pushes_out_its_oldest_waiting_action() {
        let q = Queue::new(2);
        assert!(q.push(action(1)).is_none());
        assert!(q.push(action(2)).is_none());
        assert_eq!(q.push(action(3)).map(|a| a.id), Some(1));
        assert_eq!(q.push(action(4)).map(|a| a.id), Some(2));
        let left: Vec<i64> = std::iter::from_fn(|| q.pop()).map(|a| a.id).collect();
        assert_eq!(left, [3, 4]);
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        let signed = signature(mac.clone(), 1_700_000_000, br#"{"id":1}"#);
        // Computed independently, with Python's hmac module.
        assert_eq!(
            signed,
            "t=1700000000,v1=4bcaced68dfea90a68df035b89cb7fb26692d899d32a1ccb1b0616cf48e4d1ed"
        );
        assert_ne!(
            signed,
            signature(mac.clone(), 1_700_000_001, br#"{"id":1}"#)
        );
        assert_ne!(signed, signature(mac, 1_700_000_000, br#"{"id":2}"#));
    }

    #[test]
    fn settings_refuse_plain_http_beyond_loopback_short_secrets_and_zeros() {
        let with_url = |url: &str| WebhookSettings {
            url: Some(url.into()),
            ..Default::default()
        };
        for ok in [
            "https://hooks.example.com/regent",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://localhost:9000/hook",
        ] {
            check_settings(&with_url(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for insecure in [
            "http://10.0.0.5/hook",
            "http://hooks.example.com/",
            "ftp://x/",
        ] {
            let err = check_settings(&with_url(insecure)).unwrap_err();
            assert!(
                matches!(err, WebhookError::Insecure(_)),
                "{insecure}: {err}"
            );
        }
        assert!(matches!(
            check_settings(&with_url("not a url")),
            Err(WebhookError::BadUrl { .. })
        ));
        let short = WebhookSettings {
            secret: Some(WebhookSecret::new("short")),
            ..Default::default()
        };
        assert!(matches!(
            check_settings(&short),
            Err(WebhookError::ShortSecret)
        ));
        let unbounded = WebhookSettings {
            queue_capacity: 0,
            ..Default::default()
        };
        assert_eq!(
            check_settings(&unbounded).unwrap_err().to_string(),
            "webhook `queue_capacity` must be at least 1"
        );
        assert_eq!(
            format!("{:?}", WebhookSecret::new("0123456789abcdef")),
            "WebhookSecret(<redacted>)"
        );
    }

    #[tokio::test]
    async fn at_start_only_the_newest_pending_actions_fit_in_the_queue() {
        let db: Arc<dyn Store> = Arc::new(crate::storage::SqliteStore::open_in_memory().unwrap());
        let event = crate::domain::events::NewEvent {
            engine: "qa".into(),
            event_type: "x".into(),
            severity: crate::domain::Severity::Critical,
            details: None,
            occurred_at: None,
        };
        for _ in 0..5 {
            db.insert_event(
                &event,
                "test",
                Some(("notify_admin", DeliveryStatus::Pending)),
                Timestamp::now(),
            )
            .unwrap();
        }
        let settings = WebhookSettings {
            // Nothing listens on the discard port; what is sent fails.
            url: Some("http://127.0.0.1:9/hook".into()),
            queue_capacity: 2,
            attempts: 1,
            ..Default::default()
        };
        Notifier::start(settings, db.clone()).unwrap();
        let mut actions = db.actions(10).unwrap();
        actions.sort_by_key(|a| a.id);
        let dropped: Vec<bool> = actions
            .iter()
            .map(|a| a.delivery == DeliveryStatus::Dropped)
            .collect();
        assert_eq!(dropped, [true, true, true, false, false], "{actions:?}");
        assert!(actions[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("queue_capacity")));
    }

    /// A receiver that records the `x-regent-action-id` of every request.
    async fn counting_receiver() -> (String, Arc<Mutex<Vec<i64>>>) {
        let got: Arc<Mutex<Vec<i64>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let seen = seen.clone();
                async move {
                    let id = headers
                        .get("x-regent-action-id")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-1);
                    seen.lock().unwrap().push(id);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, got)
    }

    /// Two replicas' senders on one store (`a` and `b` are each replica's
    /// handle on it), with actions left by replicas that died and new
    /// ones made on both: every action arrives once, and one another
    /// replica still holds is left to it.
    async fn two_replicas_deliver_each_action_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
        let (url, received) = counting_receiver().await;
        let event = crate::domain::events::NewEvent {
            engine: "qa".into(),
            event_type: "x".into(),
            severity: crate::domain::Severity::Critical,
            details: None,
            occurred_at: None,
        };
        let new_action = |db: &Arc<dyn Store>| {
            db.insert_event(
                &event,
                "test",
                Some(("notify_admin", DeliveryStatus::Pending)),
                Timestamp::now(),
            )
            .unwrap()
            .1
            .unwrap()
        };
        // Left behind: two claimed by a replica that died a minute ago,
        // one never claimed; and one a live replica holds.
        let mut expected: Vec<i64> = (0..3).map(|_| new_action(&a).id).collect();
        let long_ago = Timestamp(Timestamp::now().millis() - 60_000);
        assert_eq!(
            a.claim_pending_actions("dead", 2, 1_000, long_ago)
                .unwrap()
                .len(),
            2
        );
        let held = new_action(&a).id;
        assert!(a
            .claim_action(held, "alive-elsewhere", 600_000, Timestamp::now())
            .unwrap());

        let settings = WebhookSettings {
            url: Some(url),
            backoff_ms: 10,
            ..Default::default()
        };
        let sweep = Duration::from_millis(40);
        let on_a =
            Notifier::start_as(settings.clone(), a.clone(), "replica-a".into(), sweep).unwrap();
        let on_b = Notifier::start_as(settings, b.clone(), "replica-b".into(), sweep).unwrap();
        for i in 0..30 {
            let (db, notifier) = if i % 2 == 0 { (&a, &on_a) } else { (&b, &on_b) };
            let action = new_action(db);
            expected.push(action.id);
            notifier.send(action);
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        expected.sort_unstable();
        for _ in 0..200 {
            if received.lock().unwrap().len() >= expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Long enough for several sweeps on both: a second delivery of
        // anything would show.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut got = received.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, expected, "each action delivered exactly once");
        let pending = b.pending_actions().unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|p| (p.id, p.attempts))
                .collect::<Vec<_>>(),
            [(held, 0)],
            "the action another replica holds is left to it"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_sharing_a_sqlite_store_deliver_each_action_once() {
        let db: Arc<dyn Store> = Arc::new(crate::storage::SqliteStore::open_in_memory().unwrap());
        two_replicas_deliver_each_action_once(db.clone(), db).await;
    }

    #[test]
    fn replicas_sharing_postgres_deliver_each_action_once() {
        use crate::storage::postgres_test_support::TestDatabase;
        use crate::storage::{PostgresOptions, PostgresStore};
        let database = TestDatabase::create();
        let replica = || -> Arc<dyn Store> {
            Arc::new(PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap())
        };
        let (a, b) = (replica(), replica());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(two_replicas_deliver_each_action_once(a, b));
        runtime.shutdown_background();
    }
}
