//! Compiled plugins: compiled once per (wasm sha256, engine), in memory and
//! on disk, and compiled within bounds.
//!
//! Only native code this server produced is ever run. A disk artifact
//! carries an HMAC-SHA256, under a 32-byte key kept outside the cache
//! directory, of the engine's compatibility hash, the component's sha256
//! and the artifact: whoever can write the cache directory but cannot read
//! the key cannot make an artifact that is run, nor pass one component's
//! code off as another's. A file that fails any check is deleted, and the
//! component is compiled again.
//!
//! Nothing reaches the disk unless the caller asks ([`CompileCache::persist`]):
//! the registry asks only for versions it stored, so a refused or dry-run
//! upload leaves no artifact. The directory is capped in bytes, and the
//! least recently used artifacts go first.
//!
//! Compiles run on threads of their own (never on the caller's, so never on
//! an async worker), at most [`CompileLimits::max_concurrent`] at once, each
//! waited for at most [`CompileLimits::timeout`].

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::safe_fs::{self, SafeReadError};

type HmacSha256 = Hmac<Sha256>;

/// Starts every artifact file: "Regent compiled wasm", format 2. Format 1
/// (an unkeyed sha256 after the artifact) is never trusted.
const MAGIC: &[u8; 8] = b"RGNCWSM2";
const MAC_LEN: usize = 32;
/// Keeps these MACs from ever matching a MAC the key makes for anything else.
const MAC_CONTEXT: &[u8] = b"regent compile cache v2\0";
pub const CACHE_KEY_LEN: usize = 32;

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

/// The bounds on compiling a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// A compile still running after this is given up on, and the
    /// component refused. Waiting for a free compile slot is bounded by it
    /// too.
    pub timeout: Duration,
    /// Compiles running at once. A compile given up on keeps its slot until
    /// it really ends, so runaway compiles cannot pile up.
    pub max_concurrent: usize,
    /// The largest component compiled; the server sets it from
    /// `[plugin_registry] max_upload_bytes`.
    pub max_component_bytes: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_concurrent: 2,
            max_component_bytes: 64 << 20,
        }
    }
}

/// Why a component was not compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    #[error("{0}")]
    Invalid(String),
    #[error("the component is {size} bytes, over the bound of {max} bytes ([plugin_registry] max_upload_bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("compiling took longer than {limit_ms} ms ([compile] timeout_ms), and was given up")]
    TooSlow { limit_ms: u64 },
    #[error("{max} compiles are already running ([compile] max_concurrent) and none ended within {limit_ms} ms: retry later")]
    Busy { max: usize, limit_ms: u64 },
    #[error("cannot run the compile: {0}")]
    Host(String),
}

/// Why an artifact in the disk cache was refused; the caller deletes it
/// and recompiles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactRefused {
    #[error(transparent)]
    Read(#[from] SafeReadError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("too short to be an artifact")]
    TooShort,
    #[error("not in this server's artifact format")]
    WrongFormat,
    #[error("its MAC does not verify under this server's key")]
    BadMac,
    /// Not a source: the digest crate's error implements `Error` only
    /// with its `std` feature. HMAC takes keys of any length, so this is
    /// not expected.
    #[error("cannot key the MAC: {0}")]
    MacKey(hmac::digest::InvalidLength),
}

/// Why the disk cache cannot be trusted as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheSetupError {
    #[error("compile cache directory {dir}: {message}")]
    Dir { dir: PathBuf, message: String },
    #[error("compile cache key {path}: {message}")]
    Key { path: PathBuf, message: String },
}

