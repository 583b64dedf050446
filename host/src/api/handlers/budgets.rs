//! Rate and concurrency budgets, batch limits, throttles, and completing
//! a decision to release its leases.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body};
use crate::api::{ApiError, AppState};
use crate::domain::budget::{BatchLimit, BudgetKind, ConcurrencyBudget, RateBudget};
use crate::domain::Timestamp;
use crate::service::budgets::{
    BatchLimitStatus, BudgetOverview, CompletionReply, ConcurrencyBudgetStatus, RateBudgetStatus,
    ThrottleStatus,
};

/// Every budget, batch limit and throttle with its use, in one read.
#[utoipa::path(get, path = "/api/budgets/overview", tag = "budgets", security(("bearer" = [])),
    responses((status = 200, body = BudgetOverview)))]
pub async fn overview(State(state): State<AppState>) -> Result<Json<BudgetOverview>, ApiError> {
    blocking(move || Ok(Json(state.services.budgets.overview(Timestamp::now())?))).await
}

#[utoipa::path(get, path = "/api/budgets/rates", tag = "budgets", security(("bearer" = [])),
    responses((status = 200, body = [RateBudgetStatus])))]
pub async fn rates(State(state): State<AppState>) -> Result<Json<Vec<RateBudgetStatus>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state.services.budgets.overview(Timestamp::now())?.rates,
        ))
    })
    .await
}

#[utoipa::path(get, path = "/api/budgets/concurrency", tag = "budgets", security(("bearer" = [])),
    responses((status = 200, body = [ConcurrencyBudgetStatus])))]
pub async fn concurrency(
    State(state): State<AppState>,
) -> Result<Json<Vec<ConcurrencyBudgetStatus>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state
                .services
                .budgets
                .overview(Timestamp::now())?
                .concurrency,
        ))
    })
    .await
}

#[utoipa::path(get, path = "/api/budgets/batches", tag = "budgets", security(("bearer" = [])),
    responses((status = 200, body = [BatchLimitStatus])))]
pub async fn batches(
    State(state): State<AppState>,
) -> Result<Json<Vec<BatchLimitStatus>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state.services.budgets.overview(Timestamp::now())?.batches,
        ))
    })
    .await
}

/// Throttles of tripped `throttle` breakers, until their events are resolved.
#[utoipa::path(get, path = "/api/budgets/throttles", tag = "budgets", security(("bearer" = [])),
    responses((status = 200, body = [ThrottleStatus])))]
pub async fn throttles(
    State(state): State<AppState>,
) -> Result<Json<Vec<ThrottleStatus>>, ApiError> {
    blocking(move || {
        Ok(Json(
            state.services.budgets.overview(Timestamp::now())?.throttles,
        ))
    })
    .await
}

/// Creates or replaces a rate budget: at most `limit` autonomous decisions
/// matching `key` per sliding `window`, across every replica.
#[utoipa::path(put, path = "/api/budgets/rates/{name}", tag = "budgets", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = RateBudget,
    responses((status = 200, body = RateBudgetStatus), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn put_rate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RateBudgetStatus>, ApiError> {
    let budget: RateBudget = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.budgets.put_rate(
            &name,
            budget,
            &caller.0,
            Timestamp::now(),
        )?))
    })
    .await
}

/// Creates or replaces a concurrency budget: at most `limit` autonomous
/// operations matching `key` in flight, each holding a lease until it is
/// completed or `leaseTtl` passes.
#[utoipa::path(put, path = "/api/budgets/concurrency/{name}", tag = "budgets", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = ConcurrencyBudget,
    responses((status = 200, body = ConcurrencyBudgetStatus), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn put_concurrency(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConcurrencyBudgetStatus>, ApiError> {
    let budget: ConcurrencyBudget = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.budgets.put_concurrency(
            &name,
            budget,
            &caller.0,
            Timestamp::now(),
        )?))
    })
    .await
}

/// Creates or replaces a command type's batch limit.
#[utoipa::path(put, path = "/api/budgets/batches/{commandType}", tag = "budgets", security(("bearer" = [])),
    params(("commandType" = String, Path)), request_body = BatchLimit,
    responses((status = 200, body = BatchLimitStatus), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn put_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(command_type): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchLimitStatus>, ApiError> {
    let limit: BatchLimit = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.budgets.put_batch(
            &command_type,
            limit,
            &caller.0,
            Timestamp::now(),
        )?))
    })
    .await
}

async fn delete(
    state: AppState,
    caller: Caller,
    kind: BudgetKind,
    name: String,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        state
            .services
            .budgets
            .delete(kind, &name, &caller.0, Timestamp::now())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(delete, path = "/api/budgets/rates/{name}", tag = "budgets", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn delete_rate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(state, caller, BudgetKind::Rate, name).await
}

#[utoipa::path(delete, path = "/api/budgets/concurrency/{name}", tag = "budgets", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn delete_concurrency(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(state, caller, BudgetKind::Concurrency, name).await
}

#[utoipa::path(delete, path = "/api/budgets/batches/{commandType}", tag = "budgets", security(("bearer" = [])),
    params(("commandType" = String, Path)),
    responses((status = 204), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn delete_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(command_type): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(state, caller, BudgetKind::Batch, command_type).await
}

/// Marks an autonomous decision's operation done, releasing the
/// concurrency leases it holds. Completing twice releases nothing more.
#[utoipa::path(post, path = "/api/decisions/{id}/complete", tag = "control", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = CompletionReply), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn complete_decision(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<CompletionReply>, ApiError> {
    blocking(move || {
        Ok(Json(state.services.budgets.complete(
            id,
            &caller.0,
            Timestamp::now(),
        )?))
    })
    .await
}
