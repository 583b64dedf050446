//! Enumerations shared by every kind of plugin.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Which world a plugin implements.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    #[serde(alias = "checklist-item")]
    ChecklistItem,
    #[serde(alias = "breaker-condition")]
    BreakerCondition,
    #[serde(alias = "risk-scorer")]
    RiskScorer,
    #[serde(alias = "task-matcher")]
    TaskMatcher,
    #[serde(alias = "checklist-bundle")]
    ChecklistBundle,
}

impl PluginKind {
    pub const ALL: [PluginKind; 5] = [
        PluginKind::ChecklistItem,
        PluginKind::BreakerCondition,
        PluginKind::RiskScorer,
        PluginKind::TaskMatcher,
        PluginKind::ChecklistBundle,
    ];

    /// The WIT world's name, as policy authors see it.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::ChecklistItem => "checklist-item",
            PluginKind::BreakerCondition => "breaker-condition",
            PluginKind::RiskScorer => "risk-scorer",
            PluginKind::TaskMatcher => "task-matcher",
            PluginKind::ChecklistBundle => "checklist-bundle",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

impl FromStr for PluginKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PluginKind::ALL
            .into_iter()
            .find(|k| k.world() == s || k.world().replace('-', "_") == s)
            .ok_or_else(|| {
                format!("unknown plugin kind `{s}` (expected checklist-item, checklist-bundle, breaker-condition, risk-scorer or task-matcher)")
            })
    }
}

/// Severity of an incident or event. Accepted in any case; sent lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// As the seed's reports spell it.
    pub fn as_upper(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity `{s}` (expected low, medium, high or critical)"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Autonomy phases.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
pub enum Phase {
    #[default]
    L3,
    #[serde(rename = "L3+")]
    L3Plus,
    L4,
    #[serde(rename = "L4+")]
    L4Plus,
    L5,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::L3,
        Phase::L3Plus,
        Phase::L4,
        Phase::L4Plus,
        Phase::L5,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::L3 => "L3",
            Phase::L3Plus => "L3+",
            Phase::L4 => "L4",
            Phase::L4Plus => "L4+",
            Phase::L5 => "L5",
        }
    }

    /// The phase after this one; `None` at L5.
    pub fn next(self) -> Option<Phase> {
        Phase::ALL
            .iter()
            .position(|p| *p == self)
            .and_then(|i| Phase::ALL.get(i + 1).copied())
    }

    /// Days a phase must be held before the next expansion: 180 at L3
    /// ("6+ months"); after that, the phase's own validation period.
    pub fn min_stabilization_days(self) -> u32 {
        match self {
            Phase::L3 => 180,
            Phase::L3Plus => 14,
            Phase::L4 => 21,
            Phase::L4Plus => 30,
            Phase::L5 => 60,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown phase `{s}` (expected L3, L3+, L4, L4+ or L5)"))
    }
}

/// The checklist's three dimensions.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Technical,
    Process,
    Organizational,
}
