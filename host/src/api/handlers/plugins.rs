//! Loaded plugins, evaluating one on JSON, and the recorded evaluations.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, json_value, limit, query, MAX_SHORT_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::auth::Role;
use crate::domain::readiness::{Assessment, ReadinessContext};
use crate::domain::Timestamp;
use crate::evaluation::{evaluate_json, Evaluated, EvaluationError};
use crate::storage::EvaluationRecord;
use crate::wire::PluginSummary;

fn unknown_plugin(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no plugin named `{name}` (GET /api/plugins lists them)"
    ))
}

/// Every loaded plugin.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, body = [PluginSummary])))]
pub async fn list_plugins(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<PluginSummary>> {
    Json(
        state
            .plugins
            .current()
            .iter()
            .map(|p| PluginSummary::from(p.summary()))
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = PluginSummary), (status = 404, body = crate::api::ErrorBody)))]
pub async fn get_plugin(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PluginSummary>, ApiError> {
    let plugins = state.plugins.current();
    let plugin = plugins.get(&name).ok_or_else(|| unknown_plugin(&name))?;
    Ok(Json(PluginSummary::from(plugin.summary())))
}

/// Evaluates one plugin on a JSON input of its kind, and records it.
#[utoipa::path(post, path = "/api/plugins/{name}/evaluate", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path)), request_body(content = Object, description = "an input of the plugin's kind"),
    responses((status = 200, body = Evaluated), (status = 400, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Evaluated>, ApiError> {
    caller.require(Role::Reporter)?;
    let plugin = state
        .plugins
        .current()
        .get(&name)
        .ok_or_else(|| unknown_plugin(&name))?
        .clone();
    let input = json_value(body)?;
    blocking(move || {
        let outcome = evaluate_json(&state.runtime, &plugin, input.clone());
        let (output, error_code, error, elapsed_us) = match &outcome {
            Ok(e) => (Some(e.output.clone()), None, None, e.elapsed_us),
            Err(EvaluationError::Plugin(e)) => (
                None,
                Some(e.failure.code().to_string()),
                Some(e.to_string()),
                0,
            ),
            // Bad input never reached the plugin: nothing to record.
            Err(EvaluationError::BadInput { .. }) => {
                return outcome.map(Json).map_err(ApiError::from)
            }
        };
        state.exporter.plugin_evaluated(
            plugin.name(),
            plugin.kind(),
            std::time::Duration::from_micros(elapsed_us),
            outcome.is_err(),
        );
        state.db.record_evaluation(&EvaluationRecord {
            id: 0,
            at: Timestamp::now(),
            plugin: plugin.name().to_string(),
            version: plugin.version().to_string(),
            kind: plugin.kind(),
            input,
            output,
            error_code,
            error,
            elapsed_us,
        })?;
        outcome.map(Json).map_err(ApiError::from)
    })
    .await
}

/// Runs the checklist on a context given in the body (nothing stored).
#[utoipa::path(post, path = "/api/readiness/evaluate", tag = "readiness", security(("bearer" = [])),
    request_body(content = Object, description = "a readiness context"),
    responses((status = 200, description = "the assessment, item by item")))]
pub async fn assess(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Assessment>, ApiError> {
    caller.require(Role::Reporter)?;
    let ctx: ReadinessContext = json_body(body)?;
    blocking(move || {
        let plugins = state.plugins.current();
        Ok(Json(state.runtime.assess(&plugins.checklist(), &ctx)))
    })
    .await
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
    _caller: Caller,
    q: Result<Query<EvaluationsQuery>, QueryRejection>,
) -> Result<Json<Vec<EvaluationRecord>>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit, 50, MAX_SHORT_LIMIT)?;
    blocking(move || {
        Ok(Json(
            state.db.recent_evaluations(q.plugin.as_deref(), limit)?,
        ))
    })
    .await
}
