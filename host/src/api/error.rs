//! Every API error, and its one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::evaluation::EvaluationError;
use crate::runtime::{EvalError, EvalFailure};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The plugin ran and failed: its input was fine, the plugin was not.
    #[error(transparent)]
    Plugin(EvalError),
    #[error("{0}")]
    Internal(String),
}

impl From<EvaluationError> for ApiError {
    fn from(e: EvaluationError) -> Self {
        match e {
            EvaluationError::BadInput { .. } => ApiError::BadRequest(e.to_string()),
            EvaluationError::Plugin(e) => ApiError::Plugin(e),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Plugin(e) => match e.failure {
                // No free instance slot: the host is overloaded, retry later.
                EvalFailure::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                EvalFailure::WrongKind { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_failed"),
            },
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(%message, "request failed");
        }
        let mut body = json!({"error": {"code": code, "message": message}});
        if let ApiError::Plugin(e) = &self {
            body["error"]["plugin"] = json!(e.plugin);
            body["error"]["version"] = json!(e.version);
            body["error"]["cause"] = json!(e.failure.code());
        }
        (status, Json(body)).into_response()
    }
}
