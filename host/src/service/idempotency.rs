//! Idempotency keys: a request sent again with the same `Idempotency-Key`
//! gets the first answer back, and nothing is done (or logged) twice.
//!
//! The one home of the rules; the HTTP layer (`api/idempotency.rs`) only
//! reads the header and the body, and hands the answer back.
//!
//! - A key is **scoped** to its caller (credential, principal and bound
//!   agent) and its route (method and path template): the same key from two
//!   callers is two keys, and no caller can read another's answer.
//! - The **fingerprint** is SHA-256 over the request's path, query and body
//!   bytes *as received* (no JSON canonicalization: a retry must resend the
//!   same bytes, as every HTTP client library does).
//! - The key is **claimed before the work**, atomically across replicas;
//!   a duplicate that arrives while the first is still working gets 409
//!   (retry), never a second execution.
//! - A **success** (2xx) is stored and replayed for `[idempotency]
//!   retention_hours`. A **failure** (4xx, 5xx) releases the claim, so the
//!   retry runs again: services change nothing when they refuse, so there
//!   is nothing to protect, and a retry after a transient 503 must be able
//!   to succeed.
//! - A claim whose answer is never stored (the process died between the
//!   work and storing its answer, or the client went away mid-request)
//!   lapses after [`CLAIM_LEASE_MS`]; then the key may run again. The work
//!   and its answer are not one transaction (`docs/known-limits.md`).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{ServiceError, ServiceResult};
use crate::domain::auth::{Credential, Principal};
use crate::domain::Timestamp;
use crate::metrics::Metrics;
use crate::storage::prelude::*;
use crate::storage::{IdempotencyScope, KeyClaim, StoredAnswer};

/// The request header, as RFC drafts and Stripe name it.
pub const HEADER: &str = "idempotency-key";

/// The most characters a key may have.
pub const MAX_KEY_LEN: usize = 255;

/// How long a claim holds its key without an answer: longer than any
/// request takes (authorize answers in milliseconds, the slowest write in
/// seconds), short enough that a key orphaned by a crash frees up soon.
pub const CLAIM_LEASE_MS: i64 = 60_000;

/// Why an `Idempotency-Key` header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error(
        "the Idempotency-Key header is empty: send 1 to {MAX_KEY_LEN} visible ASCII characters"
    )]
    Empty,
    #[error("the Idempotency-Key header is {len} characters long; the most is {MAX_KEY_LEN}")]
    TooLong { len: usize },
    #[error("the Idempotency-Key header may hold only visible ASCII characters (no spaces or control characters); character {position} is not one")]
    NotVisibleAscii { position: usize },
    #[error("send one Idempotency-Key header, not {count}")]
    Repeated { count: usize },
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        ServiceError::BadRequest(e.to_string())
    }
}

/// A checked key: 1 to [`MAX_KEY_LEN`] visible ASCII characters
/// (`!` to `~`), the pattern `/openapi.json` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key from the header's raw bytes.
    pub fn parse(raw: &[u8]) -> Result<Self, KeyError> {
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(i) = raw.iter().position(|b| !(0x21..=0x7e).contains(b)) {
            return Err(KeyError::NotVisibleAscii { position: i + 1 });
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len: raw.len() });
        }
        // Every byte is visible ASCII, so this is UTF-8.
        String::from_utf8(raw.to_vec())
            .map(IdempotencyKey)
            .map_err(|_| KeyError::NotVisibleAscii { position: 1 })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose keys these are: the credential kind, the principal and the agent
/// a machine token is bound to. Two tokens of one principal bound to two
/// agents act for different agents, so they do not share answers.
pub fn caller_scope(principal: &Principal) -> String {
    let credential = match &principal.credential {
        Credential::Token { .. } => "token",
        Credential::Oidc => "oidc",
        Credential::Internal => "internal",
    };
    match &principal.agent {
        Some(agent) => format!("{credential}:{}#{agent}", principal.id),
        None => format!("{credential}:{}", principal.id),
    }
}

