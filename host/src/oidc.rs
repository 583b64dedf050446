//! OIDC: verifying the identity provider's signed JWTs (ID or access tokens).
//!
//! People sign in at the organisation's identity provider (IdP); Regent only
//! checks the JWT the IdP issued. The IdP's public keys (its JWKS) come from
//! a local file or its JWKS endpoint, are loaded once at start (a key set that
//! cannot be loaded stops the server from starting) and are reloaded when a
//! token names a key Regent has not seen (key rotation), at most once per
//! [`VerifierOptions::min_refresh_interval`], one reload at a time.
//!
//! Only asymmetric algorithms are accepted: RS256, ES256 and EdDSA (Ed25519).
//! HMAC (`HS*`) and `none` are refused before any key is looked at. The
//! cryptography is `jsonwebtoken`'s (its pure-Rust backend); this module
//! chooses the key, sets the validation (issuer, audience, `exp` required,
//! `nbf` when present, leeway) and turns the claims into a
//! [`VerifiedIdentity`] with Regent [`Role`]s.
//!
//! Every error message is meant to be shown to the caller (in a 401 body):
//! it says what was wrong with the token or the key set and never contains
//! key material.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::auth::Role;

/// The algorithms a token may be signed with, as named in error messages.
pub const ACCEPTED_ALGORITHMS: &str = "RS256, ES256, EdDSA";
/// How often, at most, an unknown `kid` makes the key set reload.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// How long fetching the JWKS from its URL may take.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest token accepted (bytes); real ID tokens are a few KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Largest key set accepted (bytes), from a file or a URL.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Longest `sub` accepted (characters).
const MAX_SUBJECT_CHARS: usize = 256;
/// Largest `leeway_s` the configuration may set.
const MAX_LEEWAY_S: u64 = 3600;
/// Smallest RSA modulus accepted in the key set (bytes: 2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Verified tokens remembered at most; the memory is emptied when full.
const MAX_REMEMBERED_TOKENS: usize = 10_000;
/// How much of a token-supplied value an error message repeats.
const SHOWN_CHARS: usize = 120;

/// What went wrong, in words a caller can act on. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    #[error("the [auth.oidc] configuration is not valid: {0}")]
    Config(String),
    #[error("cannot read the identity provider's key set `{path}`: {reason}")]
    JwksFile { path: String, reason: String },
    #[error("cannot fetch the identity provider's key set from `{url}`: {reason}")]
    JwksFetch { url: String, reason: String },
    #[error("the identity provider's key set from {origin} is not usable: {reason}")]
    JwksInvalid { origin: String, reason: String },
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {alg} is not accepted (RS256, ES256, EdDSA)")]
    AlgorithmNotAccepted { alg: String },
    #[error("the token's header marks extensions as critical (`crit`), which are not supported")]
    CriticalHeader,
    #[error("no key with kid `{kid}` in the identity provider's key set")]
    UnknownKid { kid: String },
    #[error("no key with kid `{kid}` in the identity provider's key set, and reloading the key set failed: {reason}")]
    UnknownKidRefreshFailed { kid: String, reason: String },
    #[error("the token has no `kid`, and the identity provider's key set has {count} {alg} keys rather than exactly one")]
    NoKidAmbiguous { alg: String, count: usize },
    #[error(
        "the key with kid `{kid}` in the identity provider's key set is an {key_alg} key, not {alg}"
    )]
    KeyAlgorithmMismatch {
        kid: String,
        key_alg: String,
        alg: String,
    },
    #[error("the identity provider's key for this token cannot verify it")]
    KeyUnusable,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired (exp {exp}, leeway {leeway_s} s)")]
    Expired { exp: String, leeway_s: u64 },
    #[error("the token is not valid yet (nbf {nbf}, leeway {leeway_s} s)")]
    NotYetValid { nbf: String, leeway_s: u64 },
    #[error("the token's issuer `{found}` is not `{expected}`")]
    WrongIssuer { found: String, expected: String },
    #[error("the token's audience is not `{expected}` (it is {found})")]
    WrongAudience { expected: String, found: String },
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the token's `{claim}` claim is not valid: {reason}")]
    InvalidClaim { claim: String, reason: String },
}

fn default_roles_claim() -> String {
    "roles".to_owned()
}

fn default_leeway_s() -> u64 {
    60
}

/// The `[auth.oidc]` table of the server's configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` every token must carry, exactly (e.g. `https://idp.example/realms/ops`).
    pub issuer: String,
    /// The value the token's `aud` (a string or an array) must contain.
    pub audience: String,
    /// A local JWKS file (exactly one of `jwks_file` and `jwks_url`).
    pub jwks_file: Option<PathBuf>,
    /// The IdP's JWKS endpoint, `https://` (or `http://`) (exactly one of `jwks_file` and `jwks_url`).
    pub jwks_url: Option<String>,
    /// The claim holding the role names; a dotted path reaches nested
    /// claims (`realm_access.roles`). Default `roles`.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Default 60.
    #[serde(default = "default_leeway_s")]
    pub leeway_s: u64,
}

impl OidcConfig {
    /// Whether the table makes sense; says what to fix when it does not.
    pub fn check(&self) -> Result<(), OidcError> {
        let bad = |m: String| Err(OidcError::Config(m));
        if self.issuer.trim().is_empty() {
            return bad("`issuer` is empty".into());
        }
        if self.audience.trim().is_empty() {
            return bad("`audience` is empty".into());
        }
        match (&self.jwks_file, &self.jwks_url) {
            (Some(_), Some(_)) => {
                return bad("set one of `jwks_file` and `jwks_url`, not both".into());
            }
            (None, None) => {
                return bad(
                    "set one of `jwks_file` (a local JWKS file) or `jwks_url` (the identity provider's JWKS endpoint)"
                        .into(),
                );
            }
            (Some(path), None) => {
                if path.as_os_str().is_empty() {
                    return bad("`jwks_file` is empty".into());
                }
            }
            (None, Some(url)) => check_url(url).map_err(|e| OidcError::Config(e.to_string()))?,
        }
        if self.roles_claim.is_empty() {
            return bad("`roles_claim` is empty".into());
        }
        if self.roles_claim.split('.').any(str::is_empty) {
            return bad(format!(
                "`roles_claim` `{}` has an empty part (write e.g. `realm_access.roles`)",
                self.roles_claim
            ));
        }
        if self.leeway_s > MAX_LEEWAY_S {
            return bad(format!(
                "`leeway_s` is {} s; at most {MAX_LEEWAY_S} s is allowed",
                self.leeway_s
            ));
        }
        Ok(())
    }
}

