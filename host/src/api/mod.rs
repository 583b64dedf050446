//! The HTTP API: routing, authentication and extraction only; the work
//! happens in [`crate::service`], [`crate::evaluation`] and [`crate::storage`].
//!
//! Routes are registered through utoipa's router, so `/openapi.json` is
//! generated from the handlers themselves and cannot drift from them.

pub mod auth;
mod document;
mod error;
mod extract;
mod handlers;
mod state;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use handlers::registry::{read_upload, UploadParts};
pub use state::AppState;

use handlers::{
    access, agents, breakers, control, events, governance, plugins, registry, reporting, system,
};

/// The error shape every failure uses.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// bad_request, unauthorized, forbidden, not_found, conflict,
    /// payload_too_large, internal (and plugin_failed, unavailable).
    code: String,
    message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Regent", description = "A governance host for autonomous operations."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::ready))
        .routes(routes!(system::metrics))
        .routes(routes!(access::create_token, access::list_tokens))
        .routes(routes!(access::revoke_token))
        .routes(routes!(
            access::create_attestation,
            access::list_attestations
        ))
        .routes(routes!(access::revoke_attestation))
        .routes(routes!(access::audit))
        .routes(routes!(reporting::post_commands))
        .routes(routes!(reporting::post_incident, reporting::list_incidents))
        .routes(routes!(reporting::post_gauge))
        .routes(routes!(reporting::metrics_current))
        .routes(routes!(reporting::metrics_latest))
        .routes(routes!(reporting::metrics_weekly))
        .routes(routes!(governance::state))
        .routes(routes!(governance::set_phase))
        .routes(routes!(governance::readiness_current))
        .routes(routes!(governance::readiness_latest))
        .routes(routes!(governance::readiness_score))
        .routes(routes!(governance::run_cycle))
        .routes(routes!(governance::proposals))
        .routes(routes!(governance::proposal))
        .routes(routes!(governance::approve))
        .routes(routes!(governance::reject))
        .routes(routes!(governance::reports))
        .routes(routes!(governance::latest_report))
        .routes(routes!(governance::report))
        .routes(routes!(breakers::events))
        .routes(routes!(breakers::unresolved))
        .routes(routes!(breakers::resolve))
        .routes(routes!(breakers::rules, breakers::add_rule))
        .routes(routes!(breakers::enabled_rules))
        .routes(routes!(breakers::patch_rule, breakers::delete_rule))
        .routes(routes!(breakers::check))
        .routes(routes!(plugins::list_plugins))
        .routes(routes!(plugins::get_plugin))
        .routes(routes!(registry::versions))
        .routes(routes!(registry::activate))
        .routes(routes!(registry::rollback))
        .routes(routes!(registry::delete_version))
        // Uploads may be far larger than any other body: the handler
        // enforces `max_upload_bytes` itself, part by part.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(registry::upload))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(plugins::evaluate))
        .routes(routes!(plugins::assess))
        .routes(routes!(plugins::list_evaluations))
        .routes(routes!(control::authorize))
        .routes(routes!(control::decisions))
        .routes(routes!(control::stop_status, control::stop))
        .routes(routes!(control::resume))
        .routes(routes!(control::register_workflow, control::list_workflows))
        .routes(routes!(control::get_workflow))
        .routes(routes!(control::trace))
        .routes(routes!(control::append_step))
        .routes(routes!(control::complete))
        .routes(routes!(control::pause))
        .routes(routes!(control::resume_workflow))
        .routes(routes!(events::post_event))
        .routes(routes!(events::list_events))
        .routes(routes!(events::actions))
        .routes(routes!(events::generate_report))
        .routes(routes!(events::risk_reports))
        .routes(routes!(events::stats))
        .routes(routes!(agents::register, agents::list))
        .routes(routes!(agents::breakers))
        .routes(routes!(agents::get))
        .routes(routes!(agents::cost))
        .routes(routes!(agents::failure))
        .routes(routes!(agents::trip))
        .routes(routes!(agents::reset))
        .routes(routes!(agents::budgets))
        .routes(routes!(agents::assign))
        .routes(routes!(agents::assignments))
}

/// The routes and the OpenAPI document that describes them.
fn api_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = api_router().split_for_parts();
    document::complete(&mut doc);
    (router, doc)
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts().1
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Times each request under its route template (not its raw path, which
/// would make a series per id).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .exporter
        .http_request(&method, &route, started.elapsed());
    response
}

/// Rejections axum makes before a handler runs (a path segment that is
/// not a number, a method the route lacks) come as plain text; this gives
/// them the same `{"error": {...}}` shape as every other error.
async fn error_shape(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let error = match status {
        axum::http::StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::BadRequest(format!("method not allowed on this route ({text})"))
        }
        s if s == axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(text),
        s if s == axum::http::StatusCode::UNAUTHORIZED => ApiError::Unauthorized(text),
        s if s == axum::http::StatusCode::NOT_FOUND => ApiError::NotFound(text),
        s if s.is_server_error() => ApiError::Internal(text),
        _ => ApiError::BadRequest(text),
    };
    let mut shaped = error.into_response();
    // Keep the real status (405 stays 405), with the shaped body.
    *shaped.status_mut() = status;
    shaped
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = api_parts();
    let doc = std::sync::Arc::new(doc);
    let max_body = state.max_body_bytes;
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(error_shape))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(max_body))
        // Outermost last: the id is set, then returned, then the span records it.
        .layer(crate::telemetry::trace_layer())
        .layer(crate::telemetry::propagate_request_id_layer())
        .layer(crate::telemetry::set_request_id_layer())
        .with_state(state)
}
