//! Breaker rules and the trips (breaker events) they cause.

use crate::domain::breaker::{BreakerEvent, BreakerRule};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// Breaker rules and their trips.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait BreakerRepository: Send + Sync {
    fn rules(&self) -> Result<Vec<BreakerRule>, StorageError>;

    fn rule(&self, name: &str) -> Result<BreakerRule, StorageError>;

    fn insert_rule(
        &self,
        rule: &BreakerRule,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError>;

    /// Replaces a rule with `change(old)`, which may refuse.
    fn update_rule(
        &self,
        name: &str,
        updated: &BreakerRule,
        actor: &str,
        now: Timestamp,
    ) -> Result<BreakerRule, StorageError>;

    fn delete_rule(
        &self,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<BreakerRule, StorageError>;

    /// Records a trip and runs its action, or records a failed check
    /// (`check_error` set), which runs none. A rule has at most one open
    /// event: while it has one, nothing changes and `None` is returned,
    /// except that a trip supersedes an open failed check, so a rule that
    /// once could not be checked still acts when it trips.
    ///
    /// One unit of work: the trip, what its action changes (the phase back
    /// to L3 and pending proposals cancelled, or command types paused), the
    /// open trip it supersedes, and the audit entries.
    fn record_trip(&self, event: BreakerEvent) -> Result<Option<BreakerEvent>, StorageError>;

    fn breaker_events(&self, limit: u32) -> Result<Vec<BreakerEvent>, StorageError>;

    fn unresolved_events(&self) -> Result<Vec<BreakerEvent>, StorageError>;

    /// How many events are unresolved, counted without loading them: a
    /// `/metrics` scrape asks this.
    fn unresolved_event_count(&self) -> Result<u64, StorageError>;

    /// Events triggered in `[start, end)`.
    fn events_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<BreakerEvent>, StorageError>;

    /// Command types paused by unresolved `pause_command_type` events.
    fn paused_command_types(&self) -> Result<Vec<String>, StorageError>;

    /// One unit of work: the resolution and its audit entry.
    fn resolve_event(
        &self,
        id: i64,
        by: &str,
        resolution: &str,
        now: Timestamp,
    ) -> Result<BreakerEvent, StorageError>;

    /// Every trip ever, by (rule, action, alert severity): a counter.
    fn breaker_event_totals(&self) -> Result<Vec<(String, String, String, u64)>, StorageError>;
}
