//! Building the application: runtime, plugins, database, service, router,
//! and the background work (breaker checks, the scheduled cycle).

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::auth::{generate_token, hash_token};
use crate::api::{router, AppState};
use crate::config::{CycleSchedule, ServeConfig, TlsSettings};
use crate::domain::auth::Principal;
use crate::domain::{Phase, Timestamp};
use crate::metrics::Metrics;
use crate::oidc::OidcVerifier;
use crate::runtime::{
    ActivePlugins, CompileLimits, DiskCache, PluginRuntime, PluginSet, RuntimeConfig,
};
use crate::service::leases::{
    LeaseRunner, LeaseTiming, LeasedJob, Periodic, AUDIT_CHECKPOINTS, BREAKER_CHECKS,
    GOVERNANCE_CYCLE, RETENTION,
};
use crate::service::registry::{spawn_watch, PluginRegistry, ShadowRecorder};
use crate::service::replicas::{ReplicaBounds, ReplicaDeps, ReplicaIdentity};
use crate::service::{DecisionLog, Dependencies, Services};
use crate::storage::prelude::*;
use crate::storage::{ChangeFeed, InitialState};
use crate::storage::{PostgresOptions, PostgresStore, SqliteStore};
use crate::tls::{self, TlsListener};

/// The store, and how it follows other replicas' changes when it is
/// shared by several (PostgreSQL).
struct OpenedStore {
    db: Arc<dyn Store>,
    feed: Option<Arc<dyn ChangeFeed>>,
}

/// PostgreSQL when a database URL is given (following the other
/// replicas' changes, which the feed reports), else the SQLite file.
fn open_store(config: &ServeConfig) -> Result<OpenedStore> {
    let Some(url) = &config.database_url else {
        return Ok(OpenedStore {
            db: Arc::new(SqliteStore::open(&config.db_path)?),
            feed: None,
        });
    };
    let cluster = &config.cluster;
    let store = Arc::new(PostgresStore::connect(
        url,
        PostgresOptions {
            pool_size: cluster.pool_size,
            stale_after: Duration::from_millis(cluster.stale_after_ms),
            poll_every: Duration::from_millis(cluster.poll_ms),
            ca_file: cluster.ca_file.clone(),
            ..PostgresOptions::default()
        },
    )?);
    if cluster.ca_file.is_some() && !store.uses_tls() {
        tracing::warn!("[cluster] ca_file is set but the database URL does not say `sslmode=require`: connections to PostgreSQL are plain TCP");
    }
    store.follow_changes();
    tracing::info!(database = %crate::storage::redact_url(url), tls = store.uses_tls(), "on PostgreSQL");
    let feed: Arc<dyn ChangeFeed> = store.clone();
    Ok(OpenedStore {
        db: store,
        feed: Some(feed),
    })
}

/// The compile cache on disk. Its key binds the native code in it to the
/// processes that hold the key. Replicas sharing a database each compile
/// for themselves and never load native code another process wrote, so
/// each keys its cache with a random key of its own, kept in memory only
/// (its artifacts serve this process; another's fail their MAC and are
/// compiled again).
fn disk_cache(config: &ServeConfig) -> Result<DiskCache> {
    if config.database_url.is_none() {
        let key_file = config.compile.key_file(&config.db_path);
        return Ok(DiskCache::open(
            &config.cache_dir,
            &key_file,
            config.compile.cache_max_bytes,
        )?);
    }
    if let Some(file) = &config.compile.cache_key_file {
        tracing::warn!(key_file = %file.display(), "[compile] cache_key_file is not used with a database_url: each replica keys its compile cache with a random key of its own, in memory");
    }
    let mut key = [0u8; crate::runtime::cache::CACHE_KEY_LEN];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no randomness for the compile cache key: {e}"))?;
    Ok(DiskCache::with_key(
        &config.cache_dir,
        crate::runtime::cache::CacheKey::from_bytes(key),
        config.compile.cache_max_bytes,
    )?)
}

/// Where this replica says it serves: `[cluster] advertise`
/// (`REGENT_ADVERTISE`), else the address it listens on, named by the
/// hostname when that address is every address (`0.0.0.0`).
fn advertised(config: &ServeConfig) -> String {
    if let Some(address) = &config.cluster.advertise {
        return address.clone();
    }
    if config.addr.ip().is_unspecified() {
        return format!("{}:{}", crate::replica::hostname(), config.addr.port());
    }
    config.addr.to_string()
}

