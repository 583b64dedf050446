//! Regent's domain: plain Rust types and rules, with no HTTP and no Wasm.
//!
//! The domain depends on no other layer of the host, and on none of the
//! crates that do I/O (axum, wasmtime, rusqlite, tokio): every rule here can
//! be tested with nothing but values. The runtime converts these types to
//! the WIT types at the plugin boundary; storage and the API convert them to
//! rows and replies.
//!
//! # Dependency order
//!
//! The modules form a directed acyclic graph. Each module below may use only
//! the modules listed above it; `tests::modules_follow_the_dependency_order`
//! reads this list and fails on an import that points down it or sideways
//! into a cycle. A type lives with the concept it describes, and a new type
//! goes in the lowest module that can hold it.
//!
//! - `time`: the [`Timestamp`], milliseconds on the inside, RFC 3339 outside.
//! - `text`: the checks of ids and free text, beside the JSON Schema of each.
//! - `plugin`: the shared vocabulary: phases, categories, severities, plugin kinds.
//! - `auth`: roles, principals, and the agent a machine token is bound to.
//! - `matching`: candidates, a task, and turning a matcher's placements into a ranking.
//! - `checkpoint`: signed checkpoints of the audit log.
//! - `retention`: how long each table keeps its rows.
//! - `risk`: events scored per category by a risk scorer.
//! - `registry`: uploaded plugin versions, their gates and shadow runs.
//! - `metrics`: command records, incidents, and the counts and rates computed from them.
//! - `breaker`: circuit-breaker rules, the window a condition sees, and its events.
//! - `budget`: rate and concurrency budgets, batch limits, throttles, and settling decisions against them.
//! - `readiness`: the readiness checklist, its context, verdicts, assessment and status.
//! - `governance`: the phase table, the expansion decision, proposals and the weekly report.
//! - `scopes`: scoped authority: each scope's autonomy grant and its own stop.
//! - `control`: the enforcement point's snapshot and decision, and workflows.
//! - `events`: events reported by engines, their auto-actions and risk reports.
//! - `fleet`: agents, their budgets and breakers, and task assignment.
//!
//! # Errors
//!
//! A fallible domain function returns a `thiserror` enum of its module
//! (`TextError`, `BreakerError`, `FleetError`, ...), never a `String`. The
//! enums are `#[non_exhaustive]`; each variant's message is lowercase, names
//! the field as the request spells it, and says what was wrong with it, so
//! the service can return it to the client as it is. A module whose checks
//! use another module's (most use [`text::check_id`]) wraps that error as a
//! transparent variant rather than rewording it.
//!
//! The `FromStr` impls of the enums that storage reads back from rows
//! (`Phase`, `Role`, `Severity`, ...) still return a `String`: storage puts
//! that text into its own corruption error, and changes with it.
//!
//! # Wire types and OpenAPI
//!
//! Most of these types are also the API's JSON: a request body or reply is
//! serialized straight from the domain type, with no copy in between. Those
//! types derive `utoipa::ToSchema` next to their serde attributes, so the
//! published schema and what serde accepts cannot drift apart (schemathesis
//! checks both directions against a running server). utoipa only describes
//! data; it brings no HTTP into the domain. Types that never cross the API
//! (configuration such as `PhaseTable` and `RiskBounds`) do not derive it.
//! A type that must differ from its JSON gets a DTO in the API layer
//! instead of schema attributes here.

pub mod auth;
pub mod breaker;
pub mod budget;
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
pub mod scopes;
pub mod text;
pub mod time;

