//! Budgets and their ledger: the port of `storage/sqlite/budgets.rs`.
//! A batch with claims settles under [`BUDGET_LOCK`], which every replica
//! takes, so concurrent batches across replicas never grant more than a
//! budget holds.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::{json_value, pg, to_json, PostgresStore, StorageError};
use crate::domain::budget::{BudgetDef, BudgetKind, Claim, ClaimKind, RateBuckets, Usage};
use crate::domain::control::{ControlSnapshot, Decision};
use crate::domain::Timestamp;
use crate::storage::ledger::{self, LedgerWrites};
use crate::storage::repositories::*;

/// The transaction-level advisory lock a batch with claims takes before it
/// reads its ledgers ("regent:b" in ASCII). Not the writer lock: settling
/// budgets does not wait for governance writes, nor they for it.
pub(super) const BUDGET_LOCK: i64 = 0x7265_6765_6e74_3a62;

/// Reads each claimed ledger's usage at `now`; with `prune`, inside the
/// settling transaction, deletes the rows that no longer count first.
pub(super) async fn usage<C: GenericClient>(
    c: &C,
    claims: &[Claim],
    now: Timestamp,
    prune: bool,
) -> Result<HashMap<String, Usage>, StorageError> {
    let read = pg("read a budget's use");
    let mut usage = HashMap::with_capacity(claims.len());
    for claim in claims {
        let u = match claim.kind {
            ClaimKind::Rate { window_ms } => {
                let after = RateBuckets::counted_after(now, window_ms);
                if prune {
                    c.execute(
                        "DELETE FROM budget_buckets WHERE ledger = $1 AND bucket_ms <= $2",
                        &[&claim.ledger, &after],
                    )
                    .await
                    .map_err(pg("prune a rate budget's buckets"))?;
                }
                let row = c
                    .query_one(
                        "SELECT COALESCE(SUM(n), 0)::bigint, MIN(bucket_ms) FROM budget_buckets
                         WHERE ledger = $1 AND bucket_ms > $2",
                        &[&claim.ledger, &after],
                    )
                    .await
                    .map_err(&read)?;
                ledger::rate_usage(window_ms, row.get(0), row.get(1))
            }
            ClaimKind::Concurrency { .. } => {
                if prune {
                    c.execute(
                        "DELETE FROM budget_leases WHERE ledger = $1 AND expires_ms <= $2",
                        &[&claim.ledger, &now.millis()],
                    )
                    .await
                    .map_err(pg("prune expired leases"))?;
                }
                let row = c
                    .query_one(
                        "SELECT COUNT(*), MIN(expires_ms) FROM budget_leases
                         WHERE ledger = $1 AND expires_ms > $2",
                        &[&claim.ledger, &now.millis()],
                    )
                    .await
                    .map_err(&read)?;
                ledger::lease_usage(row.get(0), row.get(1))
            }
        };
        usage.insert(claim.ledger.clone(), u);
    }
    Ok(usage)
}

/// Writes what a settled batch takes; `ids` are the batch's decision ids.
pub(super) async fn write_ledger<C: GenericClient>(
    c: &C,
    writes: &LedgerWrites,
    ids: &[i64],
) -> Result<(), StorageError> {
    if !writes.buckets.is_empty() {
        let (ledgers, (starts, counts)): (Vec<&str>, (Vec<i64>, Vec<i64>)) = writes
            .buckets
            .iter()
            .map(|(l, s, n)| (l.as_str(), (*s, *n)))
            .unzip();
        c.execute(
            "INSERT INTO budget_buckets (ledger, bucket_ms, n)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])
             ON CONFLICT (ledger, bucket_ms) DO UPDATE SET n = budget_buckets.n + excluded.n",
            &[&ledgers, &starts, &counts],
        )
        .await
        .map_err(pg("count a batch against its rate budgets"))?;
    }
    if !writes.leases.is_empty() {
        let mut decision_ids = Vec::with_capacity(writes.leases.len());
        let mut ledgers = Vec::with_capacity(writes.leases.len());
        let mut expiries = Vec::with_capacity(writes.leases.len());
        for (i, ledger, expires) in &writes.leases {
            decision_ids.push(*ids.get(*i).ok_or_else(|| StorageError::Corrupt {
                table: "decisions",
                message: format!("no id for decision {i} of a batch of {}", ids.len()),
            })?);
            ledgers.push(ledger.as_str());
            expiries.push(*expires);
        }
        c.execute(
            "INSERT INTO budget_leases (decision_id, ledger, expires_ms)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])",
            &[&decision_ids, &ledgers, &expiries],
        )
        .await
        .map_err(pg("take the batch's concurrency leases"))?;
    }
    Ok(())
}

async fn read_def<C: GenericClient>(
    c: &C,
    kind: BudgetKind,
    name: &str,
) -> Result<Option<BudgetDef>, StorageError> {
    let row = c
        .query_opt(
            "SELECT body FROM budgets WHERE kind = $1 AND name = $2",
            &[&kind.as_str(), &name],
        )
        .await
        .map_err(pg("read a budget"))?;
    row.map(|r| ledger::budget_from_row(kind.as_str(), name.to_string(), r.get(0)).map(|(_, d)| d))
        .transpose()
}

