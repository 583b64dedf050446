//! Idempotency keys: the port of `storage/sqlite/idempotency.rs`.
//!
//! Claiming is one upsert whose update applies only over an expired row:
//! PostgreSQL locks the row the insert conflicts with (waiting for a racing
//! insert to commit or roll back) and rechecks the condition on its newest
//! version, so of replicas racing with one key exactly one claims it. When
//! the upsert claims nothing, the row that holds the key is read in a
//! second statement, with a snapshot of its own (read committed), so it
//! sees the row the upsert conflicted with. Keys take no writer lock,
//! append no audit entry and bump no change version.

use deadpool_postgres::GenericClient;

use super::{pg, PostgresStore};
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

/// How often a claim looks again when the row it conflicted with was gone
/// by the time it read it (released or pruned in between).
const CLAIM_ATTEMPTS: usize = 3;

/// Deletes at most `batch` keys whose row expired before `cutoff`.
pub(super) async fn prune<C: GenericClient>(
    c: &C,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StorageError> {
    c.execute(
        "DELETE FROM idempotency_keys WHERE (caller, route, key) IN (
             SELECT caller, route, key FROM idempotency_keys WHERE expires_ms < $1 LIMIT $2)",
        &[&cutoff, &batch],
    )
    .await
    .map_err(pg("prune expired idempotency keys"))
}

impl IdempotencyRepository for PostgresStore {
    fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<KeyClaim, StorageError> {
        let now = now.millis();
        self.read(async |c| {
            for _ in 0..CLAIM_ATTEMPTS {
                let claimed = c
                    .query_opt(
                        "INSERT INTO idempotency_keys AS k
                             (caller, route, key, fingerprint, claim, status, body,
                              created_ms, expires_ms)
                         VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6::BIGINT, $6::BIGINT + $7::BIGINT)
                         ON CONFLICT (caller, route, key) DO UPDATE SET
                             fingerprint = excluded.fingerprint,
                             claim = excluded.claim,
                             status = NULL,
                             body = NULL,
                             created_ms = excluded.created_ms,
                             expires_ms = excluded.expires_ms
                         WHERE k.expires_ms <= excluded.created_ms
                         RETURNING claim",
                        &[
                            &scope.caller,
                            &scope.route,
                            &scope.key,
                            &fingerprint,
                            &claim,
                            &now,
                            &lease_ms,
                        ],
                    )
                    .await
                    .map_err(pg("claim an idempotency key"))?;
                if claimed.is_some() {
                    return Ok(KeyClaim::Claimed);
                }
                let row = c
                    .query_opt(
                        "SELECT fingerprint, status, body FROM idempotency_keys
                         WHERE caller = $1 AND route = $2 AND key = $3",
                        &[&scope.caller, &scope.route, &scope.key],
                    )
                    .await
                    .map_err(pg("read an idempotency key"))?;
                if let Some(row) = row {
                    let status: Option<i32> = row.get(1);
                    return KeyClaim::held(row.get(0), status.map(i64::from), row.get(2));
                }
            }
            // Claimed and released again between each of our statements:
            // some other request is working on this key right now.
            Err(StorageError::Conflict(format!(
                "idempotency key `{}` changed hands {CLAIM_ATTEMPTS} times while it was claimed",
                scope.key
            )))
        })
    }

    fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
        answer: &StoredAnswer,
        expires_at: Timestamp,
    ) -> Result<bool, StorageError> {
        let status = i32::from(answer.status);
        let expires = expires_at.millis();
        self.read(async |c| {
            let n = c
                .execute(
                    "UPDATE idempotency_keys SET status = $5, body = $6, expires_ms = $7
                     WHERE caller = $1 AND route = $2 AND key = $3 AND claim = $4
                       AND status IS NULL",
                    &[
                        &scope.caller,
                        &scope.route,
                        &scope.key,
                        &claim,
                        &status,
                        &answer.body,
                        &expires,
                    ],
                )
                .await
                .map_err(pg("store an idempotent answer"))?;
            Ok(n == 1)
        })
    }

    fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
    ) -> Result<bool, StorageError> {
        self.read(async |c| {
            let n = c
                .execute(
                    "DELETE FROM idempotency_keys
                     WHERE caller = $1 AND route = $2 AND key = $3 AND claim = $4
                       AND status IS NULL",
                    &[&scope.caller, &scope.route, &scope.key, &claim],
                )
                .await
                .map_err(pg("release an idempotency key"))?;
            Ok(n == 1)
        })
    }

    fn prune_idempotency_keys(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        self.read(async |c| prune(c, cutoff.millis(), i64::from(batch)).await)
    }
}
