//! Circuit breakers: the window a condition sees, and its verdict.

use serde::{Deserialize, Serialize};

use super::readiness::CommandMetrics;
use super::Timestamp;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeverityCounts {
    pub low: u32,
    pub medium: u32,
    pub high: u32,
    pub critical: u32,
}

/// Metrics over a breaker's window. `failures` defaults to the failed count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsWindow {
    pub now: Timestamp,
    #[serde(default)]
    pub metrics: CommandMetrics,
    #[serde(default)]
    pub failures: Option<u64>,
    #[serde(default)]
    pub incidents_by_severity: SeverityCounts,
    #[serde(default)]
    pub critical_autonomous_incidents: u32,
}

impl MetricsWindow {
    pub fn failures(&self) -> u64 {
        self.failures.unwrap_or(self.metrics.by_status.failed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerVerdict {
    pub tripped: bool,
    pub observed: Option<f64>,
    pub reason: String,
}
