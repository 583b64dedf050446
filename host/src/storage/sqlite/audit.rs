//! The audit log: append-only, each entry chained to the one before by
//! hash, so an edited or deleted row breaks the chain.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{SqliteStore, StorageError};
use crate::domain::Timestamp;
use crate::storage::codec::{audit_entry_hash as entry_hash, GENESIS};
use crate::storage::repositories::*;

/// Appends one entry inside `tx`.
pub(super) fn append(
    tx: &Transaction<'_>,
    at: Timestamp,
    e: NewAudit<'_>,
) -> Result<i64, StorageError> {
    let head: Option<(i64, String)> = tx
        .query_row("SELECT last, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (last, prev) = head.unwrap_or((0, GENESIS.to_string()));
    let id = last + 1;
    let before = e.before.as_ref().map(|v| v.to_string());
    let after = e.after.as_ref().map(|v| v.to_string());
    let hash = entry_hash(
        &prev,
        id,
        at.millis(),
        e.actor,
        e.action,
        &e.target,
        before.as_deref(),
        after.as_deref(),
    );
    tx.execute(
        "INSERT INTO audit_log (id, at_ms, actor, action, target, before, after, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            at.millis(),
            e.actor,
            e.action,
            e.target,
            before,
            after,
            prev,
            hash
        ],
    )?;
    tx.execute(
        "INSERT INTO audit_head (id, last, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET last = excluded.last, hash = excluded.hash",
        params![id, hash],
    )?;
    Ok(id)
}

impl AuditRepository for SqliteStore {
    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, actor, action, target, before, after, prev_hash, hash
             FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                AuditEntry {
                    id: r.get(0)?,
                    at: Timestamp(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    before: None,
                    after: None,
                    prev_hash: r.get(7)?,
                    hash: r.get(8)?,
                },
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let json = |t: Option<String>| {
            t.map(|t| super::from_json::<serde_json::Value>("audit_log", &t))
                .transpose()
        };
        let mut out = Vec::new();
        for row in rows {
            let (mut entry, before, after) = row?;
            entry.before = json(before)?;
            entry.after = json(after)?;
            out.push(entry);
        }
        Ok(out)
    }

    fn audit_last(&self) -> Result<Option<(i64, String)>, StorageError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn audit_hash(&self, id: i64) -> Result<Option<String>, StorageError> {
        let conn = self.conn();
        Ok(conn
            .query_row("SELECT hash FROM audit_log WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn verify_audit(&self) -> Result<AuditVerification, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, actor, action, target, before, after, prev_hash, hash FROM audit_log ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut problems = Vec::new();
        let mut prev = GENESIS.to_string();
        let mut expected_id = 1;
        let mut entries = 0u64;
        while let Some(r) = rows.next()? {
            entries += 1;
            let id: i64 = r.get(0)?;
            let (actor, action, target): (String, String, String) =
                (r.get(2)?, r.get(3)?, r.get(4)?);
            let (before, after): (Option<String>, Option<String>) = (r.get(5)?, r.get(6)?);
            let (prev_hash, hash): (String, String) = (r.get(7)?, r.get(8)?);
            if id != expected_id {
                problems.push(format!("entries {expected_id}..{} are missing", id - 1));
            }
            if prev_hash != prev {
                problems.push(format!("entry {id} does not link to the entry before it"));
            }
            let computed = entry_hash(
                &prev_hash,
                id,
                r.get(1)?,
                &actor,
                &action,
                &target,
                before.as_deref(),
                after.as_deref(),
            );
            if computed != hash {
                problems.push(format!(
                    "entry {id} was edited: its contents do not match its hash"
                ));
            }
            prev = hash;
            expected_id = id + 1;
        }
        let head: Option<(i64, String)> = conn
            .query_row("SELECT last, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match head {
            Some((last, hash)) if last != expected_id - 1 || hash != prev => problems.push(format!(
                "the log ends at entry {} but its head records entry {last}: newest entries were deleted or the head was edited",
                expected_id - 1
            )),
            None if entries > 0 => problems.push("the chain's head is missing".into()),
            _ => {}
        }
        Ok(AuditVerification { entries, problems })
    }
}
