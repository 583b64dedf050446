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
    pub fn check(&self) -> Result<(), RiskError> {
        if self.overall > 100 {
            return Err(RiskError::OverallAbove100 {
                score: self.overall,
            });
        }
        for (i, c) in self.categories.iter().enumerate() {
            if c.score > 100 {
                return Err(RiskError::CategoryAbove100 {
                    category: c.category.clone(),
                    score: c.score,
                });
            }
            if self.categories[..i]
                .iter()
                .any(|earlier| earlier.category == c.category)
            {
                return Err(RiskError::CategoryScoredTwice {
                    category: c.category.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Why a risk scorer's output was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RiskError {
    #[error("overall score {score} is above 100")]
    OverallAbove100 { score: u32 },
    #[error("category `{category}` scored {score}, above 100")]
    CategoryAbove100 { category: String, score: u32 },
    #[error("category `{category}` is scored twice")]
    CategoryScoredTwice { category: String },
}
