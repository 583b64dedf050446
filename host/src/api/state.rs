use std::sync::Arc;

use super::auth::TokenCache;
use crate::exporter::Exporter;
use crate::runtime::{PluginRuntime, PluginSet};
use crate::service::Governance;
use crate::storage::Database;

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<PluginRuntime>,
    pub plugins: Arc<PluginSet>,
    pub db: Arc<Database>,
    pub governance: Arc<Governance>,
    pub exporter: Arc<Exporter>,
    pub tokens: Arc<TokenCache>,
    /// Plugins that failed to load, for `/ready`.
    pub plugin_failures: Arc<Vec<String>>,
    pub max_body_bytes: usize,
    /// The decision log's group-commit writer.
    pub decisions: crate::service::DecisionLog,
}
