//! Every API error, and its one mapping to HTTP:
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! A client error (4xx) says what was wrong, in full: the caller can fix
//! it. A fault of the server (500) keeps its error and that error's
//! sources; the whole chain goes to the log, inside the request's span
//! (which carries the request id), and the client gets a generic message
//! only, since a store's or an OS's error text may name files, tables or
//! internals no caller should see.

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
    /// A fault of the server with no underlying error to keep (e.g. a
    /// plain-text 5xx from a layer): logged, never shown to the client.
    #[error("{0}")]
    Internal(String),
    /// A fault of the server caused by another error, kept as the source
    /// so the log shows the whole chain. Build it with [`ApiError::fault`].
    #[error("{context}")]
    Fault {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A service error that is the server's fault (the store failed, or
    /// could not answer a question a decision needed), kept whole.
    #[error(transparent)]
    Service(ServiceError),
    /// A candidate plugin version failed a gate: 400 with the gate named.
    #[error("gate `{}` failed: {}", .0.gate, .0.message)]
    GateFailed(Box<crate::domain::registry::GateFailure>),
}

impl From<EvaluationError> for ApiError {
    fn from(e: EvaluationError) -> Self {
        match e {
            EvaluationError::BadInput { .. } => ApiError::BadRequest(e.to_string()),
            EvaluationError::Plugin(e) => ApiError::Plugin(e),
            e @ EvaluationError::Output(_) => ApiError::fault("cannot answer an evaluation", e),
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
            ServiceError::Unauthorized(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ServiceError::OverLimit(m) => ApiError::OverLimit(m),
            ServiceError::Plugin(e) => ApiError::Plugin(e),
            ServiceError::GateFailed(f) => ApiError::GateFailed(f),
            other => ApiError::Service(other),
        }
    }
}

/// What a client is told about a fault of the server: nothing of its
/// cause, only where to look.
pub const INTERNAL_MESSAGE: &str =
    "internal error: the server log has the details, under this response's x-request-id";

impl ApiError {
    /// A fault of the server: `context` says what the server was doing,
    /// `source` why it failed.
    pub fn fault(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        ApiError::Fault {
            context: context.into(),
            source: source.into(),
        }
    }

    /// A fault whose details stay in the log.
    fn is_internal(&self) -> bool {
        match self {
            // Its own message says what failed, its source (not shown) why.
            ApiError::Service(ServiceError::DependencyFailed { .. }) => false,
            ApiError::Internal(_) | ApiError::Fault { .. } | ApiError::Service(_) => true,
            _ => false,
        }
    }
}

/// `error` and each of its sources, outermost first, joined by `: `.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // A transparent wrapper prints its source's text as its own.
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.is_internal() {
            INTERNAL_MESSAGE.to_string()
        } else {
            self.to_string()
        };
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
            ApiError::Service(ServiceError::DependencyFailed { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Internal(_) | ApiError::Fault { .. } | ApiError::Service(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::GateFailed(_) => (StatusCode::BAD_REQUEST, "gate_failed"),
        };
        if status.is_server_error() {
            // Inside the request's span, so the line carries its id.
            tracing::error!(
                status = status.as_u16(),
                error = %error_chain(&self),
                "request failed"
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_store_fault_is_a_500_that_shows_the_client_none_of_it() {
        let error = ApiError::from(ServiceError::StoreRead {
            what: "the kind of plugin `x`".into(),
            source: std::io::Error::other("secret detail").into(),
        });
        // The log's chain keeps every cause.
        let chain = error_chain(&error);
        assert!(chain.contains("the kind of plugin `x`"), "{chain}");
        assert!(chain.contains("secret detail"), "{chain}");

        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["message"], INTERNAL_MESSAGE);
    }

    #[tokio::test]
    async fn a_fault_keeps_its_source_and_hides_it_from_the_client() {
        let io = std::io::Error::other("disk on fire at /var/lib/regent");
        let error = ApiError::fault("cannot write the report", io);
        assert_eq!(
            error_chain(&error),
            "cannot write the report: disk on fire at /var/lib/regent"
        );
        let body = body_of(error.into_response()).await;
        assert_eq!(body["error"]["message"], INTERNAL_MESSAGE);
    }

    #[tokio::test]
    async fn a_failed_dependency_is_a_503_naming_it_but_not_its_cause() {
        let error = ApiError::from(ServiceError::DependencyFailed {
            what: "the decision log cannot be written".into(),
            source: std::io::Error::other("disk I/O error in /var/lib/regent").into(),
        });
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(
            body["error"]["message"],
            "the decision log cannot be written"
        );
    }

    #[tokio::test]
    async fn a_client_error_still_says_what_was_wrong() {
        let body =
            body_of(ApiError::BadRequest("`limit` must be within 1..=10".into()).into_response())
                .await;
        assert_eq!(body["error"]["message"], "`limit` must be within 1..=10");
    }

    #[test]
    fn a_source_printed_by_its_wrapper_is_not_printed_twice() {
        #[derive(Debug, thiserror::Error)]
        enum Store {
            #[error("database error: {0}")]
            Db(#[from] std::io::Error),
        }
        let error = ApiError::from(ServiceError::StoreRead {
            what: "the agents".into(),
            source: Store::from(std::io::Error::other("locked")).into(),
        });
        assert_eq!(
            error_chain(&error),
            "cannot read the agents from the store, so the request is refused: database error: locked"
        );
    }
}
