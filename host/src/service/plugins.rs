//! The active plugins as the API shows them, evaluating one on a JSON
//! input (recorded, with its figures), and the recorded evaluations.

use std::sync::Arc;

use serde_json::Value;

use super::{PluginDeps, ServiceError, ServiceResult};
use crate::domain::Timestamp;
use crate::evaluation::{evaluate_json, Evaluated, EvaluationError};
use crate::runtime::PluginSummary;
use crate::storage::{Database, EvaluationRecord};

pub struct PluginService {
    db: Arc<Database>,
    plugin: PluginDeps,
}

fn unknown_plugin(name: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "no plugin named `{name}` (GET /api/plugins lists them)"
    ))
}

impl PluginService {
    pub(crate) fn new(db: Arc<Database>, plugin: PluginDeps) -> Self {
        Self { db, plugin }
    }

    /// Every active plugin.
    pub fn list(&self) -> Vec<PluginSummary> {
        self.plugin
            .plugins
            .current()
            .iter()
            .map(|p| p.summary().clone())
            .collect()
    }

    pub fn get(&self, name: &str) -> ServiceResult<PluginSummary> {
        let plugins = self.plugin.plugins.current();
        let plugin = plugins.get(name).ok_or_else(|| unknown_plugin(name))?;
        Ok(plugin.summary().clone())
    }

    /// How many plugins are active, and the active set's generation.
    pub fn active(&self) -> (usize, u64) {
        let plugins = self.plugin.plugins.current();
        (plugins.len(), plugins.generation())
    }

    /// Evaluates plugin `name` on a JSON input of its kind, and records the
    /// evaluation (and its figures) unless the input never reached it.
    /// Blocking.
    ///
    /// `input` is the caller's reading of its request, error and all: the
    /// name is looked up first, so an unknown plugin is "not found"
    /// whatever the body, and only then is an unreadable body the error.
    pub fn evaluate<E: From<ServiceError>>(
        &self,
        name: &str,
        input: Result<Value, E>,
    ) -> Result<Evaluated, E> {
        let plugin = self
            .plugin
            .plugins
            .current()
            .get(name)
            .ok_or_else(|| unknown_plugin(name))?
            .clone();
        let input = input?;
        Ok(self.evaluate_plugin(&plugin, input)?)
    }

    fn evaluate_plugin(
        &self,
        plugin: &Arc<crate::runtime::LoadedPlugin>,
        input: Value,
    ) -> ServiceResult<Evaluated> {
        let outcome = evaluate_json(&self.plugin.runtime, plugin, input.clone());
        let (output, error_code, error, elapsed_us) = match &outcome {
            Ok(e) => (Some(e.output.clone()), None, None, e.elapsed_us),
            Err(EvaluationError::Plugin(e)) => (
                None,
                Some(e.failure.code().to_string()),
                Some(e.to_string()),
                0,
            ),
            // Bad input never reached the plugin: nothing to record.
            Err(EvaluationError::BadInput { .. }) => return outcome.map_err(from_evaluation),
        };
        self.plugin.exporter.plugin_evaluated(
            plugin.name(),
            plugin.kind(),
            std::time::Duration::from_micros(elapsed_us),
            outcome.is_err(),
        );
        self.db.record_evaluation(&EvaluationRecord {
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
        outcome.map_err(from_evaluation)
    }

    /// Recorded evaluations, newest first, optionally of one plugin.
    pub fn evaluations(
        &self,
        plugin: Option<&str>,
        limit: u32,
    ) -> ServiceResult<Vec<EvaluationRecord>> {
        Ok(self.db.recent_evaluations(plugin, limit)?)
    }
}

/// The same statuses the API gave an evaluation's error before it went
/// through the service: bad input is 400, a failing plugin its own.
fn from_evaluation(e: EvaluationError) -> ServiceError {
    match e {
        EvaluationError::BadInput { .. } => ServiceError::BadRequest(e.to_string()),
        EvaluationError::Plugin(e) => ServiceError::Plugin(e),
    }
}
