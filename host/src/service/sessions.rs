//! Console sessions: a person signs in once with a local token or the
//! identity provider's JWT, and the browser then holds only a session
//! secret, in an HttpOnly cookie the page's scripts cannot read.
//!
//! - The secret is `rgs_` and 256 bits from the OS; the store keeps its
//!   SHA-256 only, as it does for tokens.
//! - The CSRF token is derived from the secret
//!   (hex SHA-256 of `regent-console-csrf\0` + secret): a page on another
//!   site cannot compute it without the cookie it cannot read, and the
//!   server needs to store nothing to check it.
//! - A token session acts as its token does now: revoking the token ends
//!   the session at its next request. An identity provider's session
//!   carries the roles of its JWT and ends no later than the JWT's `exp`.
//! - The console is for people: the governed system's credentials
//!   (reporter, scraper, a token bound to an agent) are refused a session.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::access::{hash_token, looks_like_jwt};
use super::{AccessService, ServiceError, ServiceResult};
use crate::domain::auth::{Credential, Principal, PrincipalKind};
use crate::domain::Timestamp;
use crate::oidc::OidcVerifier;
use crate::storage::prelude::*;
use crate::storage::{NewSession, SessionCredential, SessionRecord, StorageError};

/// Every session secret starts with it.
pub const SESSION_PREFIX: &str = "rgs_";

/// What the CSRF token's hash starts with, so that it can never be mistaken
/// for (or equal) a hash computed for another purpose from the secret,
/// such as the stored one.
const CSRF_CONTEXT: &[u8] = b"regent-console-csrf\0";

/// A new session secret: `rgs_` and 64 hex digits.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SESSION_PREFIX}{}", hex::encode(bytes)))
}

/// The CSRF token of the session whose secret is `secret`.
pub fn csrf_token(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CSRF_CONTEXT);
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `presented` is `expected`, in time that does not depend on
/// where they first differ (only on the length, which is public).
pub fn constant_time_eq(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A live session, as a request authenticated by its cookie sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Who the session acts as now.
    pub principal: Principal,
    pub credential: SessionCredential,
    pub expires_at: Timestamp,
    /// What a state-changing request must carry in `X-CSRF-Token`.
    pub csrf_token: String,
}

/// A session just started, with its secret (shown once: only its hash is
/// stored).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub secret: String,
    pub session: Session,
}

/// Console sessions: sign-in, resolution for each request, sign-out.
pub struct SessionService {
    db: Arc<dyn Store>,
    access: Arc<AccessService>,
    /// Verifies JWTs when `[auth.oidc]` is configured.
    oidc: Option<Arc<OidcVerifier>>,
    /// `[console] session_ttl_minutes`, in milliseconds.
    ttl_ms: i64,
}

impl SessionService {
    pub fn new(
        db: Arc<dyn Store>,
        access: Arc<AccessService>,
        oidc: Option<Arc<OidcVerifier>>,
        ttl_ms: i64,
    ) -> Self {
        Self {
            db,
            access,
            oidc,
            ttl_ms,
        }
    }

