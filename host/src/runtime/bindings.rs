//! Host-side bindings shared by every plugin world.
//!
//! The checklist world generates the shared `types` and `log` interfaces;
//! each other world's bindings live in its kind's module
//! (`runtime/kinds/`) and reuse these, so one Rust type (say `Severity`)
//! serves every world and one `log` implementation links into every plugin.

pub mod checklist {
    wasmtime::component::bindgen!({
        world: "checklist-item",
        path: "../wit",
    });
}

pub use checklist::regent::policy::log;
pub use checklist::regent::policy::types;
