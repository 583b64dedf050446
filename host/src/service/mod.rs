//! The governance service: the domain's rules over the store and the
//! plugin runtime. Every method is blocking (SQLite and Wasm); the API
//! calls them on the blocking pool.

mod attestations;
mod breakers;
mod control;
mod cycle;
mod events;
mod fleet;
pub mod probe;
mod readiness;
pub mod registry;
pub mod retention;

pub use control::{authorize, AuthorizeReply, DecisionLog};
pub use fleet::Fleet;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::config::GovernanceSettings;
use crate::domain::auth::{Principal, Role};
use crate::domain::governance::{days_between, DecisionError, GovernanceState, DAY_MS};
use crate::domain::metrics::MetricsReport;
use crate::domain::{Phase, Timestamp};
use crate::metrics::Metrics;
use crate::runtime::{ActivePlugins, PluginRuntime};
use crate::storage::{Database, StorageError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
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

pub struct Governance {
    pub db: Arc<Database>,
    pub runtime: Arc<PluginRuntime>,
    /// The active plugin versions: each operation takes the current set
    /// once and uses it to the end.
    pub plugins: Arc<ActivePlugins>,
    pub settings: GovernanceSettings,
    pub exporter: Arc<Metrics>,
    /// When `/metrics` was last scraped: the "monitoring in place" fact.
    last_scrape_ms: AtomicI64,
    /// A command service's database to copy commands from, and how far.
    command_source: Option<(crate::storage::CommandSource, std::sync::Mutex<i64>)>,
    /// Sends auto-actions and escalations to the webhook.
    pub notifier: crate::webhook::Notifier,
    pub fleet: Fleet,
    /// Samples the inputs plugins are served, for candidates' shadow runs.
    pub shadow: registry::ShadowRecorder,
    /// Bounds each breaker check, and remembers the ones abandoned.
    breaker_checks: breakers::BreakerChecks,
}

impl Governance {
    pub fn new(
        db: Arc<Database>,
        runtime: Arc<PluginRuntime>,
        plugins: Arc<ActivePlugins>,
        settings: GovernanceSettings,
        exporter: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            runtime,
            plugins,
            settings,
            exporter,
            last_scrape_ms: AtomicI64::new(0),
            command_source: None,
            notifier: crate::webhook::Notifier::disabled(),
            fleet: Fleet::default(),
            shadow: registry::ShadowRecorder::disabled(),
            breaker_checks: breakers::BreakerChecks::default(),
        }
    }

    /// Loads the agents into memory; call once at start.
    pub fn with_fleet(mut self) -> Result<Self, StorageError> {
        self.fleet = Fleet::load(&self.db)?;
        Ok(self)
    }

    pub fn with_shadow_recorder(mut self, recorder: registry::ShadowRecorder) -> Self {
        self.shadow = recorder;
        self
    }

    pub fn with_notifier(mut self, notifier: crate::webhook::Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Reads commands from a command service's database (`COMMAND_DB_PATH`).
    pub fn with_command_source(mut self, source: crate::storage::CommandSource) -> Self {
        self.command_source = Some((source, std::sync::Mutex::new(0)));
        self
    }

    /// Copies new rows from the command source, if any; returns how many
    /// were new. Starting over after a restart is harmless: ids are
    /// idempotent.
    pub fn sync_command_source(&self) -> ServiceResult<u64> {
        let Some((source, cursor)) = &self.command_source else {
            return Ok(0);
        };
        // One sync at a time; the cursor only moves after a page is stored.
        let mut cursor = cursor.lock().unwrap_or_else(|p| p.into_inner());
        let mut accepted = 0;
        loop {
            let page = source.read_after(*cursor, 5_000)?;
            for why in &page.skipped {
                tracing::warn!(%why, "command source row skipped");
            }
            if page.last_rowid == *cursor {
                return Ok(accepted);
            }
            if !page.records.is_empty() {
                accepted += self
                    .db
                    .insert_commands(&page.records, Timestamp::now())?
                    .accepted;
            }
            *cursor = page.last_rowid;
        }
    }

    pub fn note_scrape(&self, now: Timestamp) {
        self.last_scrape_ms.store(now.millis(), Ordering::Relaxed);
    }

    pub fn last_scrape(&self) -> Option<Timestamp> {
        match self.last_scrape_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Timestamp(ms)),
        }
    }

    /// Metrics of commands and incidents in `[start, end)`.
    pub fn metrics(&self, start: Timestamp, end: Timestamp) -> ServiceResult<MetricsReport> {
        // `start == end` is an empty window: every count is zero.
        if start > end {
            return Err(ServiceError::BadRequest(format!(
                "`start` ({start}) must not be after `end` ({end})"
            )));
        }
        let tally = self.db.command_tally(start, end)?;
        let (incidents, critical_autonomous) = self.db.incident_counts(start, end)?;
        Ok(MetricsReport::new(
            start,
            end,
            &tally,
            incidents,
            critical_autonomous,
        ))
    }

    /// The last 7 days, whole, and day by day (oldest first).
    pub fn weekly_metrics(
        &self,
        now: Timestamp,
    ) -> ServiceResult<(MetricsReport, Vec<MetricsReport>)> {
        // Ending just after now: a record stamped this millisecond counts.
        let start = Timestamp(now.millis() + 1 - 7 * DAY_MS);
        let total = self.metrics(start, Timestamp(now.millis() + 1))?;
        let days = (0..7)
            .map(|d| {
                let from = Timestamp(start.millis() + d * DAY_MS);
                self.metrics(from, Timestamp(from.millis() + DAY_MS))
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok((total, days))
    }

    pub fn state(&self, now: Timestamp) -> ServiceResult<GovernanceState> {
        let row = self.db.state()?;
        Ok(GovernanceState {
            phase: row.phase,
            phase_started_at: row.phase_started_at,
            days_at_phase: days_between(row.phase_started_at, now),
            whitelist: row.whitelist,
            paused_command_types: self.db.paused_command_types()?,
            emergency_stop: row.emergency_stop,
            last_report_at: row.last_report_at,
            min_stabilization_days: self.settings.phases.min_stabilization_days(row.phase),
        })
    }

    /// Lowers the phase (a brake: operators and admins), or moves the
    /// current phase's start (a bootstrap: admins). Never raises it: only an
    /// approved proposal does. The whitelist follows the phase table.
    pub fn set_phase(
        &self,
        phase: Phase,
        started: Option<Timestamp>,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<GovernanceState> {
        let whitelist = self.settings.phases.whitelist(phase);
        self.db.change_phase(
            phase,
            started,
            who.holds(Role::Admin),
            &whitelist,
            &who.id,
            now,
        )?;
        self.state(now)
    }
}

impl Governance {
    /// What `/metrics` shows of the program, read from the store.
    pub fn prometheus_figures(
        &self,
        now: Timestamp,
    ) -> ServiceResult<crate::metrics::GovernanceFigures> {
        use crate::metrics::{GovernanceFigures, ReadinessFigures};
        let state = self.db.state()?;
        let plugins = self.plugins.current();
        let week = self.metrics(Timestamp(now.millis() - 7 * DAY_MS), now)?;
        let totals = self.db.command_totals()?;
        let (incidents, autonomous) = self.db.incident_totals()?;
        let readiness = self.db.latest_assessment()?.map(|a| ReadinessFigures {
            score: a.overall.score,
            max_score: a.overall.max_score,
            technical: a.categories.technical.score,
            process: a.categories.process.score,
            organizational: a.categories.organizational.score,
        });
        Ok(GovernanceFigures {
            phase: state.phase.to_string(),
            time_at_phase_seconds: (now.millis() - state.phase_started_at.millis()).max(0) as f64
                / 1000.0,
            success_ratio: week.success_rate,
            error_ratio: week.error_rate,
            approval_ratio: week.approval_rate,
            rollback_ratio: week.rollback_rate,
            commands_by_status: vec![
                ("succeeded", totals.succeeded),
                ("failed", totals.failed),
                ("rejected", totals.rejected),
                ("rolled_back", totals.rolled_back),
            ],
            readiness,
            breaker_events: self.db.breaker_event_totals()?,
            // Counted in SQL: the events themselves are never loaded for a scrape.
            unresolved_breaker_events: self.db.unresolved_breaker_event_count()?,
            incidents_by_severity: vec![
                ("low", u64::from(incidents.low)),
                ("medium", u64::from(incidents.medium)),
                ("high", u64::from(incidents.high)),
                ("critical", u64::from(incidents.critical)),
            ],
            safety_constraint_violations: autonomous,
            emergency_aborts: self
                .db
                .succeeded_commands_of(&["EMERGENCY_SHUTDOWN", "ABORT"])?,
            control: self.control_figures(state.emergency_stop)?,
            active_plugins: plugins
                .iter()
                .map(|p| crate::metrics::ActivePluginFigure {
                    name: p.name().to_string(),
                    kind: p.kind().world().to_string(),
                    version: p.version().to_string(),
                    sha256: p.summary().sha256.clone(),
                })
                .collect(),
            plugin_generation: plugins.generation(),
        })
    }

    fn control_figures(
        &self,
        emergency_stop: bool,
    ) -> ServiceResult<crate::metrics::ControlFigures> {
        let (assignments, failed_assignments) = self.db.assignment_totals()?;
        Ok(crate::metrics::ControlFigures {
            decisions: self
                .db
                .decision_totals()?
                .into_iter()
                .map(|(d, n)| (d.as_str(), n))
                .collect(),
            unbound_decisions: self
                .db
                .unbound_decision_totals()?
                .into_iter()
                .map(|(d, n)| (d.as_str(), n))
                .collect(),
            emergency_stop,
            paused_workflows: self.db.paused_workflow_count()?,
            events: self.db.event_totals()?,
            risk_by_category: self
                .db
                .risk_reports(1)?
                .into_iter()
                .flat_map(|r| r.summary.risk_scores)
                .collect(),
            assignments,
            failed_assignments,
            agents: self
                .fleet
                .snapshot()
                .iter()
                .map(|c| (c.id.clone(), c.budget_remaining, c.breaker_tripped))
                .collect(),
        })
    }
}
