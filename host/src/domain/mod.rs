//! Regent's domain: plain Rust types and rules, with no HTTP and no Wasm.
//!
//! These are the shapes that cross the API as JSON (camelCase, RFC 3339
//! times). The runtime converts them to the WIT types at the plugin boundary.

pub mod auth;
pub mod breaker;
pub mod checkpoint;
pub mod control;
pub mod events;
pub mod fleet;
pub mod governance;
pub mod matching;
pub mod metrics;
pub mod plugin;
pub mod readiness;
pub mod registry;
pub mod retention;
pub mod risk;
pub mod text;
pub mod time;

pub use plugin::{Category, Phase, PluginKind, Severity};
pub use time::Timestamp;
