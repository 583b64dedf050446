//! API tokens (stored hashed) and attestations.

use rusqlite::{params, OptionalExtension};

use super::{from_json, json_value, to_json, SqliteStore, StorageError, UnitOfWork};
use crate::domain::auth::{PrincipalKind, Role, TokenRequest};
use crate::domain::readiness::ReadinessReport;
use crate::domain::Timestamp;
use crate::storage::repositories::*;

pub(super) const TOKEN_COLUMNS: &str =
    "id, name, roles, created_ms, revoked_ms, principal, kind, agent_id";

pub(super) type TokenRow = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

pub(super) fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

pub(super) fn token_of(row: TokenRow) -> Result<TokenRecord, StorageError> {
    let (id, name, roles, created, revoked, principal, kind, agent_id) = row;
    let corrupt = |message: String| StorageError::Corrupt {
        table: "tokens",
        message,
    };
    Ok(TokenRecord {
        id,
        // Migration 5 gave every older token its name as its principal.
        principal: principal.ok_or_else(|| corrupt(format!("token {id} names no principal")))?,
        name,
        roles: from_json("tokens", &roles)?,
        kind: kind.parse().map_err(corrupt)?,
        agent_id,
        created_at: Timestamp(created),
        revoked_at: revoked.map(Timestamp),
    })
}

/// Mints a token inside `tx`, checking in the same transaction that the
/// agent it is bound to exists and that a principal named only by the
/// token's name is not someone else's already.
fn insert_token(
    tx: &UnitOfWork<'_>,
    req: &TokenRequest,
    hash: &str,
    actor: &str,
    now: Timestamp,
) -> Result<TokenRecord, StorageError> {
    if let Some(agent) = &req.agent {
        let known: bool = tx.query_row(
            "SELECT count(*) > 0 FROM agents WHERE id = ?1",
            [agent],
            |r| r.get(0),
        )?;
        if !known {
            return Err(StorageError::Invalid(format!(
                "no agent `{agent}`: register it (POST /api/agents) before binding a token to it"
            )));
        }
    }
    if !req.principal_named {
        let taken: bool = tx.query_row(
            "SELECT count(*) > 0 FROM tokens WHERE principal = ?1",
            [&req.principal],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StorageError::Conflict(format!(
                    "principal `{0}` already has a token: give `\"principal\": \"{0}\"` to mint another for the same principal, or choose another name",
                    req.principal
                )));
        }
    }
    tx.execute(
        "INSERT INTO tokens (name, roles, hash, created_ms, principal, kind, agent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            req.name,
            super::to_json(&req.roles)?,
            hash,
            now.millis(),
            req.principal,
            req.kind.as_str(),
            req.agent
        ],
    )?;
    let record = TokenRecord {
        id: tx.last_insert_rowid(),
        name: req.name.clone(),
        roles: req.roles.clone(),
        principal: req.principal.clone(),
        kind: req.kind,
        agent_id: req.agent.clone(),
        created_at: now,
        revoked_at: None,
    };
    tx.audit(
        now,
        NewAudit {
            actor,
            action: "token.create",
            target: format!("token/{}", record.id),
            before: None,
            after: Some(json_value(&record)?),
        },
    )?;
    Ok(record)
}

