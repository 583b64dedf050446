//! Not yet ported from `storage/sqlite/access.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::readiness::{Attestation, ReadinessReport};
use crate::domain::Timestamp;
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role, TokenRequest};
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl ReadinessRepository for PostgresStore {
    fn create_attestation(&self, a: &AttestationRecord) -> Result<AttestationRecord, StorageError> {
        Err(not_ported("ReadinessRepository::create_attestation"))
    }

    fn attestations(&self) -> Result<Vec<AttestationRecord>, StorageError> {
        Err(not_ported("ReadinessRepository::attestations"))
    }

    fn attester(&self, id: i64) -> Result<Option<String>, StorageError> {
        Err(not_ported("ReadinessRepository::attester"))
    }

    fn revoke_attestation(&self, id: i64, actor: &str, now: Timestamp) -> Result<(), StorageError> {
        Err(not_ported("ReadinessRepository::revoke_attestation"))
    }

    fn store_assessment(&self, a: &mut ReadinessReport) -> Result<(), StorageError> {
        Err(not_ported("ReadinessRepository::store_assessment"))
    }

    fn latest_assessment(&self) -> Result<Option<ReadinessReport>, StorageError> {
        Err(not_ported("ReadinessRepository::latest_assessment"))
    }

}

impl AccessRepository for PostgresStore {
    fn create_token( &self, req: &TokenRequest, hash: &str, actor: &str, now: Timestamp, ) -> Result<TokenRecord, StorageError> {
        Err(not_ported("AccessRepository::create_token"))
    }

    fn ensure_admin_token( &self, name: &str, hash: &str, now: Timestamp, ) -> Result<bool, StorageError> {
        Err(not_ported("AccessRepository::ensure_admin_token"))
    }

    fn has_admin_token(&self) -> Result<bool, StorageError> {
        Err(not_ported("AccessRepository::has_admin_token"))
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StorageError> {
        Err(not_ported("AccessRepository::token_by_hash"))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        Err(not_ported("AccessRepository::tokens"))
    }

    fn revoke_token( &self, id: i64, actor: &str, now: Timestamp, ) -> Result<TokenRecord, StorageError> {
        Err(not_ported("AccessRepository::revoke_token"))
    }

}
