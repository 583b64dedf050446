//! Task assignments and the agents' budgets and breakers.

use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::control::ControlFigures;
use super::seconds_histogram;
use super::store::family::{counter, gauges};

pub(super) struct AssignmentMetrics {
    duration: Histogram,
}

impl AssignmentMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let duration = seconds_histogram();
        registry.register(
            "regent_task_assignment_duration_seconds",
            "Task assignment time: ranking the fleet and recording the outcome.",
            duration.clone(),
        );
        Self { duration }
    }

    pub(super) fn ranked(&self, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
    }
}

/// The store's and the fleet's figures.
pub(super) fn encode(e: &mut DescriptorEncoder, c: &ControlFigures) -> Result<(), std::fmt::Error> {
    counter(
        e,
        "regent_task_assignments",
        "Task assignment requests.",
        c.assignments,
    )?;
    counter(
        e,
        "regent_task_assignments_failed",
        "Task assignments no agent qualified for.",
        c.failed_assignments,
    )?;
    gauges(
        e,
        "regent_agent_budget_remaining",
        "Budget remaining, by agent.",
        c.agents
            .iter()
            .map(|(agent, budget, _)| ([("agent", agent.as_str())], *budget)),
    )?;
    gauges(
        e,
        "regent_agent_breaker_tripped",
        "1 while an agent's circuit breaker is tripped.",
        c.agents
            .iter()
            .map(|(agent, _, tripped)| ([("agent", agent.as_str())], u32::from(*tripped))),
    )
}
