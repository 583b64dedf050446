//! Task matchers: the `task-matcher` world.
//!
//! A task matcher ranks the agents that can take a task and says why the
//! others cannot. Implement [`TaskMatcher`] and call
//! [`task_matcher!`](crate::task_matcher).

use serde::de::DeserializeOwned;

#[doc(hidden)]
// The generated `rank` export takes the flattened task, policy and params.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "task-matcher",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_task_matcher_world",
        default_bindings_module: "::regent_sdk::matcher::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        additional_derives: [Clone, PartialEq],
    });
}

pub use crate::params::{parse_params, NoParams};
pub use bindings::regent::policy::types::{
    AssignmentPolicy, Candidate, ExcludedCandidate, ExclusionReason, PluginInfo, PluginKind,
    RankedCandidate, Ranking, Task,
};

/// A task-matching strategy.
pub trait TaskMatcher {
    /// The matcher's params, parsed from the manifest's `[params]` JSON.
    type Params: DeserializeOwned;
    /// Whether a panic's message reaches the host, which then names it in
    /// the trap. It travels through the `log` import, and importing `log`
    /// costs every evaluation about 0.75 µs: wit-component links an import
    /// that takes a string through two extra core instances. A plugin that
    /// never logs can say `false`: a panic then traps as `unreachable`.
    const PANIC_MESSAGES: bool = true;

    /// One line saying how the matcher ranks.
    const SUMMARY: &'static str;

    /// Checks params beyond their shape.
    fn validate(params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Ranks the candidates (best first) and lists the excluded ones, each by
    /// its position in `candidates` (see [`position`]). Every position must
    /// appear exactly once in one of the two lists.
    fn rank(
        task: &Task,
        candidates: &[Candidate],
        policy: &AssignmentPolicy,
        params: &Self::Params,
    ) -> Result<Ranking, String>;
}

/// A candidate for tests, with an untouched breaker.
pub fn candidate(
    capabilities: &[&str],
    cost_per_hour: f64,
    reputation: f64,
    budget_remaining: f64,
) -> Candidate {
    Candidate {
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        cost_per_hour,
        reputation,
        budget_remaining,
        breaker_tripped: false,
    }
}

/// A candidate's position as the WIT `index`. The host never sends more
/// than `u32::MAX` candidates, so the conversion cannot fail.
pub fn position(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// A task for tests.
pub fn task(id: &str, required: &[&str], max_cost_per_hour: Option<f64>) -> Task {
    Task {
        id: id.to_string(),
        required_capabilities: required.iter().map(|c| c.to_string()).collect(),
        max_cost_per_hour,
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: TaskMatcher> Adapter<T> {
    #[doc(hidden)]
    pub fn validate_params(params: String) -> Result<(), String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::validate(&parse_params(&params)?)
    }

    #[doc(hidden)]
    pub fn rank(
        task: Task,
        candidates: Vec<Candidate>,
        policy: AssignmentPolicy,
        params: String,
    ) -> Result<Ranking, String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::rank(&task, &candidates, &policy, &parse_params(&params)?)
    }
}

/// Exports a [`TaskMatcher`] implementation as the component's
/// `task-matcher` world. The plugin's name and version are the crate's;
/// `task_matcher!(Matcher, version = VERSION)` takes the version from a
/// `&str` const instead, so a crate built in several variants (e.g. by
/// feature) reports the variant's version.
#[macro_export]
macro_rules! task_matcher {
    ($matcher:ty) => {
        $crate::task_matcher!($matcher, version = env!("CARGO_PKG_VERSION"));
    };
    ($matcher:ty, version = $version:expr $(,)?) => {
        // Natively the export below is compiled out; this still checks the
        // version and uses its const.
        const _: &str = $version;
        // Only wasm builds export the world: natively the plugin is a plain
        // library, so several plugins can link into one test or benchmark.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentTaskMatcher;
            impl $crate::matcher::bindings::Guest for __RegentTaskMatcher {
                fn describe() -> $crate::matcher::PluginInfo {
                    $crate::matcher::PluginInfo {
                        name: env!("CARGO_PKG_NAME").to_string(),
                        version: {
                            const __REGENT_VERSION: &str = $version;
                            __REGENT_VERSION.to_string()
                        },
                        kind: $crate::matcher::PluginKind::TaskMatcher,
                        summary: <$matcher as $crate::matcher::TaskMatcher>::SUMMARY.to_string(),
                    }
                }
                fn validate_params(params: String) -> Result<(), String> {
                    $crate::matcher::Adapter::<$matcher>::validate_params(params)
                }
                fn rank(
                    task: $crate::matcher::Task,
                    candidates: Vec<$crate::matcher::Candidate>,
                    policy: $crate::matcher::AssignmentPolicy,
                    params: String,
                ) -> Result<$crate::matcher::Ranking, String> {
                    $crate::matcher::Adapter::<$matcher>::rank(task, candidates, policy, params)
                }
            }
            $crate::matcher::bindings::__export_task_matcher_world!(__RegentTaskMatcher with_types_in $crate::matcher::bindings);
        };
    };
}
