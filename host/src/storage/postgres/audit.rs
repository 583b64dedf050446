//! The audit log on PostgreSQL: the same chain as SQLite's
//! ([`crate::storage::codec::audit_entry_hash`]). Appends from every
//! replica are serialized twice over: by the writer lock every unit of
//! work holds, and by the row lock on the chain's head.

use deadpool_postgres::GenericClient;

use super::{from_json, pg, PostgresStore, StorageError};
use crate::domain::Timestamp;
use crate::storage::codec::{audit_entry_hash, GENESIS};
use crate::storage::repositories::*;

/// Appends one entry inside `tx`.
pub(super) async fn append<C: GenericClient>(
    tx: &C,
    at: Timestamp,
    e: NewAudit<'_>,
) -> Result<i64, StorageError> {
    let head = tx
        .query_opt(
            "SELECT last, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(pg("lock the audit chain's head"))?;
    let (last, prev): (i64, String) = match head {
        Some(row) => (row.get(0), row.get(1)),
        None => (0, GENESIS.to_string()),
    };
    let id = last + 1;
    let before = e.before.as_ref().map(|v| v.to_string());
    let after = e.after.as_ref().map(|v| v.to_string());
    let hash = audit_entry_hash(
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &id,
            &at.millis(),
            &e.actor,
            &e.action,
            &e.target,
            &before,
            &after,
            &prev,
            &hash,
        ],
    )
    .await
    .map_err(pg("append to the audit log"))?;
    tx.execute(
        "INSERT INTO audit_head (id, last, hash) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET last = excluded.last, hash = excluded.hash",
        &[&id, &hash],
    )
    .await
    .map_err(pg("move the audit chain's head"))?;
    Ok(id)
}

fn entry(row: &tokio_postgres::Row) -> Result<AuditEntry, StorageError> {
    let json = |t: Option<String>| {
        t.map(|t| from_json::<serde_json::Value>("audit_log", &t))
            .transpose()
    };
    Ok(AuditEntry {
        id: row.get(0),
        at: Timestamp(row.get(1)),
        actor: row.get(2),
        action: row.get(3),
        target: row.get(4),
        before: json(row.get(5))?,
        after: json(row.get(6))?,
        prev_hash: row.get(7),
        hash: row.get(8),
    })
}

impl AuditRepository for PostgresStore {
    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT id, at_ms, actor, action, target, before, after, prev_hash, hash
                 FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(pg("read the audit log"))?
            .iter()
            .map(entry)
            .collect()
        })
    }

    fn audit_last(&self) -> Result<Option<(i64, String)>, StorageError> {
        self.read(async |c| {
            Ok(c.query_opt(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg("read the audit log"))?
            .map(|r| (r.get(0), r.get(1))))
        })
    }

    fn audit_hash(&self, id: i64) -> Result<Option<String>, StorageError> {
        self.read(async |c| {
            Ok(
                c.query_opt("SELECT hash FROM audit_log WHERE id = $1", &[&id])
                    .await
                    .map_err(pg("read the audit log"))?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn verify_audit(&self) -> Result<AuditVerification, StorageError> {
        self.read(async |c| {
            // One snapshot for the entries and the head, so an append
            // committed meanwhile is not taken for a deletion.
            let rows = c
                .query(
                    "WITH head AS (SELECT last, hash FROM audit_head WHERE id = 1)
                     SELECT id, at_ms, actor, action, target, before, after, prev_hash, hash,
                            (SELECT last FROM head), (SELECT hash FROM head)
                     FROM audit_log ORDER BY id",
                    &[],
                )
                .await
                .map_err(pg("read the audit log"))?;
            let head: Option<(i64, String)> = if rows.is_empty() {
                c.query_opt("SELECT last, hash FROM audit_head WHERE id = 1", &[])
                    .await
                    .map_err(pg("read the audit chain's head"))?
                    .map(|r| (r.get(0), r.get(1)))
            } else {
                let r = &rows[0];
                r.get::<_, Option<i64>>(9).zip(r.get::<_, Option<String>>(10))
            };
            let mut problems = Vec::new();
            let mut prev = GENESIS.to_string();
            let mut expected_id = 1;
            let mut entries = 0u64;
            for r in &rows {
                entries += 1;
                let id: i64 = r.get(0);
                let prev_hash: String = r.get(7);
                let hash: String = r.get(8);
                if id != expected_id {
                    problems.push(format!("entries {expected_id}..{} are missing", id - 1));
                }
                if prev_hash != prev {
                    problems.push(format!("entry {id} does not link to the entry before it"));
                }
                let computed = audit_entry_hash(
                    &prev_hash,
                    id,
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get::<_, Option<&str>>(5),
                    r.get::<_, Option<&str>>(6),
                );
                if computed != hash {
                    problems.push(format!(
                        "entry {id} was edited: its contents do not match its hash"
                    ));
                }
                prev = hash;
                expected_id = id + 1;
            }
            match head {
                Some((last, hash)) if last != expected_id - 1 || hash != prev => problems.push(format!(
                    "the log ends at entry {} but its head records entry {last}: newest entries were deleted or the head was edited",
                    expected_id - 1
                )),
                None if entries > 0 => problems.push("the chain's head is missing".into()),
                _ => {}
            }
            Ok(AuditVerification { entries, problems })
        })
    }
}
