//! The HTTP API: routing and extraction only; the work happens in
//! [`crate::evaluation`], [`crate::runtime`] and [`crate::storage`].

mod error;
mod handlers;
mod state;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use state::AppState;

/// Bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 4 << 20;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/api/plugins", get(handlers::list_plugins))
        .route("/api/plugins/{name}", get(handlers::get_plugin))
        .route("/api/plugins/{name}/evaluate", post(handlers::evaluate))
        .route("/api/readiness/evaluate", post(handlers::assess))
        .route("/api/evaluations", get(handlers::list_evaluations))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
