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
    /// Shared: the host keeps its fleet as one `Arc` and lends it to each
    /// ranking rather than copying thousands of candidates per request.
    pub candidates: std::sync::Arc<Vec<Candidate>>,
    #[serde(default)]
    pub policy: AssignmentPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedCandidate {
    pub id: String,
    pub score: f64,
    pub capability_match: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    InsufficientCapability,
    OverCost,
    BudgetExhausted,
    BreakerTripped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedCandidate {
    pub id: String,
    pub reason: ExclusionReason,
    pub capability_match: f64,
    /// The reason in words, with the numbers behind it.
    pub detail: ExclusionDetail,
}

/// The numbers behind an exclusion, worded as one line when displayed or
/// serialized. Matchers report only the reason, so every matcher's
/// exclusions read the same; and a ranking can exclude thousands of
/// candidates, so the wording waits until someone reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExclusionDetail {
    reason: ExclusionReason,
    capability_match: f64,
    min_capability_match: f64,
    cost_per_hour: f64,
    max_cost_per_hour: Option<f64>,
    budget_remaining: f64,
}

impl ExclusionDetail {
    pub fn new(
        reason: ExclusionReason,
        request: &MatchRequest,
        candidate: &Candidate,
        capability_match: f64,
    ) -> Self {
        Self {
            reason,
            capability_match,
            min_capability_match: request.policy.min_capability_match,
            cost_per_hour: candidate.cost_per_hour,
            max_cost_per_hour: request.max_cost_per_hour(),
            budget_remaining: candidate.budget_remaining,
        }
    }
}

impl std::fmt::Display for ExclusionDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `{:.2}` takes a bignum path for most values; this is exact and fast.
        let two = |x: f64| regent_sdk::fmt::fixed(x, 2);
        match self.reason {
            ExclusionReason::InsufficientCapability => write!(
                f,
                "capability match {} < minimum {}",
                two(self.capability_match),
                two(self.min_capability_match)
            ),
            ExclusionReason::OverCost => match self.max_cost_per_hour {
                Some(max) => write!(f, "cost {}/h > max {}/h", two(self.cost_per_hour), two(max)),
                None => write!(f, "cost {}/h is over the cap", two(self.cost_per_hour)),
            },
            ExclusionReason::BudgetExhausted => {
                write!(f, "budget remaining {} <= 0", two(self.budget_remaining))
            }
            ExclusionReason::BreakerTripped => f.write_str("circuit breaker is tripped"),
        }
    }
}

impl Serialize for ExclusionDetail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranking {
    pub ranked: Vec<RankedCandidate>,
    pub excluded: Vec<ExcludedCandidate>,
}

