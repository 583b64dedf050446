//! Leases on background work held by this replica, and the runs made
//! under them: summed over the replicas, `regent_lease_held` is 1 per
//! lease while some replica does the work, never 2.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `lease`, not `job`: Prometheus gives every scraped series a `job` label
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LeaseLabel {
    lease: &'static str,
}

pub(super) struct LeaseMetrics {
    held: Family<LeaseLabel, Gauge>,
    runs: Family<LeaseLabel, Counter>,
}

impl LeaseMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let held = Family::<LeaseLabel, Gauge>::default();
        let runs = Family::<LeaseLabel, Counter>::default();
        registry.register(
            "regent_lease_held",
            "1 while this replica holds the lease on a background job (and may run it), else 0.",
            held.clone(),
        );
        registry.register(
            "regent_lease_runs",
            "Runs of a background job started by this replica under its lease.",
            runs.clone(),
        );
        Self { held, runs }
    }

    pub(super) fn held(&self, lease: &'static str, held: bool) {
        self.held
            .get_or_create(&LeaseLabel { lease })
            .set(i64::from(held));
        // The run counter exists from the start too, so a rate is 0, not absent.
        self.runs.get_or_create_owned(&LeaseLabel { lease });
    }

    pub(super) fn ran(&self, lease: &'static str) {
        self.runs.get_or_create(&LeaseLabel { lease }).inc();
    }
}
