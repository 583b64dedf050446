//! Task matcher: capability match, then value for money.
//!
//! A candidate's capability match is the share of the task's required
//! capabilities it has (1.0 when the task requires none). Candidates are
//! filtered in this order, and the first filter a candidate fails is why it
//! is excluded:
//!
//! 1. match >= the policy's `min_capability_match` (insufficient capability),
//! 2. cost per hour <= the lower of the task's and the policy's caps, where
//!    set (over cost),
//! 3. budget remaining > 0 (budget exhausted),
//! 4. breaker not tripped (breaker tripped).
//!
//! The rest are ranked by `match × reputation / cost per hour`, best first;
//! equal scores keep the candidates' input (registration) order.

use regent_sdk::fmt::fixed;
use regent_sdk::matcher::*;

/// Ranks candidates by capability match × reputation / cost.
pub struct CapabilityMatch;

impl TaskMatcher for CapabilityMatch {
    type Params = NoParams;
    const SUMMARY: &'static str =
        "filters on capability match, cost, budget and breaker; ranks by match × reputation / cost";

    fn rank(
        task: &Task,
        candidates: &[Candidate],
        policy: &AssignmentPolicy,
        _: &NoParams,
    ) -> Result<Ranking, String> {
        // The score divides by cost, so a free (or nonsensical) cost would
        // rank a candidate above everything; refuse rather than guess.
        if let Some(c) = candidates
            .iter()
            .find(|c| !(c.cost_per_hour.is_finite() && c.cost_per_hour > 0.0))
        {
            return Err(format!(
                "candidate `{}` has cost per hour {}; it must be a positive number",
                c.id, c.cost_per_hour
            ));
        }

        let max_cost = match (task.max_cost_per_hour, policy.max_cost_per_hour) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut required: Vec<&str> = task
            .required_capabilities
            .iter()
            .map(String::as_str)
            .collect();
        required.sort_unstable();
        required.dedup();

        let mut ranked = Vec::new();
        let mut excluded = Vec::new();
        for c in candidates {
            let held = required
                .iter()
                .filter(|r| c.capabilities.iter().any(|h| h == *r))
                .count();
            let capability_match = if required.is_empty() {
                1.0
            } else {
                held as f64 / required.len() as f64
            };
            let exclusion = if capability_match < policy.min_capability_match {
                Some((
                    ExclusionReason::InsufficientCapability,
                    format!(
                        "match {} < {} ({held} of {} required capabilities)",
                        fixed(capability_match, 2),
                        fixed(policy.min_capability_match, 2),
                        required.len()
                    ),
                ))
            } else if let Some(max) = max_cost.filter(|&max| c.cost_per_hour > max) {
                Some((
                    ExclusionReason::OverCost,
                    format!(
                        "cost {}/h > max {}/h",
                        fixed(c.cost_per_hour, 2),
                        fixed(max, 2)
                    ),
                ))
            } else if c.budget_remaining <= 0.0 {
                Some((
                    ExclusionReason::BudgetExhausted,
                    format!("budget remaining {} <= 0", fixed(c.budget_remaining, 2)),
                ))
            } else if c.breaker_tripped {
                Some((
                    ExclusionReason::BreakerTripped,
                    "circuit breaker is tripped".to_string(),
                ))
            } else {
                None
            };
            match exclusion {
                Some((reason, detail)) => excluded.push(ExcludedCandidate {
                    id: c.id.clone(),
                    reason,
                    detail,
                }),
                None => ranked.push(RankedCandidate {
                    id: c.id.clone(),
                    score: capability_match * c.reputation / c.cost_per_hour,
                    capability_match,
                }),
            }
        }
        // A stable sort keeps registration order among equal scores.
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(Ranking { ranked, excluded })
    }
}

regent_sdk::task_matcher!(CapabilityMatch);

#[cfg(test)]
mod tests {
    use super::*;

    const SIP: &str = "integration:sip";
    const H323: &str = "integration:h323";
    const NDI: &str = "integration:ndi";
    const WEBRTC: &str = "integration:webrtc";
    const PYTHON: &str = "code-analysis:python";

    fn policy() -> AssignmentPolicy {
        AssignmentPolicy {
            min_capability_match: 0.7,
            max_cost_per_hour: None,
        }
    }

    fn rank(task: &Task, candidates: &[Candidate]) -> Ranking {
        CapabilityMatch::rank(task, candidates, &policy(), &NoParams {}).unwrap()
    }

    /// The seed's `find_qualified_swarm`: the best ranked candidate, if any.
    fn assigned(task: &Task, candidates: &[Candidate]) -> Option<String> {
        rank(task, candidates).ranked.first().map(|r| r.id.clone())
    }

    fn ids(ranking: &Ranking) -> Vec<&str> {
        ranking.ranked.iter().map(|r| r.id.as_str()).collect()
    }

    fn reasons(ranking: &Ranking) -> Vec<(&str, ExclusionReason)> {
        ranking
            .excluded
            .iter()
            .map(|e| (e.id.as_str(), e.reason))
            .collect()
    }

    fn round4(x: f64) -> f64 {
        (x * 10_000.0).round() / 10_000.0
    }

