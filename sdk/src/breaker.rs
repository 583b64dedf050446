//! Circuit-breaker conditions: the `breaker-condition` world.
//!
//! A breaker condition looks at the metrics over a window and says whether
//! the breaker trips, which reverts autonomy. Implement
//! [`BreakerCondition`] and call [`breaker_condition!`](crate::breaker_condition).

use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "breaker-condition",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_breaker_condition_world",
        default_bindings_module: "::regent_sdk::breaker::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        additional_derives: [Clone, PartialEq],
    });
}

pub use crate::params::{parse_params, NoParams};
pub use bindings::regent::policy::types::{
    BreakerVerdict, CommandMetrics, MetricsWindow, PluginInfo, PluginKind, SeverityCounts,
    StatusCounts, Timestamp,
};

/// A circuit-breaker condition.
pub trait BreakerCondition {
    /// The condition's params, parsed from the manifest's `[params]` JSON.
    type Params: DeserializeOwned;
    /// Whether a panic's message reaches the host, which then names it in
    /// the trap. It travels through the `log` import, and importing `log`
    /// costs every evaluation about 0.75 µs: wit-component links an import
    /// that takes a string through two extra core instances. A plugin that
    /// never logs can say `false`: a panic then traps as `unreachable`.
    const PANIC_MESSAGES: bool = true;

    /// One line saying what the condition checks.
    const SUMMARY: &'static str;

    /// Checks params beyond their shape (e.g. a condition's syntax), so a
    /// bad rule is rejected when it is saved rather than when it runs.
    fn validate(params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Decides whether the breaker trips for this window.
    fn evaluate(window: &MetricsWindow, params: &Self::Params) -> Result<BreakerVerdict, String>;
}

/// A window with no data at all, ending at `now` and spanning `span_ms`.
pub fn empty_window(now: Timestamp, span_ms: i64) -> MetricsWindow {
    MetricsWindow {
        now,
        metrics: CommandMetrics {
            window_start: now - span_ms,
            window_end: now,
            commands_total: 0,
            by_status: StatusCounts {
                succeeded: 0,
                failed: 0,
                rejected: 0,
                rolled_back: 0,
            },
            success_rate: None,
            error_rate: None,
            approval_rate: None,
            rollback_rate: None,
        },
        failures: 0,
        incidents_by_severity: SeverityCounts {
            low: 0,
            medium: 0,
            high: 0,
            critical: 0,
        },
        critical_autonomous_incidents: 0,
        p50_duration_ms: None,
        p95_duration_ms: None,
        p99_duration_ms: None,
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: BreakerCondition> Adapter<T> {
    #[doc(hidden)]
    pub fn validate_params(params: String) -> Result<(), String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::validate(&parse_params(&params)?)
    }

    #[doc(hidden)]
    pub fn evaluate(window: MetricsWindow, params: String) -> Result<BreakerVerdict, String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::evaluate(&window, &parse_params(&params)?)
    }
}

/// Exports a [`BreakerCondition`] implementation as the component's
/// `breaker-condition` world. The plugin's name and version are the crate's;
/// `breaker_condition!(Condition, version = VERSION)` takes the version
/// from a `&str` const instead, so a crate built in several variants (e.g.
/// by feature) reports the variant's version.
#[macro_export]
macro_rules! breaker_condition {
    ($condition:ty) => {
        $crate::breaker_condition!($condition, version = env!("CARGO_PKG_VERSION"));
    };
    ($condition:ty, version = $version:expr $(,)?) => {
        // Natively the export below is compiled out; this still checks the
        // version and uses its const.
        const _: &str = $version;
        // Only wasm builds export the world: natively the plugin is a plain
        // library, so several plugins can link into one test or benchmark.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentBreakerCondition;
            impl $crate::breaker::bindings::Guest for __RegentBreakerCondition {
                fn describe() -> $crate::breaker::PluginInfo {
                    $crate::breaker::PluginInfo {
                        name: env!("CARGO_PKG_NAME").to_string(),
                        version: {
                            const __REGENT_VERSION: &str = $version;
                            __REGENT_VERSION.to_string()
                        },
                        kind: $crate::breaker::PluginKind::BreakerCondition,
                        summary: <$condition as $crate::breaker::BreakerCondition>::SUMMARY.to_string(),
                    }
                }
                fn validate_params(params: String) -> Result<(), String> {
                    $crate::breaker::Adapter::<$condition>::validate_params(params)
                }
                fn evaluate(
                    window: $crate::breaker::MetricsWindow,
                    params: String,
                ) -> Result<$crate::breaker::BreakerVerdict, String> {
                    $crate::breaker::Adapter::<$condition>::evaluate(window, params)
                }
            }
            $crate::breaker::bindings::__export_breaker_condition_world!(__RegentBreakerCondition with_types_in $crate::breaker::bindings);
        };
    };
}
