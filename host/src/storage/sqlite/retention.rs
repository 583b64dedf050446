//! Pruning: old rows go in small transactions, so the write lock is never
//! held for long. The audit log has no pruning path (and its triggers
//! refuse a delete anyway); tallies and totals are never touched.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::commands::HOUR_MS;
use super::{SqliteStore, StorageError};
use crate::domain::retention::Kept;
use crate::domain::Timestamp;
use crate::storage::repositories::*;

/// The horizon of the raw commands: commands created before it may have
/// been pruned, so they are neither stored again nor counted again.
pub(super) const COMMANDS_HORIZON: &str = "commands";

pub(super) fn horizon(conn: &Connection, name: &str) -> Result<Option<i64>, StorageError> {
    Ok(conn
        .query_row(
            "SELECT before_ms FROM retention_horizons WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

impl RetentionRepository for SqliteStore {
    fn prune_batch(&self, what: Kept, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let cutoff = cutoff.millis();
        let n = match what {
            Kept::Decisions => prune_oldest(&tx, "decisions", false, cutoff, batch)?,
            Kept::Evaluations => prune_oldest(&tx, "evaluations", false, cutoff, batch)?,
            // `/api/readiness/latest` and `/metrics` read the newest.
            Kept::Assessments => prune_oldest(&tx, "readiness_assessments", true, cutoff, batch)?,
            Kept::Commands => prune_commands(&tx, cutoff, batch)?,
            Kept::Events => tx.execute(
                "DELETE FROM engine_events WHERE id IN (
                     SELECT e.id FROM engine_events e
                     WHERE e.occurred_ms < ?1
                       AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.event_id = e.id)
                     ORDER BY e.occurred_ms LIMIT ?2)",
                params![cutoff, batch],
            )? as u64,
            // A pending action is still owed to the webhook sender.
            Kept::AutoActions => tx.execute(
                "DELETE FROM actions WHERE id IN (
                     SELECT id FROM actions WHERE created_ms < ?1 AND delivery != 'pending'
                     ORDER BY created_ms LIMIT ?2)",
                params![cutoff, batch],
            )? as u64,
            Kept::WebhookAttempts => tx.execute(
                "UPDATE actions SET last_error = NULL WHERE id IN (
                     SELECT id FROM actions
                     WHERE last_error IS NOT NULL AND delivery != 'pending' AND created_ms < ?1
                     ORDER BY created_ms LIMIT ?2)",
                params![cutoff, batch],
            )? as u64,
            Kept::Sessions => super::sessions::prune(&tx, cutoff, batch)?,
            Kept::IdempotencyKeys => super::idempotency::prune(&tx, cutoff, batch)?,
        };
        tx.commit()?;
        Ok(n)
    }

    fn commands_horizon(&self) -> Result<Option<Timestamp>, StorageError> {
        Ok(horizon(&self.conn(), COMMANDS_HORIZON)?.map(Timestamp))
    }
}

/// Deletes the oldest rows of an append-only table, by id, up to the
/// first one young enough to stay. These tables are written in time order
/// by this host's clock, so the prefix is exactly the old rows, found
/// without an index on time (which the hot path would pay for on every
/// insert). A row stamped out of order (the clock stepped back) waits for
/// the rows before it.
fn prune_oldest(
    tx: &Transaction<'_>,
    table: &'static str,
    keep_newest: bool,
    cutoff: i64,
    batch: u32,
) -> Result<u64, StorageError> {
    let newest: Option<i64> = if keep_newest {
        tx.query_row(&format!("SELECT max(id) FROM {table}"), [], |r| r.get(0))?
    } else {
        None
    };
    let mut oldest = tx.prepare_cached(&format!(
        "SELECT id, at_ms FROM {table} ORDER BY id LIMIT ?1"
    ))?;
    let mut rows = oldest.query([batch])?;
    let mut last_old = None;
    while let Some(row) = rows.next()? {
        let (id, at): (i64, i64) = (row.get(0)?, row.get(1)?);
        if at >= cutoff || Some(id) == newest {
            break;
        }
        last_old = Some(id);
    }
    drop(rows);
    match last_old {
        None => Ok(0),
        Some(id) => Ok(tx.execute(&format!("DELETE FROM {table} WHERE id <= ?1"), [id])? as u64),
    }
}

