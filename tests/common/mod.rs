//! Shared helpers for Regent's integration tests.

// Test support: a failed unwrap is a failed test, with the value that broke it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// The command that builds what the tests load.
const BUILD_COMMAND: &str = "make plugins";

/// The repository's `target/`, once the plugins and the `regent` binary are
/// there. `make test` builds them (`make plugins`, i.e.
/// scripts/build-plugins.sh) before `cargo test`; building them from here
/// would run a nested cargo inside the test run, once per test binary.
/// Fails with the command to run when something is missing.
pub fn built_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = repo_root().join("target");
        if let Some(missing) = missing_build_outputs(&target).first() {
            panic!(
                "{} is missing: the integration tests load prebuilt plugins and the `regent` binary; \
                 run `{BUILD_COMMAND}` (scripts/build-plugins.sh) first",
                missing.display()
            );
        }
        target
    })
}

/// The Python plugins (target/plugins-py), which `make test` builds with
/// componentize-py (`make python-plugins`) before `cargo test`. Fails with
/// the command to run when they are missing.
pub fn built_python_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = repo_root().join("target/plugins-py");
        for name in ["error-budget", "hostile-wait", "sandbox-probe"] {
            let wasm = out.join(format!("{name}.wasm"));
            assert!(
                wasm.exists(),
                "{} is missing: run `make python-plugins` (tests/fixtures-py/build.sh target/plugins-py) first",
                wasm.display()
            );
        }
        out
    })
}

/// What scripts/build-plugins.sh produces that the tests use, where absent.
fn missing_build_outputs(target: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = [
        "debug/regent",
        "plugins/readiness-checklist.wasm",
        "plugins/items/runbooks.wasm",
        "fixtures/hostile-loop.wasm",
        "fixtures/v2/swap-item.wasm",
        "examples/max-error-rate.wasm",
    ]
    .iter()
    .map(|file| target.join(file))
    .filter(|path| !path.exists())
    .collect();
    missing.sort();
    missing
}

/// The key test servers share for the shared compile cache (`test-cache`):
/// a cache artifact verifies only under the key that wrote it.
pub fn test_cache_key() -> PathBuf {
    built_plugins().join("test-cache.key")
}

/// The `regent` binary the build script produced.
pub fn regent_bin() -> PathBuf {
    built_plugins().join("debug/regent")
}

/// `promtool check metrics` on an exposition, when promtool is installed
/// (`make test` installs it): it must find nothing to lint.
pub fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("promtool is not installed: skipping `promtool check metrics`");
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
        Ok(child) => child,
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics ({}): {report}",
        out.status
    );
}

pub mod app;
pub mod cluster;
pub mod tls;

#[cfg(test)]
mod tests {
    use super::missing_build_outputs;

    #[test]
    fn a_target_without_the_build_outputs_names_each_missing_file() {
        let target = tempfile::tempdir().unwrap();
        let missing = missing_build_outputs(target.path());
        assert_eq!(missing.len(), 6, "{missing:?}");
        assert!(missing.contains(&target.path().join("debug/regent")));

        for file in &missing {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, b"").unwrap();
        }
        assert!(missing_build_outputs(target.path()).is_empty());
    }
}
