//! Plugin versions: upload, list, activate, roll back, delete.

use axum::body::Bytes;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;

use crate::api::auth::Caller;
use crate::api::extract::{blocking, json_body, query};
use crate::api::{ApiError, AppState};
use crate::domain::registry::{ActivationKind, UploadOptions};
use crate::runtime::manifest::check_name;
use crate::service::registry::{Candidate, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES};
use crate::wire::{
    ActivateBody, Activation, ForceQuery, PluginVersion, UploadOutcome, UploadQuery,
};

fn plugin_name(name: &str) -> Result<(), ApiError> {
    check_name(name).map_err(|e| ApiError::BadRequest(format!("plugin {e}")))
}

/// Reads one part, refusing it as soon as it passes `max` bytes, so an
/// oversized upload is never held in memory whole.
async fn read_part(mut field: Field<'_>, max: usize, bound: &str) -> Result<Vec<u8>, ApiError> {
    let part = field.name().unwrap_or_default().to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot read part `{part}`: {e}")))?
    {
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "part `{part}` is larger than {max} bytes ({bound})"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The parts of an upload, each within its size limit.
#[derive(Debug)]
pub struct UploadParts {
    pub wasm: Vec<u8>,
    pub manifest: String,
    pub signature: Option<Vec<u8>>,
}

/// Reads an upload's parts: `wasm` (at most `max_wasm` bytes), `manifest`
/// (UTF-8 TOML) and an optional `signature`. A part named twice is refused:
/// which of two components a signature vouches for must never be a guess.
pub async fn read_upload(
    multipart: &mut Multipart,
    max_wasm: usize,
) -> Result<UploadParts, ApiError> {
    let (mut wasm, mut manifest, mut signature) = (None, None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let seen = match name.as_str() {
            "wasm" => wasm
                .replace(read_part(field, max_wasm, "[plugin_registry] max_upload_bytes").await?)
                .is_some(),
            "manifest" => {
                let bytes = read_part(field, MAX_MANIFEST_BYTES, "the manifest bound").await?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    ApiError::BadRequest("part `manifest` is not UTF-8 text".into())
                })?;
                manifest.replace(text).is_some()
            }
            "signature" => signature
                .replace(read_part(field, MAX_SIGNATURE_BYTES, "the signature bound").await?)
                .is_some(),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown part `{other}`: the parts are `wasm`, `manifest` and `signature`"
                )))
            }
        };
        if seen {
            return Err(ApiError::BadRequest(format!(
                "part `{name}` is given more than once"
            )));
        }
    }
    let (Some(wasm), Some(manifest)) = (wasm, manifest) else {
        return Err(ApiError::BadRequest(
            "the upload needs a `wasm` part (the component) and a `manifest` part (its TOML)"
                .into(),
        ));
    };
    if wasm.is_empty() {
        return Err(ApiError::BadRequest("part `wasm` is empty".into()));
    }
    Ok(UploadParts {
        wasm,
        manifest,
        signature,
    })
}

/// Uploads a version as multipart/form-data: `wasm` (the component),
/// `manifest` (its TOML), and optionally `signature` (the JSON of
/// `regent plugin sign`). It passes the gates (signature, compile, world,
/// describe, params, fixtures, shadow run) or is refused with the gate
/// that failed, and the active version keeps serving.
#[utoipa::path(put, path = "/api/plugins/{name}", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "the plugin's name"), UploadQuery),
    request_body(content_type = "multipart/form-data", description = "parts `wasm`, `manifest`, optional `signature`"),
    responses((status = 200, body = UploadOutcome), (status = 400, description = "bad input, or a failed gate (`error.gate`)", body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 413, body = crate::api::ErrorBody),
        (status = 422, description = "compiling took longer than `[compile] timeout_ms`", body = crate::api::ErrorBody),
        (status = 503, description = "every compile slot (`[compile] max_concurrent`) stayed busy", body = crate::api::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    q: Result<Query<UploadQuery>, QueryRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<UploadOutcome>, ApiError> {
    let who = caller.0.id;
    plugin_name(&name)?;
    let q = query(q)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "the upload must be multipart/form-data with parts `wasm` and `manifest`: {}",
            e.body_text()
        ))
    })?;
    let max_wasm = state.services.registry.settings().max_upload_bytes;
    let UploadParts {
        wasm,
        manifest,
        signature,
    } = read_upload(&mut multipart, max_wasm).await?;
    let options = UploadOptions {
        activate: q.activate.unwrap_or(true),
        dry_run: q.dry_run.unwrap_or(false),
        force: q.force.unwrap_or(false),
    };
    let candidate = Candidate {
        wasm,
        manifest,
        signature,
    };
    blocking(move || {
        Ok(Json(
            state
                .services
                .registry
                .upload(&name, candidate, options, &who, ActivationKind::Upload)?
                .into(),
        ))
    })
    .await
}

/// Every version of a plugin, newest upload first.
#[utoipa::path(get, path = "/api/plugins/{name}/versions", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "the plugin's name")), responses((status = 200, body = [PluginVersion]), (status = 404, body = crate::api::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    plugin_name(&name)?;
    blocking(move || {
        Ok(Json(
            state
                .services
                .registry
                .versions(&name)?
                .into_iter()
                .map(PluginVersion::from)
                .collect(),
        ))
    })
    .await
}

/// Makes a stored version active, after the gates run again on today's
/// recorded inputs.
#[utoipa::path(post, path = "/api/plugins/{name}/activate", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "the plugin's name"), ForceQuery), request_body = ActivateBody,
    responses((status = 200, body = Activation), (status = 400, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    q: Result<Query<ForceQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Activation>, ApiError> {
    let who = caller.0.id;
    plugin_name(&name)?;
    let force = query(q)?.force.unwrap_or(false);
    let req: ActivateBody = json_body(body)?;
    blocking(move || {
        Ok(Json(
            state
                .services
                .registry
                .activate(&name, &req.version, force, &who)?
                .into(),
        ))
    })
    .await
}

/// Reactivates the version that was active before the current one.
#[utoipa::path(post, path = "/api/plugins/{name}/rollback", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "the plugin's name")),
    responses((status = 200, body = Activation), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Activation>, ApiError> {
    let who = caller.0.id;
    plugin_name(&name)?;
    blocking(move || Ok(Json(state.services.registry.rollback(&name, &who)?.into()))).await
}

/// Deletes an inactive (or rejected) version; an active one is refused.
#[utoipa::path(delete, path = "/api/plugins/{name}/versions/{version}", tag = "plugins", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", description = "the plugin's name"), ("version" = String, Path)),
    responses((status = 200, body = PluginVersion), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    let who = caller.0.id;
    plugin_name(&name)?;
    blocking(move || {
        Ok(Json(
            state
                .services
                .registry
                .delete(&name, &version, &who)?
                .into(),
        ))
    })
    .await
}
