//! Benchmark (d) baseline: the same 22-item readiness checklist written in
//! Rego (`benches/rego/checklist.rego`) and evaluated by the `regorus` crate.
//!
//! Included by the bench target with `mod rego;`.

#![allow(dead_code)]

use anyhow::{anyhow, Context, Result};
use regorus::{Engine, Value};

/// Rego source of the checklist (package `regent.checklist`).
pub const CHECKLIST_REGO: &str = include_str!("rego/checklist.rego");

/// The rule whose single evaluation is one whole assessment: `{score, passed}`.
const RESULT_RULE: &str = "data.regent.checklist.result";

/// A regorus engine with the checklist policy loaded.
pub struct RegoChecklist {
    engine: Engine,
}

impl RegoChecklist {
    /// Parses and loads `checklist.rego` into a fresh engine.
    pub fn new() -> Result<Self> {
        let mut engine = Engine::new();
        engine
            .add_policy("checklist.rego".to_string(), CHECKLIST_REGO.to_string())
            .context("loading checklist.rego")?;
        Ok(Self { engine })
    }

    /// Sets the readiness context (already parsed once by the caller).
    pub fn set_input(&mut self, input: Value) {
        self.engine.set_input(input);
    }

    /// Evaluates the whole checklist; returns (score, ids of passed items sorted).
    pub fn assess(&mut self) -> Result<(u64, Vec<String>)> {
        let result = self
            .engine
            .eval_rule(RESULT_RULE.to_string())
            .context("evaluating data.regent.checklist.result")?;
        if result == Value::Undefined {
            return Err(anyhow!("{RESULT_RULE} is undefined (malformed input?)"));
        }
        let score = result["score"].as_u64().context("result.score")?;
        let passed = result["passed"]
            .as_array()
            .context("result.passed")?
            .iter()
            .map(|v| v.as_string().map(|s| s.to_string()))
            .collect::<Result<Vec<_>>>()
            .context("result.passed[_]")?;
        // `passed` is produced by Rego's sort(), so it is already sorted.
        Ok((score, passed))
    }
}

/// Parses the readiness context JSON into a regorus value.
pub fn input_from_json(json: &str) -> Result<Value> {
    Value::from_json_str(json).context("parsing readiness context JSON")
}
