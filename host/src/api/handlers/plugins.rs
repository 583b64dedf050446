//! Loaded plugins, evaluating one on JSON, and the recorded evaluations.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::api::extract::{blocking, json_body, json_value, limit, query, MAX_SHORT_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::readiness::{Assessment, ReadinessContext};
use crate::evaluation::Evaluated;

use crate::storage::EvaluationRecord;
use crate::wire::PluginSummary;

/// Every loaded plugin.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, body = [PluginSummary])))]
pub async fn list_plugins(State(state): State<AppState>) -> Json<Vec<PluginSummary>> {
    Json(
        state
            .services
            .plugins
            .list()
            .into_iter()
            .map(|p| PluginSummary::from(&p))
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = PluginSummary), (status = 404, body = crate::api::ErrorBody)))]
pub async fn get_plugin(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginSummary>, ApiError> {
    Ok(Json(PluginSummary::from(
        &state.services.plugins.get(&name)?,
    )))
}

/// Evaluates one plugin on a JSON input of its kind, and records it.
#[utoipa::path(post, path = "/api/plugins/{name}/evaluate", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path)), request_body(content = Object, description = "an input of the plugin's kind"),
    responses((status = 200, body = Evaluated), (status = 400, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub async fn evaluate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Evaluated>, ApiError> {
    // Read but not yet judged: an unknown plugin is 404 whatever the body.
    let input = json_value(body);
    blocking(move || Ok(Json(state.services.plugins.evaluate(&name, input)?))).await
}

/// Runs the checklist on a context given in the body (nothing stored).
#[utoipa::path(post, path = "/api/readiness/evaluate", tag = "readiness", security(("bearer" = [])),
    request_body(content = Object, description = "a readiness context"),
    responses((status = 200, description = "the assessment, item by item")))]
pub async fn assess(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Assessment>, ApiError> {
    let ctx: ReadinessContext = json_body(body)?;
    blocking(move || Ok(Json(state.services.readiness.assess_context(&ctx)))).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvaluationsQuery {
    plugin: Option<String>,
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/evaluations", tag = "plugins", security(("bearer" = [])),
    params(EvaluationsQuery), responses((status = 200, description = "recorded evaluations, newest first")))]
pub async fn list_evaluations(
    State(state): State<AppState>,
    q: Result<Query<EvaluationsQuery>, QueryRejection>,
) -> Result<Json<Vec<EvaluationRecord>>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit, 50, MAX_SHORT_LIMIT)?;
    blocking(move || {
        Ok(Json(
            state
                .services
                .plugins
                .evaluations(q.plugin.as_deref(), limit)?,
        ))
    })
    .await
}
