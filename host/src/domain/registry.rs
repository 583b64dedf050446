//! Plugin versions, and the gates a candidate must pass before it serves.
//!
//! A name has many versions and at most one active one. A candidate goes
//! through the gates in [`Gate::ALL`]'s order; the first that fails stops
//! it, and the active version keeps serving.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PluginKind, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Active,
    Inactive,
    /// Failed a gate; kept so an author can see why, with no bytes stored.
    Rejected,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Inactive => "inactive",
            VersionStatus::Rejected => "rejected",
        }
    }
}

impl FromStr for VersionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(VersionStatus::Active),
            "inactive" => Ok(VersionStatus::Inactive),
            "rejected" => Ok(VersionStatus::Rejected),
            other => Err(format!("unknown version status `{other}`")),
        }
    }
}

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersion {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub uploaded_at: Timestamp,
    pub uploaded_by: String,
    /// The trusted key's name from the config, when the upload was signed.
    pub signer: Option<String>,
    pub status: VersionStatus,
    /// When it last became active.
    pub activated_at: Option<Timestamp>,
    /// Which gate refused it, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<String>,
}

/// The checks between an upload and the active set, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Gate {
    /// Signed by a trusted key (only refuses when signing is required, or
    /// when a signature is given and does not verify).
    Signature,
    /// The bytes are a component wasmtime compiles.
    Compile,
    /// Its exports and imports match its kind's world.
    World,
    /// `describe()` agrees with the manifest's name, kind and version.
    Describe,
    /// It accepts its params (and, for items, says what it reads).
    Params,
    /// The manifest's own test cases pass.
    Fixtures,
    /// It runs without error on recently recorded real inputs.
    Shadow,
}

impl Gate {
    pub const ALL: [Gate; 7] = [
        Gate::Signature,
        Gate::Compile,
        Gate::World,
        Gate::Describe,
        Gate::Params,
        Gate::Fixtures,
        Gate::Shadow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Signature => "signature",
            Gate::Compile => "compile",
            Gate::World => "world",
            Gate::Describe => "describe",
            Gate::Params => "params",
            Gate::Fixtures => "fixtures",
            Gate::Shadow => "shadow",
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one gate went for a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    pub gate: Gate,
    pub passed: bool,
    pub elapsed_ms: f64,
    pub detail: String,
}

/// A recorded input whose result the candidate changes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDifference {
    /// `shadow:<id>` for sampled inputs, `evaluation:<id>` for recorded
    /// `POST /api/plugins/{name}/evaluate` calls.
    pub input: String,
    pub recorded_at: Timestamp,
    /// The active version's output; absent for a first version, or when
    /// the active version failed on this input.
    #[schema(value_type = Option<Object>)]
    pub active: Option<Value>,
    #[schema(value_type = Object)]
    pub candidate: Value,
    /// What the active version's failure was, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_error: Option<String>,
}

/// A recorded input the candidate fails on: any one rejects it, unless forced.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowFailure {
    pub input: String,
    pub recorded_at: Timestamp,
    /// `timeout`, `trap`, `out_of_memory`, ... as evaluations report them.
    pub code: String,
    pub error: String,
}

/// The candidate beside the active version on recorded real inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowReport {
    pub inputs: usize,
    /// The active version it was compared with; none for a first version.
    pub compared_with: Option<String>,
    pub identical: usize,
    pub differences: Vec<ShadowDifference>,
    pub failures: Vec<ShadowFailure>,
}

/// How a version became active; kept with each activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    Upload,
    Activate,
    Rollback,
    /// Found in the plugins directory at start.
    Import,
    /// Found in the plugins directory by `--watch`.
    Watch,
}

impl ActivationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationKind::Upload => "upload",
            ActivationKind::Activate => "activate",
            ActivationKind::Rollback => "rollback",
            ActivationKind::Import => "import",
            ActivationKind::Watch => "watch",
        }
    }
}

/// A completed swap.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    pub name: String,
    pub version: String,
    pub previous: Option<String>,
    pub how: ActivationKind,
    pub forced: bool,
    /// The plugin set's generation from now on; replies carry it.
    pub generation: u64,
    /// From the start of the request to the new version serving.
    pub elapsed_ms: f64,
    /// The highest version ever active, when this one is lower: a
    /// downgrade, which takes `force` (or a rollback) and is audited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade_from: Option<String>,
}

