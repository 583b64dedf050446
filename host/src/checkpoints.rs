//! Writes signed checkpoints of the audit chain ([`crate::domain::checkpoint`])
//! to a file outside the database, and, if asked, to the webhook.
//!
//! A checkpoint is written once `checkpoint_every_entries` entries are new,
//! or `checkpoint_every_secs` after the last one when any entry is new; an
//! idle server writes none, so the file grows with the log, not with time.
//! Each tick also re-reads the entry the last checkpoint vouches for: a log
//! rewritten or truncated under a running server is a fault that fails
//! `/ready`, and no checkpoint is written over it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::config::{AuditSettings, WebhookSettings};
use crate::domain::checkpoint::{Checkpoint, CheckpointError};
use crate::domain::Timestamp;
use crate::storage::prelude::*;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointerError {
    #[error("checkpoint key file {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("checkpoint file {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The log says something other than a checkpoint signed by this key.
    #[error("the audit log contradicts checkpoint file {}: {reason}; run `regent audit verify --checkpoints {}`", path.display(), path.display())]
    Contradicted { path: PathBuf, reason: String },
    #[error("[audit] checkpoints need both checkpoint_key_file and checkpoint_file")]
    NotConfigured,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The last line of a checkpoint file is read from at most this far from
/// its end, so opening a long-lived file costs the same as a new one.
const TAIL_BYTES: u64 = 64 * 1024;

/// How often the writer looks at the log: `checkpoint_every_secs` is at
/// least this, and a rewrite under a running server shows within it.
const TICK: Duration = Duration::from_secs(1);

struct Progress {
    /// The newest checkpoint written (or found at start) with this key.
    last: Option<Checkpoint>,
    /// The newest entry any checkpoint in the file vouches for.
    last_id: i64,
    last_written: Instant,
}

/// What stops checkpoints.
enum Fault {
    /// The log no longer holds what a checkpoint vouches for: nothing more
    /// is vouched for until a person looks (a restart checks again).
    Contradicted(String),
    /// A write or a read failed; the next tick tries again.
    Failed(String),
}

pub struct Checkpointer {
    db: Arc<dyn Store>,
    key: SigningKey,
    file: PathBuf,
    every_entries: u64,
    every: Duration,
    webhook: Option<WebhookSettings>,
    progress: Mutex<Progress>,
    /// Apart from `progress`, so `/ready` never waits on a tick's I/O.
    fault: Mutex<Option<Fault>>,
}

impl Checkpointer {
    /// Reads the key, then checks the log against the file's last
    /// checkpoint: a store restored, truncated or rewritten behind it is
    /// refused here rather than vouched for.
    pub fn open(
        db: Arc<dyn Store>,
        settings: &AuditSettings,
        webhook: &WebhookSettings,
    ) -> Result<Self, CheckpointerError> {
        let (Some(key_path), Some(file)) =
            (&settings.checkpoint_key_file, &settings.checkpoint_file)
        else {
            return Err(CheckpointerError::NotConfigured);
        };
        let key = read_key(key_path)?;
        let last = last_checkpoint(file)?;
        let mut progress = Progress {
            last: None,
            last_id: 0,
            last_written: Instant::now(),
        };
        if let Some(c) = last {
            progress.last_id = c.last_id;
            match c.verify(&key.verifying_key()) {
                Ok(()) => {
                    let (log_last, hash) = log_at(&*db, c.last_id)?;
                    if let Some(reason) = c.contradiction(log_last, hash.as_deref()) {
                        return Err(CheckpointerError::Contradicted {
                            path: file.clone(),
                            reason,
                        });
                    }
                    progress.last = Some(c);
                }
                // A rotated key: its checkpoints are checked with its own
                // public key by `regent audit verify`; this key starts anew.
                Err(CheckpointError::OtherKey { found, expected }) => {
                    tracing::warn!(file = %file.display(), %found, %expected, "the last checkpoint was signed by another key; checkpoints continue with this one");
                }
                Err(e) => {
                    return Err(CheckpointerError::Unreadable {
                        path: file.clone(),
                        reason: format!("its last checkpoint is not valid: {e}"),
                    })
                }
            }
        }
        Ok(Self {
            db,
            key,
            file: file.clone(),
            every_entries: settings.checkpoint_every_entries,
            every: Duration::from_secs(settings.checkpoint_every_secs),
            webhook: settings
                .checkpoint_webhook
                .then(|| webhook.clone())
                .filter(|w| w.url.is_some()),
            progress: Mutex::new(progress),
            fault: Mutex::new(None),
        })
    }

    /// What is wrong, for `/ready`; `None` while checkpoints are written.
    pub fn fault(&self) -> Option<String> {
        match &*self.fault.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(Fault::Contradicted(f) | Fault::Failed(f)) => Some(f.clone()),
            None => None,
        }
    }

    /// Writes a checkpoint if one is due at `now`; returns it. Blocking.
    pub fn tick(&self, now: Instant) -> Result<Option<Checkpoint>, CheckpointerError> {
        self.tick_from(now, false)
    }

    /// [`Self::tick`], first reading the file's last checkpoint again when
    /// `reread` (this replica just took the checkpoint lease over).
    fn tick_from(
        &self,
        now: Instant,
        reread: bool,
    ) -> Result<Option<Checkpoint>, CheckpointerError> {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(
            *self.fault.lock().unwrap_or_else(|p| p.into_inner()),
            Some(Fault::Contradicted(_))
        ) {
            return Ok(None);
        }
        let result = if reread {
            self.resume(&mut progress)
        } else {
            Ok(())
        }
        .and_then(|()| self.tick_locked(&mut progress, now));
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = match &result {
            Err(e @ CheckpointerError::Contradicted { .. }) => {
                Some(Fault::Contradicted(e.to_string()))
            }
            Err(e) => Some(Fault::Failed(e.to_string())),
            Ok(_) => None,
        };
        result
    }

    fn tick_locked(
        &self,
        progress: &mut Progress,
        now: Instant,
    ) -> Result<Option<Checkpoint>, CheckpointerError> {
        if let Some(last) = &progress.last {
            let (log_last, hash) = log_at(&*self.db, last.last_id)?;
            if let Some(reason) = last.contradiction(log_last, hash.as_deref()) {
                return Err(CheckpointerError::Contradicted {
                    path: self.file.clone(),
                    reason,
                });
            }
        }
        let Some((id, hash)) = self.db.audit_last()? else {
            return Ok(None);
        };
        if id <= progress.last_id {
            return Ok(None);
        }
        let new_entries = u64::try_from(id - progress.last_id).unwrap_or(u64::MAX);
        let due = new_entries >= self.every_entries
            || now.saturating_duration_since(progress.last_written) >= self.every;
        if !due {
            return Ok(None);
        }
        // Checkpoint times never go back, even when the wall clock does.
        let time = progress
            .last
            .as_ref()
            .map_or(Timestamp::now(), |l| l.time.max(Timestamp::now()));
        let checkpoint = Checkpoint::sign(&self.key, id, &hash, time);
        append_line(&self.file, &checkpoint.to_line())?;
        progress.last_id = id;
        progress.last_written = now;
        progress.last = Some(checkpoint.clone());
        Ok(Some(checkpoint))
    }

    /// Ticks every [`TICK`] while this replica holds the checkpoint lease
    /// ([`crate::service::leases`]), posting each checkpoint to the webhook
    /// when asked. The first tick after the lease is taken first reads the
    /// file again: another replica may have checkpointed since.
    pub fn job(self: Arc<Self>) -> impl crate::service::leases::LeasedJob {
        let client = self.webhook.as_ref().map(|w| {
            reqwest::Client::builder()
                .timeout(Duration::from_millis(w.timeout_ms))
                .build()
                .unwrap_or_default()
        });
        crate::service::leases::Periodic::new(TICK, true, move |taken_over| {
            let (me, client) = (self.clone(), client.clone());
            async move {
                let ticking = me.clone();
                let ticked = tokio::task::spawn_blocking(move || {
                    ticking.tick_from(Instant::now(), taken_over)
                })
                .await;
                match ticked {
                    Ok(Ok(Some(checkpoint))) => {
                        tracing::debug!(last_id = checkpoint.last_id, "audit checkpoint");
                        if let (Some(settings), Some(client)) = (&me.webhook, &client) {
                            tokio::spawn(post(client.clone(), settings.clone(), checkpoint));
                        }
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "audit checkpoint failed"),
                    Err(e) => tracing::error!(error = %e, "audit checkpoint task failed"),
                }
            }
        })
    }

    /// Adopts the file's last checkpoint when it is newer than the last one
    /// this process knows of (written by another replica sharing the file)
    /// and signed by this key, as [`Self::open`] would.
    fn resume(&self, progress: &mut Progress) -> Result<(), CheckpointerError> {
        let Some(c) = last_checkpoint(&self.file)? else {
            return Ok(());
        };
        if c.last_id <= progress.last_id {
            return Ok(());
        }
        progress.last_id = c.last_id;
        match c.verify(&self.key.verifying_key()) {
            Ok(()) => {
                progress.last = Some(c);
                Ok(())
            }
            // Another key's checkpoints are checked with its own public key.
            Err(CheckpointError::OtherKey { .. }) => Ok(()),
            Err(e) => Err(CheckpointerError::Unreadable {
                path: self.file.clone(),
                reason: format!("its last checkpoint is not valid: {e}"),
            }),
        }
    }
}

