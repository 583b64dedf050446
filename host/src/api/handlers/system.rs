//! Liveness, readiness and Prometheus: no token needed (unless `[metrics]
//! require_token`).

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::auth::OptionalCaller;
use crate::api::extract::blocking;
use crate::api::{ApiError, AppState};
use crate::domain::Timestamp;

#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, description = "the process is up")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when the database takes writes, the control state is current,
/// every configured plugin loaded and audit checkpoints (if configured) are
/// being written; otherwise 503 with what failed. The database check is
/// cached: it is at most a second old (`databaseCheckedAt`), so polling
/// never writes per call. The control state is checked at every call: a
/// replica whose snapshot went stale (the database unreachable, or
/// lagging) denies every `authorize`, and says so here at once.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready, with the failures")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let monitoring = state.services.monitoring.clone();
    let database = state
        .ready
        .database(Instant::now(), || async move {
            match tokio::task::spawn_blocking(move || monitoring.check_database()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("database: {e}")),
                Err(e) => Some(format!("database check failed: {e}")),
            }
        })
        .await;
    let mut failures: Vec<String> = state.services.registry.faults();
    if let Some(fault) = state.services.control.control_fault() {
        failures.push(format!("control state: {fault}"));
    }
    failures.extend(database.failure);
    if let Some(fault) = state.checkpoints.as_ref().and_then(|c| c.fault()) {
        failures.push(format!("audit checkpoints: {fault}"));
    }
    let (plugins, generation) = state.services.plugins.active();
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "plugins": plugins,
                "pluginGeneration": generation,
                "databaseCheckedAt": database.checked_at,
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "failures": failures,
                "databaseCheckedAt": database.checked_at,
            })),
        )
            .into_response()
    }
}

/// Prometheus text format 0.0.4. Anonymous unless `[metrics]
/// require_token`; only a scrape with the monitoring system's own `scraper`
/// token counts as evidence that monitoring is in place. The store's figures
/// are at most `[metrics] store_cache_ms` old.
#[utoipa::path(get, path = "/metrics", tag = "system", security((), ("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
        (status = 401, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    OptionalCaller(caller): OptionalCaller,
) -> Result<Response, ApiError> {
    // Whether the caller may scrape at all is the router table's `Scrape`.
    let monitoring = caller.as_ref().is_some_and(|c| c.is_monitoring());
    let text = blocking(move || {
        let now = Timestamp::now();
        if monitoring {
            state.services.monitoring.note_scrape(now);
        }
        let figures = state
            .exporter
            .store_figures(|| state.services.monitoring.prometheus_figures(now))?;
        state
            .exporter
            .render(figures)
            .map_err(|e| ApiError::fault("cannot render the metrics", e))
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
