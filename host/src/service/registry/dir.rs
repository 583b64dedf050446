//! The plugins directory: imported at start, and watched with `--watch`.
//!
//! A plugin is `<name>.toml` plus `<name>.wasm` (and, if signed,
//! `<name>.wasm.sig`). Writers must write each file under another name and
//! rename it into place: a rename is atomic, so the watcher sees a whole
//! file or none. A pair is taken only once both files have stayed the same
//! for one poll, so a manifest renamed in before its component is not
//! taken with the old component.
//!
//! Only regular files are read, never through a symbolic link, and each
//! under a size cap: a FIFO or a device named `<name>.wasm` is refused, not
//! read (a read could block the importer forever, or never end).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Candidate, PluginRegistry, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES};
use crate::domain::registry::{ActivationKind, UploadOptions, VersionStatus};
use crate::runtime::cache::sha256_hex;
use crate::runtime::manifest::ManifestError;
use crate::runtime::Manifest;
use crate::safe_fs::{self, SafeReadError};
use crate::service::ServiceError;
use crate::storage::StorageError;

/// Who the audit log names for the directory's changes.
const DIR_ACTOR: &str = "plugins-dir";

/// A manifest with its component beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DirPlugin {
    name: String,
    manifest: PathBuf,
    wasm: PathBuf,
}

