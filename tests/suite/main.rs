//! Regent's integration tests, in one binary: each former test binary
//! linked the whole host, so eleven of them cost eleven links and eleven
//! runs of the same start-up. Each module is one area, run with
//! `cargo test -p regent-tests --test suite <module>::`.
//!
//! They need the plugins and the `regent` binary built first:
//! `make plugins` (see `regent_tests::built_plugins`).

// Test code: a failed unwrap is a failed test, with the value that broke it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod budgets;
mod checklist_bundle;
mod cluster;
mod cluster_leases;
mod console;
mod context_scope;
mod control_plane;
mod governance_api;
mod governance_flow;
mod http_api;
mod idempotency;
mod plugin_cli;
mod plugin_registry;
mod python_plugin;
mod replicas;
mod runtime_hostile;
mod scopes;
mod separation_of_duties;
mod wit_versions;
