//! The services: the domain's rules over the store and the plugin
//! runtime, one service per area, each the one home of every change in it.
//! The API calls them (on the blocking pool: SQLite and Wasm block) and
//! never touches the store itself. [`Services`] bundles them; it is built
//! once, in `startup.rs`, from the shared [`Dependencies`].

pub mod access;
pub mod audit;
pub mod breakers;
pub mod budgets;
pub mod control;
pub mod cycle;
pub mod evaluations;
pub mod events;
pub mod fleet;
pub mod idempotency;
pub mod leases;
pub mod live;
pub mod monitoring;
pub mod plugins;
pub mod probe;
pub mod readiness;
pub mod registry;
pub mod replicas;
pub mod reporting;
pub mod retention;
pub mod scopes;
pub mod sessions;

pub use access::AccessService;
pub use audit::AuditService;
pub use breakers::BreakerService;
pub use budgets::BudgetService;
pub use control::{authorize, AuthorizeReply, ControlService, DecisionLog};
pub use cycle::ProposalService;
pub use events::EventService;
pub use fleet::{Fleet, FleetService};
pub use idempotency::IdempotencyService;
pub use live::LiveService;
pub use monitoring::MonitoringService;
pub use plugins::PluginService;
pub use readiness::ReadinessService;
pub use replicas::ReplicaService;
pub use reporting::ReportingService;
pub use retention::RetentionService;
pub use scopes::ScopeService;
pub use sessions::SessionService;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::config::GovernanceSettings;
use crate::domain::governance::DecisionError;
use crate::domain::Timestamp;
use crate::metrics::Metrics;
use crate::runtime::{ActivePlugins, PluginRuntime};
use crate::storage::prelude::*;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    /// The credential presented is not valid (a console sign-in with a bad
    /// token): 401.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A dependency (a plugin that is not loaded, the decision log) is
    /// missing: retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Input over a size bound; the message names the bound.
    #[error("{0}")]
    TooLarge(String),
    /// Input over another bound (compile time); the message names it.
    #[error("{0}")]
    OverLimit(String),
    #[error(transparent)]
    Plugin(crate::runtime::EvalError),
    /// A candidate plugin version failed a gate; nothing changed.
    #[error("gate `{}` failed: {}", .0.gate, .0.message)]
    GateFailed(Box<crate::domain::registry::GateFailure>),
    #[error(transparent)]
    Storage(StorageError),
    /// A dependency failed with an error of its own (the decision log's
    /// store): retrying later may work. The client is told `what`; the
    /// source goes to the log only.
    #[error("{what}")]
    DependencyFailed {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The store could not answer a question a decision depends on, so the
    /// decision is refused rather than taken without it (fail closed).
    /// A fault of the server itself (an output it cannot encode): a 500
    /// whose source is logged, never shown.
    #[error("{what}")]
    Fault {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("cannot read {what} from the store, so the request is refused")]
    StoreRead {
        what: String,
        /// Boxed, so that any store implementation's error fits.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(m) => ServiceError::NotFound(m),
            StorageError::Conflict(m) => ServiceError::Conflict(m),
            StorageError::Invalid(m) => ServiceError::BadRequest(m),
            StorageError::PhaseChange(e) if e.is_forbidden() => {
                ServiceError::Forbidden(e.to_string())
            }
            StorageError::PhaseChange(e) if e.is_conflict() => {
                ServiceError::Conflict(e.to_string())
            }
            StorageError::PhaseChange(e) => ServiceError::BadRequest(e.to_string()),
            StorageError::Decision(d) => match d {
                DecisionError::RoleNotHeld { .. } | DecisionError::RoleNotRequired { .. } => {
                    ServiceError::Forbidden(d.to_string())
                }
                _ => ServiceError::Conflict(d.to_string()),
            },
            other => ServiceError::Storage(other),
        }
    }
}

