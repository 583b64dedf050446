//! Risk scorers: the `risk-scorer` world.
//!
//! A risk scorer turns governance events from many engines into a score per
//! category and overall, each from 0 to 100, plus recommendations. Implement
//! [`RiskScorer`] and call [`risk_scorer!`](crate::risk_scorer).

use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "risk-scorer",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_risk_scorer_world",
        default_bindings_module: "::regent_sdk::risk::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        additional_derives: [Clone, PartialEq],
    });
}

pub use crate::params::{parse_params, NoParams};
pub use bindings::regent::policy::types::{
    CategoryScore, GovernanceEvent, PluginInfo, PluginKind, RiskAssessment, Severity, Timestamp,
};

/// A risk scorer.
pub trait RiskScorer {
    /// The scorer's params, parsed from the manifest's `[params]` JSON.
    type Params: DeserializeOwned;
    /// Whether a panic's message reaches the host, which then names it in
    /// the trap. It travels through the `log` import, and importing `log`
    /// costs every evaluation about 0.75 µs: wit-component links an import
    /// that takes a string through two extra core instances. A plugin that
    /// never logs can say `false`: a panic then traps as `unreachable`.
    const PANIC_MESSAGES: bool = true;

    /// One line saying how the scorer scores.
    const SUMMARY: &'static str;

    /// Checks params beyond their shape.
    fn validate(params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Scores the events. Every score must be between 0 and 100.
    fn score(events: &[GovernanceEvent], params: &Self::Params) -> Result<RiskAssessment, String>;
}

/// An event for tests.
pub fn event(engine: &str, severity: Severity, occurred_at: Timestamp) -> GovernanceEvent {
    GovernanceEvent {
        engine: engine.to_string(),
        event_type: "test".to_string(),
        severity,
        occurred_at,
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: RiskScorer> Adapter<T> {
    #[doc(hidden)]
    pub fn validate_params(params: String) -> Result<(), String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::validate(&parse_params(&params)?)
    }

    #[doc(hidden)]
    pub fn score(events: Vec<GovernanceEvent>, params: String) -> Result<RiskAssessment, String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::score(&events, &parse_params(&params)?)
    }
}

/// Exports a [`RiskScorer`] implementation as the component's `risk-scorer`
/// world. The plugin's name and version are the crate's;
/// `risk_scorer!(Scorer, version = VERSION)` takes the version from a `&str`
/// const instead, so a crate built in several variants (e.g. by feature)
/// reports the variant's version.
#[macro_export]
macro_rules! risk_scorer {
    ($scorer:ty) => {
        $crate::risk_scorer!($scorer, version = env!("CARGO_PKG_VERSION"));
    };
    ($scorer:ty, version = $version:expr $(,)?) => {
        // Natively the export below is compiled out; this still checks the
        // version and uses its const.
        const _: &str = $version;
        // Only wasm builds export the world: natively the plugin is a plain
        // library, so several plugins can link into one test or benchmark.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentRiskScorer;
            impl $crate::risk::bindings::Guest for __RegentRiskScorer {
                fn describe() -> $crate::risk::PluginInfo {
                    $crate::risk::PluginInfo {
                        name: env!("CARGO_PKG_NAME").to_string(),
                        version: {
                            const __REGENT_VERSION: &str = $version;
                            __REGENT_VERSION.to_string()
                        },
                        kind: $crate::risk::PluginKind::RiskScorer,
                        summary: <$scorer as $crate::risk::RiskScorer>::SUMMARY.to_string(),
                    }
                }
                fn validate_params(params: String) -> Result<(), String> {
                    $crate::risk::Adapter::<$scorer>::validate_params(params)
                }
                fn score(
                    events: Vec<$crate::risk::GovernanceEvent>,
                    params: String,
                ) -> Result<$crate::risk::RiskAssessment, String> {
                    $crate::risk::Adapter::<$scorer>::score(events, params)
                }
            }
            $crate::risk::bindings::__export_risk_scorer_world!(__RegentRiskScorer with_types_in $crate::risk::bindings);
        };
    };
}
