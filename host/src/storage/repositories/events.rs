//! Engines' events, the actions taken on them (and their webhook delivery),
//! and risk reports.

use crate::domain::events::{ActionRecord, DeliveryStatus, EngineEvent, NewEvent, RiskReport};
use crate::domain::{Severity, Timestamp};
use crate::storage::StorageError;

/// An action to record; its webhook delivery starts `pending` when a
/// webhook is configured.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub kind: &'a str,
    pub action: &'a str,
    pub event_id: Option<i64>,
    pub agent_id: Option<&'a str>,
    pub payload: serde_json::Value,
    pub delivery: DeliveryStatus,
}

/// Engines' events, the actions taken on them, and risk reports.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait EventRepository: Send + Sync {
    /// Stores the event, its action (if any) and the per-engine totals in
    /// one transaction: the action is never lost even if delivery fails.
    ///
    /// One unit of work: the event, its action and the per-engine totals.
    fn insert_event(
        &self,
        e: &NewEvent,
        by: &str,
        action: Option<(&str, DeliveryStatus)>,
        now: Timestamp,
    ) -> Result<(EngineEvent, Option<ActionRecord>), StorageError>;

    fn engine_events(
        &self,
        limit: u32,
        engine: Option<&str>,
        severity: Option<Severity>,
    ) -> Result<Vec<EngineEvent>, StorageError>;

    /// Every event that occurred in `[start, end)`, oldest first.
    fn engine_events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<EngineEvent>, StorageError>;

    /// Counts by engine in `[start, end)` and the critical count.
    fn event_counts_since(
        &self,
        start: Timestamp,
    ) -> Result<(Vec<(String, u64)>, u64), StorageError>;

    /// Events ever reported, by engine and severity (for `/metrics`).
    fn event_totals(&self) -> Result<Vec<(String, String, u64)>, StorageError>;

    fn actions(&self, limit: u32) -> Result<Vec<ActionRecord>, StorageError>;

    /// Actions still waiting for delivery: after a restart, the webhook
    /// sender picks them up again.
    fn pending_actions(&self) -> Result<Vec<ActionRecord>, StorageError>;

    /// Claims for `holder`, until `now + ttl_ms`, up to `limit` pending
    /// actions that nobody holds (never claimed, or their claim has
    /// lapsed), oldest first, and returns them. Two holders claiming at
    /// once never get the same action, so each replica delivers only what
    /// it claimed; an action whose holder died is claimed again once its
    /// claim lapses. Not audited: delivery bookkeeping, as
    /// [`Self::record_delivery`] is.
    fn claim_pending_actions(
        &self,
        holder: &str,
        limit: u32,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<Vec<ActionRecord>, StorageError>;

    /// Claims (or, for its holder, renews) one pending action until
    /// `now + ttl_ms`. `false` when it is no longer pending, or another
    /// holder's claim has not lapsed: then `holder` must not deliver it.
    fn claim_action(
        &self,
        id: i64,
        holder: &str,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Records one delivery attempt's outcome.
    fn record_delivery(
        &self,
        id: i64,
        status: DeliveryStatus,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StorageError>;

    /// Records that a waiting action was pushed out of the full delivery
    /// queue. Only a still-pending action changes: one that was delivered
    /// meanwhile keeps its outcome.
    fn mark_dropped(&self, id: i64, reason: &str) -> Result<bool, StorageError>;

    /// Keeps the newest `keep` pending actions and records the older ones
    /// as dropped; returns how many were dropped.
    fn drop_pending_beyond(&self, keep: usize, reason: &str) -> Result<usize, StorageError>;

    fn insert_risk_report(&self, report: &RiskReport) -> Result<RiskReport, StorageError>;

    fn risk_reports(&self, limit: u32) -> Result<Vec<RiskReport>, StorageError>;
}
