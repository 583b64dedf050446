//! # regent-sdk: write Regent policy plugins in plain Rust
//!
//! A Regent plugin is a WebAssembly component that implements one of the
//! worlds of the `regent:policy@0.2.0` WIT package: a readiness
//! [`checklist`] item, a circuit-[`breaker`] condition, a [`risk`] scorer or
//! a task [`matcher`], or a [`bundle`] of checklist items evaluated in one
//! call. This crate gives each world a plain Rust trait and a macro that
//! turns an implementation into the component's exports:
//!
//! ```ignore
//! use regent_sdk::checklist::*;
//!
//! pub struct ChaosTested;
//!
//! impl ChecklistItem for ChaosTested {
//!     type Params = NoParams;
//!     const SUMMARY: &'static str = "passes when chaos testing is attested";
//!     const ITEM: ItemSpec = ItemSpec::new("chaos-testing", "Chaos testing completed",
//!         Category::Technical, "infrastructure", 2, false);
//!
//!     fn evaluate(ctx: &ReadinessContext, _: &NoParams) -> Result<ItemVerdict, String> {
//!         Ok(attested_item(ctx, "chaos_testing", &["tech_lead"]))
//!     }
//! }
//!
//! regent_sdk::checklist_item!(ChaosTested);
//! ```
//!
//! The same source compiles natively, so plugins are unit-tested with plain
//! `cargo test`: call `ChaosTested::evaluate(&ctx, &params)` directly, with a
//! context from [`checklist::empty_context`]. Build the component with
//! `regent plugin build <crate-dir>` and run its fixtures with
//! `regent plugin test <crate-dir>`.
//!
//! Plugins have no ambient authority: no files, clock, network, environment
//! or randomness. Every input carries the host's `now`. The one thing the
//! host hands a plugin is its [`log`].
//!
//! Params are the JSON text of the plugin manifest's `[params]` table. Each
//! trait names a `Params` type that deserializes from it; missing fields
//! should take defaults (`#[serde(default)]`), so a manifest without params
//! gets the plugin's documented defaults.

#![deny(missing_docs)]

extern crate self as regent_sdk;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

#[cfg(target_arch = "wasm32")]
mod alloc;
pub mod breaker;
pub mod bundle;
pub mod checklist;
pub mod fmt;
pub mod log;
pub mod matcher;
mod params;
pub mod risk;

pub use params::{parse_params, NoParams};

/// Installs a panic hook that sends the panic message to the host's log
/// before the module aborts, so the host can report *why* a plugin trapped
/// rather than only "unreachable executed".
#[doc(hidden)]
pub fn __install_panic_reporter() {
    #[cfg(target_arch = "wasm32")]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                log::error(&format!("panic: {info}"));
            }));
        });
    }
}
