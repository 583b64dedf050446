//! Building the application: runtime, plugins, database, service, router,
//! and the background work (breaker checks, the scheduled cycle).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::api::auth::{generate_token, hash_token, TokenCache};
use crate::api::{router, AppState};
use crate::config::{CycleSchedule, ServeConfig};
use crate::domain::auth::Principal;
use crate::domain::Timestamp;
use crate::exporter::Exporter;
use crate::runtime::{PluginRuntime, PluginSet, RuntimeConfig};
use crate::service::Governance;
use crate::storage::Database;

/// Loads every plugin in `dir`. A plugin that fails to load is logged with
/// the reason and left out; the others serve. The failures are returned
/// for `/ready`.
pub fn load_plugins(
    runtime: &PluginRuntime,
    dir: &Path,
    overrides: &std::collections::BTreeMap<String, toml::Table>,
) -> Result<(PluginSet, Vec<String>)> {
    let (loaded, failed) = runtime.load_dir_with(dir, overrides)?;
    for error in &failed {
        tracing::error!(%error, "plugin not loaded");
    }
    for p in &loaded {
        let s = p.summary();
        tracing::info!(plugin = %s.name, version = %s.version, kind = %s.kind, compiled_from = ?s.compiled_from, compile_ms = format!("{:.1}", s.compile_ms), "plugin loaded");
    }
    Ok((
        PluginSet::new(loaded),
        failed.iter().map(|e| e.to_string()).collect(),
    ))
}

/// Builds everything the server needs. Call it inside a tokio runtime:
/// the webhook sender is spawned on it.
pub fn build_state(config: &ServeConfig) -> Result<AppState> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(config.cache_dir.clone()),
        ..Default::default()
    })?;
    let (plugins, failures) = load_plugins(&runtime, &config.plugins_dir, &config.plugin_params)
        .with_context(|| format!("cannot load plugins from {}", config.plugins_dir.display()))?;
    let db = Arc::new(Database::open(&config.db_path)?);
    let now = Timestamp::now();
    if db.initialize(&config.governance.default_rules, now)? {
        tracing::info!(db = %config.db_path.display(), "initialized: phase L3, {} breaker rules, empty whitelist", config.governance.default_rules.len());
    }
    bootstrap_admin(&db, now)?;
    let exporter = Arc::new(Exporter::default());
    let runtime = Arc::new(runtime);
    let plugins = Arc::new(plugins);
    let mut governance = Governance::new(
        db.clone(),
        runtime.clone(),
        plugins.clone(),
        config.governance.clone(),
        exporter.clone(),
    );
    if let Some(path) = &config.command_db_path {
        governance = governance.with_command_source(crate::storage::CommandSource::new(path));
        match governance.sync_command_source() {
            Ok(n) => {
                tracing::info!(new = n, source = %path.display(), "commands read from the command service")
            }
            Err(e) => {
                tracing::error!(error = %e, source = %path.display(), "cannot read the command service's database")
            }
        }
    }
    let governance = Arc::new(governance.with_fleet()?.with_notifier(
        crate::webhook::Notifier::start(config.webhook.clone(), db.clone()),
    ));
    Ok(AppState {
        decisions: crate::service::DecisionLog::start(db.clone()),
        runtime,
        plugins,
        db,
        governance,
        exporter,
        tokens: Arc::new(TokenCache::default()),
        plugin_failures: Arc::new(failures),
        max_body_bytes: config.max_body_bytes,
    })
}

/// `REGENT_ADMIN_TOKEN` becomes an admin token. Without it, the first
/// start (no admin token stored) makes one and prints it, once.
fn bootstrap_admin(db: &Database, now: Timestamp) -> Result<()> {
    match std::env::var("REGENT_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(token) => {
            let added = db.ensure_admin_token("bootstrap-admin", &hash_token(token.trim()), now)?;
            if added {
                tracing::info!("REGENT_ADMIN_TOKEN registered as an admin token");
            }
        }
        None if !db.has_admin_token()? => {
            let token = generate_token().map_err(|e| anyhow::anyhow!("{e}"))?;
            db.ensure_admin_token("bootstrap-admin", &hash_token(&token), now)?;
            // Printed once: only its hash is stored.
            println!("regent: first start; the admin token (shown only now) is:\n{token}");
        }
        None => {}
    }
    Ok(())
}

/// Starts the breaker checker and, if configured, the cycle schedule.
pub fn spawn_background(state: &AppState, config: &ServeConfig) {
    let governance = state.governance.clone();
    let every = config.breaker_check_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let g = governance.clone();
            let check = move || {
                if let Err(e) = g.sync_command_source() {
                    tracing::error!(error = %e, "cannot read the command service's database");
                }
                g.check_breakers(Timestamp::now())
            };
            match tokio::task::spawn_blocking(check).await {
                Ok(Ok(events)) if !events.is_empty() => {
                    tracing::info!(created = events.len(), "breaker check")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "breaker check failed"),
                Err(e) => tracing::error!(error = %e, "breaker check task failed"),
            }
        }
    });
    if let Some(schedule) = config.cycle.clone() {
        let governance = state.governance.clone();
        tokio::spawn(async move {
            let scheduler = Principal {
                token_id: 0,
                name: "scheduler".into(),
                roles: vec![],
            };
            loop {
                let Some(wait) = next_cycle_in(&schedule) else {
                    tracing::error!(
                        "the cycle schedule has no next time; the scheduled cycle stops"
                    );
                    return;
                };
                tokio::time::sleep(wait).await;
                let (g, who) = (governance.clone(), scheduler.clone());
                match tokio::task::spawn_blocking(move || g.run_cycle(Timestamp::now(), &who)).await
                {
                    Ok(Ok(r)) => tracing::info!(
                        report = r.id,
                        proposal = r.decision.proposal_created,
                        "scheduled governance cycle"
                    ),
                    Ok(Err(e)) => tracing::error!(error = %e, "scheduled governance cycle failed"),
                    Err(e) => tracing::error!(error = %e, "scheduled governance cycle task failed"),
                }
            }
        });
    }
}

fn next_cycle_in(schedule: &CycleSchedule) -> Option<Duration> {
    match schedule {
        CycleSchedule::Every(d) => Some(*d),
        CycleSchedule::Cron(expr) => {
            let schedule: cron::Schedule = expr.parse().ok()?;
            let next = schedule.upcoming(chrono::Utc).next()?;
            (next - chrono::Utc::now()).to_std().ok()
        }
    }
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The webhook sender is spawned while the state is built.
    let _runtime = rt.enter();
    let state = build_state(&config)?;
    rt.block_on(async {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        spawn_background(&state, &config);
        tracing::info!(addr = %config.addr, plugins = state.plugins.len(), db = %config.db_path.display(), "regent listening");
        serve(listener, state).await
    })
}