/// `reqwest::Url`'s parse error (the `url` crate's, which is not a
/// direct dependency).
type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// Why `jwks_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksUrlError {
    #[error("`jwks_url` `{url}` must start with https:// (or http://)")]
    Scheme { url: String },
    #[error("`jwks_url` `{url}` has no host")]
    NoHost { url: String },
    #[error("`jwks_url` `{url}` is not a valid URL: {source}")]
    Invalid {
        url: String,
        #[source]
        source: UrlParseError,
    },
}

fn check_url(url: &str) -> Result<(), JwksUrlError> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(JwksUrlError::Scheme { url: url.into() });
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(JwksUrlError::NoHost { url: url.into() }),
        Err(source) => Err(JwksUrlError::Invalid {
            url: url.into(),
            source,
        }),
    }
}

/// Knobs that are not configuration: the production values are the defaults;
/// tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierOptions {
    /// An unknown `kid` reloads the key set at most once per this interval.
    pub min_refresh_interval: Duration,
    /// Fetching the JWKS URL (connect, answer and body) must finish within this.
    pub fetch_timeout: Duration,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            min_refresh_interval: DEFAULT_REFRESH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// Who the token says the caller is, once it has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The `sub` claim: non-empty, at most 256 characters, no control characters.
    pub subject: String,
    /// `name`, else `preferred_username`, else `email`.
    pub display_name: Option<String>,
    /// Regent roles named in the roles claim, deduplicated and sorted.
    /// Never `reporter`: that role belongs to machine tokens only.
    pub roles: Vec<Role>,
    /// Names in the roles claim that grant nothing here (other groups, and
    /// `reporter`), deduplicated and sorted.
    pub ignored_roles: Vec<String>,
    /// The `exp` claim, in seconds since the epoch: a console session
    /// signed in with the token ends by then.
    pub expires_s: Option<i64>,
}

/// Verifies the IdP's tokens. `Send + Sync`: share it behind an `Arc`.
pub struct OidcVerifier {
    config: OidcConfig,
    source: KeySource,
    keys: ArcSwap<KeySet>,
    /// When the key set was last reloaded (or tried to be); held while a
    /// reload runs, so concurrent reloads are one.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    /// Tokens that verified, by the SHA-256 of their text: a client sends
    /// the same JWT on every request, and checking its signature each time
    /// costs more than the rest of a small request. An entry serves only
    /// while the key set it was verified with is current and until `exp`.
    verified: std::sync::RwLock<HashMap<[u8; 32], Remembered>>,
}

/// A verified token's identity, and what bounds its reuse.
struct Remembered {
    identity: VerifiedIdentity,
    /// The token's `exp`, in seconds since the epoch.
    expires_s: i64,
    /// The key set generation that verified it.
    generation: u64,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .field("key_set", &self.source.describe())
            .field("keys", &self.keys.load().keys.len())
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// Checks the configuration and loads the key set; an error means the
    /// server must not start.
    pub async fn new(config: OidcConfig) -> Result<Self, OidcError> {
        Self::with_options(config, VerifierOptions::default()).await
    }

