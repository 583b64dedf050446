//! Each world's evaluation function, type-checked once per plugin version
//! rather than once per evaluation.
//!
//! Bindgen's `*Pre::instantiate` looks up and type-checks every export on
//! every instantiation; for the readiness context, a record of records,
//! that was a measurable share of an evaluation. Here the export is checked
//! when the plugin loads, and each evaluation reuses the verdict.

use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, TypedFunc};
use wasmtime::{AsContextMut, Store};

use super::bindings::types as wit;
use super::convert::{CandidateView, ItemRequestView};
use super::host_state::HostState;

/// Defines one checked export: a type that can only be built by checking
/// the component's export against the signature, and whose `call` uses the
/// very same signature. Writing the signature once, in the macro call, is
/// what makes the unchecked call sound.
///
/// Every export returns the WIT's `result<_, string>`, so `String` is the
/// error type here: it is the plugin's own message, and the type must
/// match the component's exactly. The runtime turns it into
/// [`super::EvalFailure::PluginError`] at once.
macro_rules! checked_export {
    (
        $(#[$doc:meta])*
        $name:ident, $export:literal,
        fn($($arg:ident: $arg_ty:ty),*) -> $ret:ty
    ) => {
        $(#[$doc])*
        pub(crate) struct $name {
            index: ComponentExportIndex,
        }

        impl $name {
            /// Finds the export and checks its type on a scratch instance.
            // `'a` names the borrows in the signature checked below.
            #[allow(clippy::extra_unused_lifetimes)]
            pub(crate) fn check<'a>(
                pre: &InstancePre<HostState>,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Self> {
                let index = pre
                    .component()
                    .get_export_index(None, $export)
                    .ok_or_else(|| wasmtime::format_err!("no export `{}`", $export))?;
                let instance = pre.instantiate(&mut *store)?;
                instance.get_typed_func::<($($arg_ty,)*), (Result<$ret, String>,)>(
                    &mut *store,
                    index,
                )?;
                Ok(Self { index })
            }

            /// Instantiates the component in `store` and calls the export.
            pub(crate) fn call<'a>(
                &self,
                pre: &InstancePre<HostState>,
                store: &mut Store<HostState>,
                $($arg: $arg_ty,)*
            ) -> wasmtime::Result<Result<$ret, String>> {
                let instance: Instance = pre.instantiate(&mut *store)?;
                let func = instance
                    .get_func(store.as_context_mut(), self.index)
                    .ok_or_else(|| wasmtime::format_err!("no export `{}`", $export))?;
                // SAFETY: `new_unchecked` is sound when the function's
                // component type matches the Rust signature. `check` proved
                // that for this export index of this component (an index is
                // bound to its component), with the same signature this
                // macro writes here; every instance of a component has the
                // same export types.
                let typed = unsafe {
                    TypedFunc::<($($arg_ty,)*), (Result<$ret, String>,)>::new_unchecked(func)
                };
                Ok(typed.call(&mut *store, ($($arg,)*))?.0)
            }
        }
    };
}

checked_export! {
    /// `checklist-item.evaluate`.
    EvaluateItem, "evaluate",
    fn(context: &'a wit::ReadinessContext, params: &'a str) -> wit::ItemVerdict
}

checked_export! {
    /// `checklist-bundle.evaluate-items`.
    EvaluateBundle, "evaluate-items",
    fn(context: &'a wit::ReadinessContext, items: &'a [ItemRequestView<'a>])
        -> Vec<Result<wit::ItemVerdict, String>>
}

checked_export! {
    /// `breaker-condition.evaluate`.
    EvaluateBreaker, "evaluate",
    fn(window: wit::MetricsWindow, params: &'a str) -> wit::BreakerVerdict
}

checked_export! {
    /// `risk-scorer.score`.
    ScoreRisk, "score",
    fn(events: &'a [wit::GovernanceEvent], params: &'a str) -> wit::RiskAssessment
}

checked_export! {
    /// `task-matcher.rank`.
    RankCandidates, "rank",
    fn(
        task: &'a wit::Task,
        candidates: &'a [CandidateView<'a>],
        policy: wit::AssignmentPolicy,
        params: &'a str
    ) -> wit::Ranking
}
