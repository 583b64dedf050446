//! `regent plugin push|list|activate|rollback`: plugin versions on a running
//! server (`REGENT_URL`, `REGENT_TOKEN`; see [`super::remote`]). Pushing,
//! activating and rolling back need an admin's token; listing any token.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt as _;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::Value;

use super::remote::{decode, Remote, RemoteError};
use crate::wire::{
    ActivateBody, Activation, GateFailedBody, GateResult, PluginSummary, PluginVersion,
    RollbackBody, ShadowReport, UploadOutcome, VersionStatus, GATE_FAILED,
};

/// The server compiles, runs the fixtures and shadow-runs a candidate
/// before it answers.
const SLOW: Duration = Duration::from_secs(600);
/// Listing is a database read.
const QUICK: Duration = Duration::from_secs(30);
/// The component goes up in chunks of this size.
const CHUNK: usize = 64 << 10;
/// Files above this size show a progress line while they go up.
const PROGRESS_ABOVE: u64 = 256 << 10;
/// How many shadow differences (and failures) a summary shows.
const SHOWN: usize = 5;
/// Longest a JSON value is shown in a difference line.
const JSON_WIDTH: usize = 120;

const ADMIN: &str = "an admin's token to push, activate or roll back plugins";
const ANY: &str = "a token (any role may list plugins)";

/// The query flags of `PUT /api/plugins/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOptions {
    pub activate: bool,
    pub dry_run: bool,
    pub force: bool,
}

pub fn push_query(o: PushOptions) -> String {
    format!(
        "activate={}&dry_run={}&force={}",
        o.activate, o.dry_run, o.force
    )
}

/// What is printed once the component is up and the server is at work.
pub fn phase(o: PushOptions) -> &'static str {
    if o.dry_run {
        "validating (dry run)…"
    } else if o.activate {
        "validating and activating…"
    } else {
        "validating…"
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

/// `119 KiB` under a mebibyte, `2.6 MiB` from there.
fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1 << 10))
    } else {
        format!("{} MiB", mib(bytes))
    }
}

/// `pushing swap-item.wasm: 45% (1.2 of 2.6 MiB)`, without the leading `\r`.
pub fn progress_line(file: &str, sent: u64, total: u64) -> String {
    let percent = (sent * 100).checked_div(total).unwrap_or(100);
    format!(
        "pushing {file}: {percent}% ({} of {} MiB)",
        mib(sent),
        mib(total)
    )
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The component's bytes as a stream of chunks, drawing the progress line
/// (when `show`) as each is handed to the connection; `done` is set once
/// the last one is.
fn chunks(
    bytes: Vec<u8>,
    file: String,
    show: bool,
    done: Arc<AtomicBool>,
    phase: &'static str,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let total = bytes.len();
    futures_util::stream::iter((0..total).step_by(CHUNK)).map(move |start| {
        let end = (start + CHUNK).min(total);
        if show {
            eprint!("\r{}", progress_line(&file, end as u64, total as u64));
            if end == total {
                eprintln!();
                eprintln!("{phase}");
            }
        }
        if end == total {
            done.store(true, Ordering::Relaxed);
        }
        Ok(bytes[start..end].to_vec())
    })
}

/// Where `push` gets the signature it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignWith {
    /// A signature file from `regent plugin sign`.
    File(PathBuf),
    /// Signs what is sent with this secret key file.
    Key(PathBuf),
    /// `<file>.wasm.sig` if it exists, else unsigned.
    Beside,
}

/// The signature to send, checked against what is sent: a signature of
/// the old format, or of another component or manifest, is refused here,
/// before anything is uploaded, with how to sign again.
fn signature_to_send(
    sign: &SignWith,
    wasm: &Path,
    bytes: &[u8],
    manifest: &Path,
    manifest_text: &str,
) -> Result<Option<String>> {
    use crate::signing::{self, Statement};
    let statement = || {
        Statement::for_plugin(bytes, manifest_text)
            .map_err(|e| anyhow!("{}: {e}", manifest.display()))
    };
    let checked = |path: &Path| -> Result<String> {
        let text = read_text(path)?;
        let sig = signing::parse_signature(text.as_bytes())
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        sig.covers(&statement()?).map_err(|e| {
            anyhow!(
                "{} does not go with {}: {e}",
                path.display(),
                manifest.display()
            )
        })?;
        Ok(text)
    };
    match sign {
        SignWith::File(path) => checked(path).map(Some),
        SignWith::Beside => {
            let path = signing::signature_path(wasm);
            if !path.is_file() {
                return Ok(None);
            }
            eprintln!("signed: sending {}", path.display());
            checked(&path).map(Some)
        }
        SignWith::Key(key) => {
            let key = super::keys::read_key(key)?;
            let sig = signing::sign(&key, &statement()?);
            eprintln!("signed with key {}", sig.public_key);
            Ok(Some(serde_json::to_string(&sig)?))
        }
    }
}

