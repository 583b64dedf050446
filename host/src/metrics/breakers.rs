//! Circuit-breaker trips, from the store.

use prometheus_client::encoding::DescriptorEncoder;

use super::store::family::{counters, gauge};
use super::GovernanceFigures;

pub(super) fn encode(
    e: &mut DescriptorEncoder,
    g: &GovernanceFigures,
) -> Result<(), std::fmt::Error> {
    counters(
        e,
        "regent_circuit_breaker_events",
        "Circuit-breaker trips, by rule, action and alert severity.",
        g.breaker_events.iter().map(|(rule, action, severity, n)| {
            (
                [
                    ("rule_name", rule.as_str()),
                    ("action", action.as_str()),
                    ("alert_severity", severity.as_str()),
                ],
                *n,
            )
        }),
    )?;
    gauge(
        e,
        "regent_circuit_breaker_events_unresolved",
        "Circuit-breaker events not yet resolved.",
        Some(g.unresolved_breaker_events),
    )
}
