//! A command service's own SQLite database, read read-only
//! (`COMMAND_DB_PATH`). Regent copies its commands into its own store,
//! idempotently by id, so metrics never depend on the other file being
//! there at query time.
//!
//! The expected schema (extra columns are ignored):
//!
//! ```sql
//! CREATE TABLE commands (
//!     id                TEXT PRIMARY KEY,   -- or INTEGER
//!     command_type      TEXT NOT NULL,
//!     status            TEXT NOT NULL,      -- succeeded | failed | rejected | rolled_back, any case; rolledBack too
//!     required_approval INTEGER NOT NULL DEFAULT 0,
//!     autonomous        INTEGER NOT NULL DEFAULT 0,
//!     created_at        TEXT NOT NULL,      -- RFC 3339, or INTEGER milliseconds since the epoch
//!     duration_ms       INTEGER,
//!     error             TEXT
//! );
//! ```

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::StorageError;
use crate::domain::metrics::{CommandRecord, CommandStatus};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

/// Reads a command service's SQLite file, read-only, page by page.
pub struct SqliteCommandSource {
    path: PathBuf,
}

fn status_of(text: &str) -> Option<CommandStatus> {
    match text.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
        "succeeded" | "success" => Some(CommandStatus::Succeeded),
        "failed" | "failure" => Some(CommandStatus::Failed),
        "rejected" => Some(CommandStatus::Rejected),
        "rolledback" => Some(CommandStatus::RolledBack),
        _ => None,
    }
}

impl SqliteCommandSource {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    fn open(&self) -> Result<Connection, StorageError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StorageError::Open {
            path: self.path.display().to_string(),
            source: Box::new(e),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        Ok(conn)
    }
}

impl CommandSource for SqliteCommandSource {
    /// Up to `limit` rows after `after_rowid`, in rowid order.
    fn read_after(&self, after_rowid: i64, limit: u32) -> Result<SourcePage, StorageError> {
        let conn = self.open()?;
        let mut stmt = conn.prepare(
            "SELECT rowid, id, command_type, status, required_approval, autonomous, created_at, duration_ms, error
             FROM commands WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let mut rows = stmt.query(rusqlite::params![after_rowid, limit])?;
        let mut page = SourcePage {
            last_rowid: after_rowid,
            ..Default::default()
        };
        while let Some(r) = rows.next()? {
            let rowid: i64 = r.get(0)?;
            page.last_rowid = rowid;
            let id = match r.get_ref(1)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Integer(i) => i.to_string(),
                _ => {
                    page.skipped
                        .push(format!("row {rowid}: `id` is neither text nor an integer"));
                    continue;
                }
            };
            let status_text: String = r.get(3)?;
            let Some(status) = status_of(&status_text) else {
                page.skipped.push(format!(
                    "row {rowid} (`{id}`): unknown status `{status_text}`"
                ));
                continue;
            };
            let created_at = match r.get_ref(6)? {
                ValueRef::Integer(ms) => Timestamp(ms),
                // A TEXT column stores integer milliseconds as digits.
                ValueRef::Text(t) => match String::from_utf8_lossy(t)
                    .parse::<i64>()
                    .map(Timestamp)
                    .or_else(|_| Timestamp::parse(&String::from_utf8_lossy(t)))
                {
                    Ok(t) => t,
                    Err(e) => {
                        page.skipped
                            .push(format!("row {rowid} (`{id}`): created_at {e}"));
                        continue;
                    }
                },
                _ => {
                    page.skipped
                        .push(format!("row {rowid} (`{id}`): created_at is missing"));
                    continue;
                }
            };
            let record = CommandRecord {
                id,
                command_type: r.get(2)?,
                status,
                required_approval: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
                autonomous: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                created_at: Some(created_at),
                duration_ms: r.get::<_, Option<i64>>(7)?.map(|d| d.max(0) as u64),
                error: r.get(8)?,
            };
            match record.check() {
                Ok(()) => page.records.push(record),
                Err(e) => page.skipped.push(format!("row {rowid}: {e}")),
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_command_services_rows_and_skips_what_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("command.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE commands (id TEXT PRIMARY KEY, command_type TEXT NOT NULL, status TEXT NOT NULL,
                required_approval INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL, duration_ms INTEGER, error TEXT, operator TEXT);
             INSERT INTO commands VALUES ('a', 'SET_FAN', 'SUCCEEDED', 0, 1, '2026-11-01T10:00:00Z', 12, NULL, 'x');
             INSERT INTO commands VALUES ('b', 'SET_DRUM', 'rolledBack', 1, 1, '2026-11-01T10:01:00+01:00', NULL, 'jam', 'x');
             INSERT INTO commands VALUES ('c', 'SET_DRUM', 'exploded', 0, 0, '2026-11-01T10:02:00Z', NULL, NULL, 'x');
             INSERT INTO commands VALUES (42, 'ABORT', 'failed', 0, 0, 1793527200000, NULL, NULL, 'x');
             INSERT INTO commands VALUES ('d', 'SET_FAN', 'rejected', 1, 0, 'yesterday', NULL, NULL, 'x');",
        )
        .unwrap();
        drop(conn);
        let source = SqliteCommandSource::new(&path);
        let page = source.read_after(0, 100).unwrap();
        assert_eq!(page.last_rowid, 5);
        let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "42"]);
        assert_eq!(page.records[1].status, CommandStatus::RolledBack);
        assert!(page.records[1].required_approval);
        assert_eq!(
            page.records[1].created_at.unwrap().to_string(),
            "2026-11-01T09:01:00Z"
        );
        assert_eq!(
            page.records[2].created_at,
            Some(Timestamp(1_793_527_200_000))
        );
        assert_eq!(page.skipped.len(), 2, "{:?}", page.skipped);
        assert!(page.skipped[0].contains("unknown status `exploded`"));
        assert!(page.skipped[1].contains("`yesterday` is not an RFC 3339 time"));
        // Paging resumes after the last row read.
        let next = source.read_after(2, 100).unwrap();
        assert_eq!(next.records[0].id, "42");
        assert!(source.read_after(5, 100).unwrap().records.is_empty());
        // Read-only: the file is never written.
        let err = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .execute("DELETE FROM commands", [])
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }
}