/// The secret that binds disk artifacts to this server.
#[derive(Clone)]
pub struct CacheKey([u8; CACHE_KEY_LEN]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

impl CacheKey {
    pub fn from_bytes(bytes: [u8; CACHE_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads the key at `path`, making a random one (mode 0600) if there is
    /// none. A key that others could read or change is refused: with it,
    /// they could sign native code.
    pub fn load_or_create(path: &Path) -> Result<Self, CacheSetupError> {
        let fail = |message: String| CacheSetupError::Key {
            path: path.to_path_buf(),
            message,
        };
        match safe_fs::open_regular(path) {
            Err(SafeReadError::NotFound { .. }) => {
                create_key_file(path).map_err(|e| fail(format!("cannot create it: {e}")))?
            }
            Err(e) => return Err(fail(e.to_string())),
            Ok(_) => {}
        }
        let (file, metadata) = safe_fs::open_regular(path).map_err(|e| fail(e.to_string()))?;
        if let Some(why) = safe_fs::writable_by_others(&metadata) {
            return Err(fail(why));
        }
        let mode = metadata.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "is readable by other users (mode {mode:04o}): `chmod 600` it"
            )));
        }
        let bytes = safe_fs::read_bounded(
            file,
            metadata.len(),
            path,
            CACHE_KEY_LEN as u64,
            "a key is 32 bytes",
        )
        .map_err(|e| fail(e.to_string()))?;
        let key: [u8; CACHE_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            fail(format!(
                "holds {} bytes, not a {CACHE_KEY_LEN}-byte key",
                bytes.len()
            ))
        })?;
        Ok(Self(key))
    }
}

