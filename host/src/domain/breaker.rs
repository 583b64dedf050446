//! Circuit breakers: the window a condition sees, and its verdict.

use serde::{Deserialize, Serialize};

use super::metrics::{CommandMetrics, DurationPercentiles, SeverityCounts};
use super::Timestamp;

/// Why a breaker rule, or a part of one, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError {
    #[error("window `{text}` is not a duration like `30s`, `5m`, `1h` or `7d`")]
    NotADuration { text: String },
    #[error("window `{text}` is empty")]
    EmptyWindow { text: String },
    #[error("window `{text}` is longer than 30d")]
    WindowTooLong { text: String },
    #[error("`params` must be an object, got {got}")]
    ParamsNotAnObject { got: String },
    #[error("a rule name must be 1 to 100 characters")]
    NameLength,
    #[error("`enabled` cannot be a rule name: it is the path of the enabled-rules listing")]
    ReservedName,
    #[error("the action `throttle` needs `throttle`: {{\"limit\": N, \"per\": \"1m\"}}, optionally with a `commandType`")]
    ThrottleMissing,
    #[error("`throttle` is set, but the action is `{action}`: only a `throttle` rule throttles")]
    ThrottleWithoutAction { action: &'static str },
    #[error("`throttle.limit` must be from 1 to 1000000000")]
    ThrottleZeroLimit,
    #[error("`throttle.commandType`: {0}")]
    ThrottleCommandType(super::text::TextError),
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
    /// Nearest-rank percentiles of the window's `durationMs`
    /// ([`DurationPercentiles`]); `None` when no command in the window
    /// reported a duration.
    #[serde(default)]
    pub p50_duration_ms: Option<f64>,
    #[serde(default)]
    pub p95_duration_ms: Option<f64>,
    #[serde(default)]
    pub p99_duration_ms: Option<f64>,
}

impl MetricsWindow {
    pub fn failures(&self) -> u64 {
        self.failures.unwrap_or(self.metrics.by_status.failed)
    }

    /// Sets the latency figures from the window's command durations.
    pub fn with_durations(self, durations: Vec<u64>) -> Self {
        let p = DurationPercentiles::of(durations);
        Self {
            p50_duration_ms: p.p50,
            p95_duration_ms: p.p95,
            p99_duration_ms: p.p99,
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerVerdict {
    pub tripped: bool,
    pub observed: Option<f64>,
    pub reason: String,
    /// True when the host cut the plugin's `reason` to its length cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// What a tripped rule does, in the same transaction as its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerAction {
    /// Phase back to L3, whitelist cleared, pending proposals cancelled.
    RevertToL3,
    /// The command types that failed in the window are paused until the
    /// event is resolved.
    PauseCommandType,
    AlertOnly,
    /// Autonomous decisions in the rule's `throttle` scope are limited to
    /// `limit` per `per` until the event is resolved; the ones over it are
    /// answered `throttled`.
    Throttle,
}

impl BreakerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerAction::RevertToL3 => "revert_to_l3",
            BreakerAction::PauseCommandType => "pause_command_type",
            BreakerAction::AlertOnly => "alert_only",
            BreakerAction::Throttle => "throttle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::RevertToL3,
            Self::PauseCommandType,
            Self::AlertOnly,
            Self::Throttle,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A rule's look-back window, written `30s`, `5m`, `1h` or `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub millis: i64,
}

impl Window {
    /// The longest window a rule may use: longer ones would make every
    /// check a scan of weeks of commands.
    pub const MAX_MS: i64 = 30 * 86_400_000;

    pub fn parse(text: &str) -> Result<Self, BreakerError> {
        let bad = || BreakerError::NotADuration {
            text: text.to_string(),
        };
        let (digits, unit) =
            text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let millis = n.checked_mul(unit_ms).ok_or_else(bad)?;
        if millis == 0 {
            return Err(BreakerError::EmptyWindow {
                text: text.to_string(),
            });
        }
        if millis > Self::MAX_MS {
            return Err(BreakerError::WindowTooLong {
                text: text.to_string(),
            });
        }
        Ok(Self { millis })
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.millis;
        for (unit, ms) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] {
            if m % ms == 0 {
                return write!(f, "{}{unit}", m / ms);
            }
        }
        write!(f, "{}s", m / 1000)
    }
}

impl Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Window::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Window {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]+[smhd]$"))
            .examples(["5m"])
            .into()
    }
}
impl utoipa::ToSchema for Window {}

pub const DEFAULT_BREAKER_PLUGIN: &str = "expression";

/// How a `throttle` rule slows autonomy while its event is open: at most
/// `limit` autonomous decisions per `per`, for one command type or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleSpec {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub limit: u32,
    pub per: Window,
    /// The command type throttled; every command when absent.
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub command_type: Option<String>,
}

