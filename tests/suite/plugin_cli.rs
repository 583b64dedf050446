//! `regent plugin new | build | test`, as a policy author runs them.

use std::path::Path;
use std::process::{Command, Output};

use regent_tests::{regent_bin, repo_root};

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Commands share the repository's target directory, so the scaffolded
/// crates reuse compiled dependencies (and the wasm32 std) instead of
/// rebuilding them per test.
fn regent(args: &[&str], cwd: &Path) -> Output {
    run(Command::new(regent_bin())
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", repo_root().join("target")))
}

#[test]
fn every_kind_scaffolds_a_crate_that_tests_builds_and_passes_its_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, name) in [
        ("checklist-item", "my-item"),
        ("breaker-condition", "my-breaker"),
        ("risk-scorer", "my-scorer"),
        ("task-matcher", "my-matcher"),
    ] {
        let out = regent(&["plugin", "new", kind, name, "--path", "."], dir.path());
        assert!(out.status.success(), "{}", text(&out));
        let crate_dir = dir.path().join(name);
        assert!(crate_dir.join(format!("{name}.toml")).exists());

        let out = run(Command::new("cargo")
            .args(["test", "--quiet"])
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", repo_root().join("target")));
        assert!(
            out.status.success(),
            "native tests of the scaffold ({kind}): {}",
            text(&out)
        );

        let out = regent(&["plugin", "build", "."], &crate_dir);
        assert!(out.status.success(), "build ({kind}): {}", text(&out));
        assert!(crate_dir.join(format!("dist/{name}.wasm")).exists());

        let out = regent(&["plugin", "test", "."], &crate_dir);
        assert!(out.status.success(), "fixtures ({kind}): {}", text(&out));
        assert!(
            text(&out).contains(&format!("{name}: 1 passed, 0 failed")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_failing_fixture_fails_the_run_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("success-rate");
    std::fs::create_dir_all(plugin.join("fixtures")).unwrap();
    std::fs::copy(
        repo_root().join("plugins/success-rate/success-rate.toml"),
        plugin.join("success-rate.toml"),
    )
    .unwrap();
    std::fs::write(
        plugin.join("fixtures/wrong.json"),
        r#"{"description": "claims 0.9 passes", "input": {"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.9}}, "expect": {"passed": true}}"#,
    )
    .unwrap();
    let wasm = repo_root().join("target/plugins/items/success-rate.wasm");
    let out = regent(
        &["plugin", "test", ".", "--wasm", wasm.to_str().unwrap()],
        &plugin,
    );
    assert!(!out.status.success());
    let report = text(&out);
    assert!(
        report
            .contains("FAILED  wrong.json: $.passed: expected true, got false (claims 0.9 passes)"),
        "{report}"
    );
    assert!(
        report.contains("success-rate: 0 passed, 1 failed"),
        "{report}"
    );
}

/// A manifest's `[[fixtures]]` (the cases that gate an upload) run too,
/// with no fixtures/ directory needed.
#[test]
fn a_manifests_own_fixtures_run_with_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        std::fs::read_to_string(repo_root().join("plugins/success-rate/success-rate.toml"))
            .unwrap()
            + r#"
[[fixtures]]
description = "99.9% passes"
input = { now = "2026-11-01T00:00:00Z", metrics = { successRate = 0.999 } }
expect = { passed = true }

[[fixtures]]
description = "claims 0.9 passes"
input = { now = "2026-11-01T00:00:00Z", metrics = { successRate = 0.9 } }
expect = { passed = true }
"#;
    std::fs::write(dir.path().join("success-rate.toml"), manifest).unwrap();
    let wasm = repo_root().join("target/plugins/items/success-rate.wasm");
    let out = regent(
        &["plugin", "test", ".", "--wasm", wasm.to_str().unwrap()],
        dir.path(),
    );
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("ok      [[fixtures]] #1"), "{report}");
    assert!(
        report.contains(
            "FAILED  [[fixtures]] #2: $.passed: expected true, got false (claims 0.9 passes)"
        ),
        "{report}"
    );
    assert!(
        report.contains("success-rate: 1 passed, 1 failed"),
        "{report}"
    );
}

#[test]
fn build_and_new_refuse_bad_input_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let out = regent(&["plugin", "build", junk.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a WebAssembly binary"),
        "{}",
        text(&out)
    );

    let out = regent(&["plugin", "new", "rule", "x", "--path", "."], dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown plugin kind `rule`"),
        "{}",
        text(&out)
    );

    let out = regent(
        &["plugin", "new", "risk-scorer", "Bad Name", "--path", "."],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("name `Bad Name` must be"),
        "{}",
        text(&out)
    );
}

#[test]
fn every_builtin_plugin_passes_its_fixtures_as_a_component() {
    let mut ran = 0;
    for entry in std::fs::read_dir(repo_root().join("plugins")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let built = repo_root().join("target/plugins");
        let wasm = [built.join("items"), built]
            .into_iter()
            .map(|d| d.join(format!("{name}.wasm")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} was not built"));
        let out = regent(
            &[
                "plugin",
                "test",
                dir.to_str().unwrap(),
                "--wasm",
                wasm.to_str().unwrap(),
            ],
            &repo_root(),
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        ran += 1;
    }
    assert_eq!(ran, 26);
}

/// `regent plugin sign` covers the manifest beside the component; `push`
/// refuses, before sending anything, a signature the server would refuse:
/// one made for another manifest, or one of the old format.
#[test]
fn sign_covers_the_manifest_and_push_refuses_a_stale_signature_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let from = regent_tests::built_plugins().join("fixtures");
    for file in ["swap-item.wasm", "swap-item.toml"] {
        std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
    }
    let out = regent(&["plugin", "keygen", "--out", "release.key"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = regent(
        &["plugin", "sign", "swap-item.wasm", "--key", "release.key"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let sig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("swap-item.wasm.sig")).unwrap())
            .unwrap();
    let manifest = std::fs::read(dir.path().join("swap-item.toml")).unwrap();
    assert_eq!(sig["format"], "regent-plugin-signature-v2");
    assert_eq!(
        (&sig["name"], &sig["version"]),
        (&"swap-item".into(), &"1.0.0".into())
    );
    assert_eq!(
        sig["manifestSha256"],
        regent_host::runtime::cache::sha256_hex(&manifest)
    );

    // No server is listening: a refusal here is the CLI's own.
    let push = || {
        run(Command::new(regent_bin())
            .args([
                "plugin",
                "push",
                "swap-item.wasm",
                "--manifest",
                "swap-item.toml",
            ])
            .current_dir(dir.path())
            .env("REGENT_URL", "http://127.0.0.1:9")
            .env("REGENT_TOKEN", "unused"))
    };
    let mut loosened = manifest.clone();
    loosened.extend_from_slice(b"\n[limits]\ntimeout_ms = 5000\n");
    std::fs::write(dir.path().join("swap-item.toml"), &loosened).unwrap();
    let out = push();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("manifest sha256") && said.contains("regent plugin sign"),
        "{said}"
    );

    std::fs::write(dir.path().join("swap-item.toml"), &manifest).unwrap();
    let old = serde_json::json!({
        "sha256": sig["sha256"], "publicKey": sig["publicKey"], "signature": sig["signature"],
    });
    std::fs::write(dir.path().join("swap-item.wasm.sig"), old.to_string()).unwrap();
    let out = push();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("old format") && said.contains("regent plugin sign"),
        "{said}"
    );
}
