//! A loaded plugin: its manifest, its compiled and pre-instantiated
//! component, and what it said about itself.

use std::sync::Arc;

use serde::Serialize;

use wasmtime::component::InstancePre;

use super::cache::CompileSource;
use super::error::{EvalError, EvalFailure};
use super::host_state::HostState;
use super::kinds::Prepared;
use super::limits::PluginLimits;
use crate::domain::readiness::{ContextScope, ItemInfo};
use crate::domain::{PluginKind, Timestamp};

pub struct LoadedPlugin {
    pub(crate) info: PluginSummary,
    pub(crate) params_json: String,
    pub(crate) limits: PluginLimits,
    pub(crate) name: Arc<str>,
    pub(crate) version: Arc<str>,
    /// The linked component. Instantiating from it skips import resolution
    /// on every evaluation.
    pub(crate) instance_pre: InstancePre<HostState>,
    /// The component typed by its kind's world, with its evaluation
    /// function checked once (`runtime/kinds/`).
    pub(crate) prepared: Box<dyn Prepared>,
}

/// What the host knows about a loaded plugin, as `GET /api/plugins` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<BundledItem>,
    pub timeout_ms: u64,
    pub memory_limit_bytes: usize,
    /// True for components that import WASI (componentize-py, jco); they
    /// get a WASI that grants nothing.
    pub uses_wasi: bool,
    /// The `regent:policy` WIT package version the component was built
    /// against, when the host can tell: from its exports' types where the
    /// versions differ (a breaker condition), else from the version its
    /// imports name. Absent for a component that imports nothing and whose
    /// world is the same in every version the host loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_package: Option<String>,
    pub compiled_from: CompileSource,
    pub compile_ms: f64,
}

/// One item of a loaded checklist bundle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundledItem {
    pub item: ItemInfo,
    /// What this item reads, with its params.
    pub reads: ContextScope,
    /// The manifest's `[params.<item id>]` as JSON text (`{}` if absent).
    #[serde(skip)]
    pub(crate) params_json: String,
}

impl LoadedPlugin {
    pub fn summary(&self) -> &PluginSummary {
        &self.info
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn version(&self) -> &str {
        &self.info.version
    }

    pub fn kind(&self) -> PluginKind {
        self.info.kind
    }

    pub fn params_json(&self) -> &str {
        &self.params_json
    }

    /// The prepared component as kind `P`, for that kind's evaluation
    /// calls; a plugin of another kind is refused as `wrong_kind`.
    pub(crate) fn prepared_as<P: Prepared>(&self, expected: PluginKind) -> Result<&P, EvalError> {
        let prepared: &dyn std::any::Any = &*self.prepared;
        prepared.downcast_ref::<P>().ok_or_else(|| {
            self.error(EvalFailure::WrongKind {
                message: format!("is a {}, not a {expected}", self.kind()),
            })
        })
    }

    pub(crate) fn error(&self, failure: EvalFailure) -> EvalError {
        EvalError {
            plugin: self.info.name.clone(),
            version: self.info.version.clone(),
            failure,
        }
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
