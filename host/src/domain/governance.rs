//! The autonomy program: the phase table, readiness status, the expansion
//! decision, proposals and their approvals, and the weekly report.

use serde::{Deserialize, Serialize};

use super::auth::Role;
use super::metrics::MetricsReport;
use super::readiness::ReadinessStatus;
use super::{Phase, Timestamp};

pub const DAY_MS: i64 = 86_400_000;

/// What a phase allows and what it takes to enter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhaseSpec {
    pub phase: Phase,
    /// Commands this phase adds to the whitelist of the phase before it.
    pub commands: Vec<String>,
    /// Days the phase is watched before the next expansion.
    pub validation_period_days: u32,
    /// Roles that must each approve entering this phase.
    pub approvals: Vec<Role>,
}

/// The five phases in order. Defaults follow the seed; a config file can
/// replace any phase's commands, period and approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTable {
    pub phases: Vec<PhaseSpec>,
    /// Days at L3 before the first expansion ("6+ months").
    pub initial_stabilization_days: u32,
}

impl Default for PhaseTable {
    fn default() -> Self {
        let spec = |phase, commands: &[&str], days, approvals: &[Role]| PhaseSpec {
            phase,
            commands: commands.iter().map(|c| c.to_string()).collect(),
            validation_period_days: days,
            approvals: approvals.to_vec(),
        };
        use Role::*;
        Self {
            phases: vec![
                spec(Phase::L3, &[], 0, &[]),
                spec(Phase::L3Plus, &["SET_POWER", "SET_FAN"], 14, &[TechLead]),
                spec(
                    Phase::L4,
                    &["SET_DRUM", "SET_AIRFLOW"],
                    21,
                    &[TechLead, OpsLead],
                ),
                spec(
                    Phase::L4Plus,
                    &["PREHEAT", "COOLING_CYCLE"],
                    30,
                    &[TechLead, OpsLead, ProductLead],
                ),
                spec(
                    Phase::L5,
                    &["EMERGENCY_SHUTDOWN", "ABORT"],
                    60,
                    &[TechLead, OpsLead, ProductLead, ExecSponsor],
                ),
            ],
            initial_stabilization_days: 180,
        }
    }
}

impl PhaseTable {
    pub fn spec(&self, phase: Phase) -> &PhaseSpec {
        // `check` guarantees one spec per phase, in order.
        &self.phases[Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0)]
    }

    /// Every command autonomous at `phase`: its own and all earlier ones.
    pub fn whitelist(&self, phase: Phase) -> Vec<String> {
        self.phases
            .iter()
            .take_while(|s| s.phase <= phase)
            .flat_map(|s| s.commands.iter().cloned())
            .collect()
    }

    /// Days `phase` must be held before the next expansion.
    pub fn min_stabilization_days(&self, phase: Phase) -> u32 {
        match phase {
            Phase::L3 => self.initial_stabilization_days,
            p => self.spec(p).validation_period_days,
        }
    }

    /// A table from config must list the five phases once each, in order,
    /// with approver roles only, and never whitelist a command twice.
    pub fn check(&self) -> Result<(), PhaseTableError> {
        let phases: Vec<Phase> = self.phases.iter().map(|s| s.phase).collect();
        if phases != Phase::ALL {
            return Err(PhaseTableError::OutOfOrder { got: phases });
        }
        let mut seen: Vec<&str> = Vec::new();
        for spec in &self.phases {
            for c in &spec.commands {
                if c.trim().is_empty() {
                    return Err(PhaseTableError::EmptyCommand { phase: spec.phase });
                }
                if seen.contains(&c.as_str()) {
                    return Err(PhaseTableError::CommandTwice {
                        phase: spec.phase,
                        command: c.clone(),
                    });
                }
                seen.push(c);
            }
            if let Some(r) = spec.approvals.iter().find(|r| !r.is_approver()) {
                return Err(PhaseTableError::NotAnApprover {
                    phase: spec.phase,
                    role: *r,
                });
            }
            if spec.phase != Phase::L3 && spec.approvals.is_empty() {
                return Err(PhaseTableError::NoApprover { phase: spec.phase });
            }
        }
        Ok(())
    }
}

