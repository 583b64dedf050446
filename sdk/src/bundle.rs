//! Checklist bundles: several [`ChecklistItem`]s in one component, the
//! `checklist-bundle` world.
//!
//! An assessment instantiates a bundle once and evaluates all of its items
//! in one call on one context. With one component per item, every item pays
//! for its own instance (about 3 µs each); a bundle pays once. Each item
//! stays replaceable on its own: a `checklist-item` plugin with the same
//! item id takes that item over from the bundle.
//!
//! A bundle is a crate that depends on its item crates and names them:
//!
//! ```ignore
//! regent_sdk::checklist_bundle!(
//!     "the readiness checklist";
//!     success_rate::SuccessRate,
//!     runbooks::Runbooks,
//! );
//! ```
//!
//! An item crate that also builds as its own component must not export its
//! world when it is bundled (two `evaluate` exports cannot link into one
//! module): put its `checklist_item!` behind a default cargo feature, and
//! depend on it with `default-features = false`.
//!
//! Each item's params are the manifest's `[params.<item-id>]` table.

use crate::checklist::{
    parse_params, ChecklistItem, ContextScope, ItemInfo, ItemVerdict, ReadinessContext,
};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "checklist-bundle",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_checklist_bundle_world",
        default_bindings_module: "::regent_sdk::bundle::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        with: {
            "regent:policy/types@0.2.0": crate::checklist::bindings::regent::policy::types,
            "regent:policy/log@0.2.0": crate::checklist::bindings::regent::policy::log,
        },
    });
}

pub use crate::checklist::bindings::regent::policy::types::{BundleDescription, ItemRequest};

/// One item of a bundle, with its type erased so that one list can hold
/// items of different types. Build it with [`BundledItem::of`].
#[derive(Clone, Copy)]
pub struct BundledItem {
    /// The item's id, [`ChecklistItem::ITEM`]`.id`.
    pub id: &'static str,
    spec: crate::checklist::ItemSpec,
    validate: fn(&str) -> Result<(), String>,
    scope: fn(&str) -> Result<ContextScope, String>,
    evaluate: fn(&ReadinessContext, &str) -> Result<ItemVerdict, String>,
}

impl BundledItem {
    /// The bundle entry for item `T`; usable in a `const`.
    pub const fn of<T: ChecklistItem>() -> Self {
        Self {
            id: T::ITEM.id,
            spec: T::ITEM,
            validate: validate_item::<T>,
            scope: scope_item::<T>,
            evaluate: evaluate_item::<T>,
        }
    }

    /// The item as the WIT `item-info` record.
    pub fn info(&self) -> ItemInfo {
        self.spec.info()
    }
}

impl core::fmt::Debug for BundledItem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundledItem").field("id", &self.id).finish()
    }
}

fn validate_item<T: ChecklistItem>(params: &str) -> Result<(), String> {
    T::validate(&parse_params(params)?)
}

fn scope_item<T: ChecklistItem>(params: &str) -> Result<ContextScope, String> {
    Ok(T::scope(&parse_params(params)?))
}

fn evaluate_item<T: ChecklistItem>(
    ctx: &ReadinessContext,
    params: &str,
) -> Result<ItemVerdict, String> {
    T::evaluate(ctx, &parse_params(params)?)
}

/// Finds item `id`, or says which items the bundle has.
pub fn find<'a>(items: &'a [BundledItem], id: &str) -> Result<&'a BundledItem, String> {
    items.iter().find(|i| i.id == id).ok_or_else(|| {
        let ids: Vec<&str> = items.iter().map(|i| i.id).collect();
        format!(
            "the bundle has no item `{id}` (it has `{}`)",
            ids.join("`, `")
        )
    })
}

/// Checks that no two items share an id, which would make one of them
/// unreachable. [`checklist_bundle!`](crate::checklist_bundle) runs it in
/// `describe`, so such a bundle never loads.
pub fn check_unique(items: &[BundledItem]) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|earlier| earlier.id == item.id) {
            return Err(format!("item `{}` is bundled twice", item.id));
        }
    }
    Ok(())
}

