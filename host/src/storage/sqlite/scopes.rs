//! Scoped authority: each scope's grant and stop.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{SqliteStore, StorageError};
use crate::domain::scopes::{Scope, ScopeBrakes};
use crate::domain::Timestamp;
use crate::storage::repositories::scopes::{audit_entry, next_autonomy, next_stop};
use crate::storage::repositories::*;

const COLUMNS: &str = "scope, autonomous, autonomy_by, autonomy_ms, autonomy_reason, \
                       stopped, stopped_by, stopped_ms, stop_reason, resumed_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Scope> {
    Ok(Scope {
        scope: r.get(0)?,
        autonomous: r.get(1)?,
        autonomy_by: r.get(2)?,
        autonomy_at: r.get::<_, Option<i64>>(3)?.map(Timestamp),
        autonomy_reason: r.get(4)?,
        stopped: r.get(5)?,
        stopped_by: r.get(6)?,
        stopped_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        stop_reason: r.get(8)?,
        last_resumed_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
    })
}

fn read_one(conn: &Connection, scope: &str) -> Result<Option<Scope>, StorageError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM scopes WHERE scope = ?1"))?;
    Ok(stmt.query_row([scope], from_row).optional()?)
}

fn read_all(conn: &Connection, braked_only: bool) -> Result<Vec<Scope>, StorageError> {
    let sql = if braked_only {
        format!("SELECT {COLUMNS} FROM scopes WHERE autonomous = 0 OR stopped = 1 ORDER BY scope")
    } else {
        format!("SELECT {COLUMNS} FROM scopes ORDER BY scope")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<Vec<Scope>, _>>()?)
}

/// The braked scopes, for the control snapshot.
pub(super) fn read_brakes(conn: &Connection) -> Result<HashMap<String, ScopeBrakes>, StorageError> {
    Ok(read_all(conn, true)?
        .into_iter()
        .filter_map(|s| s.brakes().map(|b| (s.scope, b)))
        .collect())
}

fn store(conn: &Connection, s: &Scope) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO scopes (scope, autonomous, autonomy_by, autonomy_ms, autonomy_reason,
                             stopped, stopped_by, stopped_ms, stop_reason, resumed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (scope) DO UPDATE SET
            autonomous = excluded.autonomous, autonomy_by = excluded.autonomy_by,
            autonomy_ms = excluded.autonomy_ms, autonomy_reason = excluded.autonomy_reason,
            stopped = excluded.stopped, stopped_by = excluded.stopped_by,
            stopped_ms = excluded.stopped_ms, stop_reason = excluded.stop_reason,
            resumed_ms = excluded.resumed_ms",
        params![
            s.scope,
            s.autonomous,
            s.autonomy_by,
            s.autonomy_at.map(|t| t.millis()),
            s.autonomy_reason,
            s.stopped,
            s.stopped_by,
            s.stopped_at.map(|t| t.millis()),
            s.stop_reason,
            s.last_resumed_at.map(|t| t.millis()),
        ],
    )?;
    Ok(())
}

impl ScopeRepository for SqliteStore {
    fn scopes(&self) -> Result<Vec<Scope>, StorageError> {
        read_all(&self.conn(), false)
    }

    fn scope(&self, scope: &str) -> Result<Scope, StorageError> {
        read_one(&self.conn(), scope)?.ok_or_else(|| {
            StorageError::NotFound(format!(
                "scope `{scope}` is not configured: its autonomy follows the phase"
            ))
        })
    }

    fn set_scope_autonomy(
        &self,
        scope: &str,
        autonomous: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError> {
        self.write(|tx| {
            let before = read_one(tx, scope)?;
            let (after, changed) =
                next_autonomy(scope, before.as_ref(), autonomous, actor, reason, now);
            if !changed {
                return Ok((after, false));
            }
            store(tx, &after)?;
            let action = if autonomous {
                "scope.grant"
            } else {
                "scope.revoke"
            };
            tx.audit(
                now,
                audit_entry(actor, action, before.as_ref(), &after, reason)?,
            )?;
            Ok((after, true))
        })
    }

    fn set_scope_stop(
        &self,
        scope: &str,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError> {
        self.write(|tx| {
            let before = read_one(tx, scope)?;
            let (after, changed) = next_stop(scope, before.as_ref(), stop, actor, reason, now)?;
            if !changed {
                return Ok((after, false));
            }
            store(tx, &after)?;
            let action = if stop { "scope.stop" } else { "scope.resume" };
            tx.audit(
                now,
                audit_entry(actor, action, before.as_ref(), &after, reason)?,
            )?;
            Ok((after, true))
        })
    }
}
