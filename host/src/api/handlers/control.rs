//! The enforcement point, the emergency stop and workflows.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, limit, optional_json_body, query, MAX_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::auth::Principal;
use crate::domain::control::{
    AuthorizeRequest, Decision, DecisionRecord, NewStep, NewWorkflow, Step, Workflow,
    WorkflowStatus,
};
use crate::domain::Timestamp;
use crate::service::AuthorizeReply;
use crate::wire::{EmergencyStopStatus, ReasonBody, StopReply};

/// Asks whether a command may run now. Answers once the decision is in the
/// decision log, whose id it returns.
#[utoipa::path(post, path = "/api/authorize", tag = "control", security(("bearer" = [])), request_body = AuthorizeRequest,
    responses((status = 200, body = AuthorizeReply), (status = 400, body = crate::api::ErrorBody), (status = 503, body = crate::api::ErrorBody)))]
pub async fn authorize(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthorizeReply>, ApiError> {
    let req: AuthorizeRequest = json_body(body)?;
    Ok(Json(
        state.services.control.authorize(req, &caller.0).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionQuery {
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
    command_type: Option<String>,
    #[param(value_type = Option<Decision>)]
    decision: Option<String>,
    /// Only the decisions asked in this scope.
    scope: Option<String>,
}

#[utoipa::path(get, path = "/api/decisions", tag = "control", security(("bearer" = [])), params(DecisionQuery),
    responses((status = 200, body = [DecisionRecord]), (status = 400, body = crate::api::ErrorBody)))]
pub async fn decisions(
    State(state): State<AppState>,
    q: Result<Query<DecisionQuery>, QueryRejection>,
) -> Result<Json<Vec<DecisionRecord>>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit, 50, MAX_LIMIT)?;
    let decision = q
        .decision
        .map(|d| d.parse::<Decision>())
        .transpose()
        .map_err(ApiError::BadRequest)?;
    blocking(move || {
        Ok(Json(state.services.control.decisions(
            limit,
            q.command_type.as_deref(),
            decision,
            q.scope.as_deref(),
        )?))
    })
    .await
}

#[utoipa::path(get, path = "/api/emergency-stop", tag = "control", security(("bearer" = [])),
    responses((status = 200, body = EmergencyStopStatus)))]
pub async fn stop_status(
    State(state): State<AppState>,
) -> Result<Json<EmergencyStopStatus>, ApiError> {
    blocking(move || Ok(Json(state.services.control.emergency_stop_status()?.into()))).await
}

