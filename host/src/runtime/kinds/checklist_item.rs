//! `checklist-item`: one item of the readiness checklist, judged on the
//! part of the readiness context it says it reads.

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::{params_refused, Configuration, Description, Kind, Prepared};
use crate::domain::readiness;
use crate::domain::PluginKind;
use crate::evaluation::{parse_input, to_json, EvaluationError, PluginInput};
use crate::runtime::bindings::checklist::ChecklistItemPre;
use crate::runtime::bindings::types as wit;
use crate::runtime::error::{EvalError, EvalFailure, LoadError};
use crate::runtime::exports::checked_export;
use crate::runtime::host_state::HostState;
use crate::runtime::{convert, LoadedPlugin, PluginRuntime};

checked_export! {
    /// `checklist-item.evaluate`.
    EvaluateItem, "evaluate",
    fn(context: &'a wit::ReadinessContext, params: &'a str) -> wit::ItemVerdict
}

/// A loaded checklist item: its world's pre-instance and its checked
/// `evaluate`.
pub(crate) struct ChecklistItem {
    pre: ChecklistItemPre<HostState>,
    evaluate: EvaluateItem,
}

pub(super) struct ChecklistItemKind;
pub(super) static KIND: ChecklistItemKind = ChecklistItemKind;

impl Kind for ChecklistItemKind {
    fn kind(&self) -> PluginKind {
        PluginKind::ChecklistItem
    }

    fn exports(&self) -> &'static [&'static str] {
        &["describe", "validate-params", "context-scope", "evaluate"]
    }

    fn shadow_source(&self) -> &'static str {
        "readiness"
    }

    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>> {
        Ok(Box::new(ChecklistItem {
            pre: ChecklistItemPre::new(instance_pre.clone())?,
            evaluate: EvaluateItem::check(instance_pre, scratch)?,
        }))
    }

    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError> {
        Ok(PluginInput::Readiness(parse_input(self.kind(), input)?))
    }

    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError> {
        let ctx: readiness::ReadinessContext = parse_input(self.kind(), input)?;
        let verdict = runtime.evaluate_item(plugin, &convert::readiness_context(&ctx))?;
        to_json(&verdict)
    }
}

impl Prepared for ChecklistItem {
    fn describe(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Description, EvalError> {
        let d = runtime.run(plugin, |s| {
            Ok(Ok(self.pre.instantiate(&mut *s)?.call_describe(&mut *s)?))
        })?;
        Ok(Description {
            item: Some(convert::item_info(d.item)),
            ..Description::of_plugin(d.plugin)
        })
    }

    /// Checks the params, then asks, once, which parts of the context the
    /// item reads with them; every evaluation then hands it only those.
    fn configure(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Configuration, LoadError> {
        let params = plugin.params_json.as_str();
        runtime
            .run(plugin, |s| {
                self.pre
                    .instantiate(&mut *s)?
                    .call_validate_params(&mut *s, params)
            })
            .map_err(|e| params_refused(plugin, e))?;
        let scope = runtime
            .run(plugin, |s| {
                self.pre
                    .instantiate(&mut *s)?
                    .call_context_scope(&mut *s, params)
            })
            .map_err(|e| LoadError::InvalidParams {
                plugin: plugin.name().to_string(),
                message: format!("context-scope: {}", e.failure),
            })?;
        Ok(Configuration {
            reads: Some(convert::context_scope(scope)),
            items: None,
        })
    }
}

impl PluginRuntime {
    /// Evaluates a checklist item on the part of `ctx` it reads. `ctx` is
    /// converted once by the caller ([`convert::readiness_context`]) and
    /// shared by every item.
    pub fn evaluate_item(
        &self,
        plugin: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
    ) -> Result<readiness::ItemVerdict, EvalError> {
        let item: &ChecklistItem = plugin.prepared_as(PluginKind::ChecklistItem)?;
        // Loading always asks for the scope; without one, nothing is withheld.
        let ctx = match &plugin.info.reads {
            Some(scope) => convert::scoped(ctx, scope),
            None => std::borrow::Cow::Borrowed(ctx),
        };
        let verdict = self.run(plugin, |store| {
            item.evaluate
                .call(item.pre.instance_pre(), store, &ctx, &plugin.params_json)
        })?;
        convert::item_verdict(verdict).map_err(|message| {
            plugin.error(EvalFailure::InvalidOutput {
                message: message.to_string(),
            })
        })
    }
}
