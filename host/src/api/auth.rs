//! Who is calling: a local bearer token, or, with `[auth.oidc]`, a JWT from
//! the organization's identity provider, or the console's session cookie
//! (a person who signed in with either), resolved to a [`Principal`] for
//! each request.
//!
//! The route's guard (see [`super::guard`]) resolves the caller and checks
//! the roles the router table declares for the route, then hands the
//! checked caller to the handler as [`Caller`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

use super::{ApiError, AppState};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role};
use crate::domain::Timestamp;
use crate::service::sessions::{constant_time_eq, Session};

pub use crate::service::access::{
    generate_token, hash_token, looks_like_jwt, TokenCache, LOCAL_TOKEN_PREFIX,
};

/// The authenticated caller, already checked against the route's access
/// in the router table. Extracting it on a route whose guard did not run
/// fails closed (500): no handler sees an unchecked caller.
#[derive(Clone)]
pub struct Caller(pub Principal);

/// The console's session cookie: its value is the session's secret.
pub const SESSION_COOKIE: &str = "regent_session";

/// The header a state-changing request authenticated by the session cookie
/// carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A caller, and the console session it was authenticated by, if any.
pub struct Authenticated {
    pub caller: Caller,
    pub session: Option<CookieSession>,
}

/// The console session that authenticated the request, for the session
/// routes (`GET` and `DELETE /api/session`). Absent when the caller sent a
/// bearer token.
#[derive(Clone)]
pub struct CookieSession {
    pub secret: String,
    pub session: Session,
}

/// Methods that change nothing: a cookie alone authenticates them, since a
/// page on another site that makes the browser send one learns nothing
/// from the reply (the same-origin policy keeps it from reading it).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session cookie's value, from any `Cookie` header; `None` when it is
/// absent or empty (a cleared cookie).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

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
    /// The caller, or `None` when the request carries neither an
    /// `Authorization` header nor the console's session cookie. The header
    /// wins when both are there. A header that is there but malformed, a
    /// token that is not valid, or a session cookie that names no live
    /// session is 401: a bad credential never passes as anonymous. A
    /// state-changing request authenticated by the cookie must carry the
    /// session's CSRF token (403 otherwise).
    pub async fn authenticate(
        method: &Method,
        headers: &HeaderMap,
        state: &AppState,
    ) -> Result<Option<Authenticated>, ApiError> {
        if headers.contains_key(axum::http::header::AUTHORIZATION) {
            return Ok(Self::from_bearer(headers, state)
                .await?
                .map(|caller| Authenticated {
                    caller,
                    session: None,
                }));
        }
        let Some(secret) = session_cookie(headers) else {
            return Ok(None);
        };
        let sessions = state.services.sessions.clone();
        let looked_up = secret.to_string();
        let session = tokio::task::spawn_blocking(move || {
            sessions.resolve(&looked_up, Timestamp::now())
        })
        .await
        .map_err(|e| ApiError::fault("the session lookup task failed", e))??
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the console session is not valid (unknown, ended or expired, or its token was revoked): sign in again".into(),
            )
        })?;
        if !is_safe(method) {
            let presented = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(&session.csrf_token, presented) {
                return Err(ApiError::Forbidden(
                    "a request authenticated by the console's session cookie must carry the X-CSRF-Token header from GET /api/session".into(),
                ));
            }
        }
        Ok(Some(Authenticated {
            caller: Caller(session.principal.clone()),
            session: Some(CookieSession {
                secret: secret.to_string(),
                session,
            }),
        }))
    }

    /// The caller named by the `Authorization` header, or `None` without one.
    async fn from_bearer(headers: &HeaderMap, state: &AppState) -> Result<Option<Self>, ApiError> {
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

    /// A local token's principal ([`Principal::as_local`]).
    fn local(principal: Principal, oidc: bool) -> Self {
        Caller(principal.as_local(oidc))
    }
}
