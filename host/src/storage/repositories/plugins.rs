//! Plugin versions, their activation history and signatures, recorded
//! evaluations and sampled shadow inputs.

use serde::Serialize;

use crate::domain::registry::{ActivationKind, PluginVersion};
use crate::domain::{PluginKind, Timestamp};
use crate::storage::StorageError;

/// One recorded evaluation: the input is kept so that a later version of
/// the plugin can be replayed against real inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationRecord {
    pub id: i64,
    pub at: Timestamp,
    pub plugin: String,
    pub version: String,
    pub kind: PluginKind,
    pub input: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub elapsed_us: u64,
}

/// A version with what it takes to load it again.
#[derive(Debug, Clone)]
pub struct StoredPlugin {
    pub version: PluginVersion,
    pub manifest: String,
    /// As stored: the caller checks them against `version.sha256`.
    pub bytes: Vec<u8>,
    /// The signature file's JSON it was accepted with, if signed in the
    /// current format; the caller verifies it again.
    pub signature: Option<String>,
}

/// A verified signature, as kept with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignature {
    /// The signature file's JSON.
    pub json: String,
    /// Base64 of the signing key: which versions a key signed, by query.
    pub public_key: String,
}

/// A sampled input, as recorded.
#[derive(Debug, Clone)]
pub struct RecordedInput {
    pub id: i64,
    pub at: Timestamp,
    pub input: serde_json::Value,
}

/// Plugin versions and what is recorded of their evaluations.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait PluginRepository: Send + Sync {
    fn record_evaluation(&self, r: &EvaluationRecord) -> Result<i64, StorageError>;

    /// The newest evaluations first, optionally of one plugin.
    fn recent_evaluations(
        &self,
        plugin: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EvaluationRecord>, StorageError>;

    /// Every version of `name`, newest upload first.
    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StorageError>;

    fn plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<PluginVersion>, StorageError>;

    /// The kind of the plugin's existing versions, if it has any: a name
    /// keeps its kind, since rules and settings refer to it by name.
    fn plugin_kind(&self, name: &str) -> Result<Option<String>, StorageError>;

    /// A version's manifest and bytes, to load it.
    fn stored_plugin(&self, name: &str, version: &str) -> Result<StoredPlugin, StorageError>;

    /// Names and versions of every active plugin.
    fn active_plugin_versions(&self) -> Result<Vec<(String, String)>, StorageError>;

    /// Stores a candidate that passed its gates as an inactive version. A
    /// rejected row of the same version is replaced (the author retried);
    /// any other existing row is a conflict, since a version's bytes never
    /// change once stored.
    fn store_plugin_version(
        &self,
        v: &PluginVersion,
        manifest: &str,
        bytes: &[u8],
        signature: Option<&StoredSignature>,
        audit_action: &str,
    ) -> Result<(), StorageError>;

    /// Records a candidate a gate refused, with the reason, and audits it.
    /// An existing version of the same number that is not itself rejected
    /// is left alone: a bad retry must not hide a good version.
    fn record_rejection(
        &self,
        v: &PluginVersion,
        manifest: &str,
        gate: &str,
    ) -> Result<(), StorageError>;

    /// An audit entry on its own, for refusals that store nothing else
    /// (an unsigned upload where signatures are required).
    fn audit_plugin_event(
        &self,
        actor: &str,
        action: &str,
        target: String,
        detail: serde_json::Value,
        at: Timestamp,
    ) -> Result<(), StorageError>;

    /// Keeps a newly verified signature with a stored version (one signed
    /// in the old format, signed again), and audits it.
    fn set_plugin_signature(
        &self,
        name: &str,
        version: &str,
        signer: &str,
        signature: &StoredSignature,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError>;

    /// Every version of `name` that was ever active, deleted ones included:
    /// what a downgrade is measured against.
    fn versions_ever_active(&self, name: &str) -> Result<Vec<String>, StorageError>;

    /// Makes `version` the active one of `name`, returning the version it
    /// replaces. The change, its history row and its audit entry are one
    /// transaction. `downgrade_from` is the highest version ever active
    /// when this one is lower: audited as a downgrade.
    #[allow(clippy::too_many_arguments)]
    fn activate_plugin_version(
        &self,
        name: &str,
        version: &str,
        how: ActivationKind,
        forced: bool,
        downgrade_from: Option<&str>,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StorageError>;

    /// The version that was active before the current one: what a
    /// rollback goes back to.
    fn rollback_target(&self, name: &str) -> Result<Option<String>, StorageError>;

    /// Deletes an inactive or rejected version, and its bytes if no other
    /// version shares them.
    fn delete_plugin_version(
        &self,
        name: &str,
        version: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<PluginVersion, StorageError>;

    /// Keeps the newest `keep` inputs of `source`. Writes on the caller's
    /// thread without republishing the control state: inputs change no
    /// decision.
    fn record_shadow_input(
        &self,
        source: &str,
        input: &serde_json::Value,
        keep: u32,
        now: Timestamp,
    ) -> Result<(), StorageError>;

    /// The newest `limit` inputs of `source`, newest first.
    fn shadow_inputs(&self, source: &str, limit: u32) -> Result<Vec<RecordedInput>, StorageError>;
}
