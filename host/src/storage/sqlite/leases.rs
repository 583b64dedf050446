//! Leases on background work. A single SQLite process is a fleet of one,
//! so it always gets its leases; they are kept anyway so that the same
//! runner serves both backends and an operator sees the same listing.
//!
//! Taking or renewing is one upsert under the connection's lock, judged
//! by this machine's clock (the database's, as SQLite has no other).
//! Leases change no governance state: no unit of work, no audit entry.

use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

fn lease(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        name: r.get(0)?,
        holder: r.get(1)?,
        acquired_at: Timestamp(r.get(2)?),
        renewed_at: Timestamp(r.get(3)?),
        expires_at: Timestamp(r.get(4)?),
    })
}

impl LeaseRepository for SqliteStore {
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StorageError> {
        Lease::check_ttl(ttl_ms)?;
        let now = Timestamp::now().millis();
        // `acquired_ms` stays while the holder keeps the lease without a
        // gap, and restarts when the lease is taken (or retaken after it
        // lapsed).
        Ok(self
            .conn()
            .query_row(
                "INSERT INTO leases AS l (name, holder, acquired_ms, renewed_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?3, ?3 + ?4)
                 ON CONFLICT (name) DO UPDATE SET
                     holder = excluded.holder,
                     acquired_ms = CASE
                         WHEN l.holder = excluded.holder AND l.expires_ms > excluded.renewed_ms
                         THEN l.acquired_ms ELSE excluded.acquired_ms END,
                     renewed_ms = excluded.renewed_ms,
                     expires_ms = excluded.expires_ms
                 WHERE l.holder = excluded.holder OR l.expires_ms <= excluded.renewed_ms
                 RETURNING name, holder, acquired_ms, renewed_ms, expires_ms",
                rusqlite::params![name, holder, now, ttl_ms],
                lease,
            )
            .optional()?)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        // The row stays, expired, so an operator still sees who held it last.
        self.conn().execute(
            "UPDATE leases SET expires_ms = MIN(expires_ms, ?3) WHERE name = ?1 AND holder = ?2",
            rusqlite::params![name, holder, Timestamp::now().millis()],
        )?;
        Ok(())
    }

    fn leases(&self) -> Result<Vec<Lease>, StorageError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT name, holder, acquired_ms, renewed_ms, expires_ms FROM leases ORDER BY name",
        )?;
        let rows = statement.query_map([], lease)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