    #[test]
    fn scenario_1_basic_assignment() {
        let swarms = [
            candidate("session-4-sip", &[SIP, H323], 15.0, 0.95, 25.0),
            candidate("session-1-ndi", &[NDI], 2.0, 0.90, 25.0),
        ];
        let ranking = rank(&task("sip-integration", &[SIP], Some(20.0)), &swarms);
        assert_eq!(ids(&ranking), ["session-4-sip"]);
        assert_eq!(ranking.ranked[0].capability_match, 1.0);
        assert_eq!(round4(ranking.ranked[0].score), 0.0633);
        assert_eq!(
            reasons(&ranking),
            [("session-1-ndi", ExclusionReason::InsufficientCapability)]
        );
        assert_eq!(
            ranking.excluded[0].detail,
            "match 0.00 < 0.70 (0 of 1 required capabilities)"
        );
    }

    #[test]
    fn scenario_2_budget_exhaustion_and_breaker() {
        let task = task("python", &[PYTHON], Some(20.0));
        let mut swarm = candidate("session-test", &[PYTHON], 15.0, 0.95, 5.0);
        // Tasks 1-3 run while budget remains: 5.0, then 3.0, then 1.0.
        for budget in [5.0, 3.0, 1.0] {
            swarm.budget_remaining = budget;
            assert_eq!(
                assigned(&task, &[swarm.clone()]).as_deref(),
                Some("session-test")
            );
        }
        // Task 3 overspent to -1.0, which tripped the breaker. The budget
        // filter comes first, so it is the reason given.
        swarm.budget_remaining = -1.0;
        swarm.breaker_tripped = true;
        let ranking = rank(&task, &[swarm.clone()]);
        assert!(ranking.ranked.is_empty());
        assert_eq!(
            reasons(&ranking),
            [("session-test", ExclusionReason::BudgetExhausted)]
        );
        assert_eq!(ranking.excluded[0].detail, "budget remaining -1.00 <= 0");
        // A human resets the breaker with a new budget of 25.0.
        swarm.budget_remaining = 25.0;
        swarm.breaker_tripped = false;
        assert_eq!(assigned(&task, &[swarm]).as_deref(), Some("session-test"));
    }

    #[test]
    fn scenario_3_multi_swarm_distribution() {
        let swarms = [
            candidate("session-1-ndi", &[NDI], 2.0, 0.90, 25.0),
            candidate("session-2-webrtc", &[WEBRTC], 15.0, 0.92, 25.0),
            candidate("session-3-h323", &[H323], 2.0, 0.88, 25.0),
            candidate("session-4-sip", &[SIP], 15.0, 0.95, 25.0),
        ];
        for (capability, expected) in [
            (NDI, "session-1-ndi"),
            (WEBRTC, "session-2-webrtc"),
            (H323, "session-3-h323"),
            (SIP, "session-4-sip"),
        ] {
            let ranking = rank(&task("t", &[capability], Some(20.0)), &swarms);
            assert_eq!(ids(&ranking), [expected]);
            assert_eq!(ranking.excluded.len(), 3);
            assert!(ranking
                .excluded
                .iter()
                .all(|e| e.reason == ExclusionReason::InsufficientCapability));
        }
    }

    #[test]
    fn scenario_4_cost_optimization() {
        let swarms = [
            candidate("opus-swarm", &[PYTHON], 75.0, 1.0, 25.0),
            candidate("sonnet-swarm", &[PYTHON], 15.0, 0.95, 25.0),
            candidate("haiku-swarm", &[PYTHON], 1.5, 0.90, 25.0),
        ];
        let ranking = rank(&task("t", &[PYTHON], Some(100.0)), &swarms);
        assert_eq!(ids(&ranking), ["haiku-swarm", "sonnet-swarm", "opus-swarm"]);
        let scores: Vec<f64> = ranking.ranked.iter().map(|r| round4(r.score)).collect();
        assert_eq!(scores, [0.60, 0.0633, 0.0133]);
        assert!(ranking.excluded.is_empty());
    }

    #[test]
    fn partial_matches_count_the_share_of_required_capabilities() {
        let required = [SIP, H323, NDI, WEBRTC];
        let swarms = [
            candidate("three", &[SIP, H323, NDI, PYTHON], 10.0, 1.0, 25.0),
            candidate("two", &[SIP, H323], 1.0, 1.0, 25.0),
        ];
        let ranking = rank(&task("t", &required, None), &swarms);
        assert_eq!(ids(&ranking), ["three"]);
        assert_eq!(ranking.ranked[0].capability_match, 0.75);
        assert_eq!(
            ranking.excluded[0].detail,
            "match 0.50 < 0.70 (2 of 4 required capabilities)"
        );
        // A match exactly at the minimum passes.
        let at_min = AssignmentPolicy {
            min_capability_match: 0.5,
            max_cost_per_hour: None,
        };
        let ranking =
            CapabilityMatch::rank(&task("t", &required, None), &swarms, &at_min, &NoParams {});
        assert_eq!(ids(&ranking.unwrap()), ["two", "three"]);
        // Listing a requirement twice does not count it twice.
        let twice = rank(
            &task("t", &[SIP, SIP, NDI], None),
            &[candidate("c", &[SIP], 1.0, 1.0, 1.0)],
        );
        assert_eq!(
            twice.excluded[0].detail,
            "match 0.50 < 0.70 (1 of 2 required capabilities)"
        );
    }

