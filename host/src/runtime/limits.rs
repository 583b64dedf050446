//! Per-evaluation resource limits, and the limiter that enforces them.

use std::time::Duration;

use serde::Deserialize;

/// The largest memory budget any plugin may ask for. The pooling allocator
/// reserves slots of this size, so it is a process-wide ceiling.
pub const MAX_MEMORY_BYTES: usize = 512 << 20;
/// The longest time limit any plugin may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Core instances, tables and table elements one evaluation may have at
/// most: the pooling allocator sizes its slots for these, so a manifest
/// asking for more would be promised what the engine cannot give.
pub const MAX_INSTANCES: usize = 32;
pub const MAX_TABLES: usize = 32;
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Linear memories one evaluation may have. A componentize-py component
/// needs a few; the memory budget, not this count, bounds their bytes.
pub const MAX_MEMORIES: usize = 8;
/// What one table element costs the host, charged to the memory budget: a
/// funcref slot is a pointer (GC references, smaller, are turned off).
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();
/// Resources one evaluation may hold at once, in the WASI resource table
/// and in the component model's handle tables. A componentize-py plugin
/// holds a few dozen (streams, pollables); without a cap, each handle a
/// guest opens and never drops is host memory it can claim without end.
pub const MAX_RESOURCES: usize = 1024;
/// The longest text the host keeps from a plugin (a `detail`, a `reason`,
/// a recommendation, an error message), in bytes: one line a human acts
/// on, with room to spare. Longer text is cut, and marked as cut, before
/// anything stores it.
pub const MAX_TEXT_BYTES: usize = 4096;
/// The most recommendations the host keeps from one risk assessment.
pub const MAX_RECOMMENDATIONS: usize = 32;

/// What one evaluation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    pub timeout: Duration,
    /// Bytes of every linear memory and table of the evaluation, together.
    pub memory_bytes: usize,
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    /// Elements of every table of the evaluation, together.
    pub table_elements: usize,
}

impl PluginLimits {
    /// The most a plugin may hand the host in one call, counted as wasmtime
    /// counts it while lifting (a return value, or an import's arguments):
    /// its memory budget, which is all an honest plugin can hold. Without
    /// it, a list of strings that all point at one buffer is copied out
    /// once per entry: megabytes lifted from a small memory.
    pub fn handoff_bytes(&self) -> usize {
        self.memory_bytes
    }
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(50),
            memory_bytes: 16 << 20,
            // A wit-bindgen component has 3 core instances; a componentize-py
            // one has about a dozen. The caps stop a component from fanning
            // out, not ordinary toolchains.
            instances: MAX_INSTANCES,
            tables: MAX_TABLES,
            memories: MAX_MEMORIES,
            table_elements: MAX_TABLE_ELEMENTS,
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

/// Why a manifest's `[limits]` cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// Zero, or over the ceiling the engine was built for.
    #[error("limits.{key} must be within 1..={max}, got {got}")]
    OutOfRange {
        key: &'static str,
        max: u64,
        got: u64,
    },
}

impl LimitsSpec {
    pub fn resolve(&self) -> Result<PluginLimits, LimitsError> {
        let mut limits = PluginLimits::default();
        if let Some(ms) = self.timeout_ms {
            let timeout = Duration::from_millis(ms);
            if ms == 0 || timeout > MAX_TIMEOUT {
                return Err(LimitsError::OutOfRange {
                    key: "timeout_ms",
                    max: MAX_TIMEOUT.as_millis() as u64,
                    got: ms,
                });
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
                    return Err(LimitsError::OutOfRange {
                        key: "memory_mib",
                        max: (MAX_MEMORY_BYTES >> 20) as u64,
                        got: mib,
                    })
                }
            }
        }
        let bounded =
            |key: &'static str, value: Option<usize>, max: usize, into: &mut usize| match value {
                Some(n) if n == 0 || n > max => Err(LimitsError::OutOfRange {
                    key,
                    max: max as u64,
                    got: n as u64,
                }),
                Some(n) => {
                    *into = n;
                    Ok(())
                }
                None => Ok(()),
            };
        bounded(
            "instances",
            self.instances,
            MAX_INSTANCES,
            &mut limits.instances,
        )?;
        bounded("tables", self.tables, MAX_TABLES, &mut limits.tables)?;
        bounded(
            "table_elements",
            self.table_elements,
            MAX_TABLE_ELEMENTS,
            &mut limits.table_elements,
        )?;
        Ok(limits)
    }
}

