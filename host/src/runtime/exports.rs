//! Each world's evaluation function, type-checked once per plugin version
//! rather than once per evaluation.
//!
//! Bindgen's `*Pre::instantiate` looks up and type-checks every export on
//! every instantiation; for the readiness context, a record of records,
//! that was a measurable share of an evaluation. Here the export is checked
//! when the plugin loads, and each evaluation reuses the verdict.
//!
//! Each kind's module (`runtime/kinds/`) declares its evaluation export
//! with [`checked_export!`]; the one `unsafe` call lives in this macro.

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
            index: ::wasmtime::component::ComponentExportIndex,
        }

        impl $name {
            /// Finds the export and checks its type on a scratch instance.
            // `'a` names the borrows in the signature checked below.
            #[allow(clippy::extra_unused_lifetimes)]
            pub(crate) fn check<'a>(
                pre: &::wasmtime::component::InstancePre<$crate::runtime::host_state::HostState>,
                store: &mut ::wasmtime::Store<$crate::runtime::host_state::HostState>,
            ) -> ::wasmtime::Result<Self> {
                let index = pre
                    .component()
                    .get_export_index(None, $export)
                    .ok_or_else(|| ::wasmtime::format_err!("no export `{}`", $export))?;
                let instance = pre.instantiate(&mut *store)?;
                instance.get_typed_func::<($($arg_ty,)*), (Result<$ret, String>,)>(
                    &mut *store,
                    index,
                )?;
                Ok(Self { index })
            }

            /// Instantiates the component in `store` and calls the export.
            // The one unsafe call of the runtime; its argument is below.
            #[allow(unsafe_code)]
            pub(crate) fn call<'a>(
                &self,
                pre: &::wasmtime::component::InstancePre<$crate::runtime::host_state::HostState>,
                store: &mut ::wasmtime::Store<$crate::runtime::host_state::HostState>,
                $($arg: $arg_ty,)*
            ) -> ::wasmtime::Result<Result<$ret, String>> {
                let instance: ::wasmtime::component::Instance = pre.instantiate(&mut *store)?;
                let func = instance
                    .get_func(::wasmtime::AsContextMut::as_context_mut(&mut *store), self.index)
                    .ok_or_else(|| ::wasmtime::format_err!("no export `{}`", $export))?;
                // SAFETY: `new_unchecked` is sound when the function's
                // component type matches the Rust signature. `check` proved
                // that for this export index of this component (an index is
                // bound to its component), with the same signature this
                // macro writes here; every instance of a component has the
                // same export types. (The workspace denies unsafe code;
                // this is one of its exceptions.)
                #[allow(unsafe_code)]
                let typed = unsafe {
                    ::wasmtime::component::TypedFunc::<($($arg_ty,)*), (Result<$ret, String>,)>::new_unchecked(func)
                };
                Ok(typed.call(&mut *store, ($($arg,)*))?.0)
            }
        }
    };
}

pub(crate) use checked_export;
