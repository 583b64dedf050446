//! Console sessions, stored by the SHA-256 of their secret.

use rusqlite::{params, Connection, OptionalExtension};

use super::access::{token_of, token_row, TokenRow, TOKEN_COLUMNS};
use super::{from_json, to_json, SqliteStore, StorageError};
use crate::domain::Timestamp;
use crate::storage::repositories::*;

const SESSION_COLUMNS: &str = "s.id, s.principal_id, s.kind, s.roles, s.credential, s.token_id, \
     s.agent, s.created_ms, s.expires_ms, s.ended_ms";

type SessionRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn session_of(row: SessionRow) -> Result<SessionRecord, StorageError> {
    let (id, principal, kind, roles, credential, token_id, agent, created, expires, ended) = row;
    let corrupt = |message: String| StorageError::Corrupt {
        table: "sessions",
        message,
    };
    Ok(SessionRecord {
        id,
        principal,
        kind: kind.parse().map_err(corrupt)?,
        roles: from_json("sessions", &roles)?,
        credential: credential.parse().map_err(corrupt)?,
        token_id,
        agent,
        created_at: Timestamp(created),
        expires_at: Timestamp(expires),
        ended_at: ended.map(Timestamp),
        token: None,
    })
}

/// Deletes at most `batch` sessions that ended or expired before `cutoff`.
pub(super) fn prune(conn: &Connection, cutoff: i64, batch: u32) -> Result<u64, StorageError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions
             WHERE expires_ms < ?1 OR (ended_ms IS NOT NULL AND ended_ms < ?1)
             LIMIT ?2)",
        params![cutoff, batch],
    )? as u64)
}

impl SessionRepository for SqliteStore {
    fn create_session(&self, s: &NewSession) -> Result<SessionRecord, StorageError> {
        self.write(|tx| {
            if let Some(token) = s.token_id {
                let live: bool = tx.query_row(
                    "SELECT count(*) > 0 FROM tokens WHERE id = ?1 AND revoked_ms IS NULL",
                    [token],
                    |r| r.get(0),
                )?;
                if !live {
                    return Err(StorageError::Invalid(format!(
                        "token {token} is revoked or unknown: no session can be signed in with it"
                    )));
                }
            }
            tx.execute(
                "INSERT INTO sessions (secret_hash, principal_id, kind, roles, credential, token_id,
                                       agent, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    s.secret_hash,
                    s.principal,
                    s.kind.as_str(),
                    to_json(&s.roles)?,
                    s.credential.as_str(),
                    s.token_id,
                    s.agent,
                    s.created_at.millis(),
                    s.expires_at.millis(),
                ],
            )?;
            let record = SessionRecord {
                id: tx.last_insert_rowid(),
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
                    target: format!("session/{}", record.id),
                    before: None,
                    after: Some(audited_session(&record)),
                },
            )?;
            Ok(record)
        })
    }

    fn session_by_hash(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StorageError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s
                     WHERE s.secret_hash = ?1 AND s.ended_ms IS NULL AND s.expires_ms > ?2"
                ),
                params![hash, now.millis()],
                session_row,
            )
            .optional()?;
        let Some(mut session) = row.map(session_of).transpose()? else {
            return Ok(None);
        };
        if let Some(token_id) = session.token_id {
            let token: Option<TokenRow> = conn
                .query_row(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1 AND revoked_ms IS NULL"
                    ),
                    [token_id],
                    token_row,
                )
                .optional()?;
            // A revoked token takes the sessions it signed in with along.
            let Some(token) = token else {
                return Ok(None);
            };
            session.token = Some(token_of(token)?);
        }
        Ok(Some(session))
    }

    fn end_session(&self, hash: &str, now: Timestamp) -> Result<SessionRecord, StorageError> {
        self.write(|tx| {
            let row = tx
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions s
                         WHERE s.secret_hash = ?1 AND s.ended_ms IS NULL"
                    ),
                    [hash],
                    session_row,
                )
                .optional()?;
            let mut session = session_of(row.ok_or_else(|| {
                StorageError::NotFound(
                    "no console session to end: it is unknown or already ended".into(),
                )
            })?)?;
            tx.execute(
                "UPDATE sessions SET ended_ms = ?2 WHERE id = ?1",
                params![session.id, now.millis()],
            )?;
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
            )?;
            Ok(session)
        })
    }

    fn prune_sessions(&self, cutoff: Timestamp, batch: u32) -> Result<u64, StorageError> {
        prune(&self.conn(), cutoff.millis(), batch)
    }
}
