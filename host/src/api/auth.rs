//! Who is calling: a local bearer token, or, with `[auth.oidc]`, a JWT from
//! the organization's identity provider, resolved to a [`Principal`] for
//! each request.
//!
//! Local tokens are generated with 256 bits from the OS and stored as
//! SHA-256 (a token is random, not a password, so a fast hash is enough).
//! They start with `rgt_` and hold no dot; a bearer value of three
//! dot-separated parts is taken as a JWT when OIDC is configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role};
use crate::storage::prelude::*;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Every local token starts with it; a JWT never does.
pub const LOCAL_TOKEN_PREFIX: &str = "rgt_";

/// A JWT is `header.payload.signature`; a local token has no dot.
fn looks_like_jwt(token: &str) -> bool {
    !token.starts_with(LOCAL_TOKEN_PREFIX) && token.split('.').count() == 3
}

/// A new secret: `rgt_` and 64 hex digits.
pub fn generate_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("the OS gave no randomness: {e}")))?;
    Ok(format!("{LOCAL_TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Resolved tokens by hash. Cleared whenever a token is created or
/// revoked, after the change commits, so a revocation takes effect on the
/// next request.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Principal>>,
    /// Bumped by every [`TokenCache::clear`]. A lookup that read the store
    /// before a clear must not cache what it read: the token it found may
    /// have been revoked since, and caching it would keep it valid forever.
    generation: AtomicU64,
}

impl TokenCache {
    pub fn clear(&self) {
        let mut by_hash = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        by_hash.clear();
    }

    /// A token already resolved: no query, so no trip to the blocking pool.
    pub fn cached(&self, token: &str) -> Option<Principal> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash_token(token))
            .cloned()
    }

    pub fn resolve(&self, db: &dyn Store, token: &str) -> Result<Option<Principal>, ApiError> {
        self.resolve_with(token, |hash| {
            Ok(db.token_by_hash(hash)?.map(|r| r.to_principal()))
        })
    }

    /// Looks a token up with `lookup` (given its hash) and caches what it
    /// finds unless the cache was cleared meanwhile.
    fn resolve_with(
        &self,
        token: &str,
        lookup: impl FnOnce(&str) -> Result<Option<Principal>, ApiError>,
    ) -> Result<Option<Principal>, ApiError> {
        if let Some(p) = self.cached(token) {
            return Ok(Some(p));
        }
        let hash = hash_token(token);
        // Read before the lookup: a clear that lands after this point,
        // even while the lookup runs, shows as a changed generation.
        let seen = self.generation.load(Ordering::SeqCst);
        let Some(principal) = lookup(&hash)? else {
            return Ok(None);
        };
        let mut by_hash = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the write lock, which `clear` also takes, so no
        // clear can slip in between the check and the insert.
        if self.generation.load(Ordering::SeqCst) == seen {
            by_hash.insert(hash, principal.clone());
        }
        Ok(Some(principal))
    }
}

/// The authenticated caller. Extracting it answers 401 without a valid
/// token; [`Caller::require`] answers 403 without the role.
pub struct Caller(pub Principal);

impl Caller {
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        if self.0.holds(role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the `{role}` role; `{}` holds {}",
                self.0.id,
                self.0
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(&parts.headers, state)
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
            })
    }
}

impl Caller {
    /// The caller, or `None` when the request carries no `Authorization`
    /// header. A header that is there but malformed, or a token that is not
    /// valid, is 401: a bad credential never passes as anonymous.
    pub async fn from_headers(
        headers: &HeaderMap,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?
            .to_string();
        if looks_like_jwt(&token) {
            if let Some(oidc) = &state.oidc {
                let identity = oidc.verify(&token).await.map_err(|e| {
                    ApiError::Unauthorized(format!(
                        "the identity provider's token is not valid: {e}"
                    ))
                })?;
                return Ok(Some(Caller(Principal {
                    id: identity.subject,
                    kind: PrincipalKind::Person,
                    roles: identity.roles,
                    credential: Credential::Oidc,
                    agent: None,
                })));
            }
        }
        let oidc = state.oidc.is_some();
        if let Some(p) = state.tokens.cached(&token) {
            return Ok(Some(Caller::local(p, oidc)));
        }
        let state = state.clone();
        let principal =
            tokio::task::spawn_blocking(move || state.tokens.resolve(&*state.db, &token))
                .await
                .map_err(|e| ApiError::fault("the token lookup task failed", e))??;
        principal
            .map(|p| Some(Caller::local(p, oidc)))
            .ok_or_else(|| {
                ApiError::Unauthorized("the token is not valid (unknown or revoked)".into())
            })
    }
}

impl Caller {
    /// A local token's principal. With OIDC configured, approver roles come
    /// only from the identity provider: a local token minted before OIDC
    /// was turned on keeps its other roles but approves and attests nothing.
    fn local(mut principal: Principal, oidc: bool) -> Self {
        if oidc {
            principal.roles.retain(|r| !r.is_approver());
        }
        Caller(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::{Role, TokenRequest};
    use crate::domain::Timestamp;

    fn store_with_token(token: &str) -> (crate::storage::SqliteStore, i64) {
        let db = crate::storage::SqliteStore::open_in_memory().unwrap();
        let request = TokenRequest {
            name: "ci".into(),
            roles: vec![Role::Reporter],
            principal: "ci".into(),
            principal_named: true,
            kind: PrincipalKind::System,
            agent: None,
        };
        let record = db
            .create_token(&request, &hash_token(token), "test", Timestamp::now())
            .unwrap();
        (db, record.id)
    }

    /// The race: a request reads the token, the token is revoked and the
    /// cache cleared, then the request caches what it read. Without the
    /// generation check the revoked token stayed valid until the next clear.
    #[test]
    fn a_token_revoked_while_it_is_resolved_fails_on_the_next_request() {
        let token = "rgt_race";
        let (db, id) = store_with_token(token);
        let cache = TokenCache::default();
        let in_flight = cache
            .resolve_with(token, |hash| {
                let read = db.token_by_hash(hash)?.map(|r| r.to_principal());
                // The revocation commits and clears while this lookup runs.
                db.revoke_token(id, "admin", Timestamp::now())?;
                cache.clear();
                Ok(read)
            })
            .unwrap();
        assert!(in_flight.is_some(), "the request already under way passes");
        assert_eq!(cache.cached(token), None, "nothing stale was cached");
        assert_eq!(cache.resolve(&db, token).unwrap(), None, "the next fails");
    }

    #[test]
    fn a_resolved_token_is_cached_until_a_clear() {
        let token = "rgt_cached";
        let (db, id) = store_with_token(token);
        let cache = TokenCache::default();
        let principal = cache.resolve(&db, token).unwrap().unwrap();
        assert_eq!(cache.cached(token), Some(principal));
        db.revoke_token(id, "admin", Timestamp::now()).unwrap();
        cache.clear();
        assert_eq!(cache.resolve(&db, token).unwrap(), None);
    }
}