/// Which limit the limiter refused to let an evaluation pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its memories and tables together would pass the memory budget.
    MemoryBytes,
    /// Its tables together would pass the table element limit.
    TableElements,
}

/// Enforces [`PluginLimits`] on a store. wasmtime's own `StoreLimits`
/// bounds each memory and table alone, so a plugin with eight memories
/// could use eight times its budget; this limiter charges every memory and
/// table of the store to one budget. It remembers what it refused, so that
/// the trap a refused allocation causes (a Rust guest aborts on allocation
/// failure) is reported as `out_of_memory`, not as a trap.
#[derive(Debug)]
pub struct EvalLimiter {
    limits: PluginLimits,
    /// Bytes of every memory and table of the store, as the limiter allowed
    /// them to grow. A growth the limiter allowed but the allocator then
    /// failed stays charged: the count errs towards refusing.
    charged_bytes: usize,
    table_elements: usize,
    pub refused: Option<Refusal>,
}

impl EvalLimiter {
    pub fn new(limits: PluginLimits) -> Self {
        Self {
            limits,
            charged_bytes: 0,
            table_elements: 0,
            refused: None,
        }
    }

    fn charge(&mut self, bytes: usize) -> bool {
        match self.charged_bytes.checked_add(bytes) {
            Some(total) if total <= self.limits.memory_bytes => {
                self.charged_bytes = total;
                true
            }
            _ => {
                self.refused = Some(Refusal::MemoryBytes);
                false
            }
        }
    }
}

impl wasmtime::ResourceLimiter for EvalLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.charge(desired.saturating_sub(current)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let added = desired.saturating_sub(current);
        let elements = match self.table_elements.checked_add(added) {
            Some(total) if total <= self.limits.table_elements => total,
            _ => {
                self.refused = Some(Refusal::TableElements);
                return Ok(false);
            }
        };
        if !self.charge(added.saturating_mul(TABLE_ELEMENT_BYTES)) {
            return Ok(false);
        }
        self.table_elements = elements;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.tables
    }

    fn memories(&self) -> usize {
        self.limits.memories
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
        assert_eq!(
            err.to_string(),
            "limits.timeout_ms must be within 1..=10000, got 0"
        );
        let err = LimitsSpec {
            memory_mib: Some(4096),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.memory_mib must be within 1..=512, got 4096"
        );
    }

    #[test]
    fn limits_the_pool_cannot_honour_are_refused() {
        let err = LimitsSpec {
            table_elements: Some(MAX_TABLE_ELEMENTS + 1),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.table_elements must be within 1..=100000, got 100001"
        );
        let err = LimitsSpec {
            instances: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.instances must be within 1..=32, got 0"
        );
    }

    #[test]
    fn every_memory_of_an_evaluation_draws_on_one_budget() {
        use wasmtime::ResourceLimiter;
        let mut limiter = limiter_with_bytes(4 << 20);
        // Three memories of 1 MiB each, then one grows by 1 MiB: 4 MiB.
        for _ in 0..3 {
            assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        }
        assert!(limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert_eq!(limiter.refused, None);
        // A fifth memory of one page, each alone far below the budget, is refused.
        assert!(!limiter.memory_growing(0, 64 << 10, None).unwrap());
        assert_eq!(limiter.refused, Some(Refusal::MemoryBytes));
    }

    #[test]
    fn tables_count_their_elements_together_and_their_bytes_against_memory() {
        use wasmtime::ResourceLimiter;
        let mut limiter = EvalLimiter::new(PluginLimits {
            table_elements: 1_000,
            ..Default::default()
        });
        assert!(limiter.table_growing(0, 600, None).unwrap());
        assert!(!limiter.table_growing(0, 600, None).unwrap());
        assert_eq!(limiter.refused, Some(Refusal::TableElements));

        let mut limiter = limiter_with_bytes(1 << 20);
        let elements = (1 << 20) / TABLE_ELEMENT_BYTES;
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        assert!(!limiter.table_growing(0, elements / 2 + 1, None).unwrap());
        assert_eq!(limiter.refused, Some(Refusal::MemoryBytes));
        assert!(limiter.table_growing(0, elements / 2, None).unwrap());
    }

    fn limiter_with_bytes(memory_bytes: usize) -> EvalLimiter {
        EvalLimiter::new(PluginLimits {
            memory_bytes,
            ..Default::default()
        })
    }
}
