//! Loops one checklist-item evaluation for profilers (`perf record`):
//! `cargo run --release -p regent-host --example profile_item -- [plugin|assessment|assessment-components] [iterations]`.

// A profiling harness like the benchmarks: a failed set-up step should stop
// the run with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/workload.rs"]
mod workload;

use regent_host::runtime::{convert, PluginRuntime, RuntimeConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "success-rate".into());
    let iterations: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    if name == "capability-match" {
        return profile_matcher(&runtime, &dir, iterations);
    }
    if name == "assessment" {
        return profile_assessment(&runtime, &dir, iterations);
    }
    if name == "assessment-components" {
        return profile_assessment(&runtime, &dir.join("items"), iterations);
    }
    let manifest = [dir.join("items"), dir.clone()]
        .into_iter()
        .map(|d| d.join(format!("{name}.toml")))
        .find(|p| p.exists())
        .unwrap_or_default();
    let plugin = runtime
        .load_file(&manifest)
        .expect("run scripts/build-plugins.sh first");
    let mut ctx = workload::context();
    if std::env::var_os("MINIMAL_CONTEXT").is_some() {
        ctx.attestations.clear();
        ctx.incidents.clear();
        ctx.facts.gauges.clear();
    }
    let ctx = convert::readiness_context(&ctx);
    if std::env::var_os("INSTANTIATE_ONLY").is_some() {
        let started = std::time::Instant::now();
        for _ in 0..iterations {
            runtime.instantiate_only(&plugin).expect("instantiates");
        }
        println!(
            "{name}: {:.2} µs per instantiation",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
        );
        return;
    }
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(runtime.evaluate_item(&plugin, &ctx).expect("evaluates"));
    }
    println!(
        "{name}: {:.2} µs per evaluation",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
    );
}

/// Ranks 10,000 candidates (three capabilities each) in a loop.
fn profile_matcher(runtime: &PluginRuntime, dir: &std::path::Path, iterations: u32) {
    let plugin = runtime
        .load_file(&dir.join("capability-match.toml"))
        .expect("matcher");
    let request = workload::match_request();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(runtime.rank(&plugin, &request).expect("ranks"));
    }
    println!(
        "capability-match: {:.2} ms per ranking of 10000",
        started.elapsed().as_secs_f64() * 1e3 / f64::from(iterations)
    );
}

/// The whole 22-item assessment in a loop: the bundle `regent serve`
/// loads, or (from `items/`) the 22 items as components of their own.
fn profile_assessment(runtime: &PluginRuntime, dir: &std::path::Path, iterations: u32) {
    let (loaded, _) = runtime.load_dir(dir).expect("plugins");
    let plugins = regent_host::runtime::PluginSet::new(loaded);
    let checklist = plugins.checklist();
    let ctx = workload::context();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(runtime.assess(&checklist, &ctx));
    }
    println!(
        "assessment: {:.2} µs per 22 items",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
    );
}
