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
    pub capability_match: f64,
    /// The reason in words, with the numbers behind it.
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

/// A matcher's verdict on one candidate, by position in the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    Ranked {
        index: u32,
        score: f64,
        capability_match: f64,
    },
    Excluded {
        index: u32,
        reason: ExclusionReason,
        capability_match: f64,
    },
}

impl MatchRequest {
    /// The lower of the task's and the policy's caps on cost per hour.
    pub fn max_cost_per_hour(&self) -> Option<f64> {
        match (self.task.max_cost_per_hour, self.policy.max_cost_per_hour) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl ExclusionReason {
    /// The reason in words, with the numbers behind it. Matchers report only
    /// the reason, so every matcher's exclusions read the same.
    pub fn detail(self, request: &MatchRequest, candidate: &Candidate, matched: f64) -> String {
        match self {
            ExclusionReason::InsufficientCapability => format!(
                "capability match {matched:.2} < minimum {:.2}",
                request.policy.min_capability_match
            ),
            ExclusionReason::OverCost => match request.max_cost_per_hour() {
                Some(max) => format!("cost {:.2}/h > max {max:.2}/h", candidate.cost_per_hour),
                None => format!("cost {:.2}/h is over the cap", candidate.cost_per_hour),
            },
            ExclusionReason::BudgetExhausted => format!(
                "budget remaining {:.2} <= 0",
                candidate.budget_remaining
            ),
            ExclusionReason::BreakerTripped => "circuit breaker is tripped".to_string(),
        }
    }
}

impl Ranking {
    /// Turns a matcher's placements (ranked ones best first, excluded ones in
    /// any order) into a ranking with ids and details. Every candidate must
    /// be placed exactly once, with a finite score and a match within 0..=1;
    /// anything else is a broken matcher, and the message says what.
    pub fn from_placements(
        request: &MatchRequest,
        placements: impl IntoIterator<Item = Placement>,
    ) -> Result<Ranking, String> {
        let n = request.candidates.len();
        let mut placed = vec![false; n];
        let mut ranking = Ranking {
            ranked: Vec::new(),
            excluded: Vec::new(),
        };
        for placement in placements {
            let (index, matched) = match placement {
                Placement::Ranked {
                    index,
                    capability_match,
                    ..
                }
                | Placement::Excluded {
                    index,
                    capability_match,
                    ..
                } => (index as usize, capability_match),
            };
            let Some(candidate) = request.candidates.get(index) else {
                return Err(format!("placed candidate {index}, but there are only {n}"));
            };
            if std::mem::replace(&mut placed[index], true) {
                return Err(format!("candidate {index} (`{}`) is placed twice", candidate.id));
            }
            if !(0.0..=1.0).contains(&matched) {
                return Err(format!(
                    "candidate {index} (`{}`) has capability match {matched}, outside 0..=1",
                    candidate.id
                ));
            }
            match placement {
                Placement::Ranked { score, .. } if !score.is_finite() => {
                    return Err(format!(
                        "candidate {index} (`{}`) has score {score}, not a finite number",
                        candidate.id
                    ));
                }
                Placement::Ranked { score, .. } => ranking.ranked.push(RankedCandidate {
                    id: candidate.id.clone(),
                    score,
                    capability_match: matched,
                }),
                Placement::Excluded { reason, .. } => {
                    ranking.excluded.push(ExcludedCandidate {
                        id: candidate.id.clone(),
                        reason,
                        capability_match: matched,
                        detail: reason.detail(request, candidate, matched),
                    })
                }
            }
        }
        let missing = placed.iter().filter(|p| !**p).count();
        if missing > 0 {
            let first = placed.iter().position(|p| !*p).unwrap_or_default();
            return Err(format!(
                "left {missing} of {n} candidates unplaced, the first being candidate {first} (`{}`)",
                request.candidates[first].id
            ));
        }
        Ok(ranking)
    }
}
