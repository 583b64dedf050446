//! Who may call each route, declared next to the route in the router
//! table ([`super::api_router`]).
//!
//! A route is registered only through [`RouteTable::route`], which takes
//! its [`Access`]: there is no way to add a route and forget its roles.
//! The access becomes a guard on that route (run before any extractor: a
//! missing or bad token is 401, a role not held is 403) and an `x-access`
//! entry on the route's operation in `/openapi.json`, which is how a test
//! walks every route against this table.
//!
//! Checks that depend on the body or on what is acted on (who may mint a
//! token with which roles, who may revoke an attestation, which role
//! approves a proposal, an agent-bound token acting for its own agent
//! only) stay in the service that owns the change; the table holds the
//! coarse role every caller of the route needs first.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use super::auth::{Caller, OptionalCaller};
use super::{ApiError, AppState};
use crate::domain::auth::Role;

/// The name of the operation extension that states a route's access.
pub const ACCESS_EXTENSION: &str = "x-access";

/// What a caller needs to call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed; a token sent is not even read.
    Public,
    /// `/metrics`: anonymous unless `[metrics] require_token`, then a
    /// `scraper` token (or admin). A token sent is resolved either way,
    /// since only the monitoring system's own scrape is evidence that
    /// monitoring is in place.
    Scrape,
    /// Any valid token, whatever its roles.
    AnyAuthenticated,
    /// A token holding this role (admin holds every role).
    Role(Role),
}

impl Access {
    /// How the access is written in the OpenAPI document: `public`,
    /// `scrape`, `any_authenticated`, or the role's name.
    pub fn label(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Scrape => "scrape",
            Access::AnyAuthenticated => "any_authenticated",
            Access::Role(role) => role.as_str(),
        }
    }

    /// Reads a label back, as the document states it.
    pub fn from_label(label: &str) -> Option<Self> {
        match label {
            "public" => Some(Access::Public),
            "scrape" => Some(Access::Scrape),
            "any_authenticated" => Some(Access::AnyAuthenticated),
            role => role.parse().ok().map(Access::Role),
        }
    }
}

/// The router table: every route with the access it needs.
pub struct RouteTable(OpenApiRouter<AppState>);

impl RouteTable {
    pub fn new(doc: utoipa::openapi::OpenApi) -> Self {
        Self(OpenApiRouter::with_openapi(doc))
    }

    /// Registers the operations of `routes` (one path; one or more
    /// methods, all needing the same access).
    pub fn route(self, access: Access, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.route_with(access, routes, |m| m)
    }

    /// As [`RouteTable::route`], with `customize` applied to the method
    /// router first (a body limit of its own, say).
    pub fn route_with(
        self,
        access: Access,
        (schemas, mut paths, method_router): UtoipaMethodRouter<AppState>,
        customize: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> Self {
        for item in paths.paths.values_mut() {
            for operation in operations_mut(item) {
                operation
                    .extensions
                    .get_or_insert_with(Default::default)
                    .insert(ACCESS_EXTENSION.to_string(), access.label().into());
            }
        }
        let guarded = customize(method_router).route_layer(middleware::from_fn(
            move |req: Request, next: Next| guard(access, req, next),
        ));
        Self(self.0.routes((schemas, paths, guarded)))
    }

    pub fn into_inner(self) -> OpenApiRouter<AppState> {
        self.0
    }
}

fn operations_mut(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Runs before the route's extractors: resolves the caller as `access`
/// asks, refuses it (401 or 403) or hands it on to the handler.
async fn guard(access: Access, mut req: Request, next: Next) -> Response {
    match admit(access, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn admit(access: Access, req: &mut Request) -> Result<(), ApiError> {
    if access == Access::Public {
        return Ok(());
    }
    let state = req
        .extensions()
        .get::<Arc<AppState>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal(
                "the router was built without its state: no caller can be checked".into(),
            )
        })?;
    let caller = Caller::from_headers(req.headers(), &state).await?;
    match access {
        Access::Public => {}
        Access::Scrape => {
            let caller = match caller {
                Some(caller) if state.metrics.require_token => {
                    caller.require(Role::Scraper)?;
                    Some(caller)
                }
                Some(caller) => Some(caller),
                None if state.metrics.require_token => {
                    return Err(ApiError::Unauthorized(
                        "`[metrics] require_token` is on: scrape with a `scraper` token (`Authorization: Bearer <token>`)".into(),
                    ))
                }
                None => None,
            };
            req.extensions_mut()
                .insert(OptionalCaller(caller.map(|c| c.0)));
        }
        Access::AnyAuthenticated | Access::Role(_) => {
            let caller = caller.ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
            })?;
            if let Access::Role(role) = access {
                caller.require(role)?;
            }
            req.extensions_mut().insert(caller);
        }
    }
    Ok(())
}
