//! Agents, budgets, per-agent breakers and task assignment.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::extract::{
    blocking, json_body, limit, optional_json_body, query, LimitQuery, MAX_LIMIT,
};
use crate::api::{ApiError, AppState};
use crate::domain::fleet::{Agent, AgentUpdate, AssignRequest, Assignment, CostReport, NewAgent};
use crate::domain::Timestamp;

#[utoipa::path(post, path = "/api/agents", tag = "agents", security(("bearer" = [])), request_body = NewAgent,
    responses((status = 201, body = Agent), (status = 400, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let who = caller.0;
    let agent: NewAgent = json_body(body)?;
    let agent = blocking(move || {
        Ok(state
            .services
            .fleet
            .register_agent(agent, &who.id, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [Agent])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Agent>>, ApiError> {
    blocking(move || Ok(Json(state.services.fleet.agents()?))).await
}

#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Agent), (status = 404, body = crate::api::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    blocking(move || Ok(Json(state.services.fleet.agent(&id)?))).await
}

/// Deducts a cost. When the budget reaches zero or below, the agent's
/// breaker trips with `budget_exhausted` (reported in `tripped`).
#[utoipa::path(post, path = "/api/agents/{id}/costs", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)), request_body = CostReport,
    responses((status = 200, body = AgentUpdate), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn cost(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AgentUpdate>, ApiError> {
    let who = caller.0;
    let cost: CostReport = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.fleet.record_cost(
            &id,
            cost,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureReport {
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Counts a failure; the policy's threshold trips `repeated_failures`.
/// The body is optional.
#[utoipa::path(post, path = "/api/agents/{id}/failures", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)), request_body = Option<FailureReport>,
    responses((status = 200, body = AgentUpdate), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn failure(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AgentUpdate>, ApiError> {
    let who = caller.0;
    let report = optional_json_body(body)?.unwrap_or(FailureReport {
        task_id: None,
        reason: None,
    });
    blocking(move || {
        Ok(Json(state.services.fleet.record_failure(
            &id,
            report.task_id.as_deref(),
            report.reason.as_deref(),
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripBody {
    #[schema(schema_with = crate::domain::text::text)]
    reason: String,
}

#[utoipa::path(post, path = "/api/agents/{id}/breaker/trip", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)), request_body = TripBody,
    responses((status = 200, body = Agent), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn trip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Agent>, ApiError> {
    let who = caller.0;
    let req: TripBody = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.fleet.trip_agent(
            &id,
            &req.reason,
            &who.id,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetBody {
    #[schema(exclusive_minimum = 0)]
    new_budget: f64,
}

#[utoipa::path(post, path = "/api/agents/{id}/breaker/reset", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)), request_body = ResetBody,
    responses((status = 200, body = Agent), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Agent>, ApiError> {
    let who = caller.0;
    let req: ResetBody = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.fleet.reset_agent(
            &id,
            req.new_budget,
            &who.id,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrippedBreaker {
    agent_id: String,
    reason: Option<String>,
    tripped_at: Option<Timestamp>,
    tripped_by: Option<String>,
    budget_remaining: f64,
    failures: u32,
}

#[utoipa::path(get, path = "/api/agents/breakers", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = [TrippedBreaker])))]
pub async fn breakers(
    State(state): State<AppState>,
) -> Result<Json<Vec<TrippedBreaker>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state
                .services
                .fleet
                .tripped()?
                .into_iter()
                .map(|a| TrippedBreaker {
                    agent_id: a.id,
                    reason: a.breaker.reason,
                    tripped_at: a.breaker.tripped_at,
                    tripped_by: a.breaker.tripped_by,
                    budget_remaining: a.budget_remaining,
                    failures: a.breaker.failures,
                })
                .collect(),
        ))
    })
    .await
}

/// The seed's budget report: remaining budget by agent.
#[utoipa::path(get, path = "/api/budgets", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = BTreeMap<String, f64>)))]
pub async fn budgets(
    State(state): State<AppState>,
) -> Result<Json<BTreeMap<String, f64>>, ApiError> {
    Ok(Json(
        state
            .services
            .fleet
            .snapshot()
            .iter()
            .map(|c| (c.id.clone(), c.budget_remaining))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/tasks/assign", tag = "agents", security(("bearer" = [])), request_body = AssignRequest,
    responses((status = 200, body = Assignment), (status = 400, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Assignment>, ApiError> {
    let who = caller.0;
    let req: AssignRequest = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.fleet.assign(
            req,
            &who.id,
            Timestamp::now(),
        )?))
    })
    .await
}

#[utoipa::path(get, path = "/api/assignments", tag = "agents", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [Assignment])))]
pub async fn assignments(
    State(state): State<AppState>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<Assignment>>, ApiError> {
    let limit = limit(query(q)?.limit, 50, MAX_LIMIT)?;
    blocking(move || Ok(Json(state.services.fleet.assignments(limit)?))).await
}
