use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState, MAX_BODY_BYTES};
use crate::domain::readiness::{Assessment, ReadinessContext};
use crate::domain::Timestamp;
use crate::evaluation::{evaluate_json, Evaluated, EvaluationError};
use crate::runtime::PluginSummary;
use crate::storage::{EvaluationRecord, StorageError};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

pub async fn list_plugins(State(state): State<AppState>) -> Json<Vec<PluginSummary>> {
    Json(state.plugins.iter().map(|p| p.summary().clone()).collect())
}

pub async fn get_plugin(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginSummary>, ApiError> {
    let plugin = state
        .plugins
        .get(&name)
        .ok_or_else(|| unknown_plugin(&name))?;
    Ok(Json(plugin.summary().clone()))
}

fn unknown_plugin(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no plugin named `{name}` (GET /api/plugins lists them)"
    ))
}

/// Parses a JSON body, saying where it is malformed.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
        }
        _ => ApiError::BadRequest(format!("cannot read the body: {e}")),
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body is empty; expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// Evaluates one plugin on a JSON input of its kind, and records it.
pub async fn evaluate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Evaluated>, ApiError> {
    let plugin = state
        .plugins
        .get(&name)
        .ok_or_else(|| unknown_plugin(&name))?
        .clone();
    let input = json_body(body)?;
    // Wasm runs for up to its time limit: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
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
    .map_err(|e| ApiError::Internal(format!("evaluation task failed: {e}")))?
}

/// Runs every checklist item on one context: the 80-point assessment.
pub async fn assess(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Assessment>, ApiError> {
    let input = json_body(body)?;
    let ctx: ReadinessContext = serde_path_to_error::deserialize(input).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid readiness context at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })?;
    tokio::task::spawn_blocking(move || {
        Json(state.runtime.assess(&state.plugins.checklist(), &ctx))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("assessment task failed: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationsQuery {
    plugin: Option<String>,
    limit: Option<u32>,
}

pub async fn list_evaluations(
    State(state): State<AppState>,
    query: Result<Query<EvaluationsQuery>, QueryRejection>,
) -> Result<Json<Vec<EvaluationRecord>>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be within 1..=1000, got {limit}"
        )));
    }
    let records = tokio::task::spawn_blocking(move || {
        state.db.recent_evaluations(q.plugin.as_deref(), limit)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?
    .map_err(|e: StorageError| ApiError::from(e))?;
    Ok(Json(records))
}
