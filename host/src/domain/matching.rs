//! Task-to-agent matching: the request a matcher sees and its ranking.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Task {
    pub id: String,
    pub required_capabilities: Vec<String>,
    #[serde(default)]
    pub max_cost_per_hour: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Candidate {
    pub id: String,
    pub capabilities: Vec<String>,
    pub cost_per_hour: f64,
    pub reputation: f64,
    pub budget_remaining: f64,
    #[serde(default)]
    pub breaker_tripped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AssignmentPolicy {
    pub min_capability_match: f64,
    pub max_cost_per_hour: Option<f64>,
}

impl Default for AssignmentPolicy {
    fn default() -> Self {
        Self {
            min_capability_match: 0.7,
            max_cost_per_hour: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchRequest {
    pub task: Task,
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub policy: AssignmentPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedCandidate {
    pub id: String,
    pub score: f64,
    pub capability_match: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    InsufficientCapability,
    OverCost,
    BudgetExhausted,
    BreakerTripped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedCandidate {
    pub id: String,
    pub reason: ExclusionReason,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranking {
    pub ranked: Vec<RankedCandidate>,
    pub excluded: Vec<ExcludedCandidate>,
}

impl MatchRequest {
    /// Rejects a request a matcher could not rank meaningfully.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.policy;
        if !(0.0..=1.0).contains(&p.min_capability_match) {
            return Err(format!(
                "policy.minCapabilityMatch must be within 0..=1, got {}",
                p.min_capability_match
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.candidates.iter().enumerate() {
            if !seen.insert(c.id.as_str()) {
                return Err(format!("candidates[{i}]: duplicate id `{}`", c.id));
            }
            if !(c.cost_per_hour.is_finite() && c.cost_per_hour > 0.0) {
                return Err(format!(
                    "candidates[{i}] (`{}`): costPerHour must be a positive number",
                    c.id
                ));
            }
            if !(0.0..=1.0).contains(&c.reputation) {
                return Err(format!(
                    "candidates[{i}] (`{}`): reputation must be within 0..=1",
                    c.id
                ));
            }
        }
        Ok(())
    }
}

impl Ranking {
    /// A ranking must account for every candidate exactly once, with
    /// finite scores; anything else is a broken matcher.
    pub fn check(&self, request: &MatchRequest) -> Result<(), String> {
        let known: HashSet<&str> = request.candidates.iter().map(|c| c.id.as_str()).collect();
        let mut seen = HashSet::new();
        let ids = self
            .ranked
            .iter()
            .map(|r| r.id.as_str())
            .chain(self.excluded.iter().map(|e| e.id.as_str()));
        for id in ids {
            if !known.contains(id) {
                return Err(format!("ranked unknown candidate `{id}`"));
            }
            if !seen.insert(id) {
                return Err(format!("candidate `{id}` appears more than once"));
            }
        }
        if seen.len() != known.len() {
            return Err(format!(
                "accounted for {} of {} candidates",
                seen.len(),
                known.len()
            ));
        }
        for r in &self.ranked {
            if !r.score.is_finite() || !(0.0..=1.0).contains(&r.capability_match) {
                return Err(format!(
                    "candidate `{}` has score {} and match {}",
                    r.id, r.score, r.capability_match
                ));
            }
        }
        Ok(())
    }
}
