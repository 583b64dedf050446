//! Fuzz targets for what the host reads from outside: plugin manifests,
//! upload bodies and the JSON inputs of each plugin kind.
//!
//! Each target takes arbitrary bytes and panics only on a bug: a parser
//! that panics, an error without a message, or a value accepted that
//! breaks what the rest of the host relies on. `fuzz/` runs them under
//! libFuzzer (`make fuzz`); [`Mutator`] runs them for a fixed number of
//! inputs in `cargo test`, so every CI run fuzzes each one.
//!
//! A target reports a broken invariant by panicking, which is what
//! libFuzzer records as a crash: here `expect` states the invariant, so the
//! workspace's ban on it does not apply to this module.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::cell::RefCell;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::api::{read_upload, ApiError};
use crate::domain::PluginKind;
use crate::evaluation::{read_input, EvaluationError, PluginInput};
use crate::runtime::convert;
use crate::runtime::limits::{MAX_MEMORY_BYTES, MAX_TIMEOUT};
use crate::runtime::manifest::{check_name, Manifest};

/// Parses `data` as a manifest. A manifest that parses has a valid name,
/// a JSON object of params that overrides merge into, and limits within
/// the host's ceilings.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let manifest = match Manifest::parse(text) {
        Ok(m) => m,
        Err(error) => {
            let message = error.to_string();
            assert!(!message.trim().is_empty(), "an empty error for {text:?}");
            return;
        }
    };
    check_name(&manifest.name).expect("a parsed manifest's name is valid");
    assert!(!manifest.version.is_empty() && !manifest.version.contains(char::is_whitespace));
    let params: Value =
        serde_json::from_str(&manifest.params_json).expect("params_json is JSON text");
    assert!(params.is_object(), "params are a table: {params}");
    let limits = manifest.limits;
    assert!(!limits.timeout.is_zero() && limits.timeout <= MAX_TIMEOUT);
    assert!(limits.memory_bytes > 0 && limits.memory_bytes <= MAX_MEMORY_BYTES);
    let mut overridden = manifest.clone();
    overridden
        .override_params(&toml::Table::new())
        .expect("an empty override applies");
    let after: Value = serde_json::from_str(&overridden.params_json).expect("JSON after override");
    assert_eq!(after, params, "an empty override changed the params");
}

/// The boundary [`multipart_upload`] reads its body with.
pub const MULTIPART_BOUNDARY: &str = "regent-fuzz-boundary";

/// The largest component [`multipart_upload`] accepts; small, so the
/// fuzzer reaches the limit.
pub const MULTIPART_MAX_WASM: usize = 4096;

/// Reads `data` as the body of a plugin upload. Parts that come back are
/// within their limits; a refusal is a 400 or a 413 with a message.
pub fn multipart_upload(data: &[u8]) {
    thread_local! {
        static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
    }
    let request = Request::builder()
        .method("PUT")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("a request with a fixed header builds");
    let outcome = RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime builds")
        });
        runtime.block_on(async {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .expect("the content type is multipart");
            // A body that never ends would hang the fuzzer; none here can.
            tokio::time::timeout(
                Duration::from_secs(10),
                read_upload(&mut multipart, MULTIPART_MAX_WASM),
            )
            .await
            .expect("reading an in-memory body finishes")
        })
    });
    match outcome {
        Ok(parts) => {
            assert!(!parts.wasm.is_empty() && parts.wasm.len() <= MULTIPART_MAX_WASM);
            assert!(parts.manifest.len() <= 1 << 20);
            assert!(parts.signature.as_ref().is_none_or(|s| s.len() <= 16 << 10));
        }
        Err(ApiError::BadRequest(message)) | Err(ApiError::PayloadTooLarge(message)) => {
            assert!(!message.trim().is_empty(), "an empty refusal");
        }
        Err(other) => panic!("an upload body is refused as bad input, not with {other:?}"),
    }
}

