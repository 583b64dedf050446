use std::sync::Arc;

use crate::metrics::Metrics;
use crate::runtime::{ActivePlugins, PluginRuntime};
use crate::service::Services;

/// What handlers are given: the services, and what the HTTP layer itself
/// needs (authentication, limits, probes). Never the store: every read and
/// every change goes through a service.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// The plugin runtime and the active set, shared with the services;
    /// kept here for in-process tools (benches) that drive the runtime
    /// directly. Handlers go through [`Services::plugins`].
    pub runtime: Arc<PluginRuntime>,
    pub plugins: Arc<ActivePlugins>,
    pub exporter: Arc<Metrics>,
    /// Verifies people's JWTs when `[auth.oidc]` is configured.
    pub oidc: Option<Arc<crate::oidc::OidcVerifier>>,
    /// `[auth]`: who may mint what, and whether authorize needs a bound agent.
    pub auth: crate::config::AuthSettings,
    pub max_body_bytes: usize,
    /// `/ready`'s cached database check.
    pub ready: Arc<crate::service::probe::ReadyProbe>,
    /// `[metrics]`: whether `/metrics` needs a token.
    pub metrics: crate::config::MetricsSettings,
    /// Signed audit checkpoints, when `[audit]` configures them; their
    /// faults fail `/ready`.
    pub checkpoints: Option<Arc<crate::checkpoints::Checkpointer>>,
    /// The background work this replica runs under leases; stopped, and
    /// the leases given up, at a graceful shutdown.
    pub leases: Arc<crate::service::leases::LeaseRunner>,
    /// How the console's session cookie is set.
    pub session_cookie: SessionCookie,
}

/// The console's session cookie: whether it may travel only over HTTPS
/// (`[tls]` configured). It lasts as long as its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie {
    pub secure: bool,
}
