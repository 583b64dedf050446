//! `Idempotency-Key` on the routes the router table marks idempotent
//! ([`super::RouteTable::idempotent`]): a layer between the route's guard
//! and its handler, so no handler knows about keys. The rules (scope,
//! fingerprint, claim, replay, conflict) are the service's
//! ([`crate::service::idempotency`]); this only moves bytes.
//!
//! Without the header a request passes through untouched. With it: the
//! body is read once (within the body limit) and fingerprinted, the key is
//! claimed, and then either the stored first answer is sent back (with
//! `Idempotent-Replayed: true`) or the handler runs and a 2xx answer is
//! stored for the retries; any other answer releases the key.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type};

use super::auth::Caller;
use super::extract::blocking;
use super::{ApiError, AppState};
use crate::domain::Timestamp;
use crate::service::idempotency::{
    caller_scope, fingerprint, Begin, IdempotencyKey, KeyError, Ticket, HEADER, MAX_KEY_LEN,
};
use crate::storage::{IdempotencyScope, StoredAnswer};

/// Set on an answer sent back from a key rather than made afresh.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The layer the router table puts on an idempotent route.
pub async fn layer(req: Request, next: Next) -> Response {
    match idempotent(req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn idempotent(req: Request, next: Next) -> Result<Response, ApiError> {
    // Every idempotent route is a POST. Another method on its path is
    // answered 405 by the router, and the guard (which leaves the caller
    // the key is scoped by) does not run for it.
    if req.method() != axum::http::Method::POST {
        return Ok(next.run(req).await);
    }
    let mut values = req.headers().get_all(HEADER).iter();
    let Some(raw) = values.next() else {
        return Ok(next.run(req).await);
    };
    let extra = values.count();
    if extra > 0 {
        return Err(bad_key(KeyError::Repeated { count: extra + 1 }));
    }
    let key = IdempotencyKey::parse(raw.as_bytes()).map_err(bad_key)?;
    let state = req
        .extensions()
        .get::<Arc<AppState>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal("the router was built without its state: no key can be kept".into())
        })?;
    // The guard ran first (it wraps this layer) and left the checked caller.
    let caller = req.extensions().get::<Caller>().ok_or_else(|| {
        ApiError::Internal(
            "an idempotent route's caller was not checked: its keys cannot be scoped".into(),
        )
    })?;
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .ok_or_else(|| ApiError::Internal("an idempotent route has no matched path".into()))?;
    let scope = IdempotencyScope {
        caller: caller_scope(&caller.0),
        route: format!("{} {template}", req.method()),
        key: key.as_str().to_string(),
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());

    // The body, read once within the route's body limit (which travels in
    // the request's extensions), then handed to the handler as it came.
    let (parts, body) = req.into_parts();
    let mut carrier = Request::new(body);
    *carrier.headers_mut() = parts.headers.clone();
    *carrier.extensions_mut() = parts.extensions.clone();
    let bytes = Bytes::from_request(carrier, &())
        .await
        .map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(format!("the body is too large: {}", e.body_text()))
            }
            _ => ApiError::BadRequest(format!("cannot read the body: {}", e.body_text())),
        })?;
    let fingerprint = fingerprint(&path_and_query, &bytes);

    let keys = state.services.idempotency.clone();
    let begun = blocking(move || Ok(keys.begin(scope, &fingerprint, Timestamp::now())?)).await?;
    match begun {
        Begin::Replay(answer) => replay(answer),
        Begin::Proceed(ticket) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            Ok(settle(&state, ticket, response).await)
        }
    }
}

fn bad_key(e: KeyError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The stored first answer, as it was sent.
fn replay(answer: StoredAnswer) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(answer.status).map_err(|e| {
        ApiError::fault(
            format!("a stored idempotent answer has status {}", answer.status),
            e,
        )
    })?;
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(response)
}

/// Keeps a success for the key's retries; releases the key otherwise.
///
/// The work is done by now, so whatever happens to the bookkeeping the
/// caller gets the handler's answer: a store that cannot keep it is
/// logged, and the key's claim lapses after its lease.
async fn settle(state: &AppState, ticket: Ticket, response: Response) -> Response {
    let keys = state.services.idempotency.clone();
    if !response.status().is_success() {
        if let Err(e) = blocking(move || Ok(keys.abandon(ticket)?)).await {
            tracing::error!(error = %super::error::error_chain(&e), "cannot release an idempotency key after a failed request; it lapses after its lease");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    // Handlers answer with JSON built in memory: reading it back is a copy.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::fault(
                "cannot read the answer to keep it for its idempotency key",
                e,
            )
            .into_response()
        }
    };
    let status = parts.status.as_u16();
    match String::from_utf8(bytes.to_vec()) {
        Ok(body) => {
            let stored = StoredAnswer { status, body };
            if let Err(e) =
                blocking(move || Ok(keys.finish(ticket, stored, Timestamp::now())?)).await
            {
                tracing::error!(error = %super::error::error_chain(&e), "cannot store the answer of an idempotency key; a retry within its lease is refused, after it the request runs again");
            }
        }
        Err(_) => {
            tracing::error!(
                status,
                "an idempotent route answered with a body that is not UTF-8; the key is released"
            );
            if let Err(e) = blocking(move || Ok(keys.abandon(ticket)?)).await {
                tracing::error!(error = %super::error::error_chain(&e), "cannot release an idempotency key");
            }
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// States the optional header, and the 409 it can cause, on `operation`,
/// as the layer behaves: the document cannot drift from it, since the
/// router table adds both together.
pub fn document(operation: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_LEN))
        .pattern(Some("^[!-~]+$"));
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: within `[idempotency] retention_hours` (24 h), the same key \
             from the same caller on this route with the same path and body gets the first \
             successful answer back (`Idempotent-Replayed: true`) and changes nothing; with \
             another body it is a 409. 1 to 255 visible ASCII characters.",
        ))
        .schema(Some(schema))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
    operation
        .responses
        .responses
        .entry("409".to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "the Idempotency-Key was used with another request body, or the first \
                         request with it is still in progress (retry)",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_states_the_key_and_its_409_on_the_idempotent_operations_only() {
        let doc = serde_json::to_value(crate::api::openapi()).unwrap();
        let mut with_key = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let states_key = operation["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
                });
                if states_key {
                    assert!(
                        operation["responses"]["409"].is_object(),
                        "{method} {path} states the key but not its 409"
                    );
                    with_key.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        with_key.sort();
        assert_eq!(
            with_key,
            [
                "POST /api/agents/{id}/costs",
                "POST /api/agents/{id}/failures",
                "POST /api/authorize",
                "POST /api/commands",
                "POST /api/workflows/{id}/steps",
            ]
        );
    }
}