/// Builds everything the server needs. Call it inside a tokio runtime:
/// the webhook sender is spawned on it.
pub fn build_state(config: &ServeConfig) -> Result<AppState> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        disk_cache: Some(disk_cache(config)?),
        compile: CompileLimits {
            timeout: Duration::from_millis(config.compile.timeout_ms),
            max_concurrent: config.compile.max_concurrent,
            max_component_bytes: config.registry.max_upload_bytes,
        },
        ..Default::default()
    })?;
    let OpenedStore { db, feed } = open_store(config)?;
    let now = Timestamp::now();
    let initial_whitelist = config
        .initial_phase
        .map(|i| config.governance.phases.whitelist(i.phase))
        .unwrap_or_default();
    let initial = config.initial_phase.map(|i| InitialState {
        phase: i.phase,
        started_at: i.started_at,
        whitelist: &initial_whitelist,
    });
    if db.initialize(&config.governance.default_rules, initial, now)? {
        let (phase, since) = config
            .initial_phase
            .map_or((Phase::L3, now), |i| (i.phase, i.started_at));
        tracing::info!(db = %config.db_path.display(), %phase, %since, "initialized: {} breaker rules", config.governance.default_rules.len());
    } else if let Some(i) = config.initial_phase {
        // Only a proposal moves the phase of a running program.
        tracing::warn!(initial_phase = %i.phase, "`initial_phase` ignored: the store was initialized before; it applies only at the first start");
    }
    let oidc = match &config.auth.oidc {
        Some(c) => {
            let verifier = tokio::runtime::Handle::current()
                .block_on(OidcVerifier::new(c.clone()))
                .map_err(|e| anyhow::anyhow!("[auth.oidc]: {e}"))?;
            tracing::info!(issuer = %c.issuer, "people sign in with the identity provider");
            Some(Arc::new(verifier))
        }
        None => None,
    };
    let seeded = crate::service::BudgetService::new(db.clone())
        .seed(&config.budgets.definitions(), now)
        .map_err(|e| anyhow::anyhow!("seeding [[budgets]]: {e}"))?;
    if seeded > 0 {
        tracing::info!(seeded, "budgets added from the configuration");
    }
    bootstrap_admin(&*db, now)?;
    let exporter = Arc::new(Metrics::new(Duration::from_millis(
        config.metrics.store_cache_ms,
    )));
    let leases = LeaseRunner::new(
        db.clone(),
        crate::replica::replica_id(),
        LeaseTiming::of(&config.cluster),
        exporter.clone(),
    );
    let checkpoints = if config.audit.checkpoints() {
        let checkpointer = Arc::new(
            crate::checkpoints::Checkpointer::open(db.clone(), &config.audit, &config.webhook)
                .map_err(|e| anyhow::anyhow!("[audit]: {e}"))?,
        );
        leases.spawn(AUDIT_CHECKPOINTS, checkpointer.clone().job());
        tracing::info!(file = ?config.audit.checkpoint_file, "signed audit checkpoints");
        Some(checkpointer)
    } else {
        None
    };
    let runtime = Arc::new(runtime);
    let plugins = Arc::new(ActivePlugins::new(PluginSet::default()));
    let registry = Arc::new(
        PluginRegistry::new(
            db.clone(),
            runtime.clone(),
            plugins.clone(),
            exporter.clone(),
            config.registry.clone(),
            config.plugin_params.clone(),
        )
        .map_err(|e| anyhow::anyhow!("[plugin_registry]: {e}"))?,
    );
    // The store's active set first (what a restart must come back with),
    // then whatever the directory adds.
    registry.load_active()?;
    for problem in registry.import_dir(&config.plugins_dir, config.watch) {
        tracing::error!(%problem, "plugin not imported");
    }
    for p in plugins.current().iter() {
        let s = p.summary();
        tracing::info!(plugin = %s.name, version = %s.version, kind = %s.kind, compiled_from = ?s.compiled_from, compile_ms = format!("{:.1}", s.compile_ms), "plugin active");
    }
    let recorder = ShadowRecorder::new(
        db.clone(),
        Duration::from_millis(config.registry.shadow_sample_interval_ms),
        config.registry.shadow_inputs,
    );
    let services = Services::new(Dependencies {
        db: db.clone(),
        runtime: runtime.clone(),
        plugins: plugins.clone(),
        settings: config.governance.clone(),
        exporter: exporter.clone(),
        notifier: crate::webhook::Notifier::start(config.webhook.clone(), db.clone())
            .context("[webhook]")?,
        shadow: recorder,
        registry,
        command_source: config.command_db_path.as_deref().map(
            |path| -> Box<dyn crate::storage::CommandSource> {
                Box::new(crate::storage::SqliteCommandSource::new(path))
            },
        ),
        decisions: DecisionLog::start(db),
        require_bound_agents: config.auth.require_bound_agents,
        oidc_configured: oidc.is_some(),
        replica: ReplicaDeps {
            identity: ReplicaIdentity::this_process(advertised(config)),
            bounds: ReplicaBounds::from(&config.cluster),
            feed,
        },
        oidc: oidc.clone(),
        session_ttl_ms: config.console.session_ttl_ms(),
        idempotency_retention_ms: config.idempotency.retention_ms(),
    })?;
    // Recorded before serving, so the replica is listed from its first
    // request; then kept fresh, and the other replicas' changes followed.
    services
        .replicas
        .heartbeat()
        .context("cannot record this replica's first heartbeat")?;
    services.replicas.spawn();
    tracing::info!(replica = %services.replicas.id(), "replica identity");
    if let Some(path) = &config.command_db_path {
        match services.reporting.sync_command_source() {
            Ok(n) => {
                tracing::info!(new = n, source = %path.display(), "commands read from the command service")
            }
            Err(e) => {
                tracing::error!(error = %e, source = %path.display(), "cannot read the command service's database")
            }
        }
    }
    Ok(AppState {
        services,
        runtime,
        plugins,
        exporter,
        oidc,
        auth: config.auth.clone(),
        max_body_bytes: config.max_body_bytes,
        ready: Arc::new(crate::service::probe::ReadyProbe::default()),
        metrics: config.metrics.clone(),
        checkpoints,
        leases,
        session_cookie: crate::api::SessionCookie {
            secure: config.tls.is_some(),
        },
    })
}

