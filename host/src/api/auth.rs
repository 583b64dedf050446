//! Who is calling: a local bearer token, or, with `[auth.oidc]`, a JWT from
//! the organization's identity provider, resolved to a [`Principal`] for
//! each request.
//!
//! Local tokens are generated with 256 bits from the OS and stored as
//! SHA-256 (a token is random, not a password, so a fast hash is enough).
//! They start with `rgt_` and hold no dot; a bearer value of three
//! dot-separated parts is taken as a JWT when OIDC is configured.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role};
use crate::storage::Database;

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
/// revoked, so a revocation takes effect on the next request.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Principal>>,
}

impl TokenCache {
    pub fn clear(&self) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// A token already resolved: no query, so no trip to the blocking pool.
    pub fn cached(&self, token: &str) -> Option<Principal> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash_token(token))
            .cloned()
    }

    pub fn resolve(&self, db: &Database, token: &str) -> Result<Option<Principal>, ApiError> {
        if let Some(p) = self.cached(token) {
            return Ok(Some(p));
        }
        let hash = hash_token(token);
        let Some(record) = db.token_by_hash(&hash)? else {
            return Ok(None);
        };
        let principal = record.to_principal();
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, principal.clone());
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
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
            })?;
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
                return Ok(Caller(Principal {
                    id: identity.subject,
                    kind: PrincipalKind::Person,
                    roles: identity.roles,
                    credential: Credential::Oidc,
                    agent: None,
                }));
            }
        }
        let oidc = state.oidc.is_some();
        if let Some(p) = state.tokens.cached(&token) {
            return Ok(Caller::local(p, oidc));
        }
        let state = state.clone();
        let principal =
            tokio::task::spawn_blocking(move || state.tokens.resolve(&state.db, &token))
                .await
                .map_err(|e| ApiError::Internal(format!("token lookup failed: {e}")))??;
        principal.map(|p| Caller::local(p, oidc)).ok_or_else(|| {
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