/// `regent plugin push`.
pub fn push(wasm: &Path, manifest: &Path, sign: SignWith, options: PushOptions) -> Result<()> {
    let manifest_text = read_text(manifest)?;
    let name = crate::runtime::Manifest::parse(&manifest_text)
        .map_err(|e| anyhow!("{}: {e}", manifest.display()))?
        .name;
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let signature = signature_to_send(&sign, wasm, &bytes, manifest, &manifest_text)?;
    let remote = Remote::from_env_for(ADMIN)?;

    let file = wasm
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{name}.wasm"));
    let total = bytes.len() as u64;
    let show = total > PROGRESS_ABOVE;
    let phase = phase(options);
    let done = Arc::new(AtomicBool::new(false));
    let body = reqwest::Body::wrap_stream(chunks(bytes, file.clone(), show, done.clone(), phase));
    let path = format!("/api/plugins/{name}?{}", push_query(options));

    let result = Remote::block_on(async {
        let client = Remote::client(SLOW)?;
        let mut form = Form::new()
            .part(
                "wasm",
                Part::stream_with_length(body, total)
                    .file_name(file)
                    .mime_str("application/wasm")?,
            )
            .part(
                "manifest",
                Part::text(manifest_text).mime_str("application/toml")?,
            );
        if let Some(sig) = signature {
            form = form.part("signature", Part::text(sig).mime_str("application/json")?);
        }
        if !show {
            eprintln!("{phase}");
        }
        remote
            .send(remote.request(&client, Method::PUT, &path).multipart(form))
            .await
    });
    if show && !done.load(Ordering::Relaxed) {
        // The upload stopped part way: end the progress line.
        eprintln!();
    }
    let text = result.map_err(explain)?;
    let outcome: UploadOutcome = decode(&format!("PUT {path}"), &text)?;
    for line in push_summary(&outcome) {
        println!("{line}");
    }
    Ok(())
}

