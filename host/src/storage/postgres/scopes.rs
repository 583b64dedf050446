//! Scoped authority: each scope's grant and stop. Changes go through
//! [`PostgresStore::write`], so they bump the change version and reach
//! every replica's control snapshot as the emergency stop does.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{pg, PostgresStore, StorageError};
use crate::domain::scopes::{Scope, ScopeBrakes};
use crate::domain::Timestamp;
use crate::storage::repositories::scopes::{audit_entry, next_autonomy, next_stop};
use crate::storage::repositories::*;

const SELECT: &str = "SELECT scope, autonomous, autonomy_by, autonomy_ms, autonomy_reason, \
                      stopped, stopped_by, stopped_ms, stop_reason, resumed_ms FROM scopes";

fn from_row(r: &Row) -> Scope {
    Scope {
        scope: r.get(0),
        autonomous: r.get(1),
        autonomy_by: r.get(2),
        autonomy_at: r.get::<_, Option<i64>>(3).map(Timestamp),
        autonomy_reason: r.get(4),
        stopped: r.get(5),
        stopped_by: r.get(6),
        stopped_at: r.get::<_, Option<i64>>(7).map(Timestamp),
        stop_reason: r.get(8),
        last_resumed_at: r.get::<_, Option<i64>>(9).map(Timestamp),
    }
}

async fn read_one<C: GenericClient>(c: &C, scope: &str) -> Result<Option<Scope>, StorageError> {
    Ok(
        c.query_opt(&format!("{SELECT} WHERE scope = $1"), &[&scope])
            .await
            .map_err(pg("read a scope"))?
            .as_ref()
            .map(from_row),
    )
}

/// The braked scopes, for the control snapshot (`read_snapshot`), so a
/// change on one replica is enforced by every other one.
pub(super) async fn read_brakes<C: GenericClient>(
    c: &C,
) -> Result<HashMap<String, ScopeBrakes>, StorageError> {
    let rows = c
        .query(&format!("{SELECT} WHERE NOT autonomous OR stopped"), &[])
        .await
        .map_err(pg("read the braked scopes"))?;
    Ok(rows
        .iter()
        .map(from_row)
        .filter_map(|s| s.brakes().map(|b| (s.scope, b)))
        .collect())
}

async fn store<C: GenericClient>(c: &C, s: &Scope) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO scopes (scope, autonomous, autonomy_by, autonomy_ms, autonomy_reason,
                             stopped, stopped_by, stopped_ms, stop_reason, resumed_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (scope) DO UPDATE SET
            autonomous = excluded.autonomous, autonomy_by = excluded.autonomy_by,
            autonomy_ms = excluded.autonomy_ms, autonomy_reason = excluded.autonomy_reason,
            stopped = excluded.stopped, stopped_by = excluded.stopped_by,
            stopped_ms = excluded.stopped_ms, stop_reason = excluded.stop_reason,
            resumed_ms = excluded.resumed_ms",
        &[
            &s.scope,
            &s.autonomous,
            &s.autonomy_by,
            &s.autonomy_at.map(|t| t.millis()),
            &s.autonomy_reason,
            &s.stopped,
            &s.stopped_by,
            &s.stopped_at.map(|t| t.millis()),
            &s.stop_reason,
            &s.last_resumed_at.map(|t| t.millis()),
        ],
    )
    .await
    .map_err(pg("store a scope"))?;
    Ok(())
}

impl ScopeRepository for PostgresStore {
    fn scopes(&self) -> Result<Vec<Scope>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(&format!("{SELECT} ORDER BY scope COLLATE \"C\""), &[])
                .await
                .map_err(pg("read the scopes"))?;
            Ok(rows.iter().map(from_row).collect())
        })
    }

    fn scope(&self, scope: &str) -> Result<Scope, StorageError> {
        self.read(async |c| read_one(c, scope).await)?
            .ok_or_else(|| {
                StorageError::NotFound(format!(
                    "scope `{scope}` is not configured: its autonomy follows the phase"
                ))
            })
    }

    fn set_scope_autonomy(
        &self,
        scope: &str,
        autonomous: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError> {
        self.write(async |tx| {
            let before = read_one(&**tx, scope).await?;
            let (after, changed) =
                next_autonomy(scope, before.as_ref(), autonomous, actor, reason, now);
            if !changed {
                return Ok((after, false));
            }
            store(&**tx, &after).await?;
            let action = if autonomous {
                "scope.grant"
            } else {
                "scope.revoke"
            };
            tx.audit(
                now,
                audit_entry(actor, action, before.as_ref(), &after, reason)?,
            )
            .await?;
            Ok((after, true))
        })
    }

    fn set_scope_stop(
        &self,
        scope: &str,
        stop: bool,
        actor: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(Scope, bool), StorageError> {
        self.write(async |tx| {
            let before = read_one(&**tx, scope).await?;
            let (after, changed) = next_stop(scope, before.as_ref(), stop, actor, reason, now)?;
            if !changed {
                return Ok((after, false));
            }
            store(&**tx, &after).await?;
            let action = if stop { "scope.stop" } else { "scope.resume" };
            tx.audit(
                now,
                audit_entry(actor, action, before.as_ref(), &after, reason)?,
            )
            .await?;
            Ok((after, true))
        })
    }
}
