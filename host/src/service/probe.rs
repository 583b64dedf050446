//! `/ready`'s database check, cached: proving the store takes writes means
//! writing to it, and a load balancer polling `/ready` must not turn into a
//! stream of writes. One check runs at a time; every caller within
//! [`READY_MAX_AGE`] of it gets its result.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::domain::Timestamp;

/// How old a reported database check may be.
pub const READY_MAX_AGE: Duration = Duration::from_secs(1);

/// A database check's outcome and when it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCheck {
    /// `None` when the store took the write; otherwise what failed.
    pub failure: Option<String>,
    pub checked_at: Timestamp,
}

pub struct ReadyProbe {
    max_age: Duration,
    /// Held across a check, so callers arriving meanwhile wait for it
    /// rather than each running their own.
    last: tokio::sync::Mutex<Option<(Instant, DatabaseCheck)>>,
    checks: AtomicU64,
}

impl Default for ReadyProbe {
    fn default() -> Self {
        Self::new(READY_MAX_AGE)
    }
}

impl ReadyProbe {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            last: tokio::sync::Mutex::new(None),
            checks: AtomicU64::new(0),
        }
    }

    /// The cached check if it ran within `max_age` of `now`, else the
    /// result of running `check` (which says what failed, if anything).
    pub async fn database<F, Fut>(&self, now: Instant, check: F) -> DatabaseCheck
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<String>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, cached)) = last.as_ref() {
            // A caller that waited on the lock may hold a `now` older than
            // the check it waited for: that check is fresh enough for it.
            if now.saturating_duration_since(*at) <= self.max_age {
                return cached.clone();
            }
        }
        self.checks.fetch_add(1, Ordering::Relaxed);
        let result = DatabaseCheck {
            failure: check().await,
            checked_at: Timestamp::now(),
        };
        *last = Some((now, result.clone()));
        result
    }

    /// How many checks actually ran.
    pub fn checks_run(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(failure: Option<&str>) -> impl Future<Output = Option<String>> {
        std::future::ready(failure.map(str::to_string))
    }

    #[tokio::test]
    async fn a_check_is_reused_until_it_is_older_than_the_max_age() {
        let probe = ReadyProbe::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let first = probe.database(t0, || check(None)).await;
        assert_eq!(first.failure, None);
        for ms in [0, 500, 1_000] {
            let again = probe
                .database(t0 + Duration::from_millis(ms), || check(Some("never run")))
                .await;
            assert_eq!(again, first, "{ms} ms later");
        }
        assert_eq!(probe.checks_run(), 1);
        let later = probe
            .database(t0 + Duration::from_millis(1_001), || {
                check(Some("disk full"))
            })
            .await;
        assert_eq!(later.failure.as_deref(), Some("disk full"));
        assert_eq!(probe.checks_run(), 2);
        // A failure is cached too: it is reported, not retried per call.
        let cached = probe
            .database(t0 + Duration::from_millis(1_500), || check(None))
            .await;
        assert_eq!(cached.failure.as_deref(), Some("disk full"));
        assert_eq!(probe.checks_run(), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_check() {
        let probe = std::sync::Arc::new(ReadyProbe::default());
        let now = Instant::now();
        let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let probe = probe.clone();
            tokio::spawn(async move {
                probe
                    .database(now, || async move {
                        let _ = gate_rx.await;
                        None
                    })
                    .await
            })
        };
        // Let the first caller take the lock and start its check.
        while probe.last.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let probe = probe.clone();
                tokio::spawn(async move { probe.database(now, || check(Some("ran twice"))).await })
            })
            .collect();
        gate_tx.send(()).unwrap();
        let first = first.await.unwrap();
        for w in waiters {
            assert_eq!(w.await.unwrap(), first);
        }
        assert_eq!(probe.checks_run(), 1);
    }
}