/// A bound principal acting for another agent is refused, not mistaken.
impl From<crate::domain::auth::BindingError> for ServiceError {
    fn from(e: crate::domain::auth::BindingError) -> Self {
        ServiceError::Forbidden(e.to_string())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// What the services share, handed to [`Services::new`] once at start.
pub struct Dependencies {
    pub db: Arc<dyn Store>,
    pub runtime: Arc<PluginRuntime>,
    /// The active plugin versions: each operation takes the current set
    /// once and uses it to the end.
    pub plugins: Arc<ActivePlugins>,
    pub settings: GovernanceSettings,
    pub exporter: Arc<Metrics>,
    /// Sends auto-actions and escalations to the webhook.
    pub notifier: crate::webhook::Notifier,
    /// Samples the inputs plugins are served, for candidates' shadow runs.
    pub shadow: registry::ShadowRecorder,
    /// Uploads, activations, rollbacks of plugin versions.
    pub registry: Arc<registry::PluginRegistry>,
    /// A command service's database to copy commands from, if any.
    pub command_source: Option<Box<dyn crate::storage::CommandSource>>,
    /// The decision log's group-commit writer.
    pub decisions: DecisionLog,
    /// `[auth] require_bound_agents`: authorize only for agent-bound tokens.
    pub require_bound_agents: bool,
    /// Whether `[auth.oidc]` is configured: approver roles then come only
    /// from the identity provider, never from a local token.
    pub oidc_configured: bool,
    /// This replica among those sharing the store, and how it follows them.
    pub replica: replicas::ReplicaDeps,
    /// Verifies the identity provider's JWTs for console sign-in, when
    /// `[auth.oidc]` is configured.
    pub oidc: Option<Arc<crate::oidc::OidcVerifier>>,
    /// `[console] session_ttl_minutes`, in milliseconds.
    pub session_ttl_ms: i64,
    /// `[idempotency] retention_hours`, in milliseconds.
    pub idempotency_retention_ms: i64,
}

/// Every service, each behind an `Arc` so that handlers and background
/// tasks share one instance.
#[derive(Clone)]
pub struct Services {
    pub access: Arc<AccessService>,
    pub audit: Arc<AuditService>,
    pub breakers: Arc<BreakerService>,
    pub budgets: Arc<BudgetService>,
    pub control: Arc<ControlService>,
    pub events: Arc<EventService>,
    pub fleet: Arc<FleetService>,
    pub monitoring: Arc<MonitoringService>,
    pub plugins: Arc<PluginService>,
    pub proposals: Arc<ProposalService>,
    pub readiness: Arc<ReadinessService>,
    pub registry: Arc<registry::PluginRegistry>,
    pub replicas: Arc<ReplicaService>,
    pub reporting: Arc<ReportingService>,
    pub retention: Arc<RetentionService>,
    pub sessions: Arc<SessionService>,
    pub live: Arc<LiveService>,
    pub idempotency: Arc<IdempotencyService>,
    pub scopes: Arc<ScopeService>,
}

impl Services {
    /// Builds every service over the shared dependencies. Loads the fleet
    /// into memory, so call it once at start.
    pub fn new(deps: Dependencies) -> Result<Self, StorageError> {
        let Dependencies {
            db,
            runtime,
            plugins,
            settings,
            exporter,
            notifier,
            shadow,
            registry,
            command_source,
            decisions,
            require_bound_agents,
            oidc_configured,
            replica,
            oidc,
            session_ttl_ms,
            idempotency_retention_ms,
        } = deps;
        let evaluator = Arc::new(
            evaluations::PluginEvaluator::new(runtime.clone(), exporter.clone(), db.clone())
                .with_shadow_recorder(shadow),
        );
        let scrapes = Arc::new(ScrapeClock::default());
        let plugin_deps = PluginDeps {
            runtime: runtime.clone(),
            plugins: plugins.clone(),
            exporter: exporter.clone(),
            evaluator,
        };
        let access = Arc::new(AccessService::new(
            db.clone(),
            plugins.clone(),
            oidc_configured,
        ));
        let audit = Arc::new(AuditService::new(db.clone()));
        let reporting = Arc::new(ReportingService::new(db.clone(), command_source));
        let control = Arc::new(ControlService::new(
            db.clone(),
            settings.clone(),
            decisions,
            require_bound_agents,
        ));
        let breakers = Arc::new(BreakerService::new(db.clone(), plugin_deps.clone()));
        let budgets = Arc::new(BudgetService::new(db.clone()));
        let events = Arc::new(EventService::new(
            db.clone(),
            plugin_deps.clone(),
            settings.clone(),
            notifier.clone(),
        ));
        let fleet = Arc::new(FleetService::new(
            db.clone(),
            plugin_deps.clone(),
            settings.clone(),
            notifier,
        )?);
        let readiness = Arc::new(ReadinessService::new(
            db.clone(),
            plugin_deps.clone(),
            settings.clone(),
            scrapes.clone(),
        ));
        let proposals = Arc::new(ProposalService::new(
            db.clone(),
            settings.clone(),
            cycle::CycleSteps {
                reporting: reporting.clone(),
                readiness: readiness.clone(),
                breakers: breakers.clone(),
                control: control.clone(),
                events: events.clone(),
            },
        ));
        let monitoring = Arc::new(MonitoringService::new(
            db.clone(),
            plugins.clone(),
            reporting.clone(),
            fleet.clone(),
            budgets.clone(),
            scrapes,
        ));
        let plugin_service = Arc::new(PluginService::new(db.clone(), plugin_deps));
        let replicas = Arc::new(ReplicaService::new(
            db.clone(),
            replica,
            plugins.clone(),
            access.clone(),
            fleet.clone(),
            registry.clone(),
        ));
        let sessions = Arc::new(SessionService::new(
            db.clone(),
            access.clone(),
            oidc,
            session_ttl_ms,
        ));
        let live = Arc::new(LiveService::new(db.clone()));
        let idempotency = Arc::new(IdempotencyService::new(
            db.clone(),
            exporter.clone(),
            idempotency_retention_ms,
        ));
        let scopes = Arc::new(ScopeService::new(db.clone()));
        let retention = Arc::new(RetentionService::new(db, exporter, settings));
        Ok(Self {
            access,
            audit,
            breakers,
            budgets,
            control,
            events,
            fleet,
            monitoring,
            plugins: plugin_service,
            proposals,
            readiness,
            registry,
            replicas,
            reporting,
            retention,
            sessions,
            live,
            idempotency,
            scopes,
        })
    }
}

/// What a service that runs plugins needs: the runtime, the active set,
/// and the evaluator that records every evaluation.
#[derive(Clone)]
pub(crate) struct PluginDeps {
    pub(crate) runtime: Arc<PluginRuntime>,
    pub(crate) plugins: Arc<ActivePlugins>,
    /// For figures a service measures around its plugin calls (assignment latency).
    pub(crate) exporter: Arc<Metrics>,
    /// Runs every plugin evaluation, recording its metrics, its shadow
    /// sample and (when asked for) its row: the one home of that work.
    pub(crate) evaluator: Arc<evaluations::PluginEvaluator>,
}

/// When `/metrics` was last scraped by the monitoring system: the
/// "monitoring in place" fact readiness reads and the scrape writes.
#[derive(Default)]
pub(crate) struct ScrapeClock {
    last_scrape_ms: AtomicI64,
}

impl ScrapeClock {
    pub(crate) fn note(&self, now: Timestamp) {
        self.last_scrape_ms.store(now.millis(), Ordering::Relaxed);
    }

    pub(crate) fn last(&self) -> Option<Timestamp> {
        match self.last_scrape_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Timestamp(ms)),
        }
    }
}
