//! Plugin evaluations served to callers, and the one place they are
//! recorded.
//!
//! Every evaluation that serves a caller goes through
//! [`PluginEvaluator::evaluate`] (or one of its typed shorthands), which
//! records, for each evaluation:
//! - the evaluation metrics of every plugin it ran (count, errors, time);
//! - for a live decision, a sample of its input, which candidates of the
//!   same kind are later shadow-run on;
//! - for an evaluation asked for through the API, the evaluation row with
//!   its input and output, which is replayed to candidates too;
//! - a tracing span naming the plugin, its version, its kind and the
//!   outcome.
//!
//! Runs that serve no caller record nothing and call the runtime
//! directly: a candidate's fixtures and shadow runs at upload, and
//! `regent plugin test`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tracing::field;

use super::breakers::CheckError;
use super::registry::ShadowRecorder;
use super::{ServiceError, ServiceResult};
use crate::domain::breaker::BreakerVerdict;
use crate::domain::matching::{MatchRequest, Ranking};
use crate::domain::readiness::{Assessment, ReadinessContext};
use crate::domain::risk::{GovernanceEvent, RiskAssessment};
use crate::domain::{PluginKind, Timestamp};
use crate::evaluation::{evaluate_json, Evaluated, EvaluationError};
use crate::metrics::Metrics;
use crate::runtime::kinds;
use crate::runtime::{ChecklistEntry, EvalError, LoadedPlugin, PluginRuntime};
use crate::storage::prelude::*;
#[cfg(test)]
use crate::storage::SqliteStore;
use crate::storage::{EvaluationRecord, StorageError};

/// Runs plugins for callers, and records each evaluation.
pub struct PluginEvaluator {
    runtime: Arc<PluginRuntime>,
    exporter: Arc<Metrics>,
    db: Arc<dyn Store>,
    shadow: ShadowRecorder,
}

/// One evaluation: the plugins it runs, and what it records besides their
/// metrics and its span.
pub struct Evaluation<'a> {
    /// The kind evaluated; `None` for a checklist, whose items and bundles
    /// are of two kinds.
    kind: Option<PluginKind>,
    /// Each plugin once, in the order they serve.
    plugins: Vec<&'a LoadedPlugin>,
    /// The input, sampled for shadow runs under its kind's source; built
    /// only if the sampler takes this one.
    sample: Option<(&'static str, Sample<'a>)>,
}

/// A live input, built only if the sampler takes it.
type Sample<'a> = Box<dyn FnOnce() -> Value + 'a>;

impl<'a> Evaluation<'a> {
    /// A live decision by `plugin`: its input is sampled for candidates of
    /// the same kind.
    pub fn served(plugin: &'a LoadedPlugin, input: impl FnOnce() -> Value + 'a) -> Self {
        let input: Sample<'a> = Box::new(input);
        Self {
            kind: Some(plugin.kind()),
            plugins: vec![plugin],
            sample: Some((kinds::of(plugin.kind()).shadow_source(), input)),
        }
    }

