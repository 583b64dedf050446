//! Scoped authority: autonomy granted, revoked and stopped per scope (a
//! portal, a website, any area an autonomous system acts on), below the
//! global emergency stop.
//!
//! A scope is named by the `scope` of an authorize request, e.g.
//! `portal:carrier`. A scope nobody configured has no brake of its own:
//! its autonomy follows the global phase and whitelist, exactly as a
//! request naming no scope. Deployments that predate scopes therefore
//! decide as they always did, and an operator configures a scope only to
//! brake it (or to record an explicit grant).
//!
//! Precedence, strongest first: the global emergency stop (and every other
//! global or per-agent brake), a scope's stop, a scope's revoked autonomy,
//! then the phase's whitelist and paused command types. A stop denies
//! every decision in its scope; a revoke denies only what would otherwise
//! have run autonomously, so a command that needs a human's approval
//! still asks for one.

use serde::Serialize;

use super::text::{check_id, TextError};
use super::Timestamp;

/// Who put a scope's brake on, and why: what a denial quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeBrake {
    pub by: String,
    pub reason: String,
}

/// The brakes on one scope, as the control snapshot keeps them. Only
/// scopes with at least one brake on are kept: a granted scope decides as
/// an unknown one does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeBrakes {
    /// Autonomy revoked: would-be autonomous decisions are denied.
    pub revoked: Option<ScopeBrake>,
    /// The scope's own stop: every decision in it is denied.
    pub stopped: Option<ScopeBrake>,
}

impl ScopeBrakes {
    pub fn is_braked(&self) -> bool {
        self.revoked.is_some() || self.stopped.is_some()
    }

    /// The denial a stopped scope gives every decision in it.
    pub fn stop_denial(&self, scope: &str) -> Option<String> {
        self.stopped
            .as_ref()
            .map(|b| format!("scope `{scope}` is stopped by {}: {}", b.by, b.reason))
    }

    /// The denial a revoked scope gives a decision that would otherwise be
    /// autonomous.
    pub fn revoke_denial(&self, scope: &str) -> Option<String> {
        self.revoked.as_ref().map(|b| {
            format!(
                "autonomy is revoked for scope `{scope}` by {}: {}",
                b.by, b.reason
            )
        })
    }
}

/// A configured scope, as `GET /api/scopes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub scope: String,
    /// Whether autonomy is granted in this scope: `false` once revoked.
    /// A scope configured only by a stop is granted (it follows the phase).
    pub autonomous: bool,
    /// Who last granted or revoked autonomy, when and why; `null` while
    /// nobody has (the scope was configured by a stop).
    pub autonomy_by: Option<String>,
    pub autonomy_at: Option<Timestamp>,
    pub autonomy_reason: Option<String>,
    /// Whether the scope's own stop is on.
    pub stopped: bool,
    /// The current stop's actor, time and reason; `null` while not stopped.
    pub stopped_by: Option<String>,
    pub stopped_at: Option<Timestamp>,
    pub stop_reason: Option<String>,
    /// When the scope's stop was last lifted, if ever.
    pub last_resumed_at: Option<Timestamp>,
}

impl Scope {
    /// The scope's brakes for the control snapshot; `None` when it has none.
    pub fn brakes(&self) -> Option<ScopeBrakes> {
        let brake = |by: &Option<String>, reason: &Option<String>| ScopeBrake {
            by: by.clone().unwrap_or_else(|| "unknown".into()),
            reason: reason.clone().unwrap_or_default(),
        };
        let brakes = ScopeBrakes {
            revoked: (!self.autonomous).then(|| brake(&self.autonomy_by, &self.autonomy_reason)),
            stopped: self
                .stopped
                .then(|| brake(&self.stopped_by, &self.stop_reason)),
        };
        brakes.is_braked().then_some(brakes)
    }
}

/// Why a change to a scope was refused before it reached the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    #[error(transparent)]
    Text(#[from] TextError),
}

/// A scope's name follows the rules of every id (`check_id`): the same
/// rule as the `scope` of an authorize request, so every scope that can be
/// configured can be named by a request, and the other way round.
pub fn check_scope(scope: &str) -> Result<(), ScopeError> {
    Ok(check_id("scope", scope)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(autonomous: bool, stopped: bool) -> Scope {
        Scope {
            scope: "portal:carrier".into(),
            autonomous,
            autonomy_by: Some("olga".into()),
            autonomy_at: Some(Timestamp(1)),
            autonomy_reason: Some("bad week".into()),
            stopped,
            stopped_by: stopped.then(|| "ivan".into()),
            stopped_at: stopped.then_some(Timestamp(2)),
            stop_reason: stopped.then(|| "carrier portal outage".into()),
            last_resumed_at: None,
        }
    }

    #[test]
    fn only_a_braked_scope_reaches_the_snapshot() {
        assert_eq!(scope(true, false).brakes(), None);
        let revoked = scope(false, false).brakes().unwrap();
        assert_eq!(
            revoked.revoke_denial("portal:carrier").as_deref(),
            Some("autonomy is revoked for scope `portal:carrier` by olga: bad week")
        );
        assert_eq!(revoked.stop_denial("portal:carrier"), None);
        let stopped = scope(true, true).brakes().unwrap();
        assert_eq!(
            stopped.stop_denial("portal:carrier").as_deref(),
            Some("scope `portal:carrier` is stopped by ivan: carrier portal outage")
        );
        assert_eq!(stopped.revoke_denial("portal:carrier"), None);
    }

    #[test]
    fn scope_names_are_ids() {
        assert!(check_scope("portal:carrier").is_ok());
        assert!(check_scope("website:seo").is_ok());
        assert!(check_scope("").is_err());
        assert!(check_scope(" ").is_err());
        assert!(check_scope("a\nb").is_err());
        assert!(check_scope(&"x".repeat(129)).is_err());
    }
}
