//! Per-evaluation resource limits, and the limiter that enforces them.

use std::time::Duration;

use serde::Deserialize;

/// The largest linear memory any plugin may ask for. The pooling allocator
/// reserves slots of this size, so it is a process-wide ceiling.
pub const MAX_MEMORY_BYTES: usize = 512 << 20;
/// The longest time limit any plugin may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// What one evaluation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    pub timeout: Duration,
    pub memory_bytes: usize,
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    pub table_elements: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(50),
            memory_bytes: 16 << 20,
            // A wit-bindgen component has 3 core instances; a componentize-py
            // one has about a dozen. The caps stop a component from fanning
            // out, not ordinary toolchains.
            instances: 32,
            tables: 32,
            memories: 8,
            table_elements: 100_000,
        }
    }
}

/// The `[limits]` table of a manifest. Anything left out takes the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub instances: Option<usize>,
    pub tables: Option<usize>,
    pub table_elements: Option<usize>,
}

impl LimitsSpec {
    pub fn resolve(&self) -> Result<PluginLimits, String> {
        let mut limits = PluginLimits::default();
        if let Some(ms) = self.timeout_ms {
            let timeout = Duration::from_millis(ms);
            if ms == 0 || timeout > MAX_TIMEOUT {
                return Err(format!(
                    "limits.timeout_ms must be within 1..={}, got {ms}",
                    MAX_TIMEOUT.as_millis()
                ));
            }
            limits.timeout = timeout;
        }
        if let Some(mib) = self.memory_mib {
            let bytes = usize::try_from(mib)
                .ok()
                .and_then(|m| m.checked_mul(1 << 20));
            match bytes {
                Some(b) if mib > 0 && b <= MAX_MEMORY_BYTES => limits.memory_bytes = b,
                _ => {
                    return Err(format!(
                        "limits.memory_mib must be within 1..={}, got {mib}",
                        MAX_MEMORY_BYTES >> 20
                    ))
                }
            }
        }
        if let Some(n) = self.instances {
            limits.instances = n;
        }
        if let Some(n) = self.tables {
            limits.tables = n;
        }
        if let Some(n) = self.table_elements {
            limits.table_elements = n;
        }
        Ok(limits)
    }
}

/// Enforces [`PluginLimits`] on a store through wasmtime's `StoreLimits`,
/// and remembers whether it refused memory, so that the trap a refused
/// allocation causes (a Rust guest aborts on allocation failure) is reported
/// as `out_of_memory`, not as a trap.
#[derive(Debug)]
pub struct EvalLimiter {
    limits: wasmtime::StoreLimits,
    pub memory_refused: bool,
}

impl EvalLimiter {
    pub fn new(limits: PluginLimits) -> Self {
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            .instances(limits.instances)
            .tables(limits.tables)
            .memories(limits.memories)
            .build();
        Self {
            limits,
            memory_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for EvalLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_limits_override_defaults_within_bounds() {
        let spec = LimitsSpec {
            timeout_ms: Some(200),
            memory_mib: Some(64),
            ..Default::default()
        };
        let limits = spec.resolve().unwrap();
        assert_eq!(limits.timeout, Duration::from_millis(200));
        assert_eq!(limits.memory_bytes, 64 << 20);
        assert_eq!(
            LimitsSpec::default().resolve().unwrap(),
            PluginLimits::default()
        );
    }

    #[test]
    fn out_of_range_limits_are_refused_with_the_bound() {
        let err = LimitsSpec {
            timeout_ms: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(err, "limits.timeout_ms must be within 1..=10000, got 0");
        let err = LimitsSpec {
            memory_mib: Some(4096),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(err, "limits.memory_mib must be within 1..=512, got 4096");
    }
}
