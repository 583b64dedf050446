//! Requests answered from an idempotency key rather than by doing the work
//! again, and those refused because of their key.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why a request was refused because of its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// `other_body`: the key was used with another request; `in_progress`:
/// the first request with the key has not answered yet.
pub const CONFLICT_REASONS: [&str; 2] = ["other_body", "in_progress"];

pub(super) struct IdempotencyMetrics {
    replays: Counter,
    conflicts: Family<ReasonLabel, Counter>,
}

impl IdempotencyMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let replays = Counter::default();
        let conflicts = Family::<ReasonLabel, Counter>::default();
        // Every reason from zero, so a rate is 0, not absent.
        for reason in CONFLICT_REASONS {
            conflicts.get_or_create_owned(&ReasonLabel { reason });
        }
        registry.register(
            "regent_idempotent_replays",
            "Requests answered with the stored first answer of their Idempotency-Key (nothing done again).",
            replays.clone(),
        );
        registry.register(
            "regent_idempotency_conflicts",
            "Requests refused 409 because of their Idempotency-Key, by reason (other_body, in_progress).",
            conflicts.clone(),
        );
        Self { replays, conflicts }
    }

    pub(super) fn replayed(&self) {
        self.replays.inc();
    }

    pub(super) fn conflict(&self, reason: &'static str) {
        self.conflicts.get_or_create(&ReasonLabel { reason }).inc();
    }
}
