//! The plugin runtime: wasmtime behind a small API.
//!
//! One process-wide [`Engine`] with the pooling allocator and epoch
//! interruption. Each plugin version is compiled once (cached by sha256 and
//! engine) and pre-instantiated. Every evaluation gets a fresh [`Store`]
//! with its own limits, so no evaluation can see another's state, and a
//! plugin that loops, exhausts memory or the stack, traps or lies in its
//! output fails alone, with an [`EvalError`] naming it.

pub mod bindings;
pub mod cache;
pub mod componentize;
pub mod convert;
mod engine;
pub mod error;
mod exports;
mod host_state;
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
pub use manifest::Manifest;
pub use plugin::{BundledItem, LoadedPlugin, PluginSummary};
pub use registry::{ActivePlugins, ChecklistEntry, PluginSet};

use crate::domain::{breaker as dbreaker, matching, readiness, risk as drisk, PluginKind};
use bindings::types as wit;
use cache::{CompileCache, CompileSource};
pub use cache::{CompileError, CompileLimits, DiskCache};
use engine::{deadline_ticks, EpochTicker};
use host_state::HostState;
use limits::Refusal;
use plugin::Prepared;

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
        let component = match &plugin.prepared {
            Prepared::Checklist(pre, _) => pre.instance_pre().component(),
            Prepared::Breaker(pre, _) => pre.instance_pre().component(),
            Prepared::Risk(pre, _) => pre.instance_pre().component(),
            Prepared::Matcher(pre, _) => pre.instance_pre().component(),
            Prepared::Bundle(pre, _) => pre.instance_pre().component(),
        };
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

    fn wrong_kind(plugin: &LoadedPlugin, expected: PluginKind) -> EvalError {
        plugin.error(EvalFailure::WrongKind {
            message: format!("is a {}, not a {expected}", plugin.kind()),
        })
    }

    /// A fresh store and instance, dropped without a call: lets the
    /// benchmarks split an evaluation's cost into instantiation and call.
    #[doc(hidden)]
    pub fn instantiate_only(&self, plugin: &LoadedPlugin) -> Result<(), EvalError> {
        self.run(plugin, |store| {
            match &plugin.prepared {
                Prepared::Checklist(pre, _) => drop(pre.instance_pre().instantiate(&mut *store)?),
                Prepared::Breaker(pre, _) => drop(pre.instance_pre().instantiate(&mut *store)?),
                Prepared::Risk(pre, _) => drop(pre.instance_pre().instantiate(&mut *store)?),
                Prepared::Matcher(pre, _) => drop(pre.instance_pre().instantiate(&mut *store)?),
                Prepared::Bundle(pre, _) => drop(pre.instance_pre().instantiate(&mut *store)?),
            }
            Ok(Ok(()))
        })
    }

    /// Evaluates a checklist item on the part of `ctx` it reads. `ctx` is
    /// converted once by the caller ([`convert::readiness_context`]) and
    /// shared by every item.
    pub fn evaluate_item(
        &self,
        plugin: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
    ) -> Result<readiness::ItemVerdict, EvalError> {
        let Prepared::Checklist(pre, evaluate) = &plugin.prepared else {
            return Err(Self::wrong_kind(plugin, PluginKind::ChecklistItem));
        };
        // Loading always asks for the scope; without one, nothing is withheld.
        let ctx = match &plugin.info.reads {
            Some(scope) => convert::scoped(ctx, scope),
            None => std::borrow::Cow::Borrowed(ctx),
        };
        let verdict = self.run(plugin, |store| {
            evaluate.call(pre.instance_pre(), store, &ctx, &plugin.params_json)
        })?;
        convert::item_verdict(verdict).map_err(|e| {
            plugin.error(EvalFailure::InvalidOutput {
                message: e.to_string(),
            })
        })
    }

    /// Runs the checklist on one context. A standalone item gets a store of
    /// its own; a bundle gets one store for all of its items, so each
    /// bundle is instantiated once per assessment. An item that errors
    /// counts as not passed, with the error as its detail (fail closed).
    ///
    /// Work runs on the calling thread: spreading items across cores was
    /// measured at only 7% faster here (the instances contend in the
    /// pooling allocator and the kernel), not worth a second core per request.
    pub fn assess(
        &self,
        checklist: &[ChecklistEntry<'_>],
        ctx: &readiness::ReadinessContext,
    ) -> readiness::Assessment {
        let wit_ctx = convert::readiness_context(ctx);
        let mut results: Vec<Option<readiness::ItemResult>> = vec![None; checklist.len()];
        // Each bundle with the (checklist position, item index) pairs it serves.
        let mut bundles: Vec<(&LoadedPlugin, Vec<(usize, usize)>)> = Vec::new();
        for (position, entry) in checklist.iter().enumerate() {
            match *entry {
                ChecklistEntry::Item(plugin) => {
                    results[position] = self.item_result(plugin, &wit_ctx);
                }
                ChecklistEntry::Bundled { bundle, index } => {
                    match bundles.iter_mut().find(|(b, _)| std::ptr::eq(*b, bundle)) {
                        Some((_, members)) => members.push((position, index)),
                        None => bundles.push((bundle, vec![(position, index)])),
                    }
                }
            }
        }
        for (bundle, members) in bundles {
            let indexes: Vec<usize> = members.iter().map(|&(_, index)| index).collect();
            let verdicts = self.evaluate_bundled(bundle, &wit_ctx, &indexes);
            for ((position, index), verdict) in members.into_iter().zip(verdicts) {
                let Some(bundled) = bundle.info.items.get(index) else {
                    continue;
                };
                results[position] = Some(Self::result_of(bundle, bundled.item.clone(), verdict));
            }
        }
        readiness::Assessment::from_items(results.into_iter().flatten().collect())
    }

    /// Evaluates the items at `indexes` of a bundle in one call, on one
    /// fresh instance, each on its own params; one verdict per index, in
    /// order. If the call as a whole fails (a trap, a timeout, memory), one
    /// item may be to blame, so each item is retried alone on a fresh
    /// instance: a bad item fails by itself, not the whole bundle.
    pub fn evaluate_bundled(
        &self,
        bundle: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
        indexes: &[usize],
    ) -> Vec<Result<readiness::ItemVerdict, EvalError>> {
        let Prepared::Bundle(pre, evaluate) = &bundle.prepared else {
            let error = Self::wrong_kind(bundle, PluginKind::ChecklistBundle);
            return indexes.iter().map(|_| Err(error.clone())).collect();
        };
        let mut requests = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let Some(item) = bundle.info.items.get(index) else {
                let error = bundle.error(EvalFailure::WrongKind {
                    message: format!("has no item number {index}"),
                });
                return indexes.iter().map(|_| Err(error.clone())).collect();
            };
            requests.push(convert::ItemRequestView {
                item: &item.item.id,
                params: &item.params_json,
            });
        }
        let ctx = match &bundle.info.reads {
            Some(scope) => convert::scoped(ctx, scope),
            None => std::borrow::Cow::Borrowed(ctx),
        };
        let outcome = self.run(bundle, |store| {
            evaluate.call(pre.instance_pre(), store, &ctx, &requests)
        });
        match outcome {
            Ok(verdicts) if verdicts.len() == requests.len() => verdicts
                .into_iter()
                .zip(&requests)
                .map(|(verdict, request)| {
                    let item = |message: String| format!("item `{}`: {message}", request.item);
                    match verdict {
                        Ok(v) => convert::item_verdict(v).map_err(|e| {
                            bundle.error(EvalFailure::InvalidOutput {
                                message: item(e.to_string()),
                            })
                        }),
                        Err(message) => Err(bundle.error(EvalFailure::PluginError {
                            message: item(convert::capped_text(message).0),
                        })),
                    }
                })
                .collect(),
            Ok(verdicts) => {
                let error = bundle.error(EvalFailure::InvalidOutput {
                    message: format!(
                        "returned {} verdicts for {} items",
                        verdicts.len(),
                        requests.len()
                    ),
                });
                requests.iter().map(|_| Err(error.clone())).collect()
            }
            Err(error) if indexes.len() == 1 => vec![Err(error)],
            Err(_) => indexes
                .iter()
                .flat_map(|&index| self.evaluate_bundled(bundle, &ctx, &[index]))
                .collect(),
        }
    }

    fn item_result(
        &self,
        plugin: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
    ) -> Option<readiness::ItemResult> {
        let info = plugin.info.item.clone()?;
        Some(Self::result_of(
            plugin,
            info,
            self.evaluate_item(plugin, ctx),
        ))
    }

    fn result_of(
        plugin: &LoadedPlugin,
        info: readiness::ItemInfo,
        verdict: Result<readiness::ItemVerdict, EvalError>,
    ) -> readiness::ItemResult {
        let (passed, detail, observed, error, truncated) = match verdict {
            Ok(v) => (v.passed, v.detail, v.observed, None, v.truncated),
            Err(e) => (
                false,
                e.to_string(),
                None,
                Some(e.failure.code().to_string()),
                false,
            ),
        };
        readiness::ItemResult {
            info,
            passed,
            detail,
            observed,
            error,
            plugin: plugin.name().to_string(),
            plugin_version: plugin.version().to_string(),
            truncated,
        }
    }

    pub fn evaluate_breaker(
        &self,
        plugin: &LoadedPlugin,
        window: &dbreaker::MetricsWindow,
    ) -> Result<dbreaker::BreakerVerdict, EvalError> {
        self.evaluate_breaker_with(plugin, window, &plugin.params_json)
    }

    /// Evaluates a breaker plugin with a rule's own params instead of its
    /// manifest's: one plugin serves every rule that names it.
    pub fn evaluate_breaker_with(
        &self,
        plugin: &LoadedPlugin,
        window: &dbreaker::MetricsWindow,
        params_json: &str,
    ) -> Result<dbreaker::BreakerVerdict, EvalError> {
        let Prepared::Breaker(pre, evaluate) = &plugin.prepared else {
            return Err(Self::wrong_kind(plugin, PluginKind::BreakerCondition));
        };
        let window = convert::metrics_window(window);
        let verdict = self.run(plugin, |store| {
            evaluate.call(pre.instance_pre(), store, window, params_json)
        })?;
        convert::breaker_verdict(verdict).map_err(|e| {
            plugin.error(EvalFailure::InvalidOutput {
                message: e.to_string(),
            })
        })
    }

    /// Asks a breaker plugin whether it accepts `params_json`, as a rule is
    /// saved: a bad condition is refused then, with the plugin's message.
    pub fn validate_breaker_params(
        &self,
        plugin: &LoadedPlugin,
        params_json: &str,
    ) -> Result<(), EvalError> {
        let Prepared::Breaker(pre, _) = &plugin.prepared else {
            return Err(Self::wrong_kind(plugin, PluginKind::BreakerCondition));
        };
        self.run(plugin, |s| {
            pre.instantiate(&mut *s)?
                .call_validate_params(&mut *s, params_json)
        })
    }

    pub fn score_risk(
        &self,
        plugin: &LoadedPlugin,
        events: &[drisk::GovernanceEvent],
    ) -> Result<drisk::RiskAssessment, EvalError> {
        let Prepared::Risk(pre, score) = &plugin.prepared else {
            return Err(Self::wrong_kind(plugin, PluginKind::RiskScorer));
        };
        let events = convert::events(events);
        let out = self.run(plugin, |store| {
            score.call(pre.instance_pre(), store, &events, &plugin.params_json)
        })?;
        convert::risk_assessment(out).map_err(|e| {
            plugin.error(EvalFailure::InvalidOutput {
                message: e.to_string(),
            })
        })
    }

    /// Ranks candidates. Callers check the request first
    /// ([`matching::MatchRequest::check`]), so a matcher never sees, say, a
    /// zero cost it would have to divide by.
    pub fn rank(
        &self,
        plugin: &LoadedPlugin,
        request: &matching::MatchRequest,
    ) -> Result<matching::Ranking, EvalError> {
        let Prepared::Matcher(pre, rank) = &plugin.prepared else {
            return Err(Self::wrong_kind(plugin, PluginKind::TaskMatcher));
        };
        let r = convert::match_request(request);
        let out = self.run(plugin, |store| {
            rank.call(
                pre.instance_pre(),
                store,
                &r.task,
                &r.candidates,
                r.policy,
                &plugin.params_json,
            )
        })?;
        convert::ranking(out, request).map_err(|e| {
            plugin.error(EvalFailure::InvalidOutput {
                message: e.to_string(),
            })
        })
    }
}

/// wasmtime's error when a call hands the host more than the store's
/// hostcall fuel. Its type is private, so it is known by its text;
/// `tests/runtime_hostile.rs` pins it, and an unrecognised one still fails
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
