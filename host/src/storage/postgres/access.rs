//! API tokens (stored hashed), attestations and readiness assessments: the
//! port of `storage/sqlite/access.rs`.

use super::{from_json, json_value, pg, to_json, PostgresStore, StorageError, UnitOfWork};
use crate::domain::auth::{PrincipalKind, Role, TokenRequest};
use crate::domain::readiness::ReadinessReport;
use crate::domain::Timestamp;
use crate::storage::repositories::*;

pub(super) const TOKEN_COLUMNS: &str =
    "id, name, roles, created_ms, revoked_ms, principal, kind, agent_id";

pub(super) fn token_of(r: &tokio_postgres::Row) -> Result<TokenRecord, StorageError> {
    let id: i64 = r.get(0);
    let corrupt = |message: String| StorageError::Corrupt {
        table: "tokens",
        message,
    };
    Ok(TokenRecord {
        id,
        // Every token names its principal; SQLite's migration 5 gave older
        // ones their name, and this schema starts after it.
        principal: r
            .get::<_, Option<String>>(5)
            .ok_or_else(|| corrupt(format!("token {id} names no principal")))?,
        name: r.get(1),
        roles: from_json("tokens", r.get(2))?,
        kind: r.get::<_, &str>(6).parse().map_err(corrupt)?,
        agent_id: r.get(7),
        created_at: Timestamp(r.get(3)),
        revoked_at: r.get::<_, Option<i64>>(4).map(Timestamp),
    })
}

/// Mints a token inside `tx`, after the checks SQLite makes in the same
/// transaction: the agent it is bound to exists, and a principal named
/// only by the token's name is not someone else's already.
async fn insert_token(
    tx: &UnitOfWork<'_>,
    req: &TokenRequest,
    hash: &str,
    actor: &str,
    now: Timestamp,
) -> Result<TokenRecord, StorageError> {
    if let Some(agent) = &req.agent {
        let known: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)",
                &[agent],
            )
            .await
            .map_err(pg("look the token's agent up"))?
            .get(0);
        if !known {
            return Err(StorageError::Invalid(format!(
                "no agent `{agent}`: register it (POST /api/agents) before binding a token to it"
            )));
        }
    }
    if !req.principal_named {
        let taken: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE principal = $1)",
                &[&req.principal],
            )
            .await
            .map_err(pg("look the token's principal up"))?
            .get(0);
        if taken {
            return Err(StorageError::Conflict(format!(
                "principal `{0}` already has a token: give `\"principal\": \"{0}\"` to mint another for the same principal, or choose another name",
                req.principal
            )));
        }
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO tokens (name, roles, hash, created_ms, principal, kind, agent_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &req.name,
                &to_json(&req.roles)?,
                &hash,
                &now.millis(),
                &req.principal,
                &req.kind.as_str(),
                &req.agent,
            ],
        )
        .await
        .map_err(pg("store a token"))?
        .get(0);
    let record = TokenRecord {
        id,
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
    )
    .await?;
    Ok(record)
}