/// Raises the horizon to the cutoff's hour, then deletes commands before
/// it. Whole hours keep their counts in `command_hours`, so a window that
/// starts before the horizon is counted from whole hours there.
fn prune_commands(tx: &Transaction<'_>, cutoff: i64, batch: u32) -> Result<u64, StorageError> {
    let horizon = cutoff.div_euclid(HOUR_MS) * HOUR_MS;
    tx.execute(
        "INSERT INTO retention_horizons (name, before_ms) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET before_ms = max(before_ms, excluded.before_ms)",
        params![COMMANDS_HORIZON, horizon],
    )?;
    Ok(tx.execute(
        "DELETE FROM commands WHERE id IN (
             SELECT id FROM commands WHERE created_ms < ?1 ORDER BY created_ms LIMIT ?2)",
        params![horizon, batch],
    )? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::control::Decision;
    use crate::domain::metrics::{CommandRecord, CommandStatus};
    use crate::domain::Phase;
    use crate::storage::NewDecision;

    const NOW: i64 = 1_000 * HOUR_MS;

    fn count(db: &SqliteStore, table: &str) -> i64 {
        db.conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Prunes `what` batch by batch as a pass does; returns the total.
    fn prune_all(db: &SqliteStore, what: Kept, cutoff: i64, batch: u32) -> u64 {
        let mut total = 0;
        loop {
            let n = db.prune_batch(what, Timestamp(cutoff), batch).unwrap();
            assert!(n <= u64::from(batch), "a batch deleted {n} rows");
            total += n;
            if n < u64::from(batch) {
                return total;
            }
        }
    }

    fn decision(at: i64) -> NewDecision {
        NewDecision {
            at: Timestamp(at),
            command_type: "SET_FAN".into(),
            workflow_id: None,
            agent_id: None,
            scope: None,
            decision: Decision::Autonomous,
            reasons: vec![],
            phase: Phase::L3,
            caller: "agent".into(),
            unbound: true,
            claims: Vec::new(),
        }
    }

    fn command(id: &str, at: i64) -> CommandRecord {
        CommandRecord {
            id: id.into(),
            command_type: "SET_FAN".into(),
            status: CommandStatus::Succeeded,
            required_approval: false,
            autonomous: true,
            created_at: Some(Timestamp(at)),
            duration_ms: None,
            error: None,
        }
    }

    #[test]
    fn old_decisions_go_in_batches_and_their_totals_and_the_audit_log_stay() {
        let db = SqliteStore::open_in_memory().unwrap();
        let mut old: Vec<_> = (0..7).map(|i| decision(NOW - 10_000 + i)).collect();
        let mut young: Vec<_> = (0..3).map(|i| decision(NOW + i)).collect();
        db.append_decisions(&mut old).unwrap();
        db.append_decisions(&mut young).unwrap();
        db.set_emergency_stop(true, "ops", "drill", Timestamp(NOW - 20_000))
            .unwrap();
        let audit_before = db.verify_audit().unwrap();
        assert_eq!(audit_before.entries, 1);

        assert_eq!(prune_all(&db, Kept::Decisions, NOW, 3), 7);
        let kept = db.decisions(100, None, None, None).unwrap();
        assert_eq!(
            kept.iter().map(|d| d.at.millis()).collect::<Vec<_>>(),
            [NOW + 2, NOW + 1, NOW]
        );
        assert_eq!(db.decision_totals().unwrap()[0], (Decision::Autonomous, 10));
        assert_eq!(
            db.unbound_decision_totals().unwrap()[0],
            (Decision::Autonomous, 10)
        );
        // Every kind pruned with a cutoff in the future: the audit log,
        // older than all of it, is whole.
        for what in Kept::ALL {
            prune_all(&db, what, NOW + HOUR_MS, 2);
        }
        let audit_after = db.verify_audit().unwrap();
        assert_eq!(audit_after.entries, audit_before.entries);
        assert!(
            audit_after.problems.is_empty(),
            "{:?}",
            audit_after.problems
        );
    }

    #[test]
    fn old_evaluations_go_and_young_ones_stay() {
        let db = SqliteStore::open_in_memory().unwrap();
        for at in [NOW - 2, NOW - 1, NOW, NOW + 1] {
            db.record_evaluation(&crate::storage::EvaluationRecord {
                id: 0,
                at: Timestamp(at),
                plugin: "expression".into(),
                version: "0.1.0".into(),
                kind: crate::domain::PluginKind::BreakerCondition,
                input: serde_json::json!({}),
                output: None,
                error_code: None,
                error: None,
                elapsed_us: 1,
            })
            .unwrap();
        }
        assert_eq!(prune_all(&db, Kept::Evaluations, NOW, 1), 2);
        let left: Vec<i64> = db
            .recent_evaluations(None, 10)
            .unwrap()
            .iter()
            .map(|e| e.at.millis())
            .collect();
        assert_eq!(left, [NOW + 1, NOW]);
    }

    #[test]
    fn the_newest_assessment_stays_however_old() {
        let db = SqliteStore::open_in_memory().unwrap();
        for at in [NOW - 3, NOW - 2, NOW - 1] {
            db.conn()
                .execute(
                    "INSERT INTO readiness_assessments (at_ms, body) VALUES (?1, '{}')",
                    [at],
                )
                .unwrap();
        }
        assert_eq!(prune_all(&db, Kept::Assessments, NOW, 500), 2);
        let left: i64 = db
            .conn()
            .query_row("SELECT at_ms FROM readiness_assessments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, NOW - 1);
    }

    #[test]
    fn pruned_commands_keep_their_hourly_counts_and_are_not_counted_again() {
        let db = SqliteStore::open_in_memory().unwrap();
        let old_hour = NOW - 48 * HOUR_MS;
        let old: Vec<_> = (0..5)
            .map(|i| command(&format!("old{i}"), old_hour + 1_000 + i))
            .collect();
        db.insert_commands(&old, Timestamp(NOW)).unwrap();
        db.insert_commands(&[command("young", NOW - 1_000)], Timestamp(NOW))
            .unwrap();
        let everything = (Timestamp(0), Timestamp(NOW + 1));
        assert_eq!(
            db.command_tally(everything.0, everything.1)
                .unwrap()
                .total(),
            6
        );

        // The cutoff falls mid-hour: the horizon is that hour's start.
        assert_eq!(prune_all(&db, Kept::Commands, NOW - 1_500, 2), 5);
        assert_eq!(count(&db, "commands"), 1);
        assert_eq!(
            db.commands_horizon().unwrap(),
            Some(Timestamp(NOW - HOUR_MS))
        );
        assert_eq!(
            db.command_tally(everything.0, everything.1)
                .unwrap()
                .total(),
            6
        );
        assert_eq!(db.command_totals().unwrap().total(), 6);
        // A window starting mid-hour before the horizon counts that whole
        // hour from the tallies rather than missing its pruned commands.
        let from_mid_hour = db
            .command_tally(Timestamp(old_hour + 1_002), Timestamp(NOW + 1))
            .unwrap();
        assert_eq!(from_mid_hour.total(), 6);

        // Sending a pruned id again (a command source re-read after a
        // restart) must not count it twice.
        let again = db.insert_commands(&old, Timestamp(NOW)).unwrap();
        assert_eq!((again.accepted, again.duplicates, again.expired), (0, 0, 5));
        assert_eq!(
            db.command_tally(everything.0, everything.1)
                .unwrap()
                .total(),
            6
        );
        assert_eq!(count(&db, "commands"), 1);
        let young_again = db
            .insert_commands(&[command("young", NOW - 1_000)], Timestamp(NOW))
            .unwrap();
        assert_eq!(young_again.duplicates, 1);
    }

    #[test]
    fn pending_actions_and_the_events_they_name_stay() {
        let db = SqliteStore::open_in_memory().unwrap();
        let conn = db.conn();
        for (id, at) in [(1, NOW - 10), (2, NOW - 9), (3, NOW - 8), (4, NOW + 1)] {
            conn.execute(
                "INSERT INTO engine_events (id, engine, event_type, severity, details, occurred_ms, reported_by)
                 VALUES (?1, 'billing', 'drift', 'high', '{}', ?2, 'engine')",
                params![id, at],
            )
            .unwrap();
        }
        // Event 1: a delivered action; event 2: a pending one; event 3: none.
        for (id, event, delivery, error) in [
            (10, Some(1), "delivered", None),
            (11, Some(2), "pending", Some("the webhook answered 503")),
            (12, None, "failed", Some("cannot reach the webhook")),
            (13, None, "not_configured", None),
        ] {
            conn.execute(
                "INSERT INTO actions (id, kind, action, event_id, payload, created_ms, delivery, last_error)
                 VALUES (?1, 'auto_action', 'repair', ?2, '{}', ?3, ?4, ?5)",
                params![id, event, NOW - 5, delivery, error],
            )
            .unwrap();
        }
        drop(conn);

        assert_eq!(prune_all(&db, Kept::WebhookAttempts, NOW, 500), 1);
        let errors: Vec<(i64, Option<String>)> = {
            let conn = db.conn();
            let mut stmt = conn
                .prepare("SELECT id, last_error FROM actions ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            errors,
            [
                (10, None),
                (11, Some("the webhook answered 503".into())),
                (12, None),
                (13, None)
            ]
        );

        assert_eq!(prune_all(&db, Kept::AutoActions, NOW, 500), 3);
        let left: Vec<i64> = db.actions(10).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(left, [11]);

        assert_eq!(prune_all(&db, Kept::Events, NOW, 500), 2);
        let mut events: Vec<i64> = db
            .engine_events(10, None, None)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        events.sort();
        assert_eq!(events, [2, 4]);
    }
}
