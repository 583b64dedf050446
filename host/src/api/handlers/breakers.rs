//! Circuit-breaker rules and events.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, limit, query, ShortLimitQuery, MAX_SHORT_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::breaker::{BreakerEvent, BreakerRule, RulePatch};
use crate::domain::Timestamp;

#[utoipa::path(get, path = "/api/circuit-breaker/events", tag = "circuit-breaker", security(("bearer" = [])), params(ShortLimitQuery),
    responses((status = 200, body = [BreakerEvent])))]
pub async fn events(
    State(state): State<AppState>,
    q: Result<Query<ShortLimitQuery>, QueryRejection>,
) -> Result<Json<Vec<BreakerEvent>>, ApiError> {
    let limit = limit(query(q)?.limit, 20, MAX_SHORT_LIMIT)?;
    blocking(move || Ok(Json(state.services.breakers.events(limit)?))).await
}

#[utoipa::path(get, path = "/api/circuit-breaker/events/unresolved", tag = "circuit-breaker", security(("bearer" = [])),
    responses((status = 200, body = [BreakerEvent])))]
pub async fn unresolved(
    State(state): State<AppState>,
) -> Result<Json<Vec<BreakerEvent>>, ApiError> {
    blocking(move || Ok(Json(state.services.breakers.unresolved_events()?))).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    #[schema(schema_with = crate::domain::text::text)]
    resolution: String,
}

#[utoipa::path(post, path = "/api/circuit-breaker/events/{id}/resolve", tag = "circuit-breaker", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ResolveBody,
    responses((status = 200, body = BreakerEvent), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BreakerEvent>, ApiError> {
    let who = caller.0;
    let req: ResolveBody = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.breakers.resolve_event(
            id,
            &req.resolution,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[utoipa::path(get, path = "/api/circuit-breaker/rules", tag = "circuit-breaker", security(("bearer" = [])),
    responses((status = 200, body = [BreakerRule])))]
pub async fn rules(State(state): State<AppState>) -> Result<Json<Vec<BreakerRule>>, ApiError> {
    blocking(move || Ok(Json(state.services.breakers.rules()?))).await
}

#[utoipa::path(get, path = "/api/circuit-breaker/rules/enabled", tag = "circuit-breaker", security(("bearer" = [])),
    responses((status = 200, body = [BreakerRule])))]
pub async fn enabled_rules(
    State(state): State<AppState>,
) -> Result<Json<Vec<BreakerRule>>, ApiError> {
    blocking(move || Ok(Json(state.services.breakers.enabled_rules()?))).await
}

/// Adds a rule; its condition is validated by its plugin first.
#[utoipa::path(post, path = "/api/circuit-breaker/rules", tag = "circuit-breaker", security(("bearer" = [])), request_body = BreakerRule,
    responses((status = 201, body = BreakerRule), (status = 400, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BreakerRule>), ApiError> {
    let who = caller.0;
    let rule: BreakerRule = json_body(body)?;
    let rule = blocking(move || {
        Ok(state
            .services
            .breakers
            .add_rule(rule, &who, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(patch, path = "/api/circuit-breaker/rules/{name}", tag = "circuit-breaker", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = RulePatch,
    responses((status = 200, body = BreakerRule), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn patch_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BreakerRule>, ApiError> {
    let who = caller.0;
    let patch: RulePatch = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.breakers.patch_rule(
            &name,
            &patch,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[utoipa::path(delete, path = "/api/circuit-breaker/rules/{name}", tag = "circuit-breaker", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = BreakerRule), (status = 404, body = crate::api::ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<BreakerRule>, ApiError> {
    let who = caller.0;
    blocking(move || {
        Ok(Json(state.services.breakers.delete_rule(
            &name,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

/// Runs one check now; returns the events it created.
#[utoipa::path(post, path = "/api/circuit-breaker/check", tag = "circuit-breaker", security(("bearer" = [])),
    responses((status = 200, body = [BreakerEvent])))]
pub async fn check(State(state): State<AppState>) -> Result<Json<Vec<BreakerEvent>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state.services.breakers.check_breakers(Timestamp::now())?,
        ))
    })
    .await
}
