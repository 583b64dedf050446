//! Command records and incidents as reported, and the metrics computed
//! from them.

use serde::{Deserialize, Serialize};

use super::{Severity, Timestamp};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Succeeded,
    Failed,
    Rejected,
    RolledBack,
}

impl CommandStatus {
    pub const ALL: [CommandStatus; 4] = [
        CommandStatus::Succeeded,
        CommandStatus::Failed,
        CommandStatus::Rejected,
        CommandStatus::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
            CommandStatus::Rejected => "rejected",
            CommandStatus::RolledBack => "rolled_back",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One command as a command service reports it. `id` is the client's
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandRecord {
    #[schema(schema_with = super::text::text_200)]
    pub id: String,
    #[schema(schema_with = super::text::text_100)]
    pub command_type: String,
    pub status: CommandStatus,
    pub required_approval: bool,
    pub autonomous: bool,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "whole_number")]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
}

impl CommandRecord {
    /// What a stored record must satisfy beyond its JSON shape.
    pub fn check(&self) -> Result<(), MetricsError> {
        if self.id.trim().is_empty() {
            return Err(MetricsError::EmptyId);
        }
        if super::text::char_len(&self.id) > 200 {
            return Err(MetricsError::IdTooLong);
        }
        if self.command_type.trim().is_empty() {
            return Err(MetricsError::EmptyCommandType);
        }
        if super::text::char_len(&self.command_type) > 100 {
            return Err(MetricsError::CommandTypeTooLong);
        }
        // Stored as SQLite's signed 64-bit integer.
        if self.duration_ms.is_some_and(|d| i64::try_from(d).is_err()) {
            return Err(MetricsError::DurationTooLarge);
        }
        Ok(())
    }
}

/// Why a command record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    #[error("`id` is empty")]
    EmptyId,
    #[error("`id` is longer than 200 characters")]
    IdTooLong,
    #[error("`commandType` is empty")]
    EmptyCommandType,
    #[error("`commandType` is longer than 100 characters")]
    CommandTypeTooLong,
    #[error("`durationMs` is over {}", i64::MAX)]
    DurationTooLarge,
}

/// JSON Schema counts `5.0` as an integer, and so does the document; serde's
/// `u64` alone would refuse it.
/// A JSON number that is a whole number >= 0, written `3` or `3.0` (JSON
/// Schema's `integer` allows both).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "`{n}` is not a whole number >= 0"
        ))),
    }
}

/// An incident as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewIncident {
    pub severity: Severity,
    pub autonomous: bool,
    #[serde(default)]
    pub command_type: Option<String>,
    #[schema(schema_with = super::text::text)]
    pub description: String,
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentRecord {
    pub id: i64,
    pub severity: Severity,
    pub autonomous: bool,
    pub command_type: Option<String>,
    pub description: String,
    pub occurred_at: Timestamp,
    pub reported_by: String,
}

/// Command counts by final status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StatusCounts {
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    pub rolled_back: u64,
}

/// Command metrics over a window. A rate is `None` when it has no data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CommandMetrics {
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    pub commands_total: u64,
    pub by_status: StatusCounts,
    pub success_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub approval_rate: Option<f64>,
    pub rollback_rate: Option<f64>,
}

/// Incident counts by severity, as a breaker's window sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeverityCounts {
    pub low: u32,
    pub medium: u32,
    pub high: u32,
    pub critical: u32,
}

/// Command counts over a window, split by whether approval was required:
/// everything the rates are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandTally {
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    pub rolled_back: u64,
    pub requiring_approval: u64,
    pub requiring_approval_rejected: u64,
}