/// Reads `data` as JSON input for a plugin kind (its first byte picks the
/// kind). An input that reads converts to the plugin's WIT records, and
/// reads back to itself from its own JSON.
pub fn plugin_input(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let kind = PluginKind::ALL[usize::from(selector) % PluginKind::ALL.len()];
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let input = match read_input(kind, value) {
        Ok(input) => input,
        Err(EvaluationError::BadInput { message, .. }) => {
            assert!(
                !message.trim().is_empty(),
                "an empty error for a {kind} input"
            );
            return;
        }
        Err(other) => panic!("reading an input ran a plugin: {other}"),
    };
    let json = match &input {
        PluginInput::Readiness(ctx) => {
            convert::readiness_context(ctx);
            serde_json::to_value(ctx)
        }
        PluginInput::Window(window) => {
            convert::metrics_window(window);
            serde_json::to_value(window)
        }
        PluginInput::Risk(risk) => {
            convert::events(&risk.events);
            serde_json::to_value(risk)
        }
        PluginInput::Match(request) => {
            convert::match_request(request);
            serde_json::to_value(request)
        }
    }
    .expect("an input that was read serializes");
    let again = read_input(kind, json.clone())
        .unwrap_or_else(|e| panic!("a {kind} input does not read back from {json}: {e}"));
    assert_eq!(again, input, "a {kind} input changed through its own JSON");
}

/// A deterministic mutational fuzzer for the bounded runs in `cargo test`:
/// no coverage feedback, but seeds, a dictionary of the format's tokens
/// and stacked mutations (including repeats, which build deep nesting)
/// reach the parsers' corners. `REGENT_FUZZ_INPUTS` raises the count.
pub struct Mutator<'a> {
    seeds: &'a [&'a [u8]],
    dictionary: &'a [&'a [u8]],
    rng: StdRng,
}

