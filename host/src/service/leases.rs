//! Background work that runs on one replica at a time: each job runs only
//! while this replica holds the lease named after it
//! ([`LeaseRepository`]), and stops as soon as it may not hold it any more.
//!
//! - **Taking.** A replica that does not hold a lease tries to take it
//!   every [`LeaseTiming::try_every`]. A lease is written to last
//!   [`LeaseTiming::hold_for`], so when its holder dies another replica
//!   takes the work over within `hold_for + try_every`: `[cluster]
//!   lease_ttl_ms`.
//! - **Renewing.** The holder renews every [`LeaseTiming::renew_every`]. A
//!   renewal that fails, finds the lease taken, or does not answer before
//!   the lease would run out stops the job at once: its task is cancelled,
//!   so a run in progress ends at its next await and no run starts after.
//! - **Fencing.** Before each run the job checks, on this process's
//!   monotonic clock, that the lease still binds for a while: from the
//!   instant its last successful renewal was *sent* (the database counted
//!   from later), less a margin, with at least one renewal interval left.
//!   Expiry in the database is later still, so another replica can take
//!   the work only once this one has stopped it.
//! - **Releasing.** At a graceful shutdown every held lease is given up, so
//!   another replica takes the work at its next try instead of waiting out
//!   the lease.
//!
//! On SQLite the single process always gets its leases: the same code path
//! serves one replica and many.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::ClusterSettings;
use crate::domain::Timestamp;
use crate::metrics::Metrics;
use crate::storage::prelude::*;
use crate::storage::StorageError;

/// The jobs under leases, by the name of their lease.
pub const BREAKER_CHECKS: &str = "breaker-checks";
pub const GOVERNANCE_CYCLE: &str = "governance-cycle";
pub const RETENTION: &str = "retention";
pub const AUDIT_CHECKPOINTS: &str = "audit-checkpoints";

/// How long a lease is taken for and how often it is renewed or tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease lasts in the database unless renewed.
    pub hold_for: Duration,
    /// How often the holder renews.
    pub renew_every: Duration,
    /// How often a replica that does not hold a lease tries to take it.
    pub try_every: Duration,
    /// Taken off the lease when judging it on this process's clock, for
    /// the clocks' rates and the time a renewal's answer takes to arrive.
    pub margin: Duration,
}

impl LeaseTiming {
    /// From the takeover bound `ttl` (`[cluster] lease_ttl_ms`) and the
    /// heartbeat: renewals and tries come every heartbeat, at most every
    /// third of the bound; a lease lasts the bound less one try, so that a
    /// dead holder's work is taken over within the bound.
    pub fn new(ttl: Duration, heartbeat: Duration) -> Self {
        let step = heartbeat.min(ttl / 3).max(Duration::from_millis(1));
        let hold_for = ttl.saturating_sub(step).max(step);
        Self {
            hold_for,
            renew_every: step,
            try_every: step,
            margin: hold_for / 10,
        }
    }

    pub fn of(cluster: &ClusterSettings) -> Self {
        Self::new(
            Duration::from_millis(cluster.lease_ttl_ms),
            Duration::from_millis(cluster.heartbeat_ms),
        )
    }

    /// The longest a dead holder's work waits for another replica.
    pub fn takeover_bound(&self) -> Duration {
        self.hold_for + self.try_every
    }

    /// Until when a lease renewed by a request sent at `sent` binds, on
    /// this process's clock.
    fn valid_until(&self, sent: Instant) -> Instant {
        sent + self.hold_for.saturating_sub(self.margin)
    }