/// A circuit-breaker rule: a condition evaluated by a breaker plugin over
/// the metrics of its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerRule {
    #[schema(schema_with = super::text::text_100)]
    pub name: String,
    pub enabled: bool,
    pub condition: String,
    pub window: Window,
    pub action: BreakerAction,
    pub alert_severity: super::Severity,
    #[serde(default = "default_plugin")]
    pub plugin: String,
    /// More params for the plugin; `condition` is added to them.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// For the action `throttle`: the limit it imposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
}

fn default_plugin() -> String {
    DEFAULT_BREAKER_PLUGIN.to_string()
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

impl BreakerRule {
    /// The JSON params the plugin is handed: the rule's params with its
    /// condition.
    pub fn plugin_params(&self) -> Result<String, BreakerError> {
        let mut params = match &self.params {
            serde_json::Value::Object(m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                return Err(BreakerError::ParamsNotAnObject {
                    got: other.to_string(),
                })
            }
        };
        params.insert("condition".into(), self.condition.clone().into());
        Ok(serde_json::Value::Object(params).to_string())
    }

    /// A `throttle` rule says how hard it throttles, and only it does.
    pub fn check_throttle(&self) -> Result<(), BreakerError> {
        match (&self.throttle, self.action) {
            (None, BreakerAction::Throttle) => Err(BreakerError::ThrottleMissing),
            (Some(_), action) if action != BreakerAction::Throttle => {
                Err(BreakerError::ThrottleWithoutAction {
                    action: action.as_str(),
                })
            }
            (Some(t), _) => {
                if t.limit == 0 || t.limit > 1_000_000_000 {
                    return Err(BreakerError::ThrottleZeroLimit);
                }
                if let Some(c) = &t.command_type {
                    super::text::check_id("throttle.commandType", c)
                        .map_err(BreakerError::ThrottleCommandType)?;
                }
                Ok(())
            }
            (None, _) => Ok(()),
        }
    }

    pub fn check_name(name: &str) -> Result<(), BreakerError> {
        if super::text::is_blank(name) || super::text::char_len(name) > 100 {
            return Err(BreakerError::NameLength);
        }
        // `/rules/enabled` lists the enabled rules; a rule of that name
        // could never be addressed as `/rules/{name}`.
        if name == "enabled" {
            return Err(BreakerError::ReservedName);
        }
        Ok(())
    }

    /// The seed's four rules, and the Autonomous Charter's three SLOs,
    /// which are disabled so that turning them on is an operator's choice.
    pub fn defaults() -> Vec<BreakerRule> {
        use super::Severity;
        let rule = |name: &str, condition: &str, minutes: i64, action, severity| BreakerRule {
            name: name.into(),
            enabled: true,
            condition: condition.into(),
            window: Window {
                millis: minutes * 60_000,
            },
            action,
            alert_severity: severity,
            plugin: default_plugin(),
            params: empty_object(),
            throttle: None,
        };
        let charter_throttle = |name: &str, condition: &str| BreakerRule {
            enabled: false,
            throttle: Some(ThrottleSpec {
                limit: 60,
                per: Window { millis: 60_000 },
                command_type: None,
            }),
            ..rule(name, condition, 15, BreakerAction::Throttle, Severity::High)
        };
        vec![
            rule(
                "High Error Rate",
                "errorRate > 0.05",
                5,
                BreakerAction::RevertToL3,
                Severity::Critical,
            ),
            rule(
                "Repeated Command Failures",
                "failures >= 3",
                5,
                BreakerAction::PauseCommandType,
                Severity::High,
            ),
            rule(
                "Critical Incident",
                "criticalIncidents > 0",
                1,
                BreakerAction::RevertToL3,
                Severity::Critical,
            ),
            rule(
                "High Rollback Rate",
                "rollbackRate > 0.10",
                15,
                BreakerAction::AlertOnly,
                Severity::Medium,
            ),
            charter_throttle("Charter SLO: Success Rate Below 98%", "successRate < 0.98"),
            charter_throttle("Charter SLO: p95 Above 2.5s", "p95DurationMs > 2500"),
            BreakerRule {
                enabled: false,
                ..rule(
                    "Charter SLO: Success Rate Below 95%",
                    "successRate < 0.95",
                    15,
                    BreakerAction::RevertToL3,
                    Severity::Critical,
                )
            },
        ]
    }
}

/// A change to a rule: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RulePatch {
    pub enabled: Option<bool>,
    pub condition: Option<String>,
    pub window: Option<Window>,
    pub action: Option<BreakerAction>,
    pub alert_severity: Option<super::Severity>,
    pub plugin: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// Set to change the throttle; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ThrottleSpec>)]
    pub throttle: Option<Option<ThrottleSpec>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl RulePatch {
    pub fn apply(&self, rule: &BreakerRule) -> BreakerRule {
        let mut r = rule.clone();
        if let Some(v) = self.enabled {
            r.enabled = v;
        }
        if let Some(v) = &self.condition {
            r.condition = v.clone();
        }
        if let Some(v) = self.window {
            r.window = v;
        }
        if let Some(v) = self.action {
            r.action = v;
        }
        if let Some(v) = self.alert_severity {
            r.alert_severity = v;
        }
        if let Some(v) = &self.plugin {
            r.plugin = v.clone();
        }
        if let Some(v) = &self.params {
            r.params = v.clone();
        }
        if let Some(v) = &self.throttle {
            r.throttle = v.clone();
        }
        r
    }
}

/// A rule that tripped, and what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerEvent {
    pub id: i64,
    pub rule_name: String,
    pub condition: String,
    pub window: Window,
    pub action: BreakerAction,
    pub alert_severity: super::Severity,
    pub observed_value: Option<f64>,
    pub reason: String,
    pub triggered_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    /// For `pause_command_type`: the command types paused until resolution.
    pub paused_command_types: Vec<String>,
    /// For `throttle`: the limit in force until resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    pub plugin: String,
    pub plugin_version: String,
    /// True when the host cut the plugin's `reason` to its length cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Set when the rule could not be checked (its plugin failed, timed
    /// out or is not loaded): why. Such an event runs no action; it stays
    /// open, holding expansion back, until someone resolves it or the rule
    /// trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_print_in_their_largest_unit() {
        assert_eq!(Window::parse("5m").unwrap().millis, 300_000);
        assert_eq!(Window::parse("60m").unwrap().to_string(), "1h");
        assert_eq!(Window::parse("7d").unwrap().to_string(), "7d");
        assert_eq!(Window::parse("90s").unwrap().to_string(), "90s");
        for bad in ["", "5", "m", "5w", "-5m", "0m", "31d", "5 m"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_throttle_rule_throttles_and_it_says_how_hard() {
        let mut rule = BreakerRule::defaults().remove(0);
        assert!(rule.check_throttle().is_ok());
        rule.action = BreakerAction::Throttle;
        assert_eq!(rule.check_throttle(), Err(BreakerError::ThrottleMissing));
        rule.throttle = Some(ThrottleSpec {
            limit: 0,
            per: Window::parse("1m").unwrap(),
            command_type: None,
        });
        assert_eq!(rule.check_throttle(), Err(BreakerError::ThrottleZeroLimit));
        rule.throttle.as_mut().unwrap().limit = 60;
        assert!(rule.check_throttle().is_ok());
        rule.action = BreakerAction::AlertOnly;
        assert!(matches!(
            rule.check_throttle(),
            Err(BreakerError::ThrottleWithoutAction { .. })
        ));
        // A patch can remove the throttle with `null`, and leaves it alone
        // when it does not name it.
        let patch: RulePatch = serde_json::from_str(r#"{"throttle": null}"#).unwrap();
        assert_eq!(patch.apply(&rule).throttle, None);
        let patch: RulePatch = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
        assert!(patch.apply(&rule).throttle.is_some());
    }

    #[test]
    fn the_charter_slos_are_seeded_disabled() {
        let charter: Vec<BreakerRule> = BreakerRule::defaults()
            .into_iter()
            .filter(|r| r.name.starts_with("Charter SLO"))
            .collect();
        assert_eq!(charter.len(), 3);
        assert!(charter
            .iter()
            .all(|r| !r.enabled && r.check_throttle().is_ok()));
        assert_eq!(
            charter
                .iter()
                .filter(|r| r.action == BreakerAction::Throttle)
                .count(),
            2
        );
    }

    #[test]
    fn rule_params_carry_the_condition() {
        let mut rule = BreakerRule::defaults().remove(0);
        rule.params = serde_json::json!({"extra": 1});
        let p: serde_json::Value = serde_json::from_str(&rule.plugin_params().unwrap()).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"extra": 1, "condition": "errorRate > 0.05"})
        );
        rule.params = serde_json::json!([1]);
        assert!(rule.plugin_params().is_err());
    }

    #[test]
    fn a_window_carries_latency_percentiles_or_none() {
        let w: MetricsWindow = serde_json::from_value(
            serde_json::json!({"now": "2026-11-01T00:00:00Z", "p95DurationMs": 2600.0}),
        )
        .unwrap();
        assert_eq!(w.p95_duration_ms, Some(2600.0));
        assert_eq!(w.p50_duration_ms, None);
        let w = w.with_durations(vec![10, 3000, 20]);
        assert_eq!(
            (w.p50_duration_ms, w.p95_duration_ms, w.p99_duration_ms),
            (Some(20.0), Some(3000.0), Some(3000.0))
        );
        let none = w.with_durations(Vec::new());
        assert_eq!(none.p95_duration_ms, None);
    }
}
