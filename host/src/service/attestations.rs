//! Attestations: people vouching for checklist items, and which items
//! count each one.

use super::{Governance, ServiceResult};
use crate::domain::auth::Role;
use crate::domain::readiness::Attestation;
use crate::runtime::PluginSet;
use crate::storage::AttestationRecord;

impl Governance {
    /// Stores an attestation the API has already checked the attester of.
    pub fn attest(&self, record: AttestationRecord) -> ServiceResult<AttestationRecord> {
        let mut stored = self.db.create_attestation(&record)?;
        stored.accepted_by = accepting_items(&self.plugins.current(), &stored);
        Ok(stored)
    }

    /// Live attestations, each with the items of the active checklist
    /// that count it.
    pub fn attestations(&self) -> ServiceResult<Vec<AttestationRecord>> {
        let plugins = self.plugins.current();
        let mut all = self.db.attestations()?;
        for a in &mut all {
            a.accepted_by = accepting_items(&plugins, a);
        }
        Ok(all)
    }

    /// What the checklist is handed: attestations made in an approver
    /// role only. Whatever else the store holds (a reporter's attestation
    /// from before roles were enforced) never reaches an item.
    pub(super) fn attestations_for_checklist(&self) -> ServiceResult<Vec<Attestation>> {
        Ok(self
            .db
            .attestations()?
            .iter()
            .filter(|a| a.role.is_approver())
            .map(|a| a.to_domain())
            .collect())
    }
}

fn accepting_items(plugins: &PluginSet, a: &AttestationRecord) -> Vec<String> {
    if !Role::is_approver(a.role) {
        return vec![];
    }
    plugins
        .checklist()
        .iter()
        .filter_map(|entry| {
            let info = entry.info()?;
            // The host wrote these params itself when it loaded the plugin;
            // text that did not parse would name no roles, so no item is
            // claimed to accept the attestation.
            let params: serde_json::Value =
                serde_json::from_str(entry.params_json()).unwrap_or_default();
            entry
                .reads()
                .accepts_attestation(&params, &a.key, a.role.as_str())
                .then(|| info.id.clone())
        })
        .collect()
}
