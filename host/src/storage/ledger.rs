//! Settling a decision batch against its budgets, the same way on every
//! backend. A backend reads the usage of the batch's ledgers under its
//! lock, calls [`settle_batch`], inserts the decisions as settled, then
//! writes the [`LedgerWrites`] in the same transaction.

use std::collections::HashMap;

use crate::domain::breaker::ThrottleSpec;
use crate::domain::budget::{
    settle, ActiveThrottle, BudgetDef, BudgetKind, Budgets, Claim, ClaimKind, Overrun, RateBuckets,
    Settled, Usage,
};
use crate::domain::control::Decision;
use crate::domain::Timestamp;
use crate::storage::codec::from_json;
use crate::storage::{NewDecision, StorageError};

/// What a settled batch adds to the ledger.
#[derive(Debug, Default)]
pub(crate) struct LedgerWrites {
    /// `(ledger, bucket start, count)` to add to rate buckets.
    pub buckets: Vec<(String, i64, i64)>,
    /// `(index in the batch, ledger, expiry)`: a lease for each granted
    /// concurrency claim, keyed by the decision's id once it has one.
    pub leases: Vec<(usize, String, i64)>,
}

/// The distinct claims of the batch's autonomous decisions, one per
/// ledger, sorted so that every replica locks and reads them in one order.
pub(crate) fn claims_of(batch: &[NewDecision]) -> Vec<Claim> {
    let mut by_ledger: HashMap<&str, &Claim> = HashMap::new();
    for d in batch.iter().filter(|d| d.decision == Decision::Autonomous) {
        for c in &d.claims {
            by_ledger.entry(c.ledger.as_str()).or_insert(c);
        }
    }
    let mut claims: Vec<Claim> = by_ledger.into_values().cloned().collect();
    claims.sort_by(|a, b| a.ledger.cmp(&b.ledger));
    claims
}

/// The time a batch is settled at: its latest decision's.
pub(crate) fn settled_at(batch: &[NewDecision]) -> Timestamp {
    batch.iter().map(|d| d.at).max().unwrap_or_default()
}

/// Settles the batch's autonomous decisions in order: a decision over a
/// budget becomes `denied` (or `throttled`) with the reasons, in place,
/// before it is logged. Returns what the granted ones take.
pub(crate) fn settle_batch(
    batch: &mut [NewDecision],
    mut usage: HashMap<String, Usage>,
) -> LedgerWrites {
    let now = settled_at(batch);
    let claimants: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].decision == Decision::Autonomous && !batch[i].claims.is_empty())
        .collect();
    let claims: Vec<&[Claim]> = claimants
        .iter()
        .map(|&i| batch[i].claims.as_slice())
        .collect();
    let outcomes = settle(&claims, &mut usage, now);
    let mut writes = LedgerWrites::default();
    let mut buckets: HashMap<(String, i64), i64> = HashMap::new();
    for (&i, outcome) in claimants.iter().zip(outcomes) {
        match outcome {
            Settled::Granted => {
                let at = batch[i].at;
                for c in &batch[i].claims {
                    match c.kind {
                        ClaimKind::Rate { window_ms } => {
                            *buckets
                                .entry((c.ledger.clone(), RateBuckets::start_of(at, window_ms)))
                                .or_default() += 1;
                        }
                        ClaimKind::Concurrency { lease_ttl_ms } => {
                            writes
                                .leases
                                .push((i, c.ledger.clone(), at.millis() + lease_ttl_ms));
                        }
                    }
                }
            }
            Settled::Refused { overrun, reasons } => {
                let d = &mut batch[i];
                d.decision = match overrun {
                    Overrun::Throttled => Decision::Throttled,
                    Overrun::Denied => Decision::Denied,
                };
                d.reasons = reasons;
            }
        }
    }
    writes.buckets = buckets
        .into_iter()
        .map(|((ledger, start), n)| (ledger, start, n))
        .collect();
    writes.buckets.sort();
    writes
}

/// The usage of one rate ledger from its summed buckets.
pub(crate) fn rate_usage(claim_window_ms: i64, used: i64, oldest_bucket: Option<i64>) -> Usage {
    Usage {
        used: u32::try_from(used.max(0)).unwrap_or(u32::MAX),
        frees_at: oldest_bucket.map(|start| RateBuckets::frees_at(start, claim_window_ms)),
    }
}

/// The usage of one concurrency ledger from its live leases.
pub(crate) fn lease_usage(live: i64, first_expiry: Option<i64>) -> Usage {
    Usage {
        used: u32::try_from(live.max(0)).unwrap_or(u32::MAX),
        frees_at: first_expiry.map(Timestamp),
    }
}

/// The rows of the `budgets` table as the snapshot's [`Budgets`].
pub(crate) fn budgets_from_rows(
    rows: impl IntoIterator<Item = (String, String, String)>,
) -> Result<Budgets, StorageError> {
    let mut budgets = Budgets::default();
    for (kind, name, body) in rows {
        let (name, def) = budget_from_row(&kind, name, &body)?;
        budgets.insert(name, def);
    }
    // Stored order is not meaningful; a stable one makes reasons stable.
    budgets.rates.sort_by(|a, b| a.0.cmp(&b.0));
    budgets.concurrency.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(budgets)
}

pub(crate) fn budget_from_row(
    kind: &str,
    name: String,
    body: &str,
) -> Result<(String, BudgetDef), StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        table: "budgets",
        message,
    };
    let kind: BudgetKind = kind.parse().map_err(corrupt)?;
    let value: serde_json::Value = from_json("budgets", body)?;
    let def = BudgetDef::from_value(kind, value).map_err(|e| corrupt(e.to_string()))?;
    Ok((name, def))
}

/// A throttle from an unresolved event's `throttle`.
pub(crate) fn throttle_from_row(
    event_id: i64,
    rule_name: String,
    spec: &str,
) -> Result<ActiveThrottle, StorageError> {
    Ok(ActiveThrottle {
        event_id,
        rule_name,
        spec: from_json::<ThrottleSpec>("breaker_events", spec)?,
    })
}

/// The ledgers a budget's name owns, to clear when it is deleted (a new
/// budget of the same name starts afresh).
pub(crate) fn ledger_of(kind: BudgetKind, name: &str) -> Option<String> {
    match kind {
        BudgetKind::Rate => Some(format!("rate:{name}")),
        BudgetKind::Concurrency => Some(format!("concurrency:{name}")),
        BudgetKind::Batch => None,
    }
}
