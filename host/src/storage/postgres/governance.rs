//! Not yet ported from `storage/sqlite/governance.rs`: every method fails with a
//! backend error naming itself, so nothing is silently skipped.

#![allow(unused_variables)]

use super::{not_ported, PostgresStore};
use crate::domain::breaker::BreakerRule;
use crate::domain::governance::GovernanceReport;
use crate::domain::{Phase, Timestamp};
use crate::domain::governance::{Approval, Proposal, Rejection};
use crate::storage::repositories::*;
use crate::storage::StorageError;

impl GovernanceRepository for PostgresStore {
    fn initialize( &self, rules: &[BreakerRule], initial: Option<InitialState<'_>>, now: Timestamp, ) -> Result<bool, StorageError> {
        Err(not_ported("GovernanceRepository::initialize"))
    }

    fn state(&self) -> Result<StateRow, StorageError> {
        Err(not_ported("GovernanceRepository::state"))
    }

    fn change_phase( &self, requested: Phase, started: Option<Timestamp>, by_admin: bool, whitelist: &[String], actor: &str, now: Timestamp, ) -> Result<StateRow, StorageError> {
        Err(not_ported("GovernanceRepository::change_phase"))
    }

    fn store_report(&self, r: &mut GovernanceReport, actor: &str) -> Result<(), StorageError> {
        Err(not_ported("GovernanceRepository::store_report"))
    }

    fn reports(&self, limit: u32) -> Result<Vec<GovernanceReport>, StorageError> {
        Err(not_ported("GovernanceRepository::reports"))
    }

    fn report(&self, id: i64) -> Result<GovernanceReport, StorageError> {
        Err(not_ported("GovernanceRepository::report"))
    }

}

impl ProposalRepository for PostgresStore {
    fn create_proposal(&self, p: &mut Proposal, actor: &str) -> Result<(), StorageError> {
        Err(not_ported("ProposalRepository::create_proposal"))
    }

    fn proposal(&self, id: i64) -> Result<Proposal, StorageError> {
        Err(not_ported("ProposalRepository::proposal"))
    }

    fn proposals(&self, all: bool) -> Result<Vec<Proposal>, StorageError> {
        Err(not_ported("ProposalRepository::proposals"))
    }

    fn approve_proposal( &self, id: i64, approval: Approval, held: bool, whitelist: &[String], ) -> Result<Proposal, StorageError> {
        Err(not_ported("ProposalRepository::approve_proposal"))
    }

    fn reject_proposal( &self, id: i64, rejection: Rejection, held: bool, ) -> Result<Proposal, StorageError> {
        Err(not_ported("ProposalRepository::reject_proposal"))
    }

}