    fn hold_for_ms(&self) -> i64 {
        i64::try_from(self.hold_for.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Whether this replica may still act on a lease: shared by the holder
/// (which extends it on every renewal and revokes it when the lease is
/// lost) and the job (which checks it before each run).
#[derive(Clone)]
pub struct Fence {
    valid_until: Arc<watch::Sender<Option<Instant>>>,
    /// A run starts only with at least this much of the lease left.
    run_window: Duration,
}

impl Fence {
    fn new(run_window: Duration) -> Self {
        Self {
            valid_until: Arc::new(watch::Sender::new(None)),
            run_window,
        }
    }

    /// Whether the lease binds now.
    pub fn held(&self) -> bool {
        self.valid_until
            .borrow()
            .is_some_and(|until| Instant::now() < until)
    }

    /// Whether a run may start now: the lease binds for at least one more
    /// renewal interval.
    pub fn may_start(&self) -> bool {
        self.valid_until
            .borrow()
            .is_some_and(|until| Instant::now() + self.run_window < until)
    }

    fn valid_until(&self) -> Option<Instant> {
        *self.valid_until.borrow()
    }

    fn extend(&self, until: Instant) {
        self.valid_until.send_replace(Some(until));
    }

    fn revoke(&self) {
        self.valid_until.send_replace(None);
    }

    /// Waits until a run may start; `false` once the lease is revoked.
    async fn ready(&self) -> bool {
        let mut changes = self.valid_until.subscribe();
        loop {
            if self.may_start() {
                return true;
            }
            if changes.borrow_and_update().is_none() {
                return false;
            }
            // Not enough left: wait for the next renewal (or the end).
            if changes.changed().await.is_err() {
                return false;
            }
        }
    }
}

/// Background work run under a lease.
pub trait LeasedJob: Send + Sync + 'static {
    /// When the next run is due, given when the previous run under this
    /// holding started (`None`: the lease was just taken). `None`: no
    /// more runs.
    fn next_run(&self, previous: Option<Instant>) -> Option<Instant>;

    /// One run. It is cancelled at its next await when the lease is lost;
    /// blocking work goes on the blocking pool and should end well within
    /// the renewal interval. `first`: the first run since this replica
    /// took the lease, when state carried between runs must be read again
    /// (another replica may have moved it on).
    fn run(&self, first: bool) -> impl Future<Output = ()> + Send;
}

/// A job run every `period`: the first run right after the lease is taken
/// when `at_once`, else a period later. A run that overruns its period is
/// followed by the next at once.
pub struct Periodic<F> {
    period: Duration,
    at_once: bool,
    run: F,
}

impl<F, Fut> Periodic<F>
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    pub fn new(period: Duration, at_once: bool, run: F) -> Self {
        Self {
            period,
            at_once,
            run,
        }
    }
}

impl<F, Fut> LeasedJob for Periodic<F>
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn next_run(&self, previous: Option<Instant>) -> Option<Instant> {
        let now = Instant::now();
        Some(match previous {
            None if self.at_once => now,
            None => now + self.period,
            Some(started) => (started + self.period).max(now),
        })
    }

    fn run(&self, first: bool) -> impl Future<Output = ()> + Send {
        (self.run)(first)
    }
}

/// Why a holding ended.
enum Ended {
    /// Shutting down: the lease is to be released.
    Stopped,
    /// Lost, or not known to be held: the job is stopped and the lease
    /// is tried again.
    Lost,
}

/// Cancels a task when dropped: a holder cancelled (or killed in a test)
/// never leaves its job running.
struct CancelOnDrop(Option<JoinHandle<()>>);

