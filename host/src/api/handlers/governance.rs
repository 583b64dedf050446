//! The program's state, readiness, the weekly cycle and proposals.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, limit, query, ShortLimitQuery, MAX_SHORT_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::auth::Role;
use crate::domain::governance::{GovernanceReport, GovernanceState, Proposal};
use crate::domain::readiness::{ReadinessReport, ReadinessStatus};
use crate::domain::{Phase, Timestamp};

#[utoipa::path(get, path = "/api/governance/state", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = GovernanceState)))]
pub async fn state(State(state): State<AppState>) -> Result<Json<GovernanceState>, ApiError> {
    blocking(move || Ok(Json(state.services.control.state(Timestamp::now())?))).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetPhase {
    phase: Phase,
    /// Admin only: when the phase began (a bootstrap). Omitted, a lowered
    /// phase starts now.
    phase_started_at: Option<Timestamp>,
}

/// Lowers the phase (operator or admin) or backdates the current phase's
/// start (admin), audited. Raising is 403: autonomy rises only through an
/// approved proposal. The whitelist becomes the phase's cumulative list.
#[utoipa::path(put, path = "/api/governance/state/phase", tag = "governance", security(("bearer" = [])), request_body = SetPhase,
    responses((status = 200, body = GovernanceState), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 409, description = "the phase is already the one asked for", body = crate::api::ErrorBody)))]
pub async fn set_phase(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<GovernanceState>, ApiError> {
    let who = caller.0;
    let req: SetPhase = json_body(body)?;
    blocking(move || {
        Ok(Json(state.services.control.set_phase(
            req.phase,
            req.phase_started_at,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

/// Assesses now, stores the assessment and returns it.
#[utoipa::path(get, path = "/api/readiness/current", tag = "readiness", security(("bearer" = [])),
    responses((status = 200, body = ReadinessReport)))]
pub async fn readiness_current(
    State(state): State<AppState>,
) -> Result<Json<ReadinessReport>, ApiError> {
    blocking(move || Ok(Json(state.services.readiness.assess(Timestamp::now())?))).await
}

#[utoipa::path(get, path = "/api/readiness/latest", tag = "readiness", security(("bearer" = [])),
    responses((status = 200, body = ReadinessReport), (status = 404, body = crate::api::ErrorBody)))]
pub async fn readiness_latest(
    State(state): State<AppState>,
) -> Result<Json<ReadinessReport>, ApiError> {
    blocking(move || Ok(Json(state.services.readiness.latest()?))).await
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessScore {
    score: u32,
    max_score: u32,
    percentage: f64,
    status: ReadinessStatus,
}

/// The latest assessment's score; one is run if none is stored yet.
#[utoipa::path(get, path = "/api/readiness/score", tag = "readiness", security(("bearer" = [])),
    responses((status = 200, body = ReadinessScore)))]
pub async fn readiness_score(
    State(state): State<AppState>,
) -> Result<Json<ReadinessScore>, ApiError> {
    blocking(move || {
        let a = state
            .services
            .readiness
            .latest_or_assess(Timestamp::now())?;
        Ok(Json(ReadinessScore {
            score: a.overall.score,
            max_score: a.overall.max_score,
            percentage: a.overall.percentage,
            status: a.overall.status,
        }))
    })
    .await
}

#[utoipa::path(post, path = "/api/governance/run-cycle", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = GovernanceReport), (status = 403, body = crate::api::ErrorBody)))]
pub async fn run_cycle(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<GovernanceReport>, ApiError> {
    let who = caller.0;
    blocking(move || {
        Ok(Json(
            state.services.proposals.run_cycle(Timestamp::now(), &who)?,
        ))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProposalsQuery {
    /// `all` for every proposal; default only pending ones.
    #[param(pattern = "^(pending|all)$")]
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/governance/proposals", tag = "governance", security(("bearer" = [])), params(ProposalsQuery),
    responses((status = 200, body = [Proposal])))]
pub async fn proposals(
    State(state): State<AppState>,
    q: Result<Query<ProposalsQuery>, QueryRejection>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    let all = match query(q)?.status.as_deref() {
        None | Some("pending") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`status` must be `pending` or `all`, got `{other}`"
            )))
        }
    };
    blocking(move || Ok(Json(state.services.proposals.proposals(all)?))).await
}

#[utoipa::path(get, path = "/api/governance/proposals/{id}", tag = "governance", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Proposal), (status = 404, body = crate::api::ErrorBody)))]
pub async fn proposal(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Proposal>, ApiError> {
    blocking(move || Ok(Json(state.services.proposals.proposal(id)?))).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    role: Role,
    comment: Option<String>,
}

/// The token must name `role` itself (admin does not stand in for an
/// approver); each required role approves once. The last approval moves
/// the phase in the same transaction.
#[utoipa::path(post, path = "/api/governance/proposals/{id}/approve", tag = "governance", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ApproveBody,
    responses((status = 200, body = Proposal), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Proposal>, ApiError> {
    let req: ApproveBody = json_body(body)?;
    let who = caller.0;
    blocking(move || {
        Ok(Json(state.services.proposals.approve(
            id,
            req.role,
            req.comment,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    role: Role,
    #[schema(schema_with = crate::domain::text::text)]
    reason: String,
}

#[utoipa::path(post, path = "/api/governance/proposals/{id}/reject", tag = "governance", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RejectBody,
    responses((status = 200, body = Proposal), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Proposal>, ApiError> {
    let req: RejectBody = json_body(body)?;
    let who = caller.0;
    blocking(move || {
        Ok(Json(state.services.proposals.reject(
            id,
            req.role,
            req.reason,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[utoipa::path(get, path = "/api/governance/reports", tag = "governance", security(("bearer" = [])), params(ShortLimitQuery),
    responses((status = 200, body = [GovernanceReport])))]
pub async fn reports(
    State(state): State<AppState>,
    q: Result<Query<ShortLimitQuery>, QueryRejection>,
) -> Result<Json<Vec<GovernanceReport>>, ApiError> {
    let limit = limit(query(q)?.limit, 10, MAX_SHORT_LIMIT)?;
    blocking(move || Ok(Json(state.services.proposals.reports(limit)?))).await
}

#[utoipa::path(get, path = "/api/governance/reports/latest", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = GovernanceReport), (status = 404, body = crate::api::ErrorBody)))]
pub async fn latest_report(
    State(state): State<AppState>,
) -> Result<Json<GovernanceReport>, ApiError> {
    blocking(move || Ok(Json(state.services.proposals.latest_report()?))).await
}

#[utoipa::path(get, path = "/api/governance/reports/{id}", tag = "governance", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = GovernanceReport), (status = 404, body = crate::api::ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<GovernanceReport>, ApiError> {
    blocking(move || Ok(Json(state.services.proposals.report(id)?))).await
}
