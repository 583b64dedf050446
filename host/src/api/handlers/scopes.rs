//! Scoped authority: each scope's autonomy grant and its own stop.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body};
use crate::api::{ApiError, AppState};
use crate::domain::auth::Principal;
use crate::domain::scopes::Scope;
use crate::domain::Timestamp;
use crate::wire::{ReasonBody, ReplicaConfirmation};

// What `PUT /api/scopes/{scope}` takes. (No doc comment: it would become
// the schema's description.)
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeAutonomyBody {
    /// `true` grants autonomy in the scope, `false` revokes it.
    pub autonomous: bool,
    #[schema(schema_with = crate::domain::text::text_1000)]
    pub reason: String,
}

// What a change to a scope answers. (No doc comment: it would become the
// schema's description.)
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeReply {
    #[serde(flatten)]
    pub scope: Scope,
    /// False when the call found the scope already in that state.
    pub changed: bool,
    /// Every live replica (this one first), and whether it applied the
    /// change within `[cluster] stop_confirm_ms`.
    pub replicas: Vec<ReplicaConfirmation>,
    /// Why the live replicas could not be read, when they could not.
    pub confirmation_error: Option<String>,
}

/// Every configured scope. A scope not listed has no brake of its own:
/// its autonomy follows the phase.
#[utoipa::path(get, path = "/api/scopes", tag = "scopes", security(("bearer" = [])),
    responses((status = 200, body = [Scope])))]
pub async fn list_scopes(State(state): State<AppState>) -> Result<Json<Vec<Scope>>, ApiError> {
    blocking(move || Ok(Json(state.services.scopes.scopes()?))).await
}

#[utoipa::path(get, path = "/api/scopes/{scope}", tag = "scopes", security(("bearer" = [])), params(("scope" = String, Path)),
    responses((status = 200, body = Scope), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn get_scope(
    State(state): State<AppState>,
    Path(scope): Path<String>,
) -> Result<Json<Scope>, ApiError> {
    blocking(move || Ok(Json(state.services.scopes.scope(&scope)?))).await
}

/// Grants (`autonomous: true`) or revokes autonomy in a scope. A revoked
/// scope denies every decision in it that would otherwise be autonomous;
/// the other scopes go on. Setting what is set answers 200, unchanged.
#[utoipa::path(put, path = "/api/scopes/{scope}", tag = "scopes", security(("bearer" = [])), params(("scope" = String, Path)), request_body = ScopeAutonomyBody,
    responses((status = 200, body = ScopeReply), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn set_autonomy(
    State(state): State<AppState>,
    caller: Caller,
    Path(scope): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScopeReply>, ApiError> {
    let req: ScopeAutonomyBody = json_body(body)?;
    let who = caller.0;
    blocking(move || {
        let (scope, changed) = state.services.scopes.set_autonomy(
            &scope,
            req.autonomous,
            &req.reason,
            &who,
            Timestamp::now(),
        )?;
        Ok(Json(confirmed(&state, scope, changed)))
    })
    .await
}

/// Stops a scope: every authorize call in it is denied until resumed,
/// whatever its grant. Stopping while stopped answers 200, unchanged.
#[utoipa::path(post, path = "/api/scopes/{scope}/stop", tag = "scopes", security(("bearer" = [])), params(("scope" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = ScopeReply), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(scope): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScopeReply>, ApiError> {
    set_stop(state, caller.0, scope, body, true).await
}

/// Lifts a scope's stop; 409 when it is not stopped.
#[utoipa::path(post, path = "/api/scopes/{scope}/resume", tag = "scopes", security(("bearer" = [])), params(("scope" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = ScopeReply), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(scope): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScopeReply>, ApiError> {
    set_stop(state, caller.0, scope, body, false).await
}

async fn set_stop(
    state: AppState,
    who: Principal,
    scope: String,
    body: Result<Bytes, BytesRejection>,
    stop: bool,
) -> Result<Json<ScopeReply>, ApiError> {
    let req: ReasonBody = json_body(body)?;
    blocking(move || {
        let (scope, changed) =
            state
                .services
                .scopes
                .set_stop(&scope, stop, &req.reason, &who, Timestamp::now())?;
        Ok(Json(confirmed(&state, scope, changed)))
    })
    .await
}

/// The reply to a committed change: how far it reached, as for the
/// emergency stop (bounded by `[cluster] stop_confirm_ms`). Blocking.
fn confirmed(state: &AppState, scope: Scope, changed: bool) -> ScopeReply {
    let confirmations = state.services.replicas.confirm_applied(Timestamp::now());
    if confirmations.replicas.iter().any(|r| !r.confirmed) || confirmations.error.is_some() {
        tracing::warn!(scope = %scope.scope, error = ?confirmations.error, "replicas have not confirmed a scope change");
    }
    ScopeReply {
        scope,
        changed,
        replicas: confirmations.replicas.into_iter().map(Into::into).collect(),
        confirmation_error: confirmations.error,
    }
}
