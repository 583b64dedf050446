//! Every API error, and its one mapping to HTTP:
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::evaluation::EvaluationError;
use crate::runtime::{EvalError, EvalFailure};
use crate::service::ServiceError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Over a bound other than size (a compile's time): 422 naming it.
    #[error("{0}")]
    OverLimit(String),
    /// The plugin ran and failed: its input was fine, the plugin was not.
    #[error(transparent)]
    Plugin(EvalError),
    /// Retry later: a dependency is missing or overloaded.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// A candidate plugin version failed a gate: 400 with the gate named.
    #[error("gate `{}` failed: {}", .0.gate, .0.message)]
    GateFailed(Box<crate::domain::registry::GateFailure>),
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
        ServiceError::from(e).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::BadRequest(m) => ApiError::BadRequest(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ServiceError::OverLimit(m) => ApiError::OverLimit(m),
            ServiceError::Plugin(e) => ApiError::Plugin(e),
            ServiceError::GateFailed(f) => ApiError::GateFailed(f),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::OverLimit(_) => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
            ApiError::Plugin(e) => match e.failure {
                // No free instance slot: the host is overloaded, retry later.
                EvalFailure::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                EvalFailure::WrongKind { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_failed"),
            },
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::GateFailed(_) => (StatusCode::BAD_REQUEST, "gate_failed"),
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
        if let ApiError::GateFailed(f) = &self {
            body["error"]["gate"] = json!(f.gate);
            body["error"]["details"] = json!({ "gates": f.gates, "shadow": f.shadow });
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
