//! Who may act: local tokens (minted, listed, revoked, and resolved to a
//! principal for each request) and attestations, people vouching for
//! checklist items.
//!
//! Local tokens are generated with 256 bits from the OS and stored as
//! SHA-256 (a token is random, not a password, so a fast hash is enough).
//! They start with `rgt_` and hold no dot; a bearer value of three
//! dot-separated parts is taken as a JWT when OIDC is configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::{ServiceError, ServiceResult};
use crate::domain::auth::{check_token_request, Principal, Role, TokenRequest};
use crate::domain::Timestamp;
use crate::runtime::{ActivePlugins, PluginSet};
use crate::storage::prelude::*;
use crate::storage::{AttestationRecord, TokenRecord};

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Every local token starts with it; a JWT never does.
pub const LOCAL_TOKEN_PREFIX: &str = "rgt_";

/// A JWT is `header.payload.signature`; a local token has no dot.
pub fn looks_like_jwt(token: &str) -> bool {
    !token.starts_with(LOCAL_TOKEN_PREFIX) && token.split('.').count() == 3
}

/// A new secret: `rgt_` and 64 hex digits.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{LOCAL_TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Resolved tokens by hash. Cleared whenever a token is created or
/// revoked, after the change commits, so a revocation takes effect on the
/// next request.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Principal>>,
    /// Bumped by every [`TokenCache::clear`]. A lookup that read the store
    /// before a clear must not cache what it read: the token it found may
    /// have been revoked since, and caching it would keep it valid forever.
    generation: AtomicU64,
}

impl TokenCache {
    pub fn clear(&self) {
        let mut by_hash = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        by_hash.clear();
    }

    /// A token already resolved: no query, so no trip to the blocking pool.
    pub fn cached(&self, token: &str) -> Option<Principal> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash_token(token))
            .cloned()
    }

    pub fn resolve(&self, db: &dyn Store, token: &str) -> ServiceResult<Option<Principal>> {
        self.resolve_with(token, |hash| {
            Ok(db.token_by_hash(hash)?.map(|r| r.to_principal()))
        })
    }

    /// Looks a token up with `lookup` (given its hash) and caches what it
    /// finds unless the cache was cleared meanwhile.
    fn resolve_with(
        &self,
        token: &str,
        lookup: impl FnOnce(&str) -> ServiceResult<Option<Principal>>,
    ) -> ServiceResult<Option<Principal>> {
        if let Some(p) = self.cached(token) {
            return Ok(Some(p));
        }
        let hash = hash_token(token);
        // Read before the lookup: a clear that lands after this point,
        // even while the lookup runs, shows as a changed generation.
        let seen = self.generation.load(Ordering::SeqCst);
        let Some(principal) = lookup(&hash)? else {
            return Ok(None);
        };
        let mut by_hash = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the write lock, which `clear` also takes, so no
        // clear can slip in between the check and the insert.
        if self.generation.load(Ordering::SeqCst) == seen {
            by_hash.insert(hash, principal.clone());
        }
        Ok(Some(principal))
    }
}

/// Tokens, the principals they resolve to, and attestations.
pub struct AccessService {
    db: Arc<dyn Store>,
    plugins: Arc<ActivePlugins>,
    tokens: TokenCache,
    /// With `[auth.oidc]`, approver roles come only from the identity
    /// provider: a local token may not be minted with one.
    oidc_configured: bool,
}

impl AccessService {
    pub fn new(db: Arc<dyn Store>, plugins: Arc<ActivePlugins>, oidc_configured: bool) -> Self {
        Self {
            db,
            plugins,
            tokens: TokenCache::default(),
            oidc_configured,
        }
    }

    /// Forgets every resolved token, after another replica changed the
    /// store: the next request reads its token again, so a revocation made
    /// there holds here too.
    pub fn forget_cached_tokens(&self) {
        self.tokens.clear();
    }

    /// A token already resolved, without touching the store (no trip to
    /// the blocking pool).
    pub fn cached_principal(&self, token: &str) -> Option<Principal> {
        self.tokens.cached(token)
    }

    /// The principal a local token stands for; `None` when it is unknown
    /// or revoked. Blocking: it may read the store.
    pub fn resolve_token(&self, token: &str) -> ServiceResult<Option<Principal>> {
        self.tokens.resolve(&*self.db, token)
    }

    /// Mints a token; returns its record and its secret, which is shown
    /// once and stored only as a hash.
    pub fn create_token(
        &self,
        request: &TokenRequest,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<(TokenRecord, String)> {
        check_token_request(request, self.oidc_configured)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let token = generate_token()
            .map_err(|e| ServiceError::Unavailable(format!("the OS gave no randomness: {e}")))?;
        let record = self
            .db
            .create_token(request, &hash_token(&token), &who.id, now)?;
        self.tokens.clear();
        Ok((record, token))
    }

    pub fn tokens(&self) -> ServiceResult<Vec<TokenRecord>> {
        Ok(self.db.tokens()?)
    }

    pub fn revoke_token(
        &self,
        id: i64,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<TokenRecord> {
        let record = self.db.revoke_token(id, &who.id, now)?;
        self.tokens.clear();
        Ok(record)
    }

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

    /// The attester, an operator or an admin may revoke an attestation.
    pub fn revoke_attestation(
        &self,
        id: i64,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<()> {
        let own = self.db.attester(id)?.as_deref() == Some(who.id.as_str());
        if !own && !who.holds(Role::Operator) {
            return Err(ServiceError::Forbidden(
                "only the attester, an operator or an admin can revoke an attestation".into(),
            ));
        }
        Ok(self.db.revoke_attestation(id, &who.id, now)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::{PrincipalKind, Role, TokenRequest};
    use crate::domain::Timestamp;

    fn store_with_token(token: &str) -> (crate::storage::SqliteStore, i64) {
        let db = crate::storage::SqliteStore::open_in_memory().unwrap();
        let request = TokenRequest {
            name: "ci".into(),
            roles: vec![Role::Reporter],
            principal: "ci".into(),
            principal_named: true,
            kind: PrincipalKind::System,
            agent: None,
        };
        let record = db
            .create_token(&request, &hash_token(token), "test", Timestamp::now())
            .unwrap();
        (db, record.id)
    }

    /// The race: a request reads the token, the token is revoked and the
    /// cache cleared, then the request caches what it read. Without the
    /// generation check the revoked token stayed valid until the next clear.
    #[test]
    fn a_token_revoked_while_it_is_resolved_fails_on_the_next_request() {
        let token = "rgt_race";
        let (db, id) = store_with_token(token);
        let cache = TokenCache::default();
        let in_flight = cache
            .resolve_with(token, |hash| {
                let read = db.token_by_hash(hash)?.map(|r| r.to_principal());
                // The revocation commits and clears while this lookup runs.
                db.revoke_token(id, "admin", Timestamp::now())?;
                cache.clear();
                Ok(read)
            })
            .unwrap();
        assert!(in_flight.is_some(), "the request already under way passes");
        assert_eq!(cache.cached(token), None, "nothing stale was cached");
        assert_eq!(cache.resolve(&db, token).unwrap(), None, "the next fails");
    }

    #[test]
    fn a_resolved_token_is_cached_until_a_clear() {
        let token = "rgt_cached";
        let (db, id) = store_with_token(token);
        let cache = TokenCache::default();
        let principal = cache.resolve(&db, token).unwrap().unwrap();
        assert_eq!(cache.cached(token), Some(principal));
        db.revoke_token(id, "admin", Timestamp::now()).unwrap();
        cache.clear();
        assert_eq!(cache.resolve(&db, token).unwrap(), None);
    }
}
