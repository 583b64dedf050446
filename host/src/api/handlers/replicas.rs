//! The replicas sharing the store.

use axum::extract::State;
use axum::Json;

use crate::api::extract::blocking;
use crate::api::{ApiError, AppState};
use crate::wire::ReplicasReply;

/// Every live replica (a heartbeat within `[cluster] live_within_ms`):
/// the control version it decides on and how far it lags the newest, its
/// plugin generation, and the leases it holds. On SQLite, the one process.
#[utoipa::path(get, path = "/api/replicas", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = ReplicasReply), (status = 500, body = crate::api::ErrorBody)))]
pub async fn list_replicas(State(state): State<AppState>) -> Result<Json<ReplicasReply>, ApiError> {
    blocking(move || Ok(Json(state.services.replicas.live()?.into()))).await
}