    /// [`OidcVerifier::new`] with other refresh interval and fetch timeout.
    pub async fn with_options(
        config: OidcConfig,
        options: VerifierOptions,
    ) -> Result<Self, OidcError> {
        config.check()?;
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(path), None) => KeySource::File(path.clone()),
            (None, Some(url)) => {
                let client = reqwest::Client::builder()
                    .timeout(options.fetch_timeout)
                    .connect_timeout(options.fetch_timeout)
                    .user_agent(concat!("regent/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| OidcError::JwksFetch {
                        url: url.clone(),
                        reason: format!("cannot set up an HTTP client: {e}"),
                    })?;
                KeySource::Url {
                    url: url.clone(),
                    client,
                    timeout: options.fetch_timeout,
                }
            }
            // `check` has refused both and neither.
            _ => {
                return Err(OidcError::Config(
                    "set exactly one of `jwks_file` and `jwks_url`".into(),
                ))
            }
        };
        let (jwks, keys) = source.load().await?;
        tracing::info!(
            key_set = %source.describe(),
            keys = keys.len(),
            issuer = %config.issuer,
            "OIDC key set loaded"
        );
        Ok(OidcVerifier {
            config,
            source,
            keys: ArcSwap::from_pointee(KeySet {
                generation: 0,
                jwks,
                keys,
            }),
            last_refresh: tokio::sync::Mutex::new(None),
            min_refresh_interval: options.min_refresh_interval,
            verified: std::sync::RwLock::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The key set in use (only the keys Regent can verify with).
    pub fn key_set(&self) -> JwkSet {
        self.keys.load().jwks.clone()
    }

    /// Verifies `token` (the compact JWT, without `Bearer `) and reads the
    /// caller's identity and roles from it.
    ///
    /// The header's `alg` must be RS256, ES256 or EdDSA. The key is the one
    /// with the header's `kid` (an unknown `kid` reloads the key set once,
    /// rate limited); a token without `kid` needs the key set to hold exactly
    /// one key of its algorithm. Then the signature, `iss`, `aud`, `exp`
    /// (required) and `nbf` (when present) are checked, with `leeway_s`.
    ///
    /// A token that verified is remembered until its `exp` (without the
    /// leeway) or until the key set is reloaded, whichever comes first.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, OidcError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(identity) = self.remembered(&digest) {
            return Ok(identity);
        }
        let header = parse_header(token)?;
        let (set, index) = self.key_for(&header).await?;
        let key = &set.keys[index];
        let claims = self.decode(token, key)?;
        let identity = identity_from_claims(&claims, &self.config.roles_claim)?;
        if let Some(expires_s) = claims.get("exp").and_then(Value::as_i64) {
            let mut verified = self.verified.write().unwrap_or_else(|p| p.into_inner());
            if verified.len() >= MAX_REMEMBERED_TOKENS {
                verified.clear();
            }
            verified.insert(
                digest,
                Remembered {
                    identity: identity.clone(),
                    expires_s,
                    generation: set.generation,
                },
            );
        }
        Ok(identity)
    }

    /// The identity of a token verified before, if it still holds.
    fn remembered(&self, digest: &[u8; 32]) -> Option<VerifiedIdentity> {
        let verified = self.verified.read().unwrap_or_else(|p| p.into_inner());
        let entry = verified.get(digest)?;
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let current = self.keys.load().generation == entry.generation;
        (current && i64::try_from(now_s).ok()? < entry.expires_s).then(|| entry.identity.clone())
    }

    /// The key the token names, reloading the key set once if the `kid` is new.
    async fn key_for(&self, header: &TokenHeader) -> Result<(Arc<KeySet>, usize), OidcError> {
        let set = self.keys.load_full();
        let kid = match set.select(header) {
            Ok(index) => return Ok((set, index)),
            Err(Lookup::Failed(e)) => return Err(e),
            Err(Lookup::UnknownKid(kid)) => kid,
        };
        let unknown = || OidcError::UnknownKid { kid: shown(&kid) };
        match self.refresh(set.generation).await {
            Ok(Some(fresh)) => match fresh.select(header) {
                Ok(index) => Ok((fresh, index)),
                Err(Lookup::Failed(e)) => Err(e),
                Err(Lookup::UnknownKid(_)) => Err(unknown()),
            },
            Ok(None) => Err(unknown()),
            Err(e) => Err(OidcError::UnknownKidRefreshFailed {
                kid: shown(&kid),
                reason: e.to_string(),
            }),
        }
    }

    /// Reloads the key set unless another caller already did since
    /// generation `seen` (then that set is returned) or the last reload is
    /// too recent (then `None`).
    async fn refresh(&self, seen: u64) -> Result<Option<Arc<KeySet>>, OidcError> {
        let mut last = self.last_refresh.lock().await;
        let current = self.keys.load_full();
        if current.generation != seen {
            return Ok(Some(current));
        }
        if let Some(at) = *last {
            if at.elapsed() < self.min_refresh_interval {
                return Ok(None);
            }
        }
        *last = Some(Instant::now());
        match self.source.load().await {
            Ok((jwks, keys)) => {
                tracing::info!(
                    key_set = %self.source.describe(),
                    keys = keys.len(),
                    "OIDC key set reloaded"
                );
                let fresh = Arc::new(KeySet {
                    generation: seen.wrapping_add(1),
                    jwks,
                    keys,
                });
                self.keys.store(Arc::clone(&fresh));
                Ok(Some(fresh))
            }
            Err(e) => {
                tracing::warn!(error = %e, "reloading the OIDC key set failed; keeping the previous one");
                Err(e)
            }
        }
    }

    fn decode(&self, token: &str, key: &VerificationKey) -> Result<Map<String, Value>, OidcError> {
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.config.leeway_s;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| self.explain(e.kind(), token))
    }

    /// Turns `jsonwebtoken`'s verdict into a message that names the values.
    /// Claims are read back only for errors found after the signature verified.
    fn explain(&self, kind: &ErrorKind, token: &str) -> OidcError {
        let leeway_s = self.config.leeway_s;
        let claim = |name: &str| payload_claims(token).and_then(|mut c| c.remove(name));
        match kind {
            ErrorKind::InvalidSignature => OidcError::BadSignature,
            ErrorKind::ExpiredSignature => OidcError::Expired {
                exp: timestamp(claim("exp").as_ref()),
                leeway_s,
            },
            ErrorKind::ImmatureSignature => OidcError::NotYetValid {
                nbf: timestamp(claim("nbf").as_ref()),
                leeway_s,
            },
            ErrorKind::InvalidIssuer => OidcError::WrongIssuer {
                found: strings(claim("iss").as_ref()),
                expected: self.config.issuer.clone(),
            },
            ErrorKind::InvalidAudience => OidcError::WrongAudience {
                expected: self.config.audience.clone(),
                found: match claim("aud") {
                    Some(v @ (Value::String(_) | Value::Array(_))) => {
                        format!("`{}`", strings(Some(&v)))
                    }
                    _ => "not a string or a list of strings".into(),
                },
            },
            ErrorKind::MissingRequiredClaim(name) => match name.as_str() {
                "aud" if claim("aud").is_some_and(|v| !v.is_null()) => OidcError::InvalidClaim {
                    claim: "aud".into(),
                    reason: "it is not a string or a list of strings".into(),
                },
                "iss" if claim("iss").is_some_and(|v| !v.is_null()) => OidcError::InvalidClaim {
                    claim: "iss".into(),
                    reason: "it is not a string".into(),
                },
                _ => OidcError::MissingClaim(name.clone()),
            },
            ErrorKind::InvalidClaimFormat(name) => OidcError::InvalidClaim {
                claim: name.clone(),
                reason: "it is not a number of seconds since 1970".into(),
            },
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidAlgorithm => OidcError::KeyUnusable,
            ErrorKind::Base64(_) => {
                OidcError::Malformed("its payload or signature is not base64url".into())
            }
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                OidcError::Malformed("its payload is not a JSON object".into())
            }
            _ => OidcError::Malformed("it cannot be decoded".into()),
        }
    }
}

/// Where the key set comes from.
enum KeySource {
    File(PathBuf),
    Url {
        url: String,
        client: reqwest::Client,
        timeout: Duration,
    },
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Url { url, .. } => url.clone(),
        }
    }

    async fn load(&self) -> Result<(JwkSet, Vec<VerificationKey>), OidcError> {
        match self {
            KeySource::File(path) => {
                let bytes = read_file(path).await?;
                parse_key_set(&bytes, &format!("`{}`", path.display()))
            }
            KeySource::Url {
                url,
                client,
                timeout,
            } => {
                let (status, bytes) = fetch(client, url, *timeout).await?;
                parse_key_set(&bytes, &format!("`{url}` (HTTP {status})"))
            }
        }
    }
}

