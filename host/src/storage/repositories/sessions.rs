//! The console's sign-in sessions: a person who signed in with a local
//! token or the identity provider's JWT, known by the SHA-256 of the
//! session's secret (the secret itself lives only in the browser's
//! HttpOnly cookie).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::domain::auth::{PrincipalKind, Role};
use crate::domain::Timestamp;
use crate::storage::{StorageError, TokenRecord};

/// What a session was signed in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionCredential {
    /// A local token (`rgt_…`): the session lives only while the token does.
    Token,
    /// A JWT from the identity provider: the session ends by the JWT's `exp`.
    Oidc,
}

impl SessionCredential {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionCredential::Token => "token",
            SessionCredential::Oidc => "oidc",
        }
    }
}

impl fmt::Display for SessionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionCredential {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "token" => Ok(SessionCredential::Token),
            "oidc" => Ok(SessionCredential::Oidc),
            other => Err(format!(
                "unknown session credential `{other}` (expected token or oidc)"
            )),
        }
    }
}

/// A session to store: who signed in, with what, until when.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// SHA-256 of the session's secret, hex.
    pub secret_hash: String,
    pub principal: String,
    pub kind: PrincipalKind,
    /// The roles at sign-in; a token session reads its token's instead.
    pub roles: Vec<Role>,
    pub credential: SessionCredential,
    /// The local token signed in with (`credential` = token only).
    pub token_id: Option<i64>,
    pub agent: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A stored session. Never its secret, nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: i64,
    pub principal: String,
    pub kind: PrincipalKind,
    pub roles: Vec<Role>,
    pub credential: SessionCredential,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// For a token session read by [`SessionRepository::session_by_hash`],
    /// the token as it is now (live): who the session acts as.
    #[serde(skip)]
    pub token: Option<TokenRecord>,
}

/// Console sessions. Starting and ending one are each one unit of work
/// with their audit entry (`session.start`, `session.end`, by the
/// session's principal).
pub trait SessionRepository: Send + Sync {
    /// Stores a session. A token session needs its token live, checked in
    /// the same transaction (a revocation racing the sign-in wins).
    fn create_session(&self, session: &NewSession) -> Result<SessionRecord, StorageError>;

    /// The session whose secret hashes to `hash`, if it is live at `now`:
    /// not ended, not expired, and for a token session, its token not
    /// revoked (then `token` holds the token as it is now).
    fn session_by_hash(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StorageError>;

    /// Ends the session whose secret hashes to `hash`. `NotFound` when
    /// there is none or it has already ended.
    fn end_session(&self, hash: &str, now: Timestamp) -> Result<SessionRecord, StorageError>;

    /// Deletes at most `batch` sessions that ended or expired before
    /// `cutoff`, in one transaction; returns how many went. Their start and
    /// end stay in the audit log.
    fn prune_sessions(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError>;
}

/// The audit entry's `after` for a session: who, with what, until when.
pub(crate) fn audited(session: &SessionRecord) -> serde_json::Value {
    serde_json::json!({
        "principal": session.principal,
        "credential": session.credential,
        "tokenId": session.token_id,
        "roles": session.roles,
        "expiresAt": session.expires_at,
        "endedAt": session.ended_at,
    })
}