pub use plugin::{Category, Phase, PluginKind, Severity};
pub use time::Timestamp;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// Every domain source file, read at compile time so the check sees
    /// exactly what is built.
    macro_rules! sources {
        ($($module:ident),* $(,)?) => {
            [$((stringify!($module), include_str!(concat!(stringify!($module), ".rs")))),*]
        };
    }

    const SOURCES: [(&str, &str); 18] = sources!(
        auth, breaker, budget, checkpoint, control, events, fleet, governance, matching, metrics,
        plugin, readiness, registry, retention, risk, scopes, text, time,
    );

    const MOD_RS: &str = include_str!("mod.rs");

    /// Crates that do I/O or belong to another layer.
    const FORBIDDEN_CRATES: [&str; 4] = ["axum", "wasmtime", "rusqlite", "tokio"];

    /// The modules `pub mod` declares, in file order.
    fn declared_modules() -> Vec<&'static str> {
        MOD_RS
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod "))
            .filter_map(|l| l.strip_suffix(';'))
            .collect()
    }

    /// The dependency order, as the module doc lists it.
    fn documented_order() -> Vec<&'static str> {
        MOD_RS
            .lines()
            .filter_map(|l| l.strip_prefix("//! - `"))
            .filter_map(|l| l.split_once('`'))
            .map(|(name, _)| name)
            .collect()
    }

    /// Names `mod.rs` re-exports, mapped to the module that defines them,
    /// so `super::Phase` counts as a use of `plugin`.
    fn reexports() -> BTreeMap<&'static str, &'static str> {
        let mut names = BTreeMap::new();
        for line in MOD_RS.lines() {
            let Some(rest) = line.strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, items)) = rest.trim_end_matches(';').split_once("::") else {
                continue;
            };
            for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
                names.insert(item.trim(), module);
            }
        }
        names
    }

    /// The source without its unit tests (whose `super::` is the file
    /// itself) and without comment lines.
    fn code(source: &str) -> String {
        let end = source
            .find("#[cfg(test)]\nmod tests")
            .unwrap_or(source.len());
        source[..end]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first path segment of each path that follows `prefix`:
    /// `super::text::check_id` gives `text`, `super::{Phase, Timestamp}`
    /// gives `Phase` and `Timestamp`.
    fn first_segments<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
        let ident_end = |s: &str| {
            s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len())
        };
        let mut segments = Vec::new();
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    segments.push(&item[..ident_end(item)]);
                }
            } else {
                segments.push(&rest[..ident_end(rest)]);
            }
        }
        segments
    }

    /// The domain modules `module`'s code uses.
    fn dependencies(module: &str, source: &str) -> Vec<&'static str> {
        let declared = declared_modules();
        let reexports = reexports();
        let code = code(source);
        let mut uses = Vec::new();
        for prefix in ["super::", "crate::domain::"] {
            for segment in first_segments(&code, prefix) {
                let target = declared
                    .iter()
                    .copied()
                    .find(|m| *m == segment)
                    .or_else(|| reexports.get(segment).copied());
                match target {
                    Some(t) if t != module && !uses.contains(&t) => uses.push(t),
                    Some(_) => {}
                    None => panic!(
                        "{module}.rs uses `{prefix}{segment}`, which is neither a domain module nor a re-export of mod.rs"
                    ),
                }
            }
        }
        uses
    }

    #[test]
    fn the_documented_order_lists_every_module_once() {
        let mut declared = declared_modules();
        let mut documented = documented_order();
        let mut read: Vec<&str> = SOURCES.iter().map(|(m, _)| *m).collect();
        declared.sort_unstable();
        documented.sort_unstable();
        read.sort_unstable();
        assert_eq!(documented, declared, "the module doc's list and `pub mod`");
        assert_eq!(read, declared, "SOURCES and `pub mod`");
    }

    #[test]
    fn modules_follow_the_dependency_order() {
        let order = documented_order();
        let rank = |m: &str| order.iter().position(|o| *o == m);
        let mut wrong = Vec::new();
        for (module, source) in SOURCES {
            for dependency in dependencies(module, source) {
                if rank(dependency) >= rank(module) {
                    wrong.push(format!("{module} -> {dependency}"));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports that point down the order in domain/mod.rs: {wrong:?}"
        );
    }

    #[test]
    fn the_domain_uses_no_other_layer_and_no_io_crate() {
        for (module, source) in SOURCES {
            let code = code(source);
            for (at, _) in code.match_indices("crate::") {
                assert!(
                    code[at..].starts_with("crate::domain::"),
                    "{module}.rs reaches out of the domain: {}",
                    code[at..].lines().next().unwrap_or_default()
                );
            }
            for name in FORBIDDEN_CRATES {
                assert!(
                    !code.contains(&format!("{name}::")) && !code.contains(&format!("use {name}")),
                    "{module}.rs uses `{name}`"
                );
            }
        }
    }

    #[test]
    fn the_dependency_check_sees_every_kind_of_path() {
        let source = "use super::text::check_id;\nuse super::{Phase, Timestamp};\n\
                      fn f() { crate::domain::metrics::x(); }\n\
                      // super::fleet in a comment is not a use\n\
                      #[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
        assert_eq!(
            dependencies("governance", source),
            ["text", "plugin", "time", "metrics"]
        );
    }
}
