//! Tokens, attestations and the audit log.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, limit, query, LimitQuery, MAX_LIMIT};
use crate::api::{ApiError, AppState};
use crate::domain::auth::{Credential, Principal, PrincipalKind, Role, TokenRequest};
use crate::domain::text::{self, check_id};
use crate::domain::Timestamp;
use crate::storage::{AttestationRecord, AuditEntry, TokenRecord};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    #[schema(schema_with = crate::domain::text::text_100)]
    name: String,
    roles: Vec<Role>,
    /// Who the token acts for (default: its name). Several tokens may
    /// share a principal; approvals count principals, not tokens.
    #[schema(schema_with = crate::domain::text::optional_id)]
    principal: Option<String>,
    /// `person` or `system` (default: person when a role governs).
    kind: Option<PrincipalKind>,
    /// Binds a machine token to a registered agent: everything done with
    /// it is that agent's.
    #[schema(schema_with = crate::domain::text::optional_id)]
    agent_id: Option<String>,
}

/// The new token's secret is shown once, here, and never again.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    #[serde(flatten)]
    record: TokenRecord,
    token: String,
}

#[utoipa::path(post, path = "/api/tokens", tag = "access", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let who = caller.0;
    let new: NewToken = json_body(body)?;
    if text::is_blank(&new.name) || text::char_len(&new.name) > 100 {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 100 characters".into(),
        ));
    }
    let principal_named = new.principal.is_some();
    let principal = new.principal.unwrap_or_else(|| new.name.clone());
    check_id("principal", &principal).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Some(agent) = &new.agent_id {
        check_id("agentId", agent).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let mut roles = new.roles;
    roles.sort();
    roles.dedup();
    let request = TokenRequest {
        kind: new
            .kind
            .unwrap_or_else(|| PrincipalKind::default_for(&roles)),
        name: new.name,
        roles,
        principal,
        principal_named,
        agent: new.agent_id,
    };
    let (record, token) = blocking(move || {
        Ok(state
            .services
            .access
            .create_token(&request, &who, Timestamp::now())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { record, token })))
}

#[utoipa::path(get, path = "/api/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = [TokenRecord])))]
pub async fn list_tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    blocking(move || Ok(Json(state.services.access.tokens()?))).await
}

#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "access", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = TokenRecord), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TokenRecord>, ApiError> {
    let who = caller.0;
    blocking(move || {
        Ok(Json(state.services.access.revoke_token(
            id,
            &who,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttestation {
    #[schema(schema_with = crate::domain::text::text_100)]
    key: String,
    evidence_url: Option<String>,
    expires_at: Option<Timestamp>,
    /// The role attested in; needed only when the token holds several.
    role: Option<Role>,
}

/// Who attests, and in which role, comes from the caller. Only people in
/// approver roles attest: the governed system never vouches for itself.
#[utoipa::path(post, path = "/api/attestations", tag = "readiness", security(("bearer" = [])), request_body = NewAttestation,
    responses((status = 201, body = AttestationRecord), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody)))]
pub async fn create_attestation(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AttestationRecord>), ApiError> {
    let who = caller.0;
    let new: NewAttestation = json_body(body)?;
    let role = attesting_role(&who, new.role)?;
    if text::is_blank(&new.key) || text::char_len(&new.key) > 100 {
        return Err(ApiError::BadRequest(
            "`key` must be 1 to 100 characters".into(),
        ));
    }
    let key = new.key.trim().to_string();
    let now = Timestamp::now();
    if new.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::BadRequest("`expiresAt` is in the past".into()));
    }
    let record = AttestationRecord {
        id: 0,
        key,
        attested_by: who.id.clone(),
        token_id: match &who.credential {
            Credential::Token { id, .. } => *id,
            _ => 0,
        },
        role,
        attested_at: now,
        expires_at: new.expires_at,
        evidence_url: new.evidence_url,
        accepted_by: vec![],
    };
    let stored = blocking(move || Ok(state.services.access.attest(record)?)).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The approver role `who` attests in: the one asked for, or its only one.
/// Anyone else is refused (403); an ambiguous request is malformed (400).
fn attesting_role(who: &Principal, asked: Option<Role>) -> Result<Role, ApiError> {
    if who.is_governed() {
        return Err(ApiError::Forbidden(format!(
            "`{}` reports for the governed system and cannot attest: the governed system never vouches for its own readiness",
            who.id
        )));
    }
    let held: Vec<Role> = who
        .roles
        .iter()
        .copied()
        .filter(|r| r.is_approver())
        .collect();
    match (asked, held.as_slice()) {
        (Some(r), _) if held.contains(&r) => Ok(r),
        (Some(r), _) if !r.is_approver() => Err(ApiError::Forbidden(format!(
            "`{r}` cannot attest: only tech_lead, ops_lead, product_lead and exec_sponsor do"
        ))),
        (Some(r), _) => Err(ApiError::Forbidden(format!(
            "`{}` does not hold the role `{r}`",
            who.id
        ))),
        (None, [only]) => Ok(*only),
        (None, []) => Err(ApiError::Forbidden(format!(
            "`{}` holds no approver role: only tech_lead, ops_lead, product_lead and exec_sponsor attest",
            who.id
        ))),
        (None, _) => Err(ApiError::BadRequest(format!(
            "`{}` holds several approver roles: say which one attests with `role`",
            who.id
        ))),
    }
}

#[utoipa::path(get, path = "/api/attestations", tag = "readiness", security(("bearer" = [])),
    responses((status = 200, body = [AttestationRecord])))]
pub async fn list_attestations(
    State(state): State<AppState>,
) -> Result<Json<Vec<AttestationRecord>>, ApiError> {
    blocking(move || Ok(Json(state.services.access.attestations()?))).await
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
        state
            .services
            .access
            .revoke_attestation(id, &who, Timestamp::now())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(get, path = "/api/audit", tag = "access", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [AuditEntry])))]
pub async fn audit(
    State(state): State<AppState>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = limit(query(q)?.limit, 100, MAX_LIMIT)?;
    blocking(move || Ok(Json(state.services.audit.entries(limit)?))).await
}

/// The whole audit chain, walked on the server.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerificationReply {
    /// Entries walked.
    entries: u64,
    /// No problem found: every entry links to the one before and matches
    /// its hash.
    intact: bool,
    /// Each break in the chain, in order.
    problems: Vec<String>,
}

#[utoipa::path(get, path = "/api/audit/verify", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = AuditVerificationReply)))]
pub async fn verify_audit(
    State(state): State<AppState>,
) -> Result<Json<AuditVerificationReply>, ApiError> {
    blocking(move || {
        let v = state.services.audit.verify()?;
        Ok(Json(AuditVerificationReply {
            entries: v.entries,
            intact: v.problems.is_empty(),
            problems: v.problems,
        }))
    })
    .await
}
