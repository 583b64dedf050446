//! The one process-wide wasmtime engine, and the epoch ticker behind every
//! evaluation's time limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::RuntimeError;
use super::limits::{
    MAX_INSTANCES, MAX_MEMORIES, MAX_MEMORY_BYTES, MAX_TABLES, MAX_TABLE_ELEMENTS,
};

/// How often the epoch advances. A time limit is rounded up to whole ticks,
/// so this is the granularity of timeouts.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Tunables of the engine; the defaults are what `regent serve` uses.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Evaluations that can hold an instance at the same moment.
    pub concurrent_instances: u32,
    /// Bytes of each linear memory kept mapped between evaluations and reset
    /// in place; beyond it, memory is returned to the kernel. Keeping the
    /// pages a plugin touches resident spares every evaluation the page
    /// faults of a fresh memory.
    pub memory_keep_resident: usize,
    /// The wasm call-stack limit; deeper recursion traps as stack overflow.
    pub max_wasm_stack: usize,
    /// Reset only dirtied pages where the kernel can tell which they are.
    pub pagemap_scan: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            concurrent_instances: 128,
            memory_keep_resident: 2 << 20,
            max_wasm_stack: 512 << 10,
            pagemap_scan: true,
        }
    }
}

pub fn build_engine(settings: &EngineSettings) -> Result<Engine, RuntimeError> {
    let n = settings.concurrent_instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        // A wit-bindgen component needs 3 core instances and 1 memory; a
        // componentize-py one needs about a dozen of each.
        .total_core_instances(n * 4)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(0)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_core_instance_size(4 << 20)
        .linear_memory_keep_resident(settings.memory_keep_resident)
        .table_keep_resident(64 << 10)
        .decommit_batch_size(8)
        // With PAGEMAP_SCAN (Linux 6.7+) a reset touches only the pages the
        // guest dirtied; without it, every kept-resident byte is memset.
        .pagemap_scan(if settings.pagemap_scan {
            wasmtime::Enabled::Auto
        } else {
            wasmtime::Enabled::No
        });

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(settings.max_wasm_stack)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Proposals no plugin toolchain emits (the Rust SDK, componentize-py)
    // are off, so a plugin using one is refused at load rather than run on
    // code paths nothing here exercises. Kept on: the wasm 2.0 set (bulk
    // memory, reference types for LLVM's call_indirect, SIMD, multi-value)
    // and extended-const, which position-independent Python modules use.
    // Threads are absent already: the crate's `threads` feature is off.
    config
        // GC objects, typed function references and exceptions live in a
        // GC heap the memory limiter does not govern.
        .gc_support(false)
        .wasm_gc(false)
        .wasm_function_references(false)
        .wasm_exceptions(false)
        .wasm_stack_switching(false)
        .wasm_shared_everything_threads(false)
        // One memory per module; a component's several modules each still
        // get one, charged to the same budget.
        .wasm_multi_memory(false)
        // 64-bit and custom-page-size memories only add sizes and bounds
        // checks to get wrong.
        .wasm_memory64(false)
        .wasm_custom_page_sizes(false)
        // Relaxed SIMD results differ between CPUs; a verdict must not.
        .wasm_relaxed_simd(false)
        .wasm_tail_call(false)
        .wasm_wide_arithmetic(false)
        // Every call into a plugin is synchronous.
        .concurrency_support(false);
    // `REGENT_PERFMAP=1` names JIT-compiled plugin functions in `perf report`.
    if std::env::var_os("REGENT_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(|e| RuntimeError(format!("{e:#}")))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> Result<Self, RuntimeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("regent-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whole ticks that cover `timeout`, plus one because the first tick may
/// come at any moment after the deadline is set.
pub fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    (timeout.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
