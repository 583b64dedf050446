//! Plugin manifests: `<name>.toml` beside `<name>.wasm`.
//!
//! ```toml
//! name = "success-rate"
//! kind = "checklist-item"
//! version = "0.1.0"
//!
//! [params]          # handed to the plugin as JSON text
//! min = 0.995
//!
//! [limits]          # optional; defaults: 50 ms, 16 MiB
//! timeout_ms = 50
//! memory_mib = 16
//!
//! [[fixtures]]      # optional test cases, run before a version activates
//! description = "99% is below the bar"
//! input = { now = "2026-11-01T00:00:00Z", metrics = { successRate = 0.99 } }
//! expect = { passed = false }
//! ```

use serde::Deserialize;

use super::limits::{LimitsError, LimitsSpec, PluginLimits};
use crate::domain::PluginKind;
pub use crate::evaluation::Fixture;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    kind: String,
    version: String,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    limits: LimitsSpec,
    #[serde(default)]
    fixtures: Vec<Fixture>,
}

/// Why a manifest was refused. Each message names the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not TOML, or not the manifest's shape (a missing or unknown field).
    #[error("{}{}", .source.message(), at_line(*.line))]
    Toml {
        line: Option<usize>,
        #[source]
        source: toml::de::Error,
    },
    #[error("name `{name}` must be 1-64 characters of a-z, 0-9, `-` or `_`, starting with a letter or digit")]
    Name { name: String },
    #[error("version `{version}` must be non-empty with no spaces")]
    Version { version: String },
    /// `kind` names no plugin kind; the domain's message lists them.
    #[error(transparent)]
    Kind(Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("params: {0}")]
    Params(#[source] serde_json::Error),
    #[error("params override: {0}")]
    ParamsOverride(#[source] serde_json::Error),
    #[error(transparent)]
    Limits(#[from] LimitsError),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" (line {line})"))
        .unwrap_or_default()
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    /// The `[params]` table as JSON text, exactly what the plugin receives.
    pub params_json: String,
    pub limits: PluginLimits,
    /// Test cases the version must pass before it may serve.
    pub fixtures: Vec<Fixture>,
}

impl Manifest {
    /// Merges `overrides` (a config file's `[plugins.<name>.params]`) into
    /// the params, table by table: a key set there wins, others stay.
    pub fn override_params(&mut self, overrides: &toml::Table) -> Result<(), ManifestError> {
        fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
            match (into, from) {
                (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                    for (k, v) in b {
                        merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
                (slot, v) => *slot = v,
            }
        }
        let mut params: serde_json::Value =
            serde_json::from_str(&self.params_json).map_err(ManifestError::Params)?;
        let overrides = serde_json::to_value(overrides).map_err(ManifestError::ParamsOverride)?;
        merge(&mut params, overrides);
        self.params_json = params.to_string();
        Ok(())
    }

    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|source| ManifestError::Toml {
            line: line_of(text, &source),
            source,
        })?;
        check_name(&raw.name)?;
        if raw.version.trim().is_empty() || raw.version.contains(char::is_whitespace) {
            return Err(ManifestError::Version {
                version: raw.version,
            });
        }
        let kind: PluginKind = raw
            .kind
            .parse()
            .map_err(|e: <PluginKind as std::str::FromStr>::Err| ManifestError::Kind(e.into()))?;
        let params_json = serde_json::to_string(&raw.params).map_err(ManifestError::Params)?;
        let limits = raw.limits.resolve()?;
        Ok(Self {
            name: raw.name,
            kind,
            version: raw.version,
            params_json,
            limits,
            fixtures: raw.fixtures,
        })
    }
}

/// The line of `text` the error points at, counting from 1.
fn line_of(text: &str, e: &toml::de::Error) -> Option<usize> {
    let span = e.span()?;
    let before = text.get(..span.start.min(text.len())).unwrap_or(text);
    Some(before.matches('\n').count() + 1)
}

/// Names become file names and URL path segments, so keep them plain.
pub fn check_name(name: &str) -> Result<(), ManifestError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Name {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params_to_json_and_limits() {
        let m = Manifest::parse(
            "name = \"success-rate\"\nkind = \"checklist-item\"\nversion = \"1.0.0\"\n[params]\nmin = 0.99\n[limits]\ntimeout_ms = 20\n",
        )
        .unwrap();
        assert_eq!(m.kind, PluginKind::ChecklistItem);
        assert_eq!(m.params_json, r#"{"min":0.99}"#);
        assert_eq!(m.limits.timeout.as_millis(), 20);
    }

    #[test]
    fn says_what_is_wrong() {
        let err = Manifest::parse("name = \"x\"\nkind = \"checklist\"\nversion = \"1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown plugin kind `checklist`"), "{err}");
        let err = Manifest::parse("name = \"x\"\nversion = \"1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `kind`"), "{err}");
        let err = Manifest::parse("name = \"../x\"\nkind = \"risk-scorer\"\nversion = \"1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("name `../x` must be"), "{err}");
        let err =
            Manifest::parse("name = \"x\"\nkind = \"risk-scorer\"\nversion = \"1\"\ncolour = 1\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("unknown field `colour`") && err.contains("line 4"),
            "{err}"
        );
    }
}