/// Every `<name>.toml` with a `<name>.wasm` beside it. Hidden files are
/// skipped: they are the write half of write-then-rename.
fn scan_dir(dir: &Path) -> std::io::Result<Vec<DirPlugin>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if stem.starts_with('.') || path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let wasm = path.with_extension("wasm");
        // Whatever it is: the import refuses what is not a regular file.
        if std::fs::symlink_metadata(&wasm).is_ok() {
            found.push(DirPlugin {
                name: stem.to_string(),
                manifest: path.clone(),
                wasm,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Why a pair in the plugins directory was not imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirImportError {
    #[error(transparent)]
    Read(#[from] SafeReadError),
    #[error("{} is not UTF-8 text", .path.display())]
    NotUtf8 { path: PathBuf },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("names the plugin `{manifest}`, but the file is `{file}.toml`")]
    NameMismatch { manifest: String, file: String },
    #[error("{name}@{version} is already stored with other bytes (sha256 {sha256}); the stored one serves: give the new build a new version")]
    OtherBytes {
        name: String,
        version: String,
        sha256: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The upload itself was refused (a gate, a signature, the store).
    #[error(transparent)]
    Upload(#[from] ServiceError),
}

/// What a pair's files hold, read within their bounds.
struct PairFiles {
    manifest: String,
    wasm: Vec<u8>,
    signature: Option<Vec<u8>>,
}

/// Size and modification time of the pair's files: what "changed" means.
type Stamp = [(u64, Option<SystemTime>); 3];

fn stamp(p: &DirPlugin) -> Stamp {
    let of = |path: &Path| {
        std::fs::symlink_metadata(path)
            .map(|m| (m.len(), m.modified().ok()))
            .unwrap_or((0, None))
    };
    [
        of(&p.manifest),
        of(&p.wasm),
        of(&crate::signing::signature_path(&p.wasm)),
    ]
}

impl PluginRegistry {
    /// Imports the directory at start. A name the store has never seen is
    /// imported and activated; a new version of a known name is stored
    /// inactive, unless `activate` (`--watch`: the directory is the source
    /// of truth). Returns what could not be imported.
    pub fn import_dir(&self, dir: &Path, activate: bool) -> Vec<String> {
        let plugins = match scan_dir(dir) {
            Ok(p) => p,
            Err(e) => {
                return vec![format!(
                    "cannot read the plugins directory {}: {e}",
                    dir.display()
                )]
            }
        };
        let mut problems = Vec::new();
        for p in &plugins {
            if let Err(e) = self.import(p, ActivationKind::Import, activate) {
                problems.push(format!("{}: {e}", p.manifest.display()));
            }
        }
        problems
    }

    /// The pair's manifest, component and (if there is one) signature,
    /// each a regular file within its bound.
    fn read_files(&self, p: &DirPlugin) -> Result<PairFiles, DirImportError> {
        let text =
            safe_fs::read_regular(&p.manifest, MAX_MANIFEST_BYTES as u64, "the manifest bound")?;
        let text = String::from_utf8(text).map_err(|_| DirImportError::NotUtf8 {
            path: p.manifest.clone(),
        })?;
        let wasm = safe_fs::read_regular(
            &p.wasm,
            self.settings.max_upload_bytes as u64,
            "[plugin_registry] max_upload_bytes",
        )?;
        let signature = match safe_fs::read_regular(
            &crate::signing::signature_path(&p.wasm),
            MAX_SIGNATURE_BYTES as u64,
            "the signature bound",
        ) {
            Ok(bytes) => Some(bytes),
            Err(SafeReadError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(PairFiles {
            manifest: text,
            wasm,
            signature,
        })
    }

    /// Takes one pair through the gates. The same version with the same
    /// bytes and manifest is not stored again (a signature beside it that
    /// verifies is kept with it); if `activate`, it becomes active.
    fn import(
        &self,
        p: &DirPlugin,
        how: ActivationKind,
        activate: bool,
    ) -> Result<(), DirImportError> {
        let PairFiles {
            manifest: text,
            wasm,
            signature,
        } = match self.read_files(p) {
            Ok(files) => files,
            Err(e) => {
                // Nothing of that name serves: say why while /ready fails.
                if self.active.current().get(&p.name).is_none() {
                    self.set_fault(&p.name, e.to_string());
                }
                return Err(e);
            }
        };
        let manifest = Manifest::parse(&text)?;
        if manifest.name != p.name {
            return Err(DirImportError::NameMismatch {
                manifest: manifest.name,
                file: p.name.clone(),
            });
        }
        let sha256 = sha256_hex(&wasm);
        let existing = self
            .db
            .plugin_version(&manifest.name, &manifest.version)?
            .filter(|v| v.status != VersionStatus::Rejected);
        if let Some(v) = &existing {
            if v.sha256 != sha256 {
                return Err(DirImportError::OtherBytes {
                    name: v.name.clone(),
                    version: v.version.clone(),
                    sha256: v.sha256.clone(),
                });
            }
        }
        let first = self.active.current().get(&manifest.name).is_none();
        let options = UploadOptions {
            activate: activate || (first && existing.is_none()),
            ..UploadOptions::default()
        };
        let candidate = Candidate {
            wasm,
            manifest: text,
            signature,
        };
        match self.upload(&manifest.name, candidate, options, DIR_ACTOR, how) {
            Ok(outcome) => {
                if existing.is_none() && outcome.activation.is_none() {
                    tracing::warn!(plugin = %manifest.name, version = %manifest.version, "a new version in the plugins directory is stored but not active (activate it with `regent plugin activate`, or serve with --watch)");
                }
                Ok(())
            }
            Err(e) => {
                if first && existing.is_none() {
                    self.set_fault(&manifest.name, e.to_string());
                }
                Err(e.into())
            }
        }
    }
}

/// Polls `dir` every `every` and imports (and activates) each pair that
/// changed and then held still for one poll.
pub fn spawn_watch(registry: Arc<PluginRegistry>, dir: PathBuf, every: Duration) {
    tokio::spawn(async move {
        let mut seen: HashMap<String, Stamp> = HashMap::new();
        // What is there at start was imported by `import_dir`.
        if let Ok(plugins) = scan_dir(&dir) {
            for p in plugins {
                seen.insert(p.name.clone(), stamp(&p));
            }
        }
        let mut settling: HashMap<String, Stamp> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let plugins = match scan_dir(&dir) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot read the watched plugins directory");
                    continue;
                }
            };
            for p in plugins {
                let now = stamp(&p);
                if seen.get(&p.name) == Some(&now) {
                    settling.remove(&p.name);
                    continue;
                }
                // Changed: take it once it has held still for one poll.
                if settling.insert(p.name.clone(), now) != Some(now) {
                    continue;
                }
                settling.remove(&p.name);
                seen.insert(p.name.clone(), now);
                let r = registry.clone();
                let name = p.name.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || r.import(&p, ActivationKind::Watch, true))
                        .await;
                match outcome {
                    Ok(Ok(())) => tracing::info!(plugin = %name, "plugins directory change taken"),
                    Ok(Err(e)) => {
                        tracing::error!(plugin = %name, error = %e, "plugins directory change refused; the active version keeps serving")
                    }
                    Err(e) => {
                        tracing::error!(plugin = %name, error = %e, "plugins directory import failed")
                    }
                }
            }
        }
    });
}
