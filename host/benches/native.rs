//! The same checklist and matcher as the Wasm plugins, compiled natively
//! from the same source: the floor the runtime is measured against.

// Benchmark support (also built as a bench target of its own): a broken
// fixture should stop the run with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use regent_host::domain::readiness::{self as d, Assessment, ItemResult};
use regent_host::domain::{matching, Category, Phase, Severity};
use regent_sdk::checklist::{self as sdk, parse_params, ChecklistItem};

fn ms(t: regent_host::domain::Timestamp) -> i64 {
    t.millis()
}

/// Domain context to the SDK's types: the native twin of the runtime's
/// conversion to WIT types, done once per assessment as the runtime does.
pub fn sdk_context(c: &d::ReadinessContext) -> sdk::ReadinessContext {
    let sev = |s: Severity| match s {
        Severity::Low => sdk::Severity::Low,
        Severity::Medium => sdk::Severity::Medium,
        Severity::High => sdk::Severity::High,
        Severity::Critical => sdk::Severity::Critical,
    };
    let m = &c.metrics;
    sdk::ReadinessContext {
        now: ms(c.now),
        phase: sdk::PhaseStatus {
            current: match c.phase.current {
                Phase::L3 => sdk::Phase::L3,
                Phase::L3Plus => sdk::Phase::L3Plus,
                Phase::L4 => sdk::Phase::L4,
                Phase::L4Plus => sdk::Phase::L4Plus,
                Phase::L5 => sdk::Phase::L5,
            },
            entered_at: ms(c.phase.entered_at.unwrap_or(c.now)),
            days_at_phase: c.phase.days_at_phase,
            min_stabilization_days: c.phase.min_stabilization_days.unwrap_or(180),
        },
        metrics: sdk::CommandMetrics {
            window_start: ms(m.window_start.unwrap_or(c.now)),
            window_end: ms(m.window_end.unwrap_or(c.now)),
            commands_total: m.commands_total,
            by_status: sdk::StatusCounts {
                succeeded: m.by_status.succeeded,
                failed: m.by_status.failed,
                rejected: m.by_status.rejected,
                rolled_back: m.by_status.rolled_back,
            },
            success_rate: m.success_rate,
            error_rate: m.error_rate,
            approval_rate: m.approval_rate,
            rollback_rate: m.rollback_rate,
        },
        incidents: c
            .incidents
            .iter()
            .map(|i| sdk::Incident {
                severity: sev(i.severity),
                autonomous: i.autonomous,
                occurred_at: ms(i.occurred_at),
                command_type: i.command_type.clone(),
            })
            .collect(),
        attestations: c
            .attestations
            .iter()
            .map(|a| sdk::Attestation {
                key: a.key.clone(),
                attested_by: a.attested_by.clone(),
                role: a.role.clone(),
                attested_at: ms(a.attested_at),
                expires_at: a.expires_at.map(ms),
                evidence_url: a.evidence_url.clone(),
            })
            .collect(),
        facts: sdk::Facts {
            enabled_breaker_rules: c.facts.enabled_breaker_rules,
            emergency_stop_last_exercised: c.facts.emergency_stop_last_exercised.map(ms),
            metrics_last_scraped: c.facts.metrics_last_scraped.map(ms),
            gauges: c
                .facts
                .gauges
                .iter()
                .map(|g| sdk::Gauge {
                    name: g.name.clone(),
                    value: g.value,
                    updated_at: ms(g.updated_at.unwrap_or(c.now)),
                })
                .collect(),
        },
    }
}

fn run<T: ChecklistItem>(ctx: &sdk::ReadinessContext, params_json: &str) -> ItemResult {
    // Parse params on every evaluation, as the plugin does inside Wasm.
    let verdict = parse_params::<T::Params>(params_json).and_then(|p| T::evaluate(ctx, &p));
    let spec = T::ITEM;
    let (passed, detail, observed, error) = match verdict {
        Ok(v) => (v.passed, v.detail, v.observed, None),
        Err(e) => (false, e, None, Some("plugin_error".to_string())),
    };
    ItemResult {
        info: d::ItemInfo {
            id: spec.id.to_string(),
            name: spec.name.to_string(),
            category: match spec.category {
                sdk::Category::Technical => Category::Technical,
                sdk::Category::Process => Category::Process,
                sdk::Category::Organizational => Category::Organizational,
            },
            subcategory: spec.subcategory.to_string(),
            points: spec.points,
            required: spec.required,
        },
        passed,
        detail,
        observed,
        error,
        plugin: spec.id.to_string(),
        plugin_version: "0.1.0".to_string(),
        truncated: false,
    }
}