/// Denies every authorize call and every assignment until resumed.
/// Stopping while stopped changes nothing and answers 200. Answers once
/// every live replica applied it, or after `[cluster] stop_confirm_ms`,
/// naming those that had not.
#[utoipa::path(post, path = "/api/emergency-stop", tag = "control", security(("bearer" = [])), request_body = ReasonBody,
    responses((status = 200, body = StopReply), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StopReply>, ApiError> {
    set_stop(state, caller, body, true).await
}

#[utoipa::path(post, path = "/api/emergency-stop/resume", tag = "control", security(("bearer" = [])), request_body = ReasonBody,
    responses((status = 200, body = StopReply), (status = 400, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StopReply>, ApiError> {
    set_stop(state, caller, body, false).await
}

async fn set_stop(
    state: AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    stop: bool,
) -> Result<Json<StopReply>, ApiError> {
    let who = caller.0;
    let req: ReasonBody = json_body(body)?;
    blocking(move || {
        let (status, changed) =
            state
                .services
                .control
                .set_emergency_stop(stop, &req.reason, &who, Timestamp::now())?;
        // Committed: now, how far it reached (bounded by
        // `[cluster] stop_confirm_ms`).
        let confirmations = state.services.replicas.confirm_applied(Timestamp::now());
        let unconfirmed: Vec<&str> = confirmations
            .replicas
            .iter()
            .filter(|r| !r.confirmed)
            .map(|r| r.id.as_str())
            .collect();
        if !unconfirmed.is_empty() || confirmations.error.is_some() {
            tracing::warn!(stop, ?unconfirmed, error = ?confirmations.error, "replicas have not confirmed the emergency stop change");
        }
        Ok(Json(StopReply {
            status: status.into(),
            changed,
            replicas: confirmations.replicas.into_iter().map(Into::into).collect(),
            confirmation_error: confirmations.error,
        }))
    })
    .await
}

#[utoipa::path(post, path = "/api/workflows", tag = "workflows", security(("bearer" = [])), request_body = NewWorkflow,
    responses((status = 201, body = Workflow), (status = 400, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn register_workflow(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Workflow>), ApiError> {
    let who = caller.0;
    let req: NewWorkflow = json_body(body)?;
    let w = blocking(move || {
        Ok(state
            .services
            .control
            .register_workflow(req, &who, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(w)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WorkflowQuery {
    #[param(value_type = Option<WorkflowStatus>)]
    status: Option<String>,
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/workflows", tag = "workflows", security(("bearer" = [])), params(WorkflowQuery),
    responses((status = 200, body = [Workflow]), (status = 400, body = crate::api::ErrorBody)))]
pub async fn list_workflows(
    State(state): State<AppState>,
    q: Result<Query<WorkflowQuery>, QueryRejection>,
) -> Result<Json<Vec<Workflow>>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit, 100, MAX_LIMIT)?;
    let status = q
        .status
        .map(|s| s.parse::<WorkflowStatus>())
        .transpose()
        .map_err(ApiError::BadRequest)?;
    blocking(move || Ok(Json(state.services.control.workflows(status, limit)?))).await
}

#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Workflow), (status = 404, body = crate::api::ErrorBody)))]
pub async fn get_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, ApiError> {
    blocking(move || Ok(Json(state.services.control.workflow(&id)?))).await
}

#[utoipa::path(get, path = "/api/workflows/{id}/trace", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [Step]), (status = 404, body = crate::api::ErrorBody)))]
pub async fn trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Step>>, ApiError> {
    blocking(move || Ok(Json(state.services.control.trace(&id)?))).await
}

#[utoipa::path(post, path = "/api/workflows/{id}/steps", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewStep,
    responses((status = 201, body = Step), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn append_step(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Step>), ApiError> {
    let who = caller.0;
    let req: NewStep = json_body(body)?;
    let step = blocking(move || {
        Ok(state
            .services
            .control
            .append_step(&id, req, &who, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(step)))
}

#[utoipa::path(post, path = "/api/workflows/{id}/complete", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Workflow), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, ApiError> {
    move_to(state, id, WorkflowStatus::Completed, None, caller.0).await
}

#[utoipa::path(post, path = "/api/workflows/{id}/pause", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = Workflow), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Workflow>, ApiError> {
    let req: ReasonBody = json_body(body)?;
    move_to(
        state,
        id,
        WorkflowStatus::Paused,
        Some(req.reason),
        caller.0,
    )
    .await
}

/// Resumes a paused workflow. A body with `{reason}` is optional.
#[utoipa::path(post, path = "/api/workflows/{id}/resume", tag = "workflows", security(("bearer" = [])), params(("id" = String, Path)), request_body = Option<ReasonBody>,
    responses((status = 200, body = Workflow), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn resume_workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Workflow>, ApiError> {
    let reason = optional_json_body::<ReasonBody>(body)?.map(|b| b.reason);
    move_to(state, id, WorkflowStatus::Running, reason, caller.0).await
}

async fn move_to(
    state: AppState,
    id: String,
    to: WorkflowStatus,
    reason: Option<String>,
    who: Principal,
) -> Result<Json<Workflow>, ApiError> {
    blocking(move || {
        Ok(Json(state.services.control.move_workflow(
            &id,
            to,
            reason.as_deref(),
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}