impl ReadinessRepository for PostgresStore {
    fn create_attestation(&self, a: &AttestationRecord) -> Result<AttestationRecord, StorageError> {
        self.write(async |tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO attestations (key, attested_by, token_id, role, attested_ms, expires_ms, evidence_url)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &a.key,
                        &a.attested_by,
                        &a.token_id,
                        &a.role.as_str(),
                        &a.attested_at.millis(),
                        &a.expires_at.map(|t| t.millis()),
                        &a.evidence_url,
                    ],
                )
                .await
                .map_err(pg("store an attestation"))?
                .get(0);
            let mut stored = a.clone();
            stored.id = id;
            tx.audit(
                a.attested_at,
                NewAudit {
                    actor: &a.attested_by,
                    action: "attestation.create",
                    target: format!("attestation/{}", stored.id),
                    before: None,
                    after: Some(json_value(&stored)?),
                },
            )
            .await?;
            Ok(stored)
        })
    }

    fn attestations(&self) -> Result<Vec<AttestationRecord>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT id, key, attested_by, role, attested_ms, expires_ms, evidence_url, token_id
                 FROM attestations WHERE revoked_ms IS NULL ORDER BY id",
                &[],
            )
            .await
            .map_err(pg("read the attestations"))?
            .iter()
            .map(|r| {
                Ok(AttestationRecord {
                    id: r.get(0),
                    key: r.get(1),
                    attested_by: r.get(2),
                    role: r
                        .get::<_, &str>(3)
                        .parse()
                        .map_err(|message| StorageError::Corrupt {
                            table: "attestations",
                            message,
                        })?,
                    attested_at: Timestamp(r.get(4)),
                    expires_at: r.get::<_, Option<i64>>(5).map(Timestamp),
                    evidence_url: r.get(6),
                    token_id: r.get(7),
                    accepted_by: vec![],
                })
            })
            .collect()
        })
    }

    fn attester(&self, id: i64) -> Result<Option<String>, StorageError> {
        self.read(async |c| {
            Ok(c.query_opt(
                "SELECT attested_by FROM attestations WHERE id = $1 AND revoked_ms IS NULL",
                &[&id],
            )
            .await
            .map_err(pg("read an attestation"))?
            .map(|r| r.get(0)))
        })
    }

    fn revoke_attestation(&self, id: i64, actor: &str, now: Timestamp) -> Result<(), StorageError> {
        self.write(async |tx| {
            let n = tx
                .execute(
                    "UPDATE attestations SET revoked_ms = $2, revoked_by = $3
                     WHERE id = $1 AND revoked_ms IS NULL",
                    &[&id, &now.millis(), &actor],
                )
                .await
                .map_err(pg("revoke an attestation"))?;
            if n == 0 {
                return Err(StorageError::NotFound(format!(
                    "no live attestation with id {id}"
                )));
            }
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "attestation.revoke",
                    target: format!("attestation/{id}"),
                    before: None,
                    after: None,
                },
            )
            .await?;
            Ok(())
        })
    }

    fn store_assessment(&self, a: &mut ReadinessReport) -> Result<(), StorageError> {
        self.write(async |tx| {
            // The body records its own id, which only the insert assigns.
            a.id = tx
                .query_one(
                    "INSERT INTO readiness_assessments (at_ms, body) VALUES ($1, '{}') RETURNING id",
                    &[&a.assessed_at.millis()],
                )
                .await
                .map_err(pg("store an assessment"))?
                .get(0);
            tx.execute(
                "UPDATE readiness_assessments SET body = $2 WHERE id = $1",
                &[&a.id, &to_json(&*a)?],
            )
            .await
            .map_err(pg("store an assessment"))?;
            Ok(())
        })
    }

    fn latest_assessment(&self) -> Result<Option<ReadinessReport>, StorageError> {
        self.read(async |c| {
            c.query_opt(
                "SELECT body FROM readiness_assessments ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg("read the latest assessment"))?
            .map(|r| from_json("readiness_assessments", r.get(0)))
            .transpose()
        })
    }
}

impl AccessRepository for PostgresStore {
    fn create_token(
        &self,
        req: &TokenRequest,
        hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError> {
        self.write(async |tx| insert_token(tx, req, hash, actor, now).await)
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
        // Replicas starting together with the same bootstrap token all get
        // here: checked again under the writer lock, one mints it and the
        // others find it, rather than failing on the unique hash.
        self.write(async |tx| {
            let live: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM tokens WHERE hash = $1 AND revoked_ms IS NULL)",
                    &[&hash],
                )
                .await
                .map_err(pg("look the admin token up"))?
                .get(0);
            if live {
                return Ok(false);
            }
            insert_token(tx, &req, hash, "regent", now).await?;
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
        self.read(async |c| {
            c.query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_ms IS NULL"
                ),
                &[&hash],
            )
            .await
            .map_err(pg("look a token up"))?
            .as_ref()
            .map(token_of)
            .transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.read(async |c| {
            c.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
                &[],
            )
            .await
            .map_err(pg("read the tokens"))?
            .iter()
            .map(token_of)
            .collect()
        })
    }

    fn revoke_token(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, StorageError> {
        self.write(async |tx| {
            let row = tx
                .query_opt(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"),
                    &[&id],
                )
                .await
                .map_err(pg("read a token"))?
                .ok_or_else(|| StorageError::NotFound(format!("no token with id {id}")))?;
            let mut token = token_of(&row)?;
            if token.revoked_at.is_some() {
                return Err(StorageError::Conflict(format!(
                    "token {id} is already revoked"
                )));
            }
            tx.execute(
                "UPDATE tokens SET revoked_ms = $2 WHERE id = $1",
                &[&id, &now.millis()],
            )
            .await
            .map_err(pg("revoke a token"))?;
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
            )
            .await?;
            Ok(token)
        })
    }
}
