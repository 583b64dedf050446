//! Budgets, their ledger, and settling a decision batch against it.
//! SQLite's IMMEDIATE transaction is the lock: one batch settles at a time.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::{json_value, to_json, SqliteStore, StorageError};
use crate::domain::budget::{BudgetDef, BudgetKind, Claim, ClaimKind, RateBuckets, Usage};
use crate::domain::control::Decision;
use crate::domain::Timestamp;
use crate::storage::ledger::{self, LedgerWrites};
use crate::storage::repositories::*;

/// Reads each claimed ledger's usage at `now`. With `prune`, inside the
/// settling transaction, rows that no longer count are deleted first, so
/// the ledger stays as small as the budgets' windows.
pub(super) fn usage(
    conn: &Connection,
    claims: &[Claim],
    now: Timestamp,
    prune: bool,
) -> Result<HashMap<String, Usage>, StorageError> {
    let mut usage = HashMap::with_capacity(claims.len());
    for c in claims {
        let u = match c.kind {
            ClaimKind::Rate { window_ms } => {
                let after = RateBuckets::counted_after(now, window_ms);
                if prune {
                    conn.prepare_cached(
                        "DELETE FROM budget_buckets WHERE ledger = ?1 AND bucket_ms <= ?2",
                    )?
                    .execute(params![c.ledger, after])?;
                }
                let (used, oldest): (i64, Option<i64>) = conn
                    .prepare_cached(
                        "SELECT COALESCE(SUM(n), 0), MIN(bucket_ms) FROM budget_buckets
                         WHERE ledger = ?1 AND bucket_ms > ?2",
                    )?
                    .query_row(params![c.ledger, after], |r| Ok((r.get(0)?, r.get(1)?)))?;
                ledger::rate_usage(window_ms, used, oldest)
            }
            ClaimKind::Concurrency { .. } => {
                if prune {
                    conn.prepare_cached(
                        "DELETE FROM budget_leases WHERE ledger = ?1 AND expires_ms <= ?2",
                    )?
                    .execute(params![c.ledger, now.millis()])?;
                }
                let (live, first): (i64, Option<i64>) = conn
                    .prepare_cached(
                        "SELECT COUNT(*), MIN(expires_ms) FROM budget_leases
                         WHERE ledger = ?1 AND expires_ms > ?2",
                    )?
                    .query_row(params![c.ledger, now.millis()], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                ledger::lease_usage(live, first)
            }
        };
        usage.insert(c.ledger.clone(), u);
    }
    Ok(usage)
}

/// Writes what a settled batch takes; `ids` are the batch's decision ids.
pub(super) fn write_ledger(
    conn: &Connection,
    writes: &LedgerWrites,
    ids: &[i64],
) -> Result<(), StorageError> {
    let mut bump = conn.prepare_cached(
        "INSERT INTO budget_buckets (ledger, bucket_ms, n) VALUES (?1, ?2, ?3)
         ON CONFLICT (ledger, bucket_ms) DO UPDATE SET n = n + excluded.n",
    )?;
    for (ledger, start, n) in &writes.buckets {
        bump.execute(params![ledger, start, n])?;
    }
    let mut lease = conn.prepare_cached(
        "INSERT INTO budget_leases (decision_id, ledger, expires_ms) VALUES (?1, ?2, ?3)",
    )?;
    for (i, ledger, expires) in &writes.leases {
        let id = ids.get(*i).ok_or_else(|| StorageError::Corrupt {
            table: "decisions",
            message: format!("no id for decision {i} of a batch of {}", ids.len()),
        })?;
        lease.execute(params![id, ledger, expires])?;
    }
    Ok(())
}

fn read_def(
    conn: &Connection,
    kind: BudgetKind,
    name: &str,
) -> Result<Option<BudgetDef>, StorageError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM budgets WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
            |r| r.get(0),
        )
        .optional()?;
    body.map(|b| ledger::budget_from_row(kind.as_str(), name.to_string(), &b).map(|(_, d)| d))
        .transpose()
}

