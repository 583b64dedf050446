//! Conversions between the domain's types and the WIT types at the plugin
//! boundary. Inputs convert once per request, however many plugins see them.

use super::bindings::types as wit;
use super::error::OutputError;
use super::limits::{MAX_RECOMMENDATIONS, MAX_TEXT_BYTES};
use crate::domain::{
    self, breaker, matching, readiness, risk, Category, Phase, Severity, Timestamp,
};

fn ms(t: Timestamp) -> i64 {
    t.millis()
}

fn severity(s: Severity) -> wit::Severity {
    match s {
        Severity::Low => wit::Severity::Low,
        Severity::Medium => wit::Severity::Medium,
        Severity::High => wit::Severity::High,
        Severity::Critical => wit::Severity::Critical,
    }
}

fn phase(p: Phase) -> wit::Phase {
    match p {
        Phase::L3 => wit::Phase::L3,
        Phase::L3Plus => wit::Phase::L3Plus,
        Phase::L4 => wit::Phase::L4,
        Phase::L4Plus => wit::Phase::L4Plus,
        Phase::L5 => wit::Phase::L5,
    }
}

pub fn category(c: wit::Category) -> Category {
    match c {
        wit::Category::Technical => Category::Technical,
        wit::Category::Process => Category::Process,
        wit::Category::Organizational => Category::Organizational,
    }
}

pub fn kind(k: wit::PluginKind) -> domain::PluginKind {
    match k {
        wit::PluginKind::ChecklistItem => domain::PluginKind::ChecklistItem,
        wit::PluginKind::BreakerCondition => domain::PluginKind::BreakerCondition,
        wit::PluginKind::RiskScorer => domain::PluginKind::RiskScorer,
        wit::PluginKind::TaskMatcher => domain::PluginKind::TaskMatcher,
        wit::PluginKind::ChecklistBundle => domain::PluginKind::ChecklistBundle,
    }
}

fn metrics(m: &domain::metrics::CommandMetrics, now: Timestamp) -> wit::CommandMetrics {
    let s = &m.by_status;
    wit::CommandMetrics {
        window_start: ms(m.window_start.unwrap_or(now)),
        window_end: ms(m.window_end.unwrap_or(now)),
        commands_total: m.commands_total,
        by_status: wit::StatusCounts {
            succeeded: s.succeeded,
            failed: s.failed,
            rejected: s.rejected,
            rolled_back: s.rolled_back,
        },
        success_rate: m.success_rate,
        error_rate: m.error_rate,
        approval_rate: m.approval_rate,
        rollback_rate: m.rollback_rate,
    }
}

pub fn readiness_context(c: &readiness::ReadinessContext) -> wit::ReadinessContext {
    let current = c.phase.current;
    wit::ReadinessContext {
        now: ms(c.now),
        phase: wit::PhaseStatus {
            current: phase(current),
            entered_at: ms(c.phase.entered_at.unwrap_or(c.now)),
            days_at_phase: c.phase.days_at_phase,
            min_stabilization_days: c
                .phase
                .min_stabilization_days
                .unwrap_or(current.min_stabilization_days()),
        },
        metrics: metrics(&c.metrics, c.now),
        incidents: c
            .incidents
            .iter()
            .map(|i| wit::Incident {
                severity: severity(i.severity),
                autonomous: i.autonomous,
                occurred_at: ms(i.occurred_at),
                command_type: i.command_type.clone(),
            })
            .collect(),
        attestations: c
            .attestations
            .iter()
            .map(|a| wit::Attestation {
                key: a.key.clone(),
                attested_by: a.attested_by.clone(),
                role: a.role.clone(),
                attested_at: ms(a.attested_at),
                expires_at: a.expires_at.map(ms),
                evidence_url: a.evidence_url.clone(),
            })
            .collect(),
        facts: wit::Facts {
            enabled_breaker_rules: c.facts.enabled_breaker_rules,
            emergency_stop_last_exercised: c.facts.emergency_stop_last_exercised.map(ms),
            metrics_last_scraped: c.facts.metrics_last_scraped.map(ms),
            gauges: c
                .facts
                .gauges
                .iter()
                .map(|g| wit::Gauge {
                    name: g.name.clone(),
                    value: g.value,
                    updated_at: ms(g.updated_at.unwrap_or(c.now)),
                })
                .collect(),
        },
    }
}