async fn read_file(path: &Path) -> Result<Vec<u8>, OidcError> {
    let err = |reason: String| OidcError::JwksFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_JWKS_BYTES as u64 {
        return Err(err(format!(
            "it is {} bytes, more than the {MAX_JWKS_BYTES} allowed",
            meta.len()
        )));
    }
    tokio::fs::read(path).await.map_err(|e| err(e.to_string()))
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(reqwest::StatusCode, Vec<u8>), OidcError> {
    let err = |reason: String| OidcError::JwksFetch {
        url: url.to_owned(),
        reason,
    };
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("no answer within {} ms", timeout.as_millis())
        } else {
            error_chain(&e.without_url())
        }
    };
    let mut response = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| err(describe(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(err(format!("it answered HTTP {status}")));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(err(format!(
            "its answer (HTTP {status}) is larger than {MAX_JWKS_BYTES} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| err(describe(e)))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_JWKS_BYTES {
            return Err(err(format!(
                "its answer (HTTP {status}) is larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
    }
    Ok((status, body))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// A key Regent can verify with: one accepted algorithm per key.
struct VerificationKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// One loaded key set; `generation` counts reloads.
struct KeySet {
    generation: u64,
    jwks: JwkSet,
    keys: Vec<VerificationKey>,
}

enum Lookup {
    /// Worth a reload: the token names a `kid` the set does not have.
    UnknownKid(String),
    Failed(OidcError),
}

impl KeySet {
    fn select(&self, header: &TokenHeader) -> Result<usize, Lookup> {
        match &header.kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.kid.as_deref() == Some(kid.as_str()))
                    .peekable();
                let Some((_, first)) = named.peek() else {
                    return Err(Lookup::UnknownKid(kid.clone()));
                };
                let first_alg = first.alg;
                named
                    .find(|(_, k)| k.alg == header.alg)
                    .map(|(i, _)| i)
                    .ok_or_else(|| {
                        Lookup::Failed(OidcError::KeyAlgorithmMismatch {
                            kid: shown(kid),
                            key_alg: alg_name(first_alg).into(),
                            alg: alg_name(header.alg).into(),
                        })
                    })
            }
            None => {
                let matching: Vec<usize> = self
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.alg == header.alg)
                    .map(|(i, _)| i)
                    .collect();
                match matching.as_slice() {
                    [only] => Ok(*only),
                    _ => Err(Lookup::Failed(OidcError::NoKidAmbiguous {
                        alg: alg_name(header.alg).into(),
                        count: matching.len(),
                    })),
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<Value>,
}

/// Parses a JWKS leniently: keys Regent cannot use (encryption keys, HMAC
/// secrets, other curves, unknown types) are skipped; a set with no usable
/// key at all is an error.
fn parse_key_set(bytes: &[u8], origin: &str) -> Result<(JwkSet, Vec<VerificationKey>), OidcError> {
    let invalid = |reason: String| OidcError::JwksInvalid {
        origin: origin.to_owned(),
        reason,
    };
    let raw: RawKeySet = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "it is not a JSON object with a `keys` array ({})",
            e.classify_text()
        ))
    })?;
    let total = raw.keys.len();
    let mut jwks = JwkSet { keys: Vec::new() };
    let mut keys = Vec::new();
    for (i, value) in raw.keys.into_iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(_) => {
                tracing::warn!(
                    key_set = origin,
                    index = i,
                    "skipping a key Regent cannot parse"
                );
                continue;
            }
        };
        match usable_key(&jwk) {
            Ok(key) => {
                keys.push(key);
                jwks.keys.push(jwk);
            }
            Err(why) => tracing::info!(
                key_set = origin,
                index = i,
                kid = jwk.common.key_id.as_deref().unwrap_or(""),
                "skipping a key: {why}"
            ),
        }
    }
    if keys.is_empty() {
        return Err(invalid(format!(
            "none of its {total} keys is a signing key for {ACCEPTED_ALGORITHMS}"
        )));
    }
    Ok((jwks, keys))
}

trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "it could not be read",
            serde_json::error::Category::Syntax => "it is not JSON",
            serde_json::error::Category::Data => "its shape is wrong",
            serde_json::error::Category::Eof => "it ends early",
        }
    }
}

/// The one algorithm `jwk` verifies, and its decoding key; or why not.
fn usable_key(jwk: &Jwk) -> Result<VerificationKey, &'static str> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Err("it is an encryption key (`use` is `enc`)");
    }
    let b64_len = |s: &str| URL_SAFE_NO_PAD.decode(s).map(|b| b.len()).ok();
    let (alg, wanted) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let modulus = URL_SAFE_NO_PAD
                .decode(&p.n)
                .map_err(|_| "its RSA modulus is not base64url")?;
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("its RSA modulus is shorter than 2048 bits");
            }
            (Algorithm::RS256, KeyAlgorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(p) => {
            if p.curve != EllipticCurve::P256 {
                return Err("it is an EC key on a curve other than P-256");
            }
            if b64_len(&p.x) != Some(32) || b64_len(&p.y) != Some(32) {
                return Err("its P-256 coordinates are not 32 bytes each");
            }
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return Err("it is an OKP key on a curve other than Ed25519");
            }
            if b64_len(&p.x) != Some(32) {
                return Err("its Ed25519 public key is not 32 bytes");
            }
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("it is a symmetric (HMAC) key");
        }
    };
    if let Some(declared) = jwk.common.key_algorithm {
        if declared != wanted {
            return Err("its `alg` is not RS256, ES256 or EdDSA for its key type");
        }
    }
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| "its parameters are not a valid public key")?;
    Ok(VerificationKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        // Never held by a key or accepted from a header here.
        _ => "another algorithm",
    }
}

/// What the header says, read before any key is chosen.
#[derive(Debug)]
struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
}

fn parse_header(token: &str) -> Result<TokenHeader, OidcError> {
    let malformed = |m: &str| OidcError::Malformed(m.to_owned());
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::Malformed(format!(
            "it is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, _, _] = parts.as_slice() else {
        return Err(malformed(
            "it does not have three dot-separated parts (header.payload.signature)",
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("its header is not base64url"))?;
    let fields: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed("its header is not a JSON object"))?;
    if fields.contains_key("crit") {
        return Err(OidcError::CriticalHeader);
    }
    let alg = match fields.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        None | Some(Value::Null) => return Err(malformed("its header has no `alg`")),
        Some(_) => return Err(malformed("its header's `alg` is not a string")),
    };
    let alg = match alg {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            return Err(OidcError::AlgorithmNotAccepted { alg: shown(other) });
        }
    };
    let kid = match fields.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("its header's `kid` is not a string")),
    };
    Ok(TokenHeader { alg, kid })
}

/// The payload's claims, read without verifying: only for error messages
/// about a token whose signature has already verified.
fn payload_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate as RFC 3339 (`2026-11-30T02:00:00Z`).
fn timestamp(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "unknown".into();
    };
    let secs = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.round() as i64)
    });
    secs.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| shown(&value.to_string()))
}

/// A string claim, or a list of them, as text for an error message.
fn strings(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => shown(s),
        Some(Value::Array(items)) => {
            let mut parts: Vec<String> = items
                .iter()
                .take(5)
                .map(|v| match v {
                    Value::String(s) => shown(s),
                    other => shown(&other.to_string()),
                })
                .collect();
            if items.len() > 5 {
                parts.push("…".into());
            }
            parts.join("`, `")
        }
        Some(other) => shown(&other.to_string()),
        None => "(none)".into(),
    }
}

