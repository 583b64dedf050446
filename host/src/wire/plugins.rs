//! `/api/plugins/…`: listing, uploading, activating and rolling back plugin
//! versions, as `regent plugin push|list|activate|rollback` and the server
//! both see them.
//!
//! The registry's domain types say what a version, a gate or an activation
//! is; these say how they travel. Each has a `From` of its domain type, so a
//! field added or renamed there fails to build here until the wire shape is
//! decided, instead of surfacing as a `?` in the CLI's output.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::readiness::{ContextScope, ItemInfo};
use crate::domain::registry as domain;
use crate::domain::{PluginKind, Timestamp};
use crate::runtime::cache::CompileSource as RuntimeCompileSource;
use crate::runtime::{BundledItem as RuntimeBundledItem, PluginSummary as RuntimePluginSummary};

// The query of `PUT /api/plugins/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// Make it active once it passes every gate (default true).
    pub activate: Option<bool>,
    /// Run every gate and the shadow run, store nothing (default false).
    pub dry_run: Option<bool>,
    /// Activate despite errors or timeouts on recorded inputs; audited.
    pub force: Option<bool>,
}

// The query of `POST /api/plugins/{name}/activate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForceQuery {
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    pub version: String,
}

/// The body of `POST /api/plugins/{name}/rollback`: nothing, but an object,
/// so the request is JSON like its siblings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {}

/// What the host knows about a loaded plugin, as `GET /api/plugins` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginSummary {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    pub summary: String,
    pub sha256: String,
    pub loaded_at: Timestamp,
    /// The checklist item it provides, for checklist items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemInfo>,
    /// What a checklist item reads of the readiness context; it is handed
    /// nothing else. For a bundle, the union of what its items read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<ContextScope>,
    /// The items of a checklist bundle, in the order it describes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<BundledItem>,
    pub timeout_ms: u64,
    pub memory_limit_bytes: usize,
    /// True for components that import WASI (componentize-py, jco); they
    /// get a WASI that grants nothing.
    pub uses_wasi: bool,
    /// The `regent:policy` WIT package version the component was built
    /// against, when the host can tell (see the runtime's summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit_package: Option<String>,
    pub compiled_from: CompileSource,
    pub compile_ms: f64,
}

/// One item of a loaded checklist bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundledItem {
    pub item: ItemInfo,
    /// What this item reads, with its params.
    pub reads: ContextScope,
}

/// Where a compiled component came from, for logs and the plugin listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompileSource {
    Memory,
    Disk,
    Compiled,
}

impl From<RuntimeCompileSource> for CompileSource {
    fn from(source: RuntimeCompileSource) -> Self {
        match source {
            RuntimeCompileSource::Memory => Self::Memory,
            RuntimeCompileSource::Disk => Self::Disk,
            RuntimeCompileSource::Compiled => Self::Compiled,
        }
    }
}

impl From<&RuntimeBundledItem> for BundledItem {
    fn from(bundled: &RuntimeBundledItem) -> Self {
        Self {
            item: bundled.item.clone(),
            reads: bundled.reads.clone(),
        }
    }
}

impl From<&RuntimePluginSummary> for PluginSummary {
    fn from(s: &RuntimePluginSummary) -> Self {
        Self {
            name: s.name.clone(),
            kind: s.kind,
            version: s.version.clone(),
            summary: s.summary.clone(),
            sha256: s.sha256.clone(),
            loaded_at: s.loaded_at,
            item: s.item.clone(),
            reads: s.reads.clone(),
            items: s.items.iter().map(BundledItem::from).collect(),
            timeout_ms: s.timeout_ms,
            memory_limit_bytes: s.memory_limit_bytes,
            uses_wasi: s.uses_wasi,
            wit_package: s.wit_package.clone(),
            compiled_from: s.compiled_from.into(),
            compile_ms: s.compile_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Active,
    Inactive,
    /// Failed a gate; kept so an author can see why, with no bytes stored.
    Rejected,
}

impl VersionStatus {
    /// The name the server gives it, for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Inactive => "inactive",
            VersionStatus::Rejected => "rejected",
        }
    }
}

impl From<domain::VersionStatus> for VersionStatus {
    fn from(status: domain::VersionStatus) -> Self {
        match status {
            domain::VersionStatus::Active => Self::Active,
            domain::VersionStatus::Inactive => Self::Inactive,
            domain::VersionStatus::Rejected => Self::Rejected,
        }
    }
}

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[serde(deserialize_with = "super::nullable")]
    pub signer: Option<String>,
    pub status: VersionStatus,
    /// When it last became active.
    #[serde(deserialize_with = "super::nullable")]
    pub activated_at: Option<Timestamp>,
    /// Which gate refused it, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<String>,
}

impl From<domain::PluginVersion> for PluginVersion {
    fn from(v: domain::PluginVersion) -> Self {
        Self {
            name: v.name,
            kind: v.kind,
            version: v.version,
            sha256: v.sha256,
            size_bytes: v.size_bytes,
            uploaded_at: v.uploaded_at,
            uploaded_by: v.uploaded_by,
            signer: v.signer,
            status: v.status.into(),
            activated_at: v.activated_at,
            rejection: v.rejection,
        }
    }
}

/// The checks between an upload and the active set, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
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
    /// The name the server gives it, for messages.
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

