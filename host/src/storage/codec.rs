//! What every backend stores the same way: records as JSON text, and the
//! audit chain's hash. Shared so that a record written by one backend
//! reads back the same from another, and an audit chain verifies the same
//! whichever backend holds it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::storage::StorageError;

/// The `prev_hash` of the first audit entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serializes a record for a JSON column. A record that cannot be encoded
/// is refused: writing a placeholder would store a row that no longer says
/// what happened.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|source| StorageError::Encode {
        what: std::any::type_name::<T>(),
        source,
    })
}

/// The same for an audit entry's `before`/`after` value.
pub(crate) fn json_value<T: Serialize + ?Sized>(
    value: &T,
) -> Result<serde_json::Value, StorageError> {
    serde_json::to_value(value).map_err(|source| StorageError::Encode {
        what: std::any::type_name::<T>(),
        source,
    })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        table,
        message: e.to_string(),
    })
}

/// The hash of one audit entry, chained to the one before it.
// The hashed fields, in the order they are hashed: a struct would only
// rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_entry_hash(
    prev: &str,
    id: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different entries hash the same text.
    for field in [
        prev,
        &id.to_string(),
        &at_ms.to_string(),
        actor,
        action,
        target,
        before.unwrap_or("\u{0}"),
        after.unwrap_or("\u{0}"),
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}
