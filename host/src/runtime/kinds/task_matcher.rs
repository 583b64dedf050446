//! `task-matcher`: ranks candidate agents for a task.

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use super::{params_refused, Configuration, Description, Kind, Prepared};
use crate::domain::matching::{MatchRequest, Ranking};
use crate::domain::PluginKind;
use crate::evaluation::{parse_input, to_json, EvaluationError, PluginInput};
use crate::runtime::bindings::types as wit;
use crate::runtime::convert::{self, CandidateView};
use crate::runtime::error::{EvalError, EvalFailure, LoadError};
use crate::runtime::exports::checked_export;
use crate::runtime::host_state::HostState;
use crate::runtime::{LoadedPlugin, PluginRuntime};

mod bindings {
    wasmtime::component::bindgen!({
        world: "task-matcher",
        path: "../wit",
        with: {
            "regent:policy/types": crate::runtime::bindings::checklist::regent::policy::types,
            "regent:policy/log": crate::runtime::bindings::checklist::regent::policy::log,
        },
    });
}

checked_export! {
    /// `task-matcher.rank`.
    RankCandidates, "rank",
    fn(
        task: &'a wit::Task,
        candidates: &'a [CandidateView<'a>],
        policy: wit::AssignmentPolicy,
        params: &'a str
    ) -> wit::Ranking
}

/// A loaded task matcher: its world's pre-instance and its checked `rank`.
pub(crate) struct TaskMatcher {
    pre: bindings::TaskMatcherPre<HostState>,
    rank: RankCandidates,
}

pub(super) struct TaskMatcherKind;
pub(super) static KIND: TaskMatcherKind = TaskMatcherKind;

/// Reads a match request and checks it, so a matcher never sees, say, a
/// zero cost it would have to divide by.
fn read_request(input: Value) -> Result<MatchRequest, EvaluationError> {
    let kind = PluginKind::TaskMatcher;
    let request: MatchRequest = parse_input(kind, input)?;
    request.check().map_err(|e| EvaluationError::BadInput {
        kind,
        message: e.to_string(),
    })?;
    Ok(request)
}

impl Kind for TaskMatcherKind {
    fn kind(&self) -> PluginKind {
        PluginKind::TaskMatcher
    }

    fn exports(&self) -> &'static [&'static str] {
        &["describe", "validate-params", "rank"]
    }

    fn shadow_source(&self) -> &'static str {
        "matcher"
    }

    fn prepare(
        &self,
        instance_pre: &InstancePre<HostState>,
        scratch: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn Prepared>> {
        Ok(Box::new(TaskMatcher {
            pre: bindings::TaskMatcherPre::new(instance_pre.clone())?,
            rank: RankCandidates::check(instance_pre, scratch)?,
        }))
    }

    fn read_input(&self, input: Value) -> Result<PluginInput, EvaluationError> {
        Ok(PluginInput::Match(read_request(input)?))
    }

    fn evaluate_json(
        &self,
        runtime: &PluginRuntime,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> Result<Value, EvaluationError> {
        let request = read_request(input)?;
        to_json(&runtime.rank(plugin, &request)?)
    }
}

impl Prepared for TaskMatcher {
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
    /// Ranks candidates. Callers check the request first
    /// ([`MatchRequest::check`]), so a matcher never sees, say, a zero cost
    /// it would have to divide by.
    pub fn rank(
        &self,
        plugin: &LoadedPlugin,
        request: &MatchRequest,
    ) -> Result<Ranking, EvalError> {
        let matcher: &TaskMatcher = plugin.prepared_as(PluginKind::TaskMatcher)?;
        let r = convert::match_request(request);
        let out = self.run(plugin, |store| {
            matcher.rank.call(
                matcher.pre.instance_pre(),
                store,
                &r.task,
                &r.candidates,
                r.policy,
                &plugin.params_json,
            )
        })?;
        convert::ranking(out, request).map_err(|message| {
            plugin.error(EvalFailure::InvalidOutput {
                message: message.to_string(),
            })
        })
    }
}