/// Why a phase table from config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhaseTableError {
    #[error("the phase table must list L3, L3+, L4, L4+ and L5 in order, got {:?}", .got.iter().map(|p| p.as_str()).collect::<Vec<_>>())]
    OutOfOrder { got: Vec<Phase> },
    #[error("phase {phase}: an empty command name")]
    EmptyCommand { phase: Phase },
    #[error("phase {phase}: command `{command}` is already whitelisted by an earlier phase")]
    CommandTwice { phase: Phase, command: String },
    #[error("phase {phase}: `{role}` is not an approver role (tech_lead, ops_lead, product_lead, exec_sponsor)")]
    NotAnApprover { phase: Phase, role: Role },
    #[error("phase {phase}: needs at least one approver role")]
    NoApprover { phase: Phase },
}

/// Whole days from `since` to `now`, never negative.
pub fn days_between(since: Timestamp, now: Timestamp) -> u32 {
    ((now.millis() - since.millis()).max(0) / DAY_MS) as u32
}

/// Where the program stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceState {
    pub phase: Phase,
    pub phase_started_at: Timestamp,
    pub days_at_phase: u32,
    pub whitelist: Vec<String>,
    pub paused_command_types: Vec<String>,
    pub emergency_stop: bool,
    pub last_report_at: Option<Timestamp>,
    pub min_stabilization_days: u32,
}

/// Everything the expansion decision looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpansionInputs {
    pub phase: Phase,
    pub days_at_phase: u32,
    pub readiness: ReadinessStatus,
    pub readiness_percentage: f64,
    pub blockers: Vec<String>,
    pub unresolved_breaker_events: u32,
    pub pending_proposals: u32,
}

/// The target phase if every condition holds, or every reason it does not.
/// A change of phase outside the cycle, as the phase endpoint allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseChange {
    pub phase: Phase,
    pub started_at: Timestamp,
    /// The audit action: `phase.lower` or `phase.backdate`.
    pub action: &'static str,
    /// Lowering cancels pending proposals: they expand from the old phase.
    pub cancels_pending: bool,
}

/// Why the phase endpoint refuses a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhaseChangeError {
    #[error("autonomy rises only through an approved proposal: {current} to {requested} needs the weekly cycle's proposal and every required approval; this endpoint may only lower the phase or backdate the current phase's start")]
    Raise { current: Phase, requested: Phase },
    #[error("backdating the current phase's start is a bootstrap: only an admin may set `phaseStartedAt`")]
    BackdateNeedsAdmin,
    #[error(
        "the phase is already {0}: give `phaseStartedAt` to backdate its start, or a lower phase"
    )]
    NothingToChange(Phase),
    #[error("`phaseStartedAt` ({0}) is in the future")]
    StartInFuture(Timestamp),
}

impl PhaseChangeError {
    /// The caller asked for something it may not do, rather than something
    /// malformed.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Raise { .. } | Self::BackdateNeedsAdmin)
    }

    /// Well formed, but the state already is what was asked for.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::NothingToChange(_))
    }
}

/// Decides a change of phase outside the cycle. Lowering is a brake, open
/// to operators and admins; a start given with it, or moved on the current
/// phase, is a bootstrap, open to admins; raising is never allowed here.
pub fn phase_change(
    current: Phase,
    requested: Phase,
    started: Option<Timestamp>,
    by_admin: bool,
    now: Timestamp,
) -> Result<PhaseChange, PhaseChangeError> {
    if requested > current {
        return Err(PhaseChangeError::Raise { current, requested });
    }
    if started.is_some() && !by_admin {
        return Err(PhaseChangeError::BackdateNeedsAdmin);
    }
    if let Some(s) = started.filter(|s| *s > now) {
        return Err(PhaseChangeError::StartInFuture(s));
    }
    if requested == current {
        let started_at = started.ok_or(PhaseChangeError::NothingToChange(current))?;
        return Ok(PhaseChange {
            phase: current,
            started_at,
            action: "phase.backdate",
            cancels_pending: false,
        });
    }
    Ok(PhaseChange {
        phase: requested,
        started_at: started.unwrap_or(now),
        action: "phase.lower",
        cancels_pending: true,
    })
}