/// Writes a fresh key under a unique name and links it into place, so a
/// concurrent starter either makes the key or reads the whole of another's.
fn create_key_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut key = [0u8; CACHE_KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = unique_sibling(path, "tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    };
    let result = write();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn unique_sibling(path: &Path, what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.{what}", std::process::id()))
}

/// The on-disk cache: a private directory, a key kept elsewhere, a cap.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    key: CacheKey,
    max_bytes: u64,
}

impl DiskCache {
    /// Creates `dir` (mode 0700) if missing, and refuses it if another user
    /// could write to it, or if it holds the key.
    pub fn open(dir: &Path, key_file: &Path, max_bytes: u64) -> Result<Self, CacheSetupError> {
        prepare_private_dir(dir)?;
        let key_error = |message: String| CacheSetupError::Key {
            path: key_file.to_path_buf(),
            message,
        };
        // Checked before the key is made, so a refused key is never written.
        let parent = match key_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| key_error(format!("cannot create its directory: {e}")))?;
        let canonical_parent = parent
            .canonicalize()
            .map_err(|e| key_error(e.to_string()))?;
        let canonical_dir = dir.canonicalize().map_err(|e| key_error(e.to_string()))?;
        if canonical_parent.starts_with(&canonical_dir) {
            return Err(key_error(format!(
                "is inside the cache directory {}: keep the key elsewhere",
                dir.display()
            )));
        }
        let key = CacheKey::load_or_create(key_file)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            max_bytes,
        })
    }

    /// As [`Self::open`], with the key given rather than read.
    pub fn with_key(dir: &Path, key: CacheKey, max_bytes: u64) -> Result<Self, CacheSetupError> {
        prepare_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            max_bytes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn mac(
        &self,
        engine_hash: &str,
        sha256: &str,
        artifact: &[u8],
    ) -> Result<HmacSha256, ArtifactRefused> {
        let mut mac = HmacSha256::new_from_slice(&self.key.0).map_err(ArtifactRefused::MacKey)?;
        mac.update(MAC_CONTEXT);
        for part in [engine_hash.as_bytes(), sha256.as_bytes()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(artifact);
        Ok(mac)
    }
}

/// Creates `dir` (mode 0700) if missing; refuses it if another user could
/// write to it, since they could plant or swap files in it.
fn prepare_private_dir(dir: &Path) -> Result<(), CacheSetupError> {
    let fail = |message: String| CacheSetupError::Dir {
        dir: dir.to_path_buf(),
        message,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(format!("cannot create it: {e}")))?;
    let metadata = std::fs::metadata(dir).map_err(|e| fail(e.to_string()))?;
    if !metadata.is_dir() {
        return Err(fail("is not a directory".into()));
    }
    match safe_fs::writable_by_others(&metadata) {
        Some(why) => Err(fail(format!(
            "{why}: another user could plant files in it; `chmod 700` it or choose another --cache-dir"
        ))),
        None => Ok(()),
    }
}

/// Counts compiles running, and lets a caller wait, bounded, for a slot.
struct CompileSlots {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

struct CompileSlot(Arc<CompileSlots>);

impl CompileSlots {
    fn acquire(self: &Arc<Self>, wait: Duration) -> Option<CompileSlot> {
        let deadline = Instant::now() + wait;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= self.max {
            let left = deadline.checked_duration_since(Instant::now())?;
            running = self
                .freed
                .wait_timeout(running, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *running += 1;
        Some(CompileSlot(self.clone()))
    }
}

impl Drop for CompileSlot {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

pub struct CompileCache {
    disk: Option<DiskCache>,
    limits: CompileLimits,
    slots: Arc<CompileSlots>,
    engine_hash: String,
    compiled: Mutex<HashMap<String, Component>>,
    /// Components known to have a good artifact on disk: not written again.
    on_disk: Mutex<HashSet<String>>,
}

impl CompileCache {
    pub fn new(engine: &Engine, disk: Option<DiskCache>, limits: CompileLimits) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = format!("{:016x}", hasher.finish());
        Self {
            disk,
            slots: Arc::new(CompileSlots {
                running: Mutex::new(0),
                freed: Condvar::new(),
                max: limits.max_concurrent.max(1),
            }),
            limits,
            engine_hash,
            compiled: Mutex::new(HashMap::new()),
            on_disk: Mutex::new(HashSet::new()),
        }
    }

    /// The component for `wasm`: from memory, from a verified disk
    /// artifact, or compiled (in memory only; see [`Self::persist`]).
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<(Component, CompileSource), CompileError> {
        if let Some(c) = self.lock().get(sha256) {
            return Ok((c.clone(), CompileSource::Memory));
        }
        if wasm.len() > self.limits.max_component_bytes {
            return Err(CompileError::TooLarge {
                size: wasm.len(),
                max: self.limits.max_component_bytes,
            });
        }
        let (component, source) = match self.load_from_disk(engine, sha256) {
            Some(c) => (c, CompileSource::Disk),
            None => (self.compile(engine, wasm)?, CompileSource::Compiled),
        };
        self.lock().insert(sha256.to_string(), component.clone());
        Ok((component, source))
    }

    /// Compiles on a thread of its own, within the limits.
    fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
        let limit_ms = self.limits.timeout.as_millis() as u64;
        let slot = self
            .slots
            .acquire(self.limits.timeout)
            .ok_or(CompileError::Busy {
                max: self.slots.max,
                limit_ms,
            })?;
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let (engine, wasm) = (engine.clone(), wasm.to_vec());
        std::thread::Builder::new()
            .name("regent-compile".into())
            .spawn(move || {
                let _slot = slot;
                let compiled = Component::new(&engine, &wasm).map_err(|e| format!("{e:#}"));
                // The caller may have given up on it: then it is dropped here.
                let _ = done.send(compiled);
            })
            .map_err(|e| CompileError::Host(format!("cannot start a compile thread: {e}")))?;
        match result.recv_timeout(self.limits.timeout) {
            Ok(Ok(component)) => Ok(component),
            Ok(Err(message)) => Err(CompileError::Invalid(message)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    limit_ms,
                    "a compile ran past its time limit; its component is refused"
                );
                Err(CompileError::TooSlow { limit_ms })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(CompileError::Host(
                "the compile thread ended without a result".into(),
            )),
        }
    }

    /// Writes `component` (the compiled `sha256`) to the disk cache, if
    /// there is one and it does not hold it yet. Failing to write is
    /// logged, never fatal.
    pub fn persist(&self, sha256: &str, component: &Component) {
        let Some(disk) = &self.disk else { return };
        if self.on_disk().contains(sha256) {
            return;
        }
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
            .and_then(|artifact| self.store_on_disk(disk, sha256, &artifact));
        match result {
            Ok(()) => {
                self.on_disk().insert(sha256.to_string());
            }
            Err(e) => {
                tracing::warn!(dir = %disk.dir.display(), sha256, error = %e, "cannot write the compile cache")
            }
        }
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

    fn on_disk(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.on_disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file of `sha256`'s artifact. Only hex reaches the name.
    fn path(&self, dir: &Path, sha256: &str) -> Option<PathBuf> {
        sha256
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| dir.join(format!("{sha256}-{}.cwasm", self.engine_hash)))
    }

    fn load_from_disk(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let disk = self.disk.as_ref()?;
        let path = self.path(&disk.dir, sha256)?;
        let body = match self.read_verified(disk, sha256, &path) {
            Ok(Some(body)) => body,
            Ok(None) => return None,
            Err(why) => {
                discard(&path, &why.to_string());
                return None;
            }
        };
        // SAFETY: `Component::deserialize` runs whatever native code the
        // bytes hold. These bytes carry a MAC, under a key only this server
        // holds, that `persist` made over the output of this engine's own
        // compiler for exactly this component (engine hash and sha256 are
        // under the MAC). wasmtime also checks the artifact's header.
        // The workspace denies unsafe code; this is one of its exceptions.
        #[allow(unsafe_code)]
        let deserialized = unsafe { Component::deserialize(engine, &body) };
        match deserialized {
            Ok(component) => {
                self.on_disk().insert(sha256.to_string());
                Some(component)
            }
            Err(e) => {
                discard(&path, &format!("wasmtime refused it: {e:#}"));
                None
            }
        }
    }

    /// The artifact in `path` if it is a regular file this server wrote
    /// for `sha256`; `Ok(None)` if there is none; `Err` says what is wrong.
    fn read_verified(
        &self,
        disk: &DiskCache,
        sha256: &str,
        path: &Path,
    ) -> Result<Option<Vec<u8>>, ArtifactRefused> {
        let (file, metadata) = match safe_fs::open_regular(path) {
            Ok(opened) => opened,
            Err(SafeReadError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bytes = safe_fs::read_bounded(
            file.try_clone()?,
            metadata.len(),
            path,
            disk.max_bytes,
            "[compile] cache_max_bytes",
        )?;
        let Some((magic, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(ArtifactRefused::TooShort);
        };
        if magic != MAGIC {
            return Err(ArtifactRefused::WrongFormat);
        }
        let Some((tag, body)) = rest.split_first_chunk::<MAC_LEN>() else {
            return Err(ArtifactRefused::TooShort);
        };
        disk.mac(&self.engine_hash, sha256, body)?
            .verify_slice(tag)
            .map_err(|_| ArtifactRefused::BadMac)?;
        // Recently used: eviction goes by modification time.
        if let Err(e) = file.set_modified(SystemTime::now()) {
            tracing::debug!(path = %path.display(), error = %e, "cannot mark a cache artifact used");
        }
        Ok(Some(body.to_vec()))
    }

    fn store_on_disk(
        &self,
        disk: &DiskCache,
        sha256: &str,
        artifact: &[u8],
    ) -> std::io::Result<()> {
        let Some(path) = self.path(&disk.dir, sha256) else {
            return Ok(());
        };
        let size = (MAGIC.len() + MAC_LEN + artifact.len()) as u64;
        if size > disk.max_bytes {
            tracing::warn!(sha256, size, max = disk.max_bytes, "an artifact is larger than the whole compile cache ([compile] cache_max_bytes); not cached");
            return Ok(());
        }
        let tag = disk
            .mac(&self.engine_hash, sha256, artifact)
            .map_err(std::io::Error::other)?
            .finalize()
            .into_bytes();
        // Unique per writer: two processes may compile the same plugin.
        let tmp = unique_sibling(&path, "tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&tag)?;
            file.write_all(artifact)?;
            std::fs::rename(&tmp, &path)
        };
        let result = write();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        evict(disk, &path);
        Ok(())
    }
}

/// Deletes a cache file that failed a check; the caller recompiles.
fn discard(path: &Path, why: &str) {
    tracing::warn!(path = %path.display(), reason = why, "compile cache artifact refused and deleted; recompiling");
    let removed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(path = %path.display(), error = %e, "cannot delete a refused compile cache artifact");
        }
    }
}

/// Deletes the least recently used files until the directory is within
/// its cap, never `keep` (the artifact just written).
fn evict(disk: &DiskCache, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(&disk.dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            m.is_file().then(|| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.size(),
                    e.path(),
                )
            })
        })
        .collect();
    let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
    if total <= disk.max_bytes {
        return;
    }
    files.sort();
    for (_, size, path) in files {
        if total <= disk.max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), size, "compile cache over its cap: least recently used artifact evicted");
                total = total.saturating_sub(size);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                total = total.saturating_sub(size);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot evict a compile cache artifact")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty component, made distinct by a custom section.
    fn component(tag: &str) -> Vec<u8> {
        let mut section = vec![tag.len() as u8];
        section.extend_from_slice(tag.as_bytes());
        let mut wasm = b"\0asm\x0d\x00\x01\x00".to_vec();
        wasm.push(0);
        wasm.push(section.len() as u8);
        wasm.extend(section);
        wasm
    }

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    const KEY: [u8; 32] = [7; 32];

    fn cache(engine: &Engine, dir: &Path, key: [u8; 32], max_bytes: u64) -> CompileCache {
        let disk = DiskCache::with_key(dir, CacheKey::from_bytes(key), max_bytes).unwrap();
        CompileCache::new(engine, Some(disk), CompileLimits::default())
    }

    /// Compiles `wasm` into a first cache and writes it to disk; returns
    /// its sha256 and file.
    fn persisted(engine: &Engine, dir: &Path, wasm: &[u8]) -> (String, PathBuf) {
        let first = cache(engine, dir, KEY, 1 << 30);
        let sha = sha256_hex(wasm);
        let (component, source) = first.get_or_compile(engine, &sha, wasm).unwrap();
        assert_eq!(source, CompileSource::Compiled);
        first.persist(&sha, &component);
        let path = first.path(dir, &sha).unwrap();
        assert!(path.is_file(), "persist wrote nothing");
        (sha, path)
    }

    fn source_in_fresh_cache(
        engine: &Engine,
        dir: &Path,
        key: [u8; 32],
        wasm: &[u8],
    ) -> CompileSource {
        cache(engine, dir, key, 1 << 30)
            .get_or_compile(engine, &sha256_hex(wasm), wasm)
            .unwrap()
            .1
    }

    #[test]
    fn only_artifacts_this_key_signed_are_loaded_and_the_rest_are_deleted() {
        let (engine, dir) = (engine(), tempfile::tempdir().unwrap());
        let wasm = component("a");
        let (_, path) = persisted(&engine, dir.path(), &wasm);
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &wasm),
            CompileSource::Disk
        );

        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), [8; 32], &wasm),
            CompileSource::Compiled,
            "another server's key"
        );
        assert!(!path.exists(), "an artifact that fails its MAC is deleted");

        // The forger's best: this server's format, the artifact's plain
        // sha256 where the MAC goes.
        persisted(&engine, dir.path(), &wasm);
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[MAGIC.len() + MAC_LEN..];
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&Sha256::digest(body));
        forged.extend_from_slice(body);
        std::fs::write(&path, &forged).unwrap();
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &wasm),
            CompileSource::Compiled
        );
        assert!(!path.exists());

        // The old format: the artifact, then its sha256.
        let mut old = body.to_vec();
        old.extend_from_slice(&Sha256::digest(body));
        std::fs::write(&path, &old).unwrap();
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &wasm),
            CompileSource::Compiled
        );
        assert!(!path.exists());
    }

    #[test]
    fn one_components_artifact_cannot_pass_for_anothers() {
        let (engine, dir) = (engine(), tempfile::tempdir().unwrap());
        let (good, evil) = (component("good"), component("evil"));
        let (_, good_path) = persisted(&engine, dir.path(), &good);
        let (_, evil_path) = persisted(&engine, dir.path(), &evil);
        std::fs::rename(&evil_path, &good_path).unwrap();
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &good),
            CompileSource::Compiled
        );
        assert!(!good_path.exists());
    }

    #[test]
    fn a_link_or_a_fifo_in_place_of_an_artifact_is_deleted_without_being_followed() {
        let (engine, dir) = (engine(), tempfile::tempdir().unwrap());
        let wasm = component("a");
        let (_, path) = persisted(&engine, dir.path(), &wasm);
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("artifact");
        std::fs::rename(&path, &target).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &wasm),
            CompileSource::Compiled,
            "a valid artifact behind a link is still not followed"
        );
        assert!(
            std::fs::symlink_metadata(&path).is_err(),
            "the link is deleted"
        );
        assert!(target.exists(), "what it pointed to is left alone");

        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            source_in_fresh_cache(&engine, dir.path(), KEY, &wasm),
            CompileSource::Compiled
        );
        assert!(
            std::fs::symlink_metadata(&path).is_err(),
            "the FIFO is deleted"
        );
    }

    #[test]
    fn the_least_recently_used_artifact_is_evicted_past_the_cap() {
        let (engine, dir) = (engine(), tempfile::tempdir().unwrap());
        let (a, b, c) = (component("a"), component("b"), component("c"));
        let (_, a_path) = persisted(&engine, dir.path(), &a);
        let (_, b_path) = persisted(&engine, dir.path(), &b);
        let size = std::fs::metadata(&a_path).unwrap().len();
        // Both written long ago, b after a; then a is used.
        let ago = |secs| SystemTime::now() - Duration::from_secs(secs);
        for (path, when) in [(&a_path, ago(200)), (&b_path, ago(100))] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let capped = cache(&engine, dir.path(), KEY, size * 5 / 2);
        let (_, source) = capped.get_or_compile(&engine, &sha256_hex(&a), &a).unwrap();
        assert_eq!(source, CompileSource::Disk);

        let sha_c = sha256_hex(&c);
        let (component, _) = capped.get_or_compile(&engine, &sha_c, &c).unwrap();
        capped.persist(&sha_c, &component);
        assert!(capped.path(dir.path(), &sha_c).unwrap().exists());
        assert!(a_path.exists(), "a was used since b was written");
        assert!(!b_path.exists(), "b, least recently used, is evicted");
    }

    #[test]
    fn compiles_are_bounded_in_size_and_number() {
        let engine = engine();
        let wasm = component("a");
        let small = CompileCache::new(
            &engine,
            None,
            CompileLimits {
                max_component_bytes: wasm.len() - 1,
                ..Default::default()
            },
        );
        let err = small
            .get_or_compile(&engine, &sha256_hex(&wasm), &wasm)
            .unwrap_err();
        assert!(matches!(err, CompileError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("max_upload_bytes"), "{err}");

        let one = CompileCache::new(
            &engine,
            None,
            CompileLimits {
                max_concurrent: 1,
                timeout: Duration::from_millis(50),
                ..Default::default()
            },
        );
        let busy = one.slots.acquire(Duration::ZERO).unwrap();
        let err = one
            .get_or_compile(&engine, &sha256_hex(&wasm), &wasm)
            .unwrap_err();
        assert!(matches!(err, CompileError::Busy { max: 1, .. }), "{err}");
        assert!(
            err.to_string().contains("[compile] max_concurrent"),
            "{err}"
        );
        drop(busy);
        let (_, source) = one
            .get_or_compile(&engine, &sha256_hex(&wasm), &wasm)
            .unwrap();
        assert_eq!(source, CompileSource::Compiled, "the slot was given back");
    }

    #[test]
    fn a_cache_others_could_write_or_a_key_others_could_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let (dir, key) = (root.path().join("cache"), root.path().join("cache.key"));
        DiskCache::open(&dir, &key, 1 << 20).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = DiskCache::open(&dir, &key, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("writable by its group"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = DiskCache::open(&dir, &key, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("readable by other users"), "{err}");

        let inside = dir.join("key");
        let err = DiskCache::open(&dir, &inside, 1 << 20).unwrap_err();
        assert!(
            err.to_string().contains("inside the cache directory"),
            "{err}"
        );
        assert!(!inside.exists(), "no key is made where it is refused");
    }
}