impl MatchRequest {
    /// Rejects a request a matcher could not rank meaningfully.
    pub fn check(&self) -> Result<(), MatchingError> {
        let p = &self.policy;
        if !(0.0..=1.0).contains(&p.min_capability_match) {
            return Err(MatchingError::MinCapabilityMatch(p.min_capability_match));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.candidates.iter().enumerate() {
            if !seen.insert(c.id.as_str()) {
                return Err(MatchingError::DuplicateCandidate {
                    index: i,
                    id: c.id.clone(),
                });
            }
            if !(c.cost_per_hour.is_finite() && c.cost_per_hour > 0.0) {
                return Err(MatchingError::CandidateCost {
                    index: i,
                    id: c.id.clone(),
                });
            }
            if !(0.0..=1.0).contains(&c.reputation) {
                return Err(MatchingError::CandidateReputation {
                    index: i,
                    id: c.id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Why a match request, or a matcher's placements of its candidates, was
/// refused. Placement errors mean a broken matcher, not a bad request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchingError {
    #[error("policy.minCapabilityMatch must be within 0..=1, got {0}")]
    MinCapabilityMatch(f64),
    #[error("candidates[{index}]: duplicate id `{id}`")]
    DuplicateCandidate { index: usize, id: String },
    #[error("candidates[{index}] (`{id}`): costPerHour must be a positive number")]
    CandidateCost { index: usize, id: String },
    #[error("candidates[{index}] (`{id}`): reputation must be within 0..=1")]
    CandidateReputation { index: usize, id: String },
    #[error("placed candidate {index}, but there are only {count}")]
    PlacedOutOfRange { index: u32, count: usize },
    #[error("candidate {index} (`{id}`) is placed twice")]
    PlacedTwice { index: u32, id: String },
    #[error("candidate {index} (`{id}`) has capability match {capability_match}, outside 0..=1")]
    MatchOutOfRange {
        index: u32,
        id: String,
        capability_match: f64,
    },
    #[error("candidate {index} (`{id}`) has score {score}, not a finite number")]
    ScoreNotFinite { index: u32, id: String, score: f64 },
    #[error(
        "left {missing} of {count} candidates unplaced, the first being candidate {first} (`{id}`)"
    )]
    Unplaced {
        missing: usize,
        count: usize,
        first: usize,
        id: String,
    },
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

impl Ranking {
    /// Turns a matcher's placements (ranked ones best first, excluded ones in
    /// any order) into a ranking with ids and details. Every candidate must
    /// be placed exactly once, with a finite score and a match within 0..=1;
    /// anything else is a broken matcher, and the message says what.
    pub fn from_placements(
        request: &MatchRequest,
        placements: impl IntoIterator<Item = Placement>,
    ) -> Result<Ranking, MatchingError> {
        let n = request.candidates.len();
        let mut placed = vec![false; n];
        let mut ranking = Ranking {
            ranked: Vec::new(),
            excluded: Vec::new(),
        };
        for placement in placements {
            let (position, matched) = match placement {
                Placement::Ranked {
                    index,
                    capability_match,
                    ..
                }
                | Placement::Excluded {
                    index,
                    capability_match,
                    ..
                } => (index, capability_match),
            };
            let index = position as usize;
            let Some(candidate) = request.candidates.get(index) else {
                return Err(MatchingError::PlacedOutOfRange {
                    index: position,
                    count: n,
                });
            };
            if std::mem::replace(&mut placed[index], true) {
                return Err(MatchingError::PlacedTwice {
                    index: position,
                    id: candidate.id.clone(),
                });
            }
            if !(0.0..=1.0).contains(&matched) {
                return Err(MatchingError::MatchOutOfRange {
                    index: position,
                    id: candidate.id.clone(),
                    capability_match: matched,
                });
            }
            match placement {
                Placement::Ranked { score, .. } if !score.is_finite() => {
                    return Err(MatchingError::ScoreNotFinite {
                        index: position,
                        id: candidate.id.clone(),
                        score,
                    });
                }
                Placement::Ranked { score, .. } => ranking.ranked.push(RankedCandidate {
                    id: candidate.id.clone(),
                    score,
                    capability_match: matched,
                }),
                Placement::Excluded { reason, .. } => ranking.excluded.push(ExcludedCandidate {
                    id: candidate.id.clone(),
                    reason,
                    capability_match: matched,
                    detail: ExclusionDetail::new(reason, request, candidate, matched),
                }),
            }
        }
        let missing = placed.iter().filter(|p| !**p).count();
        if missing > 0 {
            let first = placed.iter().position(|p| !*p).unwrap_or_default();
            return Err(MatchingError::Unplaced {
                missing,
                count: n,
                first,
                id: request.candidates[first].id.clone(),
            });
        }
        Ok(ranking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> MatchRequest {
        let candidate = |id: &str, cost: f64, budget: f64| Candidate {
            id: id.into(),
            capabilities: vec!["sip".into()],
            cost_per_hour: cost,
            reputation: 0.9,
            budget_remaining: budget,
            breaker_tripped: false,
        };
        MatchRequest {
            task: Task {
                id: "t".into(),
                required_capabilities: vec!["sip".into()],
                max_cost_per_hour: Some(30.0),
            },
            candidates: vec![
                candidate("a", 10.0, 5.0),
                candidate("b", 45.5, 5.0),
                candidate("c", 10.0, 0.0),
            ]
            .into(),
            policy: AssignmentPolicy {
                min_capability_match: 0.7,
                max_cost_per_hour: Some(20.0),
            },
        }
    }

    fn ranked(index: u32) -> Placement {
        Placement::Ranked {
            index,
            score: 0.5,
            capability_match: 1.0,
        }
    }

    fn excluded(index: u32, reason: ExclusionReason) -> Placement {
        Placement::Excluded {
            index,
            reason,
            capability_match: 1.0,
        }
    }

    #[test]
    fn placements_become_ids_and_worded_details() {
        let r = request();
        let ranking = Ranking::from_placements(
            &r,
            [
                ranked(0),
                excluded(1, ExclusionReason::OverCost),
                excluded(2, ExclusionReason::BudgetExhausted),
            ],
        )
        .unwrap();
        assert_eq!(ranking.ranked[0].id, "a");
        let details: Vec<String> = ranking
            .excluded
            .iter()
            .map(|e| format!("{}: {}", e.id, e.detail))
            .collect();
        assert_eq!(
            details,
            [
                "b: cost 45.50/h > max 20.00/h",
                "c: budget remaining 0.00 <= 0"
            ],
            "the lower of the task's and the policy's caps is the max"
        );
        let json = serde_json::to_value(&ranking.excluded[0]).unwrap();
        assert_eq!(json["detail"], "cost 45.50/h > max 20.00/h");
    }

    #[test]
    fn a_matcher_must_place_every_candidate_exactly_once() {
        let r = request();
        let err = |placements: Vec<Placement>| {
            Ranking::from_placements(&r, placements)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(vec![ranked(0), ranked(1)]),
            "left 1 of 3 candidates unplaced, the first being candidate 2 (`c`)"
        );
        assert_eq!(
            err(vec![ranked(0), ranked(1), ranked(1)]),
            "candidate 1 (`b`) is placed twice"
        );
        assert_eq!(
            err(vec![ranked(7)]),
            "placed candidate 7, but there are only 3"
        );
        let nan = Placement::Ranked {
            index: 0,
            score: f64::NAN,
            capability_match: 1.0,
        };
        assert_eq!(
            err(vec![nan]),
            "candidate 0 (`a`) has score NaN, not a finite number"
        );
        let over = Placement::Excluded {
            index: 0,
            reason: ExclusionReason::InsufficientCapability,
            capability_match: 1.5,
        };
        assert_eq!(
            err(vec![over]),
            "candidate 0 (`a`) has capability match 1.5, outside 0..=1"
        );
    }
}
