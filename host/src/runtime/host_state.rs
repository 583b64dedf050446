//! What a plugin's store holds: its limits, its log, and (only for plugins
//! built by toolchains that import WASI) a WASI context that grants nothing.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::log::{Host as LogHost, Level};
use super::limits::{EvalLimiter, PluginLimits, MAX_RESOURCES};

/// Lines a plugin may log per evaluation, and bytes per line: enough to
/// debug a rule, too little to flood the host's log.
const MAX_LOG_LINES: u32 = 32;
const MAX_LOG_LINE_BYTES: usize = 1024;

pub struct HostState {
    pub limiter: EvalLimiter,
    pub plugin: std::sync::Arc<str>,
    pub version: std::sync::Arc<str>,
    log_lines: u32,
    /// The message of a guest panic, which the SDK logs just before aborting.
    pub panic_message: Option<String>,
    wasi: Option<Box<DeniedWasi>>,
}

impl HostState {
    pub fn new(
        plugin: std::sync::Arc<str>,
        version: std::sync::Arc<str>,
        limits: PluginLimits,
    ) -> Self {
        Self {
            limiter: EvalLimiter::new(limits),
            plugin,
            version,
            log_lines: 0,
            panic_message: None,
            wasi: None,
        }
    }
}

impl LogHost for HostState {
    fn log(&mut self, level: Level, message: String) {
        let message = truncate(&message, MAX_LOG_LINE_BYTES);
        if let Some(panic) = message.strip_prefix("panic: ") {
            self.panic_message = Some(panic.to_string());
        }
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let (plugin, version) = (&*self.plugin, &*self.version);
        match level {
            Level::Trace => tracing::trace!(plugin, version, "{message}"),
            Level::Debug => tracing::debug!(plugin, version, "{message}"),
            Level::Info => tracing::info!(plugin, version, "{message}"),
            Level::Warn => tracing::warn!(plugin, version, "{message}"),
            Level::Error => tracing::error!(plugin, version, "{message}"),
        }
        if self.log_lines == MAX_LOG_LINES {
            tracing::warn!(
                plugin,
                version,
                "log cap of {MAX_LOG_LINES} lines reached; dropping the rest"
            );
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// WASI for plugins whose toolchain imports it (componentize-py, jco): no
/// preopened directories, no environment or arguments, no stdio, no
/// sockets (the default address check refuses everything), clocks stuck at
/// zero and a fixed-seed random source. The plugin links and runs, and can
/// reach nothing.
struct DeniedWasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl DeniedWasi {
    fn new() -> Self {
        let ctx = WasiCtx::builder()
            .wall_clock(StoppedClock)
            .monotonic_clock(StoppedClock)
            .secure_random(rand::rngs::StdRng::seed_from_u64(0))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(0))
            .insecure_random_seed(0)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        // Every stream or pollable a guest opens and never drops would
        // otherwise be host memory it could claim without end.
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self { ctx, table }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Built on first use, so plugins that never touch WASI never pay.
        let wasi = self.wasi.get_or_insert_with(|| Box::new(DeniedWasi::new()));
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

struct StoppedClock;

impl HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
