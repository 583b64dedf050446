//! Shared helpers for Regent's integration tests.

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

/// Builds every plugin crate (built-ins, hostile fixtures, examples) from
/// source, once per test process. The build is incremental, so this is
/// quick when CI has just run it.
pub fn built_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = repo_root();
        let status = Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .current_dir(&root)
            .status()
            .expect("cannot run scripts/build-plugins.sh");
        assert!(status.success(), "scripts/build-plugins.sh failed");
        root.join("target")
    })
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
pub mod tls;
