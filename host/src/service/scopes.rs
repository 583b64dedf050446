//! Scoped authority: operators grant, revoke, stop and resume autonomy per
//! scope. The rules that decide with it are in `domain::scopes` and
//! `domain::control::decide`; this service validates and records changes.

use std::sync::Arc;

use super::control::reason_given;
use super::{ServiceError, ServiceResult};
use crate::domain::auth::Principal;
use crate::domain::scopes::{check_scope, Scope};
use crate::domain::Timestamp;
use crate::storage::prelude::*;

pub struct ScopeService {
    db: Arc<dyn Store>,
}

impl ScopeService {
    pub fn new(db: Arc<dyn Store>) -> Self {
        Self { db }
    }

    /// Every configured scope, by name.
    pub fn scopes(&self) -> ServiceResult<Vec<Scope>> {
        Ok(self.db.scopes()?)
    }

    pub fn scope(&self, scope: &str) -> ServiceResult<Scope> {
        check(scope)?;
        Ok(self.db.scope(scope)?)
    }

    /// Grants or revokes autonomy in a scope. Answers the scope and
    /// whether it changed (granting what is granted changes nothing).
    pub fn set_autonomy(
        &self,
        scope: &str,
        autonomous: bool,
        reason: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<(Scope, bool)> {
        check(scope)?;
        reason_given(
            reason,
            if autonomous {
                "autonomy is granted in this scope"
            } else {
                "autonomy is revoked in this scope"
            },
        )?;
        let out = self
            .db
            .set_scope_autonomy(scope, autonomous, &who.id, reason, now)?;
        if out.1 {
            tracing::warn!(scope, autonomous, by = %who.id, reason, "scope autonomy changed");
        }
        Ok(out)
    }

    /// Stops or resumes a scope. Resuming a scope that is not stopped is a
    /// conflict, as for the emergency stop.
    pub fn set_stop(
        &self,
        scope: &str,
        stop: bool,
        reason: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<(Scope, bool)> {
        check(scope)?;
        reason_given(
            reason,
            if stop {
                "this scope is stopped"
            } else {
                "it is safe to resume this scope"
            },
        )?;
        let out = self.db.set_scope_stop(scope, stop, &who.id, reason, now)?;
        if out.1 {
            tracing::warn!(scope, stop, by = %who.id, reason, "scope stop changed");
        }
        Ok(out)
    }
}

fn check(scope: &str) -> ServiceResult<()> {
    check_scope(scope).map_err(|e| ServiceError::BadRequest(e.to_string()))
}
