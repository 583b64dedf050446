//! The embedded SQLite store. Callers see records, never SQL.
//!
//! WAL mode with `synchronous = FULL`: a write that returned is on disk,
//! so nothing acknowledged is lost to a crash. Every change of state runs
//! in one `IMMEDIATE` transaction together with its audit entry, so a
//! failed request changes nothing and two racing requests serialize.

mod access;
mod agents;
mod audit;
mod breakers;
mod command_source;
mod commands;
mod control;
mod events;
mod gauges;
mod governance;
mod plugins;
mod retention;
mod schema;
mod workflows;

pub use access::{AttestationRecord, TokenRecord};
pub use agents::Escalation;
pub use audit::{AuditEntry, AuditVerification, NewAudit};
pub use command_source::{CommandSource, SourcePage};
pub use commands::Ingested;
pub use control::NewDecision;
pub use events::NewAction;
pub use governance::InitialState;
pub use plugins::{RecordedInput, StoredPlugin, StoredSignature};
use schema::MIGRATIONS;

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::domain::{PluginKind, Timestamp};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("cannot open the database at {path}: {message}")]
    Open { path: String, message: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the stored state (a duplicate, a second
    /// pending proposal, a decision already taken).
    #[error("{0}")]
    Conflict(String),
    /// The request names something the store does not hold (an agent to
    /// bind a token to): the caller's mistake, found in the transaction.
    #[error("{0}")]
    Invalid(String),
    /// A decision the domain refused, checked inside the transaction.
    #[error(transparent)]
    Decision(#[from] crate::domain::governance::DecisionError),
    /// A phase change the domain refused, checked inside the transaction.
    #[error(transparent)]
    PhaseChange(#[from] crate::domain::governance::PhaseChangeError),
    /// A stored row that does not parse: the file was edited by hand or
    /// written by a newer Regent.
    #[error("corrupt row in `{table}`: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Stored records are plain structs of strings and numbers.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        table,
        message: e.to_string(),
    })
}

pub struct Database {
    conn: Mutex<Connection>,
    /// Rebuilt after every committed write, so the enforcement point reads
    /// the current state without a query or the connection's lock.
    control: RwLock<Arc<crate::domain::control::ControlSnapshot>>,
}

/// One recorded evaluation: the input is kept so that a later version of
/// the plugin can be replayed against real inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationRecord {
    pub id: i64,
    pub at: Timestamp,
    pub plugin: String,
    pub version: String,
    pub kind: PluginKind,
    pub input: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub elapsed_us: u64,
}

impl Database {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let fail = |message: String| StorageError::Open {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        Self::init(conn).map_err(|e| fail(e.to_string()))
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
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
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

    /// Whether a write can be committed now: `/ready` asks this.
    pub fn check_writable(&self) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE governance_state SET emergency_stop = emergency_stop",
                [],
            )?;
            Ok(())
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // SQLite rolls back a transaction left open by a panicking holder,
        // so the connection is usable even if the mutex was poisoned.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_evaluation(&self, r: &EvaluationRecord) -> Result<i64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO evaluations (at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                r.at.millis(),
                r.plugin,
                r.version,
                r.kind.world(),
                r.input.to_string(),
                r.output.as_ref().map(|o| o.to_string()),
                r.error_code,
                r.error,
                r.elapsed_us as i64,
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The newest evaluations first, optionally of one plugin.
    pub fn recent_evaluations(
        &self,
        plugin: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EvaluationRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us
             FROM evaluations WHERE (?1 IS NULL OR plugin = ?1) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![plugin, limit], |row| {
            let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
            Ok(EvaluationRecord {
                id: row.get(0)?,
                at: Timestamp(row.get(1)?),
                plugin: row.get(2)?,
                version: row.get(3)?,
                kind: row
                    .get::<_, String>(4)?
                    .parse()
                    .unwrap_or(PluginKind::ChecklistItem),
                input: json(row.get(5)?).unwrap_or(serde_json::Value::Null),
                output: json(row.get(6)?),
                error_code: row.get(7)?,
                error: row.get(8)?,
                elapsed_us: row.get::<_, i64>(9)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn schema_version(&self) -> Result<i64, StorageError> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let db = Database::open(&path).unwrap();
            db.record_evaluation(&record("a")).unwrap();
            db.record_evaluation(&record("b")).unwrap();
        }
        let db = Database::open(&path).unwrap();
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
        let db = Database::open(&path).unwrap();
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
