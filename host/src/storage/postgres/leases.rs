//! Leases on background work, judged by the database's clock so that
//! replicas whose clocks disagree still agree on who holds what.
//!
//! A lease is taken or renewed in one statement (an upsert whose update
//! applies only for the holder or over an expired lease), so two replicas
//! racing for a free lease never both get it: PostgreSQL locks the row the
//! insert conflicts with and rechecks the condition on its newest version.
//! Leases change no governance state: they take no writer lock, append no
//! audit entry and bump no change version.

use super::{pg, PostgresStore};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

/// The database's clock in milliseconds. `clock_timestamp()`, not `now()`:
/// the time the statement runs, not when its transaction began.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

fn lease(row: &tokio_postgres::Row) -> Lease {
    Lease {
        name: row.get(0),
        holder: row.get(1),
        acquired_at: Timestamp(row.get(2)),
        renewed_at: Timestamp(row.get(3)),
        expires_at: Timestamp(row.get(4)),
    }
}

impl LeaseRepository for PostgresStore {
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StorageError> {
        Lease::check_ttl(ttl_ms)?;
        // `acquired_ms` stays while the holder keeps the lease without a
        // gap, and restarts when the lease is taken (or retaken after it
        // lapsed).
        let sql = format!(
            "WITH clock AS (SELECT {DB_NOW_MS} AS ms)
             INSERT INTO leases AS l (name, holder, acquired_ms, renewed_ms, expires_ms)
             SELECT $1, $2, clock.ms, clock.ms, clock.ms + $3 FROM clock
             ON CONFLICT (name) DO UPDATE SET
                 holder = excluded.holder,
                 acquired_ms = CASE
                     WHEN l.holder = excluded.holder AND l.expires_ms > excluded.renewed_ms
                     THEN l.acquired_ms ELSE excluded.acquired_ms END,
                 renewed_ms = excluded.renewed_ms,
                 expires_ms = excluded.expires_ms
             WHERE l.holder = excluded.holder OR l.expires_ms <= excluded.renewed_ms
             RETURNING name, holder, acquired_ms, renewed_ms, expires_ms"
        );
        self.read(async |c| {
            Ok(c.query_opt(&sql, &[&name, &holder, &ttl_ms])
                .await
                .map_err(pg("take or renew a lease"))?
                .as_ref()
                .map(lease))
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        // The row stays, expired, so an operator still sees who held it last.
        let sql = format!(
            "UPDATE leases SET expires_ms = LEAST(expires_ms, {DB_NOW_MS})
             WHERE name = $1 AND holder = $2"
        );
        self.read(async |c| {
            c.execute(&sql, &[&name, &holder])
                .await
                .map_err(pg("release a lease"))?;
            Ok(())
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, StorageError> {
        self.read(async |c| {
            Ok(c.query(
                "SELECT name, holder, acquired_ms, renewed_ms, expires_ms FROM leases ORDER BY name",
                &[],
            )
            .await
            .map_err(pg("read the leases"))?
            .iter()
            .map(lease)
            .collect())
        })
    }
}
