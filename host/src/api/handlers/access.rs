//! Tokens, attestations and the audit log.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::{generate_token, hash_token, Caller};
use crate::api::extract::{blocking, json_body, limit, query, LimitQuery};
use crate::api::{ApiError, AppState};
use crate::domain::auth::Role;
use crate::domain::Timestamp;
use crate::storage::{AttestationRecord, AuditEntry, TokenRecord};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    roles: Vec<Role>,
}

/// The new token's secret is shown once, here, and never again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    id: i64,
    name: String,
    roles: Vec<Role>,
    token: String,
}

#[utoipa::path(post, path = "/api/tokens", tag = "access", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let who = caller.require(Role::Admin)?.clone();
    let new: NewToken = json_body(body)?;
    if new.name.trim().is_empty() || new.name.len() > 100 {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 100 characters".into(),
        ));
    }
    if new.roles.is_empty() {
        return Err(ApiError::BadRequest(
            "`roles` is empty: a token needs at least one role".into(),
        ));
    }
    let token = generate_token()?;
    let hash = hash_token(&token);
    let record = blocking(move || {
        let r = state
            .db
            .create_token(&new.name, &new.roles, &hash, &who.name, Timestamp::now())?;
        state.tokens.clear();
        Ok(r)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: record.id,
            name: record.name,
            roles: record.roles,
            token,
        }),
    ))
}

#[utoipa::path(get, path = "/api/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = [TokenRecord])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    caller.require(Role::Admin)?;
    blocking(move || Ok(Json(state.db.tokens()?))).await
}

#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "access", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = TokenRecord), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TokenRecord>, ApiError> {
    let who = caller.require(Role::Admin)?.clone();
    blocking(move || {
        let r = state.db.revoke_token(id, &who.name, Timestamp::now())?;
        state.tokens.clear();
        Ok(Json(r))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttestation {
    key: String,
    evidence_url: Option<String>,
    expires_at: Option<Timestamp>,
    /// The role attested in; needed only when the token holds several.
    role: Option<Role>,
}

/// Who attests, and in which role, comes from the token.
#[utoipa::path(post, path = "/api/attestations", tag = "readiness", security(("bearer" = [])), request_body = NewAttestation,
    responses((status = 201, body = AttestationRecord), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn create_attestation(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AttestationRecord>), ApiError> {
    let new: NewAttestation = json_body(body)?;
    let who = caller.0;
    let attesting: Vec<Role> = who
        .roles
        .iter()
        .copied()
        .filter(|r| *r != Role::Viewer)
        .collect();
    let role = match new.role {
        Some(r) if who.names(r) && r != Role::Viewer => r,
        Some(r) => {
            return Err(ApiError::Forbidden(format!(
                "token `{}` does not hold the role `{r}` (or it cannot attest)",
                who.name
            )))
        }
        None => match attesting.as_slice() {
            [only] => *only,
            [] => return Err(ApiError::Forbidden("a viewer token cannot attest".into())),
            _ => {
                return Err(ApiError::BadRequest(
                    "this token holds several roles: say which one attests with `role`".into(),
                ))
            }
        },
    };
    let key = new.key.trim().to_string();
    if key.is_empty() || key.len() > 100 {
        return Err(ApiError::BadRequest(
            "`key` must be 1 to 100 characters".into(),
        ));
    }
    let now = Timestamp::now();
    if new.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::BadRequest("`expiresAt` is in the past".into()));
    }
    let record = AttestationRecord {
        id: 0,
        key,
        attested_by: who.name.clone(),
        token_id: who.token_id,
        role,
        attested_at: now,
        expires_at: new.expires_at,
        evidence_url: new.evidence_url,
    };
    let stored = blocking(move || Ok(state.db.create_attestation(&record)?)).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[utoipa::path(get, path = "/api/attestations", tag = "readiness", security(("bearer" = [])),
    responses((status = 200, body = [AttestationRecord])))]
pub async fn list_attestations(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<AttestationRecord>>, ApiError> {
    blocking(move || Ok(Json(state.db.attestations()?))).await
}

/// The attester, an operator or an admin may revoke an attestation.
#[utoipa::path(delete, path = "/api/attestations/{id}", tag = "readiness", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn revoke_attestation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let who = caller.0;
    blocking(move || {
        let own = state.db.attestation_token(id)? == Some(who.token_id);
        if !own && !who.holds(Role::Operator) {
            return Err(ApiError::Forbidden(
                "only the attester, an operator or an admin can revoke an attestation".into(),
            ));
        }
        state
            .db
            .revoke_attestation(id, &who.name, Timestamp::now())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(get, path = "/api/audit", tag = "access", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [AuditEntry])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(Role::Admin)?;
    let limit = limit(query(q)?.limit, 100, 10_000)?;
    blocking(move || Ok(Json(state.db.audit_entries(limit)?))).await
}