macro_rules! native_checklist {
    ($($name:literal => $krate:ident :: $ty:ident),* $(,)?) => {
        /// Plugin names in checklist order, so params can be looked up.
        pub const ITEMS: &[&str] = &[$($name),*];

        /// The whole 22-item assessment, natively.
        pub fn assess(ctx: &d::ReadinessContext, params: &[String]) -> Assessment {
            let ctx = sdk_context(ctx);
            let mut params = params.iter();
            let items = vec![$(run::<$krate::$ty>(&ctx, params.next().map(String::as_str).unwrap_or("{}"))),*];
            Assessment::from_items(items)
        }
    };
}

native_checklist! {
    "time-at-phase" => time_at_phase::TimeAtPhase,
    "success-rate" => success_rate::SuccessRate,
    "approval-rate" => approval_rate::ApprovalRate,
    "rollback-rate" => rollback_rate::RollbackRate,
    "eval-coverage" => eval_coverage::EvalCoverage,
    "no-critical-autonomous-incidents" => no_critical_autonomous_incidents::NoCriticalAutonomousIncidents,
    "breakers-configured" => breakers_configured::BreakersConfigured,
    "monitoring-in-place" => monitoring_in_place::MonitoringInPlace,
    "kill-switch-tested" => kill_switch_tested::KillSwitchTested,
    "chaos-testing" => chaos_testing::ChaosTesting,
    "runbooks" => runbooks::Runbooks,
    "incident-playbooks" => incident_playbooks::IncidentPlaybooks,
    "architecture-docs" => architecture_docs::ArchitectureDocs,
    "escalation-path" => escalation_path::EscalationPath,
    "stakeholder-signoff" => stakeholder_signoff::StakeholderSignoff,
    "security-review" => security_review::SecurityReview,
    "audit-trail" => audit_trail::AuditTrail,
    "rollback-plan" => rollback_plan::RollbackPlan,
    "oncall-trained" => oncall_trained::OncallTrained,
    "team-consensus" => team_consensus::TeamConsensus,
    "product-approval" => product_approval::ProductApproval,
    "ops-approval" => ops_approval::OpsApproval,
}

/// The capability matcher, natively, converting its input and output as the
/// runtime does.
pub fn rank(request: &matching::MatchRequest) -> matching::Ranking {
    use regent_sdk::matcher as m;
    use regent_sdk::matcher::TaskMatcher;
    let task = m::Task {
        id: request.task.id.clone(),
        required_capabilities: request.task.required_capabilities.clone(),
        max_cost_per_hour: request.task.max_cost_per_hour,
    };
    let candidates: Vec<m::Candidate> = request
        .candidates
        .iter()
        .map(|c| m::Candidate {
            capabilities: c.capabilities.clone(),
            cost_per_hour: c.cost_per_hour,
            reputation: c.reputation,
            budget_remaining: c.budget_remaining,
            breaker_tripped: c.breaker_tripped,
        })
        .collect();
    let policy = m::AssignmentPolicy {
        min_capability_match: request.policy.min_capability_match,
        max_cost_per_hour: request.policy.max_cost_per_hour,
    };
    let ranking =
        capability_match::CapabilityMatch::rank(&task, &candidates, &policy, &m::NoParams {})
            .expect("valid request");
    let ranked = ranking
        .ranked
        .into_iter()
        .map(|c| matching::Placement::Ranked {
            index: c.index,
            score: c.score,
            capability_match: c.capability_match,
        });
    let excluded = ranking
        .excluded
        .into_iter()
        .map(|e| matching::Placement::Excluded {
            index: e.index,
            reason: match e.reason {
                m::ExclusionReason::InsufficientCapability => {
                    matching::ExclusionReason::InsufficientCapability
                }
                m::ExclusionReason::OverCost => matching::ExclusionReason::OverCost,
                m::ExclusionReason::BudgetExhausted => matching::ExclusionReason::BudgetExhausted,
                m::ExclusionReason::BreakerTripped => matching::ExclusionReason::BreakerTripped,
            },
            capability_match: e.capability_match,
        });
    matching::Ranking::from_placements(request, ranked.chain(excluded)).expect("placed once")
}