/// SHA-256 over the path and query, then the body, as received (hex). The
/// path is in it because the route scope is the path's template: a key
/// reused for another agent's costs is another request, refused as such.
pub fn fingerprint(path_and_query: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update((path_and_query.len() as u64).to_be_bytes());
    hash.update(path_and_query.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// The key is this request's: do the work, then [`IdempotencyService::finish`]
    /// or [`IdempotencyService::abandon`].
    Proceed(Ticket),
    /// Answered before with the same request: send this back, do nothing.
    Replay(StoredAnswer),
}

/// A claimed key, to finish or abandon.
#[derive(Debug)]
pub struct Ticket {
    scope: IdempotencyScope,
    claim: String,
}

/// Idempotency keys over the store.
pub struct IdempotencyService {
    db: Arc<dyn Store>,
    exporter: Arc<Metrics>,
    retention_ms: i64,
}

impl IdempotencyService {
    pub fn new(db: Arc<dyn Store>, exporter: Arc<Metrics>, retention_ms: i64) -> Self {
        Self {
            db,
            exporter,
            retention_ms,
        }
    }

    /// Claims the key, or finds the answer it already has. 409 when the key
    /// was used with another request, or when its first request is still
    /// working.
    pub fn begin(
        &self,
        scope: IdempotencyScope,
        fingerprint: &str,
        now: Timestamp,
    ) -> ServiceResult<Begin> {
        let claim = new_claim_id()?;
        match self
            .db
            .claim_idempotency_key(&scope, fingerprint, &claim, now, CLAIM_LEASE_MS)?
        {
            KeyClaim::Claimed => Ok(Begin::Proceed(Ticket { scope, claim })),
            KeyClaim::Answered {
                fingerprint: first,
                answer,
            } if first == fingerprint => {
                self.exporter.idempotent_replay();
                Ok(Begin::Replay(answer))
            }
            KeyClaim::Answered {
                fingerprint: first, ..
            }
            | KeyClaim::InProgress { fingerprint: first }
                if first != fingerprint =>
            {
                self.exporter.idempotency_conflict("other_body");
                Err(ServiceError::Conflict(format!(
                    "Idempotency-Key `{}` was already used on {} with another request body (or path); \
                     send a new key for a new request",
                    scope.key, scope.route
                )))
            }
            KeyClaim::InProgress { .. } | KeyClaim::Answered { .. } => {
                self.exporter.idempotency_conflict("in_progress");
                Err(ServiceError::Conflict(format!(
                    "a request with Idempotency-Key `{}` is in progress; retry once it has answered",
                    scope.key
                )))
            }
        }
    }

    /// Stores the answer of a successful request, for its retries. When
    /// the claim was lost meanwhile (the work outlasted the lease and
    /// another request took the key), the answer is not stored, and that
    /// is logged: the caller still gets its answer.
    pub fn finish(
        &self,
        ticket: Ticket,
        answer: StoredAnswer,
        now: Timestamp,
    ) -> ServiceResult<()> {
        let expires = Timestamp(now.millis().saturating_add(self.retention_ms));
        if !self
            .db
            .complete_idempotency_key(&ticket.scope, &ticket.claim, &answer, expires)?
        {
            tracing::warn!(
                key = %ticket.scope.key,
                route = %ticket.scope.route,
                "the idempotency key's claim lapsed before its answer was stored; a retry may run again"
            );
        }
        Ok(())
    }

    /// Releases the key of a request that failed, so its retry runs.
    pub fn abandon(&self, ticket: Ticket) -> ServiceResult<()> {
        self.db
            .release_idempotency_key(&ticket.scope, &ticket.claim)?;
        Ok(())
    }
}

/// A claim's id: 128 random bits from the OS, so that a request whose
/// lease lapsed can never complete or release its successor's claim.
fn new_claim_id() -> ServiceResult<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Fault {
        what: "cannot draw a random claim id for an idempotency key".into(),
        source: Box::new(std::io::Error::other(e.to_string())),
    })?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::PrincipalKind;
    use crate::domain::breaker::BreakerRule;
    use crate::storage::SqliteStore;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(b"a").unwrap().as_str(), "a");
        let longest = "~".repeat(MAX_KEY_LEN);
        assert!(IdempotencyKey::parse(longest.as_bytes()).is_ok());
        assert_eq!(IdempotencyKey::parse(b""), Err(KeyError::Empty));
        assert_eq!(
            IdempotencyKey::parse("x".repeat(256).as_bytes()),
            Err(KeyError::TooLong { len: 256 })
        );
        for (bad, position) in [
            (&b"a b"[..], 2),
            (b"\x7f", 1),
            (b"ab\t", 3),
            ("é".as_bytes(), 1),
        ] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(KeyError::NotVisibleAscii { position }),
                "{bad:?}"
            );
        }
    }

    fn principal(id: &str, agent: Option<&str>) -> Principal {
        Principal {
            id: id.into(),
            kind: PrincipalKind::System,
            roles: vec![],
            credential: Credential::Token {
                id: 1,
                name: id.into(),
            },
            agent: agent.map(Into::into),
        }
    }

    #[test]
    fn callers_and_their_bound_agents_have_scopes_of_their_own() {
        let scopes = [
            caller_scope(&principal("bot", None)),
            caller_scope(&principal("bot", Some("a1"))),
            caller_scope(&principal("bot", Some("a2"))),
            caller_scope(&principal("other", None)),
        ];
        for (i, a) in scopes.iter().enumerate() {
            for b in &scopes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_fingerprint_covers_the_path_and_the_body() {
        let base = fingerprint("/api/agents/a1/costs", b"{}");
        assert_eq!(base, fingerprint("/api/agents/a1/costs", b"{}"));
        assert_ne!(base, fingerprint("/api/agents/a2/costs", b"{}"));
        assert_ne!(base, fingerprint("/api/agents/a1/costs", b"{ }"));
        // The length prefix keeps the path and the body apart.
        assert_ne!(fingerprint("/a", b"b"), fingerprint("/ab", b""));
    }

    fn service() -> IdempotencyService {
        let db = SqliteStore::open_in_memory().unwrap();
        db.initialize(&BreakerRule::defaults(), None, Timestamp::now())
            .unwrap();
        IdempotencyService::new(Arc::new(db), Arc::new(Metrics::default()), 3_600_000)
    }

    fn scope(key: &str) -> IdempotencyScope {
        IdempotencyScope {
            caller: "token:bot".into(),
            route: "POST /api/authorize".into(),
            key: key.into(),
        }
    }

    #[test]
    fn a_finished_key_replays_and_another_body_is_a_conflict() {
        let s = service();
        let now = Timestamp::now();
        let Begin::Proceed(ticket) = s.begin(scope("k"), "f1", now).unwrap() else {
            panic!("a new key is claimed");
        };
        // Still working: a duplicate is told to retry, not run.
        let busy = s.begin(scope("k"), "f1", now).unwrap_err();
        assert!(busy.to_string().contains("in progress"), "{busy}");
        let answer = StoredAnswer {
            status: 200,
            body: r#"{"decisionId":7}"#.into(),
        };
        s.finish(ticket, answer.clone(), now).unwrap();
        match s.begin(scope("k"), "f1", now).unwrap() {
            Begin::Replay(replayed) => assert_eq!(replayed, answer),
            other => panic!("expected the first answer, got {other:?}"),
        }
        let other = s.begin(scope("k"), "f2", now).unwrap_err();
        assert!(matches!(other, ServiceError::Conflict(_)), "{other}");
        assert!(
            other.to_string().contains("another request body"),
            "{other}"
        );
        // Past the retention the key is free again.
        let later = Timestamp(now.millis() + 3_600_000);
        assert!(matches!(
            s.begin(scope("k"), "f2", later).unwrap(),
            Begin::Proceed(_)
        ));
    }

    #[test]
    fn an_abandoned_key_runs_again() {
        let s = service();
        let now = Timestamp::now();
        let Begin::Proceed(ticket) = s.begin(scope("k"), "f1", now).unwrap() else {
            panic!("a new key is claimed");
        };
        s.abandon(ticket).unwrap();
        assert!(matches!(
            s.begin(scope("k"), "f1", now).unwrap(),
            Begin::Proceed(_)
        ));
    }
}
