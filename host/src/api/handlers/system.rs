//! Liveness, readiness and Prometheus: no token needed.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::extract::blocking;
use crate::api::{ApiError, AppState};
use crate::domain::Timestamp;

#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, description = "the process is up")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when the database takes writes and every configured plugin
/// loaded; otherwise 503 with what failed.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready, with the failures")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let db = state.db.clone();
    let db_check = tokio::task::spawn_blocking(move || db.check_writable()).await;
    let mut failures: Vec<String> = state.registry.faults();
    match db_check {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("database: {e}")),
        Err(e) => failures.push(format!("database check failed: {e}")),
    }
    let plugins = state.plugins.current();
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "plugins": plugins.len(),
                "pluginGeneration": plugins.generation(),
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "failures": failures})),
        )
            .into_response()
    }
}

/// Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let now = Timestamp::now();
        state.governance.note_scrape(now);
        let figures = state.governance.prometheus_figures(now)?;
        Ok(state.exporter.render(&figures))
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
