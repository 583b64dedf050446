//! Scoped authority: how many scopes have a brake on.

use prometheus_client::encoding::DescriptorEncoder;

use super::store::family::gauges;

/// The braked scopes, from the control snapshot at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ScopeFigures {
    /// Scopes whose autonomy is revoked.
    pub revoked: u64,
    /// Scopes whose own stop is on.
    pub stopped: u64,
}

pub(super) fn encode(e: &mut DescriptorEncoder, s: &ScopeFigures) -> Result<(), std::fmt::Error> {
    gauges(
        e,
        "regent_scopes_braked",
        "Scopes with a brake on, by brake: autonomy revoked, or the scope's own stop.",
        [
            ([("brake", "revoked")], s.revoked),
            ([("brake", "stopped")], s.stopped),
        ],
    )
}
