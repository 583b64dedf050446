//! The embedded SQLite store: [`SqliteStore`] implements every repository
//! trait of [`crate::storage::repositories`]. Nothing outside this module
//! names `rusqlite`.
//!
//! WAL mode with `synchronous = FULL`: a write that returned is on disk,
//! so nothing acknowledged is lost to a crash. Every change of state runs
//! in one `IMMEDIATE` transaction (a [`UnitOfWork`]) together with its
//! audit entry, so a failed request changes nothing and two racing
//! requests serialize.

mod access;
mod agents;
mod audit;
mod breakers;
mod budgets;
mod command_source;
mod commands;
mod control;
mod events;
mod governance;
mod idempotency;
mod leases;
mod plugins;
mod replicas;
mod retention;
mod schema;
mod scopes;
mod sessions;
mod workflows;

pub use command_source::SqliteCommandSource;

/// Tampering with a store's file, for tests of what notices it.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    /// Rewrites the hash of audit entry `id` behind the store's back, as
    /// someone with the file could.
    pub(crate) fn overwrite_audit_hash(db_path: &Path, id: i64, hash: &str) {
        let conn = rusqlite::Connection::open(db_path).expect("the store's file opens");
        conn.execute_batch("DROP TRIGGER audit_log_no_update")
            .expect("the trigger drops");
        conn.execute(
            "UPDATE audit_log SET hash = ?2 WHERE id = ?1",
            rusqlite::params![id, hash],
        )
        .expect("the entry is rewritten");
    }
}
use schema::MIGRATIONS;

use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension};

use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

/// Every SQLite failure becomes a backend error that keeps the original as
/// its source, so nothing above storage sees `rusqlite`'s types.
impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Backend {
            operation: "run a SQLite statement",
            source: Box::new(e),
        }
    }
}

pub(crate) use crate::storage::codec::{from_json, json_value, to_json};

/// One change of state: a single `IMMEDIATE` transaction that spans every
/// table the change touches (an agent's cost and its trip, a proposal's
/// approval and the phase it moves) and appends the audit entries for it.
/// Committed as a whole by [`SqliteStore::write`] when the closure returns
/// `Ok`, rolled back otherwise, so a change is never stored without its
/// audit entry nor audited without being stored.
pub(crate) struct UnitOfWork<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl UnitOfWork<'_> {
    /// Appends `entry` to the audit chain, inside this unit of work.
    pub(crate) fn audit(&self, at: Timestamp, entry: NewAudit<'_>) -> Result<i64, StorageError> {
        audit::append(&self.tx, at, entry)
    }
}

impl<'c> Deref for UnitOfWork<'c> {
    type Target = rusqlite::Transaction<'c>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Rebuilt after every committed write, so the enforcement point reads
    /// the current state without a query or the connection's lock.
    control: RwLock<Arc<crate::domain::control::ControlSnapshot>>,
}

impl HealthRepository for SqliteStore {
    fn check_writable(&self) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE governance_state SET emergency_stop = emergency_stop",
                [],
            )?;
            Ok(())
        })
    }

    fn schema_version(&self) -> Result<i64, StorageError> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| StorageError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(Box::new(e)))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(Box::new(e)))?;
        Self::init(conn).map_err(|e| fail(Box::new(e)))
    }

    pub fn open_in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tx = conn.transaction()?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        let snapshot = control::read_snapshot(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            control: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// Runs `f` in one IMMEDIATE transaction: committed if it returns Ok,
    /// rolled back otherwise.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&UnitOfWork<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut conn = self.conn();
        let out = {
            let work = UnitOfWork {
                tx: conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?,
            };
            let out = f(&work)?;
            work.tx.commit()?;
            out
        };
        self.publish_control(&conn);
        Ok(out)
    }

    /// Publishes the control state as committed. Called with the
    /// connection's lock held, so two writers publish in commit order.
    fn publish_control(&self, conn: &Connection) {
        let snapshot = control::read_snapshot(conn).unwrap_or_else(|e| {
            // Fail closed: a state that cannot be read denies everything.
            tracing::error!(error = %e, "cannot read the control state; denying all");
            crate::domain::control::ControlSnapshot::fault(e.to_string())
        });
        *self.control.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // SQLite rolls back a transaction left open by a panicking holder,
        // so the connection is usable even if the mutex was poisoned.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PluginKind;

    #[test]
    fn records_survive_reopening_and_filter_by_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/regent.db");
        let record = |plugin: &str| EvaluationRecord {
            id: 0,
            at: Timestamp(1_000),
            plugin: plugin.into(),
            version: "0.1.0".into(),
            kind: PluginKind::BreakerCondition,
            input: serde_json::json!({"now": "x"}),
            output: Some(serde_json::json!({"tripped": true})),
            error_code: None,
            error: None,
            elapsed_us: 12,
        };
        {
            let db = SqliteStore::open(&path).unwrap();
            db.record_evaluation(&record("a")).unwrap();
            db.record_evaluation(&record("b")).unwrap();
        }
        let db = SqliteStore::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert!(db.check_writable().is_ok());
        let all = db.recent_evaluations(None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| r.plugin.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let only_a = db.recent_evaluations(Some("a"), 10).unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].output, Some(serde_json::json!({"tripped": true})));
        assert_eq!(only_a[0].kind, PluginKind::BreakerCondition);
    }

    #[test]
    fn tokens_minted_before_principals_become_their_own_principal() {
        use crate::domain::auth::{PrincipalKind, Role};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regent.db");
        {
            // A store as the release before principals left it.
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..4] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 4).unwrap();
            for (name, roles, hash) in [
                ("ci-reporter", r#"["reporter"]"#, "h1"),
                ("ana", r#"["viewer","tech_lead"]"#, "h2"),
            ] {
                tx.execute(
                    "INSERT INTO tokens (name, roles, hash, created_ms) VALUES (?1, ?2, ?3, 1)",
                    rusqlite::params![name, roles, hash],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let db = SqliteStore::open(&path).unwrap();
        let reporter = db.token_by_hash("h1").unwrap().unwrap();
        assert_eq!(
            (
                reporter.principal.as_str(),
                reporter.kind,
                reporter.agent_id
            ),
            ("ci-reporter", PrincipalKind::System, None)
        );
        let ana = db.token_by_hash("h2").unwrap().unwrap().to_principal();
        assert_eq!((ana.id.as_str(), ana.kind), ("ana", PrincipalKind::Person));
        assert!(ana.names(Role::TechLead));
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use super::SqliteStore;
    use crate::storage::conformance::{conformance_suite, StoreFactory};
    use crate::storage::Store;

    /// A store in a file of its own temporary directory, so reopening it
    /// reads what the earlier handle committed.
    struct SqliteFactory {
        dir: tempfile::TempDir,
    }

    impl SqliteFactory {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().expect("a temporary directory"),
            }
        }
    }

    impl StoreFactory for SqliteFactory {
        fn open(&self) -> Arc<dyn Store> {
            Arc::new(
                SqliteStore::open(&self.dir.path().join("regent.db"))
                    .expect("the test store opens"),
            )
        }
    }

    conformance_suite!(SqliteFactory::new());
}
