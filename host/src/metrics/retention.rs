//! Rows pruned by retention since start.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::domain::retention::Kept;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

pub(super) struct RetentionMetrics {
    deleted: Family<TableLabel, Counter>,
}

impl RetentionMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let deleted = Family::<TableLabel, Counter>::default();
        // Every kind from zero, so a rate over a table never pruned yet is 0, not absent.
        for kind in Kept::ALL {
            deleted.get_or_create_owned(&TableLabel {
                table: kind.as_str(),
            });
        }
        registry.register(
            "regent_retention_deleted",
            "Rows pruned by retention since start, by kind (webhook_attempts: errors cleared).",
            deleted.clone(),
        );
        Self { deleted }
    }

    pub(super) fn pruned(&self, kind: &'static str, rows: u64) {
        self.deleted
            .get_or_create(&TableLabel { table: kind })
            .inc_by(rows);
    }
}