    /// Signs a person in with `credential` (a local token, or with OIDC
    /// configured, the identity provider's JWT) and starts a session,
    /// audited as `session.start`. A credential that is not valid is
    /// `Unauthorized`; one of the governed system's is `Forbidden`.
    pub async fn sign_in(
        self: Arc<Self>,
        credential: &str,
        now: Timestamp,
    ) -> ServiceResult<SignedIn> {
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(ServiceError::Unauthorized(
                "no token given: sign in with a local token (`rgt_…`) or, where the identity provider is configured, its JWT".into(),
            ));
        }
        let new = match &self.oidc {
            Some(oidc) if looks_like_jwt(credential) => {
                let identity = oidc.verify(credential).await.map_err(|e| {
                    ServiceError::Unauthorized(format!(
                        "the identity provider's token is not valid: {e}"
                    ))
                })?;
                let principal = Principal {
                    id: identity.subject,
                    kind: PrincipalKind::Person,
                    roles: identity.roles,
                    credential: Credential::Oidc,
                    agent: None,
                };
                principal
                    .may_use_console()
                    .map_err(|e| ServiceError::Forbidden(e.to_string()))?;
                // Never past the JWT's own expiry: the identity provider's
                // word on who this is holds no longer than that.
                let by_ttl = now.millis().saturating_add(self.ttl_ms);
                let expires = identity
                    .expires_s
                    .map_or(by_ttl, |s| by_ttl.min(s.saturating_mul(1000)));
                (principal, SessionCredential::Oidc, Timestamp(expires))
            }
            _ => {
                let access = self.access.clone();
                let token = credential.to_string();
                let principal = blocking(move || access.resolve_token(&token))
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Unauthorized(
                            "the token is not valid (unknown or revoked)".into(),
                        )
                    })?;
                principal
                    .may_use_console()
                    .map_err(|e| ServiceError::Forbidden(e.to_string()))?;
                let expires = Timestamp(now.millis().saturating_add(self.ttl_ms));
                (principal, SessionCredential::Token, expires)
            }
        };
        let (principal, credential, expires_at) = new;
        let secret = generate_secret()
            .map_err(|e| ServiceError::Unavailable(format!("the OS gave no randomness: {e}")))?;
        let token_id = match &principal.credential {
            Credential::Token { id, .. } => Some(*id),
            _ => None,
        };
        let session = NewSession {
            secret_hash: hash_token(&secret),
            principal: principal.id.clone(),
            kind: principal.kind,
            roles: principal.roles.clone(),
            credential,
            token_id,
            agent: principal.agent.clone(),
            created_at: now,
            expires_at,
        };
        let db = self.db.clone();
        blocking(move || match db.create_session(&session) {
            // The token was revoked between its lookup and the session.
            Err(StorageError::Invalid(m)) => Err(ServiceError::Unauthorized(m)),
            other => Ok(other?),
        })
        .await?;
        let principal = match credential {
            SessionCredential::Token => principal.as_local(self.oidc.is_some()),
            SessionCredential::Oidc => principal,
        };
        Ok(SignedIn {
            session: Session {
                principal,
                credential,
                expires_at,
                csrf_token: csrf_token(&secret),
            },
            secret,
        })
    }

    /// The live session whose secret is `secret`, as of `now`; `None` when
    /// there is none: unknown, ended, expired, or its token revoked.
    /// Blocking: it reads the store.
    pub fn resolve(&self, secret: &str, now: Timestamp) -> ServiceResult<Option<Session>> {
        if !secret.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let Some(record) = self.db.session_by_hash(&hash_token(secret), now)? else {
            return Ok(None);
        };
        Ok(self
            .principal_of(record)
            .map(|(principal, record)| Session {
                principal,
                credential: record.credential,
                expires_at: record.expires_at,
                csrf_token: csrf_token(secret),
            }))
    }

    /// Who a live session acts as: its token's principal now, or the
    /// identity the identity provider vouched for at sign-in.
    fn principal_of(&self, record: SessionRecord) -> Option<(Principal, SessionRecord)> {
        let principal = match record.credential {
            SessionCredential::Token => record
                .token
                .as_ref()?
                .to_principal()
                .as_local(self.oidc.is_some()),
            // With `[auth.oidc]` removed, nothing vouches for these roles
            // any more.
            SessionCredential::Oidc if self.oidc.is_none() => return None,
            SessionCredential::Oidc => Principal {
                id: record.principal.clone(),
                kind: record.kind,
                roles: record.roles.clone(),
                credential: Credential::Oidc,
                agent: None,
            },
        };
        Some((principal, record))
    }

    /// Ends the session whose secret is `secret`, audited as
    /// `session.end`. `NotFound` when it is unknown or already ended.
    /// Blocking.
    pub fn sign_out(&self, secret: &str, now: Timestamp) -> ServiceResult<()> {
        self.db.end_session(&hash_token(secret), now)?;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ServiceResult<T> + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Fault {
            what: "the session task failed".into(),
            source: Box::new(e),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::{Role, TokenRequest};
    use crate::storage::SqliteStore;

    const HOUR_MS: i64 = 3_600_000;

    /// Without `[auth.oidc]`: the integration tests sign in with a JWT.
    fn service(db: Arc<SqliteStore>) -> Arc<SessionService> {
        let plugins = Arc::new(crate::runtime::ActivePlugins::new(
            crate::runtime::PluginSet::default(),
        ));
        let access = Arc::new(AccessService::new(db.clone(), plugins, false));
        Arc::new(SessionService::new(db, access, None, 8 * HOUR_MS))
    }

    fn mint(db: &SqliteStore, token: &str, roles: &[Role], agent: Option<&str>) -> i64 {
        let request = TokenRequest {
            name: token.into(),
            roles: roles.to_vec(),
            principal: token.into(),
            principal_named: true,
            kind: PrincipalKind::default_for(roles),
            agent: agent.map(Into::into),
        };
        db.create_token(&request, &hash_token(token), "test", Timestamp::now())
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn a_session_lasts_its_ttl_and_not_a_millisecond_more() {
        let db = Arc::new(SqliteStore::open_in_memory().unwrap());
        mint(&db, "rgt_ops", &[Role::Operator], None);
        let sessions = service(db);
        let t0 = Timestamp::now();
        let signed = sessions.clone().sign_in("rgt_ops", t0).await.unwrap();
        assert!(signed.secret.starts_with(SESSION_PREFIX));
        assert_eq!(signed.secret.len(), 4 + 64);
        assert_eq!(
            signed.session.expires_at,
            Timestamp(t0.millis() + 8 * HOUR_MS)
        );
        assert_eq!(signed.session.csrf_token, csrf_token(&signed.secret));

        let just_before = Timestamp(t0.millis() + 8 * HOUR_MS - 1);
        let live = sessions
            .resolve(&signed.secret, just_before)
            .unwrap()
            .unwrap();
        assert_eq!(live.principal.id, "rgt_ops");
        assert!(live.principal.holds(Role::Operator));
        let at_expiry = signed.session.expires_at;
        assert_eq!(sessions.resolve(&signed.secret, at_expiry).unwrap(), None);
        let later = Timestamp(t0.millis() + 9 * HOUR_MS);
        assert_eq!(sessions.resolve(&signed.secret, later).unwrap(), None);
    }

    #[tokio::test]
    async fn the_governed_systems_tokens_get_no_session() {
        let db = Arc::new(SqliteStore::open_in_memory().unwrap());
        let agent = crate::domain::fleet::NewAgent {
            id: "bot".into(),
            capabilities: vec![],
            cost_per_hour: 1.0,
            reputation: 1.0,
            budget: 10.0,
            model: None,
        };
        db.register_agent(&agent, "test", Timestamp::now()).unwrap();
        mint(&db, "rgt_reporter", &[Role::Reporter], None);
        mint(&db, "rgt_scraper", &[Role::Scraper], None);
        mint(
            &db,
            "rgt_bound",
            &[Role::Reporter, Role::Viewer],
            Some("bot"),
        );
        let sessions = service(db);
        for (token, why) in [
            ("rgt_reporter", "`reporter`"),
            ("rgt_scraper", "`scraper`"),
            ("rgt_bound", "agent `bot`"),
        ] {
            let refused = sessions.clone().sign_in(token, Timestamp::now()).await;
            match refused {
                Err(ServiceError::Forbidden(m)) => assert!(m.contains(why), "{token}: {m}"),
                other => panic!("{token}: {other:?}"),
            }
        }
        match sessions
            .clone()
            .sign_in("rgt_nobody", Timestamp::now())
            .await
        {
            Err(ServiceError::Unauthorized(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_token_session_ends_when_its_token_is_revoked() {
        let db = Arc::new(SqliteStore::open_in_memory().unwrap());
        let id = mint(&db, "rgt_lead", &[Role::Viewer, Role::TechLead], None);
        let sessions = service(db.clone());
        let signed = sessions
            .clone()
            .sign_in("rgt_lead", Timestamp::now())
            .await
            .unwrap();
        let live = sessions
            .resolve(&signed.secret, Timestamp::now())
            .unwrap()
            .unwrap();
        assert_eq!(live.principal.roles, [Role::Viewer, Role::TechLead]);
        assert!(matches!(
            live.principal.credential,
            Credential::Token { id: token, .. } if token == id
        ));

        db.revoke_token(id, "admin", Timestamp::now()).unwrap();
        assert_eq!(
            sessions.resolve(&signed.secret, Timestamp::now()).unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn signing_out_ends_the_session_once() {
        let db = Arc::new(SqliteStore::open_in_memory().unwrap());
        mint(&db, "rgt_ops", &[Role::Operator], None);
        let sessions = service(db);
        let signed = sessions
            .clone()
            .sign_in("rgt_ops", Timestamp::now())
            .await
            .unwrap();
        sessions.sign_out(&signed.secret, Timestamp::now()).unwrap();
        assert_eq!(
            sessions.resolve(&signed.secret, Timestamp::now()).unwrap(),
            None
        );
        assert!(matches!(
            sessions.sign_out(&signed.secret, Timestamp::now()),
            Err(ServiceError::NotFound(_))
        ));
        // A secret of another shape is not even looked up.
        assert_eq!(sessions.resolve("rgt_ops", Timestamp::now()).unwrap(), None);
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_secret_and_compared_in_constant_time() {
        let a = csrf_token("rgs_a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_token("rgs_b"));
        assert_ne!(a, hash_token("rgs_a"), "never the stored hash");
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &csrf_token("rgs_b")));
        assert!(!constant_time_eq(&a, &a[..63]));
        assert!(!constant_time_eq(&a, ""));
    }
}
