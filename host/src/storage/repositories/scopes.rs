//! Scoped authority: each scope's autonomy grant and its own stop.

use crate::domain::scopes::Scope;
use crate::domain::Timestamp;
use crate::storage::StorageError;

/// The scopes operators configured. Every change is one unit of work with
/// its audit entry, and republishes the control snapshot (on PostgreSQL it
/// reaches the other replicas as the emergency stop does).
pub trait ScopeRepository: Send + Sync {
    /// Every configured scope, by name.
    fn scopes(&self) -> Result<Vec<Scope>, StorageError>;

    /// One scope; `NotFound` when it was never configured.
    fn scope(&self, scope: &str) -> Result<Scope, StorageError>;

    /// Grants (`true`) or revokes (`false`) autonomy in a scope,
    /// configuring it if it was not. Setting what is already set changes
    /// nothing and audits nothing (the first actor and reason stand), and
    /// answers `false`.
    ///
    /// One unit of work: the scope's row and its audit entry.
    fn set_scope_autonomy(
        &self,
        scope: &str,
        autonomous: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError>;

    /// Stops (`true`) or resumes a scope. Stopping while stopped changes
    /// nothing (the first stop stands) and answers `false`; resuming a
    /// scope that is not stopped (or unknown) is a conflict.
    ///
    /// One unit of work: the scope's row and its audit entry.
    fn set_scope_stop(
        &self,
        scope: &str,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError>;
}

/// A scope's state after a grant or a revoke, given its stored one
/// (`None`: never configured), and whether that is a change: setting what
/// is set already is not (the first actor and reason stand). Shared by the
/// backends, so both apply the same rules.
pub(crate) fn next_autonomy(
    name: &str,
    before: Option<&Scope>,
    autonomous: bool,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> (Scope, bool) {
    if let Some(b) = before.filter(|b| b.autonomous == autonomous && b.autonomy_by.is_some()) {
        return (b.clone(), false);
    }
    let mut next = before.cloned().unwrap_or_else(|| unconfigured(name));
    next.autonomous = autonomous;
    next.autonomy_by = Some(actor.to_string());
    next.autonomy_at = Some(now);
    next.autonomy_reason = Some(reason.to_string());
    (next, true)
}

/// A scope's state after a stop or a resume, and whether that is a
/// change: a stop that finds it stopped is not; a resume that finds it
/// running (or never configured) is a conflict.
pub(crate) fn next_stop(
    name: &str,
    before: Option<&Scope>,
    stop: bool,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<(Scope, bool), StorageError> {
    if let Some(b) = before.filter(|b| b.stopped && stop) {
        return Ok((b.clone(), false));
    }
    if !stop && !before.is_some_and(|b| b.stopped) {
        return Err(StorageError::Conflict(format!(
            "scope `{name}` is not stopped; there is nothing to resume"
        )));
    }
    let mut next = before.cloned().unwrap_or_else(|| unconfigured(name));
    next.stopped = stop;
    if stop {
        next.stopped_by = Some(actor.to_string());
        next.stopped_at = Some(now);
        next.stop_reason = Some(reason.to_string());
    } else {
        next.stopped_by = None;
        next.stopped_at = None;
        next.stop_reason = None;
        next.last_resumed_at = Some(now);
    }
    Ok((next, true))
}

/// A scope as it decides before anyone configures it: autonomy follows
/// the phase, no stop.
fn unconfigured(name: &str) -> Scope {
    Scope {
        scope: name.to_string(),
        autonomous: true,
        autonomy_by: None,
        autonomy_at: None,
        autonomy_reason: None,
        stopped: false,
        stopped_by: None,
        stopped_at: None,
        stop_reason: None,
        last_resumed_at: None,
    }
}

/// The audit entry of a scope's change: `scope.grant`, `scope.revoke`,
/// `scope.stop` or `scope.resume`, on target `scope:<name>`.
pub(crate) fn audit_entry<'a>(
    actor: &'a str,
    action: &'a str,
    before: Option<&Scope>,
    after: &Scope,
    reason: &str,
) -> Result<super::NewAudit<'a>, StorageError> {
    Ok(super::NewAudit {
        actor,
        action,
        target: format!("scope:{}", after.scope),
        before: before.map(crate::storage::codec::json_value).transpose()?,
        after: Some(serde_json::json!({
            "autonomous": after.autonomous,
            "stopped": after.stopped,
            "reason": reason,
        })),
    })
}
