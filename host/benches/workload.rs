//! The inputs the benchmarks and `examples/profile_item.rs` share.

// Benchmark support (also built as a bench target of its own): a broken
// fixture should stop the run with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use regent_host::domain::matching::{AssignmentPolicy, Candidate, MatchRequest, Task};
use regent_host::domain::readiness::ReadinessContext;

/// A realistic readiness context: 16 attestations, 3 incidents, 2 gauges.
pub fn context() -> ReadinessContext {
    serde_json::from_str(include_str!("context.json")).expect("context.json")
}

/// 10,000 agents over a pool of 20 capabilities, three each.
pub fn match_request() -> MatchRequest {
    let caps: Vec<String> = (0..20).map(|i| format!("cap:{i}")).collect();
    let candidates = (0..10_000)
        .map(|i| Candidate {
            id: format!("agent-{i}"),
            capabilities: (0..3).map(|k| caps[(i * 7 + k * 3) % 20].clone()).collect(),
            cost_per_hour: 1.0 + (i % 50) as f64,
            reputation: 0.5 + (i % 50) as f64 / 100.0,
            budget_remaining: if i % 13 == 0 { 0.0 } else { 25.0 },
            breaker_tripped: i % 97 == 0,
        })
        .collect::<Vec<_>>();
    MatchRequest {
        task: Task {
            id: "task".into(),
            required_capabilities: vec![caps[0].clone(), caps[3].clone()],
            max_cost_per_hour: Some(40.0),
        },
        candidates: candidates.into(),
        policy: AssignmentPolicy {
            min_capability_match: 0.5,
            max_cost_per_hour: None,
        },
    }
}
