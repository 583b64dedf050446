//! Task assignment end to end, in process: `FleetService::assign` over a fleet
//! of 10,000 registered agents, ranking the whole fleet with the
//! `capability-match` Wasm plugin and storing the assignment record. Run with
//! `make bench` (it builds the plugins first) or
//! `cargo bench -p regent-host --bench assignment`.
//!
//! The target is p95 <= 5 ms over 10,000 agents: criterion gives the mean,
//! a plain loop of 1,000 calls gives p50/p95/p99. Ranking alone (the same
//! fleet snapshot and policy, no record stored) is measured beside it to
//! show the split.

// A benchmark has no caller to hand an error to: a failed set-up step
// should stop the run with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use regent_host::config::ServeConfig;
use regent_host::domain::fleet::{AssignRequest, NewAgent};
use regent_host::domain::matching::{AssignmentPolicy, MatchRequest, Task};
use regent_host::domain::Timestamp;
use regent_host::service::FleetService;

const AGENTS: usize = 10_000;
const RUNS: usize = 1_000;

/// 20 capabilities in `category:skill` form.
const CAPABILITIES: [&str; 20] = [
    "integration:sip",
    "integration:rest",
    "integration:kafka",
    "integration:grpc",
    "integration:mqtt",
    "language:rust",
    "language:python",
    "language:go",
    "language:typescript",
    "language:sql",
    "ops:deploy",
    "ops:rollback",
    "ops:monitoring",
    "ops:oncall",
    "ops:chaos",
    "domain:roasting",
    "domain:billing",
    "domain:telephony",
    "domain:logistics",
    "domain:security",
];

/// A 64-bit LCG (Knuth's MMIX constants): deterministic, no crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
    /// `k` distinct capabilities.
    fn capabilities(&mut self, k: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(k);
        while out.len() < k {
            let c = CAPABILITIES[self.below(CAPABILITIES.len())];
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        }
        out
    }
}

/// Agents with 1 to 4 capabilities, costs 1..20 per hour (the default cost
/// cap is 10, so about half are over it), reputations 0.3..1.
fn agent(rng: &mut Lcg, i: usize) -> NewAgent {
    let k = 1 + rng.below(4);
    NewAgent {
        id: format!("agent-{i:05}"),
        capabilities: rng.capabilities(k),
        cost_per_hour: 1.0 + (rng.unit() * 19.0 * 100.0).round() / 100.0,
        reputation: 0.3 + (rng.unit() * 0.7 * 1000.0).round() / 1000.0,
        budget: 100.0 + (rng.below(900) as f64),
        model: i.is_multiple_of(3).then(|| "model-a".to_string()),
    }
}

/// Tasks needing 1 or 2 capabilities; ids are unique per call.
struct Tasks {
    rng: Lcg,
    n: u64,
}

impl Tasks {
    fn next(&mut self) -> AssignRequest {
        self.n += 1;
        let k = 1 + self.rng.below(2);
        AssignRequest {
            task_id: format!("task-{}", self.n),
            required_capabilities: self.rng.capabilities(k),
            max_cost: None,
        }
    }
}

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let _entered = rt.enter();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::new(
        plugins_dir(),
        dir.path().join("cache"),
        dir.path().join("regent.db"),
    );
    let state = regent_host::startup::build_state(&config)
        .expect("build_state (run scripts/build-plugins.sh first)");
    assert!(
        state.services.registry.faults().is_empty(),
        "plugins failed to load: {:?}",
        state.services.registry.faults()
    );
    let gov: &FleetService = &state.services.fleet;

    let started = Instant::now();
    let mut rng = Lcg(0x5eed);
    for i in 0..AGENTS {
        gov.register_agent(agent(&mut rng, i), "bench", Timestamp::now())
            .expect("register agent");
    }
    eprintln!("registered {AGENTS} agents in {:.2?}", started.elapsed());
    assert_eq!(gov.snapshot().len(), AGENTS);

    let mut tasks = Tasks { rng: Lcg(42), n: 0 };
    let sample = gov
        .assign(tasks.next(), "bench", Timestamp::now())
        .expect("assign");
    eprintln!(
        "sample: task needs {:?}: winner {:?}, {} qualified, {} excluded listed, excluded by reason {:?}",
        sample.task_id,
        sample.agent_id,
        sample.candidates.len(),
        sample.excluded.len(),
        sample.excluded_counts
    );

    // Ranking alone, on the same snapshot and policy `assign` uses.
    let matcher = state
        .plugins
        .current()
        .get(&gov.matching().matcher)
        .expect("matcher loaded")
        .clone();
    let rank_request = |t: &AssignRequest| MatchRequest {
        task: Task {
            id: t.task_id.clone(),
            required_capabilities: t.required_capabilities.clone(),
            max_cost_per_hour: Some(gov.matching().max_cost_per_task),
        },
        candidates: gov.snapshot(),
        policy: AssignmentPolicy {
            min_capability_match: gov.matching().min_capability_match,
            max_cost_per_hour: None,
        },
    };

    let mut g = c.benchmark_group("assign_10000_agents");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("assign_end_to_end", |b| {
        b.iter_batched(
            || tasks.next(),
            |t| {
                gov.assign(black_box(t), "bench", Timestamp::now())
                    .expect("assign")
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("rank_only", |b| {
        b.iter_batched(
            || rank_request(&tasks.next()),
            |r| state.runtime.rank(&matcher, black_box(&r)).expect("rank"),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    percentiles("assign_10000_agents/assign_end_to_end", || {
        let t = tasks.next();
        let started = Instant::now();
        black_box(
            gov.assign(black_box(t), "bench", Timestamp::now())
                .expect("assign"),
        );
        started.elapsed()
    });
    percentiles("assign_10000_agents/rank_only", || {
        let r = rank_request(&tasks.next());
        let started = Instant::now();
        black_box(state.runtime.rank(&matcher, black_box(&r)).expect("rank"));
        started.elapsed()
    });
}

/// Criterion reports means and medians; the target is a p95.
fn percentiles(name: &str, mut f: impl FnMut() -> Duration) {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{name}: p50 {:.2?}  p95 {:.2?}  p99 {:.2?}  mean {:.2?}  max {:.2?}  ({RUNS} runs, {AGENTS} agents)",
        at(0.50),
        at(0.95),
        at(0.99),
        mean,
        times[times.len() - 1]
    );
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
