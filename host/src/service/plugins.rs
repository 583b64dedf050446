//! The active plugins as the API shows them, evaluating one on a JSON
//! input (recorded, with its figures), and the recorded evaluations.

use std::sync::Arc;

use serde_json::Value;

use super::{PluginDeps, ServiceError, ServiceResult};
use crate::evaluation::Evaluated;
use crate::runtime::PluginSummary;
use crate::storage::prelude::*;
use crate::storage::EvaluationRecord;

pub struct PluginService {
    db: Arc<dyn Store>,
    plugin: PluginDeps,
}

fn unknown_plugin(name: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "no plugin named `{name}` (GET /api/plugins lists them)"
    ))
}

impl PluginService {
    pub(crate) fn new(db: Arc<dyn Store>, plugin: PluginDeps) -> Self {
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
        self.plugin.evaluator.evaluate_requested(plugin, input)
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