pub fn decide_expansion(table: &PhaseTable, i: &ExpansionInputs) -> Result<Phase, Vec<String>> {
    let mut reasons = Vec::new();
    if i.readiness != ReadinessStatus::Ready {
        let mut r = format!(
            "readiness is {} ({:.1}%; ready needs 95% and every required item)",
            i.readiness.as_str(),
            i.readiness_percentage
        );
        if !i.blockers.is_empty() {
            r.push_str(&format!("; blockers: {}", i.blockers.join(", ")));
        }
        reasons.push(r);
    }
    if i.unresolved_breaker_events > 0 {
        reasons.push(format!(
            "{} circuit-breaker event(s) unresolved",
            i.unresolved_breaker_events
        ));
    }
    if i.pending_proposals > 0 {
        reasons.push("a proposal is already pending".to_string());
    }
    let min_days = table.min_stabilization_days(i.phase);
    if i.days_at_phase < min_days {
        reasons.push(format!(
            "{} day(s) at {}; the stabilization period is {min_days}",
            i.days_at_phase, i.phase
        ));
    }
    match i.phase.next() {
        None => reasons.push("the phase is already L5".to_string()),
        Some(target) if reasons.is_empty() => return Ok(target),
        Some(_) => {}
    }
    Err(reasons)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Approved => "approved",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Rejected,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

/// Risk levels from a 0–100 score: low below 30, high from 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskBounds {
    pub medium_from: u32,
    pub high_from: u32,
}

impl Default for RiskBounds {
    fn default() -> Self {
        Self {
            medium_from: 30,
            high_from: 60,
        }
    }
}

