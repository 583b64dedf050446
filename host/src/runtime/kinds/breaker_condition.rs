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

/// The world as `regent:policy@0.1.0` had it, from the archived WIT, for
/// components built against 0.1.0. Only `metrics-window` differs (0.2.0
/// added the latency percentiles), but records are typed structurally, so
/// such a component's `evaluate` cannot be called with the 0.2.0 record:
/// it gets its own types, converted at the edge. `log` is the same
/// interface in both versions (the linker serves it under both names).
mod bindings_0_1 {
    wasmtime::component::bindgen!({
        world: "breaker-condition",
        path: "../wit/archive/0.1.0",
        with: {
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}
use bindings_0_1::regent::policy::types as wit_0_1;

checked_export! {
    /// `breaker-condition.evaluate`.
    EvaluateBreaker, "evaluate",
    fn(window: wit::MetricsWindow, params: &'a str) -> wit::BreakerVerdict
}

checked_export! {
    /// `breaker-condition.evaluate` of `regent:policy@0.1.0`: the window
    /// without the latency percentiles.
    EvaluateBreaker01, "evaluate",
    fn(window: wit_0_1::MetricsWindow, params: &'a str) -> wit_0_1::BreakerVerdict
}

/// A loaded breaker condition: its world's pre-instance and its checked
/// `evaluate`, for the package version it was built against.
pub(crate) enum BreakerCondition {
    Current {
        pre: bindings::BreakerConditionPre<HostState>,
        evaluate: EvaluateBreaker,
    },
    /// Built against `regent:policy@0.1.0`: it is handed the window without
    /// the latency figures, which it cannot read anyway.
    V0_1 {
        pre: bindings_0_1::BreakerConditionPre<HostState>,
        evaluate: EvaluateBreaker01,
    },
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
        let current_error = match BreakerCondition::current(instance_pre, scratch) {
            Ok(prepared) => return Ok(Box::new(prepared)),
            Err(error) => error,
        };
        // Not the 0.2.0 world; a component built against 0.1.0 (whose
        // `metrics-window` lacks the percentiles) still loads. Which one it
        // is shows in the export's type, not only in its import names: a
        // plugin that never logs imports nothing.
        match BreakerCondition::v0_1(instance_pre, scratch) {
            Ok(prepared) => Ok(Box::new(prepared)),
            // The 0.2.0 error is the one to act on: that is the world to
            // build against.
            Err(v0_1_error) => {
                tracing::debug!(error = %format!("{v0_1_error:#}"), "not a 0.1.0 breaker condition either");
                Err(current_error)
            }
        }
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
        let info = match self {
            Self::Current { pre, .. } => runtime.run(plugin, |s| {
                Ok(Ok(pre.instantiate(&mut *s)?.call_describe(&mut *s)?))
            })?,
            Self::V0_1 { pre, .. } => {
                let info = runtime.run(plugin, |s| {
                    Ok(Ok(pre.instantiate(&mut *s)?.call_describe(&mut *s)?))
                })?;
                plugin_info_0_1(info)
            }
        };
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

    fn package_version(&self) -> Option<&'static str> {
        Some(match self {
            Self::Current { .. } => crate::runtime::loader::PACKAGE_VERSION,
            Self::V0_1 { .. } => "0.1.0",
        })
    }
}

impl BreakerCondition {
    fn current(
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(Self::Current {
            pre: bindings::BreakerConditionPre::new(instance_pre.clone())?,
            evaluate: EvaluateBreaker::check(instance_pre, scratch)?,
        })
    }

    fn v0_1(
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(Self::V0_1 {
            pre: bindings_0_1::BreakerConditionPre::new(instance_pre.clone())?,
            evaluate: EvaluateBreaker01::check(instance_pre, scratch)?,
        })
    }

    fn validate_params(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        params_json: &str,
    ) -> Result<(), EvalError> {
        runtime.run(plugin, |s| match self {
            Self::Current { pre, .. } => pre
                .instantiate(&mut *s)?
                .call_validate_params(&mut *s, params_json),
            Self::V0_1 { pre, .. } => pre
                .instantiate(&mut *s)?
                .call_validate_params(&mut *s, params_json),
        })
    }
}

/// 0.1.0's `plugin-info`, the same record under the old package's name.
fn plugin_info_0_1(info: wit_0_1::PluginInfo) -> wit::PluginInfo {
    wit::PluginInfo {
        name: info.name,
        version: info.version,
        kind: match info.kind {
            wit_0_1::PluginKind::ChecklistItem => wit::PluginKind::ChecklistItem,
            wit_0_1::PluginKind::BreakerCondition => wit::PluginKind::BreakerCondition,
            wit_0_1::PluginKind::RiskScorer => wit::PluginKind::RiskScorer,
            wit_0_1::PluginKind::TaskMatcher => wit::PluginKind::TaskMatcher,
            wit_0_1::PluginKind::ChecklistBundle => wit::PluginKind::ChecklistBundle,
        },
        summary: info.summary,
    }
}

/// The window as 0.1.0 has it: the 0.2.0 window without its percentiles.
fn window_0_1(w: wit::MetricsWindow) -> wit_0_1::MetricsWindow {
    let m = w.metrics;
    let (s, i) = (m.by_status, w.incidents_by_severity);
    wit_0_1::MetricsWindow {
        now: w.now,
        metrics: wit_0_1::CommandMetrics {
            window_start: m.window_start,
            window_end: m.window_end,
            commands_total: m.commands_total,
            by_status: wit_0_1::StatusCounts {
                succeeded: s.succeeded,
                failed: s.failed,
                rejected: s.rejected,
                rolled_back: s.rolled_back,
            },
            success_rate: m.success_rate,
            error_rate: m.error_rate,
            approval_rate: m.approval_rate,
            rollback_rate: m.rollback_rate,
        },
        failures: w.failures,
        incidents_by_severity: wit_0_1::SeverityCounts {
            low: i.low,
            medium: i.medium,
            high: i.high,
            critical: i.critical,
        },
        critical_autonomous_incidents: w.critical_autonomous_incidents,
    }
}

fn verdict_0_1(v: wit_0_1::BreakerVerdict) -> wit::BreakerVerdict {
    wit::BreakerVerdict {
        tripped: v.tripped,
        observed: v.observed,
        reason: v.reason,
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
        let verdict = match breaker {
            BreakerCondition::Current { pre, evaluate } => self.run(plugin, |store| {
                evaluate.call(pre.instance_pre(), store, window, params_json)
            })?,
            BreakerCondition::V0_1 { pre, evaluate } => {
                let window = window_0_1(window);
                let verdict = self.run(plugin, |store| {
                    evaluate.call(pre.instance_pre(), store, window, params_json)
                })?;
                verdict_0_1(verdict)
            }
        };
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
