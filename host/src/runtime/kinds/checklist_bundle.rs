//! `checklist-bundle`: several checklist items in one component, evaluated
//! in one call on one instance per assessment.

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::{Configuration, Description, Kind, Prepared};
use crate::domain::readiness::{self, ContextScope};
use crate::domain::PluginKind;
use crate::evaluation::{parse_input, to_json, EvaluationError, PluginInput};
use crate::runtime::bindings::types as wit;
use crate::runtime::convert::{self, ItemRequestView};
use crate::runtime::error::{EvalError, EvalFailure, LoadError};
use crate::runtime::exports::checked_export;
use crate::runtime::host_state::HostState;
use crate::runtime::{ChecklistEntry, LoadedPlugin, PluginRuntime};

mod bindings {
    wasmtime::component::bindgen!({
        world: "checklist-bundle",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

checked_export! {
    /// `checklist-bundle.evaluate-items`.
    EvaluateBundle, "evaluate-items",
    fn(context: &'a wit::ReadinessContext, items: &'a [ItemRequestView<'a>])
        -> Vec<Result<wit::ItemVerdict, String>>
}

/// A loaded bundle: its world's pre-instance and its checked
/// `evaluate-items`.
pub(crate) struct ChecklistBundle {
    pre: bindings::ChecklistBundlePre<HostState>,
    evaluate: EvaluateBundle,
}

pub(super) struct ChecklistBundleKind;
pub(super) static KIND: ChecklistBundleKind = ChecklistBundleKind;

impl Kind for ChecklistBundleKind {
    fn kind(&self) -> PluginKind {
        PluginKind::ChecklistBundle
    }

    fn exports(&self) -> &'static [&'static str] {
        &[
            "describe",
            "validate-params",
            "context-scope",
            "evaluate-items",
        ]
    }

    fn shadow_source(&self) -> &'static str {
        "readiness"
    }

    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>> {
        Ok(Box::new(ChecklistBundle {
            pre: bindings::ChecklistBundlePre::new(instance_pre.clone())?,
            evaluate: EvaluateBundle::check(instance_pre, scratch)?,
        }))
    }

    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError> {
        Ok(PluginInput::Readiness(parse_input(self.kind(), input)?))
    }

    /// Every item of the bundle on one context, keyed by item id, so a
    /// fixture can name just the items it checks. Items fail closed, as in
    /// an assessment: an item's error is its `detail`, with the code in
    /// `error`.
    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        bundle: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError> {
        let ctx: readiness::ReadinessContext = parse_input(self.kind(), input)?;
        let entries: Vec<ChecklistEntry<'_>> = (0..bundle.summary().items.len())
            .map(|index| ChecklistEntry::Bundled { bundle, index })
            .collect();
        let results = runtime
            .assess(&entries, &ctx)
            .items
            .iter()
            .map(|item| Ok((item.info.id.clone(), to_json(item)?)))
            .collect::<Result<serde_json::Map<String, Value>, EvaluationError>>()?;
        Ok(Value::Object(results))
    }
}

impl Prepared for ChecklistBundle {
    fn describe(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Description, EvalError> {
        let d = runtime.run(plugin, |s| {
            Ok(Ok(self.pre.instantiate(&mut *s)?.call_describe(&mut *s)?))
        })?;
        let items: Vec<readiness::ItemInfo> = d.items.into_iter().map(convert::item_info).collect();
        let mut problems = Vec::new();
        if items.is_empty() {
            problems.push("the bundle describes no items".to_string());
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|earlier| earlier.id == item.id) {
                problems.push(format!("item `{}` is described twice", item.id));
            }
        }
        Ok(Description {
            items,
            problems,
            ..Description::of_plugin(d.plugin)
        })
    }

    /// Splits the bundle's `[params]` into one table per item, refusing a
    /// table that names no item (a typo would otherwise silently leave the
    /// item on its defaults), lets each item check its own, then asks each
    /// item once what it reads: the bundle is handed the union.
    fn configure(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Configuration, LoadError> {
        let invalid = |message: String| LoadError::InvalidParams {
            plugin: plugin.name().to_string(),
            message,
        };
        let tables: serde_json::Map<String, Value> = serde_json::from_str(&plugin.params_json)
            .map_err(|e| invalid(format!("params are not a table: {e}")))?;
        let mut items = plugin.info.items.clone();
        let ids: Vec<String> = items.iter().map(|i| i.item.id.clone()).collect();
        let mut per_item = vec!["{}".to_string(); ids.len()];
        for (key, value) in &tables {
            let Some(index) = ids.iter().position(|id| id == key) else {
                return Err(invalid(format!(
                    "`[params.{key}]` names no item of this bundle (it has `{}`)",
                    ids.join("`, `")
                )));
            };
            if !value.is_object() {
                return Err(invalid(format!(
                    "`params.{key}` must be a table of that item's params, not {value}"
                )));
            }
            per_item[index] = value.to_string();
        }
        for (id, params) in ids.iter().zip(&per_item) {
            runtime
                .run(plugin, |s| {
                    self.pre
                        .instantiate(&mut *s)?
                        .call_validate_params(&mut *s, id, params)
                })
                .map_err(|e| invalid(format!("item `{id}`: {}", e.failure)))?;
        }
        let mut scopes = Vec::with_capacity(items.len());
        for (id, params) in ids.iter().zip(&per_item) {
            let scope = runtime
                .run(plugin, |s| {
                    self.pre
                        .instantiate(&mut *s)?
                        .call_context_scope(&mut *s, id, params)
                })
                .map_err(|e| invalid(format!("item `{id}`: context-scope: {}", e.failure)))?;
            scopes.push(convert::context_scope(scope));
        }
        let reads = ContextScope::union(&scopes);
        for ((item, params), scope) in items.iter_mut().zip(per_item).zip(scopes) {
            item.params_json = params;
            item.reads = scope;
        }
        Ok(Configuration {
            reads: Some(reads),
            items: Some(items),
        })
    }
}

impl PluginRuntime {
    /// Evaluates the items at `indexes` of a bundle in one call, on one
    /// fresh instance, each on its own params; one verdict per index, in
    /// order. If the call as a whole fails (a trap, a timeout, memory), one
    /// item may be to blame, so each item is retried alone on a fresh
    /// instance: a bad item fails by itself, not the whole bundle.
    pub fn evaluate_bundled(
        &self,
        bundle: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
        indexes: &[usize],
    ) -> Vec<Result<readiness::ItemVerdict, EvalError>> {
        let prepared: &ChecklistBundle = match bundle.prepared_as(PluginKind::ChecklistBundle) {
            Ok(prepared) => prepared,
            Err(error) => return indexes.iter().map(|_| Err(error.clone())).collect(),
        };
        let mut requests = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let Some(item) = bundle.info.items.get(index) else {
                let error = bundle.error(EvalFailure::WrongKind {
                    message: format!("has no item number {index}"),
                });
                return indexes.iter().map(|_| Err(error.clone())).collect();
            };
            requests.push(ItemRequestView {
                item: &item.item.id,
                params: &item.params_json,
            });
        }
        let ctx = match &bundle.info.reads {
            Some(scope) => convert::scoped(ctx, scope),
            None => std::borrow::Cow::Borrowed(ctx),
        };
        let outcome = self.run(bundle, |store| {
            prepared
                .evaluate
                .call(prepared.pre.instance_pre(), store, &ctx, &requests)
        });
        match outcome {
            Ok(verdicts) if verdicts.len() == requests.len() => verdicts
                .into_iter()
                .zip(&requests)
                .map(|(verdict, request)| {
                    let item = |message: String| format!("item `{}`: {message}", request.item);
                    match verdict {
                        Ok(v) => convert::item_verdict(v).map_err(|message| {
                            bundle.error(EvalFailure::InvalidOutput {
                                message: item(message.to_string()),
                            })
                        }),
                        Err(message) => Err(bundle.error(EvalFailure::PluginError {
                            message: item(convert::capped_text(message).0),
                        })),
                    }
                })
                .collect(),
            Ok(verdicts) => {
                let error = bundle.error(EvalFailure::InvalidOutput {
                    message: format!(
                        "returned {} verdicts for {} items",
                        verdicts.len(),
                        requests.len()
                    ),
                });
                requests.iter().map(|_| Err(error.clone())).collect()
            }
            Err(error) if indexes.len() == 1 => vec![Err(error)],
            Err(_) => indexes
                .iter()
                .flat_map(|&index| self.evaluate_bundled(bundle, &ctx, &[index]))
                .collect(),
        }
    }
}
