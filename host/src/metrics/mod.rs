//! `/metrics`: the Prometheus exposition.
//!
//! Two sources feed it. What the process itself sees (requests, plugin
//! evaluations, swaps, prunes, assignments) lives in a prometheus-client
//! [`Registry`] as atomic counters and per-series histograms, so recording
//! takes no lock shared by every caller. What the store knows (the phase,
//! commands, decisions, incidents...) is read at scrape time with counting
//! queries, so those counters survive restarts; the read is cached for a
//! short interval ([`Metrics::store_figures`]) so that several scrapers, or
//! one scraping fast, do not each query the store.
//!
//! One module per area; each registers its own families and encodes its
//! own store figures:
//! - [`http`]: request durations by method and route;
//! - [`plugins`]: evaluations, the active set, swaps and refusals;
//! - [`governance`]: phase, commands, readiness, incidents, safety;
//! - [`breakers`]: circuit-breaker trips;
//! - [`budgets`]: budgets in use and throttles in force;
//! - [`control`]: authorization decisions, the emergency stop, workflows,
//!   engines' events and risk;
//! - [`fleet`]: task assignments and agents' budgets and breakers;
//! - [`retention`]: rows pruned;
//! - [`idempotency`]: replays and conflicts of idempotency keys;
//! - [`scopes`]: scopes with autonomy revoked or stopped;
//! - [`leases`]: the leases on background work this replica holds.

mod breakers;
mod budgets;
mod control;
mod fleet;
mod governance;
mod http;
mod idempotency;
mod leases;
mod plugins;
mod retention;
mod scopes;
mod store;
mod text;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::registry::Registry;

use crate::domain::PluginKind;

pub use budgets::BudgetFigure;
pub use control::ControlFigures;
pub use governance::{GovernanceFigures, ReadinessFigures};
pub use plugins::ActivePluginFigure;
pub use scopes::ScopeFigures;

/// Seconds: 100 µs to 2.5 s, for every duration histogram.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

fn seconds_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(SECONDS_BUCKETS)
}

/// How long the store's figures are reused when no `[metrics]
/// store_cache_ms` is configured: below any sensible scrape interval.
pub const DEFAULT_STORE_CACHE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot encode the metrics exposition")]
    Encode(#[from] std::fmt::Error),
}

/// Every metric `/metrics` serves. One per process, shared by the API and
/// the services, which record into it through the methods below.
pub struct Metrics {
    registry: Registry,
    http: http::HttpMetrics,
    plugins: plugins::PluginMetrics,
    swaps: plugins::SwapMetrics,
    retention: retention::RetentionMetrics,
    fleet: fleet::AssignmentMetrics,
    leases: leases::LeaseMetrics,
    idempotency: idempotency::IdempotencyMetrics,
    store: store::FiguresCache,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(DEFAULT_STORE_CACHE)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// `store_cache`: how long one read of the store's figures serves
    /// scrapes (zero: every scrape reads the store).
    pub fn new(store_cache: Duration) -> Self {
        let mut registry = Registry::default();
        let plugins = plugins::PluginMetrics::register(&mut registry);
        let swaps = plugins::SwapMetrics::register(&mut registry);
        let retention = retention::RetentionMetrics::register(&mut registry);
        let fleet = fleet::AssignmentMetrics::register(&mut registry);
        let http = http::HttpMetrics::register(&mut registry);
        let leases = leases::LeaseMetrics::register(&mut registry);
        let idempotency = idempotency::IdempotencyMetrics::register(&mut registry);
        Self {
            registry,
            http,
            plugins,
            swaps,
            retention,
            fleet,
            leases,
            idempotency,
            store: store::FiguresCache::new(store_cache),
        }
    }

    /// A version became active, `elapsed` after its request began.
    pub fn plugin_swapped(&self, plugin: &str, elapsed: Duration) {
        self.swaps.swapped(plugin, elapsed);
    }

    /// A candidate version was refused at `gate`.
    pub fn plugin_rejected(&self, gate: &'static str) {
        self.swaps.rejected(gate);
    }

    pub fn plugin_evaluated(
        &self,
        plugin: &str,
        kind: PluginKind,
        elapsed: Duration,
        failed: bool,
    ) {
        self.plugins.evaluated(plugin, kind, elapsed, failed);
    }

    /// A request was answered with its idempotency key's stored answer.
    pub fn idempotent_replay(&self) {
        self.idempotency.replayed();
    }

    /// A request was refused because of its idempotency key; `reason` is
    /// one of [`idempotency::CONFLICT_REASONS`].
    pub fn idempotency_conflict(&self, reason: &'static str) {
        self.idempotency.conflict(reason);
    }

    pub fn http_request(&self, method: &str, route: &str, elapsed: Duration) {
        self.http.request(method, route, elapsed);
    }

    /// Rows of `kind` pruned by retention.
    pub fn retention_pruned(&self, kind: &'static str, rows: u64) {
        self.retention.pruned(kind, rows);
    }

    /// One task assignment, ranking and recording included.
    pub fn assignment_ranked(&self, elapsed: Duration) {
        self.fleet.ranked(elapsed);
    }

    /// Whether this replica now holds the lease on background job `lease`.
    pub fn lease_held(&self, lease: &'static str, held: bool) {
        self.leases.held(lease, held);
    }

    /// A run of background job `lease` began under its lease.
    pub fn lease_ran(&self, lease: &'static str) {
        self.leases.ran(lease);
    }

