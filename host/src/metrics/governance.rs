//! The autonomy program from the store: phase, commands, readiness,
//! incidents and safety.

use prometheus_client::encoding::DescriptorEncoder;

use super::control::ControlFigures;
use super::plugins::ActivePluginFigure;
use super::store::family::{counter, counters, gauge, gauges};

/// Governance figures read from the store for one scrape.
#[derive(Debug, Clone, Default)]
pub struct GovernanceFigures {
    pub phase: String,
    pub time_at_phase_seconds: f64,
    pub success_ratio: Option<f64>,
    pub error_ratio: Option<f64>,
    pub approval_ratio: Option<f64>,
    pub rollback_ratio: Option<f64>,
    pub commands_by_status: Vec<(&'static str, u64)>,
    /// Latest assessment: (score, max) overall and per category.
    pub readiness: Option<ReadinessFigures>,
    /// (rule, action, alert severity, trips ever)
    pub breaker_events: Vec<(String, String, String, u64)>,
    pub unresolved_breaker_events: u64,
    pub incidents_by_severity: Vec<(&'static str, u64)>,
    pub safety_constraint_violations: u64,
    pub emergency_aborts: u64,
    pub control: ControlFigures,
    pub scopes: super::scopes::ScopeFigures,
    pub active_plugins: Vec<ActivePluginFigure>,
    pub plugin_generation: u64,
    /// Every budget's and throttle's use.
    pub budgets: Vec<super::BudgetFigure>,
}

#[derive(Debug, Clone, Default)]
pub struct ReadinessFigures {
    pub score: u32,
    pub max_score: u32,
    pub technical: u32,
    pub process: u32,
    pub organizational: u32,
}

pub(super) fn encode(
    e: &mut DescriptorEncoder,
    g: &GovernanceFigures,
) -> Result<(), std::fmt::Error> {
    gauges(
        e,
        "regent_phase_info",
        "The current autonomy phase (1 for the current one).",
        crate::domain::Phase::ALL
            .into_iter()
            .map(|p| ([("phase", p.as_str())], u32::from(p.as_str() == g.phase))),
    )?;
    gauge(
        e,
        "regent_time_at_phase_seconds",
        "Time since the current phase began.",
        Some(g.time_at_phase_seconds),
    )?;
    for (name, value, help) in [
        (
            "regent_command_success_ratio",
            g.success_ratio,
            "Succeeded / executed commands over the last 7 days. Absent without data.",
        ),
        (
            "regent_command_error_ratio",
            g.error_ratio,
            "Failed / executed commands over the last 7 days. Absent without data.",
        ),
        (
            "regent_command_approval_ratio",
            g.approval_ratio,
            "Approval-gated commands not rejected / approval-gated commands, last 7 days. Absent without data.",
        ),
        (
            "regent_command_rollback_ratio",
            g.rollback_ratio,
            "Rolled-back / executed commands over the last 7 days. Absent without data.",
        ),
    ] {
        gauge(e, name, help, value)?;
    }
    counters(
        e,
        "regent_commands",
        "Commands reported, by final status.",
        g.commands_by_status
            .iter()
            .map(|(status, n)| ([("status", *status)], *n)),
    )?;
    encode_readiness(e, g.readiness.as_ref())?;
    counters(
        e,
        "regent_incidents",
        "Incidents reported, by severity.",
        g.incidents_by_severity
            .iter()
            .map(|(severity, n)| ([("severity", *severity)], *n)),
    )?;
    counter(
        e,
        "regent_safety_constraint_violations",
        "Incidents caused by autonomous actions.",
        g.safety_constraint_violations,
    )?;
    counter(
        e,
        "regent_safety_emergency_aborts",
        "Succeeded EMERGENCY_SHUTDOWN and ABORT commands.",
        g.emergency_aborts,
    )
}

fn encode_readiness(
    e: &mut DescriptorEncoder,
    r: Option<&ReadinessFigures>,
) -> Result<(), std::fmt::Error> {
    gauge(
        e,
        "regent_readiness_score_ratio",
        "Latest readiness assessment: points earned / points possible.",
        r.filter(|r| r.max_score > 0)
            .map(|r| f64::from(r.score) / f64::from(r.max_score)),
    )?;
    for (name, points, help) in [
        (
            "regent_readiness_points",
            r.map(|r| r.score),
            "Latest readiness assessment: points earned overall.",
        ),
        (
            "regent_readiness_technical_points",
            r.map(|r| r.technical),
            "Latest readiness assessment: technical points earned.",
        ),
        (
            "regent_readiness_process_points",
            r.map(|r| r.process),
            "Latest readiness assessment: process points earned.",
        ),
        (
            "regent_readiness_organizational_points",
            r.map(|r| r.organizational),
            "Latest readiness assessment: organizational points earned.",
        ),
    ] {
        gauge(e, name, help, points)?;
    }
    Ok(())
}
