//! Building the application: runtime, plugins, database, router.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::config::ServeConfig;
use crate::runtime::{PluginRuntime, PluginSet, RuntimeConfig};
use crate::storage::Database;

/// Loads every plugin in `dir`. A plugin that fails to load is logged with
/// the reason and left out; the others serve.
pub fn load_plugins(runtime: &PluginRuntime, dir: &Path) -> Result<PluginSet> {
    let (loaded, failed) = runtime.load_dir(dir)?;
    for error in &failed {
        tracing::error!(%error, "plugin not loaded");
    }
    for p in &loaded {
        let s = p.summary();
        tracing::info!(plugin = %s.name, version = %s.version, kind = %s.kind, compiled_from = ?s.compiled_from, compile_ms = format!("{:.1}", s.compile_ms), "plugin loaded");
    }
    Ok(PluginSet::new(loaded))
}

pub fn build_state(config: &ServeConfig) -> Result<AppState> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(config.cache_dir.clone()),
        ..Default::default()
    })?;
    let plugins = load_plugins(&runtime, &config.plugins_dir)
        .with_context(|| format!("cannot load plugins from {}", config.plugins_dir.display()))?;
    let db = Database::open(&config.db_path)?;
    Ok(AppState {
        runtime: Arc::new(runtime),
        plugins: Arc::new(plugins),
        db: Arc::new(db),
    })
}

pub async fn serve(listener: TcpListener, state: AppState) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

pub fn serve_blocking(config: ServeConfig) -> Result<()> {
    let state = build_state(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(config.addr).await.with_context(|| format!("cannot listen on {}", config.addr))?;
        tracing::info!(addr = %config.addr, plugins = state.plugins.len(), db = %config.db_path.display(), "regent listening");
        serve(listener, state).await
    })
}
