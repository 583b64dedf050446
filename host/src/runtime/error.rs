//! The runtime's errors: one for loading a plugin, one for evaluating it.

use std::path::PathBuf;

/// Why an evaluation produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalFailure {
    #[error("timeout: still running after {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    /// The plugin waited in a host call (a sleep, a poll). Its clock is
    /// stopped, so the wait would never end: the evaluation ends at once,
    /// as a timeout, rather than hold its thread past the limit.
    #[error("timeout: waited in `{call}` on something not ready at once (a plugin's clock is stopped, so no wait ends within its {limit_ms} ms limit)")]
    Blocked { call: String, limit_ms: u64 },
    #[error(
        "out_of_memory: its memories and tables together tried to grow past {limit_bytes} bytes"
    )]
    OutOfMemory { limit_bytes: usize },
    #[error("out_of_memory: its tables together tried to grow past {limit_elements} elements")]
    OutOfTableElements { limit_elements: usize },
    /// It handed the host more than its limit in one call (a return value
    /// or an import's arguments), e.g. one buffer aliased many times.
    #[error("output_too_large: handed the host more than {limit_bytes} bytes in one call")]
    OutputTooLarge { limit_bytes: usize },
    /// It held more resources (WASI streams, pollables, handles) at once
    /// than an evaluation may.
    #[error("too_many_resources: held more than {limit} resources at once")]
    TooManyResources { limit: usize },
    #[error("stack_overflow: the wasm call stack was exhausted")]
    StackOverflow,
    #[error("trap: {message}")]
    Trap { message: String },
    #[error("invalid_output: {message}")]
    InvalidOutput { message: String },
    /// The plugin ran and returned an error of its own, e.g. bad params.
    #[error("plugin_error: {message}")]
    PluginError { message: String },
    /// The caller asked a plugin of one kind to do another kind's job.
    #[error("wrong_kind: {message}")]
    WrongKind { message: String },
    /// The host could not give the plugin an instance (e.g. every pooled
    /// slot is busy). A host fault, not the plugin's.
    #[error("unavailable: {message}")]
    Unavailable { message: String },
}

impl EvalFailure {
    /// A stable code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            EvalFailure::Timeout { .. } | EvalFailure::Blocked { .. } => "timeout",
            EvalFailure::OutOfMemory { .. } | EvalFailure::OutOfTableElements { .. } => {
                "out_of_memory"
            }
            EvalFailure::OutputTooLarge { .. } => "output_too_large",
            EvalFailure::TooManyResources { .. } => "too_many_resources",
            EvalFailure::StackOverflow => "stack_overflow",
            EvalFailure::Trap { .. } => "trap",
            EvalFailure::InvalidOutput { .. } => "invalid_output",
            EvalFailure::PluginError { .. } => "plugin_error",
            EvalFailure::WrongKind { .. } => "wrong_kind",
            EvalFailure::Unavailable { .. } => "unavailable",
        }
    }
}

/// Why the host refused a value a plugin returned: well-typed as the WIT
/// says, but outside what the domain accepts. Becomes
/// [`EvalFailure::InvalidOutput`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("{field} is {value}, not a finite number")]
    NotFinite { field: &'static str, value: f64 },
    /// The domain's own check refused it; its message says why. Boxed, so
    /// the domain's error type is kept whatever it is.
    #[error(transparent)]
    Refused(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// A failed evaluation, naming the plugin and version that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin `{plugin}` {version}: {failure}")]
pub struct EvalError {
    pub plugin: String,
    pub version: String,
    pub failure: EvalFailure,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("manifest {path}: {error}")]
    ManifestInvalid {
        path: PathBuf,
        #[source]
        /// Boxed: a TOML error is large, and `LoadError` is returned often.
        error: Box<super::manifest::ManifestError>,
    },
    #[error("plugin `{plugin}`: not a valid component: {message}")]
    Compile { plugin: String, message: String },
    /// Not compiled: over a compile bound, or the host could not compile.
    #[error("plugin `{plugin}`: {error}")]
    CompileRefused {
        plugin: String,
        error: super::cache::CompileError,
    },
    #[error("plugin `{plugin}`: does not implement the `{world}` world: {message}")]
    WorldMismatch {
        plugin: String,
        world: &'static str,
        message: String,
    },
    /// Built against a version of the WIT package this host does not
    /// serve (a newer one, or one too old to load).
    #[error("plugin `{plugin}`: built against `regent:policy@{built_for}`, but this host serves `regent:policy@{serves}` (and still loads {also}): rebuild it against {serves} with this host's SDK (`regent plugin build`), or for other toolchains with this host's `wit/` directory")]
    PackageVersion {
        plugin: String,
        built_for: String,
        serves: &'static str,
        also: String,
    },
    #[error("plugin `{plugin}`: describe() disagrees with the manifest: {message}")]
    DescribeMismatch { plugin: String, message: String },
    #[error("plugin `{plugin}`: its params were refused: {message}")]
    InvalidParams { plugin: String, message: String },
    #[error("plugin `{plugin}`: describe() failed: {error}")]
    Describe { plugin: String, error: EvalError },
    #[error("plugin `{plugin}`: {message}")]
    Other { plugin: String, message: String },
}

/// Why the runtime itself could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {0}")]
pub struct RuntimeError(pub String);
