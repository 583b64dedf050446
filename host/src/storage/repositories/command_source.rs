//! Another service's command log, read page by page and copied into the
//! store (`COMMAND_DB_PATH`).

use crate::domain::metrics::CommandRecord;
use crate::storage::StorageError;

/// One page read from the source.
#[derive(Debug, Default)]
pub struct SourcePage {
    pub records: Vec<CommandRecord>,
    /// Rows that could not be mapped, with why: they are skipped.
    pub skipped: Vec<String>,
    /// The last rowid read; the next page starts after it.
    pub last_rowid: i64,
}

/// A source of commands reported by another service, read in rowid order.
pub trait CommandSource: Send + Sync {
    /// Up to `limit` rows after `after_rowid`. Rows that cannot be mapped
    /// are listed in [`SourcePage::skipped`], never silently dropped.
    fn read_after(&self, after_rowid: i64, limit: u32) -> Result<SourcePage, StorageError>;
}