/// Checks item `id`'s params.
pub fn validate_params(items: &[BundledItem], id: &str, params: &str) -> Result<(), String> {
    (find(items, id)?.validate)(params)
}

/// What item `id` reads with these params.
pub fn context_scope(
    items: &[BundledItem],
    id: &str,
    params: &str,
) -> Result<ContextScope, String> {
    (find(items, id)?.scope)(params)
}

/// Evaluates each request's item on `ctx`, in request order. An unknown
/// item or bad params fail that request alone.
pub fn evaluate_items(
    items: &[BundledItem],
    ctx: &ReadinessContext,
    requests: &[ItemRequest],
) -> Vec<Result<ItemVerdict, String>> {
    requests
        .iter()
        .map(|r| (find(items, &r.item)?.evaluate)(ctx, &r.params))
        .collect()
}

/// The bundle's `describe`: the plugin, and its items in order.
pub fn describe(
    name: &str,
    version: &str,
    summary: &str,
    items: &[BundledItem],
) -> BundleDescription {
    BundleDescription {
        plugin: crate::checklist::PluginInfo {
            name: name.to_string(),
            version: version.to_string(),
            kind: crate::checklist::PluginKind::ChecklistBundle,
            summary: summary.to_string(),
        },
        items: items.iter().map(BundledItem::info).collect(),
    }
}

/// Exports several [`ChecklistItem`]s as one `checklist-bundle` component,
/// and defines `pub const ITEMS: &[BundledItem]` for native tests. The
/// plugin's name and version are the crate's;
/// `checklist_bundle!(summary, version = VERSION; Items...)` takes the
/// version from a `&str` const instead, so a crate built in several variants
/// (e.g. by feature) reports the variant's version.
///
/// A bundle that lists an item id twice panics in `describe`, so the host
/// refuses to load it.
#[macro_export]
macro_rules! checklist_bundle {
    ($summary:expr; $($item:ty),+ $(,)?) => {
        $crate::checklist_bundle!($summary, version = env!("CARGO_PKG_VERSION"); $($item),+);
    };
    ($summary:expr, version = $version:expr; $($item:ty),+ $(,)?) => {
        // Natively the export below is compiled out; this still checks the
        // version and uses its const.
        const _: &str = $version;
        /// The bundled items, in the order `describe` lists them.
        pub const ITEMS: &[$crate::bundle::BundledItem] =
            &[$($crate::bundle::BundledItem::of::<$item>()),+];

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentChecklistBundle;
            impl $crate::bundle::bindings::Guest for __RegentChecklistBundle {
                fn describe() -> $crate::bundle::BundleDescription {
                    if let Err(e) = $crate::bundle::check_unique(ITEMS) {
                        panic!("{e}");
                    }
                    $crate::bundle::describe(
                        env!("CARGO_PKG_NAME"),
                        {
                            const __REGENT_VERSION: &str = $version;
                            __REGENT_VERSION
                        },
                        $summary,
                        ITEMS,
                    )
                }
                fn validate_params(item: String, params: String) -> Result<(), String> {
                    $crate::bundle::validate_params(ITEMS, &item, &params)
                }
                fn context_scope(
                    item: String,
                    params: String,
                ) -> Result<$crate::checklist::ContextScope, String> {
                    $crate::bundle::context_scope(ITEMS, &item, &params)
                }
                fn evaluate_items(
                    context: $crate::checklist::ReadinessContext,
                    items: Vec<$crate::bundle::ItemRequest>,
                ) -> Result<Vec<Result<$crate::checklist::ItemVerdict, String>>, String> {
                    Ok($crate::bundle::evaluate_items(ITEMS, &context, &items))
                }
            }
            $crate::bundle::bindings::__export_checklist_bundle_world!(__RegentChecklistBundle with_types_in $crate::bundle::bindings);
        };
    };
}
