//! Delivers auto-actions and escalations to the configured webhook.
//!
//! An action is stored (as `pending`) in the transaction that creates it,
//! before anything is sent, so a slow or dead receiver never blocks or
//! loses the event. A background task POSTs each action's payload with a
//! timeout, retries with exponential backoff, and records every attempt;
//! actions still pending at start (a crash mid-delivery) are sent again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::WebhookSettings;
use crate::domain::events::{ActionRecord, DeliveryStatus};
use crate::domain::Timestamp;
use crate::storage::Database;

#[derive(Clone)]
pub struct Notifier {
    queue: Option<mpsc::UnboundedSender<ActionRecord>>,
}

impl Notifier {
    /// No webhook: actions are recorded as `not_configured`.
    pub fn disabled() -> Self {
        Self { queue: None }
    }

    /// Starts the sender on the current tokio runtime.
    pub fn start(settings: WebhookSettings, db: Arc<Database>) -> Self {
        let Some(url) = settings.url.clone() else {
            return Self::disabled();
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<ActionRecord>();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()
            .unwrap_or_default();
        let resend = tx.clone();
        let pending_db = db.clone();
        tokio::spawn(async move {
            let pending = tokio::task::spawn_blocking(move || pending_db.pending_actions()).await;
            match pending {
                Ok(Ok(actions)) => {
                    for a in actions {
                        let _ = resend.send(a);
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "cannot read pending webhook deliveries"),
                Err(e) => tracing::error!(error = %e, "cannot read pending webhook deliveries"),
            }
        });
        tokio::spawn(async move {
            while let Some(action) = rx.recv().await {
                deliver(&client, &url, &settings, &db, &action).await;
            }
        });
        Self { queue: Some(tx) }
    }

    /// What a new action's delivery starts as.
    pub fn initial_status(&self) -> DeliveryStatus {
        if self.queue.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::NotConfigured
        }
    }

    /// Queues a stored action; never blocks.
    pub fn send(&self, action: ActionRecord) {
        if let Some(q) = &self.queue {
            if q.send(action).is_err() {
                tracing::warn!("the webhook sender has stopped; the action stays pending");
            }
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    settings: &WebhookSettings,
    db: &Arc<Database>,
    action: &ActionRecord,
) {
    for attempt in 1..=settings.attempts {
        let outcome = match client
            .post(url)
            .header("x-regent-action-id", action.id.to_string())
            .json(&serde_json::json!({
                "id": action.id,
                "kind": action.kind,
                "action": action.action,
                "payload": action.payload,
            }))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the webhook answered {}", r.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "the webhook did not answer within {} ms",
                settings.timeout_ms
            )),
            Err(e) => Err(format!("cannot reach the webhook: {e}")),
        };
        let last = attempt == settings.attempts;
        let (status, error) = match &outcome {
            Ok(()) => (DeliveryStatus::Delivered, None),
            Err(e) if last => (DeliveryStatus::Failed, Some(e.clone())),
            Err(e) => (DeliveryStatus::Pending, Some(e.clone())),
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
                    let backoff = settings
                        .backoff_ms
                        .saturating_mul(1 << (attempt - 1).min(10));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
            }
        }
    }
}