impl CommandTally {
    pub fn add(&mut self, status: CommandStatus, required_approval: bool, n: u64) {
        match status {
            CommandStatus::Succeeded => self.succeeded += n,
            CommandStatus::Failed => self.failed += n,
            CommandStatus::Rejected => self.rejected += n,
            CommandStatus::RolledBack => self.rolled_back += n,
        }
        if required_approval {
            self.requiring_approval += n;
            if status == CommandStatus::Rejected {
                self.requiring_approval_rejected += n;
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.succeeded + self.failed + self.rejected + self.rolled_back
    }

    /// Commands that ran: rejected ones never did.
    pub fn executed(&self) -> u64 {
        self.succeeded + self.failed + self.rolled_back
    }

    /// The rates, each `None` when its denominator is 0.
    pub fn command_metrics(&self, start: Timestamp, end: Timestamp) -> CommandMetrics {
        let rate = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let executed = self.executed();
        CommandMetrics {
            window_start: Some(start),
            window_end: Some(end),
            commands_total: self.total(),
            by_status: StatusCounts {
                succeeded: self.succeeded,
                failed: self.failed,
                rejected: self.rejected,
                rolled_back: self.rolled_back,
            },
            success_rate: rate(self.succeeded, executed),
            error_rate: rate(self.failed, executed),
            approval_rate: rate(
                self.requiring_approval - self.requiring_approval_rejected,
                self.requiring_approval,
            ),
            rollback_rate: rate(self.rolled_back, executed),
        }
    }
}

/// The metrics object of the API: commands and incidents over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    pub start: Timestamp,
    pub end: Timestamp,
    pub commands_total: u64,
    pub by_status: ByStatus,
    pub success_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub approval_rate: Option<f64>,
    pub rollback_rate: Option<f64>,
    pub incidents_by_severity: IncidentCounts,
    pub critical_autonomous_incidents: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ByStatus {
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    pub rolled_back: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentCounts {
    pub low: u32,
    pub medium: u32,
    pub high: u32,
    pub critical: u32,
}

impl From<IncidentCounts> for SeverityCounts {
    fn from(c: IncidentCounts) -> Self {
        SeverityCounts {
            low: c.low,
            medium: c.medium,
            high: c.high,
            critical: c.critical,
        }
    }
}

impl IncidentCounts {
    pub fn add(&mut self, severity: Severity, n: u32) {
        match severity {
            Severity::Low => self.low += n,
            Severity::Medium => self.medium += n,
            Severity::High => self.high += n,
            Severity::Critical => self.critical += n,
        }
    }
}

impl MetricsReport {
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        tally: &CommandTally,
        incidents: IncidentCounts,
        critical_autonomous_incidents: u32,
    ) -> Self {
        let m = tally.command_metrics(start, end);
        Self {
            start,
            end,
            commands_total: m.commands_total,
            by_status: ByStatus {
                succeeded: tally.succeeded,
                failed: tally.failed,
                rejected: tally.rejected,
                rolled_back: tally.rolled_back,
            },
            success_rate: m.success_rate,
            error_rate: m.error_rate,
            approval_rate: m.approval_rate,
            rollback_rate: m.rollback_rate,
            incidents_by_severity: incidents,
            critical_autonomous_incidents,
        }
    }

    /// The same figures as the readiness context and breakers read them.
    pub fn command_metrics(&self) -> CommandMetrics {
        CommandMetrics {
            window_start: Some(self.start),
            window_end: Some(self.end),
            commands_total: self.commands_total,
            by_status: StatusCounts {
                succeeded: self.by_status.succeeded,
                failed: self.by_status.failed,
                rejected: self.by_status.rejected,
                rolled_back: self.by_status.rolled_back,
            },
            success_rate: self.success_rate,
            error_rate: self.error_rate,
            approval_rate: self.approval_rate,
            rollback_rate: self.rollback_rate,
        }
    }
}

/// Latency figures over a window: nearest-rank percentiles of the
/// `durationMs` its commands reported. Commands without a duration do not
/// count; with none at all every figure is `None`, never `0` (no data is not
/// "instant"). Computed here, once, so that both storage backends (which only
/// hand over the durations) and every plugin agree on one definition.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DurationPercentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl DurationPercentiles {
    /// The percentiles of `durations`, in any order.
    pub fn of(mut durations: Vec<u64>) -> Self {
        durations.sort_unstable();
        Self {
            p50: nearest_rank(&durations, 50),
            p95: nearest_rank(&durations, 95),
            p99: nearest_rank(&durations, 99),
        }
    }
}

/// The nearest-rank `percent`th percentile of `sorted` (ascending): the
/// smallest value with at least `percent`% of the values at or below it,
/// i.e. the value at rank ceil(percent/100 × n), 1-based. Always one of the
/// values, never an interpolation, so "p95 > 2500" means some command took
/// that long. Integer arithmetic: in floats 0.95 × 20 is 19.000000000000004,
/// whose ceiling would pick rank 20 instead of 19.
pub fn nearest_rank(sorted: &[u64], percent: u8) -> Option<f64> {
    debug_assert!((1..=100).contains(&percent));
    let n = sorted.len() as u128;
    if n == 0 {
        return None;
    }
    let rank = (u128::from(percent) * n).div_ceil(100).max(1);
    // rank is in 1..=n because percent <= 100.
    sorted.get((rank - 1) as usize).map(|&d| d as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_none_without_a_denominator() {
        let t = CommandTally::default();
        let m = t.command_metrics(Timestamp(0), Timestamp(1));
        assert_eq!(
            (
                m.success_rate,
                m.error_rate,
                m.approval_rate,
                m.rollback_rate
            ),
            (None, None, None, None)
        );
        // Rejected commands never ran: no executed denominator, but an
        // approval rate of 0 when every approval-gated command was refused.
        let mut t = CommandTally::default();
        t.add(CommandStatus::Rejected, true, 2);
        let m = t.command_metrics(Timestamp(0), Timestamp(1));
        assert_eq!(m.success_rate, None);
        assert_eq!(m.approval_rate, Some(0.0));
        assert_eq!(m.commands_total, 2);
    }

    #[test]
    fn rates_follow_the_definitions() {
        let mut t = CommandTally::default();
        t.add(CommandStatus::Succeeded, false, 90);
        t.add(CommandStatus::Succeeded, true, 6);
        t.add(CommandStatus::Failed, false, 2);
        t.add(CommandStatus::RolledBack, true, 2);
        t.add(CommandStatus::Rejected, true, 2);
        let m = t.command_metrics(Timestamp(0), Timestamp(1));
        assert_eq!(m.success_rate, Some(0.96));
        assert_eq!(m.error_rate, Some(0.02));
        assert_eq!(m.rollback_rate, Some(0.02));
        // 10 needed approval, 2 of them were rejected.
        assert_eq!(m.approval_rate, Some(0.8));
        assert_eq!(m.commands_total, 102);
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_durations() {
        // 1..=100 in a scrambled order: rank ceil(p/100 × 100) = p.
        let mut durations: Vec<u64> = (1..=100).collect();
        durations.reverse();
        durations.swap(3, 70);
        let p = DurationPercentiles::of(durations);
        assert_eq!((p.p50, p.p95, p.p99), (Some(50.0), Some(95.0), Some(99.0)));
    }

    #[test]
    fn percentiles_pick_a_reported_value_never_an_interpolation() {
        // 20 values: p95 is rank 19 (a float ceiling of 0.95 × 20 would say 20).
        let durations: Vec<u64> = (1..=20).map(|i| i * 100).collect();
        let p = DurationPercentiles::of(durations);
        assert_eq!(p.p50, Some(1000.0));
        assert_eq!(p.p95, Some(1900.0));
        assert_eq!(p.p99, Some(2000.0));
        // Two values: the median is the lower one, not their mean.
        let p = DurationPercentiles::of(vec![3000, 10]);
        assert_eq!(
            (p.p50, p.p95, p.p99),
            (Some(10.0), Some(3000.0), Some(3000.0))
        );
    }

    #[test]
    fn one_slow_command_in_a_hundred_moves_p99_not_p95() {
        let mut durations = vec![100; 99];
        durations.push(9000);
        let p = DurationPercentiles::of(durations);
        assert_eq!(
            (p.p50, p.p95, p.p99),
            (Some(100.0), Some(100.0), Some(100.0))
        );
        let mut durations = vec![100; 98];
        durations.extend([9000, 9000]);
        let p = DurationPercentiles::of(durations);
        assert_eq!((p.p95, p.p99), (Some(100.0), Some(9000.0)));
    }

    #[test]
    fn no_durations_are_no_data_not_zero() {
        assert_eq!(
            DurationPercentiles::of(Vec::new()),
            DurationPercentiles::default()
        );
        assert_eq!(DurationPercentiles::of(Vec::new()).p95, None);
        let one = DurationPercentiles::of(vec![0]);
        assert_eq!(
            (one.p50, one.p95, one.p99),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }
}
