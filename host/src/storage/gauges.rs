//! Counting queries for `/metrics`: a scrape counts rows in SQL and never
//! loads them.

use super::{Database, StorageError};

impl Database {
    /// Circuit-breaker events not yet resolved.
    pub fn unresolved_breaker_event_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM breaker_events WHERE resolved_ms IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::breaker::{BreakerAction, BreakerEvent, Window};
    use crate::domain::{Severity, Timestamp};

    fn trip(db: &Database, rule: &str, at: i64) -> BreakerEvent {
        let event = BreakerEvent {
            id: 0,
            rule_name: rule.into(),
            condition: "errorRate > 0.05".into(),
            window: Window { millis: 60_000 },
            action: BreakerAction::AlertOnly,
            alert_severity: Severity::High,
            observed_value: Some(0.5),
            reason: "tripped".into(),
            triggered_at: Timestamp(at),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            paused_command_types: Vec::new(),
            plugin: "error-rate".into(),
            plugin_version: "1.0.0".into(),
            check_error: None,
            truncated: false,
        };
        db.record_trip(event).unwrap().unwrap()
    }

    #[test]
    fn unresolved_events_are_counted_without_reading_their_bodies() {
        let db = Database::open_in_memory().unwrap();
        assert_eq!(db.unresolved_breaker_event_count().unwrap(), 0);
        let first = trip(&db, "a", 1_000);
        trip(&db, "b", 2_000);
        trip(&db, "c", 3_000);
        db.resolve_event(first.id, "ops", "fixed", Timestamp(4_000))
            .unwrap();
        assert_eq!(
            db.unresolved_breaker_event_count().unwrap(),
            db.unresolved_events().unwrap().len() as u64
        );
        assert_eq!(db.unresolved_breaker_event_count().unwrap(), 2);
        // A body that no longer parses fails a load of the events, but
        // not their count: the count never decodes a row.
        db.conn()
            .execute("UPDATE breaker_events SET body = 'not json'", [])
            .unwrap();
        assert!(db.unresolved_events().is_err());
        assert_eq!(db.unresolved_breaker_event_count().unwrap(), 2);
    }
}
