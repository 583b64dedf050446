//! The HTTP API: routing, authentication and extraction only; the work
//! happens in [`crate::service`], which alone touches the store.
//!
//! Routes are registered through utoipa's router, so `/openapi.json` is
//! generated from the handlers themselves and cannot drift from them, and
//! only through the router table ([`guard::RouteTable`]), so none is
//! registered without the roles it needs.

pub mod auth;
mod console;
mod document;
mod error;
mod extract;
pub mod guard;
mod handlers;
mod idempotency;
mod state;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::wire::error::{ErrorBody, ErrorDetail};
pub use error::ApiError;
pub use guard::{Access, RouteTable};
pub use handlers::registry::{read_upload, UploadParts};
pub use state::{AppState, SessionCookie};

use handlers::{
    access, agents, breakers, budgets, control, events, governance, plugins, registry, replicas,
    reporting, scopes, sessions, system,
};

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

/// The router table: every route, and next to it who may call it (see
/// [`guard`]). Routes sharing a path but not an access are listed apart.
fn api_router() -> OpenApiRouter<AppState> {
    use crate::domain::auth::Role::{Admin, Operator, Reporter};
    use guard::Access::{AnyAuthenticated as Any, Public, Role, Scrape};
    RouteTable::new(ApiDoc::openapi())
        .route(Public, routes!(system::health))
        .route(Public, routes!(system::ready))
        .route(Scrape, routes!(system::metrics))
        .route(
            Role(Admin),
            routes!(access::create_token, access::list_tokens),
        )
        .route(Role(Admin), routes!(access::revoke_token))
        // Only people in approver roles attest: the handler checks which.
        .route(
            Any,
            routes!(access::create_attestation, access::list_attestations),
        )
        // The attester, an operator or an admin: the service checks which.
        .route(Any, routes!(access::revoke_attestation))
        .route(Role(Admin), routes!(access::audit))
        .route(Role(Admin), routes!(access::verify_audit))
        // Idempotent: a retry with the same `Idempotency-Key` gets the
        // first answer (`idempotency.rs`).
        .idempotent(Role(Reporter), routes!(reporting::post_commands))
        .route(Role(Reporter), routes!(reporting::post_incident))
        .route(Any, routes!(reporting::list_incidents))
        .route(Role(Reporter), routes!(reporting::post_gauge))
        .route(Any, routes!(reporting::metrics_current))
        .route(Any, routes!(reporting::metrics_latest))
        .route(Any, routes!(reporting::metrics_weekly))
        .route(Any, routes!(governance::state))
        .route(Role(Operator), routes!(governance::set_phase))
        .route(Any, routes!(governance::readiness_current))
        .route(Any, routes!(governance::readiness_latest))
        .route(Any, routes!(governance::readiness_score))
        .route(Role(Operator), routes!(governance::run_cycle))
        .route(Any, routes!(governance::proposals))
        .route(Any, routes!(governance::proposal))
        // The body names the approving role; the service checks it is held.
        .route(Any, routes!(governance::approve))
        .route(Any, routes!(governance::reject))
        .route(Any, routes!(governance::reports))
        .route(Any, routes!(governance::latest_report))
        .route(Any, routes!(governance::report))
        .route(Any, routes!(breakers::events))
        .route(Any, routes!(breakers::unresolved))
        .route(Role(Operator), routes!(breakers::resolve))
        .route(Any, routes!(breakers::rules))
        .route(Role(Operator), routes!(breakers::add_rule))
        .route(Any, routes!(breakers::enabled_rules))
        .route(
            Role(Operator),
            routes!(breakers::patch_rule, breakers::delete_rule),
        )
        .route(Role(Operator), routes!(breakers::check))
        .route(Any, routes!(plugins::list_plugins))
        .route(Any, routes!(plugins::get_plugin))
        .route(Any, routes!(registry::versions))
        .route(Role(Admin), routes!(registry::activate))
        .route(Role(Admin), routes!(registry::rollback))
        .route(Role(Admin), routes!(registry::delete_version))
        // Uploads may be far larger than any other body: the handler
        // enforces `max_upload_bytes` itself, part by part.
        .route_with(Role(Admin), routes!(registry::upload), |m| {
            m.layer(DefaultBodyLimit::disable())
        })
        .route(Role(Reporter), routes!(plugins::evaluate))
        .route(Role(Reporter), routes!(plugins::assess))
        .route(Any, routes!(plugins::list_evaluations))
        .idempotent(Role(Reporter), routes!(control::authorize))
        .route(Any, routes!(control::decisions))
        .route(Any, routes!(control::stop_status))
        .route(Role(Operator), routes!(control::stop))
        .route(Role(Operator), routes!(control::resume))
        // Scoped authority: the per-scope brakes are held by people, as
        // the emergency stop is.
        .route(Any, routes!(scopes::list_scopes))
        .route(Any, routes!(scopes::get_scope))
        .route(Role(Operator), routes!(scopes::set_autonomy))
        .route(Role(Operator), routes!(scopes::stop))
        .route(Role(Operator), routes!(scopes::resume))
        .route(Any, routes!(replicas::list_replicas))
        .route(Any, routes!(budgets::overview))
        .route(Any, routes!(budgets::rates))
        .route(Any, routes!(budgets::concurrency))
        .route(Any, routes!(budgets::batches))
        .route(Any, routes!(budgets::throttles))
        .route(
            Role(Operator),
            routes!(budgets::put_rate, budgets::delete_rate),
        )
        .route(
            Role(Operator),
            routes!(budgets::put_concurrency, budgets::delete_concurrency),
        )
        .route(
            Role(Operator),
            routes!(budgets::put_batch, budgets::delete_batch),
        )
        // The caller it was granted to, or an operator: the service checks.
        .route(Any, routes!(budgets::complete_decision))
        .route(Role(Reporter), routes!(control::register_workflow))
        .route(Any, routes!(control::list_workflows))
        .route(Any, routes!(control::get_workflow))
        .route(Any, routes!(control::trace))
        .idempotent(Role(Reporter), routes!(control::append_step))
        .route(Role(Reporter), routes!(control::complete))
        .route(Role(Operator), routes!(control::pause))
        .route(Role(Operator), routes!(control::resume_workflow))
        .route(Role(Reporter), routes!(events::post_event))
        .route(Any, routes!(events::list_events))
        .route(Any, routes!(events::actions))
        .route(Role(Operator), routes!(events::generate_report))
        .route(Any, routes!(events::risk_reports))
        .route(Any, routes!(events::stats))
        .route(Role(Admin), routes!(agents::register))
        .route(Any, routes!(agents::list))
        .route(Any, routes!(agents::breakers))
        .route(Any, routes!(agents::get))
        .idempotent(Role(Reporter), routes!(agents::cost))
        .idempotent(Role(Reporter), routes!(agents::failure))
        .route(Role(Operator), routes!(agents::trip))
        .route(Role(Operator), routes!(agents::reset))
        .route(Any, routes!(agents::budgets))
        // The token's agent binding is checked by the service.
        .route(Role(Reporter), routes!(agents::assign))
        .route(Any, routes!(agents::assignments))
        // The console's sign-in; signing out, like every state change of
        // a cookie session, needs its CSRF token (checked by the guard).
        .route(Public, routes!(sessions::sign_in))
        .route(Any, routes!(sessions::current, sessions::sign_out))
        .route(Any, routes!(sessions::stream))
        .into_inner()
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
        .merge(console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(error_shape))
        // What each route's guard resolves callers with.
        .layer(axum::Extension(std::sync::Arc::new(state.clone())))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(max_body))
        // Outermost last: the id is set, then returned, then the span records it.
        .layer(crate::telemetry::trace_layer())
        .layer(crate::telemetry::propagate_request_id_layer())
        .layer(crate::telemetry::set_request_id_layer())
        .with_state(state)
}
