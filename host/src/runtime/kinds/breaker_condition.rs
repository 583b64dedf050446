//! `breaker-condition`: decides whether a circuit breaker trips for a
//! window of metrics. One plugin serves every rule that names it, each
//! with the rule's own params.

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::{params_refused, Configuration, Description, Kind, Prepared};
use crate::domain::breaker::{BreakerVerdict, MetricsWindow};
use crate::domain::PluginKind;
use crate::evaluation::{parse_input, to_json, EvaluationError, PluginInput};
use crate::runtime::bindings::types as wit;
use crate::runtime::error::{EvalError, EvalFailure, LoadError};
use crate::runtime::exports::checked_export;
use crate::runtime::host_state::HostState;
use crate::runtime::{convert, LoadedPlugin, PluginRuntime};

mod bindings {
    wasmtime::component::bindgen!({
        world: "breaker-condition",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

checked_export! {
    /// `breaker-condition.evaluate`.
    EvaluateBreaker, "evaluate",
    fn(window: wit::MetricsWindow, params: &'a str) -> wit::BreakerVerdict
}

/// A loaded breaker condition: its world's pre-instance and its checked
/// `evaluate`.
pub(crate) struct BreakerCondition {
    pre: bindings::BreakerConditionPre<HostState>,
    evaluate: EvaluateBreaker,
}

pub(super) struct BreakerConditionKind;
pub(super) static KIND: BreakerConditionKind = BreakerConditionKind;

impl Kind for BreakerConditionKind {
    fn kind(&self) -> PluginKind {
        PluginKind::BreakerCondition
    }

    fn exports(&self) -> &'static [&'static str] {
        &["describe", "validate-params", "evaluate"]
    }

    fn shadow_source(&self) -> &'static str {
        "breaker"
    }

    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>> {
        Ok(Box::new(BreakerCondition {
            pre: bindings::BreakerConditionPre::new(instance_pre.clone())?,
            evaluate: EvaluateBreaker::check(instance_pre, scratch)?,
        }))
    }

    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError> {
        Ok(PluginInput::Window(parse_input(self.kind(), input)?))
    }

    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError> {
        let window: MetricsWindow = parse_input(self.kind(), input)?;
        to_json(&runtime.evaluate_breaker(plugin, &window)?)
    }
}

impl Prepared for BreakerCondition {
    fn describe(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Description, EvalError> {
        let info = runtime.run(plugin, |s| {
            Ok(Ok(self.pre.instantiate(&mut *s)?.call_describe(&mut *s)?))
        })?;
        Ok(Description::of_plugin(info))
    }

    fn configure(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
    ) -> Result<Configuration, LoadError> {
        self.validate_params(runtime, plugin, &plugin.params_json)
            .map_err(|e| params_refused(plugin, e))?;
        Ok(Configuration::default())
    }
}

impl BreakerCondition {
    fn validate_params(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        params_json: &str,
    ) -> Result<(), EvalError> {
        runtime.run(plugin, |s| {
            self.pre
                .instantiate(&mut *s)?
                .call_validate_params(&mut *s, params_json)
        })
    }
}

impl PluginRuntime {
    pub fn evaluate_breaker(
        &self,
        plugin: &LoadedPlugin,
        window: &MetricsWindow,
    ) -> Result<BreakerVerdict, EvalError> {
        self.evaluate_breaker_with(plugin, window, &plugin.params_json)
    }

    /// Evaluates a breaker plugin with a rule's own params instead of its
    /// manifest's: one plugin serves every rule that names it.
    pub fn evaluate_breaker_with(
        &self,
        plugin: &LoadedPlugin,
        window: &MetricsWindow,
        params_json: &str,
    ) -> Result<BreakerVerdict, EvalError> {
        let breaker: &BreakerCondition = plugin.prepared_as(PluginKind::BreakerCondition)?;
        let window = convert::metrics_window(window);
        let verdict = self.run(plugin, |store| {
            breaker
                .evaluate
                .call(breaker.pre.instance_pre(), store, window, params_json)
        })?;
        convert::breaker_verdict(verdict).map_err(|message| {
            plugin.error(EvalFailure::InvalidOutput {
                message: message.to_string(),
            })
        })
    }

    /// Asks a breaker plugin whether it accepts `params_json`, as a rule is
    /// saved: a bad condition is refused then, with the plugin's message.
    pub fn validate_breaker_params(
        &self,
        plugin: &LoadedPlugin,
        params_json: &str,
    ) -> Result<(), EvalError> {
        let breaker: &BreakerCondition = plugin.prepared_as(PluginKind::BreakerCondition)?;
        breaker.validate_params(self, plugin, params_json)
    }
}
