//! Evaluating a plugin on JSON input: the one path shared by the HTTP API
//! and `regent plugin test`, so both read inputs and write outputs alike.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{
    breaker::MetricsWindow, matching::MatchRequest, readiness::ReadinessContext, risk::RiskInput,
    PluginKind,
};
use crate::runtime::kinds;
use crate::runtime::{EvalError, LoadedPlugin, Manifest, PluginRuntime};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluationError {
    /// The input does not have the shape the plugin's kind takes.
    #[error("invalid input for a {kind} plugin: {message}")]
    BadInput { kind: PluginKind, message: String },
    #[error(transparent)]
    Plugin(#[from] EvalError),
    /// The verdict could not be written as JSON. Refused rather than
    /// answered as `null`, which a caller could read as "no objection".
    #[error("cannot write the evaluation's output as JSON")]
    Output(#[source] serde_json::Error),
}

/// The output of one evaluation, with who decided it and how long it took.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evaluated {
    pub plugin: String,
    pub version: String,
    pub kind: PluginKind,
    #[schema(value_type = Object)]
    pub output: Value,
    pub elapsed_us: u64,
}

/// Reads `input` as a `kind` plugin's input type, saying where it is
/// malformed.
pub(crate) fn parse_input<T: DeserializeOwned>(
    kind: PluginKind,
    input: Value,
) -> Result<T, EvaluationError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("at `{path}`: ")
        };
        EvaluationError::BadInput {
            kind,
            message: format!("{at}{}", e.into_inner()),
        }
    })
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Value, EvaluationError> {
    // Domain outputs are plain structs of strings and numbers (non-finite
    // numbers are refused at the boundary), so this is not expected to fail.
    serde_json::to_value(value).map_err(EvaluationError::Output)
}

/// The input of one plugin kind, read from JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginInput {
    /// For a checklist item or a checklist bundle.
    Readiness(ReadinessContext),
    /// For a breaker condition.
    Window(MetricsWindow),
    /// For a risk scorer.
    Risk(RiskInput),
    /// For a task matcher.
    Match(MatchRequest),
}

/// Reads `input` as the input `kind` takes, saying where it is malformed:
/// the one reading of plugin inputs, shared by evaluation and fuzzing.
pub fn read_input(kind: PluginKind, input: Value) -> Result<PluginInput, EvaluationError> {
    kinds::of(kind).read_input(input)
}

/// Evaluates `plugin` on a JSON input of its kind. Records nothing: a
/// caller serving a decision goes through the evaluation service
/// (`service::evaluations`), which records it.
pub fn evaluate_json(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    input: Value,
) -> Result<Evaluated, EvaluationError> {
    let kind = plugin.kind();
    let started = Instant::now();
    let output = kinds::of(kind).evaluate_json(runtime, plugin, input)?;
    Ok(Evaluated {
        plugin: plugin.name().to_string(),
        version: plugin.version().to_string(),
        kind,
        output,
        elapsed_us: started.elapsed().as_micros() as u64,
    })
}

/// A test case: an input, and the output (or error code) it must give. A
/// `fixtures/*.json` file for `regent plugin test`, or a manifest's
/// `[[fixtures]]` entry, which gates a version's activation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub description: String,
    pub input: Value,
    /// Overrides of the manifest's params for this case.
    #[serde(default)]
    pub params: Option<serde_json::Map<String, Value>>,
    /// The output must contain these fields with these values.
    #[serde(default)]
    pub expect: Option<Value>,
    /// An error code (`plugin_error`, `timeout`, ...) the evaluation must fail with.
    #[serde(default, alias = "expect_error")]
    pub expect_error: Option<String>,
}

