//! Events reported by many engines, the actions chosen for the serious
//! ones, and the risk reports scored from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::text::{check_id, TextError};
use super::{Severity, Timestamp};

#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    /// Any engine name; the risk scorer's params map engines to categories.
    #[schema(schema_with = super::text::id)]
    pub engine: String,
    #[schema(schema_with = super::text::id)]
    pub event_type: String,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`, in any case.
    #[schema(
        value_type = String,
        pattern = "^([Ll][Oo][Ww]|[Mm][Ee][Dd][Ii][Uu][Mm]|[Hh][Ii][Gg][Hh]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll])$"
    )]
    pub severity: Severity,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// When it happened; when received if absent.
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
}

impl NewEvent {
    pub fn check(&self, now: Timestamp) -> Result<(), EventsError> {
        check_id("engine", &self.engine)?;
        check_id("eventType", &self.event_type)?;
        if let Some(d) = &self.details {
            if !d.is_object() {
                return Err(EventsError::DetailsNotAnObject);
            }
            if d.to_string().len() > 64 * 1024 {
                return Err(EventsError::DetailsTooLarge);
            }
        }
        if let Some(at) = self.occurred_at {
            if at.millis() > now.millis() + 60_000 {
                return Err(EventsError::OccurredInFuture(at));
            }
        }
        Ok(())
    }
}

/// Why an event, or the auto-action table, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("`details` must be a JSON object")]
    DetailsNotAnObject,
    #[error("`details` is over 64 KiB of JSON")]
    DetailsTooLarge,
    #[error("`occurredAt` ({0}) is in the future")]
    OccurredInFuture(Timestamp),
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineEvent {
    pub id: i64,
    pub engine: String,
    pub event_type: String,
    pub severity: Severity,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub occurred_at: Timestamp,
    pub reported_by: String,
    /// The auto-action chosen for a HIGH or CRITICAL event.
    pub action: Option<String>,
}

impl EngineEvent {
    /// The event as a risk scorer sees it.
    pub fn as_scored(&self) -> super::risk::GovernanceEvent {
        super::risk::GovernanceEvent {
            engine: self.engine.clone(),
            event_type: self.event_type.clone(),
            severity: self.severity,
            occurred_at: self.occurred_at,
        }
    }
}

/// One rule of the auto-action table; the first rule that matches wins.
/// A rule with neither `engine` nor `severity` matches every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    pub action: String,
}

impl ActionRule {
    fn rule(engine: Option<&str>, severity: Option<Severity>, action: &str) -> Self {
        Self {
            engine: engine.map(str::to_string),
            severity,
            action: action.into(),
        }
    }

    /// The seed's `selectAction`, as rules.
    pub fn defaults() -> Vec<ActionRule> {
        vec![
            Self::rule(Some("billing"), None, "billing_sync_repair"),
            Self::rule(Some("maos"), None, "MAOS_auto_fix"),
            Self::rule(Some("deep_agent"), None, "DeepAgent_policy_update"),
            Self::rule(None, Some(Severity::Critical), "notify_admin"),
            Self::rule(None, None, "MAOS_auto_fix"),
        ]
    }

    pub fn check_all(rules: &[ActionRule]) -> Result<(), EventsError> {
        for (i, r) in rules.iter().enumerate() {
            check_id(&format!("events.actions[{i}].action"), &r.action)?;
        }
        Ok(())
    }
}

/// Only HIGH and CRITICAL events get an action; `None` when no rule
/// matches (a table without a catch-all).
pub fn select_action(rules: &[ActionRule], engine: &str, severity: Severity) -> Option<String> {
    if severity < Severity::High {
        return None;
    }
    rules
        .iter()
        .find(|r| {
            r.engine.as_deref().is_none_or(|e| e == engine)
                && r.severity.is_none_or(|s| s == severity)
        })
        .map(|r| r.action.clone())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// No webhook is configured.
    NotConfigured,
    Pending,
    Delivered,
    Failed,
    /// Pushed out of the full delivery queue by newer actions; never sent.
    Dropped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::NotConfigured => "not_configured",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            DeliveryStatus::NotConfigured,
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Dropped,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| format!("unknown delivery status `{s}`"))
    }
}

/// An action taken: an event's auto-action, or an agent breaker's
/// escalation. Both go out through the same webhook.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub id: i64,
    /// `auto_action` or `escalation`.
    pub kind: String,
    pub action: String,
    pub event_id: Option<i64>,
    pub agent_id: Option<String>,
    /// The JSON the webhook receives.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    pub delivery: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskSummaryCounts {
    pub total_events: u64,
    pub by_engine: BTreeMap<String, u64>,
    pub by_severity: BTreeMap<String, u64>,
    pub risk_scores: BTreeMap<String, u32>,
    pub critical_count: u64,
}

impl RiskSummaryCounts {
    pub fn count(events: &[EngineEvent], risk_scores: BTreeMap<String, u32>) -> Self {
        let mut by_engine = BTreeMap::new();
        let mut by_severity = BTreeMap::new();
        for e in events {
            *by_engine.entry(e.engine.clone()).or_insert(0) += 1;
            *by_severity
                .entry(e.severity.as_upper().to_string())
                .or_insert(0) += 1;
        }
        Self {
            total_events: events.len() as u64,
            by_engine,
            by_severity,
            risk_scores,
            critical_count: events
                .iter()
                .filter(|e| e.severity == Severity::Critical)
                .count() as u64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskReport {
    pub id: i64,
    /// `YYYY-MM-DD_YYYY-MM-DD`, as in the seed.
    pub report_period: String,
    pub summary: RiskSummaryCounts,
    pub risk_score: u32,
    pub recommendations: Vec<String>,
    pub generated_at: Timestamp,
    pub generated_by: String,
    pub scorer: String,
    pub scorer_version: String,
    /// True when the host cut the scorer's recommendations to their caps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventStats {
    pub total_events: u64,
    pub critical_count: u64,
    /// The newest risk report's score; 0 when there is none, as in the seed.
    pub latest_risk_score: u32,
    /// The engine with the most events in 30 days; ties go to the engine
    /// whose name sorts first.
    pub top_risky_engine: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_are_the_seeds_select_action() {
        let rules = ActionRule::defaults();
        let pick = |engine: &str, s| select_action(&rules, engine, s);
        assert_eq!(
            pick("billing", Severity::High).as_deref(),
            Some("billing_sync_repair")
        );
        assert_eq!(
            pick("maos", Severity::Critical).as_deref(),
            Some("MAOS_auto_fix")
        );
        assert_eq!(
            pick("deep_agent", Severity::High).as_deref(),
            Some("DeepAgent_policy_update")
        );
        assert_eq!(
            pick("qa", Severity::Critical).as_deref(),
            Some("notify_admin")
        );
        assert_eq!(pick("qa", Severity::High).as_deref(), Some("MAOS_auto_fix"));
        assert_eq!(
            pick("billing", Severity::Medium),
            None,
            "only HIGH and CRITICAL act"
        );
        assert_eq!(select_action(&[], "qa", Severity::Critical), None);
    }
}
