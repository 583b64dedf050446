//! The weekly governance cycle, proposals and decisions on them.

use std::sync::Arc;

use super::{
    BreakerService, ControlService, EventService, ReadinessService, ReportingService, ServiceError,
    ServiceResult,
};
use crate::config::GovernanceSettings;
use crate::domain::auth::{Principal, Role};
use crate::domain::governance::{
    decide_expansion, Approval, BreakerEventCounts, CycleDecision, ExpansionInputs,
    GovernanceReport, Proposal, ProposalStatus, Rejection, ReportReadiness, RiskSummary, DAY_MS,
};
use crate::domain::metrics::MetricsReport;
use crate::domain::readiness::ReadinessReport;
use crate::domain::risk::GovernanceEvent;
use crate::domain::{Phase, Severity, Timestamp};
use crate::storage::prelude::*;
use crate::storage::StorageError;

/// The services a cycle runs in turn.
pub struct CycleSteps {
    pub reporting: Arc<ReportingService>,
    pub readiness: Arc<ReadinessService>,
    pub breakers: Arc<BreakerService>,
    pub control: Arc<ControlService>,
    pub events: Arc<EventService>,
}

/// The governance cycle, the proposals it makes, and the approvals and
/// rejections that decide them; its reports.
pub struct ProposalService {
    db: Arc<dyn Store>,
    settings: GovernanceSettings,
    steps: CycleSteps,
}

impl ProposalService {
    pub fn new(db: Arc<dyn Store>, settings: GovernanceSettings, steps: CycleSteps) -> Self {
        Self {
            db,
            settings,
            steps,
        }
    }

    /// Pending proposals, or every one with `all`.
    pub fn proposals(&self, all: bool) -> ServiceResult<Vec<Proposal>> {
        Ok(self.db.proposals(all)?)
    }

    pub fn proposal(&self, id: i64) -> ServiceResult<Proposal> {
        Ok(self.db.proposal(id)?)
    }

    /// Cycle reports, newest first.
    pub fn reports(&self, limit: u32) -> ServiceResult<Vec<GovernanceReport>> {
        Ok(self.db.reports(limit)?)
    }

    pub fn latest_report(&self) -> ServiceResult<GovernanceReport> {
        self.db.reports(1)?.pop().ok_or_else(|| {
            ServiceError::NotFound(
                "no report yet: POST /api/governance/run-cycle writes one".into(),
            )
        })
    }

    pub fn report(&self, id: i64) -> ServiceResult<GovernanceReport> {
        Ok(self.db.report(id)?)
    }

