//! The plugin runtime: wasmtime behind a small API.
//!
//! One process-wide [`Engine`] with the pooling allocator and epoch
//! interruption. Each plugin version is compiled once (cached by sha256 and
//! engine) and pre-instantiated. Every evaluation gets a fresh [`Store`]
//! with its own limits, so no evaluation can see another's state, and a
//! plugin that loops, exhausts memory or the stack, traps or lies in its
//! output fails alone, with an [`EvalError`] naming it.

mod assessment;
pub mod bindings;
pub mod cache;
pub mod componentize;
pub mod convert;
mod engine;
pub mod error;
mod exports;
mod host_state;
pub(crate) mod kinds;
pub mod limits;
mod loader;
pub mod manifest;
mod plugin;
pub mod registry;
mod wasi_waits;

use wasmtime::component::{Linker, ResourceTableError};
use wasmtime::{Engine, Store, Trap};

pub use engine::EngineSettings;
pub use error::{EvalError, EvalFailure, LoadError, RuntimeError};
pub use loader::{EARLIER_PACKAGE_VERSIONS, PACKAGE_VERSION};
pub use manifest::Manifest;
pub use plugin::{BundledItem, LoadedPlugin, PluginSummary};
pub use registry::{ActivePlugins, ChecklistEntry, PluginSet};

use cache::{CompileCache, CompileSource};
pub use cache::{CompileError, CompileLimits, DiskCache};
use engine::{deadline_ticks, EpochTicker};
use host_state::HostState;
use limits::Refusal;

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub engine: EngineSettings,
    /// Where compiled components are kept between runs; `None` keeps them
    /// in memory only.
    pub disk_cache: Option<DiskCache>,
    pub compile: CompileLimits,
}

pub struct PluginRuntime {
    engine: Engine,
    /// Links only `regent:policy/log`: all a plugin built with the SDK needs.
    linker: Linker<HostState>,
    /// Also links a WASI that grants nothing, for other toolchains.
    wasi_linker: Linker<HostState>,
    cache: CompileCache,
    _ticker: EpochTicker,
}

impl PluginRuntime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = engine::build_engine(&config.engine)?;
        let fail = |e: wasmtime::Error| RuntimeError(format!("{e:#}"));
        let regent_linker = || -> wasmtime::Result<Linker<HostState>> {
            let mut linker = Linker::new(&engine);
            bindings::log::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
            linker.instance(loader::TYPES_INTERFACE)?;
            // Components built against 0.1.0 import the same `log` under
            // its old name (its `level` enum is the same, and enums are
            // typed by their cases), and the same type-only `types`.
            linker.instance(loader::LOG_INTERFACE_0_1)?.func_wrap(
                "log",
                |mut cx: wasmtime::StoreContextMut<'_, HostState>,
                 (level, message): (bindings::log::Level, String)| {
                    bindings::log::Host::log(cx.data_mut(), level, message);
                    Ok(())
                },
            )?;
            linker.instance(loader::TYPES_INTERFACE_0_1)?;
            Ok(linker)
        };
        let linker = regent_linker().map_err(fail)?;
        let mut wasi_linker = regent_linker().map_err(fail)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut wasi_linker).map_err(fail)?;
        wasi_waits::add_to_linker(&mut wasi_linker).map_err(fail)?;
        let cache = CompileCache::new(&engine, config.disk_cache, config.compile);
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(Self {
            engine,
            linker,
            wasi_linker,
            cache,
            _ticker: ticker,
        })
    }

    /// Keeps compiled in memory only what `active` uses: after a swap, the
    /// old version's code is freed once its last evaluation ends.
    pub fn release_compiled_except(&self, active: &PluginSet) {
        let keep: std::collections::HashSet<&str> =
            active.iter().map(|p| p.summary().sha256.as_str()).collect();
        self.cache.retain(|sha256| keep.contains(sha256));
    }

    /// Compiles `wasm` (or finds it compiled) without loading it as a
    /// plugin: lets a caller tell the compile bounds apart from the gates.
    pub fn compile(&self, wasm: &[u8]) -> Result<CompileSource, CompileError> {
        let sha256 = cache::sha256_hex(wasm);
        self.cache
            .get_or_compile(&self.engine, &sha256, wasm)
            .map(|(_, source)| source)
    }

    /// Keeps `plugin`'s compiled code on disk for the next start. Only
    /// code the caller trusts belongs there: the registry keeps the
    /// versions it stored, never a refused or dry-run upload.
    pub fn persist_compiled(&self, plugin: &LoadedPlugin) {
        let component = plugin.instance_pre.component();
        self.cache.persist(&plugin.summary().sha256, component);
    }

    /// How many compiled components the runtime holds in memory.
    pub fn compiled_in_memory(&self) -> usize {
        self.cache.len()
    }

    /// Runs `call` on a fresh store bounded by the plugin's limits, and
    /// turns every way it can fail into an [`EvalError`] naming the plugin.
    fn run<R>(
        &self,
        plugin: &LoadedPlugin,
        // The inner `Result<R, String>` is the WIT's own `result<_, string>`:
        // the plugin's error message, kept as the plugin wrote it.
        call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, EvalError> {
        let mut store = self.store(&plugin.name, &plugin.version, plugin.limits);
        match call(&mut store) {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(message)) => Err(plugin.error(EvalFailure::PluginError {
                message: convert::capped_text(message).0,
            })),
            Err(e) => Err(plugin.error(classify(&e, store.data(), plugin))),
        }
    }

    /// A fresh store bounded by `limits`, its time limit starting now.
    fn store(
        &self,
        name: &std::sync::Arc<str>,
        version: &std::sync::Arc<str>,
        limits: limits::PluginLimits,
    ) -> Store<HostState> {
        let state = HostState::new(name.clone(), version.clone(), limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.handoff_bytes());
        store.set_max_component_handles(limits::MAX_RESOURCES);
        store.set_epoch_deadline(deadline_ticks(limits.timeout));
        store.epoch_deadline_trap();
        store
    }

    /// A fresh store and instance, dropped without a call: lets the
    /// benchmarks split an evaluation's cost into instantiation and call.
    #[doc(hidden)]
    pub fn instantiate_only(&self, plugin: &LoadedPlugin) -> Result<(), EvalError> {
        self.run(plugin, |store| {
            plugin.instance_pre.instantiate(&mut *store)?;
            Ok(Ok(()))
        })
    }
}