impl<'a> Mutator<'a> {
    pub fn new(seed: u64, seeds: &'a [&'a [u8]], dictionary: &'a [&'a [u8]]) -> Self {
        assert!(!seeds.is_empty(), "a mutator needs at least one seed");
        Self {
            seeds,
            dictionary,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The number of inputs a bounded run tries: `REGENT_FUZZ_INPUTS`, or
    /// `default`.
    pub fn inputs(default: usize) -> usize {
        std::env::var("REGENT_FUZZ_INPUTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    }

    fn token(&mut self) -> Vec<u8> {
        if !self.dictionary.is_empty() && self.rng.random_bool(0.7) {
            let i = self.rng.random_range(0..self.dictionary.len());
            return self.dictionary[i].to_vec();
        }
        let len = self.rng.random_range(1..=4);
        (0..len).map(|_| self.rng.random::<u8>()).collect()
    }

    fn mutate(&mut self, input: &mut Vec<u8>) {
        let at = |rng: &mut StdRng, len: usize| rng.random_range(0..=len);
        match self.rng.random_range(0..8) {
            0 if !input.is_empty() => {
                let i = self.rng.random_range(0..input.len());
                input[i] ^= 1 << self.rng.random_range(0..8);
            }
            1 if !input.is_empty() => {
                let i = self.rng.random_range(0..input.len());
                input[i] = self.rng.random();
            }
            2 if !input.is_empty() => {
                let start = self.rng.random_range(0..input.len());
                let end = self.rng.random_range(start..=input.len().min(start + 16));
                input.drain(start..end);
            }
            3 if !input.is_empty() => {
                // Copy a slice elsewhere: repeats brackets and sections.
                let start = self.rng.random_range(0..input.len());
                let end = self.rng.random_range(start..=input.len().min(start + 32));
                let chunk = input[start..end].to_vec();
                let to = at(&mut self.rng, input.len());
                input.splice(to..to, chunk);
            }
            4 => {
                // A token many times over: deep nesting, long runs.
                let token = self.token();
                let times = [2, 8, 64, 512, 4096][self.rng.random_range(0..5)];
                let to = at(&mut self.rng, input.len());
                input.splice(to..to, token.repeat(times));
            }
            5 => {
                let i = self.rng.random_range(0..self.seeds.len());
                let other = self.seeds[i];
                let from = self.rng.random_range(0..=other.len());
                let to = at(&mut self.rng, input.len());
                input.truncate(to);
                input.extend_from_slice(&other[from..]);
            }
            6 if !input.is_empty() => {
                let to = self.rng.random_range(0..input.len());
                input.truncate(to);
            }
            _ => {
                let token = self.token();
                let to = at(&mut self.rng, input.len());
                input.splice(to..to, token);
            }
        }
    }

    /// The next input: a seed under one to eight mutations.
    pub fn next_input(&mut self) -> Vec<u8> {
        let i = self.rng.random_range(0..self.seeds.len());
        let mut input = self.seeds[i].to_vec();
        for _ in 0..self.rng.random_range(1..=8) {
            self.mutate(&mut input);
        }
        input
    }

    /// Runs `target` on every seed, then on `inputs` mutated inputs. A panic
    /// is raised again with the input that caused it, escaped, to replay.
    pub fn run(&mut self, name: &str, inputs: usize, target: impl Fn(&[u8])) {
        for seed in self.seeds {
            run_one(name, seed, &target);
        }
        for _ in 0..inputs {
            let input = self.next_input();
            run_one(name, &input, &target);
        }
    }
}

fn run_one(name: &str, input: &[u8], target: &impl Fn(&[u8])) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(input)));
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "fuzz target `{name}` failed: {message}\ninput: {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// The bounded fuzz runs: a fixed number of inputs per target, the same
/// inputs every run (`REGENT_FUZZ_INPUTS` raises the count).
#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const INPUTS: usize = 20_000;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Every `<dir>/*/<file>` whose name ends in `suffix`, sorted.
    fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            for file in std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                if path.to_string_lossy().ends_with(suffix) {
                    found.push(path);
                }
            }
        }
        found.sort();
        found
    }

    fn as_slices(owned: &[Vec<u8>]) -> Vec<&[u8]> {
        owned.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn fuzz_the_breaker_expression_parser() {
        let seeds: &[&[u8]] = &[
            b"errorRate > 0.05",
            b"failures >= 3 or criticalIncidents > 0",
            b"not (errorRate > 0.05 and failures >= 3) or successRate < 0.9",
            b"((rollbackRate <= -0.5)) and approvalRate != 1 and lowIncidents == 2",
        ];
        let dictionary: &[&[u8]] = &[
            b"(",
            b")",
            b" and ",
            b" or ",
            b"not ",
            b">",
            b">=",
            b"<",
            b"<=",
            b"==",
            b"!=",
            b"=",
            b"!",
            b"-",
            b".",
            b"1e9",
            b"0.",
            b"errorRate",
            b"failures",
            b"\xc3\xa9",
        ];
        Mutator::new(1, seeds, dictionary).run(
            "expression",
            Mutator::inputs(INPUTS),
            expression::fuzz,
        );
    }

    #[test]
    fn fuzz_the_manifest_parser() {
        let mut owned: Vec<Vec<u8>> = files("plugins", ".toml")
            .into_iter()
            .chain(files("tests/fixtures", ".toml"))
            .filter(|p| p.file_name().is_some_and(|n| n != "Cargo.toml"))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        owned.push(
            b"name = \"x\"\nkind = \"risk-scorer\"\nversion = \"1\"\n[limits]\ntimeout_ms = 10000\nmemory_mib = 512\n[[fixtures]]\ninput = {}\nexpect = { error = \"trap\" }\n"
                .to_vec(),
        );
        assert!(owned.len() > 10, "the plugins' manifests are the seeds");
        let seeds = as_slices(&owned);
        let dictionary: &[&[u8]] = &[
            b"[",
            b"]",
            b"[[",
            b"]]",
            b"{",
            b"}",
            b"=",
            b"\"",
            b"'''",
            b"\"\"\"",
            b"\n",
            b",",
            b"[params]",
            b"[limits]",
            b"[[fixtures]]",
            b"timeout_ms = ",
            b"memory_mib = ",
            b"18446744073709551615",
            b"-1",
            b"0",
            b"1e400",
            b"nan",
            b"inf",
            b"1979-05-27T07:32:00Z",
            b"kind = \"checklist-bundle\"",
            b"a.b.c = 1",
            b"\\u0000",
            b"\xef\xbb\xbf",
        ];
        Mutator::new(2, &seeds, dictionary).run("manifest", Mutator::inputs(INPUTS), manifest);
    }

    fn part(name: &str, filename: Option<&str>, body: &[u8]) -> Vec<u8> {
        let mut out =
            format!("--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = filename {
            out += &format!("; filename=\"{f}\"");
        }
        out += "\r\nContent-Type: application/octet-stream\r\n\r\n";
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn body(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = parts.concat();
        out.extend_from_slice(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
        out
    }

    #[test]
    fn fuzz_the_multipart_upload_parser() {
        let wasm = part("wasm", Some("p.wasm"), b"\0asm\x0d\0\x01\0");
        let manifest = part(
            "manifest",
            None,
            b"name = \"p\"\nkind = \"risk-scorer\"\nversion = \"1\"\n",
        );
        let signature = part("signature", None, br#"{"key":"k","signature":"s"}"#);
        let owned = vec![
            body(&[wasm.clone(), manifest.clone()]),
            body(&[manifest.clone(), signature.clone(), wasm.clone()]),
            body(&[wasm.clone(), wasm.clone(), manifest.clone()]),
            body(&[
                part("wasm", None, &[7; MULTIPART_MAX_WASM + 1]),
                manifest.clone(),
            ]),
            body(&[part("wasm", None, b""), manifest.clone()]),
            body(&[part("manifest", None, b"\xff\xfe"), wasm.clone()]),
            body(&[part("other", None, b"x")]),
            body(&[]),
        ];
        let seeds = as_slices(&owned);
        let dictionary: &[&[u8]] = &[
            b"\r\n",
            b"\r\n\r\n",
            b"--",
            MULTIPART_BOUNDARY.as_bytes(),
            b"Content-Disposition: form-data; ",
            b"name=\"wasm\"",
            b"name=\"manifest\"",
            b"name=\"signature\"",
            b"name=",
            b"filename=\"",
            b"Content-Type: ",
            b"\"",
            b";",
            b"\0",
        ];
        Mutator::new(3, &seeds, dictionary).run(
            "multipart",
            Mutator::inputs(INPUTS),
            multipart_upload,
        );
    }

    #[test]
    fn fuzz_the_plugin_kinds_json_inputs() {
        // Seeds: each built-in plugin's fixture inputs, tagged with its kind.
        let mut owned = Vec::new();
        for manifest_path in files("plugins", ".toml") {
            if manifest_path.file_name().is_some_and(|n| n == "Cargo.toml") {
                continue;
            }
            let text = std::fs::read_to_string(&manifest_path).unwrap();
            let kind = Manifest::parse(&text).unwrap().kind;
            let selector = PluginKind::ALL.iter().position(|k| *k == kind).unwrap() as u8;
            let fixtures = manifest_path.parent().unwrap().join("fixtures");
            for fixture in std::fs::read_dir(fixtures).into_iter().flatten().flatten() {
                let fixture: Value =
                    serde_json::from_slice(&std::fs::read(fixture.path()).unwrap()).unwrap();
                let mut seed = vec![selector];
                seed.extend(serde_json::to_vec(&fixture["input"]).unwrap());
                owned.push(seed);
            }
        }
        for kind in 0..PluginKind::ALL.len() as u8 {
            owned.push([&[kind][..], b"{\"now\":\"2026-11-01T00:00:00Z\"}"].concat());
        }
        owned.sort();
        let seeds = as_slices(&owned);
        assert!(seeds.len() > 20, "the plugins' fixtures are the seeds");
        let dictionary: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"",
            b"null",
            b"true",
            b"-0",
            b"1e308",
            b"-1e308",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"4294967296",
            b"0.1",
            b"\"now\":",
            b"\"9999-12-31T23:59:59Z\"",
            b"\"0000-01-01T00:00:00Z\"",
            b"\"2026-11-01T00:00:00+23:59\"",
            b"\"severity\":\"critical\"",
            b"\"phase\":",
            b"\"L5\"",
            b"\"\\u0000\"",
            b"\"\\ud800\"",
        ];
        Mutator::new(4, &seeds, dictionary).run(
            "plugin-input",
            Mutator::inputs(INPUTS),
            plugin_input,
        );
    }
}
