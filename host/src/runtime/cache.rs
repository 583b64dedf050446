//! Compiled plugins: compiled once per (wasm sha256, engine), in memory and
//! on disk.
//!
//! The disk cache holds only artifacts this process (or an earlier Regent
//! with the same engine) produced with `Engine::precompile_component`. Each
//! file is named by the wasm's sha256 and the engine's compatibility hash,
//! and carries the sha256 of its own bytes, checked before use.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a compiled component came from, for logs and the plugin listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompileSource {
    Memory,
    Disk,
    Compiled,
}

pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    compiled: Mutex<HashMap<String, Component>>,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = format!("{:016x}", hasher.finish());
        Self {
            dir,
            engine_hash,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The component for `wasm`, compiling it only if neither cache has it.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CompileSource)> {
        if let Some(c) = self.lock().get(sha256) {
            return Ok((c.clone(), CompileSource::Memory));
        }
        let (component, source) = match self.load_from_disk(engine, sha256) {
            Some(c) => (c, CompileSource::Disk),
            None => {
                let artifact = engine.precompile_component(wasm)?;
                self.store_on_disk(sha256, &artifact);
                // SAFETY: `artifact` was produced a line above by this very
                // engine's `precompile_component`.
                let component = unsafe { Component::deserialize(engine, &artifact)? };
                (component, CompileSource::Compiled)
            }
        };
        self.lock().insert(sha256.to_string(), component.clone());
        Ok((component, source))
    }

    /// Drops the in-memory components whose sha256 `keep` refuses. A
    /// component still used by a loaded plugin lives on through that
    /// plugin; the rest is freed now, and comes back from disk if needed.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|sha256, _| keep(sha256));
    }

    /// How many components are held in memory.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        // A poisoned map is still a valid map: a panic elsewhere cannot leave
        // it half-updated, since inserts and removes are single calls.
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, dir: &Path, sha256: &str) -> PathBuf {
        dir.join(format!("{sha256}-{}.cwasm", self.engine_hash))
    }

    fn load_from_disk(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let dir = self.dir.as_ref()?;
        let bytes = std::fs::read(self.path(dir, sha256)).ok()?;
        let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != checksum {
            tracing::warn!(sha256, "precompiled cache entry is corrupt; recompiling");
            return None;
        }
        // SAFETY: the file sits in Regent's private cache directory (created
        // 0700), is named by this engine's compatibility hash, and its
        // checksum proves it is byte-for-byte what `store_on_disk` wrote from
        // `precompile_component`'s output. wasmtime also checks the header.
        unsafe { Component::deserialize(engine, body) }
            .inspect_err(|e| tracing::warn!(sha256, error = %e, "precompiled cache entry refused; recompiling"))
            .ok()
    }

    fn store_on_disk(&self, sha256: &str, artifact: &[u8]) {
        let Some(dir) = &self.dir else { return };
        let result = (|| -> std::io::Result<()> {
            create_private_dir(dir)?;
            let path = self.path(dir, sha256);
            // Unique per writer: two processes may compile the same plugin.
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = path.with_extension(format!("{}.{n}.tmp", std::process::id()));
            let mut bytes = Vec::with_capacity(artifact.len() + 32);
            bytes.extend_from_slice(artifact);
            bytes.extend_from_slice(&Sha256::digest(artifact));
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the precompiled cache");
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