/// How a manifest's fixture failed. Each message ends with the fixture's
/// description, in parentheses, when it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The manifest's params are not a JSON object to merge the fixture's into.
    #[error(transparent)]
    Params(serde_json::Error),
    /// The component did not load with the fixture's params.
    #[error(transparent)]
    Load(Box<crate::runtime::LoadError>),
    #[error("{mismatch}{}", described(.description))]
    Mismatch {
        mismatch: String,
        description: String,
    },
    #[error("expected error `{code}`, got {output}{}", described(.description))]
    UnexpectedOutput {
        code: String,
        output: Value,
        description: String,
    },
    #[error("{error}{}", described(.description))]
    Failed {
        #[source]
        error: EvaluationError,
        description: String,
    },
}

fn described(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

/// Runs one fixture on a component; `Err` says how it failed. A fixture
/// with params of its own gets its own load of the component (compiled
/// once, so only describe and validation run again).
pub fn run_fixture(
    runtime: &PluginRuntime,
    wasm: &[u8],
    plugin: &LoadedPlugin,
    manifest: &Manifest,
    fixture: &Fixture,
) -> Result<(), FixtureError> {
    let reloaded;
    let plugin = match &fixture.params {
        None => plugin,
        Some(overrides) => {
            let mut manifest = manifest.clone();
            let mut params: serde_json::Map<String, Value> =
                serde_json::from_str(&manifest.params_json).map_err(FixtureError::Params)?;
            params.extend(overrides.clone());
            manifest.params_json = Value::Object(params).to_string();
            reloaded = runtime
                .load(wasm, manifest)
                .map_err(|e| FixtureError::Load(Box::new(e)))?;
            &reloaded
        }
    };
    let outcome = evaluate_json(runtime, plugin, fixture.input.clone());
    let description = fixture.description.clone();
    match (outcome, &fixture.expect_error) {
        (Ok(evaluated), None) => match fixture
            .expect
            .as_ref()
            .and_then(|e| subset_mismatch(e, &evaluated.output, "$"))
        {
            None => Ok(()),
            Some(mismatch) => Err(FixtureError::Mismatch {
                mismatch,
                description,
            }),
        },
        (Ok(evaluated), Some(code)) => Err(FixtureError::UnexpectedOutput {
            code: code.clone(),
            output: evaluated.output,
            description,
        }),
        (Err(EvaluationError::Plugin(e)), Some(code)) if e.failure.code() == code => Ok(()),
        (Err(error), _) => Err(FixtureError::Failed { error, description }),
    }
}

/// Where `actual` departs from `expected`, if anywhere. `expected` may
/// leave fields out: only what it names is compared.
pub fn subset_mismatch(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().find_map(|(k, ev)| match a.get(k) {
            Some(av) => subset_mismatch(ev, av, &format!("{path}.{k}")),
            None => Some(format!(
                "{path}.{k}: expected {ev}, but the output has no such field"
            )),
        }),
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (ev, av))| subset_mismatch(ev, av, &format!("{path}[{i}]"))),
        (Value::Number(e), Value::Number(a))
            if e.as_f64()
                .zip(a.as_f64())
                .is_some_and(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0)) =>
        {
            None
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_output_that_does_not_serialize_is_an_error_not_null() {
        // JSON object keys must be strings; a pair is not.
        let output = std::collections::BTreeMap::from([((1, 2), true)]);
        assert!(matches!(to_json(&output), Err(EvaluationError::Output(_))));
    }

    #[test]
    fn subset_ignores_unnamed_fields_and_reports_the_path() {
        let actual = json!({"passed": true, "detail": "x", "items": [{"id": 1}, {"id": 2}]});
        assert_eq!(
            subset_mismatch(&json!({"passed": true}), &actual, "$"),
            None
        );
        assert_eq!(
            subset_mismatch(&json!({"items": [{"id": 1}, {"id": 3}]}), &actual, "$"),
            Some("$.items[1].id: expected 3, got 2".into())
        );
        assert_eq!(
            subset_mismatch(&json!({"observed": 1}), &actual, "$"),
            Some("$.observed: expected 1, but the output has no such field".into())
        );
    }
}
