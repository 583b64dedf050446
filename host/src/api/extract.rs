//! Reading requests: bodies and queries with errors that say what was
//! wrong and where, and running blocking work off the async workers.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::Query;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

/// A body as JSON, saying where it is malformed.
pub fn json_value(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(format!("the body is too large: {}", e.body_text()))
        }
        _ => ApiError::BadRequest(format!("cannot read the body: {}", e.body_text())),
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body is empty; expected JSON".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// Why a JSON value is not the type asked for: serde's error, and the
/// path of the first bad field (`.` for the value itself).
#[derive(Debug, thiserror::Error)]
#[error("{}{source}", at_path(.path))]
pub struct ShapeError {
    path: String,
    #[source]
    source: serde_json::Error,
}

fn at_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        format!("at `{path}`: ")
    }
}

/// A JSON value as `T`, naming the path of the first bad field.
pub fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize(value).map_err(|e| ShapeError {
        path: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// A body as `T`, which is always a JSON object: serde would otherwise
/// read a struct from an array of its fields in order, a form the
/// document does not allow.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    object_as(json_value(body)?)
}

/// A body that may be left out: no body, or `null`, is `None`.
pub fn optional_json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<T>, ApiError> {
    if matches!(&body, Ok(b) if b.is_empty()) {
        return Ok(None);
    }
    match json_value(body)? {
        Value::Null => Ok(None),
        value => object_as(value).map(Some),
    }
}

fn object_as<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::BadRequest(format!(
            "invalid body: expected a JSON object, got {}",
            json_kind(&value)
        )));
    }
    typed(value).map_err(|m| ApiError::BadRequest(format!("invalid body: {m}")))
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))
}

/// `?limit=` on the listing endpoints that page up to [`MAX_LIMIT`] rows.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// `?limit=` on the listings of larger rows (reports, evaluations,
/// incidents), which page up to [`MAX_SHORT_LIMIT`] rows.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShortLimitQuery {
    /// How many rows, newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The most rows a listing's `limit` may ask for; the document's `maximum`
/// says the same, and a test holds the two together.
pub const MAX_LIMIT: u32 = 10_000;
pub const MAX_SHORT_LIMIT: u32 = 1_000;

/// `limit` within `1..=max`, defaulting to `default`.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = value.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be within 1..={max}, got {limit}"
        )));
    }
    Ok(limit)
}

/// Runs SQLite or Wasm work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    // The work stays inside the request's span (a plugin evaluation's span
    // nests under it) although it runs on another thread.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::fault("a blocking task failed", e))?
}