/// `regent plugin list [<name>]`.
pub fn list(name: Option<&str>) -> Result<()> {
    let remote = Remote::from_env_for(ANY)?;
    let lines = match name {
        None => {
            let plugins: Vec<PluginSummary> =
                remote.call_with(Method::GET, "/api/plugins", None::<&()>, QUICK)?;
            plugins_table(&plugins)
        }
        Some(name) => {
            let versions: Vec<PluginVersion> = remote.call_with(
                Method::GET,
                &format!("/api/plugins/{name}/versions"),
                None::<&()>,
                QUICK,
            )?;
            versions_table(name, &versions)
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// `regent plugin activate <name> <version>`.
pub fn activate(name: &str, version: &str, force: bool) -> Result<()> {
    let remote = Remote::from_env_for(ADMIN)?;
    let body = ActivateBody {
        version: version.to_string(),
    };
    let activation: Activation = remote
        .call_with(
            Method::POST,
            &format!("/api/plugins/{name}/activate?force={force}"),
            Some(&body),
            SLOW,
        )
        .map_err(explain)?;
    println!("{}", activation_line(&activation));
    Ok(())
}

/// `regent plugin rollback <name>`.
pub fn rollback(name: &str) -> Result<()> {
    let remote = Remote::from_env_for(ADMIN)?;
    let activation: Activation = remote
        .call_with(
            Method::POST,
            &format!("/api/plugins/{name}/rollback"),
            Some(&RollbackBody {}),
            SLOW,
        )
        .map_err(explain)?;
    println!("{}", activation_line(&activation));
    Ok(())
}

/// A refused candidate (`gate_failed`): prints how far it got and returns
/// `gate <gate> failed: <message>`. Other errors pass through.
fn explain(e: anyhow::Error) -> anyhow::Error {
    let Some(r) = e.downcast_ref::<RemoteError>() else {
        return e;
    };
    if r.code() != Some(GATE_FAILED) {
        return e;
    }
    match serde_json::from_str::<GateFailedBody>(&r.text) {
        Ok(body) => {
            let (lines, error) = gate_failure(&body);
            for line in lines {
                println!("{line}");
            }
            anyhow!(error)
        }
        // Still a refusal: say so, with what could not be read of it.
        Err(why) => anyhow!(
            "{r} (the gate_failed details are not what this regent can read: {why}; is the server another version?)"
        ),
    }
}

/// The lines to print for a `gate_failed` body, and the error to return.
pub fn gate_failure(body: &GateFailedBody) -> (Vec<String>, String) {
    let error = &body.error;
    let mut lines = Vec::new();
    if let Some(details) = &error.details {
        lines.extend(gate_lines(&details.gates));
        if let Some(shadow) = &details.shadow {
            lines.extend(shadow_lines(shadow));
        }
    }
    let message = &error.message;
    // The server's message may already say which gate.
    let message = if message.starts_with("gate ") {
        message.clone()
    } else {
        format!("gate {} failed: {message}", error.gate.as_str())
    };
    (lines, message)
}

fn elapsed(ms: f64) -> String {
    format!("{ms:.1}")
}

/// One line per gate: `  ok   compile   12.3 ms  <detail>`, a failed one
/// marked `FAIL`.
pub fn gate_lines(gates: &[GateResult]) -> Vec<String> {
    let name_width = gates
        .iter()
        .map(|g| g.gate.as_str().len())
        .max()
        .unwrap_or(0)
        .max("signature".len());
    let ms_width = gates
        .iter()
        .map(|g| elapsed(g.elapsed_ms).len())
        .max()
        .unwrap_or(0);
    gates
        .iter()
        .map(|g| {
            let mark = if g.passed { "ok" } else { "FAIL" };
            let detail = g.detail.trim();
            let line = format!(
                "  {mark:<4} {:<name_width$} {:>ms_width$} ms",
                g.gate.as_str(),
                elapsed(g.elapsed_ms),
            );
            if detail.is_empty() {
                line
            } else {
                format!("{line}  {detail}")
            }
        })
        .collect()
}

/// Compact JSON, cut at [`JSON_WIDTH`] characters.
fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= JSON_WIDTH {
        text
    } else {
        let cut: String = text.chars().take(JSON_WIDTH - 1).collect();
        format!("{cut}…")
    }
}

/// The shadow run: counts, then up to [`SHOWN`] differences and failures;
/// nothing when it ran on no inputs.
pub fn shadow_lines(shadow: &ShadowReport) -> Vec<String> {
    let inputs = shadow.inputs;
    if inputs == 0 {
        // Nothing ran (or the shadow gate was never reached): its gate
        // line, if any, says so.
        return Vec::new();
    }
    let against = match &shadow.compared_with {
        Some(v) => format!("against {v}"),
        None => "(no active version to compare with)".into(),
    };
    let (differences, failures) = (&shadow.differences, &shadow.failures);
    let mut lines = vec![format!(
        "shadow: {inputs} recorded input{} {against}: {} identical, {} different, {} failed",
        if inputs == 1 { "" } else { "s" },
        shadow.identical,
        differences.len(),
        failures.len(),
    )];
    for d in differences.iter().take(SHOWN) {
        let active = match (&d.active, &d.active_error) {
            (None, Some(e)) => format!("active failed ({e})"),
            (None, None) => "active none".into(),
            (Some(a), _) => format!("active {}", compact(a)),
        };
        lines.push(format!(
            "  {}: {active} -> candidate {}",
            d.input,
            compact(&d.candidate)
        ));
    }
    if differences.len() > SHOWN {
        lines.push(format!(
            "  … and {} more difference(s)",
            differences.len() - SHOWN
        ));
    }
    for f in failures.iter().take(SHOWN) {
        lines.push(format!("  {}: failed ({}): {}", f.input, f.code, f.error));
    }
    if failures.len() > SHOWN {
        lines.push(format!(
            "  … and {} more failure(s)",
            failures.len() - SHOWN
        ));
    }
    lines
}

/// `active: swap-item 2.0.0 (was 1.0.0), generation 7, live in 45.6 ms`.
pub fn activation_line(a: &Activation) -> String {
    let forced = if a.forced {
        ", forced past shadow failures"
    } else {
        ""
    };
    let downgrade = a
        .downgrade_from
        .as_deref()
        .map(|highest| format!(", a downgrade from {highest}"))
        .unwrap_or_default();
    format!(
        "active: {} {} (was {}), generation {}, live in {} ms{forced}{downgrade}",
        a.name,
        a.version,
        a.previous.as_deref().unwrap_or("none"),
        a.generation,
        elapsed(a.elapsed_ms),
    )
}

/// `swap-item 2.0.0 (checklist-item), 2.6 MiB, sha256 0123456789ab, signed by alice`.
fn version_line(v: &PluginVersion) -> String {
    let signer = match &v.signer {
        Some(s) => format!("signed by {s}"),
        None => "unsigned".into(),
    };
    format!(
        "{} {} ({}), {}, sha256 {}, {signer}",
        v.name,
        v.version,
        v.kind,
        size(v.size_bytes),
        short_sha(&v.sha256),
    )
}

/// What `push` prints for a 200 answer.
pub fn push_summary(outcome: &UploadOutcome) -> Vec<String> {
    let version = &outcome.version;
    let mut lines = vec![version_line(version)];
    lines.extend(gate_lines(&outcome.gates));
    lines.extend(shadow_lines(&outcome.shadow));
    let took = elapsed(outcome.elapsed_ms);
    lines.push(if let Some(activation) = &outcome.activation {
        activation_line(activation)
    } else if outcome.dry_run {
        format!("dry run: nothing stored (checked in {took} ms)")
    } else {
        let (name, number) = (&version.name, &version.version);
        // No gates ran: these very bytes were stored before.
        let again = outcome.gates.is_empty();
        match (version.status, again) {
            (VersionStatus::Active, _) => {
                format!("already active: {name} {number}; nothing changed")
            }
            (_, true) => format!(
                "already stored, not active; `regent plugin activate {name} {number}` makes it active"
            ),
            (_, false) => format!(
                "stored, not active (checked in {took} ms); `regent plugin activate {name} {number}` makes it active"
            ),
        }
    });
    lines
}

fn short_sha(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// `2025-05-01T09:30:12.123Z` as `2025-05-01 09:30:12Z`; none as `-`.
fn short_time(at: Option<crate::domain::Timestamp>) -> String {
    let Some(at) = at else {
        return "-".into();
    };
    let t = at.to_string();
    if t.len() >= 19 && t.is_char_boundary(19) && t.as_bytes()[10] == b'T' {
        let zone = if t.ends_with('Z') { "Z" } else { "" };
        format!("{} {}{zone}", &t[..10], &t[11..19])
    } else {
        t
    }
}

/// Rows as columns, each as wide as its widest cell; no trailing spaces.
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            line.join("  ").trim_end().to_string()
        })
        .collect()
}