/// The part of `ctx` an item with `scope` may see, cloned only when the
/// scope leaves something out.
pub fn scoped<'a>(
    ctx: &'a wit::ReadinessContext,
    scope: &readiness::ContextScope,
) -> std::borrow::Cow<'a, wit::ReadinessContext> {
    use std::borrow::Cow;
    if scope.is_everything() {
        return Cow::Borrowed(ctx);
    }
    Cow::Owned(wit::ReadinessContext {
        now: ctx.now,
        phase: ctx.phase,
        metrics: ctx.metrics,
        incidents: if scope.incidents {
            ctx.incidents.clone()
        } else {
            Vec::new()
        },
        attestations: ctx
            .attestations
            .iter()
            .filter(|a| scope.reads_attestation(&a.key))
            .cloned()
            .collect(),
        facts: wit::Facts {
            enabled_breaker_rules: ctx.facts.enabled_breaker_rules,
            emergency_stop_last_exercised: ctx.facts.emergency_stop_last_exercised,
            metrics_last_scraped: ctx.facts.metrics_last_scraped,
            gauges: ctx
                .facts
                .gauges
                .iter()
                .filter(|g| scope.reads_gauge(&g.name))
                .cloned()
                .collect(),
        },
    })
}

pub fn context_scope(s: wit::ContextScope) -> readiness::ContextScope {
    readiness::ContextScope {
        incidents: s.incidents,
        attestation_keys: s.attestation_keys,
        gauge_names: s.gauge_names,
    }
}

pub fn item_info(i: wit::ItemInfo) -> readiness::ItemInfo {
    readiness::ItemInfo {
        id: i.id,
        name: i.name,
        category: category(i.category),
        subcategory: i.subcategory,
        points: i.points,
        required: i.required,
    }
}

/// `text` cut to [`MAX_TEXT_BYTES`] (on a character boundary) with a
/// visible note saying how long it was, and whether it was cut.
pub fn capped_text(text: String) -> (String, bool) {
    if text.len() <= MAX_TEXT_BYTES {
        return (text, false);
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let note = format!("… [cut by the host: {} bytes, kept {end}]", text.len());
    let mut cut = text;
    cut.truncate(end);
    cut.push_str(&note);
    (cut, true)
}

pub fn item_verdict(v: wit::ItemVerdict) -> Result<readiness::ItemVerdict, OutputError> {
    finite("observed", v.observed)?;
    let (detail, truncated) = capped_text(v.detail);
    Ok(readiness::ItemVerdict {
        passed: v.passed,
        detail,
        observed: v.observed,
        truncated,
    })
}

pub fn metrics_window(w: &breaker::MetricsWindow) -> wit::MetricsWindow {
    let i = &w.incidents_by_severity;
    wit::MetricsWindow {
        now: ms(w.now),
        metrics: metrics(&w.metrics, w.now),
        failures: w.failures(),
        incidents_by_severity: wit::SeverityCounts {
            low: i.low,
            medium: i.medium,
            high: i.high,
            critical: i.critical,
        },
        critical_autonomous_incidents: w.critical_autonomous_incidents,
        p50_duration_ms: w.p50_duration_ms,
        p95_duration_ms: w.p95_duration_ms,
        p99_duration_ms: w.p99_duration_ms,
    }
}

pub fn breaker_verdict(v: wit::BreakerVerdict) -> Result<breaker::BreakerVerdict, OutputError> {
    finite("observed", v.observed)?;
    let (reason, truncated) = capped_text(v.reason);
    Ok(breaker::BreakerVerdict {
        tripped: v.tripped,
        observed: v.observed,
        reason,
        truncated,
    })
}

pub fn events(events: &[risk::GovernanceEvent]) -> Vec<wit::GovernanceEvent> {
    events
        .iter()
        .map(|e| wit::GovernanceEvent {
            engine: e.engine.clone(),
            event_type: e.event_type.clone(),
            severity: severity(e.severity),
            occurred_at: ms(e.occurred_at),
        })
        .collect()
}

pub fn risk_assessment(a: wit::RiskAssessment) -> Result<risk::RiskAssessment, OutputError> {
    let mut truncated = a.recommendations.len() > MAX_RECOMMENDATIONS;
    let recommendations = a
        .recommendations
        .into_iter()
        .take(MAX_RECOMMENDATIONS)
        .map(|text| {
            let (text, cut) = capped_text(text);
            truncated |= cut;
            text
        })
        .collect();
    let categories = a
        .categories
        .into_iter()
        .map(|c| {
            let (category, cut) = capped_text(c.category);
            truncated |= cut;
            risk::CategoryRisk {
                category,
                score: c.score,
            }
        })
        .collect();
    let out = risk::RiskAssessment {
        categories,
        overall: a.overall,
        recommendations,
        truncated,
    };
    out.check().map_err(|e| OutputError::Refused(e.into()))?;
    Ok(out)
}

/// WIT `candidate`, lowered straight from the domain's candidates: the
/// capability strings are copied once, into the guest, rather than first
/// into owned WIT values (30,000 strings for 10,000 candidates).
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
pub struct CandidateView<'a> {
    #[component(name = "capabilities")]
    capabilities: &'a [String],
    #[component(name = "cost-per-hour")]
    cost_per_hour: f64,
    #[component(name = "reputation")]
    reputation: f64,
    #[component(name = "budget-remaining")]
    budget_remaining: f64,
    #[component(name = "breaker-tripped")]
    breaker_tripped: bool,
}