impl BudgetRepository for SqliteStore {
    fn put_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<BudgetDef>, StorageError> {
        self.write(|tx| {
            let before = read_def(tx, def.kind(), name)?;
            tx.execute(
                "INSERT INTO budgets (kind, name, body, updated_ms, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body,
                     updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
                params![def.kind().as_str(), name, to_json(def)?, now.millis(), actor],
            )?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "budget.put",
                    target: format!("budget:{}:{name}", def.kind().as_str()),
                    before: before.as_ref().map(json_value).transpose()?,
                    after: Some(json_value(def)?),
                },
            )?;
            Ok(before)
        })
    }

    fn delete_budget(
        &self,
        kind: BudgetKind,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<BudgetDef, StorageError> {
        self.write(|tx| {
            let before = read_def(tx, kind, name)?.ok_or_else(|| {
                StorageError::NotFound(format!("no {} budget named `{name}`", kind.as_str()))
            })?;
            tx.execute(
                "DELETE FROM budgets WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )?;
            if let Some(l) = ledger::ledger_of(kind, name) {
                tx.execute("DELETE FROM budget_buckets WHERE ledger = ?1", [&l])?;
                tx.execute("DELETE FROM budget_leases WHERE ledger = ?1", [&l])?;
            }
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "budget.delete",
                    target: format!("budget:{}:{name}", kind.as_str()),
                    before: Some(json_value(&before)?),
                    after: None,
                },
            )?;
            Ok(before)
        })
    }

    fn seed_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        self.write(|tx| {
            if read_def(tx, def.kind(), name)?.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO budgets (kind, name, body, updated_ms, updated_by) VALUES (?1, ?2, ?3, ?4, 'config')",
                params![def.kind().as_str(), name, to_json(def)?, now.millis()],
            )?;
            tx.audit(
                now,
                NewAudit {
                    actor: "config",
                    action: "budget.put",
                    target: format!("budget:{}:{name}", def.kind().as_str()),
                    before: None,
                    after: Some(json_value(def)?),
                },
            )?;
            Ok(true)
        })
    }

    fn budgets(&self) -> Result<Vec<(BudgetKind, String, BudgetDef)>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT kind, name, body FROM budgets ORDER BY kind, name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, body) = row?;
            let (name, def) = ledger::budget_from_row(&kind, name, &body)?;
            out.push((def.kind(), name, def));
        }
        Ok(out)
    }

    fn budget_usage(
        &self,
        claims: &[Claim],
        now: Timestamp,
    ) -> Result<HashMap<String, Usage>, StorageError> {
        usage(&self.conn(), claims, now, false)
    }

    fn decision_caller(
        &self,
        decision_id: i64,
    ) -> Result<Option<(String, Decision)>, StorageError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT caller, decision FROM decisions WHERE id = ?1",
                [decision_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(caller, decision)| {
            let decision = decision.parse().map_err(|message| StorageError::Corrupt {
                table: "decisions",
                message,
            })?;
            Ok((caller, decision))
        })
        .transpose()
    }

    fn release_leases(&self, decision_id: i64, now: Timestamp) -> Result<u32, StorageError> {
        let conn = self.conn();
        let live = conn.execute(
            "DELETE FROM budget_leases WHERE decision_id = ?1 AND expires_ms > ?2",
            params![decision_id, now.millis()],
        )?;
        conn.execute(
            "DELETE FROM budget_leases WHERE decision_id = ?1",
            [decision_id],
        )?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX))
    }
}

/// The budgets and throttles part of the control snapshot.
pub(super) fn read_into_snapshot(
    conn: &Connection,
    snapshot: &mut crate::domain::control::ControlSnapshot,
) -> Result<(), StorageError> {
    let mut stmt = conn.prepare_cached("SELECT kind, name, body FROM budgets")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<(String, String, String)>, _>>()?;
    snapshot.budgets = ledger::budgets_from_rows(rows)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, rule_name, json_extract(body, '$.throttle') FROM breaker_events
         WHERE resolved_ms IS NULL AND json_extract(body, '$.throttle') IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<(i64, String, String)>, _>>()?;
    for (id, rule, spec) in rows {
        snapshot
            .throttles
            .push(ledger::throttle_from_row(id, rule, &spec)?);
    }
    Ok(())
}
