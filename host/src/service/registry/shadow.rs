//! Shadow runs: a candidate beside the active version on real inputs that
//! Regent recorded while serving.
//!
//! Inputs are sampled as they are served (at most one per kind per
//! interval, the newest N kept), plus the inputs of recorded
//! `POST /api/plugins/{name}/evaluate` calls of that plugin. Both are
//! recorded by the evaluation service (`service/evaluations.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::PluginRegistry;
use crate::domain::breaker::MetricsWindow;
use crate::domain::registry::{ShadowDifference, ShadowFailure, ShadowReport};
use crate::domain::{PluginKind, Timestamp};
use crate::evaluation::{evaluate_json, EvaluationError};
use crate::runtime::kinds;
use crate::runtime::{EvalError, LoadedPlugin, PluginRuntime};
use crate::storage::prelude::*;
use crate::storage::StorageError;

/// Records sampled inputs as they are served. Cheap when not sampling:
/// one mutex and a clock read, and the input is not even serialized.
pub struct ShadowRecorder {
    db: Option<Arc<dyn Store>>,
    interval: Duration,
    keep: u32,
    last: Mutex<HashMap<&'static str, Instant>>,
}

impl ShadowRecorder {
    pub fn new(db: Arc<dyn Store>, interval: Duration, keep: u32) -> Self {
        Self {
            db: Some(db),
            interval,
            keep,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Records nothing: for tools and tests that serve no traffic.
    pub fn disabled() -> Self {
        Self {
            db: None,
            interval: Duration::MAX,
            keep: 0,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Records `input()` under `source` if the source's interval has passed.
    /// A failure to record is logged, never the caller's problem.
    pub fn record(&self, source: &'static str, input: impl FnOnce() -> Value) {
        let Some(db) = &self.db else { return };
        if self.keep == 0 {
            return;
        }
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match last.get(source) {
                Some(at) if now.duration_since(*at) < self.interval => return,
                _ => {
                    last.insert(source, now);
                }
            }
        }
        if let Err(e) = db.record_shadow_input(source, &input(), self.keep, Timestamp::now()) {
            tracing::warn!(source, error = %e, "cannot record a shadow input");
        }
    }
}

/// One recorded input, ready to replay.
struct Case {
    label: String,
    recorded_at: Timestamp,
    input: Value,
    /// A breaker rule's own params, when the input was a rule's window.
    params: Option<String>,
}

/// What a breaker check records: the window and the rule that judged it.
pub(crate) fn breaker_input(
    rule: &str,
    plugin: &str,
    params: &str,
    window: &MetricsWindow,
) -> Value {
    serde_json::json!({ "rule": rule, "plugin": plugin, "params": params, "window": window })
}

impl PluginRegistry {
    /// Runs `candidate` and `active` on every recorded input of its kind,
    /// each with its own limits, and reports where they differ and where
    /// the candidate fails.
    pub(super) fn shadow_run(
        &self,
        candidate: &LoadedPlugin,
        active: Option<&LoadedPlugin>,
    ) -> Result<ShadowReport, StorageError> {
        let cases = self.recorded_cases(candidate)?;
        let mut report = ShadowReport {
            inputs: cases.len(),
            compared_with: active.map(|a| a.version().to_string()),
            ..ShadowReport::default()
        };
        for case in cases {
            let candidate_out = match replay(&self.runtime, candidate, &case) {
                Ok(v) => v,
                // An input this kind cannot read was recorded by an older
                // Regent: it says nothing about the candidate.
                Err(EvaluationError::BadInput { .. }) => {
                    report.inputs -= 1;
                    continue;
                }
                Err(EvaluationError::Plugin(e)) => {
                    report.failures.push(ShadowFailure {
                        input: case.label,
                        recorded_at: case.recorded_at,
                        code: e.failure.code().to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
                // A verdict the host cannot compare counts against the candidate.
                Err(e @ EvaluationError::Output(_)) => {
                    report.failures.push(ShadowFailure {
                        input: case.label,
                        recorded_at: case.recorded_at,
                        code: "invalid_output".to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let (active_out, active_error) = match active.map(|a| replay(&self.runtime, a, &case)) {
                None => (None, None),
                Some(Ok(v)) => (Some(v), None),
                Some(Err(e)) => (None, Some(e.to_string())),
            };
            if active_out.as_ref() == Some(&candidate_out) {
                report.identical += 1;
            } else {
                report.differences.push(ShadowDifference {
                    input: case.label,
                    recorded_at: case.recorded_at,
                    active: active_out,
                    candidate: candidate_out,
                    active_error,
                });
            }
        }
        Ok(report)
    }

    fn recorded_cases(&self, candidate: &LoadedPlugin) -> Result<Vec<Case>, StorageError> {
        let keep = self.settings.shadow_inputs;
        let kind = candidate.kind();
        let sampled = self
            .db
            .shadow_inputs(kinds::of(kind).shadow_source(), keep)?;
        let mut cases: Vec<Case> = if kind == PluginKind::BreakerCondition {
            // A rule's window is replayed with that rule's params. A plugin
            // no rule uses yet is tried on other rules' windows with its
            // own params.
            let own: Vec<_> = sampled
                .iter()
                .filter(|r| r.input["plugin"] == candidate.name())
                .collect();
            let (records, use_rule_params) = if own.is_empty() {
                (sampled.iter().collect::<Vec<_>>(), false)
            } else {
                (own, true)
            };
            records
                .into_iter()
                .map(|r| Case {
                    label: format!("shadow:{}", r.id),
                    recorded_at: r.at,
                    input: r.input["window"].clone(),
                    params: if use_rule_params {
                        r.input["params"].as_str().map(str::to_string)
                    } else {
                        None
                    },
                })
                .collect()
        } else {
            sampled
                .into_iter()
                .map(|r| Case {
                    label: format!("shadow:{}", r.id),
                    recorded_at: r.at,
                    input: r.input,
                    params: None,
                })
                .collect()
        };
        cases.extend(
            self.db
                .recent_evaluations(Some(candidate.name()), keep)?
                .into_iter()
                .filter(|e| e.kind == kind)
                .map(|e| Case {
                    label: format!("evaluation:{}", e.id),
                    recorded_at: e.at,
                    input: e.input,
                    params: None,
                }),
        );
        Ok(cases)
    }
}

fn replay(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    case: &Case,
) -> Result<Value, EvaluationError> {
    match &case.params {
        Some(params) if plugin.kind() == PluginKind::BreakerCondition => {
            let window: MetricsWindow =
                serde_json::from_value(case.input.clone()).map_err(|e| {
                    EvaluationError::BadInput {
                        kind: plugin.kind(),
                        message: e.to_string(),
                    }
                })?;
            let verdict = runtime
                .evaluate_breaker_with(plugin, &window, params)
                .map_err(|e: EvalError| EvaluationError::Plugin(e))?;
            serde_json::to_value(verdict).map_err(EvaluationError::Output)
        }
        _ => evaluate_json(runtime, plugin, case.input.clone()).map(|e| e.output),
    }
}
