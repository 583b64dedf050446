//! Engines' events, auto-actions, risk reports and stats.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::extract::{
    blocking, json_body, limit, query, LimitQuery, ShortLimitQuery, MAX_LIMIT, MAX_SHORT_LIMIT,
};
use crate::api::{ApiError, AppState};
use crate::domain::events::{ActionRecord, EngineEvent, EventStats, NewEvent, RiskReport};
use crate::domain::{Severity, Timestamp};

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventCreated {
    id: i64,
    /// The auto-action chosen, for a HIGH or CRITICAL event.
    action: Option<String>,
}

#[utoipa::path(post, path = "/api/governance/event", tag = "events", security(("bearer" = [])), request_body = NewEvent,
    responses((status = 201, body = EventCreated), (status = 400, body = crate::api::ErrorBody)))]
pub async fn post_event(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EventCreated>), ApiError> {
    let who = caller.0;
    let event: NewEvent = json_body(body)?;
    let stored = blocking(move || {
        Ok(state
            .services
            .events
            .log_event(event, &who.id, Timestamp::now())?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(EventCreated {
            id: stored.id,
            action: stored.action,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
    engine: Option<String>,
    /// low, medium, high or critical, in any case.
    #[param(pattern = "^(?i:low|medium|high|critical)$")]
    severity: Option<String>,
}

#[utoipa::path(get, path = "/api/governance/events", tag = "events", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, body = [EngineEvent]), (status = 400, body = crate::api::ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    q: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<Vec<EngineEvent>>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit, 50, MAX_LIMIT)?;
    let severity = q
        .severity
        .map(|s| s.parse::<Severity>())
        .transpose()
        .map_err(ApiError::BadRequest)?;
    blocking(move || {
        Ok(Json(state.services.events.events(
            limit,
            q.engine.as_deref(),
            severity,
        )?))
    })
    .await
}

/// Auto-actions and agent escalations, newest first, with their webhook
/// delivery status.
#[utoipa::path(get, path = "/api/governance/actions", tag = "events", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [ActionRecord])))]
pub async fn actions(
    State(state): State<AppState>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<ActionRecord>>, ApiError> {
    let limit = limit(query(q)?.limit, 50, MAX_LIMIT)?;
    blocking(move || Ok(Json(state.services.events.actions(limit)?))).await
}

/// Scores the last 7 days of events with the risk-scorer plugin and stores
/// the report.
#[utoipa::path(post, path = "/api/governance/report", tag = "events", security(("bearer" = [])),
    responses((status = 201, body = RiskReport), (status = 403, body = crate::api::ErrorBody), (status = 503, body = crate::api::ErrorBody)))]
pub async fn generate_report(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<RiskReport>), ApiError> {
    let who = caller.0;
    let report = blocking(move || {
        Ok(state
            .services
            .events
            .risk_report(&who.id, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(report)))
}

#[utoipa::path(get, path = "/api/governance/risk-reports", tag = "events", security(("bearer" = [])), params(ShortLimitQuery),
    responses((status = 200, body = [RiskReport])))]
pub async fn risk_reports(
    State(state): State<AppState>,
    q: Result<Query<ShortLimitQuery>, QueryRejection>,
) -> Result<Json<Vec<RiskReport>>, ApiError> {
    let limit = limit(query(q)?.limit, 10, MAX_SHORT_LIMIT)?;
    blocking(move || Ok(Json(state.services.events.risk_reports(limit)?))).await
}

#[utoipa::path(get, path = "/api/governance/stats", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = EventStats)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<EventStats>, ApiError> {
    blocking(move || Ok(Json(state.services.events.event_stats(Timestamp::now())?))).await
}
