//! Not yet ported from `storage/sqlite/plugins.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::registry::{ActivationKind, PluginVersion};
use crate::domain::{PluginKind, Timestamp};
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl PluginRepository for PostgresStore {
    fn record_evaluation(&self, r: &EvaluationRecord) -> Result<i64, StorageError> {
        Err(not_ported("PluginRepository::record_evaluation"))
    }

    fn recent_evaluations( &self, plugin: Option<&str>, limit: u32, ) -> Result<Vec<EvaluationRecord>, StorageError> {
        Err(not_ported("PluginRepository::recent_evaluations"))
    }

    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StorageError> {
        Err(not_ported("PluginRepository::plugin_versions"))
    }

    fn plugin_version( &self, name: &str, version: &str, ) -> Result<Option<PluginVersion>, StorageError> {
        Err(not_ported("PluginRepository::plugin_version"))
    }

    fn plugin_kind(&self, name: &str) -> Result<Option<String>, StorageError> {
        Err(not_ported("PluginRepository::plugin_kind"))
    }

    fn stored_plugin(&self, name: &str, version: &str) -> Result<StoredPlugin, StorageError> {
        Err(not_ported("PluginRepository::stored_plugin"))
    }

    fn active_plugin_versions(&self) -> Result<Vec<(String, String)>, StorageError> {
        Err(not_ported("PluginRepository::active_plugin_versions"))
    }

    fn store_plugin_version( &self, v: &PluginVersion, manifest: &str, bytes: &[u8], signature: Option<&StoredSignature>, audit_action: &str, ) -> Result<(), StorageError> {
        Err(not_ported("PluginRepository::store_plugin_version"))
    }

    fn record_rejection( &self, v: &PluginVersion, manifest: &str, gate: &str, ) -> Result<(), StorageError> {
        Err(not_ported("PluginRepository::record_rejection"))
    }

    fn audit_plugin_event( &self, actor: &str, action: &str, target: String, detail: serde_json::Value, at: Timestamp, ) -> Result<(), StorageError> {
        Err(not_ported("PluginRepository::audit_plugin_event"))
    }

    fn set_plugin_signature( &self, name: &str, version: &str, signer: &str, signature: &StoredSignature, actor: &str, now: Timestamp, ) -> Result<(), StorageError> {
        Err(not_ported("PluginRepository::set_plugin_signature"))
    }

    fn versions_ever_active(&self, name: &str) -> Result<Vec<String>, StorageError> {
        Err(not_ported("PluginRepository::versions_ever_active"))
    }

    fn activate_plugin_version( &self, name: &str, version: &str, how: ActivationKind, forced: bool, downgrade_from: Option<&str>, actor: &str, now: Timestamp, ) -> Result<Option<String>, StorageError> {
        Err(not_ported("PluginRepository::activate_plugin_version"))
    }

    fn rollback_target(&self, name: &str) -> Result<Option<String>, StorageError> {
        Err(not_ported("PluginRepository::rollback_target"))
    }

    fn delete_plugin_version( &self, name: &str, version: &str, actor: &str, now: Timestamp, ) -> Result<PluginVersion, StorageError> {
        Err(not_ported("PluginRepository::delete_plugin_version"))
    }

    fn record_shadow_input( &self, source: &str, input: &serde_json::Value, keep: u32, now: Timestamp, ) -> Result<(), StorageError> {
        Err(not_ported("PluginRepository::record_shadow_input"))
    }

    fn shadow_inputs(&self, source: &str, limit: u32) -> Result<Vec<RecordedInput>, StorageError> {
        Err(not_ported("PluginRepository::shadow_inputs"))
    }

}