/// A token-supplied value made safe to repeat: control characters replaced,
/// cut to a readable length.
fn shown(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if s.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn identity_from_claims(
    claims: &Map<String, Value>,
    roles_claim: &str,
) -> Result<VerifiedIdentity, OidcError> {
    let invalid = |claim: &str, reason: &str| OidcError::InvalidClaim {
        claim: claim.to_owned(),
        reason: reason.to_owned(),
    };
    let subject = match claims.get("sub") {
        None | Some(Value::Null) => return Err(OidcError::MissingClaim("sub".into())),
        Some(Value::String(sub)) => sub,
        Some(_) => return Err(invalid("sub", "it is not a string")),
    };
    if subject.is_empty() {
        return Err(invalid("sub", "it is empty"));
    }
    if subject.chars().nth(MAX_SUBJECT_CHARS).is_some() {
        return Err(invalid("sub", "it is longer than 256 characters"));
    }
    if subject.chars().any(char::is_control) {
        return Err(invalid("sub", "it contains a control character"));
    }
    let display_name = ["name", "preferred_username", "email"]
        .iter()
        .filter_map(|c| claims.get(*c).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty() && !s.chars().any(char::is_control))
        .map(|s| s.chars().take(MAX_SUBJECT_CHARS).collect());

    let names: Vec<&str> = match claim_at(claims, roles_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split_whitespace().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    invalid(roles_claim, "its list holds something other than strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                roles_claim,
                "it is neither a list of strings nor a space-separated string",
            ))
        }
    };
    let mut roles = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for name in names {
        match name.parse::<Role>() {
            // The governed machine's role: local machine tokens only.
            Ok(Role::Reporter) | Err(_) => {
                ignored.insert(name.to_owned());
            }
            Ok(role) => {
                roles.insert(role);
            }
        }
    }
    Ok(VerifiedIdentity {
        subject: subject.clone(),
        display_name,
        roles: roles.into_iter().collect(),
        ignored_roles: ignored.into_iter().collect(),
        expires_s: claims.get("exp").and_then(Value::as_i64),
    })
}

