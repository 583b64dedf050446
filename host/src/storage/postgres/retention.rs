//! Pruning, a port of `storage/sqlite/retention.rs`: old rows go in small
//! transactions, so the writer lock is never held for long. The audit log
//! has no pruning path (and its triggers refuse a delete anyway); tallies
//! and totals are never touched.

use deadpool_postgres::GenericClient;

use super::{pg, PostgresStore, StorageError, WRITER_LOCK};
use crate::domain::retention::Kept;
use crate::domain::Timestamp;
use crate::storage::repositories::*;

/// The horizon of the raw commands: commands created before it may have
/// been pruned, so they are neither stored again nor counted again.
pub(super) const COMMANDS_HORIZON: &str = "commands";

/// The commands' horizon rises by whole hours, the unit of `command_hours`.
const HOUR_MS: i64 = 3_600_000;

pub(super) async fn horizon<C: GenericClient>(
    c: &C,
    name: &str,
) -> Result<Option<i64>, StorageError> {
    Ok(c.query_opt(
        "SELECT before_ms FROM retention_horizons WHERE name = $1",
        &[&name],
    )
    .await
    .map_err(pg("read a retention horizon"))?
    .map(|r| r.get(0)))
}

impl RetentionRepository for PostgresStore {
    fn prune_batch(&self, what: Kept, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        let cutoff = cutoff.millis();
        let batch = i64::from(batch);
        self.block_on(async {
            let mut client = self.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(pg("begin a pruning batch"))?;
            // Serialized with every unit of work, as SQLite's IMMEDIATE
            // transaction is: a command stored while its hour's horizon
            // rises is either counted and kept, or refused, never both.
            // Nothing pruned is control state, so the change version does
            // not move and no replica is woken.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])
                .await
                .map_err(pg("take the writer lock"))?;
            let delete = pg("prune old rows");
            let n = match what {
                Kept::Decisions => prune_oldest(&tx, "decisions", false, cutoff, batch).await?,
                Kept::Evaluations => prune_oldest(&tx, "evaluations", false, cutoff, batch).await?,
                // `/api/readiness/latest` and `/metrics` read the newest.
                Kept::Assessments => {
                    prune_oldest(&tx, "readiness_assessments", true, cutoff, batch).await?
                }
                Kept::Commands => prune_commands(&tx, cutoff, batch).await?,
                Kept::Events => tx
                    .execute(
                        "DELETE FROM engine_events WHERE id IN (
                             SELECT e.id FROM engine_events e
                             WHERE e.occurred_ms < $1
                               AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.event_id = e.id)
                             ORDER BY e.occurred_ms LIMIT $2)",
                        &[&cutoff, &batch],
                    )
                    .await
                    .map_err(&delete)?,
                // A pending action is still owed to the webhook sender.
                Kept::AutoActions => tx
                    .execute(
                        "DELETE FROM actions WHERE id IN (
                             SELECT id FROM actions WHERE created_ms < $1 AND delivery != 'pending'
                             ORDER BY created_ms LIMIT $2)",
                        &[&cutoff, &batch],
                    )
                    .await
                    .map_err(&delete)?,
                Kept::WebhookAttempts => tx
                    .execute(
                        "UPDATE actions SET last_error = NULL WHERE id IN (
                             SELECT id FROM actions
                             WHERE last_error IS NOT NULL AND delivery != 'pending' AND created_ms < $1
                             ORDER BY created_ms LIMIT $2)",
                        &[&cutoff, &batch],
                    )
                    .await
                    .map_err(&delete)?,
                Kept::Sessions => super::sessions::prune(&tx, cutoff, batch).await?,
                Kept::IdempotencyKeys => super::idempotency::prune(&tx, cutoff, batch).await?,
            };
            tx.commit().await.map_err(pg("commit a pruning batch"))?;
            Ok(n)
        })
    }

    fn commands_horizon(&self) -> Result<Option<Timestamp>, StorageError> {
        self.read(async |c| Ok(horizon(c, COMMANDS_HORIZON).await?.map(Timestamp)))
    }
}

/// Deletes the oldest rows of an append-only table, by id, up to the
/// first one young enough to stay. These tables are written in time order
/// by this host's clock, so the prefix is exactly the old rows, found
/// without an index on time (which the hot path would pay for on every
/// insert). A row stamped out of order (the clock stepped back, or another
/// replica's clock lags) waits for the rows before it.
async fn prune_oldest<C: GenericClient>(
    tx: &C,
    table: &'static str,
    keep_newest: bool,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StorageError> {
    let read = pg("find the oldest rows");
    let newest: Option<i64> = if keep_newest {
        tx.query_one(&format!("SELECT max(id) FROM {table}"), &[])
            .await
            .map_err(&read)?
            .get(0)
    } else {
        None
    };
    let oldest = tx
        .query(
            &format!("SELECT id, at_ms FROM {table} ORDER BY id LIMIT $1"),
            &[&batch],
        )
        .await
        .map_err(&read)?;
    let mut last_old = None;
    for row in &oldest {
        let (id, at): (i64, i64) = (row.get(0), row.get(1));
        if at >= cutoff || Some(id) == newest {
            break;
        }
        last_old = Some(id);
    }
    match last_old {
        None => Ok(0),
        Some(id) => tx
            .execute(&format!("DELETE FROM {table} WHERE id <= $1"), &[&id])
            .await
            .map_err(pg("prune old rows")),
    }
}

/// Raises the horizon to the cutoff's hour, then deletes commands before
/// it. Whole hours keep their counts in `command_hours`, so a window that
/// starts before the horizon is counted from whole hours there.
async fn prune_commands<C: GenericClient>(
    tx: &C,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StorageError> {
    let horizon = cutoff.div_euclid(HOUR_MS) * HOUR_MS;
    tx.execute(
        "INSERT INTO retention_horizons (name, before_ms) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE
         SET before_ms = greatest(retention_horizons.before_ms, excluded.before_ms)",
        &[&COMMANDS_HORIZON, &horizon],
    )
    .await
    .map_err(pg("raise the commands' horizon"))?;
    tx.execute(
        "DELETE FROM commands WHERE id IN (
             SELECT id FROM commands WHERE created_ms < $1 ORDER BY created_ms LIMIT $2)",
        &[&horizon, &batch],
    )
    .await
    .map_err(pg("prune old commands"))
}
