use std::sync::Arc;

use super::auth::TokenCache;
use crate::metrics::Metrics;
use crate::runtime::{ActivePlugins, PluginRuntime};
use crate::service::registry::PluginRegistry;
use crate::service::Governance;
use crate::storage::Database;

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<PluginRuntime>,
    /// The active plugin versions; a request takes the current set once.
    pub plugins: Arc<ActivePlugins>,
    /// Uploads, activations, rollbacks; its faults fail `/ready`.
    pub registry: Arc<PluginRegistry>,
    pub db: Arc<Database>,
    pub governance: Arc<Governance>,
    /// Every metric `/metrics` serves; `metrics` below is who may scrape it.
    pub exporter: Arc<Metrics>,
    pub tokens: Arc<TokenCache>,
    /// Verifies people's JWTs when `[auth.oidc]` is configured.
    pub oidc: Option<Arc<crate::oidc::OidcVerifier>>,
    /// `[auth]`: who may mint what, and whether authorize needs a bound agent.
    pub auth: crate::config::AuthSettings,
    pub max_body_bytes: usize,
    /// The decision log's group-commit writer.
    pub decisions: crate::service::DecisionLog,
    /// `/ready`'s cached database check.
    pub ready: Arc<crate::service::probe::ReadyProbe>,
    /// `[metrics]`: whether `/metrics` needs a token.
    pub metrics: crate::config::MetricsSettings,
    /// Signed audit checkpoints, when `[audit]` configures them; their
    /// faults fail `/ready`.
    pub checkpoints: Option<Arc<crate::checkpoints::Checkpointer>>,
}
