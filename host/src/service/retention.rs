//! The pruner: every `[retention] every`, one pass prunes each kind past
//! its retention, one small transaction at a time, letting other writers
//! in between batches.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ServiceError, ServiceResult};
use crate::config::GovernanceSettings;
use crate::domain::governance::DAY_MS;
use crate::domain::retention::{Kept, RetentionPolicy, EVENTS_READ_BACK_MS};
use crate::domain::Timestamp;
use crate::metrics::Metrics;
use crate::storage::prelude::*;

/// Rows pruned by one pass, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub pruned: BTreeMap<&'static str, u64>,
}

impl PruneReport {
    pub fn total(&self) -> u64 {
        self.pruned.values().sum()
    }
}

/// Pruning rows past their retention.
pub struct RetentionService {
    db: Arc<dyn Store>,
    exporter: Arc<Metrics>,
    settings: GovernanceSettings,
}

impl RetentionService {
    pub fn new(db: Arc<dyn Store>, exporter: Arc<Metrics>, settings: GovernanceSettings) -> Self {
        Self {
            db,
            exporter,
            settings,
        }
    }

    /// Deletes at most `batch` rows of `what` older than `cutoff`, in one
    /// small transaction, and counts them; returns how many went.
    pub fn prune_batch(&self, what: Kept, cutoff: Timestamp, batch: u32) -> ServiceResult<u64> {
        let n = self.db.prune_batch(what, cutoff, batch)?;
        self.exporter.retention_pruned(what.as_str(), n);
        Ok(n)
    }

    /// Where each kind's retention ends at `now`; kinds kept forever are
    /// absent. Raw commands stay as long as the readiness window or any
    /// breaker rule's window reads them, whatever their period says.
    pub fn retention_cutoffs(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> ServiceResult<Vec<(Kept, Timestamp)>> {
        let longest_rule = self
            .db
            .rules()?
            .iter()
            .map(|r| r.window.millis)
            .max()
            .unwrap_or(0);
        let readiness = i64::from(self.settings.readiness_window_days) * DAY_MS;
        Ok(Kept::ALL
            .into_iter()
            .filter_map(|what| {
                let read_back = match what {
                    Kept::Commands => longest_rule.max(readiness),
                    Kept::Events => EVENTS_READ_BACK_MS,
                    _ => 0,
                };
                policy
                    .cutoff(what, now, read_back)
                    .map(|cutoff| (what, cutoff))
            })
            .collect())
    }
}

/// One pass: each kind batch by batch, on the blocking pool, until a batch
/// comes back short. Counts are added to `regent_retention_deleted_total`.
pub async fn prune_pass(
    retention: Arc<RetentionService>,
    policy: &RetentionPolicy,
    now: Timestamp,
) -> ServiceResult<PruneReport> {
    let cutoffs = {
        let (r, p) = (retention.clone(), policy.clone());
        blocking(move || r.retention_cutoffs(&p, now)).await?
    };
    let batch = policy.batch_rows;
    let mut report = PruneReport::default();
    for (what, cutoff) in cutoffs {
        loop {
            let r = retention.clone();
            let n = blocking(move || r.prune_batch(what, cutoff, batch)).await?;
            *report.pruned.entry(what.as_str()).or_default() += n;
            if n < u64::from(batch) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(report)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ServiceResult<T> + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("the retention task failed: {e}")))?
}

/// The pruner, run under the retention lease: a pass every
/// `policy.every`, the first one a period after the lease is taken. A
/// failed pass is logged and the next one tries again. `None` (logged)
/// when `every` is not a period.
pub fn pruner(
    retention: Arc<RetentionService>,
    policy: RetentionPolicy,
) -> Option<impl super::leases::LeasedJob> {
    let Some(every) = policy.every.as_millis() else {
        tracing::error!("[retention] every is not a period; nothing is pruned");
        return None;
    };
    let every = std::time::Duration::from_millis(every.unsigned_abs());
    let policy = Arc::new(policy);
    Some(super::leases::Periodic::new(every, false, move |_| {
        let (retention, policy) = (retention.clone(), policy.clone());
        async move {
            match prune_pass(retention, &policy, Timestamp::now()).await {
                Ok(r) if r.total() > 0 => {
                    tracing::info!(pruned = ?r.pruned, "retention pass")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention pass failed"),
            }
        }
    }))
}