/// The log's newest entry id, and the hash of its entry `id`.
fn log_at(db: &dyn Store, id: i64) -> Result<(i64, Option<String>), StorageError> {
    let log_last = db.audit_last()?.map_or(0, |(last, _)| last);
    let hash = if id <= log_last {
        db.audit_hash(id)?
    } else {
        None
    };
    Ok((log_last, hash))
}

fn read_key(path: &Path) -> Result<SigningKey, CheckpointerError> {
    let fail = |reason: String| CheckpointerError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "others may read or write it (mode {mode:o}); `chmod 600` it: whoever holds the key can forge checkpoints"
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    crate::signing::read_secret_key(&text).map_err(|e| fail(e.to_string()))
}

/// The file's last checkpoint, if it has any line. A last line without its
/// newline (a write cut short) is refused: the next append would run into
/// it and spoil both.
fn last_checkpoint(path: &Path) -> Result<Option<Checkpoint>, CheckpointerError> {
    let io = |source| CheckpointerError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(io)?;
    let unreadable = |reason: String| CheckpointerError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    if tail.is_empty() {
        return Ok(None);
    }
    if !tail.ends_with(b"\n") {
        return Err(unreadable(
            "it ends in a partial line (a write cut short?); check it with `regent audit verify --checkpoints` and remove that line".into(),
        ));
    }
    let text = String::from_utf8_lossy(&tail[..tail.len() - 1]);
    let last = text.rsplit('\n').next().unwrap_or_default();
    Checkpoint::parse(last)
        .map(Some)
        .map_err(|e| unreadable(format!("its last line is {e}")))
}

