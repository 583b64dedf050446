//! Regent: a governance host for autonomous operations.
//!
//! - [`domain`]: phases, readiness, breakers, risk and matching as plain Rust;
//! - [`runtime`]: the sandboxed WebAssembly plugin runtime (wasmtime);
//! - [`storage`]: the embedded SQLite store;
//! - [`evaluation`]: JSON in, plugin out — shared by the API and the CLI;
//! - [`replica`]: this process's identity among replicas sharing a database;
//! - [`oidc`]: verifying the identity provider's JWTs (OIDC) into an identity with roles;
//! - [`api`]: the HTTP API (axum), a thin layer over the rest;
//! - [`wire`]: the request and reply bodies the API and the CLI share;
//! - [`metrics`]: the Prometheus exposition (prometheus-client);
//! - [`telemetry`]: logs, request spans and the optional OTLP export;
//! - [`fuzz`]: fuzz targets for what the host reads from outside.

pub mod api;
pub mod checkpoints;
pub mod cli;
pub mod config;
pub mod domain;
pub mod evaluation;
pub mod fuzz;
pub mod metrics;
pub mod oidc;
pub mod replica;
pub mod runtime;
pub mod safe_fs;
pub mod service;
pub mod signing;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod webhook;
pub mod wire;
