//! Idempotency keys: the first answer to a request sent with an
//! `Idempotency-Key`, kept so that a retry gets it back instead of doing
//! the work again.
//!
//! A key is claimed *before* the work, in one atomic statement (an insert
//! that does nothing on a live row), so that of two replicas racing with
//! one key exactly one does the work. The claim is then completed with the
//! answer, or released when the work failed. Keys are bookkeeping: no unit
//! of work, no audit entry, no change-version bump (the work they guard
//! records its own).
//!
//! Times are the caller's (`now`), as webhook claims are: every replica's
//! clock must agree to well within the claim's lease (NTP).

use crate::domain::Timestamp;
use crate::storage::StorageError;

/// Whose key, on which route: the same key from two callers, or on two
/// routes, is two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    /// The caller, as the service spells it (its credential and id).
    pub caller: String,
    /// The route: the method and the path template.
    pub route: String,
    /// The key as the client sent it.
    pub key: String,
}

/// A stored first answer: its status and its JSON body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free (never used, or its row had expired): it is now
    /// held by this claim, until `now + lease_ms`.
    Claimed,
    /// Another request holds the key and has not answered yet.
    InProgress { fingerprint: String },
    /// The key was answered, within its retention.
    Answered {
        fingerprint: String,
        answer: StoredAnswer,
    },
}

impl KeyClaim {
    /// The live row another request holds, as a backend read it: answered
    /// (status and body), or still in progress (neither).
    pub(crate) fn held(
        fingerprint: String,
        status: Option<i64>,
        body: Option<String>,
    ) -> Result<Self, StorageError> {
        match (status, body) {
            (None, None) => Ok(KeyClaim::InProgress { fingerprint }),
            (Some(status), Some(body)) => Ok(KeyClaim::Answered {
                fingerprint,
                answer: StoredAnswer {
                    status: u16::try_from(status).map_err(|_| StorageError::Corrupt {
                        table: "idempotency_keys",
                        message: format!("status {status} is not an HTTP status"),
                    })?,
                    body,
                },
            }),
            _ => Err(StorageError::Corrupt {
                table: "idempotency_keys",
                message: "an answer with a status but no body, or a body but no status".into(),
            }),
        }
    }
}

/// The keys' store.
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `scope` for the request whose fingerprint is `fingerprint`,
    /// under the claim id `claim`, until `now + lease_ms`, if no live row
    /// holds it (a row is live until its `expires_at`, which is the claim's
    /// lease while in progress and the retention once answered). Atomic
    /// across every replica sharing the store: of racing claims, one gets
    /// `Claimed` and the others see its row.
    fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<KeyClaim, StorageError>;

    /// Stores the answer of the claim `claim`, kept until `expires_at`.
    /// `false` when the claim is no longer held (its lease lapsed and
    /// another request took the key, or it was pruned): nothing changes.
    fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
        answer: &StoredAnswer,
        expires_at: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Gives up the claim `claim` (the work failed), so a retry may run.
    /// `false` when it was no longer held.
    fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        claim: &str,
    ) -> Result<bool, StorageError>;

    /// Deletes at most `batch` keys whose row expired before `cutoff` (an
    /// answer past its retention, or a claim whose lease lapsed), in one
    /// statement; returns how many went.
    fn prune_idempotency_keys(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError>;
}
