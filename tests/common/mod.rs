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

/// The `regent` binary the build script produced.
pub fn regent_bin() -> PathBuf {
    built_plugins().join("debug/regent")
}

pub mod app;