impl From<domain::Gate> for Gate {
    fn from(gate: domain::Gate) -> Self {
        // The domain enum is non_exhaustive for its own consumers, but it is
        // defined in this crate, so this match is checked exhaustively: a new
        // gate fails to build here until the wire knows it.
        match gate {
            domain::Gate::Signature => Gate::Signature,
            domain::Gate::Compile => Gate::Compile,
            domain::Gate::World => Gate::World,
            domain::Gate::Describe => Gate::Describe,
            domain::Gate::Params => Gate::Params,
            domain::Gate::Fixtures => Gate::Fixtures,
            domain::Gate::Shadow => Gate::Shadow,
        }
    }
}

/// How one gate went for a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    pub gate: Gate,
    pub passed: bool,
    pub elapsed_ms: f64,
    pub detail: String,
}

impl From<domain::GateResult> for GateResult {
    fn from(g: domain::GateResult) -> Self {
        Self {
            gate: g.gate.into(),
            passed: g.passed,
            elapsed_ms: g.elapsed_ms,
            detail: g.detail,
        }
    }
}

/// A recorded input whose result the candidate changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDifference {
    /// `shadow:<id>` for sampled inputs, `evaluation:<id>` for recorded
    /// `POST /api/plugins/{name}/evaluate` calls.
    pub input: String,
    pub recorded_at: Timestamp,
    /// The active version's output; absent for a first version, or when
    /// the active version failed on this input.
    #[schema(value_type = Option<Object>)]
    #[serde(deserialize_with = "super::nullable")]
    pub active: Option<Value>,
    #[schema(value_type = Object)]
    pub candidate: Value,
    /// What the active version's failure was, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_error: Option<String>,
}

impl From<domain::ShadowDifference> for ShadowDifference {
    fn from(d: domain::ShadowDifference) -> Self {
        Self {
            input: d.input,
            recorded_at: d.recorded_at,
            active: d.active,
            candidate: d.candidate,
            active_error: d.active_error,
        }
    }
}

/// A recorded input the candidate fails on: any one rejects it, unless forced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowFailure {
    pub input: String,
    pub recorded_at: Timestamp,
    /// `timeout`, `trap`, `out_of_memory`, ... as evaluations report them.
    pub code: String,
    pub error: String,
}

impl From<domain::ShadowFailure> for ShadowFailure {
    fn from(f: domain::ShadowFailure) -> Self {
        Self {
            input: f.input,
            recorded_at: f.recorded_at,
            code: f.code,
            error: f.error,
        }
    }
}

/// The candidate beside the active version on recorded real inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowReport {
    pub inputs: usize,
    /// The active version it was compared with; none for a first version.
    #[serde(deserialize_with = "super::nullable")]
    pub compared_with: Option<String>,
    pub identical: usize,
    pub differences: Vec<ShadowDifference>,
    pub failures: Vec<ShadowFailure>,
}

impl From<domain::ShadowReport> for ShadowReport {
    fn from(r: domain::ShadowReport) -> Self {
        Self {
            inputs: r.inputs,
            compared_with: r.compared_with,
            identical: r.identical,
            differences: r.differences.into_iter().map(Into::into).collect(),
            failures: r.failures.into_iter().map(Into::into).collect(),
        }
    }
}

/// How a version became active; kept with each activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

impl From<domain::ActivationKind> for ActivationKind {
    fn from(how: domain::ActivationKind) -> Self {
        match how {
            domain::ActivationKind::Upload => Self::Upload,
            domain::ActivationKind::Activate => Self::Activate,
            domain::ActivationKind::Rollback => Self::Rollback,
            domain::ActivationKind::Import => Self::Import,
            domain::ActivationKind::Watch => Self::Watch,
        }
    }
}

/// A completed swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    pub name: String,
    pub version: String,
    #[serde(deserialize_with = "super::nullable")]
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

impl From<domain::Activation> for Activation {
    fn from(a: domain::Activation) -> Self {
        Self {
            name: a.name,
            version: a.version,
            previous: a.previous,
            how: a.how.into(),
            forced: a.forced,
            generation: a.generation,
            elapsed_ms: a.elapsed_ms,
            downgrade_from: a.downgrade_from,
        }
    }
}

/// What `PUT /api/plugins/{name}` did with a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    pub version: PluginVersion,
    pub dry_run: bool,
    pub gates: Vec<GateResult>,
    pub shadow: ShadowReport,
    /// Set when the candidate became active.
    #[serde(deserialize_with = "super::nullable")]
    pub activation: Option<Activation>,
    pub elapsed_ms: f64,
}

impl From<domain::UploadOutcome> for UploadOutcome {
    fn from(o: domain::UploadOutcome) -> Self {
        Self {
            version: o.version.into(),
            dry_run: o.dry_run,
            gates: o.gates.into_iter().map(Into::into).collect(),
            shadow: o.shadow.into(),
            activation: o.activation.map(Into::into),
            elapsed_ms: o.elapsed_ms,
        }
    }
}

/// `error.details` of a `gate_failed` answer: every gate run, the failed one
/// last, and the shadow run as far as it got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateFailureDetails {
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// Absent when the candidate never reached the shadow gate's report.
    #[serde(default)]
    pub shadow: Option<ShadowReport>,
}

impl From<&domain::GateFailure> for GateFailureDetails {
    fn from(f: &domain::GateFailure) -> Self {
        Self {
            gates: f.gates.iter().cloned().map(Into::into).collect(),
            shadow: Some(f.shadow.clone().into()),
        }
    }
}