/// `GET /api/plugins` as a table.
pub fn plugins_table(plugins: &[PluginSummary]) -> Vec<String> {
    if plugins.is_empty() {
        return vec!["no plugins loaded".into()];
    }
    let mut rows = vec![vec![
        "NAME".to_string(),
        "KIND".into(),
        "VERSION".into(),
        "SHA256".into(),
    ]];
    rows.extend(plugins.iter().map(|p| {
        vec![
            p.name.clone(),
            p.kind.to_string(),
            p.version.clone(),
            short_sha(&p.sha256),
        ]
    }));
    table(&rows)
}

/// `GET /api/plugins/{name}/versions` as a table, the active one marked
/// `*`, each rejected one followed by why.
pub fn versions_table(name: &str, versions: &[PluginVersion]) -> Vec<String> {
    if versions.is_empty() {
        return vec![format!("no versions of {name}")];
    }
    let mut rows = vec![[
        "",
        "VERSION",
        "STATUS",
        "UPLOADED",
        "BY",
        "SIGNER",
        "SIZE",
        "SHA256",
        "ACTIVATED",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(versions.iter().map(|v| {
        vec![
            if v.status == VersionStatus::Active {
                "*"
            } else {
                " "
            }
            .to_string(),
            v.version.clone(),
            v.status.as_str().to_string(),
            short_time(Some(v.uploaded_at)),
            v.uploaded_by.clone(),
            v.signer.clone().unwrap_or_else(|| "-".into()),
            size(v.size_bytes),
            short_sha(&v.sha256),
            short_time(v.activated_at),
        ]
    }));
    let lines = table(&rows);
    // Header, then each version with its rejection under it.
    let mut out = vec![lines[0].clone()];
    for (line, v) in lines[1..].iter().zip(versions) {
        out.push(line.clone());
        if let Some(why) = &v.rejection {
            out.push(format!("     rejected: {why}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::json;

    /// The JSON as the CLI reads it: through the shared wire types.
    fn typed<T: DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn outcome() -> Value {
        json!({
            "version": {
                "name": "swap-item", "kind": "checklist-item", "version": "2.0.0",
                "sha256": "0123456789abcdef0123", "sizeBytes": 2726297,
                "uploadedAt": "2025-05-01T09:30:12.123456Z", "uploadedBy": "alice",
                "signer": "ci", "status": "active", "activatedAt": "2025-05-01T09:30:12Z"
            },
            "dryRun": false,
            "gates": [
                {"gate": "signature", "passed": true, "elapsedMs": 0.2, "detail": "signed by ci"},
                {"gate": "compile", "passed": true, "elapsedMs": 812.34, "detail": ""},
                {"gate": "shadow", "passed": true, "elapsedMs": 12.3, "detail": "20 inputs"}
            ],
            "shadow": {
                "inputs": 20, "comparedWith": "1.0.0", "identical": 18,
                "differences": [
                    {"input": "shadow:12", "recordedAt": "2025-05-01T09:00:00Z",
                     "active": {"status": "met"}, "candidate": {"status": "unmet"}},
                    {"input": "shadow:13", "recordedAt": "2025-05-01T09:00:00Z",
                     "active": null, "candidate": {"status": "met"}, "activeError": "trap"}
                ],
                "failures": []
            },
            "activation": {
                "name": "swap-item", "version": "2.0.0", "previous": "1.0.0", "how": "upload",
                "forced": false, "generation": 7, "elapsedMs": 45.6
            },
            "elapsedMs": 901.2
        })
    }

    #[test]
    fn the_query_carries_every_flag() {
        let o = PushOptions {
            activate: true,
            dry_run: false,
            force: false,
        };
        assert_eq!(push_query(o), "activate=true&dry_run=false&force=false");
        let o = PushOptions {
            activate: false,
            dry_run: true,
            force: true,
        };
        assert_eq!(push_query(o), "activate=false&dry_run=true&force=true");
        assert_eq!(phase(o), "validating (dry run)…");
        assert_eq!(
            phase(PushOptions {
                activate: false,
                dry_run: false,
                force: false
            }),
            "validating…"
        );
    }

    #[test]
    fn the_progress_line_counts_mebibytes() {
        let total = 2_726_297; // 2.6 MiB
        assert_eq!(
            progress_line("swap-item.wasm", 1_258_291, total),
            "pushing swap-item.wasm: 46% (1.2 of 2.6 MiB)"
        );
        assert_eq!(
            progress_line("swap-item.wasm", total, total),
            "pushing swap-item.wasm: 100% (2.6 of 2.6 MiB)"
        );
        assert_eq!(
            progress_line("x.wasm", 0, 0),
            "pushing x.wasm: 100% (0.0 of 0.0 MiB)"
        );
    }

    #[test]
    fn the_chunks_are_the_file() {
        let bytes: Vec<u8> = (0..(CHUNK * 2 + 10)).map(|i| i as u8).collect();
        let done = Arc::new(AtomicBool::new(false));
        let stream = chunks(bytes.clone(), "x.wasm".into(), false, done.clone(), "…");
        assert!(!done.load(Ordering::Relaxed), "nothing is read until sent");
        let got: Vec<Vec<u8>> =
            Remote::block_on(async { Ok(stream.map(Result::unwrap).collect::<Vec<_>>().await) })
                .unwrap();
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [CHUNK, CHUNK, 10]
        );
        assert_eq!(got.concat(), bytes);
        assert!(done.load(Ordering::Relaxed));
    }

    #[test]
    fn a_signature_sits_beside_the_component() {
        assert_eq!(
            crate::signing::signature_path(Path::new("dist/swap-item.wasm")),
            std::path::PathBuf::from("dist/swap-item.wasm.sig")
        );
    }

    #[test]
    fn a_push_summary_shows_gates_shadow_and_outcome() {
        let lines = push_summary(&typed(outcome()));
        assert_eq!(
            lines,
            [
                "swap-item 2.0.0 (checklist-item), 2.6 MiB, sha256 0123456789ab, signed by ci",
                "  ok   signature   0.2 ms  signed by ci",
                "  ok   compile   812.3 ms",
                "  ok   shadow     12.3 ms  20 inputs",
                "shadow: 20 recorded inputs against 1.0.0: 18 identical, 2 different, 0 failed",
                r#"  shadow:12: active {"status":"met"} -> candidate {"status":"unmet"}"#,
                r#"  shadow:13: active failed (trap) -> candidate {"status":"met"}"#,
                "active: swap-item 2.0.0 (was 1.0.0), generation 7, live in 45.6 ms",
            ]
        );
    }

    #[test]
    fn a_push_that_does_not_activate_says_so() {
        let mut o = outcome();
        o["activation"] = Value::Null;
        o["version"]["status"] = json!("inactive");
        assert_eq!(
            push_summary(&typed(o.clone())).last().unwrap(),
            "stored, not active (checked in 901.2 ms); `regent plugin activate swap-item 2.0.0` makes it active"
        );
        let mut again = o.clone();
        again["gates"] = json!([]);
        assert_eq!(
            push_summary(&typed(again.clone())).last().unwrap(),
            "already stored, not active; `regent plugin activate swap-item 2.0.0` makes it active"
        );
        again["version"]["status"] = json!("active");
        assert_eq!(
            push_summary(&typed(again.clone())).last().unwrap(),
            "already active: swap-item 2.0.0; nothing changed"
        );
        o["dryRun"] = json!(true);
        assert_eq!(
            push_summary(&typed(o.clone())).last().unwrap(),
            "dry run: nothing stored (checked in 901.2 ms)"
        );
        o["shadow"] = json!({"inputs": 0, "comparedWith": null, "identical": 0, "differences": [], "failures": []});
        let lines = push_summary(&typed(o.clone()));
        assert!(!lines.iter().any(|l| l.starts_with("shadow:")), "{lines:?}");
    }

    #[test]
    fn activations_name_the_previous_version() {
        let a = json!({"name": "swap-item", "version": "1.0.0", "previous": null, "how": "rollback",
            "forced": true, "generation": 8, "elapsedMs": 3.04});
        assert_eq!(
            activation_line(&typed(a.clone())),
            "active: swap-item 1.0.0 (was none), generation 8, live in 3.0 ms, forced past shadow failures"
        );
        let a = json!({"name": "swap-item", "version": "1.0.0", "previous": "2.0.0", "how": "activate",
            "forced": false, "generation": 9, "elapsedMs": 3.04, "downgradeFrom": "2.0.0"});
        assert_eq!(
            activation_line(&typed(a.clone())),
            "active: swap-item 1.0.0 (was 2.0.0), generation 9, live in 3.0 ms, a downgrade from 2.0.0"
        );
    }

    #[test]
    fn a_gate_failure_lists_the_gates_that_ran() {
        let body = json!({"error": {
            "code": "gate_failed",
            "message": "failed on 1 of 3 recorded inputs",
            "gate": "shadow",
            "details": {
                "gates": [
                    {"gate": "compile", "passed": true, "elapsedMs": 5.0, "detail": "cached"},
                    {"gate": "shadow", "passed": false, "elapsedMs": 20.25, "detail": "1 failure"}
                ],
                "shadow": {"inputs": 3, "comparedWith": null, "identical": 0, "differences": [],
                    "failures": [{"input": "shadow:4", "recordedAt": "2025-05-01T09:00:00Z",
                        "code": "timeout", "error": "ran past 100 ms"}]}
            }
        }});
        let (lines, error) = gate_failure(&typed(body.clone()));
        assert_eq!(
            error,
            "gate shadow failed: failed on 1 of 3 recorded inputs"
        );
        assert_eq!(
            lines,
            [
                "  ok   compile    5.0 ms  cached",
                "  FAIL shadow    20.2 ms  1 failure",
                "shadow: 3 recorded inputs (no active version to compare with): 0 identical, 0 different, 1 failed",
                "  shadow:4: failed (timeout): ran past 100 ms",
            ]
        );
    }

    #[test]
    fn only_gate_failures_are_explained() {
        let e: anyhow::Error = RemoteError::of(
            reqwest::StatusCode::FORBIDDEN,
            r#"{"error":{"code":"forbidden","message":"needs the admin role"}}"#,
        )
        .into();
        assert_eq!(
            explain(e).to_string(),
            "403 Forbidden: needs the admin role"
        );
        let e: anyhow::Error = RemoteError::of(
            reqwest::StatusCode::BAD_REQUEST,
            r#"{"error":{"code":"gate_failed","message":"no","gate":"compile","details":{"gates":[]}}}"#,
        )
        .into();
        assert_eq!(explain(e).to_string(), "gate compile failed: no");
        let e: anyhow::Error = RemoteError::of(
            reqwest::StatusCode::BAD_REQUEST,
            r#"{"error":{"code":"gate_failed","message":"gate `world` failed: no","gate":"world"}}"#,
        )
        .into();
        assert_eq!(explain(e).to_string(), "gate `world` failed: no");
    }

    #[test]
    fn many_differences_are_cut_short() {
        let d: Vec<Value> = (0..7)
            .map(|i| json!({"input": format!("shadow:{i}"), "recordedAt": "2025-05-01T09:00:00Z", "active": {"v": "x".repeat(200)}, "candidate": i}))
            .collect();
        let lines = shadow_lines(&typed(
            json!({"inputs": 7, "comparedWith": "1.0.0", "identical": 0,
            "differences": d, "failures": []}),
        ));
        assert_eq!(lines.len(), 1 + SHOWN + 1);
        assert_eq!(lines.last().unwrap(), "  … and 2 more difference(s)");
        assert!(lines[1].contains('…') && lines[1].ends_with("-> candidate 0"));
    }

    #[test]
    fn lists_are_tables() {
        let plugins = json!([
            {"name": "swap-item", "kind": "checklist-item", "version": "2.0.0", "sha256": "0123456789abcdef", "summary": "x",
             "loadedAt": "2025-05-01T09:00:00Z", "timeoutMs": 100, "memoryLimitBytes": 1048576, "usesWasi": false,
             "compiledFrom": "disk", "compileMs": 1.0},
            {"name": "rate", "kind": "breaker-condition", "version": "1.10.0", "sha256": "fedcba9876543210", "summary": "",
             "loadedAt": "2025-05-01T09:00:00Z", "timeoutMs": 100, "memoryLimitBytes": 1048576, "usesWasi": false,
             "compiledFrom": "compiled", "compileMs": 1.0}
        ]);
        assert_eq!(
            plugins_table(&typed::<Vec<PluginSummary>>(plugins)),
            [
                "NAME       KIND               VERSION  SHA256",
                "swap-item  checklist-item     2.0.0    0123456789ab",
                "rate       breaker-condition  1.10.0   fedcba987654",
            ]
        );
        assert_eq!(plugins_table(&[]), ["no plugins loaded"]);

        let versions = json!([
            {"name": "swap-item", "kind": "checklist-item", "version": "3.0.0", "sha256": "aaaaaaaaaaaaaaaa",
             "sizeBytes": 121000, "uploadedAt": "2025-05-02T10:00:00.5Z", "uploadedBy": "bob",
             "signer": null, "status": "rejected", "activatedAt": null, "rejection": "fixtures: case 2 failed"},
            {"name": "swap-item", "kind": "checklist-item", "version": "2.0.0", "sha256": "bbbbbbbbbbbbbbbb",
             "sizeBytes": 2726297, "uploadedAt": "2025-05-01T09:30:12Z", "uploadedBy": "alice",
             "signer": "ci", "status": "active", "activatedAt": "2025-05-01T09:30:13Z"}
        ]);
        assert_eq!(
            versions_table("swap-item", &typed::<Vec<PluginVersion>>(versions)),
            [
                "   VERSION  STATUS    UPLOADED              BY     SIGNER  SIZE     SHA256        ACTIVATED",
                "   3.0.0    rejected  2025-05-02 10:00:00Z  bob    -       119 KiB  aaaaaaaaaaaa  -",
                "     rejected: fixtures: case 2 failed",
                "*  2.0.0    active    2025-05-01 09:30:12Z  alice  ci      2.6 MiB  bbbbbbbbbbbb  2025-05-01 09:30:13Z",
            ]
        );
        assert_eq!(versions_table("x", &[]), ["no versions of x"]);
    }

    /// What the server computes, as the server sends it.
    fn server_outcome() -> crate::domain::registry::UploadOutcome {
        use crate::domain::registry as d;
        use crate::domain::{PluginKind, Timestamp};
        let at = Timestamp::parse("2025-05-01T09:30:12.123Z").unwrap();
        d::UploadOutcome {
            version: d::PluginVersion {
                name: "swap-item".into(),
                kind: PluginKind::ChecklistItem,
                version: "2.0.0".into(),
                sha256: "0123456789abcdef0123".into(),
                size_bytes: 2_726_297,
                uploaded_at: at,
                uploaded_by: "alice".into(),
                signer: None,
                status: d::VersionStatus::Active,
                activated_at: Some(at),
                rejection: None,
            },
            dry_run: false,
            gates: vec![d::GateResult {
                gate: d::Gate::Compile,
                passed: true,
                elapsed_ms: 812.34,
                detail: String::new(),
            }],
            shadow: d::ShadowReport {
                inputs: 1,
                compared_with: None,
                identical: 0,
                differences: vec![d::ShadowDifference {
                    input: "shadow:1".into(),
                    recorded_at: at,
                    active: None,
                    candidate: json!({"status": "met"}),
                    active_error: None,
                }],
                failures: vec![],
            },
            activation: Some(d::Activation {
                name: "swap-item".into(),
                version: "2.0.0".into(),
                previous: None,
                how: d::ActivationKind::Upload,
                forced: false,
                generation: 3,
                elapsed_ms: 1.25,
                downgrade_from: None,
            }),
            elapsed_ms: 900.0,
        }
    }

    #[test]
    fn the_cli_reads_the_reply_the_server_serializes() {
        // The handler's reply: the domain outcome as the wire type, as JSON.
        let sent = serde_json::to_string(&UploadOutcome::from(server_outcome())).unwrap();
        let read: UploadOutcome = decode("PUT /api/plugins/swap-item", &sent).unwrap();
        assert_eq!(read, UploadOutcome::from(server_outcome()));
        assert_eq!(
            push_summary(&read),
            [
                "swap-item 2.0.0 (checklist-item), 2.6 MiB, sha256 0123456789ab, unsigned",
                "  ok   compile   812.3 ms",
                "shadow: 1 recorded input (no active version to compare with): 0 identical, 1 different, 0 failed",
                r#"  shadow:1: active none -> candidate {"status":"met"}"#,
                "active: swap-item 2.0.0 (was none), generation 3, live in 1.2 ms",
            ]
        );
        let versions =
            serde_json::to_string(&[PluginVersion::from(server_outcome().version)]).unwrap();
        let read: Vec<PluginVersion> =
            decode("GET /api/plugins/swap-item/versions", &versions).unwrap();
        assert_eq!(
            versions_table("swap-item", &read)[1],
            "*  2.0.0    active  2025-05-01 09:30:12Z  alice  -       2.6 MiB  0123456789ab  2025-05-01 09:30:12Z"
        );
    }

    #[test]
    fn a_reply_of_another_shape_is_an_error_naming_the_endpoint() {
        let mut reply = serde_json::to_value(UploadOutcome::from(server_outcome())).unwrap();
        // A field the server renamed: before, the CLI printed `?` for it.
        let version = reply["version"].as_object_mut().unwrap();
        let signer = version.remove("signer").unwrap();
        version.insert("signedBy".into(), signer);
        let err = decode::<UploadOutcome>("PUT /api/plugins/swap-item", &reply.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "PUT /api/plugins/swap-item answered something this regent cannot read"
            ) && err.contains("missing field `signer`"),
            "{err}"
        );
        let err = decode::<Vec<PluginSummary>>("GET /api/plugins", r#"{"plugins": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("GET /api/plugins answered"), "{err}");
    }

    #[test]
    fn the_cli_reads_the_gate_failure_the_server_sends() {
        use axum::response::IntoResponse as _;
        let outcome = server_outcome();
        let failure = crate::domain::registry::GateFailure {
            gate: crate::domain::registry::Gate::Shadow,
            message: "failed on 1 of 1 recorded inputs".into(),
            gates: outcome.gates.clone(),
            shadow: outcome.shadow.clone(),
        };
        let response = crate::api::ApiError::GateFailed(Box::new(failure)).into_response();
        let status = response.status();
        let body = Remote::block_on(async {
            Ok(axum::body::to_bytes(response.into_body(), usize::MAX).await?)
        })
        .unwrap();
        let e: anyhow::Error = RemoteError::of(status, std::str::from_utf8(&body).unwrap()).into();
        // The server's message already names the gate.
        assert_eq!(
            explain(e).to_string(),
            "gate `shadow` failed: failed on 1 of 1 recorded inputs"
        );
    }
}
