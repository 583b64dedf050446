//! Who is calling: a local bearer token, or, with `[auth.oidc]`, a JWT from
//! the organization's identity provider, resolved to a [`Principal`] for
//! each request.
//!
//! The route's guard (see [`super::guard`]) resolves the caller and checks
//! the roles the router table declares for the route, then hands the
//! checked caller to the handler as [`Caller`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::{ApiError, AppState};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role};

pub use crate::service::access::{generate_token, hash_token, TokenCache, LOCAL_TOKEN_PREFIX};

/// A JWT is `header.payload.signature`; a local token has no dot.
fn looks_like_jwt(token: &str) -> bool {
    !token.starts_with(LOCAL_TOKEN_PREFIX) && token.split('.').count() == 3
}

/// The authenticated caller, already checked against the route's access
/// in the router table. Extracting it on a route whose guard did not run
/// fails closed (500): no handler sees an unchecked caller.
#[derive(Clone)]
pub struct Caller(pub Principal);

/// The caller of a route whose access admits anonymous calls (`/metrics`
/// without `[metrics] require_token`): `None` when no token was sent.
#[derive(Clone)]
pub struct OptionalCaller(pub Option<Principal>);

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

fn unguarded() -> ApiError {
    ApiError::Internal(
        "this route declares no access in the router table, so its caller was never checked".into(),
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts.extensions.remove::<Caller>().ok_or_else(unguarded)
    }
}

impl FromRequestParts<AppState> for OptionalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .remove::<OptionalCaller>()
            .ok_or_else(unguarded)
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
        let access = &state.services.access;
        if let Some(p) = access.cached_principal(&token) {
            return Ok(Some(Caller::local(p, oidc)));
        }
        let access = access.clone();
        let principal = tokio::task::spawn_blocking(move || access.resolve_token(&token))
            .await
            .map_err(|e| ApiError::fault("the token lookup task failed", e))??;
        principal
            .map(|p| Some(Caller::local(p, oidc)))
            .ok_or_else(|| {
                ApiError::Unauthorized("the token is not valid (unknown or revoked)".into())
            })
    }

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