impl ReadinessRepository for SqliteStore {
    fn create_attestation(&self, a: &AttestationRecord) -> Result<AttestationRecord, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO attestations (key, attested_by, token_id, role, attested_ms, expires_ms, evidence_url)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.key, a.attested_by, a.token_id, a.role.as_str(), a.attested_at.millis(), a.expires_at.map(|t| t.millis()), a.evidence_url],
            )?;
            let mut stored = a.clone();
            stored.id = tx.last_insert_rowid();
            tx.audit(a.attested_at, NewAudit {
                actor: &a.attested_by,
                action: "attestation.create",
                target: format!("attestation/{}", stored.id),
                before: None,
                after: Some(json_value(&stored)?),
            })?;
            Ok(stored)
        })
    }

    fn attestations(&self) -> Result<Vec<AttestationRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, key, attested_by, role, attested_ms, expires_ms, evidence_url, token_id FROM attestations
             WHERE revoked_ms IS NULL ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(AttestationRecord {
                id: r.get(0)?,
                key: r.get(1)?,
                attested_by: r.get(2)?,
                role: r
                    .get::<_, String>(3)?
                    .parse()
                    .map_err(|message| StorageError::Corrupt {
                        table: "attestations",
                        message,
                    })?,
                attested_at: Timestamp(r.get(4)?),
                expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
                evidence_url: r.get(6)?,
                token_id: r.get(7)?,
                accepted_by: vec![],
            });
        }
        Ok(out)
    }

    fn attester(&self, id: i64) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT attested_by FROM attestations WHERE id = ?1 AND revoked_ms IS NULL",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn revoke_attestation(&self, id: i64, actor: &str, now: Timestamp) -> Result<(), StorageError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE attestations SET revoked_ms = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now.millis(), actor],
            )?;
            if n == 0 {
                return Err(StorageError::NotFound(format!("no live attestation with id {id}")));
            }
            tx.audit(now, NewAudit {
                actor,
                action: "attestation.revoke",
                target: format!("attestation/{id}"),
                before: None,
                after: None,
            })?;
            Ok(())
        })
    }

    fn store_assessment(&self, a: &mut ReadinessReport) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO readiness_assessments (at_ms, body) VALUES (?1, '{}')",
                [a.assessed_at.millis()],
            )?;
            a.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE readiness_assessments SET body = ?2 WHERE id = ?1",
                params![a.id, to_json(a)?],
            )?;
            Ok(())
        })
    }

    fn latest_assessment(&self) -> Result<Option<ReadinessReport>, StorageError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM readiness_assessments ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| from_json("readiness_assessments", &b))
            .transpose()
    }
}

impl AccessRepository for SqliteStore {
    fn create_token(
        &self,
        req: &TokenRequest,
        hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError> {
        self.write(|tx| insert_token(tx, req, hash, actor, now))
    }

    fn ensure_admin_token(
        &self,
        name: &str,
        hash: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        if self.token_by_hash(hash)?.is_some() {
            return Ok(false);
        }
        let req = TokenRequest {
            name: name.to_string(),
            roles: vec![Role::Admin],
            principal: name.to_string(),
            principal_named: true,
            kind: PrincipalKind::Person,
            agent: None,
        };
        // Checked again in the unit of work: another connection to the
        // same file may have minted it since.
        self.write(|tx| {
            let live: bool = tx.query_row(
                "SELECT count(*) > 0 FROM tokens WHERE hash = ?1 AND revoked_ms IS NULL",
                [hash],
                |r| r.get(0),
            )?;
            if live {
                return Ok(false);
            }
            insert_token(tx, &req, hash, "regent", now)?;
            Ok(true)
        })
    }

    fn has_admin_token(&self) -> Result<bool, StorageError> {
        Ok(self
            .tokens()?
            .iter()
            .any(|t| t.revoked_at.is_none() && t.roles.contains(&Role::Admin)))
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StorageError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1 AND revoked_ms IS NULL"
                ),
                [hash],
                token_row,
            )
            .optional()?;
        row.map(token_of).transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))?;
        let rows = stmt.query_map([], token_row)?;
        rows.map(|r| token_of(r?)).collect()
    }

    fn revoke_token(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError> {
        self.write(|tx| {
            let row = tx
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                    [id],
                    token_row,
                )
                .optional()?;
            let mut token = token_of(
                row.ok_or_else(|| StorageError::NotFound(format!("no token with id {id}")))?,
            )?;
            if token.revoked_at.is_some() {
                return Err(StorageError::Conflict(format!(
                    "token {id} is already revoked"
                )));
            }
            tx.execute(
                "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1",
                params![id, now.millis()],
            )?;
            token.revoked_at = Some(now);
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "token.revoke",
                    target: format!("token/{id}"),
                    before: None,
                    after: Some(serde_json::json!({"name": token.name, "revokedAt": now})),
                },
            )?;
            Ok(token)
        })
    }
}
