//! Engines' events, their auto-actions, risk reports and stats.

use std::sync::Arc;

use super::{PluginDeps, ServiceError, ServiceResult};
use crate::config::GovernanceSettings;
use crate::domain::events::{
    select_action, ActionRecord, EngineEvent, EventStats, NewEvent, RiskReport, RiskSummaryCounts,
};
use crate::domain::governance::DAY_MS;
use crate::domain::risk::{GovernanceEvent, RiskAssessment};
use crate::domain::{Severity, Timestamp};
use crate::storage::prelude::*;
use crate::webhook::Notifier;

/// (assessment, scorer, scorer version)
pub type Scored = (RiskAssessment, String, String);

/// Why events could not be scored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    #[error("risk scorer `{name}` is not loaded")]
    NotLoaded { name: String },
    #[error(transparent)]
    Plugin(#[from] crate::runtime::EvalError),
}

/// Engines' events and their auto-actions, and risk scoring.
pub struct EventService {
    db: Arc<dyn Store>,
    plugin: PluginDeps,
    settings: GovernanceSettings,
    notifier: Notifier,
}

impl EventService {
    pub(crate) fn new(
        db: Arc<dyn Store>,
        plugin: PluginDeps,
        settings: GovernanceSettings,
        notifier: Notifier,
    ) -> Self {
        Self {
            db,
            plugin,
            settings,
            notifier,
        }
    }

    /// Events, newest first, optionally of one engine or severity.
    pub fn events(
        &self,
        limit: u32,
        engine: Option<&str>,
        severity: Option<Severity>,
    ) -> ServiceResult<Vec<EngineEvent>> {
        Ok(self.db.engine_events(limit, engine, severity)?)
    }

    /// Auto-actions and agent escalations, newest first.
    pub fn actions(&self, limit: u32) -> ServiceResult<Vec<ActionRecord>> {
        Ok(self.db.actions(limit)?)
    }

    /// Stored risk reports, newest first.
    pub fn risk_reports(&self, limit: u32) -> ServiceResult<Vec<RiskReport>> {
        Ok(self.db.risk_reports(limit)?)
    }

    /// Scores events with the configured risk-scorer plugin.
    pub fn score_events(&self, events: &[GovernanceEvent]) -> Result<Scored, ScoreError> {
        let name = &self.settings.risk_scorer;
        let plugins = self.plugin.plugins.current();
        let plugin = plugins
            .get(name)
            .ok_or_else(|| ScoreError::NotLoaded { name: name.clone() })?;
        let assessment = self.plugin.evaluator.score_risk(plugin, events)?;
        Ok((
            assessment,
            plugin.name().to_string(),
            plugin.version().to_string(),
        ))
    }

    /// Stores an event; a HIGH or CRITICAL one gets its action in the same
    /// transaction, then the action is queued for the webhook.
    pub fn log_event(
        &self,
        event: NewEvent,
        who: &str,
        now: Timestamp,
    ) -> ServiceResult<EngineEvent> {
        event
            .check(now)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let action = select_action(&self.settings.action_rules, &event.engine, event.severity);
        let delivery = self.notifier.initial_status();
        let (stored, record) =
            self.db
                .insert_event(&event, who, action.as_deref().map(|a| (a, delivery)), now)?;
        if let Some(record) = record {
            self.notifier.send(record);
        }
        Ok(stored)
    }

    /// Scores the last 7 days of events and stores the report.
    pub fn risk_report(&self, who: &str, now: Timestamp) -> ServiceResult<RiskReport> {
        let start = Timestamp(now.millis() - 7 * DAY_MS);
        let events = self
            .db
            .engine_events_between(start, Timestamp(now.millis() + 1))?;
        let scored: Vec<GovernanceEvent> = events.iter().map(EngineEvent::as_scored).collect();
        let (assessment, scorer, version) = self.score_events(&scored).map_err(|m| {
            ServiceError::Unavailable(format!("the risk report could not be scored: {m}"))
        })?;
        let risk_scores = assessment
            .categories
            .iter()
            .map(|c| (c.category.clone(), c.score))
            .collect();
        let day = |t: Timestamp| t.to_string().get(..10).unwrap_or_default().to_string();
        let report = RiskReport {
            id: 0,
            report_period: format!("{}_{}", day(start), day(now)),
            summary: RiskSummaryCounts::count(&events, risk_scores),
            risk_score: assessment.overall,
            recommendations: assessment.recommendations,
            generated_at: now,
            generated_by: who.to_string(),
            scorer,
            scorer_version: version,
            truncated: assessment.truncated,
        };
        Ok(self.db.insert_risk_report(&report)?)
    }

    /// The seed's stats over 30 days.
    pub fn event_stats(&self, now: Timestamp) -> ServiceResult<EventStats> {
        let (by_engine, critical) = self.db.event_counts_since(Timestamp(
            now.millis() - crate::domain::retention::EVENTS_READ_BACK_MS,
        ))?;
        let total = by_engine.iter().map(|(_, n)| n).sum();
        // Engines come sorted by name: the first with the top count wins.
        let top = by_engine
            .iter()
            .fold(None::<&(String, u64)>, |best, e| match best {
                Some(b) if b.1 >= e.1 => Some(b),
                _ => Some(e),
            })
            .map(|(engine, _)| engine.clone());
        let latest = self.db.risk_reports(1)?.first().map(|r| r.risk_score);
        Ok(EventStats {
            total_events: total,
            critical_count: critical,
            latest_risk_score: latest.unwrap_or(0),
            top_risky_engine: top,
        })
    }
}