impl RiskBounds {
    pub fn level(&self, score: u32) -> RiskLevel {
        if score >= self.high_from {
            RiskLevel::High
        } else if score >= self.medium_from {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskSummary {
    pub level: RiskLevel,
    pub score: u32,
    pub factors: Vec<String>,
    pub mitigations: Vec<String>,
    /// The risk-scorer plugin and version that produced the score.
    pub scorer: Option<String>,
    pub scorer_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub role: Role,
    /// The principal who approved: each required role needs a different one.
    pub by: String,
    pub at: Timestamp,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub id: i64,
    pub from_phase: Phase,
    pub target_phase: Phase,
    pub commands_to_whitelist: Vec<String>,
    pub validation_period_days: u32,
    pub key_achievements: Vec<String>,
    pub risk_assessment: RiskSummary,
    pub required_approvals: Vec<Role>,
    pub approvals: Vec<Approval>,
    pub status: ProposalStatus,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    /// Who rejected it and why, for a rejected proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub role: Role,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
}

/// Why an approval or rejection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    #[error("proposal {id} is {status}, not pending")]
    NotPending { id: i64, status: &'static str },
    #[error("your token does not hold the role `{role}`")]
    RoleNotHeld { role: Role },
    #[error("proposal {id} does not need `{role}`; it needs {needed}")]
    RoleNotRequired { id: i64, role: Role, needed: String },
    #[error("`{role}` has already approved proposal {id}")]
    AlreadyApproved { id: i64, role: Role },
    #[error("`{principal}` has already approved proposal {id} as `{role}`; each required role must be approved by a different person")]
    SamePrincipal {
        id: i64,
        principal: String,
        role: Role,
    },
}

impl Proposal {
    pub fn pending_roles(&self) -> Vec<Role> {
        self.required_approvals
            .iter()
            .copied()
            .filter(|r| !self.approvals.iter().any(|a| a.role == *r))
            .collect()
    }

    fn check_decision(&self, role: Role, held: bool) -> Result<(), DecisionError> {
        if self.status != ProposalStatus::Pending {
            return Err(DecisionError::NotPending {
                id: self.id,
                status: self.status.as_str(),
            });
        }
        if !held {
            return Err(DecisionError::RoleNotHeld { role });
        }
        if !self.required_approvals.contains(&role) {
            let needed = self
                .required_approvals
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DecisionError::RoleNotRequired {
                id: self.id,
                role,
                needed,
            });
        }
        Ok(())
    }

    /// Records `role`'s approval. Returns true when it was the last one
    /// needed: the caller then moves the phase, in the same transaction.
    pub fn approve(&mut self, approval: Approval, held: bool) -> Result<bool, DecisionError> {
        self.check_decision(approval.role, held)?;
        if self.approvals.iter().any(|a| a.role == approval.role) {
            return Err(DecisionError::AlreadyApproved {
                id: self.id,
                role: approval.role,
            });
        }
        if let Some(earlier) = self.approvals.iter().find(|a| a.by == approval.by) {
            return Err(DecisionError::SamePrincipal {
                id: self.id,
                principal: earlier.by.clone(),
                role: earlier.role,
            });
        }
        let at = approval.at;
        self.approvals.push(approval);
        let complete = self.pending_roles().is_empty();
        if complete {
            self.status = ProposalStatus::Approved;
            self.decided_at = Some(at);
        }
        Ok(complete)
    }

    pub fn reject(&mut self, rejection: Rejection, held: bool) -> Result<(), DecisionError> {
        self.check_decision(rejection.role, held)?;
        self.status = ProposalStatus::Rejected;
        self.decided_at = Some(rejection.at);
        self.rejection = Some(rejection);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportReadiness {
    pub score: u32,
    pub max_score: u32,
    pub percentage: f64,
    pub status: ReadinessStatus,
    pub blockers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerEventCounts {
    pub total: u32,
    pub unresolved: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleDecision {
    pub proposal_created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<i64>,
    pub reasons: Vec<String>,
}

/// The weekly cycle's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceReport {
    pub id: i64,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub generated_at: Timestamp,
    pub phase: Phase,
    pub metrics: MetricsReport,
    pub readiness: ReportReadiness,
    /// Breaker events triggered in the period, and those still unresolved.
    pub breaker_events: BreakerEventCounts,
    pub decision: CycleDecision,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelists_are_cumulative_and_stabilization_starts_at_180_days() {
        let t = PhaseTable::default();
        assert!(t.whitelist(Phase::L3).is_empty());
        assert_eq!(
            t.whitelist(Phase::L4),
            ["SET_POWER", "SET_FAN", "SET_DRUM", "SET_AIRFLOW"]
        );
        assert_eq!(t.whitelist(Phase::L5).len(), 8);
        assert_eq!(t.min_stabilization_days(Phase::L3), 180);
        assert_eq!(t.min_stabilization_days(Phase::L4), 21);
        t.check().unwrap();
        let mut bad = t.clone();
        bad.phases[2].commands.push("SET_FAN".into());
        assert!(bad
            .check()
            .unwrap_err()
            .to_string()
            .contains("`SET_FAN` is already whitelisted"));
        let mut bad = t.clone();
        bad.phases.swap(1, 2);
        assert!(bad.check().unwrap_err().to_string().contains("in order"));
    }

    #[test]
    fn readiness_status_thresholds_are_95_and_90_percent() {
        assert_eq!(ReadinessStatus::of(76, 80, false).1, ReadinessStatus::Ready);
        assert_eq!(
            ReadinessStatus::of(76, 80, true).1,
            ReadinessStatus::AlmostReady
        );
        assert_eq!(
            ReadinessStatus::of(75, 80, false).1,
            ReadinessStatus::AlmostReady
        );
        assert_eq!(
            ReadinessStatus::of(72, 80, false).1,
            ReadinessStatus::AlmostReady
        );
        assert_eq!(
            ReadinessStatus::of(71, 80, false).1,
            ReadinessStatus::NeedsWork
        );
        assert_eq!(
            ReadinessStatus::of(0, 0, false).1,
            ReadinessStatus::NeedsWork
        );
        assert_eq!(ReadinessStatus::of(76, 80, false).0, 95.0);
    }

    fn inputs() -> ExpansionInputs {
        ExpansionInputs {
            phase: Phase::L3,
            days_at_phase: 200,
            readiness: ReadinessStatus::Ready,
            readiness_percentage: 100.0,
            blockers: vec![],
            unresolved_breaker_events: 0,
            pending_proposals: 0,
        }
    }

    #[test]
    fn expansion_needs_every_condition_and_names_each_that_fails() {
        let t = PhaseTable::default();
        assert_eq!(decide_expansion(&t, &inputs()), Ok(Phase::L3Plus));
        let mut i = inputs();
        i.days_at_phase = 179;
        i.unresolved_breaker_events = 1;
        i.pending_proposals = 1;
        i.readiness = ReadinessStatus::AlmostReady;
        i.blockers = vec!["Runbooks complete".into()];
        let reasons = decide_expansion(&t, &i).unwrap_err();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].contains("blockers: Runbooks complete"));
        assert!(reasons[3].contains("179 day(s) at L3; the stabilization period is 180"));
        let mut i = inputs();
        i.phase = Phase::L5;
        assert_eq!(
            decide_expansion(&t, &i).unwrap_err(),
            ["the phase is already L5"]
        );
        let mut i = inputs();
        i.phase = Phase::L3Plus;
        i.days_at_phase = 14;
        assert_eq!(decide_expansion(&t, &i), Ok(Phase::L4));
    }

    fn proposal(required: &[Role]) -> Proposal {
        Proposal {
            id: 7,
            from_phase: Phase::L3Plus,
            target_phase: Phase::L4,
            commands_to_whitelist: vec!["SET_DRUM".into()],
            validation_period_days: 21,
            key_achievements: vec![],
            risk_assessment: RiskSummary {
                level: RiskLevel::Low,
                score: 0,
                factors: vec![],
                mitigations: vec![],
                scorer: None,
                scorer_version: None,
            },
            required_approvals: required.to_vec(),
            approvals: vec![],
            status: ProposalStatus::Pending,
            created_at: Timestamp(0),
            decided_at: None,
            rejection: None,
        }
    }

    fn approval(role: Role) -> Approval {
        approval_by(role, role.as_str())
    }

    fn approval_by(role: Role, by: &str) -> Approval {
        Approval {
            role,
            by: by.into(),
            at: Timestamp(5),
            comment: None,
        }
    }

    #[test]
    fn the_phase_endpoint_lowers_and_backdates_but_never_raises() {
        let now = Timestamp(1_000_000);
        let past = Some(Timestamp(5));
        assert_eq!(
            phase_change(Phase::L3Plus, Phase::L4, None, true, now),
            Err(PhaseChangeError::Raise {
                current: Phase::L3Plus,
                requested: Phase::L4
            })
        );
        let lowered = phase_change(Phase::L4, Phase::L3, None, false, now).unwrap();
        assert_eq!((lowered.phase, lowered.started_at), (Phase::L3, now));
        assert!(lowered.cancels_pending);
        assert_eq!(
            phase_change(Phase::L4, Phase::L3, past, false, now),
            Err(PhaseChangeError::BackdateNeedsAdmin)
        );
        let backdated = phase_change(Phase::L3, Phase::L3, past, true, now).unwrap();
        assert_eq!(
            (backdated.action, backdated.started_at),
            ("phase.backdate", Timestamp(5))
        );
        assert_eq!(
            phase_change(Phase::L3, Phase::L3, None, true, now),
            Err(PhaseChangeError::NothingToChange(Phase::L3))
        );
        assert_eq!(
            phase_change(Phase::L3, Phase::L3, Some(Timestamp(2_000_000)), true, now),
            Err(PhaseChangeError::StartInFuture(Timestamp(2_000_000)))
        );
    }

    #[test]
    fn one_principal_cannot_approve_under_two_roles() {
        let mut p = proposal(&[Role::TechLead, Role::OpsLead]);
        assert_eq!(
            p.approve(approval_by(Role::TechLead, "lee"), true),
            Ok(false)
        );
        assert_eq!(
            p.approve(approval_by(Role::OpsLead, "lee"), true),
            Err(DecisionError::SamePrincipal {
                id: 7,
                principal: "lee".into(),
                role: Role::TechLead
            })
        );
        assert_eq!(p.status, ProposalStatus::Pending);
        assert_eq!(
            p.approve(approval_by(Role::OpsLead, "omar"), true),
            Ok(true)
        );
    }

    #[test]
    fn the_last_required_role_completes_a_proposal_and_each_role_approves_once() {
        let mut p = proposal(&[Role::TechLead, Role::OpsLead]);
        assert_eq!(p.approve(approval(Role::TechLead), true), Ok(false));
        assert_eq!(
            p.approve(approval(Role::TechLead), true),
            Err(DecisionError::AlreadyApproved {
                id: 7,
                role: Role::TechLead
            })
        );
        assert!(matches!(
            p.approve(approval(Role::ExecSponsor), true),
            Err(DecisionError::RoleNotRequired { .. })
        ));
        assert_eq!(
            p.approve(approval(Role::OpsLead), false),
            Err(DecisionError::RoleNotHeld {
                role: Role::OpsLead
            })
        );
        assert_eq!(p.approve(approval(Role::OpsLead), true), Ok(true));
        assert_eq!(p.status, ProposalStatus::Approved);
        assert_eq!(p.decided_at, Some(Timestamp(5)));
        assert!(matches!(
            p.approve(approval(Role::OpsLead), true),
            Err(DecisionError::NotPending { .. })
        ));
    }

    #[test]
    fn a_required_role_can_reject() {
        let mut p = proposal(&[Role::TechLead]);
        let rejection = Rejection {
            role: Role::TechLead,
            by: "t".into(),
            at: Timestamp(9),
            reason: "no".into(),
        };
        p.reject(rejection, true).unwrap();
        assert_eq!(p.status, ProposalStatus::Rejected);
    }
}
