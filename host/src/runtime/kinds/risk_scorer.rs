//! `risk-scorer`: scores governance events from many engines into risk
//! per category.

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::{params_refused, Configuration, Description, Kind, Prepared};
use crate::domain::risk::{GovernanceEvent, RiskAssessment, RiskInput};
use crate::domain::PluginKind;
use crate::evaluation::{parse_input, to_json, EvaluationError, PluginInput};
use crate::runtime::bindings::types as wit;
use crate::runtime::error::{EvalError, EvalFailure, LoadError};
use crate::runtime::exports::checked_export;
use crate::runtime::host_state::HostState;
use crate::runtime::{convert, LoadedPlugin, PluginRuntime};

mod bindings {
    wasmtime::component::bindgen!({
        world: "risk-scorer",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

checked_export! {
    /// `risk-scorer.score`.
    ScoreRisk, "score",
    fn(events: &'a [wit::GovernanceEvent], params: &'a str) -> wit::RiskAssessment
}

/// A loaded risk scorer: its world's pre-instance and its checked `score`.
pub(crate) struct RiskScorer {
    pre: bindings::RiskScorerPre<HostState>,
    score: ScoreRisk,
}

pub(super) struct RiskScorerKind;
pub(super) static KIND: RiskScorerKind = RiskScorerKind;

impl Kind for RiskScorerKind {
    fn kind(&self) -> PluginKind {
        PluginKind::RiskScorer
    }

    fn exports(&self) -> &'static [&'static str] {
        &["describe", "validate-params", "score"]
    }

    fn shadow_source(&self) -> &'static str {
        "risk"
    }

    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>> {
        Ok(Box::new(RiskScorer {
            pre: bindings::RiskScorerPre::new(instance_pre.clone())?,
            score: ScoreRisk::check(instance_pre, scratch)?,
        }))
    }

    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError> {
        Ok(PluginInput::Risk(parse_input(self.kind(), input)?))
    }

    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError> {
        let input: RiskInput = parse_input(self.kind(), input)?;
        to_json(&runtime.score_risk(plugin, &input.events)?)
    }
}

impl Prepared for RiskScorer {
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
        let params = plugin.params_json.as_str();
        runtime
            .run(plugin, |s| {
                self.pre
                    .instantiate(&mut *s)?
                    .call_validate_params(&mut *s, params)
            })
            .map_err(|e| params_refused(plugin, e))?;
        Ok(Configuration::default())
    }
}

impl PluginRuntime {
    pub fn score_risk(
        &self,
        plugin: &LoadedPlugin,
        events: &[GovernanceEvent],
    ) -> Result<RiskAssessment, EvalError> {
        let scorer: &RiskScorer = plugin.prepared_as(PluginKind::RiskScorer)?;
        let events = convert::events(events);
        let out = self.run(plugin, |store| {
            scorer.score.call(
                scorer.pre.instance_pre(),
                store,
                &events,
                &plugin.params_json,
            )
        })?;
        convert::risk_assessment(out).map_err(|message| {
            plugin.error(EvalFailure::InvalidOutput {
                message: message.to_string(),
            })
        })
    }
}
