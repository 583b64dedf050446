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

use regent_sdk::matcher::*;

/// Ranks candidates by capability match × reputation / cost.
pub struct CapabilityMatch;

impl TaskMatcher for CapabilityMatch {
    type Params = NoParams;
    const PANIC_MESSAGES: bool = false;
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
        if let Some(i) = candidates
            .iter()
            .position(|c| !(c.cost_per_hour.is_finite() && c.cost_per_hour > 0.0))
        {
            return Err(format!(
                "candidate {i} has cost per hour {}; it must be a positive number",
                candidates[i].cost_per_hour
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
        for (i, c) in candidates.iter().enumerate() {
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
                Some(ExclusionReason::InsufficientCapability)
            } else if max_cost.is_some_and(|max| c.cost_per_hour > max) {
                Some(ExclusionReason::OverCost)
            } else if c.budget_remaining <= 0.0 {
                Some(ExclusionReason::BudgetExhausted)
            } else if c.breaker_tripped {
                Some(ExclusionReason::BreakerTripped)
            } else {
                None
            };
            let index = position(i);
            match exclusion {
                Some(reason) => excluded.push(ExcludedCandidate {
                    index,
                    reason,
                    capability_match,
                }),
                None => ranked.push(RankedCandidate {
                    index,
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

    /// A candidate with a name, so that tests read like the seed's.
    #[derive(Clone)]
    struct Named {
        id: &'static str,
        candidate: Candidate,
    }

    fn candidate(
        id: &'static str,
        capabilities: &[&str],
        cost_per_hour: f64,
        reputation: f64,
        budget_remaining: f64,
    ) -> Named {
        Named {
            id,
            candidate: regent_sdk::matcher::candidate(
                capabilities,
                cost_per_hour,
                reputation,
                budget_remaining,
            ),
        }
    }

    /// A ranking with positions turned back into names.
    struct Outcome {
        ranking: Ranking,
        names: Vec<&'static str>,
    }

    impl Outcome {
        fn ids(&self) -> Vec<&'static str> {
            let names = &self.names;
            self.ranking
                .ranked
                .iter()
                .map(|r| names[r.index as usize])
                .collect()
        }

        fn reasons(&self) -> Vec<(&'static str, ExclusionReason)> {
            let names = &self.names;
            self.ranking
                .excluded
                .iter()
                .map(|e| (names[e.index as usize], e.reason))
                .collect()
        }
    }

    fn rank_with(task: &Task, named: &[Named], policy: &AssignmentPolicy) -> Outcome {
        let candidates: Vec<Candidate> = named.iter().map(|n| n.candidate.clone()).collect();
        Outcome {
            ranking: CapabilityMatch::rank(task, &candidates, policy, &NoParams {}).unwrap(),
            names: named.iter().map(|n| n.id).collect(),
        }
    }

    fn rank(task: &Task, named: &[Named]) -> Outcome {
        rank_with(task, named, &policy())
    }

    /// The seed's `find_qualified_swarm`: the best ranked candidate, if any.
    fn assigned(task: &Task, named: &[Named]) -> Option<&'static str> {
        rank(task, named).ids().first().copied()
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
        let out = rank(&task("sip-integration", &[SIP], Some(20.0)), &swarms);
        assert_eq!(out.ids(), ["session-4-sip"]);
        assert_eq!(out.ranking.ranked[0].capability_match, 1.0);
        assert_eq!(round4(out.ranking.ranked[0].score), 0.0633);
        assert_eq!(
            out.reasons(),
            [("session-1-ndi", ExclusionReason::InsufficientCapability)]
        );
        assert_eq!(out.ranking.excluded[0].capability_match, 0.0);
    }

    #[test]
    fn scenario_2_budget_exhaustion_and_breaker() {
        let task = task("python", &[PYTHON], Some(20.0));
        let mut swarm = candidate("session-test", &[PYTHON], 15.0, 0.95, 5.0);
        // Tasks 1-3 run while budget remains: 5.0, then 3.0, then 1.0.
        for budget in [5.0, 3.0, 1.0] {
            swarm.candidate.budget_remaining = budget;
            assert_eq!(assigned(&task, &[swarm.clone()]), Some("session-test"));
        }
        // Task 3 overspent to -1.0, which tripped the breaker. The budget
        // filter comes first, so it is the reason given.
        swarm.candidate.budget_remaining = -1.0;
        swarm.candidate.breaker_tripped = true;
        let out = rank(&task, &[swarm.clone()]);
        assert!(out.ranking.ranked.is_empty());
        assert_eq!(
            out.reasons(),
            [("session-test", ExclusionReason::BudgetExhausted)]
        );
        // A human resets the breaker with a new budget of 25.0.
        swarm.candidate.budget_remaining = 25.0;
        swarm.candidate.breaker_tripped = false;
        assert_eq!(assigned(&task, &[swarm]), Some("session-test"));
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
            let out = rank(&task("t", &[capability], Some(20.0)), &swarms);
            assert_eq!(out.ids(), [expected]);
            assert_eq!(out.ranking.excluded.len(), 3);
            assert!(out
                .ranking
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
        let out = rank(&task("t", &[PYTHON], Some(100.0)), &swarms);
        assert_eq!(out.ids(), ["haiku-swarm", "sonnet-swarm", "opus-swarm"]);
        let scores: Vec<f64> = out.ranking.ranked.iter().map(|r| round4(r.score)).collect();
        assert_eq!(scores, [0.60, 0.0633, 0.0133]);
        assert!(out.ranking.excluded.is_empty());
    }

    #[test]
    fn partial_matches_count_the_share_of_required_capabilities() {
        let required = [SIP, H323, NDI, WEBRTC];
        let swarms = [
            candidate("three", &[SIP, H323, NDI, PYTHON], 10.0, 1.0, 25.0),
            candidate("two", &[SIP, H323], 1.0, 1.0, 25.0),
        ];
        let out = rank(&task("t", &required, None), &swarms);
        assert_eq!(out.ids(), ["three"]);
        assert_eq!(out.ranking.ranked[0].capability_match, 0.75);
        assert_eq!(out.ranking.excluded[0].capability_match, 0.5);
        // A match exactly at the minimum passes.
        let at_min = AssignmentPolicy {
            min_capability_match: 0.5,
            max_cost_per_hour: None,
        };
        let out = rank_with(&task("t", &required, None), &swarms, &at_min);
        assert_eq!(out.ids(), ["two", "three"]);
        // Listing a requirement twice does not count it twice.
        let twice = rank(
            &task("t", &[SIP, SIP, NDI], None),
            &[candidate("c", &[SIP], 1.0, 1.0, 1.0)],
        );
        assert_eq!(twice.ranking.excluded[0].capability_match, 0.5);
    }

    #[test]
    fn a_task_requiring_nothing_matches_everyone() {
        let out = rank(&task("t", &[], None), &[candidate("c", &[], 2.0, 0.5, 1.0)]);
        assert_eq!(out.ranking.ranked[0].capability_match, 1.0);
        assert_eq!(out.ranking.ranked[0].score, 0.25);
    }

    #[test]
    fn filters_apply_in_order_and_the_first_failure_is_the_reason() {
        let mut all_wrong = candidate("all-wrong", &[NDI], 50.0, 1.0, 0.0);
        all_wrong.candidate.breaker_tripped = true;
        let mut costly = candidate("costly", &[SIP], 50.0, 1.0, 0.0);
        costly.candidate.breaker_tripped = true;
        let mut broke = candidate("broke", &[SIP], 10.0, 1.0, 0.0);
        broke.candidate.breaker_tripped = true;
        let mut tripped = candidate("tripped", &[SIP], 10.0, 1.0, 5.0);
        tripped.candidate.breaker_tripped = true;
        let ok = candidate("ok", &[SIP], 20.0, 1.0, 0.01);
        let out = rank(
            &task("t", &[SIP], Some(20.0)),
            &[all_wrong, costly, broke, tripped, ok],
        );
        assert_eq!(
            out.ids(),
            ["ok"],
            "cost equal to the cap and any budget left pass"
        );
        assert_eq!(
            out.reasons(),
            [
                ("all-wrong", ExclusionReason::InsufficientCapability),
                ("costly", ExclusionReason::OverCost),
                ("broke", ExclusionReason::BudgetExhausted),
                ("tripped", ExclusionReason::BreakerTripped),
            ]
        );
    }

    #[test]
    fn the_lower_of_the_task_and_policy_cost_caps_applies() {
        let swarms = [candidate("c", &[SIP], 15.0, 1.0, 5.0)];
        let over_cost = |task_cap, policy_cap| {
            let policy = AssignmentPolicy {
                min_capability_match: 0.7,
                max_cost_per_hour: policy_cap,
            };
            rank_with(&task("t", &[SIP], task_cap), &swarms, &policy).reasons()
                == [("c", ExclusionReason::OverCost)]
        };
        assert!(!over_cost(None, None));
        assert!(!over_cost(Some(20.0), None));
        assert!(over_cost(Some(20.0), Some(10.0)));
        assert!(over_cost(Some(12.0), Some(30.0)));
        assert!(over_cost(None, Some(14.99)));
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
        assert_eq!(rank(&task, &forward).ids(), ["better", "a", "b", "c"]);
        assert_eq!(
            rank(&task, &[c, b, better, a]).ids(),
            ["better", "c", "b", "a"]
        );
    }

    #[test]
    fn every_position_appears_exactly_once() {
        let swarms: Vec<Named> = (0..50)
            .map(|i| {
                let caps: &[&str] = if i % 3 == 0 { &[SIP] } else { &[NDI] };
                candidate("x", caps, 1.0 + f64::from(i % 7), 0.9, f64::from(i % 4))
            })
            .collect();
        let out = rank(&task("t", &[SIP], Some(5.0)), &swarms);
        let mut seen: Vec<u32> = out.ranking.ranked.iter().map(|r| r.index).collect();
        seen.extend(out.ranking.excluded.iter().map(|e| e.index));
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<u32>>());
    }

    #[test]
    fn no_candidates_and_no_qualified_candidates() {
        let task = task("t", &[SIP], None);
        let empty = rank(&task, &[]);
        assert!(empty.ranking.ranked.is_empty() && empty.ranking.excluded.is_empty());
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
                regent_sdk::matcher::candidate(&[SIP], 1.0, 1.0, 1.0),
                regent_sdk::matcher::candidate(&[NDI], cost, 1.0, 1.0),
            ];
            let err =
                CapabilityMatch::rank(&task, &candidates, &policy(), &NoParams {}).unwrap_err();
            assert_eq!(
                err,
                format!("candidate 1 has cost per hour {cost}; it must be a positive number")
            );
        }
    }
}