/// The budgets and throttles part of the control snapshot.
pub(super) async fn read_into_snapshot<C: GenericClient>(
    c: &C,
    snapshot: &mut ControlSnapshot,
) -> Result<(), StorageError> {
    let read = pg("read the budgets");
    let rows = c
        .query("SELECT kind, name, body FROM budgets", &[])
        .await
        .map_err(&read)?;
    snapshot.budgets =
        ledger::budgets_from_rows(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))))?;
    for r in c
        .query(
            "SELECT id, rule_name, (body::jsonb -> 'throttle')::text FROM breaker_events
             WHERE resolved_ms IS NULL AND body::jsonb -> 'throttle' IS NOT NULL
               AND body::jsonb -> 'throttle' != 'null'::jsonb
             ORDER BY id",
            &[],
        )
        .await
        .map_err(&read)?
    {
        snapshot
            .throttles
            .push(ledger::throttle_from_row(r.get(0), r.get(1), r.get(2))?);
    }
    Ok(())
}

impl BudgetRepository for PostgresStore {
    fn put_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<BudgetDef>, StorageError> {
        self.write(async |tx| {
            let before = read_def(&**tx, def.kind(), name).await?;
            tx.execute(
                "INSERT INTO budgets (kind, name, body, updated_ms, updated_by) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body,
                     updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
                &[&def.kind().as_str(), &name, &to_json(def)?, &now.millis(), &actor],
            )
            .await
            .map_err(pg("save a budget"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "budget.put",
                    target: format!("budget:{}:{name}", def.kind().as_str()),
                    before: before.as_ref().map(json_value).transpose()?,
                    after: Some(json_value(def)?),
                },
            )
            .await?;
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
        self.write(async |tx| {
            let before = read_def(&**tx, kind, name).await?.ok_or_else(|| {
                StorageError::NotFound(format!("no {} budget named `{name}`", kind.as_str()))
            })?;
            tx.execute(
                "DELETE FROM budgets WHERE kind = $1 AND name = $2",
                &[&kind.as_str(), &name],
            )
            .await
            .map_err(pg("delete a budget"))?;
            if let Some(l) = ledger::ledger_of(kind, name) {
                tx.execute("DELETE FROM budget_buckets WHERE ledger = $1", &[&l])
                    .await
                    .map_err(pg("delete a budget's buckets"))?;
                tx.execute("DELETE FROM budget_leases WHERE ledger = $1", &[&l])
                    .await
                    .map_err(pg("delete a budget's leases"))?;
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
            )
            .await?;
            Ok(before)
        })
    }

    fn seed_budget(
        &self,
        name: &str,
        def: &BudgetDef,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        self.write(async |tx| {
            if read_def(&**tx, def.kind(), name).await?.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO budgets (kind, name, body, updated_ms, updated_by) VALUES ($1, $2, $3, $4, 'config')",
                &[&def.kind().as_str(), &name, &to_json(def)?, &now.millis()],
            )
            .await
            .map_err(pg("seed a budget"))?;
            tx.audit(
                now,
                NewAudit {
                    actor: "config",
                    action: "budget.put",
                    target: format!("budget:{}:{name}", def.kind().as_str()),
                    before: None,
                    after: Some(json_value(def)?),
                },
            )
            .await?;
            Ok(true)
        })
    }

    fn budgets(&self) -> Result<Vec<(BudgetKind, String, BudgetDef)>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT kind, name, body FROM budgets ORDER BY kind, name",
                    &[],
                )
                .await
                .map_err(pg("read the budgets"))?;
            rows.iter()
                .map(|r| {
                    let (name, def) = ledger::budget_from_row(r.get(0), r.get(1), r.get(2))?;
                    Ok((def.kind(), name, def))
                })
                .collect()
        })
    }

    fn budget_usage(
        &self,
        claims: &[Claim],
        now: Timestamp,
    ) -> Result<HashMap<String, Usage>, StorageError> {
        self.read(async |c| usage(c, claims, now, false).await)
    }

    fn decision_caller(
        &self,
        decision_id: i64,
    ) -> Result<Option<(String, Decision)>, StorageError> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    "SELECT caller, decision FROM decisions WHERE id = $1",
                    &[&decision_id],
                )
                .await
                .map_err(pg("read a decision"))?;
            row.map(|r| {
                let decision =
                    r.get::<_, &str>(1)
                        .parse()
                        .map_err(|message| StorageError::Corrupt {
                            table: "decisions",
                            message,
                        })?;
                Ok((r.get(0), decision))
            })
            .transpose()
        })
    }

    fn release_leases(&self, decision_id: i64, now: Timestamp) -> Result<u32, StorageError> {
        self.read(async |c| {
            let row = c
                .query_one(
                    "WITH released AS (DELETE FROM budget_leases WHERE decision_id = $1 RETURNING expires_ms)
                     SELECT COUNT(*) FILTER (WHERE expires_ms > $2) FROM released",
                    &[&decision_id, &now.millis()],
                )
                .await
                .map_err(pg("release a decision's leases"))?;
            Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
        })
    }
}
