//! Idempotency keys. Claiming is one upsert and, when it finds a live row,
//! one read of that row, both under the connection's lock, so no other
//! writer runs between them. Keys are bookkeeping: no unit of work, no
//! audit entry, no republished control snapshot.

use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

/// Deletes at most `batch` keys whose row expired before `cutoff`.
pub(super) fn prune(conn: &Connection, cutoff: i64, batch: u32) -> Result<u64, StorageError> {
    Ok(conn.execute(
        "DELETE FROM idempotency_keys WHERE rowid IN (
             SELECT rowid FROM idempotency_keys WHERE expires_ms < ?1 LIMIT ?2)",
        params![cutoff, batch],
    )? as u64)
}

impl IdempotencyRepository for SqliteStore {
    fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<KeyClaim, StorageError> {
        let conn = self.conn();
        // A row whose time is up (an answer past its retention, a claim
        // whose holder never came back) is taken over as if it were free.
        let claimed = conn
            .query_row(
                "INSERT INTO idempotency_keys AS k
                     (caller, route, key, fingerprint, claim, status, body, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?6 + ?7)
                 ON CONFLICT (caller, route, key) DO UPDATE SET
                     fingerprint = excluded.fingerprint,
                     claim = excluded.claim,
                     status = NULL,
                     body = NULL,
                     created_ms = excluded.created_ms,
                     expires_ms = excluded.expires_ms
                 WHERE k.expires_ms <= excluded.created_ms
                 RETURNING claim",
                params![
                    scope.caller,
                    scope.route,
                    scope.key,
                    fingerprint,
                    claim,
                    now.millis(),
                    lease_ms
                ],
                |r| r.get::<_, String>(0),
            )
            .optional()?;
        if claimed.is_some() {
            return Ok(KeyClaim::Claimed);
        }
        let (held_by, status, body): (String, Option<i64>, Option<String>) = conn.query_row(
            "SELECT fingerprint, status, body FROM idempotency_keys
             WHERE caller = ?1 AND route = ?2 AND key = ?3",
            params![scope.caller, scope.route, scope.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        KeyClaim::held(held_by, status, body)
    }

    fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
        answer: &StoredAnswer,
        expires_at: Timestamp,
    ) -> Result<bool, StorageError> {
        let n = self.conn().execute(
            "UPDATE idempotency_keys SET status = ?5, body = ?6, expires_ms = ?7
             WHERE caller = ?1 AND route = ?2 AND key = ?3 AND claim = ?4 AND status IS NULL",
            params![
                scope.caller,
                scope.route,
                scope.key,
                claim,
                answer.status,
                answer.body,
                expires_at.millis()
            ],
        )?;
        Ok(n == 1)
    }

    fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
    ) -> Result<bool, StorageError> {
        let n = self.conn().execute(
            "DELETE FROM idempotency_keys
             WHERE caller = ?1 AND route = ?2 AND key = ?3 AND claim = ?4 AND status IS NULL",
            params![scope.caller, scope.route, scope.key, claim],
        )?;
        Ok(n == 1)
    }

    fn prune_idempotency_keys(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        prune(&self.conn(), cutoff.millis(), batch)
    }
}
