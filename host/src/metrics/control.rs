//! The control plane from the store: authorization decisions, the
//! emergency stop, workflows, engines' events and risk.

use prometheus_client::encoding::DescriptorEncoder;

use super::store::family::{counters, gauge, gauges};

/// The control plane's figures, read from the store at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ControlFigures {
    pub decisions: Vec<(&'static str, u64)>,
    /// Of those, the ones asked by tokens bound to no agent.
    pub unbound_decisions: Vec<(&'static str, u64)>,
    pub emergency_stop: bool,
    pub paused_workflows: u64,
    /// (engine, severity, events ever)
    pub events: Vec<(String, String, u64)>,
    /// The newest risk report's score per category.
    pub risk_by_category: Vec<(String, u32)>,
    pub assignments: u64,
    pub failed_assignments: u64,
    /// (agent, budget remaining, breaker tripped)
    pub agents: Vec<(String, f64, bool)>,
}

pub(super) fn encode(e: &mut DescriptorEncoder, c: &ControlFigures) -> Result<(), std::fmt::Error> {
    counters(
        e,
        "regent_authorize_decisions",
        "Authorization decisions, by outcome.",
        c.decisions.iter().map(|(d, n)| ([("decision", *d)], *n)),
    )?;
    counters(
        e,
        "regent_authorize_unbound_decisions",
        "Authorization decisions asked by tokens bound to no agent, whose per-agent brakes hold only for the ids they name.",
        c.unbound_decisions
            .iter()
            .map(|(d, n)| ([("decision", *d)], *n)),
    )?;
    gauge(
        e,
        "regent_emergency_stop_active",
        "1 while the emergency stop is on.",
        Some(u32::from(c.emergency_stop)),
    )?;
    gauge(
        e,
        "regent_workflows_paused",
        "Workflows paused by an operator.",
        Some(c.paused_workflows),
    )?;
    counters(
        e,
        "regent_governance_events",
        "Engines' governance events, by engine and severity.",
        c.events.iter().map(|(engine, severity, n)| {
            (
                [("engine", engine.as_str()), ("severity", severity.as_str())],
                *n,
            )
        }),
    )?;
    gauges(
        e,
        "regent_risk_score",
        "The newest risk report's score (0-100), by category.",
        c.risk_by_category
            .iter()
            .map(|(category, score)| ([("category", category.as_str())], *score)),
    )
}
