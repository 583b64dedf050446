//! Host-side bindings for the five plugin worlds.
//!
//! The checklist world generates the shared `types` and `log` interfaces;
//! the other worlds reuse them, so one Rust type (say `Severity`) serves
//! every world and one `log` implementation links into every plugin.

pub mod checklist {
    wasmtime::component::bindgen!({
        world: "checklist-item",
        path: "../wit",
    });
}

pub mod breaker {
    wasmtime::component::bindgen!({
        world: "breaker-condition",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

pub mod risk {
    wasmtime::component::bindgen!({
        world: "risk-scorer",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

pub mod matcher {
    wasmtime::component::bindgen!({
        world: "task-matcher",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

pub mod bundle {
    wasmtime::component::bindgen!({
        world: "checklist-bundle",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

pub use checklist::regent::policy::log;
pub use checklist::regent::policy::types;
