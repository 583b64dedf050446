//! Readiness: the checklist plugins on a context built from the store.

use std::sync::Arc;

use super::{PluginDeps, ScrapeClock, ServiceError, ServiceResult};
use crate::config::GovernanceSettings;
use crate::domain::governance::{days_between, DAY_MS};
use crate::domain::readiness::{
    Assessment, Attestation, Facts, PhaseStatus, ReadinessContext, ReadinessReport,
};
use crate::domain::Timestamp;
use crate::storage::prelude::*;

/// The readiness checklist: its context built from the store, the
/// assessments it makes, and the latest one stored.
pub struct ReadinessService {
    db: Arc<dyn Store>,
    plugin: PluginDeps,
    settings: GovernanceSettings,
    scrapes: Arc<ScrapeClock>,
}

impl ReadinessService {
    pub(crate) fn new(
        db: Arc<dyn Store>,
        plugin: PluginDeps,
        settings: GovernanceSettings,
        scrapes: Arc<ScrapeClock>,
    ) -> Self {
        Self {
            db,
            plugin,
            settings,
            scrapes,
        }
    }

    /// The latest stored assessment.
    pub fn latest(&self) -> ServiceResult<ReadinessReport> {
        self.db.latest_assessment()?.ok_or_else(|| {
            ServiceError::NotFound("no assessment yet: GET /api/readiness/current runs one".into())
        })
    }

    /// The latest stored assessment, or a new one (stored) if there is none.
    pub fn latest_or_assess(&self, now: Timestamp) -> ServiceResult<ReadinessReport> {
        match self.db.latest_assessment()? {
            Some(a) => Ok(a),
            None => self.assess(now),
        }
    }

    /// Runs the active checklist on a context the caller gives; nothing is
    /// stored.
    pub fn assess_context(&self, ctx: &ReadinessContext) -> Assessment {
        let plugins = self.plugin.plugins.current();
        self.plugin
            .evaluator
            .assess_given(&plugins.checklist(), ctx)
    }

    /// What the checklist is handed: attestations made in an approver
    /// role only. Whatever else the store holds (a reporter's attestation
    /// from before roles were enforced) never reaches an item.
    fn attestations_for_checklist(&self) -> ServiceResult<Vec<Attestation>> {
        Ok(self
            .db
            .attestations()?
            .iter()
            .filter(|a| a.role.is_approver())
            .map(|a| a.to_domain())
            .collect())
    }

    /// Everything the checklist items may read: metrics of the last 7
    /// days, incidents since the phase began (for "zero critical
    /// incidents"), live attestations, gauges and facts.
    pub fn readiness_context(&self, now: Timestamp) -> ServiceResult<ReadinessContext> {
        let state = self.db.state()?;
        let start =
            Timestamp(now.millis() - i64::from(self.settings.readiness_window_days) * DAY_MS);
        let end = Timestamp(now.millis() + 1);
        let metrics = self
            .db
            .command_tally(start, end)?
            .command_metrics(start, end);
        let enabled_rules = self.db.rules()?.iter().filter(|r| r.enabled).count() as u32;
        Ok(ReadinessContext {
            now,
            phase: PhaseStatus {
                current: state.phase,
                entered_at: Some(state.phase_started_at),
                days_at_phase: days_between(state.phase_started_at, now),
                min_stabilization_days: Some(
                    self.settings.phases.min_stabilization_days(state.phase),
                ),
            },
            metrics,
            incidents: self.db.incidents_since(state.phase_started_at)?,
            attestations: self.attestations_for_checklist()?,
            facts: Facts {
                enabled_breaker_rules: enabled_rules,
                // Exercised = activated; the stop's own history says when.
                emergency_stop_last_exercised: self.db.emergency_stop_status()?.last_activated_at,
                metrics_last_scraped: self.scrapes.last(),
                gauges: self.db.gauges()?,
            },
        })
    }

    /// Assesses now and stores the result.
    pub fn assess(&self, now: Timestamp) -> ServiceResult<ReadinessReport> {
        let ctx = self.readiness_context(now)?;
        // One set for the whole assessment: no item is judged by a version
        // that a swap made mid-way.
        let plugins = self.plugin.plugins.current();
        let checklist = plugins.checklist();
        let assessment = self.plugin.evaluator.assess(&checklist, &ctx);
        let mut report = ReadinessReport::new(now, ctx.phase.current, &assessment);
        report.plugin_generation = plugins.generation();
        self.db.store_assessment(&mut report)?;
        Ok(report)
    }
}