/// A WIT `item-request`, lowered from the loaded bundle's own strings.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
pub struct ItemRequestView<'a> {
    #[component(name = "item")]
    pub item: &'a str,
    #[component(name = "params")]
    pub params: &'a str,
}

pub struct WitMatchRequest<'a> {
    pub task: wit::Task,
    pub candidates: Vec<CandidateView<'a>>,
    pub policy: wit::AssignmentPolicy,
}

pub fn match_request(r: &matching::MatchRequest) -> WitMatchRequest<'_> {
    WitMatchRequest {
        task: wit::Task {
            id: r.task.id.clone(),
            required_capabilities: r.task.required_capabilities.clone(),
            max_cost_per_hour: r.task.max_cost_per_hour,
        },
        candidates: r
            .candidates
            .iter()
            .map(|c| CandidateView {
                capabilities: &c.capabilities,
                cost_per_hour: c.cost_per_hour,
                reputation: c.reputation,
                budget_remaining: c.budget_remaining,
                breaker_tripped: c.breaker_tripped,
            })
            .collect(),
        policy: wit::AssignmentPolicy {
            min_capability_match: r.policy.min_capability_match,
            max_cost_per_hour: r.policy.max_cost_per_hour,
        },
    }
}

fn exclusion_reason(r: wit::ExclusionReason) -> matching::ExclusionReason {
    match r {
        wit::ExclusionReason::InsufficientCapability => {
            matching::ExclusionReason::InsufficientCapability
        }
        wit::ExclusionReason::OverCost => matching::ExclusionReason::OverCost,
        wit::ExclusionReason::BudgetExhausted => matching::ExclusionReason::BudgetExhausted,
        wit::ExclusionReason::BreakerTripped => matching::ExclusionReason::BreakerTripped,
    }
}

pub fn ranking(
    r: wit::Ranking,
    request: &matching::MatchRequest,
) -> Result<matching::Ranking, OutputError> {
    let ranked = r.ranked.into_iter().map(|c| matching::Placement::Ranked {
        index: c.index,
        score: c.score,
        capability_match: c.capability_match,
    });
    let excluded = r
        .excluded
        .into_iter()
        .map(|e| matching::Placement::Excluded {
            index: e.index,
            reason: exclusion_reason(e.reason),
            capability_match: e.capability_match,
        });
    matching::Ranking::from_placements(request, ranked.chain(excluded))
        .map_err(|e| OutputError::Refused(e.into()))
}

fn finite(field: &'static str, value: Option<f64>) -> Result<(), OutputError> {
    match value {
        Some(value) if !value.is_finite() => Err(OutputError::NotFinite { field, value }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_character_boundary_and_says_so() {
        let short = "é".repeat(MAX_TEXT_BYTES / 2);
        assert_eq!(capped_text(short.clone()), (short, false));
        // One byte over, with a two-byte character straddling the cap.
        let long = format!("x{}", "é".repeat(MAX_TEXT_BYTES / 2));
        let (cut, truncated) = capped_text(long);
        assert!(truncated);
        assert_eq!(
            cut,
            format!(
                "x{}… [cut by the host: 4097 bytes, kept 4095]",
                "é".repeat(MAX_TEXT_BYTES / 2 - 1)
            )
        );
    }
}
