//! Console sessions: the port of `storage/sqlite/sessions.rs`.

use deadpool_postgres::GenericClient;

use super::access::{token_of, TOKEN_COLUMNS};
use super::{from_json, pg, to_json, PostgresStore, StorageError};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const SESSION_COLUMNS: &str = "id, principal_id, kind, roles, credential, token_id, agent, \
     created_ms, expires_ms, ended_ms";

fn session_of(r: &tokio_postgres::Row) -> Result<SessionRecord, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        table: "sessions",
        message,
    };
    Ok(SessionRecord {
        id: r.get(0),
        principal: r.get(1),
        kind: r.get::<_, &str>(2).parse().map_err(corrupt)?,
        roles: from_json("sessions", r.get(3))?,
        credential: r.get::<_, &str>(4).parse().map_err(corrupt)?,
        token_id: r.get(5),
        agent: r.get(6),
        created_at: Timestamp(r.get(7)),
        expires_at: Timestamp(r.get(8)),
        ended_at: r.get::<_, Option<i64>>(9).map(Timestamp),
        token: None,
    })
}

/// Deletes at most `batch` sessions that ended or expired before `cutoff`.
pub(super) async fn prune<C: GenericClient>(
    c: &C,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StorageError> {
    c.execute(
        "DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions
             WHERE expires_ms < $1 OR (ended_ms IS NOT NULL AND ended_ms < $1)
             LIMIT $2)",
        &[&cutoff, &batch],
    )
    .await
    .map_err(pg("prune old sessions"))
}

impl SessionRepository for PostgresStore {
    fn create_session(&self, s: &NewSession) -> Result<SessionRecord, StorageError> {
        self.write(async |tx| {
            if let Some(token) = s.token_id {
                let live: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1 AND revoked_ms IS NULL)",
                        &[&token],
                    )
                    .await
                    .map_err(pg("look the session's token up"))?
                    .get(0);
                if !live {
                    return Err(StorageError::Invalid(format!(
                        "token {token} is revoked or unknown: no session can be signed in with it"
                    )));
                }
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO sessions (secret_hash, principal_id, kind, roles, credential,
                                           token_id, agent, created_ms, expires_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[
                        &s.secret_hash,
                        &s.principal,
                        &s.kind.as_str(),
                        &to_json(&s.roles)?,
                        &s.credential.as_str(),
                        &s.token_id,
                        &s.agent,
                        &s.created_at.millis(),
                        &s.expires_at.millis(),
                    ],
                )
                .await
                .map_err(pg("store a session"))?
                .get(0);
            let record = SessionRecord {
                id,
                principal: s.principal.clone(),
                kind: s.kind,
                roles: s.roles.clone(),
                credential: s.credential,
                token_id: s.token_id,
                agent: s.agent.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
                ended_at: None,
                token: None,
            };
            tx.audit(
                s.created_at,
                NewAudit {
                    actor: &s.principal,
                    action: "session.start",
                    target: format!("session/{id}"),
                    before: None,
                    after: Some(audited_session(&record)),
                },
            )
            .await?;
            Ok(record)
        })
    }

    fn session_by_hash(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StorageError> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions
                         WHERE secret_hash = $1 AND ended_ms IS NULL AND expires_ms > $2"
                    ),
                    &[&hash, &now.millis()],
                )
                .await
                .map_err(pg("look a session up"))?;
            let Some(mut session) = row.as_ref().map(session_of).transpose()? else {
                return Ok(None);
            };
            if let Some(token_id) = session.token_id {
                let token = c
                    .query_opt(
                        &format!(
                            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND revoked_ms IS NULL"
                        ),
                        &[&token_id],
                    )
                    .await
                    .map_err(pg("look a session's token up"))?;
                // A revoked token takes the sessions it signed in with along.
                let Some(token) = token else {
                    return Ok(None);
                };
                session.token = Some(token_of(&token)?);
            }
            Ok(Some(session))
        })
    }

    fn end_session(&self, hash: &str, now: Timestamp) -> Result<SessionRecord, StorageError> {
        self.write(async |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions
                         WHERE secret_hash = $1 AND ended_ms IS NULL"
                    ),
                    &[&hash],
                )
                .await
                .map_err(pg("look a session up"))?
                .ok_or_else(|| {
                    StorageError::NotFound(
                        "no console session to end: it is unknown or already ended".into(),
                    )
                })?;
            let mut session = session_of(&row)?;
            tx.execute(
                "UPDATE sessions SET ended_ms = $2 WHERE id = $1",
                &[&session.id, &now.millis()],
            )
            .await
            .map_err(pg("end a session"))?;
            session.ended_at = Some(now);
            tx.audit(
                now,
                NewAudit {
                    actor: &session.principal,
                    action: "session.end",
                    target: format!("session/{}", session.id),
                    before: None,
                    after: Some(audited_session(&session)),
                },
            )
            .await?;
            Ok(session)
        })
    }

    fn prune_sessions(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        self.read(async |c| prune(c, cutoff.millis(), i64::from(batch)).await)
    }
}
