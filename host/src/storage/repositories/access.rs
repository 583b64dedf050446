//! Principals and their tokens.

use serde::Serialize;

use crate::domain::auth::{Credential, Principal, PrincipalKind, Role, TokenRequest};
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// A token as listed: never its secret, which is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub roles: Vec<Role>,
    /// Who the token acts for: recorded on everything done with it.
    pub principal: String,
    pub kind: PrincipalKind,
    /// The agent everything done with the token is attributed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl TokenRecord {
    pub fn to_principal(&self) -> Principal {
        Principal {
            id: self.principal.clone(),
            kind: self.kind,
            roles: self.roles.clone(),
            credential: Credential::Token {
                id: self.id,
                name: self.name.clone(),
            },
            agent: self.agent_id.clone(),
        }
    }
}

/// API tokens and the principals they stand for.
/// Every method that changes state is one unit of work with its audit
/// entries: all of it is committed, or none.
pub trait AccessRepository: Send + Sync {
    /// Mints a token. A token bound to an agent needs the agent to exist,
    /// checked in the same transaction.
    fn create_token(
        &self,
        req: &TokenRequest,
        hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError>;

    /// Makes `hash` an admin token named `name`, unless it already is one:
    /// the bootstrap token from `REGENT_ADMIN_TOKEN`.
    fn ensure_admin_token(
        &self,
        name: &str,
        hash: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    fn has_admin_token(&self) -> Result<bool, StorageError>;

    /// The live (not revoked) token with this hash.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StorageError>;

    fn tokens(&self) -> Result<Vec<TokenRecord>, StorageError>;

    fn revoke_token(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError>;
}