    #[test]
    fn a_task_requiring_nothing_matches_everyone() {
        let ranking = rank(&task("t", &[], None), &[candidate("c", &[], 2.0, 0.5, 1.0)]);
        assert_eq!(ranking.ranked[0].capability_match, 1.0);
        assert_eq!(ranking.ranked[0].score, 0.25);
    }

    #[test]
    fn filters_apply_in_order_and_the_first_failure_is_the_reason() {
        let mut all_wrong = candidate("all-wrong", &[NDI], 50.0, 1.0, 0.0);
        all_wrong.breaker_tripped = true;
        let mut costly = candidate("costly", &[SIP], 50.0, 1.0, 0.0);
        costly.breaker_tripped = true;
        let mut broke = candidate("broke", &[SIP], 10.0, 1.0, 0.0);
        broke.breaker_tripped = true;
        let mut tripped = candidate("tripped", &[SIP], 10.0, 1.0, 5.0);
        tripped.breaker_tripped = true;
        let ok = candidate("ok", &[SIP], 20.0, 1.0, 0.01);
        let ranking = rank(
            &task("t", &[SIP], Some(20.0)),
            &[all_wrong, costly, broke, tripped, ok],
        );
        assert_eq!(
            ids(&ranking),
            ["ok"],
            "cost equal to the cap and any budget left pass"
        );
        assert_eq!(
            reasons(&ranking),
            [
                ("all-wrong", ExclusionReason::InsufficientCapability),
                ("costly", ExclusionReason::OverCost),
                ("broke", ExclusionReason::BudgetExhausted),
                ("tripped", ExclusionReason::BreakerTripped),
            ]
        );
        let details: Vec<&str> = ranking.excluded.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(
            details[1..],
            [
                "cost 50.00/h > max 20.00/h",
                "budget remaining 0.00 <= 0",
                "circuit breaker is tripped"
            ]
        );
    }

    #[test]
    fn the_lower_of_the_task_and_policy_cost_caps_applies() {
        let swarms = [candidate("c", &[SIP], 15.0, 1.0, 5.0)];
        let capped = |task_cap, policy_cap| {
            let policy = AssignmentPolicy {
                min_capability_match: 0.7,
                max_cost_per_hour: policy_cap,
            };
            let ranking =
                CapabilityMatch::rank(&task("t", &[SIP], task_cap), &swarms, &policy, &NoParams {});
            ranking.unwrap().excluded.first().map(|e| e.detail.clone())
        };
        assert_eq!(capped(None, None), None);
        assert_eq!(capped(Some(20.0), None), None);
        assert_eq!(
            capped(Some(20.0), Some(10.0)).unwrap(),
            "cost 15.00/h > max 10.00/h"
        );
        assert_eq!(
            capped(Some(12.0), Some(30.0)).unwrap(),
            "cost 15.00/h > max 12.00/h"
        );
        assert_eq!(
            capped(None, Some(14.99)).unwrap(),
            "cost 15.00/h > max 14.99/h"
        );
    }

    #[test]
    fn ties_keep_registration_order() {
        let a = candidate("a", &[SIP], 2.0, 0.9, 5.0);
        let b = candidate("b", &[SIP], 2.0, 0.9, 5.0);
        // Same score through a different cost and reputation: 0.5 / 1 = 1 / 2.
        let c = candidate("c", &[SIP], 1.0, 0.45, 5.0);
        let better = candidate("better", &[SIP], 1.0, 0.9, 5.0);
        let task = task("t", &[SIP], None);
        let forward = [a.clone(), b.clone(), c.clone(), better.clone()];
        assert_eq!(ids(&rank(&task, &forward)), ["better", "a", "b", "c"]);
        assert_eq!(
            ids(&rank(&task, &[c, b, better, a])),
            ["better", "c", "b", "a"]
        );
    }

    #[test]
    fn no_candidates_and_no_qualified_candidates() {
        let task = task("t", &[SIP], None);
        let empty = rank(&task, &[]);
        assert!(empty.ranked.is_empty() && empty.excluded.is_empty());
        assert_eq!(
            assigned(&task, &[candidate("x", &[NDI], 1.0, 1.0, 1.0)]),
            None
        );
    }

    #[test]
    fn a_non_positive_cost_is_an_input_error_naming_the_candidate() {
        let task = task("t", &[SIP], None);
        for cost in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let candidates = [
                candidate("fine", &[SIP], 1.0, 1.0, 1.0),
                candidate("free", &[NDI], cost, 1.0, 1.0),
            ];
            let err =
                CapabilityMatch::rank(&task, &candidates, &policy(), &NoParams {}).unwrap_err();
            assert_eq!(
                err,
                format!("candidate `free` has cost per hour {cost}; it must be a positive number")
            );
        }
    }
}