/// A plugin version that is not semver: versions are ordered, so that
/// activating a lower one than has served is a deliberate downgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version `{0}` is not semver (MAJOR.MINOR.PATCH, e.g. 1.0.0): Regent orders a plugin's versions so that going back to a lower one is never an accident")]
pub struct NotSemver(pub String);

pub fn check_semver(version: &str) -> Result<semver::Version, NotSemver> {
    semver::Version::parse(version).map_err(|_| NotSemver(version.to_string()))
}

/// The highest of `ever_active` when `candidate` is lower than it (semver
/// precedence; build metadata does not order): activating `candidate` is
/// then a downgrade. Versions that are not semver (stored before versions
/// had to be) cannot be ordered: among the ever active they are left out,
/// and as the candidate it counts as a downgrade of anything else that
/// served, so it takes `force` like any other step back.
pub fn downgrade_from(candidate: &str, ever_active: &[String]) -> Option<String> {
    let highest = ever_active
        .iter()
        .filter_map(|v| check_semver(v).ok().map(|parsed| (parsed, v)))
        .max_by(|a, b| a.0.cmp_precedence(&b.0))
        .map(|(parsed, v)| (parsed, v.clone()));
    match check_semver(candidate) {
        Ok(candidate) => highest
            .filter(|(h, _)| candidate.cmp_precedence(h).is_lt())
            .map(|(_, v)| v),
        Err(_) => highest
            .map(|(_, v)| v)
            .or_else(|| ever_active.iter().find(|v| *v != candidate).cloned()),
    }
}

/// What `PUT /api/plugins/{name}` did with a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    pub version: PluginVersion,
    pub dry_run: bool,
    pub gates: Vec<GateResult>,
    pub shadow: ShadowReport,
    /// Set when the candidate became active.
    pub activation: Option<Activation>,
    pub elapsed_ms: f64,
}

/// Why a candidate was refused: the gate, its reason, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateFailure {
    pub gate: Gate,
    pub message: String,
    /// Every gate run, the failed one last.
    pub gates: Vec<GateResult>,
    pub shadow: ShadowReport,
}

/// `?activate=`, `?dry_run=`, `?force=` of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    pub activate: bool,
    pub dry_run: bool,
    /// Activate despite shadow-run failures (audited).
    pub force: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            activate: true,
            dry_run: false,
            force: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_gates_keep_their_order() {
        for s in [
            VersionStatus::Active,
            VersionStatus::Inactive,
            VersionStatus::Rejected,
        ] {
            assert_eq!(s.as_str().parse::<VersionStatus>(), Ok(s));
        }
        assert!("gone".parse::<VersionStatus>().is_err());
        let names: Vec<&str> = Gate::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(
            names,
            [
                "signature",
                "compile",
                "world",
                "describe",
                "params",
                "fixtures",
                "shadow"
            ]
        );
        assert!(Gate::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_lower_version_than_ever_served_is_a_downgrade() {
        let ever = |vs: &[&str]| vs.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        let served = ever(&["1.0.0", "2.1.0", "1.5.0"]);
        assert_eq!(downgrade_from("2.0.9", &served), Some("2.1.0".into()));
        assert_eq!(downgrade_from("1.0.0", &served), Some("2.1.0".into()));
        assert_eq!(downgrade_from("2.1.0", &served), None);
        assert_eq!(downgrade_from("2.1.1", &served), None);
        assert_eq!(downgrade_from("10.0.0", &served), None, "not text order");
        assert_eq!(downgrade_from("1.0.0", &[]), None);
        // A pre-release precedes its release; build metadata does not order.
        assert_eq!(downgrade_from("2.1.0-rc.1", &served), Some("2.1.0".into()));
        assert_eq!(downgrade_from("2.1.0+other-build", &served), None);
        // Unordered versions fail closed as the candidate.
        assert_eq!(downgrade_from("1", &served), Some("2.1.0".into()));
        assert_eq!(downgrade_from("1", &ever(&["0"])), Some("0".into()));
        assert_eq!(downgrade_from("1", &ever(&["1"])), None);
        assert_eq!(downgrade_from("1.0.0", &ever(&["zzz"])), None);
        assert!(check_semver("1.0").is_err());
        assert!(check_semver("1.0.0").is_ok());
    }
}