/// The claim named `path`: a claim of exactly that name (names may hold
/// dots, e.g. `https://example.com/roles`), else a dotted path into nested
/// objects (`realm_access.roles`).
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{Json, Router};
    use jsonwebtoken::{encode, EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::rand_core::{OsRng, RngCore};
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    const ISS: &str = "https://idp.example";
    const AUD: &str = "regent";

    struct TestKey {
        alg: Algorithm,
        kid: String,
        encoding: EncodingKey,
        jwk: Value,
    }

    impl TestKey {
        fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(self.alg);
            header.kid = Some(self.kid.clone());
            encode(&header, claims, &self.encoding).unwrap()
        }

        fn sign_without_kid(&self, claims: &Value) -> String {
            encode(&Header::new(self.alg), claims, &self.encoding).unwrap()
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ed25519_key(kid: &str) -> TestKey {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing.to_pkcs8_der().unwrap();
        TestKey {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": b64(signing.verifying_key().as_bytes()),
            }),
        }
    }

    fn p256_key(kid: &str) -> TestKey {
        use p256::pkcs8::EncodePrivateKey;
        let signing = p256::ecdsa::SigningKey::random(&mut OsRng);
        let der = signing.to_pkcs8_der().unwrap();
        let point = signing.verifying_key().to_encoded_point(false);
        TestKey {
            alg: Algorithm::ES256,
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
            }),
        }
    }

    /// One RSA key for the whole module: generating one is slow.
    fn rsa_key(kid: &str) -> TestKey {
        static RSA: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        let private = RSA.get_or_init(|| rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap());
        let der = private.to_pkcs1_der().unwrap();
        TestKey {
            alg: Algorithm::RS256,
            kid: kid.into(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(&private.n().to_bytes_be()), "e": b64(&private.e().to_bytes_be()),
            }),
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims() -> Value {
        json!({
            "iss": ISS, "aud": AUD, "sub": "alice", "iat": now(), "exp": now() + 600,
            "name": "Alice Liddell", "email": "alice@example.com",
            "roles": ["tech_lead", "viewer"],
        })
    }

    fn with(mut claims: Value, changes: Value) -> Value {
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn jwks(keys: &[&TestKey]) -> Value {
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    fn config_file(path: &Path) -> OidcConfig {
        OidcConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            jwks_file: Some(path.to_owned()),
            jwks_url: None,
            roles_claim: "roles".into(),
            leeway_s: 60,
        }
    }

    fn config_url(url: &str) -> OidcConfig {
        OidcConfig {
            jwks_file: None,
            jwks_url: Some(url.into()),
            ..config_file(Path::new("unused"))
        }
    }

    fn write_jwks(file: &tempfile::NamedTempFile, set: &Value) {
        std::fs::write(file.path(), serde_json::to_vec(set).unwrap()).unwrap();
    }

    async fn file_verifier_with(
        keys: &[&TestKey],
        edit: impl FnOnce(&mut OidcConfig),
    ) -> (OidcVerifier, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        write_jwks(&file, &jwks(keys));
        let mut config = config_file(file.path());
        edit(&mut config);
        (OidcVerifier::new(config).await.unwrap(), file)
    }

    async fn file_verifier(keys: &[&TestKey]) -> (OidcVerifier, tempfile::NamedTempFile) {
        file_verifier_with(keys, |_| {}).await
    }

    /// A JWKS endpoint on 127.0.0.1 that counts its requests; `/slow`
    /// never answers in time, `/missing` is a 404, `/garbage` is not JSON.
    struct JwksServer {
        base: String,
        hits: Arc<AtomicUsize>,
        jwks: Arc<Mutex<Value>>,
    }

    #[derive(Clone)]
    struct ServerState {
        hits: Arc<AtomicUsize>,
        jwks: Arc<Mutex<Value>>,
    }

    async fn serve_jwks(initial: Value) -> JwksServer {
        let state = ServerState {
            hits: Arc::new(AtomicUsize::new(0)),
            jwks: Arc::new(Mutex::new(initial)),
        };
        let app = Router::new()
            .route(
                "/jwks",
                get(|State(s): State<ServerState>| async move {
                    s.hits.fetch_add(1, Ordering::SeqCst);
                    let body = s.jwks.lock().unwrap().clone();
                    Json(body)
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "{}"
                }),
            )
            .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }))
            .route("/garbage", get(|| async { "<html>sign in</html>" }))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        JwksServer {
            base: format!("http://{addr}"),
            hits: state.hits,
            jwks: state.jwks,
        }
    }

    #[tokio::test]
    async fn eddsa_token_verifies_with_subject_name_and_roles() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let identity = verifier.verify(&key.sign(&claims())).await.unwrap();
        assert_eq!(
            identity,
            VerifiedIdentity {
                subject: "alice".into(),
                display_name: Some("Alice Liddell".into()),
                roles: vec![Role::Viewer, Role::TechLead],
                ignored_roles: vec![],
                expires_s: identity.expires_s,
            }
        );
    }

    #[tokio::test]
    async fn es256_token_verifies() {
        let key = p256_key("ec-1");
        let other = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&other, &key]).await;
        let token = key.sign(&with(
            claims(),
            json!({"sub": "bob", "roles": ["operator"]}),
        ));
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.subject, "bob");
        assert_eq!(identity.roles, vec![Role::Operator]);
    }

    #[tokio::test]
    async fn rs256_token_verifies() {
        let key = rsa_key("rsa-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(
            claims(),
            json!({"aud": ["account", AUD], "roles": ["admin", "exec_sponsor"]}),
        ));
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.roles, vec![Role::Admin, Role::ExecSponsor]);
    }

    #[tokio::test]
    async fn expired_token_is_refused_with_its_exp_and_the_leeway() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(claims(), json!({"exp": now() - 3600})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(err, OidcError::Expired { leeway_s: 60, .. }),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("the token has expired (exp 20"),
            "{err}"
        );
        assert!(err.to_string().ends_with("Z, leeway 60 s)"), "{err}");

        // Within the leeway it still verifies.
        let token = key.sign(&with(claims(), json!({"exp": now() - 30})));
        verifier.verify(&token).await.unwrap();

        // exp is required.
        let token = key.sign(&with(claims(), json!({"exp": null})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(err.to_string(), "the token has no `exp` claim");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(
            timestamp(Some(&json!(1_796_004_000))),
            "2026-11-30T02:00:00Z"
        );
        assert_eq!(
            timestamp(Some(&json!(1_796_004_000.4))),
            "2026-11-30T02:00:00Z"
        );
        assert_eq!(timestamp(None), "unknown");
    }

    #[tokio::test]
    async fn token_not_valid_yet_is_refused() {
        let key = p256_key("ec-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(claims(), json!({"nbf": now() + 3600})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(err, OidcError::NotYetValid { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("the token is not valid yet (nbf 20"));
        // nbf in the past is fine.
        let token = key.sign(&with(claims(), json!({"nbf": now() - 10})));
        verifier.verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_audience_is_refused() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(claims(), json!({"aud": "grafana"})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token's audience is not `regent` (it is `grafana`)"
        );
        let token = key.sign(&with(claims(), json!({"aud": ["grafana", "account"]})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(err, OidcError::WrongAudience { .. }), "{err}");
        let token = key.sign(&with(claims(), json!({"aud": null})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(err, OidcError::MissingClaim("aud".into()));
    }

    #[tokio::test]
    async fn wrong_issuer_is_refused() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(claims(), json!({"iss": "https://evil.example"})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token's issuer `https://evil.example` is not `https://idp.example`"
        );
        let token = key.sign(&with(claims(), json!({"iss": null})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(err, OidcError::MissingClaim("iss".into()));
    }

    #[tokio::test]
    async fn unknown_kid_is_refused_after_one_reload() {
        let key = ed25519_key("ed-1");
        let stranger = ed25519_key("abc");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let err = verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no key with kid `abc` in the identity provider's key set"
        );
    }

    #[tokio::test]
    async fn a_key_added_to_the_file_is_found_by_rereading_it() {
        let old = ed25519_key("2025");
        let new = p256_key("2026");
        let (verifier, file) = file_verifier(&[&old]).await;
        write_jwks(&file, &jwks(&[&old, &new]));
        let identity = verifier.verify(&new.sign(&claims())).await.unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(verifier.key_set().keys.len(), 2);
        verifier.verify(&old.sign(&claims())).await.unwrap();
    }

    #[tokio::test]
    async fn a_remembered_token_stops_counting_when_its_key_leaves_the_set() {
        let old = ed25519_key("2025");
        let new = ed25519_key("2026");
        let (verifier, file) = file_verifier(&[&old]).await;
        let token = old.sign(&claims());
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "alice");
        // Remembered: the file going away changes nothing for it...
        write_jwks(&file, &jwks(&[&new]));
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "alice");
        // ...until the key set is reloaded (here by a token of the new key).
        verifier.verify(&new.sign(&claims())).await.unwrap();
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKid { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_expired_token_is_not_served_from_memory() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier_with(&[&key], |c| c.leeway_s = 0).await;
        let soon = with(claims(), json!({"exp": now() + 1}));
        let token = key.sign(&soon);
        verifier.verify(&token).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(err, OidcError::Expired { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_reload_that_fails_is_reported_and_the_old_keys_stay() {
        let key = ed25519_key("ed-1");
        let (verifier, file) = file_verifier(&[&key]).await;
        std::fs::write(file.path(), b"{not json").unwrap();
        let err = verifier
            .verify(&ed25519_key("new").sign(&claims()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, OidcError::UnknownKidRefreshFailed { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("is not JSON"), "{err}");
        verifier.verify(&key.sign(&claims())).await.unwrap();
    }

    #[tokio::test]
    async fn bad_signature_is_refused() {
        let key = ed25519_key("ed-1");
        let impostor = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let err = verifier
            .verify(&impostor.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the token's signature does not verify");

        // A valid token whose payload was altered.
        let ec = p256_key("ec-1");
        let (verifier, _file) = file_verifier(&[&ec]).await;
        let token = ec.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged =
            b64(&serde_json::to_vec(&with(claims(), json!({"roles": ["admin"]}))).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        let err = verifier.verify(&tampered).await.unwrap_err();
        assert_eq!(err, OidcError::BadSignature);
    }

    #[tokio::test]
    async fn hs256_and_none_are_refused() {
        let key = rsa_key("rsa-1");
        let (verifier, _file) = file_verifier(&[&key]).await;

        // The classic confusion: HMAC keyed with the public key's bytes.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let secret = serde_json::to_vec(&key.jwk).unwrap();
        let token = encode(&header, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token's algorithm HS256 is not accepted (RS256, ES256, EdDSA)"
        );

        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(&serde_json::to_vec(&claims()).unwrap())
        );
        let err = verifier.verify(&none).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token's algorithm none is not accepted (RS256, ES256, EdDSA)"
        );

        let ps = format!("{}.e30.sig", b64(br#"{"alg":"PS256","kid":"rsa-1"}"#));
        let err = verifier.verify(&ps).await.unwrap_err();
        assert!(
            matches!(err, OidcError::AlgorithmNotAccepted { .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x"] {
            let err = verifier.verify(token).await.unwrap_err();
            assert!(matches!(err, OidcError::Malformed(_)), "{token}: {err}");
        }
        let crit = format!(
            "{}.e30.x",
            b64(br#"{"alg":"EdDSA","kid":"ed-1","crit":["b64"],"b64":false}"#)
        );
        assert_eq!(
            verifier.verify(&crit).await.unwrap_err(),
            OidcError::CriticalHeader
        );
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(
            verifier.verify(&huge).await.unwrap_err(),
            OidcError::Malformed(_)
        ));
    }

    #[tokio::test]
    async fn missing_or_bad_sub_is_refused() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(claims(), json!({"sub": null})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(err.to_string(), "the token has no `sub` claim");

        for (sub, reason) in [
            (json!(""), "it is empty"),
            (json!("x".repeat(257)), "it is longer than 256 characters"),
            (json!("alice\nadmin"), "it contains a control character"),
            (json!(42), "it is not a string"),
        ] {
            let token = key.sign(&with(claims(), json!({ "sub": sub })));
            let err = verifier.verify(&token).await.unwrap_err();
            assert_eq!(
                err,
                OidcError::InvalidClaim {
                    claim: "sub".into(),
                    reason: reason.into()
                }
            );
        }
        let token = key.sign(&with(claims(), json!({"sub": "é".repeat(256)})));
        verifier.verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn roles_from_a_dotted_path_ignore_unknown_names_and_reporter() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) =
            file_verifier_with(&[&key], |c| c.roles_claim = "realm_access.roles".into()).await;
        let token = key.sign(&with(
            claims(),
            json!({
                "roles": null, "name": null,
                "preferred_username": "alice.l",
                "realm_access": {"roles": [
                    "ops_lead", "offline_access", "reporter", "viewer", "ops_lead", "Admin",
                    "uma_authorization"
                ]},
            }),
        ));
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.roles, vec![Role::Viewer, Role::OpsLead]);
        assert_eq!(
            identity.ignored_roles,
            vec!["Admin", "offline_access", "reporter", "uma_authorization"]
        );
        assert_eq!(identity.display_name.as_deref(), Some("alice.l"));

        // Claim names may themselves hold dots.
        let (verifier, _file) = file_verifier_with(&[&key], |c| {
            c.roles_claim = "https://regent.example/roles".into()
        })
        .await;
        let token = key.sign(&with(
            claims(),
            json!({"https://regent.example/roles": ["admin"]}),
        ));
        assert_eq!(
            verifier.verify(&token).await.unwrap().roles,
            vec![Role::Admin]
        );
    }

    #[tokio::test]
    async fn roles_from_a_space_separated_string() {
        let key = p256_key("ec-1");
        let (verifier, _file) =
            file_verifier_with(&[&key], |c| c.roles_claim = "scope".into()).await;
        let token = key.sign(&with(
            claims(),
            json!({"scope": "openid  product_lead reporter email tech_lead", "name": null, "preferred_username": null}),
        ));
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.roles, vec![Role::TechLead, Role::ProductLead]);
        assert_eq!(identity.ignored_roles, vec!["email", "openid", "reporter"]);
        assert_eq!(identity.display_name.as_deref(), Some("alice@example.com"));
    }

    #[tokio::test]
    async fn a_missing_roles_claim_is_no_roles_and_a_wrong_one_is_an_error() {
        let key = ed25519_key("ed-1");
        let (verifier, _file) = file_verifier(&[&key]).await;
        let token = key.sign(&with(
            claims(),
            json!({"roles": null, "name": null, "email": null}),
        ));
        let identity = verifier.verify(&token).await.unwrap();
        assert!(identity.roles.is_empty() && identity.ignored_roles.is_empty());
        assert_eq!(identity.display_name, None);

        let token = key.sign(&with(claims(), json!({"roles": {"admin": true}})));
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token's `roles` claim is not valid: it is neither a list of strings nor a space-separated string"
        );
        let token = key.sign(&with(claims(), json!({"roles": ["admin", 7]})));
        assert!(matches!(
            verifier.verify(&token).await.unwrap_err(),
            OidcError::InvalidClaim { .. }
        ));
    }

    #[tokio::test]
    async fn a_token_without_kid_needs_exactly_one_key_of_its_algorithm() {
        let ed = ed25519_key("ed-1");
        let ec = p256_key("ec-1");
        let (verifier, _file) = file_verifier(&[&ed, &ec]).await;
        verifier
            .verify(&ed.sign_without_kid(&claims()))
            .await
            .unwrap();

        let ed2 = ed25519_key("ed-2");
        let (verifier, _file) = file_verifier(&[&ed, &ed2, &ec]).await;
        let err = verifier
            .verify(&ed.sign_without_kid(&claims()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token has no `kid`, and the identity provider's key set has 2 EdDSA keys rather than exactly one"
        );
        let rsa = rsa_key("rsa-1");
        let err = verifier
            .verify(&rsa.sign_without_kid(&claims()))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            OidcError::NoKidAmbiguous {
                alg: "RS256".into(),
                count: 0
            }
        );
    }

    #[tokio::test]
    async fn a_kid_of_another_key_type_is_refused() {
        let ed = ed25519_key("shared");
        let (verifier, _file) = file_verifier(&[&ed]).await;
        let ec = p256_key("shared");
        let err = verifier.verify(&ec.sign(&claims())).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key with kid `shared` in the identity provider's key set is an EdDSA key, not ES256"
        );
    }

    #[tokio::test]
    async fn key_sets_skip_unusable_keys_and_refuse_when_none_is_left() {
        let ed = ed25519_key("ed-1");
        let mut set = jwks(&[&ed]);
        let extra = [
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
            json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "short"}),
            json!({"kty": "RSA", "n": b64(&[0xC5; 128]), "e": "AQAB", "kid": "rsa-1024"}),
            json!({"kty": "AKP", "alg": "ML-DSA-44", "pub": "AA", "kid": "future"}),
            json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "n": "AA", "e": "AQAB"}),
        ];
        set["keys"]
            .as_array_mut()
            .unwrap()
            .extend(extra.iter().cloned());
        let file = tempfile::NamedTempFile::new().unwrap();
        write_jwks(&file, &set);
        let verifier = OidcVerifier::new(config_file(file.path())).await.unwrap();
        assert_eq!(verifier.key_set().keys.len(), 1);
        verifier.verify(&ed.sign(&claims())).await.unwrap();

        write_jwks(&file, &json!({"keys": extra}));
        let err = OidcVerifier::new(config_file(file.path()))
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::JwksInvalid { .. }), "{err}");
        assert!(err.to_string().contains("none of its 6 keys"), "{err}");

        write_jwks(&file, &json!([1, 2]));
        let err = OidcVerifier::new(config_file(file.path()))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("not a JSON object with a `keys` array"),
            "{err}"
        );

        let missing = config_file(Path::new("/nonexistent/jwks.json"));
        let err = OidcVerifier::new(missing).await.unwrap_err();
        assert!(
            err.to_string().starts_with(
                "cannot read the identity provider's key set `/nonexistent/jwks.json`"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unknown_kid_refetches_the_url_once_then_waits_the_interval() {
        let old = rsa_key("rsa-1");
        let server = serve_jwks(jwks(&[&old])).await;
        let url = format!("{}/jwks", server.base);
        let verifier = OidcVerifier::new(config_url(&url)).await.unwrap();
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        verifier.verify(&old.sign(&claims())).await.unwrap();
        assert_eq!(server.hits.load(Ordering::SeqCst), 1, "known kid: no fetch");

        let new = ed25519_key("ed-2026");
        *server.jwks.lock().unwrap() = jwks(&[&old, &new]);
        let identity = verifier.verify(&new.sign(&claims())).await.unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(server.hits.load(Ordering::SeqCst), 2, "one refetch");

        // Another unknown kid within the interval: refused without a fetch.
        let stranger = p256_key("nobody");
        let err = verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            OidcError::UnknownKid {
                kid: "nobody".into()
            }
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 2, "rate limited");
        verifier.verify(&new.sign(&claims())).await.unwrap();
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn after_the_interval_an_unknown_kid_refetches_again() {
        let key = ed25519_key("ed-1");
        let server = serve_jwks(jwks(&[&key])).await;
        let options = VerifierOptions {
            min_refresh_interval: Duration::from_millis(200),
            ..VerifierOptions::default()
        };
        let verifier =
            OidcVerifier::with_options(config_url(&format!("{}/jwks", server.base)), options)
                .await
                .unwrap();
        let stranger = ed25519_key("nobody");
        verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(250)).await;
        verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn concurrent_unknown_kids_share_one_refetch() {
        let old = ed25519_key("old");
        let server = serve_jwks(jwks(&[&old])).await;
        let verifier = Arc::new(
            OidcVerifier::new(config_url(&format!("{}/jwks", server.base)))
                .await
                .unwrap(),
        );
        let new = p256_key("new");
        *server.jwks.lock().unwrap() = jwks(&[&old, &new]);
        let token = new.sign(&claims());
        let calls = (0..8).map(|_| {
            let verifier = Arc::clone(&verifier);
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        });
        for result in futures_util::future::join_all(calls).await {
            result.unwrap().unwrap();
        }
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_jwks_url_that_does_not_answer_in_time_is_named() {
        let server = serve_jwks(json!({"keys": []})).await;
        let url = format!("{}/slow", server.base);
        let options = VerifierOptions {
            fetch_timeout: Duration::from_millis(300),
            ..VerifierOptions::default()
        };
        let started = Instant::now();
        let err = OidcVerifier::with_options(config_url(&url), options)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            format!("cannot fetch the identity provider's key set from `{url}`: no answer within 300 ms")
        );
    }

    #[tokio::test]
    async fn a_jwks_url_with_an_error_status_or_garbage_is_named() {
        let server = serve_jwks(json!({"keys": []})).await;
        let url = format!("{}/missing", server.base);
        let err = OidcVerifier::new(config_url(&url)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot fetch the identity provider's key set from `{url}`: it answered HTTP 404 Not Found")
        );
        let url = format!("{}/garbage", server.base);
        let err = OidcVerifier::new(config_url(&url)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the identity provider's key set from `{url}` (HTTP 200 OK) is not usable: it is not a JSON object with a `keys` array (it is not JSON)")
        );
        // A port nothing listens on (its listener is dropped at once).
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let url = format!("http://{closed}/jwks");
        let err = OidcVerifier::new(config_url(&url)).await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot fetch the identity provider's key set from `{url}`: "
            )),
            "{err}"
        );
    }

    #[test]
    fn config_check_names_what_is_wrong() {
        let good = config_url("https://idp.example/jwks");
        good.check().unwrap();
        config_file(Path::new("/etc/regent/jwks.json"))
            .check()
            .unwrap();

        let both = OidcConfig {
            jwks_file: Some("/etc/regent/jwks.json".into()),
            ..good.clone()
        };
        let neither = OidcConfig {
            jwks_url: None,
            ..good.clone()
        };
        let cases = [
            (both, "set one of `jwks_file` and `jwks_url`, not both"),
            (
                neither,
                "set one of `jwks_file` (a local JWKS file) or `jwks_url`",
            ),
            (
                OidcConfig {
                    issuer: " ".into(),
                    ..good.clone()
                },
                "`issuer` is empty",
            ),
            (
                OidcConfig {
                    audience: "".into(),
                    ..good.clone()
                },
                "`audience` is empty",
            ),
            (
                OidcConfig {
                    jwks_url: Some("ftp://idp.example/jwks".into()),
                    ..good.clone()
                },
                "must start with https://",
            ),
            (
                OidcConfig {
                    jwks_url: Some("https://".into()),
                    ..good.clone()
                },
                "`jwks_url` `https://`",
            ),
            (
                OidcConfig {
                    roles_claim: "".into(),
                    ..good.clone()
                },
                "`roles_claim` is empty",
            ),
            (
                OidcConfig {
                    roles_claim: "realm_access..roles".into(),
                    ..good.clone()
                },
                "has an empty part",
            ),
            (
                OidcConfig {
                    leeway_s: 86_400,
                    ..good.clone()
                },
                "at most 3600 s",
            ),
        ];
        for (config, expected) in cases {
            let err = config.check().unwrap_err();
            assert!(matches!(err, OidcError::Config(_)));
            assert!(err.to_string().contains(expected), "{err} / {expected}");
            assert!(err
                .to_string()
                .starts_with("the [auth.oidc] configuration is not valid: "));
        }
    }

    #[tokio::test]
    async fn a_bad_config_stops_the_verifier_from_starting() {
        let err = OidcVerifier::new(OidcConfig {
            jwks_url: None,
            ..config_url("https://idp.example/jwks")
        })
        .await
        .unwrap_err();
        assert!(matches!(err, OidcError::Config(_)));
    }

    #[test]
    fn config_reads_from_toml_with_defaults_and_refuses_unknown_keys() {
        let config: OidcConfig = toml::from_str(
            r#"
            issuer = "https://idp.example"
            audience = "regent"
            jwks_url = "https://idp.example/jwks"
            "#,
        )
        .unwrap();
        assert_eq!(config.roles_claim, "roles");
        assert_eq!(config.leeway_s, 60);
        assert_eq!(config.jwks_file, None);
        config.check().unwrap();

        let err = toml::from_str::<OidcConfig>(
            r#"
            issuer = "https://idp.example"
            audience = "regent"
            jwks_url = "https://idp.example/jwks"
            role_claim = "groups"
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("role_claim"), "{err}");
    }

    #[test]
    fn the_verifier_is_shareable_across_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<OidcVerifier>();
        send_sync::<OidcError>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        write_jwks(&file, &jwks(&[&ed25519_key("ed-1")]));
        let verifier = rt
            .block_on(OidcVerifier::new(config_file(file.path())))
            .unwrap();
        let future = verifier.verify("a.b.c");
        send(&future);
        drop(future);
        let debug = format!("{verifier:?}");
        assert!(
            debug.contains("keys: 1") && !debug.contains("\"x\""),
            "{debug}"
        );
    }
}