    /// The seed's six steps: metrics (stored as a snapshot), readiness,
    /// breakers, the expansion decision, the report, `lastReportAt`.
    pub fn run_cycle(&self, now: Timestamp, who: &Principal) -> ServiceResult<GovernanceReport> {
        // Exactly 7 days, ending just after now so that a record stamped
        // this millisecond counts (`end` is exclusive).
        let start = Timestamp(now.millis() + 1 - 7 * DAY_MS);
        let metrics = self
            .steps
            .reporting
            .metrics(start, Timestamp(now.millis() + 1))?;
        self.db.store_snapshot(&metrics, now)?;
        let readiness = self.steps.readiness.assess(now)?;
        self.steps.breakers.check_breakers(now)?;
        let state = self.steps.control.state(now)?;
        let unresolved = self.db.unresolved_events()?.len() as u32;
        let in_period = self
            .db
            .events_between(start, Timestamp(now.millis() + 1))?
            .len() as u32;
        let inputs = ExpansionInputs {
            phase: state.phase,
            days_at_phase: state.days_at_phase,
            readiness: readiness.overall.status,
            readiness_percentage: readiness.overall.percentage,
            blockers: readiness.overall.blockers.clone(),
            unresolved_breaker_events: unresolved,
            pending_proposals: self.db.proposals(false)?.len() as u32,
        };
        let decision = match decide_expansion(&self.settings.phases, &inputs) {
            Err(reasons) => CycleDecision {
                proposal_created: false,
                proposal_id: None,
                reasons,
            },
            Ok(target) => {
                let mut p = self.propose(
                    state.phase,
                    target,
                    state.days_at_phase,
                    &metrics,
                    &readiness,
                    now,
                )?;
                match self.db.create_proposal(&mut p, &who.id) {
                    Ok(()) => CycleDecision {
                        proposal_created: true,
                        proposal_id: Some(p.id),
                        reasons: vec![],
                    },
                    // Another cycle proposed first: this one reports why not.
                    Err(StorageError::Conflict(m)) => CycleDecision {
                        proposal_created: false,
                        proposal_id: None,
                        reasons: vec![m],
                    },
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let mut report = GovernanceReport {
            id: 0,
            period_start: start,
            period_end: now,
            generated_at: now,
            phase: state.phase,
            metrics,
            readiness: ReportReadiness {
                score: readiness.overall.score,
                max_score: readiness.overall.max_score,
                percentage: readiness.overall.percentage,
                status: readiness.overall.status,
                blockers: readiness.overall.blockers.clone(),
            },
            breaker_events: BreakerEventCounts {
                total: in_period,
                unresolved,
            },
            decision,
        };
        self.db.store_report(&mut report, &who.id)?;
        Ok(report)
    }

    fn propose(
        &self,
        from: Phase,
        target: Phase,
        days_at_phase: u32,
        metrics: &MetricsReport,
        readiness: &ReadinessReport,
        now: Timestamp,
    ) -> ServiceResult<Proposal> {
        let spec = self.settings.phases.spec(target);
        let mut achievements = vec![
            format!(
                "readiness {}/{} ({:.1}%), every required item passed",
                readiness.overall.score, readiness.overall.max_score, readiness.overall.percentage
            ),
            format!("{days_at_phase} days at {from}"),
        ];
        if let Some(rate) = metrics.success_rate {
            achievements.push(format!(
                "success rate {:.2}% over {} commands in the last 7 days",
                rate * 100.0,
                metrics.commands_total
            ));
        }
        if metrics.incidents_by_severity.critical == 0 {
            achievements.push("no critical incidents in the last 7 days".into());
        }
        Ok(Proposal {
            id: 0,
            from_phase: from,
            target_phase: target,
            commands_to_whitelist: spec.commands.clone(),
            validation_period_days: spec.validation_period_days,
            key_achievements: achievements,
            risk_assessment: self.assess_risk(target, now)?,
            required_approvals: spec.approvals.clone(),
            approvals: vec![],
            status: ProposalStatus::Pending,
            created_at: now,
            decided_at: None,
            rejection: None,
        })
    }

    /// Scores the last 7 days with the configured risk-scorer plugin: the
    /// engines' own events, plus the period's incidents as `maos` events
    /// (the autonomous operator) and breaker trips as `qa` events. A scorer
    /// that is missing or fails makes the risk high.
    fn assess_risk(&self, target: Phase, now: Timestamp) -> ServiceResult<RiskSummary> {
        let start = Timestamp(now.millis() - 7 * DAY_MS);
        let mut events: Vec<GovernanceEvent> = self
            .db
            .incidents_since(start)?
            .into_iter()
            .map(|i| GovernanceEvent {
                engine: "maos".into(),
                event_type: i.command_type.unwrap_or_else(|| "incident".into()),
                severity: i.severity,
                occurred_at: i.occurred_at,
            })
            .collect();
        events.extend(
            self.db
                .events_between(start, now)?
                .into_iter()
                .map(|e| GovernanceEvent {
                    engine: "qa".into(),
                    event_type: format!("breaker:{}", e.rule_name),
                    severity: e.alert_severity,
                    occurred_at: e.triggered_at,
                }),
        );
        events.extend(
            self.db
                .engine_events_between(start, Timestamp(now.millis() + 1))?
                .iter()
                .map(|e| e.as_scored()),
        );
        let spec = self.settings.phases.spec(target);
        let mut mitigations = vec![
            format!(
                "a {}-day validation period at {target}",
                spec.validation_period_days
            ),
            "circuit breakers revert to L3 on a breach".to_string(),
            format!(
                "approval by {}",
                spec.approvals
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ];
        let scored = self.steps.events.score_events(&events);
        Ok(match scored {
            Ok((assessment, scorer, version)) => {
                let mut factors: Vec<String> = assessment
                    .categories
                    .iter()
                    .filter(|c| c.score > 0)
                    .map(|c| format!("{} scored {}", c.category, c.score))
                    .collect();
                let critical = events
                    .iter()
                    .filter(|e| e.severity == Severity::Critical)
                    .count();
                if critical > 0 {
                    factors.push(format!("{critical} critical event(s) in the last 7 days"));
                }
                if factors.is_empty() {
                    factors.push(format!(
                        "no risk signals among {} event(s) in the last 7 days",
                        events.len()
                    ));
                }
                mitigations.extend(assessment.recommendations);
                RiskSummary {
                    level: self.settings.risk_bounds.level(assessment.overall),
                    score: assessment.overall,
                    factors,
                    mitigations,
                    scorer: Some(scorer),
                    scorer_version: Some(version),
                }
            }
            Err(message) => RiskSummary {
                level: crate::domain::governance::RiskLevel::High,
                score: 100,
                factors: vec![format!("risk could not be scored: {message}")],
                mitigations,
                scorer: None,
                scorer_version: None,
            },
        })
    }

    pub fn approve(
        &self,
        id: i64,
        role: Role,
        comment: Option<String>,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<Proposal> {
        refuse_the_governed(who)?;
        let proposal = self.db.proposal(id)?;
        let whitelist = self.settings.phases.whitelist(proposal.target_phase);
        let approval = Approval {
            role,
            by: who.id.clone(),
            at: now,
            comment,
        };
        Ok(self
            .db
            .approve_proposal(id, approval, who.names(role), &whitelist)?)
    }

    pub fn reject(
        &self,
        id: i64,
        role: Role,
        reason: String,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<Proposal> {
        refuse_the_governed(who)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "`reason` is empty: say why the proposal is rejected".into(),
            ));
        }
        let rejection = Rejection {
            role,
            by: who.id.clone(),
            at: now,
            reason,
        };
        Ok(self.db.reject_proposal(id, rejection, who.names(role))?)
    }
}

/// The governed system never decides on its own expansion, whatever roles
/// an older token still carries: token rules now keep `reporter` and agent
/// bindings apart from approver roles, but tokens minted before them may not.
fn refuse_the_governed(who: &Principal) -> ServiceResult<()> {
    if who.is_governed() {
        return Err(ServiceError::Forbidden(format!(
            "`{}` reports for the governed system: it cannot approve or reject its own expansion",
            who.id
        )));
    }
    Ok(())
}
