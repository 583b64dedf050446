//! Budgets in use and throttles in force, from the store: each budget's
//! use against its limit, so an alert can fire before autonomy is refused.

use prometheus_client::encoding::DescriptorEncoder;

use super::store::family::{gauge, gauges};
use super::GovernanceFigures;

/// One budget's use at a scrape.
#[derive(Debug, Clone, Default)]
pub struct BudgetFigure {
    /// `rate`, `concurrency` or `throttle`.
    pub kind: &'static str,
    /// The budget's name, or the throttling rule's.
    pub name: String,
    pub used: u32,
    pub limit: u32,
}

pub(super) fn encode(
    e: &mut DescriptorEncoder,
    g: &GovernanceFigures,
) -> Result<(), std::fmt::Error> {
    let labels = |b: &BudgetFigure| [("kind", b.kind.to_string()), ("budget", b.name.clone())];
    gauges(
        e,
        "regent_budget_used",
        "Autonomous decisions counted in a rate budget's or throttle's window, or leases in flight under a concurrency budget.",
        g.budgets.iter().map(|b| (labels(b), b.used)),
    )?;
    gauges(
        e,
        "regent_budget_limit",
        "The limit of each budget or throttle; refusals start when regent_budget_used reaches it.",
        g.budgets.iter().map(|b| (labels(b), b.limit)),
    )?;
    gauge(
        e,
        "regent_throttles_active",
        "Throttles in force: tripped `throttle` breakers not yet resolved.",
        Some(g.budgets.iter().filter(|b| b.kind == "throttle").count() as u64),
    )
}
