//! Plugin kinds. Each kind is one module here that owns everything the
//! host knows about its world: the facts the world fixes (its exports, the
//! inputs a candidate is shadow-run on), the checked evaluation export,
//! how a component is prepared, described and configured when it loads,
//! the typed evaluation call on [`PluginRuntime`], and how its input and
//! output read and write as JSON.
//!
//! The rest of the host reaches a kind through [`of`], the one place a
//! [`PluginKind`] is mapped to its module, and through the trait objects it
//! returns; nothing else matches on the kind to load or evaluate a plugin.
//! `docs/plugin-kinds.md` lists the steps to add one.

use std::any::Any;

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::bindings::types as wit;
use super::error::{EvalError, LoadError};
use super::host_state::HostState;
use super::plugin::{BundledItem, LoadedPlugin};
use super::PluginRuntime;
use crate::domain::readiness::{ContextScope, ItemInfo};
use crate::domain::PluginKind;
use crate::evaluation::{EvaluationError, PluginInput};

mod breaker_condition;
mod checklist_bundle;
mod checklist_item;
mod risk_scorer;
mod task_matcher;

/// The module of `kind`: the one dispatch from a kind to its code.
pub(crate) fn of(kind: PluginKind) -> &'static dyn Kind {
    match kind {
        PluginKind::ChecklistItem => &checklist_item::KIND,
        PluginKind::ChecklistBundle => &checklist_bundle::KIND,
        PluginKind::BreakerCondition => &breaker_condition::KIND,
        PluginKind::RiskScorer => &risk_scorer::KIND,
        PluginKind::TaskMatcher => &task_matcher::KIND,
    }
}

/// What a world fixes, and the work on a plugin that needs no loaded
/// instance of it: one unit value per kind, reached through [`of`].
pub(crate) trait Kind: Sync {
    fn kind(&self) -> PluginKind;

    /// The functions the world exports, evaluation function last.
    fn exports(&self) -> &'static [&'static str];

    /// Which inputs served to plugins of this kind are sampled, and so
    /// which recorded inputs a candidate of this kind is shadow-run on.
    /// Kinds that read the same input share a source.
    fn shadow_source(&self) -> &'static str;

    /// Type-checks the component against the world, once per version, and
    /// keeps what every evaluation reuses.
    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>>;

    /// Reads `input` as this kind's input, saying where it is malformed.
    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError>;

    /// Evaluates `plugin` (of this kind) on a JSON input, for the API,
    /// `regent plugin test`, fixtures and shadow runs.
    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError>;
}

/// A component prepared for its kind's world, kept by its [`LoadedPlugin`].
/// The kind's evaluation calls get their concrete type back with
/// [`LoadedPlugin::prepared_as`].
pub(crate) trait Prepared: Any + Send + Sync {
    /// Asks the plugin who it is.
    fn describe(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Description, EvalError>;

    /// Lets the plugin refuse its params now rather than fail every
    /// evaluation later, and asks what it reads, once.
    fn configure(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Configuration, LoadError>;

    /// The `regent:policy` version whose world the component's exports
    /// match, for a kind whose world changed between the versions the host
    /// loads; `None` where every version's world is the same.
    fn package_version(&self) -> Option<&'static str> {
        None
    }
}

/// What a plugin said about itself.
pub(crate) struct Description {
    pub plugin: wit::PluginInfo,
    /// The checklist item it provides, for a checklist item.
    pub item: Option<ItemInfo>,
    /// The items it provides, for a bundle.
    pub items: Vec<ItemInfo>,
    /// What is wrong with the description for this kind, beyond the name,
    /// version and kind every plugin is checked on.
    pub problems: Vec<String>,
}

impl Description {
    pub fn of_plugin(plugin: wit::PluginInfo) -> Self {
        Self {
            plugin,
            item: None,
            items: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// What loading learnt from a plugin's params.
#[derive(Default)]
pub(crate) struct Configuration {
    /// What a checklist item (or the union of a bundle's items) reads.
    pub reads: Option<ContextScope>,
    /// A bundle's items, with their own params and scopes; `None` keeps
    /// the described items as they are.
    pub items: Option<Vec<BundledItem>>,
}

/// A plugin's refusal of its params, as the load error that names it.
pub(crate) fn params_refused(plugin: &LoadedPlugin, error: EvalError) -> LoadError {
    LoadError::InvalidParams {
        plugin: plugin.name().to_string(),
        message: error.failure.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_served_by_its_own_module() {
        for kind in PluginKind::ALL {
            assert_eq!(of(kind).kind(), kind);
            assert_eq!(of(kind).exports()[0], "describe", "{kind}");
        }
    }

    #[test]
    fn checklist_plugins_share_the_readiness_inputs() {
        assert_eq!(of(PluginKind::ChecklistItem).shadow_source(), "readiness");
        assert_eq!(of(PluginKind::ChecklistBundle).shadow_source(), "readiness");
        assert_eq!(of(PluginKind::TaskMatcher).shadow_source(), "matcher");
    }
}
