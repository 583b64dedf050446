//! Readiness assessments and the attestations they rely on.

use serde::Serialize;

use crate::domain::auth::Role;
use crate::domain::readiness::{Attestation, ReadinessReport};
use crate::domain::Timestamp;
use crate::storage::StorageError;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestationRecord {
    pub id: i64,
    pub key: String,
    /// The principal who attested.
    pub attested_by: String,
    /// The token that attested; 0 for a person signed in with a JWT.
    #[serde(skip)]
    pub token_id: i64,
    pub role: Role,
    pub attested_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub evidence_url: Option<String>,
    /// The items of the active checklist that count it (by their key and
    /// `roles` params).
    pub accepted_by: Vec<String>,
}

impl AttestationRecord {
    pub fn to_domain(&self) -> Attestation {
        Attestation {
            key: self.key.clone(),
            attested_by: self.attested_by.clone(),
            role: self.role.as_str().to_string(),
            attested_at: self.attested_at,
            expires_at: self.expires_at,
            evidence_url: self.evidence_url.clone(),
        }
    }
}

/// Readiness assessments and the attestations people make for them.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait ReadinessRepository: Send + Sync {
    fn create_attestation(&self, a: &AttestationRecord) -> Result<AttestationRecord, StorageError>;

    /// Attestations not revoked, oldest first (expired ones included: the
    /// checklist items judge expiry).
    fn attestations(&self) -> Result<Vec<AttestationRecord>, StorageError>;

    /// The principal who made a live attestation, if there is one.
    fn attester(&self, id: i64) -> Result<Option<String>, StorageError>;

    fn revoke_attestation(&self, id: i64, actor: &str, now: Timestamp) -> Result<(), StorageError>;

    /// Stores an assessment, giving it its id.
    fn store_assessment(&self, a: &mut ReadinessReport) -> Result<(), StorageError>;

    fn latest_assessment(&self) -> Result<Option<ReadinessReport>, StorageError>;
}