    /// The store's figures: reused while younger than the cache interval,
    /// otherwise read with `read`. Concurrent scrapes wait for one read
    /// rather than each running their own.
    pub fn store_figures<E>(
        &self,
        read: impl FnOnce() -> Result<GovernanceFigures, E>,
    ) -> Result<Arc<GovernanceFigures>, E> {
        self.store.get_or_read(Instant::now(), read)
    }

    /// The exposition, Prometheus text format 0.0.4: `figures` from the
    /// store, then everything recorded in this process.
    pub fn render(&self, figures: Arc<GovernanceFigures>) -> Result<String, MetricsError> {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(store::StoreFigures(figures)));
        let mut open_metrics = String::with_capacity(16 * 1024);
        encode_registry(&mut open_metrics, &scrape)?;
        encode_registry(&mut open_metrics, &self.registry)?;
        Ok(text::to_prometheus_text(&open_metrics))
    }
}

/// Metric handles found by two keys without allocating once created, so
/// the evaluation and request paths only take a shared read lock (the
/// first use of a series takes the write lock once).
struct SeriesIndex<K, H> {
    map: RwLock<HashMap<K, HashMap<Box<str>, H>>>,
}

impl<K, H> Default for SeriesIndex<K, H> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, H> SeriesIndex<K, H> {
    /// Runs `record` on the series for (`key`, `name`), made by `create`
    /// the first time.
    fn with<Q>(&self, key: &Q, name: &str, create: impl FnOnce() -> H, record: impl FnOnce(&H))
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // Metrics stay usable after a panic elsewhere: the map is only ever
        // inserted into, so a poisoned one is still consistent.
        if let Some(series) = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .and_then(|names| names.get(name))
        {
            record(series);
            return;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let series = map
            .entry(key.to_owned())
            .or_default()
            .entry(name.into())
            .or_insert_with(create);
        record(series);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_in_inf() {
        let e = Metrics::default();
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_micros(50),
            false,
        );
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_millis(3),
            true,
        );
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_secs(10),
            false,
        );
        let text = e
            .render(Arc::new(GovernanceFigures {
                phase: "L3".into(),
                ..Default::default()
            }))
            .unwrap();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let labels = "regent_plugin_evaluation_duration_seconds_bucket{plugin=\"x\",kind=\"breaker-condition\"";
        assert_eq!(line(&format!("{labels},le=\"0.0001\"}}")), "1");
        assert_eq!(line(&format!("{labels},le=\"0.005\"}}")), "2");
        assert_eq!(line(&format!("{labels},le=\"2.5\"}}")), "2");
        assert_eq!(line(&format!("{labels},le=\"+Inf\"}}")), "3");
        assert_eq!(
            line("regent_plugin_evaluation_errors_total{plugin=\"x\""),
            "1"
        );
        assert_eq!(line("regent_phase_info{phase=\"L3\"}"), "1");
        assert_eq!(line("regent_phase_info{phase=\"L4\"}"), "0");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("regent_command_error_ratio ")),
            "no data, no sample"
        );
    }

    #[test]
    fn label_values_are_escaped_and_counters_named_with_total() {
        let e = Metrics::default();
        e.plugin_swapped("a\"b\\c\nd", Duration::from_millis(1));
        let text = e.render(Arc::new(GovernanceFigures::default())).unwrap();
        assert!(
            text.contains("regent_plugin_swaps_total{plugin=\"a\\\"b\\\\c\\nd\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE regent_plugin_swaps_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE regent_plugin_activation_duration_seconds histogram"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn every_gate_and_retention_table_is_exported_from_zero() {
        let text = Metrics::default()
            .render(Arc::new(GovernanceFigures::default()))
            .unwrap();
        for gate in crate::domain::registry::Gate::ALL {
            let line = format!(
                "regent_plugin_rejections_total{{gate=\"{}\"}} 0",
                gate.as_str()
            );
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
        for brake in ["revoked", "stopped"] {
            let line = format!("regent_scopes_braked{{brake=\"{brake}\"}} 0");
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
        for kind in crate::domain::retention::Kept::ALL {
            let line = format!(
                "regent_retention_deleted_total{{table=\"{}\"}} 0",
                kind.as_str()
            );
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
    }

    #[test]
    fn store_figures_are_read_once_per_interval() {
        let cache = store::FiguresCache::new(Duration::from_secs(1));
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Ok::<_, ()>(GovernanceFigures {
                plugin_generation: reads.get(),
                ..Default::default()
            })
        };
        let start = Instant::now();
        let first = cache.get_or_read(start, read).unwrap();
        let again = cache
            .get_or_read(start + Duration::from_millis(999), read)
            .unwrap();
        assert_eq!(reads.get(), 1, "a scrape within the interval reads nothing");
        assert_eq!(again.plugin_generation, first.plugin_generation);
        let later = cache
            .get_or_read(start + Duration::from_secs(1), read)
            .unwrap();
        assert_eq!(reads.get(), 2, "an interval later, the store is read again");
        assert_eq!(later.plugin_generation, 2);

        let uncached = store::FiguresCache::new(Duration::ZERO);
        uncached.get_or_read(start, read).unwrap();
        uncached.get_or_read(start, read).unwrap();
        assert_eq!(reads.get(), 4, "a zero interval reads every time");
    }

    #[test]
    fn a_failed_read_is_not_cached() {
        let cache = store::FiguresCache::new(Duration::from_secs(60));
        let now = Instant::now();
        assert!(cache.get_or_read(now, || Err("store down")).is_err());
        let figures = cache
            .get_or_read(now, || {
                Ok::<_, &str>(GovernanceFigures {
                    phase: "L4".into(),
                    ..Default::default()
                })
            })
            .unwrap();
        assert_eq!(figures.phase, "L4");
    }
}