fn append_line(path: &Path, line: &str) -> Result<(), CheckpointerError> {
    let io = |source| CheckpointerError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    // One write of the whole line on an O_APPEND file, then to disk: a
    // checkpoint is either there whole or (after a crash) a partial line
    // that the next start refuses.
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

async fn post(client: reqwest::Client, settings: WebhookSettings, checkpoint: Checkpoint) {
    let Some(url) = settings.url.as_deref() else {
        return;
    };
    let body = serde_json::json!({"kind": "audit.checkpoint", "checkpoint": checkpoint});
    for attempt in 1..=settings.attempts {
        let outcome = match client.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("the webhook answered {}", r.status()),
            Err(e) => format!("cannot reach the webhook: {e}"),
        };
        if attempt == settings.attempts {
            tracing::error!(last_id = checkpoint.last_id, error = %outcome, "an audit checkpoint was not posted to the webhook; it is in the checkpoint file");
            return;
        }
        let backoff = settings
            .backoff_ms
            .saturating_mul(1 << (attempt - 1).min(10));
        tokio::time::sleep(Duration::from_millis(backoff)).await;
    }
}

/// The public half of the key in `path`: what `regent audit verify
/// --key-file` checks with.
pub fn verifying_key_of(path: &Path) -> Result<VerifyingKey, CheckpointerError> {
    Ok(read_key(path)?.verifying_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::{PrincipalKind, Role, TokenRequest};

    fn setup(every_entries: u64) -> (tempfile::TempDir, Arc<dyn Store>, AuditSettings) {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("audit.key");
        let key = SigningKey::from_bytes(&[5; 32]);
        std::fs::write(&key_path, crate::signing::encode_secret_key(&key)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let db: Arc<dyn Store> =
            Arc::new(crate::storage::SqliteStore::open(&dir.path().join("regent.db")).unwrap());
        let settings = AuditSettings {
            checkpoint_key_file: Some(key_path),
            checkpoint_file: Some(dir.path().join("checkpoints.jsonl")),
            checkpoint_every_entries: every_entries,
            checkpoint_every_secs: 3_600,
            checkpoint_webhook: false,
        };
        (dir, db, settings)
    }

    /// Appends `n` audit entries (each a new token).
    fn audit_some(db: &dyn Store, n: usize) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..n {
            let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let request = TokenRequest {
                name: format!("t{i}"),
                roles: vec![Role::Viewer],
                principal: format!("t{i}"),
                principal_named: true,
                kind: PrincipalKind::Person,
                agent: None,
            };
            db.create_token(&request, &format!("hash-{i}"), "test", Timestamp::now())
                .unwrap();
        }
    }

    #[test]
    fn checkpoints_come_every_n_entries_or_after_the_interval() {
        let (_dir, db, settings) = setup(3);
        let cp = Checkpointer::open(db.clone(), &settings, &WebhookSettings::default()).unwrap();
        let t0 = Instant::now();
        assert_eq!(cp.tick(t0).unwrap(), None, "an empty log needs none");
        audit_some(&*db, 2);
        assert_eq!(cp.tick(t0).unwrap(), None, "2 of 3 new entries");
        audit_some(&*db, 1);
        let c = cp.tick(t0).unwrap().expect("3 new entries");
        assert_eq!(
            Some((c.last_id, c.last_hash.clone())),
            db.audit_last().unwrap()
        );
        assert_eq!(
            cp.tick(t0 + Duration::from_secs(7_200)).unwrap(),
            None,
            "nothing new"
        );
        audit_some(&*db, 1);
        assert_eq!(cp.tick(t0 + Duration::from_secs(10)).unwrap(), None);
        let later = cp.tick(t0 + Duration::from_secs(3_600)).unwrap().unwrap();
        assert_eq!(later.last_id, c.last_id + 1);
        let text = std::fs::read_to_string(settings.checkpoint_file.unwrap()).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_restart_refuses_a_log_that_contradicts_the_last_checkpoint() {
        let (_dir, db, settings) = setup(1);
        audit_some(&*db, 3);
        let cp = Checkpointer::open(db.clone(), &settings, &WebhookSettings::default()).unwrap();
        cp.tick(Instant::now()).unwrap().unwrap();
        drop(cp);
        // Reopening over the same log is fine.
        Checkpointer::open(db.clone(), &settings, &WebhookSettings::default()).unwrap();
        // The store is swapped for an older copy: fewer entries.
        let older: Arc<dyn Store> =
            Arc::new(crate::storage::SqliteStore::open_in_memory().unwrap());
        audit_some(&*older, 1);
        let err = Checkpointer::open(older, &settings, &WebhookSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("the log was truncated"), "{err}");
        assert!(err.contains("regent audit verify --checkpoints"), "{err}");
    }

    #[test]
    fn a_log_rewritten_under_a_running_writer_is_a_lasting_fault() {
        let (dir, db, settings) = setup(1);
        audit_some(&*db, 2);
        let cp = Checkpointer::open(db.clone(), &settings, &WebhookSettings::default()).unwrap();
        let first = cp.tick(Instant::now()).unwrap().unwrap();
        assert_eq!(cp.fault(), None);
        // Someone with the file edits the checkpointed entry's hash.
        crate::storage::test_support::overwrite_audit_hash(
            &dir.path().join("regent.db"),
            first.last_id,
            &"ff".repeat(32),
        );
        let err = cp.tick(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("was rewritten"), "{err}");
        // Nothing more is vouched for, however many entries follow.
        audit_some(&*db, 3);
        assert_eq!(cp.tick(Instant::now()).unwrap(), None);
        assert!(cp.fault().unwrap().contains("was rewritten"));
        let lines = std::fs::read_to_string(settings.checkpoint_file.unwrap()).unwrap();
        assert_eq!(lines.lines().count(), 1);
    }

    #[test]
    fn a_partial_last_line_and_a_readable_key_are_refused() {
        let (_dir, db, settings) = setup(1);
        let file = settings.checkpoint_file.clone().unwrap();
        std::fs::write(&file, "{\"lastId\": 1").unwrap();
        let err = Checkpointer::open(db.clone(), &settings, &WebhookSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("partial line"), "{err}");
        std::fs::remove_file(&file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = settings.checkpoint_key_file.clone().unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = Checkpointer::open(db, &settings, &WebhookSettings::default())
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
