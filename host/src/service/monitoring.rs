//! What the server shows of itself: the figures `/metrics` renders, read
//! from the store, the scrape that counts as "monitoring in place", and
//! `/ready`'s database check.

use std::sync::Arc;

use super::{FleetService, ReportingService, ScrapeClock, ServiceResult};
use crate::domain::governance::DAY_MS;
use crate::domain::Timestamp;
use crate::runtime::ActivePlugins;
use crate::storage::prelude::*;

pub struct MonitoringService {
    db: Arc<dyn Store>,
    plugins: Arc<ActivePlugins>,
    reporting: Arc<ReportingService>,
    fleet: Arc<FleetService>,
    budgets: Arc<super::BudgetService>,
    scrapes: Arc<ScrapeClock>,
}

impl MonitoringService {
    pub(crate) fn new(
        db: Arc<dyn Store>,
        plugins: Arc<ActivePlugins>,
        reporting: Arc<ReportingService>,
        fleet: Arc<FleetService>,
        budgets: Arc<super::BudgetService>,
        scrapes: Arc<ScrapeClock>,
    ) -> Self {
        Self {
            db,
            plugins,
            reporting,
            fleet,
            budgets,
            scrapes,
        }
    }

    /// A scrape by the monitoring system itself: the evidence readiness
    /// reads that monitoring is in place.
    pub fn note_scrape(&self, now: Timestamp) {
        self.scrapes.note(now);
    }

    pub fn last_scrape(&self) -> Option<Timestamp> {
        self.scrapes.last()
    }

    /// Whether the store takes writes. Blocking: it writes.
    pub fn check_database(&self) -> ServiceResult<()> {
        Ok(self.db.check_writable()?)
    }

    /// What `/metrics` shows of the program, read from the store.
    pub fn prometheus_figures(
        &self,
        now: Timestamp,
    ) -> ServiceResult<crate::metrics::GovernanceFigures> {
        use crate::metrics::{GovernanceFigures, ReadinessFigures};
        let state = self.db.state()?;
        let plugins = self.plugins.current();
        let week = self
            .reporting
            .metrics(Timestamp(now.millis() - 7 * DAY_MS), now)?;
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
            unresolved_breaker_events: self.db.unresolved_event_count()?,
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
            scopes: self.scope_figures(),
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
            budgets: self.budget_figures(now)?,
        })
    }

    fn budget_figures(&self, now: Timestamp) -> ServiceResult<Vec<crate::metrics::BudgetFigure>> {
        use crate::metrics::BudgetFigure;
        let o = self.budgets.overview(now)?;
        let rates = o.rates.into_iter().map(|b| BudgetFigure {
            kind: "rate",
            name: b.name,
            used: b.used,
            limit: b.limit,
        });
        let concurrency = o.concurrency.into_iter().map(|b| BudgetFigure {
            kind: "concurrency",
            name: b.name,
            used: b.in_flight,
            limit: b.limit,
        });
        let throttles = o.throttles.into_iter().map(|t| BudgetFigure {
            kind: "throttle",
            name: t.rule_name,
            used: t.used,
            limit: t.spec.limit,
        });
        Ok(rates.chain(concurrency).chain(throttles).collect())
    }

    /// From the control snapshot, which holds exactly the braked scopes:
    /// no query.
    fn scope_figures(&self) -> crate::metrics::ScopeFigures {
        let snapshot = self.db.control();
        let count = |braked: fn(&crate::domain::scopes::ScopeBrakes) -> bool| {
            snapshot.scopes.values().filter(|b| braked(b)).count() as u64
        };
        crate::metrics::ScopeFigures {
            revoked: count(|b| b.revoked.is_some()),
            stopped: count(|b| b.stopped.is_some()),
        }
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