impl CancelOnDrop {
    /// Cancels the task and waits for it to end; its error, if it ended
    /// with one other than being cancelled.
    async fn cancel(mut self) -> Option<tokio::task::JoinError> {
        let task = self.0.take()?;
        task.abort();
        task.await.err().filter(|e| !e.is_cancelled())
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Runs each job under its lease, on the current tokio runtime.
pub struct LeaseRunner {
    leases: Arc<dyn LeaseRepository>,
    holder: String,
    timing: LeaseTiming,
    exporter: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for LeaseRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseRunner")
            .field("holder", &self.holder)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl LeaseRunner {
    /// `holder`: this replica's identity ([`crate::replica::replica_id`]).
    pub fn new(
        leases: Arc<dyn LeaseRepository>,
        holder: &str,
        timing: LeaseTiming,
        exporter: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            leases,
            holder: holder.to_string(),
            timing,
            exporter,
            stop: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Runs `job` whenever this replica holds lease `name`, until
    /// [`Self::shutdown`]. Call it inside a tokio runtime.
    pub fn spawn<J: LeasedJob>(self: &Arc<Self>, name: &'static str, job: J) {
        self.exporter.lease_held(name, false);
        let task = tokio::spawn(self.clone().keep(name, Arc::new(job)));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Stops every job and gives up every lease held, for a graceful
    /// shutdown: another replica takes the work at its next try.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a lease task failed");
            }
        }
    }

    /// Stops everything at once without releasing anything, as a process
    /// killed would.
    #[cfg(test)]
    fn kill(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Takes or renews `name` on the blocking pool: `Ok(true)` when this
    /// replica holds it after the call.
    async fn acquire(&self, name: &'static str) -> Result<bool, StorageError> {
        let (leases, holder, ttl) = (
            self.leases.clone(),
            self.holder.clone(),
            self.timing.hold_for_ms(),
        );
        tokio::task::spawn_blocking(move || leases.acquire_lease(name, &holder, ttl))
            .await
            .map_err(|e| StorageError::Backend {
                operation: "take or renew a lease",
                source: Box::new(e),
            })?
            .map(|lease| lease.is_some())
    }

    async fn release(&self, name: &'static str) {
        let (leases, holder) = (self.leases.clone(), self.holder.clone());
        let release = tokio::task::spawn_blocking(move || leases.release_lease(name, &holder));
        // A shutdown waits this long at most for each lease it gives up.
        let bound = self.timing.hold_for.min(Duration::from_secs(2));
        match tokio::time::timeout(bound, release).await {
            Ok(Ok(Ok(()))) => tracing::info!(lease = name, "lease released"),
            Ok(Ok(Err(e))) => {
                tracing::warn!(lease = name, error = %e, "cannot release the lease; it lapses on its own")
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = name, error = %e, "cannot release the lease; it lapses on its own")
            }
            Err(_) => {
                tracing::warn!(
                    lease = name,
                    "releasing the lease did not answer; it lapses on its own"
                )
            }
        }
    }

    /// Tries to take `name` until it is held, runs the job while it is,
    /// and starts over when it is lost, until shutdown.
    async fn keep<J: LeasedJob>(self: Arc<Self>, name: &'static str, job: Arc<J>) {
        let mut stop = self.stop.subscribe();
        // Logged once per outage, not on every try.
        let mut failing = false;
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            let sent = Instant::now();
            match tokio::time::timeout(self.timing.hold_for, self.acquire(name)).await {
                Ok(Ok(true)) => {
                    failing = false;
                    if let Ended::Stopped = self.hold(name, &job, sent, &mut stop).await {
                        self.release(name).await;
                        return;
                    }
                }
                Ok(Ok(false)) => failing = false,
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!(lease = name, error = %e, "cannot take the lease; trying again");
                }
                Err(_) if !failing => {
                    failing = true;
                    tracing::warn!(
                        lease = name,
                        "taking the lease did not answer; trying again"
                    );
                }
                Ok(Err(_)) | Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(self.timing.try_every) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Runs the job while the lease, taken by a request sent at `sent`,
    /// is renewed; stops it the moment it is not.
    async fn hold<J: LeasedJob>(
        &self,
        name: &'static str,
        job: &Arc<J>,
        sent: Instant,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        if *stop.borrow() {
            // Shut down while the lease was being taken: no run starts.
            return Ended::Stopped;
        }
        let fence = Fence::new(self.timing.renew_every);
        fence.extend(self.timing.valid_until(sent));
        tracing::info!(lease = name, holder = %self.holder, "lease taken: this replica runs the job");
        self.exporter.lease_held(name, true);
        let worker = CancelOnDrop(Some(tokio::spawn(
            run_job(
                name,
                job.clone(),
                fence.clone(),
                self.exporter.clone(),
                self.holder.clone(),
            )
            .instrument(tracing::info_span!("lease", lease = name)),
        )));
        let ended = loop {
            let Some(deadline) = fence.valid_until() else {
                break Ended::Lost;
            };
            tokio::select! {
                _ = tokio::time::sleep(self.timing.renew_every) => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop.changed() => break Ended::Stopped,
            }
            let sent = Instant::now();
            match tokio::time::timeout_at(deadline, self.acquire(name)).await {
                Ok(Ok(true)) => fence.extend(self.timing.valid_until(sent)),
                Ok(Ok(false)) => {
                    tracing::warn!(
                        lease = name,
                        "the lease was taken by another replica; the job stops here"
                    );
                    break Ended::Lost;
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = name, error = %e, "cannot renew the lease; the job stops here until it is taken again");
                    break Ended::Lost;
                }
                Err(_) => {
                    tracing::warn!(
                        lease = name,
                        "renewing the lease did not answer before it ran out; the job stops here"
                    );
                    break Ended::Lost;
                }
            }
        };
        fence.revoke();
        if let Some(e) = worker.cancel().await.filter(|e| e.is_panic()) {
            tracing::error!(lease = name, error = %e, "the job panicked");
        }
        self.exporter.lease_held(name, false);
        ended
    }
}

/// Runs the job's schedule under `fence`: each run starts only while the
/// lease binds for long enough.
async fn run_job<J: LeasedJob>(
    name: &'static str,
    job: Arc<J>,
    fence: Fence,
    exporter: Arc<Metrics>,
    holder: String,
) {
    let mut previous = None;
    loop {
        let Some(due) = job.next_run(previous) else {
            return;
        };
        tokio::time::sleep_until(due).await;
        if !fence.ready().await {
            return;
        }
        let first = previous.is_none();
        previous = Some(Instant::now());
        exporter.lease_ran(name);
        let _run = RunRecord::start(name, &holder);
        job.run(first).await;
    }
}

/// A debug event when a run starts and when it ends (or is cancelled), with
/// wall-clock times, so runs on different replicas can be lined up.
struct RunRecord<'a> {
    name: &'static str,
    holder: &'a str,
    started: Timestamp,
}

impl<'a> RunRecord<'a> {
    fn start(name: &'static str, holder: &'a str) -> Self {
        let started = Timestamp::now();
        tracing::debug!(
            lease = name,
            holder,
            started_ms = started.millis(),
            "leased run starts"
        );
        Self {
            name,
            holder,
            started,
        }
    }
}

impl Drop for RunRecord<'_> {
    fn drop(&mut self) {
        tracing::debug!(
            lease = self.name,
            holder = self.holder,
            started_ms = self.started.millis(),
            ended_ms = Timestamp::now().millis(),
            "leased run ends"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::*;
    use crate::storage::postgres_test_support::TestDatabase;
    use crate::storage::{Lease, PostgresOptions, PostgresStore, SqliteStore};

    /// Short enough for tests: renewals and tries every 100 ms, a lease
    /// of 500 ms, a dead holder replaced within 600 ms.
    fn timing() -> LeaseTiming {
        LeaseTiming::new(Duration::from_millis(600), Duration::from_millis(100))
    }

    #[test]
    fn a_dead_holder_is_replaced_within_the_ttl() {
        let t = LeaseTiming::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(t.hold_for, Duration::from_secs(9));
        assert_eq!(t.renew_every, Duration::from_secs(1));
        assert_eq!(t.try_every, Duration::from_secs(1));
        assert_eq!(t.takeover_bound(), Duration::from_secs(10));
        // A slow heartbeat still renews three times per ttl.
        let slow = LeaseTiming::new(Duration::from_secs(9), Duration::from_secs(5));
        assert_eq!(slow.renew_every, Duration::from_secs(3));
        assert_eq!(slow.hold_for, Duration::from_secs(6));
        assert_eq!(slow.takeover_bound(), Duration::from_secs(9));
        // Judged locally, a lease ends before the database lets it go.
        let sent = Instant::now();
        assert!(t.valid_until(sent) < sent + t.hold_for);
    }

    #[tokio::test]
    async fn a_fence_lets_a_run_start_only_with_a_renewal_interval_left() {
        let fence = Fence::new(Duration::from_millis(100));
        assert!(!fence.held() && !fence.may_start());
        fence.extend(Instant::now() + Duration::from_millis(50));
        assert!(fence.held());
        assert!(!fence.may_start(), "too little left to start a run");
        fence.extend(Instant::now() + Duration::from_secs(5));
        assert!(fence.may_start());
        assert!(fence.ready().await);
        fence.revoke();
        assert!(!fence.held());
        assert!(
            !fence.ready().await,
            "a revoked fence never lets a run start"
        );
    }

    /// One run of the test job: who ran it, and when it started and ended
    /// (finished or cancelled).
    #[derive(Debug, Clone)]
    struct Run {
        holder: &'static str,
        start: Instant,
        end: Option<Instant>,
    }

    type Runs = Arc<Mutex<Vec<Run>>>;

    /// Marks its run ended when dropped, as a cancelled run is.
    struct Ending {
        runs: Runs,
        index: usize,
    }

    impl Drop for Ending {
        fn drop(&mut self) {
            self.runs.lock().unwrap()[self.index].end = Some(Instant::now());
        }
    }

    /// Every 20 ms, a run of 15 ms, recorded in `runs`.
    fn recorded(holder: &'static str, runs: &Runs) -> impl LeasedJob {
        recorded_for(holder, runs, Duration::from_millis(15))
    }

    /// Every 20 ms, a run of `length` (unless cancelled), recorded in `runs`.
    fn recorded_for(holder: &'static str, runs: &Runs, length: Duration) -> impl LeasedJob {
        let runs = runs.clone();
        Periodic::new(Duration::from_millis(20), true, move |_| {
            let runs = runs.clone();
            async move {
                let index = {
                    let mut r = runs.lock().unwrap();
                    r.push(Run {
                        holder,
                        start: Instant::now(),
                        end: None,
                    });
                    r.len() - 1
                };
                let _ending = Ending { runs, index };
                tokio::time::sleep(length).await;
            }
        })
    }

    fn runs_of(runs: &Runs, holder: &str) -> Vec<Run> {
        runs.lock()
            .unwrap()
            .iter()
            .filter(|r| r.holder == holder)
            .cloned()
            .collect()
    }

    /// No two runs, of any holder, were ever in progress at once.
    fn assert_no_overlap(runs: &Runs) {
        let mut all = runs.lock().unwrap().clone();
        all.sort_by_key(|r| r.start);
        for pair in all.windows(2) {
            let end = pair[0].end.unwrap_or_else(Instant::now);
            assert!(
                end <= pair[1].start,
                "two runs at once: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    /// Waits up to `within` for `holder`'s first run.
    async fn first_run_of(runs: &Runs, holder: &str, within: Duration) -> Run {
        let until = Instant::now() + within;
        loop {
            if let Some(first) = runs_of(runs, holder).first() {
                return first.clone();
            }
            assert!(Instant::now() < until, "{holder} never ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    const OK: u8 = 0;
    const FAIL: u8 = 1;
    const HANG: u8 = 2;

    /// A replica's way to the leases that can be cut off: its calls then
    /// fail at once, or hang for seconds before failing.
    struct Link {
        leases: Arc<dyn LeaseRepository>,
        state: AtomicU8,
    }

    impl Link {
        fn new(leases: Arc<dyn LeaseRepository>) -> Arc<Self> {
            Arc::new(Self {
                leases,
                state: AtomicU8::new(OK),
            })
        }

        fn set(&self, state: u8) {
            self.state.store(state, Ordering::SeqCst);
        }

        fn cut(&self) -> Result<(), StorageError> {
            let cut = || StorageError::Backend {
                operation: "reach the database",
                source: "cut off".into(),
            };
            match self.state.load(Ordering::SeqCst) {
                FAIL => Err(cut()),
                HANG => {
                    std::thread::sleep(Duration::from_secs(3));
                    Err(cut())
                }
                _ => Ok(()),
            }
        }
    }

    impl LeaseRepository for Link {
        fn acquire_lease(
            &self,
            name: &str,
            holder: &str,
            ttl_ms: i64,
        ) -> Result<Option<Lease>, StorageError> {
            self.cut()?;
            self.leases.acquire_lease(name, holder, ttl_ms)
        }

        fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError> {
            self.cut()?;
            self.leases.release_lease(name, holder)
        }

        fn leases(&self) -> Result<Vec<Lease>, StorageError> {
            self.cut()?;
            self.leases.leases()
        }
    }

    /// Two replicas' stores on one fresh database, and a runtime to run
    /// their runners on (made after the stores: connecting blocks).
    fn two_replicas() -> (
        TestDatabase,
        [Arc<PostgresStore>; 2],
        tokio::runtime::Runtime,
    ) {
        let database = TestDatabase::create();
        let connect =
            || Arc::new(PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap());
        let stores = [connect(), connect()];
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        (database, stores, runtime)
    }

    #[test]
    fn one_replica_runs_the_job_at_a_time_and_another_takes_over_when_it_dies() {
        let (_database, [a, b], runtime) = two_replicas();
        runtime.block_on(async {
            let runs: Runs = Arc::default();
            let first = LeaseRunner::new(a.clone(), "replica-a", timing(), Arc::default());
            let second = LeaseRunner::new(b.clone(), "replica-b", timing(), Arc::default());
            first.spawn("test-job", recorded("replica-a", &runs));
            second.spawn("test-job", recorded("replica-b", &runs));
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let (holder, other, holding, waiting) = if runs_of(&runs, "replica-a").is_empty() {
                ("replica-b", "replica-a", &second, &first)
            } else {
                ("replica-a", "replica-b", &first, &second)
            };
            assert!(runs_of(&runs, holder).len() > 20, "{runs:?}");
            assert!(
                runs_of(&runs, other).is_empty(),
                "only the holder runs the job while it renews"
            );

            holding.kill();
            let died = Instant::now();
            let takeover = first_run_of(&runs, other, Duration::from_secs(5)).await;
            let waited = takeover.start - died;
            let t = timing();
            assert!(
                waited <= t.takeover_bound() + t.try_every,
                "taken over after {waited:?}, bound {:?}",
                t.takeover_bound()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_no_overlap(&runs);

            waiting.shutdown().await;
            let lease = a
                .leases()
                .unwrap()
                .into_iter()
                .find(|l| l.name == "test-job")
                .unwrap();
            assert_eq!(lease.holder, other);
            assert!(
                !lease.held_at(Timestamp::now()),
                "released at shutdown: {lease:?}"
            );
        });
    }

    #[test]
    fn a_holder_cut_off_from_the_database_stops_before_another_takes_over() {
        let (_database, [a, b], runtime) = two_replicas();
        runtime.block_on(async {
            let runs: Runs = Arc::default();
            let (link_a, link_b) = (Link::new(a.clone()), Link::new(b.clone()));
            let first = LeaseRunner::new(link_a.clone(), "replica-a", timing(), Arc::default());
            let second = LeaseRunner::new(link_b.clone(), "replica-b", timing(), Arc::default());
            // A's runs last longer than its lease: only cancelling them
            // keeps them from overlapping B's.
            first.spawn(
                "test-job",
                recorded_for("replica-a", &runs, Duration::from_secs(30)),
            );
            first_run_of(&runs, "replica-a", Duration::from_secs(2)).await;
            second.spawn("test-job", recorded("replica-b", &runs));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(runs_of(&runs, "replica-b").is_empty());

            // A's renewals hang: it must stop its job (the run in progress
            // included) before its lease lapses in the database, which is
            // when B may take it.
            link_a.set(HANG);
            let cut = Instant::now();
            let taken = first_run_of(&runs, "replica-b", Duration::from_secs(3)).await;
            let t = timing();
            assert!(taken.start - cut <= t.takeover_bound() + t.renew_every + t.try_every);
            let last_a = runs_of(&runs, "replica-a").last().cloned().unwrap();
            assert!(
                last_a.end.is_some_and(|end| end <= taken.start),
                "A was still running when B took over: {last_a:?}, {taken:?}"
            );
            assert!(last_a.start < cut + t.hold_for);

            // A comes back: B holds the lease, so A does not run.
            link_a.set(OK);
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(
                runs_of(&runs, "replica-a").last().unwrap().start,
                last_a.start
            );

            // B's renewal fails: its job stops at the next renewal, and A
            // takes over once B's lease lapses.
            link_b.set(FAIL);
            let failed = Instant::now();
            let taken_back = {
                let until = Instant::now() + Duration::from_secs(3);
                loop {
                    if let Some(run) = runs_of(&runs, "replica-a")
                        .into_iter()
                        .find(|r| r.start > failed)
                    {
                        break run;
                    }
                    assert!(Instant::now() < until, "A never took the job back");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            let last_b = runs_of(&runs, "replica-b").last().cloned().unwrap();
            let stopped = last_b.end.unwrap();
            assert!(
                stopped <= failed + t.renew_every + Duration::from_millis(100),
                "B stopped {:?} after its renewal failed",
                stopped - failed
            );
            assert!(taken_back.start >= stopped);
            assert_no_overlap(&runs);
            first.shutdown().await;
            link_b.set(OK);
            second.shutdown().await;
        });
    }

    #[tokio::test]
    async fn a_single_replica_on_sqlite_holds_its_leases_and_gives_them_up_at_shutdown() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let exporter = Arc::new(Metrics::default());
        let runner = LeaseRunner::new(store.clone(), "only", timing(), exporter.clone());
        let runs: Runs = Arc::default();
        runner.spawn("test-job", recorded("only", &runs));
        first_run_of(&runs, "only", Duration::from_secs(2)).await;
        let text = exporter
            .render(Arc::new(crate::metrics::GovernanceFigures::default()))
            .unwrap();
        assert!(
            text.contains("regent_lease_held{lease=\"test-job\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("regent_lease_runs_total{lease=\"test-job\"} 0"),
            "{text}"
        );
        let held = store.leases().unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].holder, "only");
        assert!(held[0].held_at(Timestamp::now()));

        runner.shutdown().await;
        let after = runs.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs.lock().unwrap().len(), after, "no run after shutdown");
        assert!(!store.leases().unwrap()[0].held_at(Timestamp::now()));
        let text = exporter
            .render(Arc::new(crate::metrics::GovernanceFigures::default()))
            .unwrap();
        assert!(
            text.contains("regent_lease_held{lease=\"test-job\"} 0"),
            "{text}"
        );
    }
}
