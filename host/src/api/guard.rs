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

    /// As [`RouteTable::route`], for a route that accepts an
    /// `Idempotency-Key` (see [`super::idempotency`]): the key's layer runs
    /// after the guard (so it knows the checked caller) and before the
    /// handler, and the document states the header and its 409.
    pub fn idempotent(self, access: Access, routes: UtoipaMethodRouter<AppState>) -> Self {
        let (schemas, mut paths, method_router) = routes;
        for item in paths.paths.values_mut() {
            for operation in operations_mut(item) {
                super::idempotency::document(operation);
            }
        }
        self.route_with(access, (schemas, paths, method_router), |m| {
            m.layer(middleware::from_fn(super::idempotency::layer))
        })
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
    let (caller, session) = match Caller::authenticate(req.method(), req.headers(), &state).await? {
        Some(a) => (Some(a.caller), a.session),
        None => (None, None),
    };
    if let Some(session) = session {
        req.extensions_mut().insert(session);
    }
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
                ApiError::Unauthorized(
                    "missing `Authorization: Bearer <token>` header (or the console's session cookie)"
                        .into(),
                )
            })?;
            if let Access::Role(role) = access {
                caller.require(role)?;
            }
            req.extensions_mut().insert(caller);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Every route of the OpenAPI document, called with no token and with a
    //! token of each role, answers 401 and 403 exactly as the router table
    //! says; a route the table does not list fails the walk.

    use std::path::Path;

    use reqwest::{Method, StatusCode};
    use serde_json::Value;

    use super::*;
    use crate::api::auth::hash_token;
    use crate::config::ServeConfig;
    use crate::domain::auth::{PrincipalKind, TokenRequest};
    use crate::domain::Timestamp;
    use crate::storage::prelude::*;

    /// The guard's own refusal, told apart from a service's (an attester
    /// without an approver role, say), which a role the table admits may get.
    const GUARD_REFUSAL: &str = "this needs the `";

    fn token_for(role: Role) -> String {
        format!("rgt_role_walk_{}", role.as_str())
    }

    /// One token per role, each holding that role alone.
    fn mint_role_tokens(db_path: &Path) {
        let db = crate::storage::SqliteStore::open(db_path).unwrap();
        for role in Role::ALL {
            let request = TokenRequest {
                name: role.as_str().into(),
                roles: vec![role],
                principal: role.as_str().into(),
                principal_named: true,
                kind: PrincipalKind::default_for(&[role]),
                agent: None,
            };
            db.create_token(
                &request,
                &hash_token(&token_for(role)),
                "test",
                Timestamp::now(),
            )
            .unwrap();
        }
    }

    async fn serve(state: AppState) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, crate::api::router(state))
                .await
                .unwrap()
        });
        base
    }

    /// Every (method, path, access) in the document; panics on an
    /// operation whose access the table does not state.
    fn documented_routes() -> Vec<(Method, String, Access)> {
        let doc = serde_json::to_value(crate::api::openapi()).unwrap();
        let mut routes = Vec::new();
        let mut missing = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                const METHODS: [&str; 8] = [
                    "get", "put", "post", "delete", "patch", "head", "options", "trace",
                ];
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                match operation[ACCESS_EXTENSION]
                    .as_str()
                    .and_then(Access::from_label)
                {
                    Some(access) => routes.push((method, path.clone(), access)),
                    None => missing.push(format!("{method} {path}")),
                }
            }
        }
        assert!(
            missing.is_empty(),
            "routes missing from the router table: {missing:?}"
        );
        assert!(routes.len() > 70, "only {} routes walked", routes.len());
        routes
    }

    /// A path with every `{param}` filled by an id that names nothing, so
    /// that an admitted call changes nothing.
    fn concrete(path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').unwrap() + open;
            out.push_str(&i64::MAX.to_string());
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Whether `access` admits a caller holding `role` alone (`None`: no
    /// token), under `[metrics] require_token`.
    fn admits(access: Access, role: Option<Role>, metrics_need_token: bool) -> bool {
        match (access, role) {
            (Access::Public, _) => true,
            (Access::Scrape, None) => !metrics_need_token,
            (Access::Scrape, Some(r)) => {
                !metrics_need_token || matches!(r, Role::Scraper | Role::Admin)
            }
            (Access::AnyAuthenticated, r) => r.is_some(),
            (Access::Role(needed), Some(r)) => r == needed || r == Role::Admin,
            (Access::Role(_), None) => false,
        }
    }

    async fn walk(base: &str, metrics_need_token: bool) -> Vec<String> {
        let client = reqwest::Client::new();
        let mut wrong = Vec::new();
        let callers = std::iter::once(None).chain(Role::ALL.into_iter().map(Some));
        let routes = documented_routes();
        for role in callers {
            for (method, path, access) in &routes {
                let url = format!("{base}{}", concrete(path));
                let mut request = client.request(method.clone(), &url);
                if let Some(role) = role {
                    request = request.bearer_auth(token_for(role));
                }
                let response = request.send().await.unwrap();
                let status = response.status();
                // An event stream never ends: its status is all there is
                // to check, and its body is not read.
                let streaming = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                let body: Value = if streaming {
                    Value::Null
                } else {
                    response.json().await.unwrap_or(Value::Null)
                };
                let message = body["error"]["message"].as_str().unwrap_or_default();
                let refused_by_guard =
                    status == StatusCode::FORBIDDEN && message.starts_with(GUARD_REFUSAL);
                let who = role.map_or("no token", |r| r.as_str());
                let admitted = admits(*access, role, metrics_need_token);
                let as_expected = match (admitted, role) {
                    (true, _) => status != StatusCode::UNAUTHORIZED && !refused_by_guard,
                    (false, None) => status == StatusCode::UNAUTHORIZED,
                    (false, Some(_)) => refused_by_guard,
                };
                if !as_expected {
                    wrong.push(format!(
                        "{method} {path} ({}) with {who}: {status} {message}",
                        access.label()
                    ));
                }
            }
        }
        wrong
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_route_answers_401_and_403_as_the_router_table_says() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        let db_path = dir.path().join("regent.db");
        mint_role_tokens(&db_path);
        let config = ServeConfig::new(plugins, dir.path().join("cache"), db_path);
        let state = tokio::task::spawn_blocking(move || crate::startup::build_state(&config))
            .await
            .unwrap()
            .unwrap();
        let mut scrape_needs_token = state.clone();
        scrape_needs_token.metrics.require_token = true;

        let wrong = walk(&serve(state).await, false).await;
        assert!(wrong.is_empty(), "{wrong:#?}");
        let wrong = walk(&serve(scrape_needs_token).await, true).await;
        assert!(wrong.is_empty(), "with [metrics] require_token: {wrong:#?}");
    }

    #[test]
    fn every_access_label_reads_back() {
        let all = [Access::Public, Access::Scrape, Access::AnyAuthenticated]
            .into_iter()
            .chain(Role::ALL.into_iter().map(Access::Role));
        for access in all {
            assert_eq!(Access::from_label(access.label()), Some(access));
        }
        assert_eq!(Access::from_label("root"), None);
    }
}
