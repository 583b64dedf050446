//! Regent: a governance host for autonomous operations.
//!
//! - [`domain`]: phases, readiness, breakers, risk and matching as plain Rust;
//! - [`runtime`]: the sandboxed WebAssembly plugin runtime (wasmtime);
//! - [`api`]: the HTTP API (axum), a thin layer over the two.

pub mod domain;
pub mod runtime;