/// `REGENT_ADMIN_TOKEN` becomes an admin token. Without it, the first
/// start (no admin token stored) makes one and prints it, once.
fn bootstrap_admin(db: &dyn Store, now: Timestamp) -> Result<()> {
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

/// How often `--watch` looks at the plugins directory: a change is taken
/// after it holds still for one poll, so within two polls.
const WATCH_EVERY: Duration = Duration::from_millis(400);

/// Starts the directory watch if asked for, and the background work that
/// runs on one replica at a time, each under its lease
/// ([`crate::service::leases`]): the breaker checks, retention and, if
/// configured, the cycle schedule. (Audit checkpoints are started with
/// the state, under their lease too.)
pub fn spawn_background(state: &AppState, config: &ServeConfig) {
    if config.watch {
        spawn_watch(
            state.services.registry.clone(),
            config.plugins_dir.clone(),
            WATCH_EVERY,
        );
    }
    let (reporting, breakers) = (
        state.services.reporting.clone(),
        state.services.breakers.clone(),
    );
    state.leases.spawn(
        BREAKER_CHECKS,
        Periodic::new(config.breaker_check_interval, true, move |_| {
            let (reporting, breakers) = (reporting.clone(), breakers.clone());
            async move {
                let check = move || {
                    if let Err(e) = reporting.sync_command_source() {
                        tracing::error!(error = %e, "cannot read the command service's database");
                    }
                    breakers.check_breakers(Timestamp::now())
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
        }),
    );
    if let Some(pruner) = crate::service::retention::pruner(
        state.services.retention.clone(),
        config.retention.clone(),
    ) {
        state.leases.spawn(RETENTION, pruner);
    }
    if let Some(schedule) = config.cycle.clone() {
        state.leases.spawn(
            GOVERNANCE_CYCLE,
            ScheduledCycle {
                schedule,
                proposals: state.services.proposals.clone(),
            },
        );
    }
}

/// The governance cycle on its schedule. A period counts from when this
/// replica took the lease (as from a start); a cron expression names
/// wall-clock times, whoever holds the lease.
struct ScheduledCycle {
    schedule: CycleSchedule,
    proposals: Arc<crate::service::ProposalService>,
}

impl LeasedJob for ScheduledCycle {
    fn next_run(&self, previous: Option<tokio::time::Instant>) -> Option<tokio::time::Instant> {
        let Some(wait) = next_cycle_in(&self.schedule) else {
            tracing::error!("the cycle schedule has no next time; the scheduled cycle stops");
            return None;
        };
        let now = tokio::time::Instant::now();
        Some(match (&self.schedule, previous) {
            (CycleSchedule::Every(period), Some(started)) => (started + *period).max(now),
            _ => now + wait,
        })
    }

    async fn run(&self, _first: bool) {
        let (g, who) = (self.proposals.clone(), Principal::internal("scheduler"));
        match tokio::task::spawn_blocking(move || g.run_cycle(Timestamp::now(), &who)).await {
            Ok(Ok(r)) => tracing::info!(
                report = r.id,
                proposal = r.decision.proposal_created,
                "scheduled governance cycle"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled governance cycle failed"),
            Err(e) => tracing::error!(error = %e, "scheduled governance cycle task failed"),
        }
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
    let replicas = state.services.replicas.clone();
    let live = state.services.live.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal(live))
        .await?;
    retire(replicas).await;
    Ok(())
}

/// Takes this replica out of the live list at a clean shutdown, so a stop
/// does not wait for it and operators do not see it as lagging.
async fn retire(replicas: Arc<crate::service::ReplicaService>) {
    let id = replicas.id().to_string();
    match tokio::task::spawn_blocking(move || replicas.retire()).await {
        Ok(Ok(())) => tracing::info!(replica = %id, "replica retired"),
        Ok(Err(e)) => {
            tracing::warn!(replica = %id, error = %e, "cannot retire this replica; it drops out of the live list once its heartbeat is old")
        }
        Err(e) => tracing::warn!(replica = %id, error = %e, "the retirement task failed"),
    }
}

/// Serves HTTPS: every connection completes a TLS handshake with
/// `acceptor`'s certificate before a byte reaches the router.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: AppState,
) -> Result<()> {
    let listener = TlsListener::new(listener, acceptor)?;
    let replicas = state.services.replicas.clone();
    let live = state.services.live.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal(live))
        .await?;
    retire(replicas).await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what an orchestrator sends before it kills). Then
/// the console's live streams are ended: a graceful shutdown waits for
/// every open request, and a stream would never end by itself.
async fn shutdown_signal(live: Arc<crate::service::LiveService>) {
    signalled().await;
    live.close();
}

async fn signalled() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Why serving plain HTTP on `addr` is a risk, when it is: tokens and
/// approvals would cross the network in the clear.
pub fn plaintext_risk(addr: SocketAddr, tls: Option<&TlsSettings>) -> Option<String> {
    (tls.is_none() && !addr.ip().is_loopback()).then(|| {
        format!("serving plain HTTP on {addr}, beyond loopback: bearer tokens cross the network in the clear; set [tls] cert_file and key_file, or put a TLS-terminating proxy in front")
    })
}

pub fn serve_blocking(config: ServeConfig) -> Result<()> {
    // A bad certificate or key stops the start before anything else runs.
    let acceptor = config
        .tls
        .as_ref()
        .map(tls::acceptor)
        .transpose()
        .context("[tls]")?;
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
        if let Some(risk) = plaintext_risk(config.addr, config.tls.as_ref()) {
            tracing::warn!("{risk}");
        }
        let leases = state.leases.clone();
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        tracing::info!(addr = %config.addr, scheme, plugins = state.plugins.current().len(), watch = config.watch, db = %config.db_path.display(), "regent listening");
        let served = match acceptor {
            Some(acceptor) => serve_tls(listener, acceptor, state).await,
            None => serve(listener, state).await,
        };
        // Another replica takes the background work at its next try
        // instead of waiting for these leases to lapse.
        leases.shutdown().await;
        served
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_a_risk_only_beyond_loopback_and_without_tls() {
        let tls = TlsSettings {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
        };
        let risk = |addr: &str, tls| plaintext_risk(addr.parse().unwrap(), tls);
        assert!(risk("127.0.0.1:4007", None).is_none());
        assert!(risk("[::1]:4007", None).is_none());
        assert!(risk("0.0.0.0:4007", Some(&tls)).is_none());
        let warning = risk("0.0.0.0:4007", None).unwrap();
        assert!(warning.contains("[tls] cert_file"), "{warning}");
        assert!(risk("10.1.2.3:4007", None).is_some());
    }
}