/// wasmtime's error when a call hands the host more than the store's
/// hostcall fuel. Its type is private, so it is known by its text;
/// `tests/suite/runtime_hostile.rs` pins it, and an unrecognised one still fails
/// the evaluation, as a trap.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";
/// wasmtime's error when the store's component handles reach
/// `set_max_component_handles`; untyped too, and pinned by the same tests.
const HANDLE_LIMIT_EXCEEDED: &str = "store handle limit exceeded";

/// Names the cause of a failed call. Order matters: a refused memory grow
/// makes a Rust guest abort, which surfaces as an `unreachable` trap.
fn classify(error: &wasmtime::Error, state: &HostState, plugin: &LoadedPlugin) -> EvalFailure {
    let limits = plugin.limits;
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return EvalFailure::Unavailable {
            message: format!("{error}"),
        };
    }
    if let Some(wait) = error.downcast_ref::<wasi_waits::WouldBlock>() {
        return EvalFailure::Blocked {
            call: wait.call.to_string(),
            limit_ms: limits.timeout.as_millis() as u64,
        };
    }
    if error
        .chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
    {
        return EvalFailure::OutputTooLarge {
            limit_bytes: limits.handoff_bytes(),
        };
    }
    let resources_full = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ResourceTableError>(),
            Some(ResourceTableError::Full)
        ) || cause.to_string().contains(HANDLE_LIMIT_EXCEEDED)
    });
    if resources_full {
        return EvalFailure::TooManyResources {
            limit: limits::MAX_RESOURCES,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => EvalFailure::Timeout {
            limit_ms: limits.timeout.as_millis() as u64,
        },
        Some(Trap::StackOverflow) => EvalFailure::StackOverflow,
        _ if state.limiter.refused == Some(Refusal::MemoryBytes) => EvalFailure::OutOfMemory {
            limit_bytes: limits.memory_bytes,
        },
        _ if state.limiter.refused == Some(Refusal::TableElements) => {
            EvalFailure::OutOfTableElements {
                limit_elements: limits.table_elements,
            }
        }
        Some(trap) => match &state.panic_message {
            Some(panic) => EvalFailure::Trap {
                message: format!("panicked: {panic}"),
            },
            None => EvalFailure::Trap {
                message: trap.to_string(),
            },
        },
        None => EvalFailure::Trap {
            message: format!("{error:#}"),
        },
    }
}
