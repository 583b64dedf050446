use std::sync::Arc;

use crate::runtime::{PluginRuntime, PluginSet};
use crate::storage::Database;

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<PluginRuntime>,
    pub plugins: Arc<PluginSet>,
    pub db: Arc<Database>,
}
