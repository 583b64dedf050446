//! Multi-engine risk: events in, scores per category out.

use serde::{Deserialize, Serialize};

use super::{Severity, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceEvent {
    pub engine: String,
    pub event_type: String,
    pub severity: Severity,
    pub occurred_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskInput {
    pub events: Vec<GovernanceEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryRisk {
    pub category: String,
    pub score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskAssessment {
    pub categories: Vec<CategoryRisk>,
    pub overall: u32,
    pub recommendations: Vec<String>,
    /// True when the host cut the plugin's recommendations to their caps
    /// (how many, and how long each).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RiskAssessment {
    /// Scores outside 0..=100 or a category scored twice make the output
    /// meaningless, so the host refuses it rather than storing it.
    pub fn check(&self) -> Result<(), String> {
        if self.overall > 100 {
            return Err(format!("overall score {} is above 100", self.overall));
        }
        for (i, c) in self.categories.iter().enumerate() {
            if c.score > 100 {
                return Err(format!(
                    "category `{}` scored {}, above 100",
                    c.category, c.score
                ));
            }
            if self.categories[..i]
                .iter()
                .any(|earlier| earlier.category == c.category)
            {
                return Err(format!("category `{}` is scored twice", c.category));
            }
        }
        Ok(())
    }
}
