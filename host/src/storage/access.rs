//! API tokens (stored hashed) and attestations.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::audit::{append, NewAudit};
use super::{from_json, Database, StorageError};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role, TokenRequest};
use crate::domain::readiness::Attestation;
use crate::domain::Timestamp;

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

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestationRecord {
    pub id: i64,
    pub key: String,
    /// The principal who attested.
    pub attested_by: String,
    /// The token that attested; 0 for a person signed in with a JWT.
    #[serde(skip)]
    pub token_id: i64,
    pub role: Role,
    pub attested_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub evidence_url: Option<String>,
    /// The items of the active checklist that count it (by their key and
    /// `roles` params).
    pub accepted_by: Vec<String>,
}

impl AttestationRecord {
    pub fn to_domain(&self) -> Attestation {
        Attestation {
            key: self.key.clone(),
            attested_by: self.attested_by.clone(),
            role: self.role.as_str().to_string(),
            attested_at: self.attested_at,
            expires_at: self.expires_at,
            evidence_url: self.evidence_url.clone(),
        }
    }
}

const TOKEN_COLUMNS: &str = "id, name, roles, created_ms, revoked_ms, principal, kind, agent_id";

type TokenRow = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
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

fn token_of(row: TokenRow) -> Result<TokenRecord, StorageError> {
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

impl Database {
    /// Mints a token. A token bound to an agent needs the agent to exist,
    /// checked in the same transaction.
    pub fn create_token(
        &self,
        req: &TokenRequest,
        hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError> {
        self.write(|tx| {
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
                    super::to_json(&req.roles),
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
            append(
                tx,
                now,
                NewAudit {
                    actor,
                    action: "token.create",
                    target: format!("token/{}", record.id),
                    before: None,
                    after: Some(serde_json::to_value(&record).unwrap_or_default()),
                },
            )?;
            Ok(record)
        })
    }

    /// Makes `hash` an admin token named `name`, unless it already is one:
    /// the bootstrap token from `REGENT_ADMIN_TOKEN`.
    pub fn ensure_admin_token(
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
        self.create_token(&req, hash, "regent", now)?;
        Ok(true)
    }

    pub fn has_admin_token(&self) -> Result<bool, StorageError> {
        Ok(self
            .tokens()?
            .iter()
            .any(|t| t.revoked_at.is_none() && t.roles.contains(&Role::Admin)))
    }

    /// The live (not revoked) token with this hash.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StorageError> {
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

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))?;
        let rows = stmt.query_map([], token_row)?;
        rows.map(|r| token_of(r?)).collect()
    }

    pub fn revoke_token(
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
            append(
                tx,
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

    pub fn create_attestation(
        &self,
        a: &AttestationRecord,
    ) -> Result<AttestationRecord, StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO attestations (key, attested_by, token_id, role, attested_ms, expires_ms, evidence_url)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.key, a.attested_by, a.token_id, a.role.as_str(), a.attested_at.millis(), a.expires_at.map(|t| t.millis()), a.evidence_url],
            )?;
            let mut stored = a.clone();
            stored.id = tx.last_insert_rowid();
            append(tx, a.attested_at, NewAudit {
                actor: &a.attested_by,
                action: "attestation.create",
                target: format!("attestation/{}", stored.id),
                before: None,
                after: Some(serde_json::to_value(&stored).unwrap_or_default()),
            })?;
            Ok(stored)
        })
    }

    /// Attestations not revoked, oldest first (expired ones included: the
    /// checklist items judge expiry).
    pub fn attestations(&self) -> Result<Vec<AttestationRecord>, StorageError> {
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

    /// The principal who made a live attestation, if there is one.
    pub fn attester(&self, id: i64) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT attested_by FROM attestations WHERE id = ?1 AND revoked_ms IS NULL",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn revoke_attestation(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE attestations SET revoked_ms = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now.millis(), actor],
            )?;
            if n == 0 {
                return Err(StorageError::NotFound(format!("no live attestation with id {id}")));
            }
            append(tx, now, NewAudit {
                actor,
                action: "attestation.revoke",
                target: format!("attestation/{id}"),
                before: None,
                after: None,
            })?;
            Ok(())
        })
    }
}