    /// The checklist on a live context: one evaluation of every plugin that
    /// serves an item (a bundle serves many in one call). The context is
    /// sampled for candidates of both checklist kinds, which share it.
    pub fn checklist(
        checklist: &[ChecklistEntry<'a>],
        context: impl FnOnce() -> Value + 'a,
    ) -> Self {
        let context: Sample<'a> = Box::new(context);
        let source = kinds::of(PluginKind::ChecklistItem).shadow_source();
        Self {
            sample: Some((source, context)),
            ..Self::checklist_given(checklist)
        }
    }

    /// The checklist on a context a caller made up: measured, but not
    /// sampled, since it is no real input to shadow-run candidates on.
    pub fn checklist_given(checklist: &[ChecklistEntry<'a>]) -> Self {
        let mut plugins: Vec<&'a LoadedPlugin> = Vec::new();
        for entry in checklist {
            let plugin = entry.plugin();
            if !plugins.iter().any(|p| p.name() == plugin.name()) {
                plugins.push(plugin);
            }
        }
        Self {
            kind: None,
            plugins,
            sample: None,
        }
    }

    /// An evaluation that is neither sampled nor stored, only measured.
    fn measured(plugin: &'a LoadedPlugin) -> Self {
        Self {
            kind: Some(plugin.kind()),
            plugins: vec![plugin],
            sample: None,
        }
    }
}

/// How an evaluation ended, as [`PluginEvaluator`] records it.
pub trait Outcome {
    /// Whether `plugin` failed in it; `None` if no plugin ran (the input
    /// was refused first), in which case nothing is recorded.
    fn failed(&self, plugin: &LoadedPlugin) -> Option<bool>;
}

impl<T> Outcome for Result<T, EvalError> {
    fn failed(&self, _: &LoadedPlugin) -> Option<bool> {
        Some(self.is_err())
    }
}

impl Outcome for Result<BreakerVerdict, CheckError> {
    fn failed(&self, _: &LoadedPlugin) -> Option<bool> {
        Some(self.is_err())
    }
}

impl Outcome for Result<Evaluated, EvaluationError> {
    fn failed(&self, _: &LoadedPlugin) -> Option<bool> {
        match self {
            Ok(_) => Some(false),
            Err(EvaluationError::Plugin(_)) => Some(true),
            // Neither the plugin's fault: bad input never reached it, and
            // an output the host cannot encode is the host's.
            Err(EvaluationError::BadInput { .. } | EvaluationError::Output(_)) => None,
        }
    }
}

/// A plugin failed in an assessment if any item it serves failed.
impl Outcome for Assessment {
    fn failed(&self, plugin: &LoadedPlugin) -> Option<bool> {
        Some(
            self.items
                .iter()
                .any(|i| i.plugin == plugin.name() && i.error.is_some()),
        )
    }
}

impl PluginEvaluator {
    /// An evaluator that samples no inputs; see [`Self::with_shadow_recorder`].
    pub fn new(runtime: Arc<PluginRuntime>, exporter: Arc<Metrics>, db: Arc<dyn Store>) -> Self {
        Self {
            runtime,
            exporter,
            db,
            shadow: ShadowRecorder::disabled(),
        }
    }

    /// Samples live inputs with `recorder`.
    pub fn with_shadow_recorder(mut self, recorder: ShadowRecorder) -> Self {
        self.shadow = recorder;
        self
    }

    /// Runs `run` as `evaluation` and records it: the one call through
    /// which every served evaluation goes. `run` gets the runtime; it may
    /// run the plugin on another thread, as breaker checks do.
    pub fn evaluate<T: Outcome>(
        &self,
        evaluation: Evaluation<'_>,
        run: impl FnOnce(&Arc<PluginRuntime>) -> T,
    ) -> T {
        let span = evaluation_span(&evaluation);
        let _entered = span.enter();
        if let Some((source, input)) = evaluation.sample {
            self.shadow.record(source, input);
        }
        let started = Instant::now();
        let outcome = run(&self.runtime);
        let elapsed = started.elapsed();
        span.record(
            "outcome",
            self.record_metrics(&evaluation.plugins, &outcome, elapsed),
        );
        outcome
    }

    /// Evaluates `plugin` on a JSON input a caller sent
    /// (`POST /api/plugins/{name}/evaluate`), and stores the evaluation
    /// row; the rows are replayed to candidates, so the input is not
    /// sampled as well. An input the plugin's kind cannot read never
    /// reaches the plugin, and is not recorded.
    pub fn evaluate_requested(
        &self,
        plugin: &LoadedPlugin,
        input: Value,
    ) -> ServiceResult<Evaluated> {
        let outcome = self.evaluate(Evaluation::measured(plugin), |runtime| {
            evaluate_json(runtime, plugin, input.clone())
        });
        let (output, error_code, error, elapsed_us) = match &outcome {
            Ok(e) => (Some(e.output.clone()), None, None, e.elapsed_us),
            Err(EvaluationError::Plugin(e)) => (
                None,
                Some(e.failure.code().to_string()),
                Some(e.to_string()),
                0,
            ),
            Err(EvaluationError::BadInput { .. } | EvaluationError::Output(_)) => {
                return outcome.map_err(requested_error)
            }
        };
        self.record_row(&EvaluationRecord {
            id: 0,
            at: Timestamp::now(),
            plugin: plugin.name().to_string(),
            version: plugin.version().to_string(),
            kind: plugin.kind(),
            input,
            output,
            error_code,
            error,
            elapsed_us,
        })?;
        outcome.map_err(requested_error)
    }

    /// Runs the checklist on a live context, which is sampled.
    pub fn assess(&self, checklist: &[ChecklistEntry<'_>], ctx: &ReadinessContext) -> Assessment {
        let sample = || to_sample(ctx);
        self.evaluate(Evaluation::checklist(checklist, sample), |runtime| {
            runtime.assess(checklist, ctx)
        })
    }

    /// Runs the checklist on a context a caller made up: measured, but not
    /// sampled, since it is no real input.
    pub fn assess_given(
        &self,
        checklist: &[ChecklistEntry<'_>],
        ctx: &ReadinessContext,
    ) -> Assessment {
        self.evaluate(Evaluation::checklist_given(checklist), |runtime| {
            runtime.assess(checklist, ctx)
        })
    }

    /// Scores live events with a risk scorer.
    pub fn score_risk(
        &self,
        plugin: &LoadedPlugin,
        events: &[GovernanceEvent],
    ) -> Result<RiskAssessment, EvalError> {
        let sample = || serde_json::json!({ "events": events });
        self.evaluate(Evaluation::served(plugin, sample), |runtime| {
            runtime.score_risk(plugin, events)
        })
    }

    /// Ranks live candidates with a task matcher.
    pub fn rank(
        &self,
        plugin: &LoadedPlugin,
        request: &MatchRequest,
    ) -> Result<Ranking, EvalError> {
        let sample = || to_sample(request);
        self.evaluate(Evaluation::served(plugin, sample), |runtime| {
            runtime.rank(plugin, request)
        })
    }

    /// Records each plugin's evaluation metric, and returns the outcome
    /// for the span.
    fn record_metrics<T: Outcome>(
        &self,
        plugins: &[&LoadedPlugin],
        outcome: &T,
        elapsed: Duration,
    ) -> &'static str {
        let mut summary = "not_run";
        for plugin in plugins {
            let Some(failed) = outcome.failed(plugin) else {
                continue;
            };
            // The observe helper replaces the exporter: this is the one
            // line that writes the evaluation metrics.
            self.exporter
                .plugin_evaluated(plugin.name(), plugin.kind(), elapsed, failed);
            let label = if failed { "failed" } else { "ok" };
            if plugins.len() > 1 {
                tracing::debug!(
                    plugin = plugin.name(),
                    version = plugin.version(),
                    kind = %plugin.kind(),
                    outcome = label,
                    "checklist plugin evaluated"
                );
            }
            if summary != "failed" {
                summary = label;
            }
        }
        summary
    }

    fn record_row(&self, row: &EvaluationRecord) -> Result<(), StorageError> {
        self.db.record_evaluation(row)?;
        Ok(())
    }
}

/// The span of one evaluation. A checklist's names its plugins' count; each
/// plugin's outcome is a debug event inside it.
fn evaluation_span(evaluation: &Evaluation<'_>) -> tracing::Span {
    match (evaluation.kind, evaluation.plugins.as_slice()) {
        (Some(kind), [plugin]) => tracing::info_span!(
            "plugin_evaluation",
            plugin = plugin.name(),
            version = plugin.version(),
            kind = %kind,
            outcome = field::Empty,
        ),
        _ => tracing::info_span!(
            "plugin_evaluation",
            plugin = "checklist",
            plugins = evaluation.plugins.len(),
            version = field::Empty,
            kind = "checklist",
            outcome = field::Empty,
        ),
    }
}

/// A live input as a shadow sample.
fn to_sample<T: Serialize>(input: &T) -> Value {
    // Inputs are plain domain structs (non-finite numbers are refused at
    // the boundary); one that still fails to serialize is sampled as null,
    // which a shadow run reads as an input its kind cannot take and skips.
    serde_json::to_value(input).unwrap_or_default()
}

/// A requested evaluation's error as the service's: bad input is the
/// caller's, a plugin's failure is the plugin's.
fn requested_error(error: EvaluationError) -> ServiceError {
    match error {
        EvaluationError::BadInput { .. } => ServiceError::BadRequest(error.to_string()),
        EvaluationError::Plugin(e) => ServiceError::Plugin(e),
        e @ EvaluationError::Output(_) => ServiceError::Fault {
            what: "cannot answer an evaluation".into(),
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests;
