//! Plugin signatures: ed25519 over a **statement** of everything that
//! decides what a version does: its name, version and kind, the
//! component's sha256 and the manifest's sha256. Signing the component
//! alone would let anyone who can upload change the params, limits and
//! fixtures under a valid signature.
//!
//! The statement starts with a fixed context line, so a signature made for
//! something else with the same key can never pass for one of these, and
//! each field is length-prefixed, so no value can run into the next.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runtime::Manifest;

/// The first (and only) thing on a secret key file's line; it names the
/// format so a stray file (a public key, a PEM) is refused with a clear error.
const SECRET_KEY_PREFIX: &str = "regent-ed25519-secret-key:";

/// Names the signature scheme: the statement's first line, and the
/// signature file's `format`.
pub const SIGNATURE_FORMAT: &str = "regent-plugin-signature-v2";

/// How to make a signature of the current format; every refusal of an old
/// or mismatched signature ends with it.
pub const RESIGN_HINT: &str =
    "re-sign it with `regent plugin sign <name>.wasm --manifest <name>.toml --key <key file>` (or push with `--key`) and push it again";

/// What a signature vouches for. Built from the bytes and the manifest the
/// host actually has, never from what the signature file claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub name: String,
    pub version: String,
    /// The kind's world name, e.g. `checklist-item`.
    pub kind: String,
    /// Lowercase hex sha256 of the component's bytes.
    pub wasm_sha256: String,
    /// Lowercase hex sha256 of the manifest's text, byte for byte.
    pub manifest_sha256: String,
}

impl Statement {
    /// The statement for a parsed manifest, its exact text, and the
    /// component's sha256.
    pub fn new(manifest: &Manifest, manifest_text: &str, wasm_sha256_hex: &str) -> Self {
        Self {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            kind: manifest.kind.world().to_string(),
            wasm_sha256: wasm_sha256_hex.to_ascii_lowercase(),
            manifest_sha256: hex::encode(Sha256::digest(manifest_text.as_bytes())),
        }
    }

    /// The statement for a component and its manifest's text.
    pub fn for_plugin(wasm: &[u8], manifest_text: &str) -> Result<Self, SignatureError> {
        let manifest = Manifest::parse(manifest_text).map_err(SignatureError::Manifest)?;
        Ok(Self::new(
            &manifest,
            manifest_text,
            &hex::encode(Sha256::digest(wasm)),
        ))
    }

    /// The signed bytes: the format line, then `<label> <byte length> <value>\n`
    /// per field.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{SIGNATURE_FORMAT}\n").into_bytes();
        for (label, value) in self.fields() {
            out.extend_from_slice(format!("{label} {} ", value.len()).as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out
    }

    fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("name", self.name.as_str()),
            ("version", self.version.as_str()),
            ("kind", self.kind.as_str()),
            ("wasm-sha256", self.wasm_sha256.as_str()),
            ("manifest-sha256", self.manifest_sha256.as_str()),
        ]
    }
}

/// The `<file>.wasm.sig` file, and the upload's `signature` part: the
/// statement in the clear (so a refusal can say which part differs), the
/// key, and the signature over [`Statement::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureFile {
    /// Always [`SIGNATURE_FORMAT`].
    pub format: String,
    pub name: String,
    pub version: String,
    pub kind: String,
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
    /// Hex sha256 of the manifest's text.
    pub manifest_sha256: String,
    /// Base64 of the signer's 32-byte ed25519 public key.
    pub public_key: String,
    /// Base64 of the 64-byte ed25519 signature over the statement.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("the signature is in the old format, which covers only the component's sha256 and not its manifest (params, limits, fixtures); this server no longer accepts it: {RESIGN_HINT}")]
    OldFormat,
    #[error("the signature covers {field} `{signed}`, but this plugin's {field} is `{actual}`: it was signed for something else, or changed after signing; {RESIGN_HINT}")]
    Mismatch {
        field: &'static str,
        signed: String,
        actual: String,
    },
    #[error("the signing key {public_key} is not among the trusted keys")]
    UnknownSigner { public_key: String },
    #[error("the signature does not verify with key `{signer}`")]
    Invalid { signer: String },
    #[error(
        "unsigned, and this server requires signed plugins (sign it with `regent plugin sign`)"
    )]
    Unsigned,
    #[error("the manifest: {0}")]
    Manifest(#[source] crate::runtime::manifest::ManifestError),
}

/// Why a key was refused: a trusted public key from the config, or a
/// secret key file. Never quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("trusted key `{name}` is not base64 of a 32-byte ed25519 public key")]
    TrustedNotBase64 { name: String },
    #[error("trusted key `{name}` is not a valid ed25519 public key (not a curve point)")]
    TrustedNotOnCurve { name: String },
    /// `verify_strict` rejects every signature by a small-order key, so
    /// trusting one could only ever produce confusing failures later.
    #[error("trusted key `{name}` is a weak (small-order) ed25519 key")]
    TrustedWeak { name: String },
    /// One key under two names would make the reported signer arbitrary.
    #[error("trusted keys `{first}` and `{second}` are the same key; keep one name")]
    TrustedTwice { first: String, second: String },
    #[error("not a Regent secret key file (expected one line `{SECRET_KEY_PREFIX}<base64>`)")]
    NotASecretKeyFile,
    #[error("the secret key is not base64 of a 32-byte ed25519 seed")]
    SecretNotBase64,
}

/// The keys whose signatures the host accepts, by signer name.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// Keyed by the key's bytes: a signature names its key by value, and
    /// comparing bytes rather than base64 text cannot be fooled by encoding.
    by_key: BTreeMap<[u8; 32], (String, VerifyingKey)>,
}

impl TrustedKeys {
    /// From the config's `signer name -> base64 public key` map.
    pub fn from_config(keys: &BTreeMap<String, String>) -> Result<Self, KeyError> {
        let mut by_key: BTreeMap<[u8; 32], (String, VerifyingKey)> = BTreeMap::new();
        for (name, b64) in keys {
            let bytes = decode_fixed::<32>(b64.trim())
                .ok_or_else(|| KeyError::TrustedNotBase64 { name: name.clone() })?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| KeyError::TrustedNotOnCurve { name: name.clone() })?;
            if key.is_weak() {
                return Err(KeyError::TrustedWeak { name: name.clone() });
            }
            if let Some((other, _)) = by_key.get(&bytes) {
                return Err(KeyError::TrustedTwice {
                    first: other.clone(),
                    second: name.clone(),
                });
            }
            by_key.insert(bytes, (name.clone(), key));
        }
        Ok(Self { by_key })
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// A signature file's key and signature, decoded and checked for shape.
struct Decoded {
    public_key: [u8; 32],
    signature: Signature,
}

fn decode(sig: &SignatureFile) -> Result<Decoded, SignatureError> {
    if sig.format != SIGNATURE_FORMAT {
        return Err(SignatureError::Malformed(format!(
            "unknown signature format `{}` (this Regent reads `{SIGNATURE_FORMAT}`)",
            sig.format
        )));
    }
    for (field, value) in [
        ("sha256", &sig.sha256),
        ("manifestSha256", &sig.manifest_sha256),
    ] {
        if !hex::decode(value).is_ok_and(|b| b.len() == 32) {
            return Err(SignatureError::Malformed(format!(
                "`{field}` is not 64 hex digits: {value:?}"
            )));
        }
    }
    let public_key = decode_fixed::<32>(&sig.public_key).ok_or_else(|| {
        SignatureError::Malformed("`publicKey` is not base64 of 32 bytes".to_string())
    })?;
    let signature = decode_fixed::<64>(&sig.signature).ok_or_else(|| {
        SignatureError::Malformed("`signature` is not base64 of 64 bytes".to_string())
    })?;
    Ok(Decoded {
        public_key,
        signature: Signature::from_bytes(&signature),
    })
}

/// Where a component's signature file lives: `<file>.wasm.sig` beside it.
/// `regent plugin sign` writes there, `push` and the plugins directory read there.
pub fn signature_path(wasm: &std::path::Path) -> std::path::PathBuf {
    let mut name = wasm.as_os_str().to_os_string();
    name.push(".sig");
    std::path::PathBuf::from(name)
}

/// Parses a signature file and checks its fields' shape, so a bad upload is
/// refused before anything else is done with it. A file of the old format
/// (a signature over the component's digest alone) is refused by name.
pub fn parse_signature(json: &[u8]) -> Result<SignatureFile, SignatureError> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| SignatureError::Malformed(format!("not a signature file: {e}")))?;
    let is_old_format = value.as_object().is_some_and(|fields| {
        !fields.contains_key("format")
            && ["sha256", "publicKey", "signature"]
                .iter()
                .all(|k| fields.contains_key(*k))
    });
    if is_old_format {
        return Err(SignatureError::OldFormat);
    }
    let sig: SignatureFile = serde_json::from_value(value)
        .map_err(|e| SignatureError::Malformed(format!("not a signature file: {e}")))?;
    decode(&sig)?;
    Ok(sig)
}

impl SignatureFile {
    /// Whether the statement the file claims is `statement`, naming the
    /// first field that differs. Only a convenience for a clear refusal:
    /// the signature itself is always checked over `statement`.
    pub fn covers(&self, statement: &Statement) -> Result<(), SignatureError> {
        let claimed = [
            ("name", &self.name),
            ("version", &self.version),
            ("kind", &self.kind),
            ("component sha256", &self.sha256),
            ("manifest sha256", &self.manifest_sha256),
        ];
        for ((field, signed), (_, actual)) in claimed.into_iter().zip(statement.fields()) {
            // Hex case is not a difference.
            if !signed.eq_ignore_ascii_case(actual) {
                return Err(SignatureError::Mismatch {
                    field,
                    signed: signed.clone(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Checks `sig` against the statement of what the host is about to store
/// or run, and returns the name of the trusted signer.
pub fn verify(
    sig: &SignatureFile,
    statement: &Statement,
    trusted: &TrustedKeys,
) -> Result<String, SignatureError> {
    let decoded = decode(sig)?;
    sig.covers(statement)?;
    let (signer, key) =
        trusted
            .by_key
            .get(&decoded.public_key)
            .ok_or_else(|| SignatureError::UnknownSigner {
                public_key: BASE64.encode(decoded.public_key),
            })?;
    // Strict: no malleable (non-canonical) signatures and no small-order keys,
    // so one statement has exactly one valid signature per key.
    key.verify_strict(&statement.to_bytes(), &decoded.signature)
        .map_err(|_| SignatureError::Invalid {
            signer: signer.clone(),
        })?;
    Ok(signer.clone())
}

/// A fresh secret seed from the OS, and its public key in base64.
pub fn generate_key() -> Result<([u8; 32], String), getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    let public = public_key_b64(&SigningKey::from_bytes(&seed));
    Ok((seed, public))
}

/// The secret key file's text: one line, `regent-ed25519-secret-key:<base64 seed>`.
pub fn encode_secret_key(key: &SigningKey) -> String {
    format!("{SECRET_KEY_PREFIX}{}\n", BASE64.encode(key.to_bytes()))
}

/// Reads a secret key file written by [`encode_secret_key`]. Errors never
/// quote the file's content: it is a secret.
pub fn read_secret_key(text: &str) -> Result<SigningKey, KeyError> {
    let encoded = text
        .trim()
        .strip_prefix(SECRET_KEY_PREFIX)
        .ok_or(KeyError::NotASecretKeyFile)?;
    let seed = decode_fixed::<32>(encoded).ok_or(KeyError::SecretNotBase64)?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn public_key_b64(key: &SigningKey) -> String {
    BASE64.encode(key.verifying_key().as_bytes())
}

/// Signs a statement.
pub fn sign(key: &SigningKey, statement: &Statement) -> SignatureFile {
    SignatureFile {
        format: SIGNATURE_FORMAT.to_string(),
        name: statement.name.clone(),
        version: statement.version.clone(),
        kind: statement.kind.clone(),
        sha256: statement.wasm_sha256.clone(),
        manifest_sha256: statement.manifest_sha256.clone(),
        public_key: public_key_b64(key),
        signature: BASE64.encode(key.sign(&statement.to_bytes()).to_bytes()),
    }
}

/// Signs a component with the manifest it ships with.
pub fn sign_plugin(
    key: &SigningKey,
    wasm: &[u8],
    manifest_text: &str,
) -> Result<SignatureFile, SignatureError> {
    Ok(sign(key, &Statement::for_plugin(wasm, manifest_text)?))
}

fn decode_fixed<const N: usize>(b64: &str) -> Option<[u8; N]> {
    BASE64.decode(b64).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn trusting(entries: &[(&str, &SigningKey)]) -> TrustedKeys {
        let config = entries
            .iter()
            .map(|(name, key)| (name.to_string(), public_key_b64(key)))
            .collect();
        TrustedKeys::from_config(&config).unwrap()
    }

    const WASM: &[u8] = b"\0asm\x0d\0\x01\0 pretend component";
    const MANIFEST: &str =
        "name = \"strict-rule\"\nkind = \"checklist-item\"\nversion = \"1.2.0\"\n[params]\nmin = 0.99\n";

    fn statement() -> Statement {
        Statement::for_plugin(WASM, MANIFEST).unwrap()
    }

    #[test]
    fn sign_then_verify_returns_the_signer() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice), ("bob", &key(2))]);
        let sig = sign_plugin(&alice, WASM, MANIFEST).unwrap();
        assert_eq!(sig.format, SIGNATURE_FORMAT);
        assert_eq!(
            (sig.name.as_str(), sig.version.as_str(), sig.kind.as_str()),
            ("strict-rule", "1.2.0", "checklist-item")
        );
        assert_eq!(sig.sha256, hex::encode(Sha256::digest(WASM)));
        assert_eq!(
            sig.manifest_sha256,
            hex::encode(Sha256::digest(MANIFEST.as_bytes()))
        );
        assert_eq!(verify(&sig, &statement(), &trusted).unwrap(), "alice");
        // The digests are identities whatever the case they are written in.
        let upper = SignatureFile {
            sha256: sig.sha256.to_ascii_uppercase(),
            ..sig.clone()
        };
        assert_eq!(verify(&upper, &statement(), &trusted).unwrap(), "alice");
    }

    /// The exact signed bytes: third parties may sign statements with their
    /// own tools, so the format is pinned.
    #[test]
    fn the_statement_is_a_context_line_then_length_prefixed_fields() {
        let s = Statement {
            name: "r".into(),
            version: "1.0.0".into(),
            kind: "risk-scorer".into(),
            wasm_sha256: "ab".repeat(32),
            manifest_sha256: "cd".repeat(32),
        };
        let expected = format!(
            "regent-plugin-signature-v2\nname 1 r\nversion 5 1.0.0\nkind 11 risk-scorer\nwasm-sha256 64 {}\nmanifest-sha256 64 {}\n",
            "ab".repeat(32),
            "cd".repeat(32)
        );
        assert_eq!(String::from_utf8(s.to_bytes()).unwrap(), expected);
        // A value cannot pose as the next field: the lengths differ.
        let shifted = Statement {
            name: "r\nversion 5 1.0.0".into(),
            version: String::new(),
            ..s.clone()
        };
        assert_ne!(shifted.to_bytes(), s.to_bytes());
    }

    #[test]
    fn a_manifest_changed_after_signing_is_refused() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice)]);
        let sig = sign_plugin(&alice, WASM, MANIFEST).unwrap();
        let neutered = MANIFEST.replace("min = 0.99", "min = 0.0");
        let actual = Statement::for_plugin(WASM, &neutered).unwrap();
        let err = verify(&sig, &actual, &trusted).unwrap_err();
        match &err {
            SignatureError::Mismatch {
                field,
                signed,
                actual: now,
            } => {
                assert_eq!(*field, "manifest sha256");
                assert_eq!(signed, &sig.manifest_sha256);
                assert_eq!(now, &actual.manifest_sha256);
            }
            other => panic!("expected a manifest mismatch, got {other:?}"),
        }
        assert!(err.to_string().contains("regent plugin sign"), "{err}");

        // Editing the file's claim to match does not help: the signature is
        // checked over what the host has, not over what the file says.
        let relabelled = SignatureFile {
            manifest_sha256: actual.manifest_sha256.clone(),
            ..sig
        };
        assert!(matches!(
            verify(&relabelled, &actual, &trusted),
            Err(SignatureError::Invalid { .. })
        ));
    }

    #[test]
    fn every_field_of_the_statement_is_covered() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice)]);
        let sig = sign(&alice, &statement());
        type Change = fn(&mut Statement);
        let changes: [(&str, Change); 5] = [
            ("name", |s| s.name = "other-rule".into()),
            ("version", |s| s.version = "1.2.1".into()),
            ("kind", |s| s.kind = "breaker-condition".into()),
            ("component sha256", |s| s.wasm_sha256 = "00".repeat(32)),
            ("manifest sha256", |s| s.manifest_sha256 = "00".repeat(32)),
        ];
        for (expected, change) in changes {
            let mut actual = statement();
            change(&mut actual);
            match verify(&sig, &actual, &trusted) {
                Err(SignatureError::Mismatch { field, .. }) => assert_eq!(field, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn round_trips_through_json() {
        let sig = sign_plugin(&key(1), WASM, MANIFEST).unwrap();
        let json = serde_json::to_string(&sig).unwrap();
        assert!(json.contains("\"manifestSha256\""), "{json}");
        assert!(json.contains("\"publicKey\""), "{json}");
        assert_eq!(parse_signature(json.as_bytes()).unwrap(), sig);
    }

    #[test]
    fn an_old_format_signature_is_refused_with_how_to_re_sign() {
        let alice = key(1);
        let digest: [u8; 32] = Sha256::digest(WASM).into();
        let old = serde_json::json!({
            "sha256": hex::encode(digest),
            "publicKey": public_key_b64(&alice),
            "signature": BASE64.encode(alice.sign(&digest).to_bytes()),
        });
        let err = parse_signature(old.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, SignatureError::OldFormat), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("old format") && message.contains("regent plugin sign"),
            "{message}"
        );
    }

    #[test]
    fn a_valid_signature_by_an_untrusted_key_is_an_unknown_signer() {
        let mallory = key(9);
        let sig = sign(&mallory, &statement());
        let err = verify(&sig, &statement(), &trusting(&[("alice", &key(1))])).unwrap_err();
        match &err {
            SignatureError::UnknownSigner { public_key } => {
                assert_eq!(public_key, &public_key_b64(&mallory));
            }
            other => panic!("expected UnknownSigner, got {other:?}"),
        }
        let none = verify(&sig, &statement(), &TrustedKeys::default()).unwrap_err();
        assert!(matches!(none, SignatureError::UnknownSigner { .. }));
    }

    #[test]
    fn a_flipped_signature_byte_is_invalid() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice)]);
        let sig = sign(&alice, &statement());
        for index in [0, 31, 32, 63] {
            let mut bytes = BASE64.decode(&sig.signature).unwrap();
            bytes[index] ^= 0x01;
            let flipped = SignatureFile {
                signature: BASE64.encode(&bytes),
                ..sig.clone()
            };
            let err = verify(&flipped, &statement(), &trusted).unwrap_err();
            assert!(
                matches!(&err, SignatureError::Invalid { signer } if signer == "alice"),
                "byte {index}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the signature does not verify with key `alice`"
            );
        }
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let good = sign(&key(1), &statement());
        let with = |change: fn(&mut SignatureFile)| {
            let mut sig = good.clone();
            change(&mut sig);
            serde_json::to_vec(&sig).unwrap()
        };
        let mut extra = serde_json::to_value(&good).unwrap();
        extra["extra"] = 1.into();
        let cases = [
            b"not json".to_vec(),
            br#"{"sha256":"00"}"#.to_vec(),
            br#"{"format":"regent-plugin-signature-v2"}"#.to_vec(),
            serde_json::to_vec(&extra).unwrap(),
            with(|s| s.format = "regent-plugin-signature-v3".into()),
            with(|s| s.sha256 = "xyz".into()),
            with(|s| s.manifest_sha256 = "00".into()),
            with(|s| s.public_key = "not base64!".into()),
            with(|s| s.public_key = BASE64.encode([0u8; 31])),
            with(|s| s.signature = BASE64.encode([0u8; 63])),
        ];
        for case in cases {
            let err = parse_signature(&case).unwrap_err();
            assert!(
                matches!(err, SignatureError::Malformed(_)),
                "{}: {err:?}",
                String::from_utf8_lossy(&case)
            );
        }
        // verify checks shape itself: a SignatureFile need not come from parse.
        let bad = SignatureFile {
            signature: "%%".into(),
            ..good
        };
        let trusted = trusting(&[("alice", &key(1))]);
        assert!(matches!(
            verify(&bad, &statement(), &trusted),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn trusted_keys_reject_bad_keys() {
        let config = |value: &str| BTreeMap::from([("alice".to_string(), value.to_string())]);
        let err = TrustedKeys::from_config(&config("not base64!"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "trusted key `alice` is not base64 of a 32-byte ed25519 public key"
        );
        let err = TrustedKeys::from_config(&config(&BASE64.encode([1u8; 16])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`alice`"), "{err}");
        // The identity point: small order, so nothing could ever verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = TrustedKeys::from_config(&config(&BASE64.encode(identity)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("weak"), "{err}");

        let same = public_key_b64(&key(1));
        let twice = BTreeMap::from([
            ("alice".to_string(), same.clone()),
            ("bob".to_string(), same),
        ]);
        let err = TrustedKeys::from_config(&twice).unwrap_err().to_string();
        assert!(err.contains("`alice`") && err.contains("`bob`"), "{err}");

        let trusted = trusting(&[("alice", &key(1)), ("bob", &key(2))]);
        assert_eq!(trusted.len(), 2);
        assert!(!trusted.is_empty());
        assert!(TrustedKeys::from_config(&BTreeMap::new())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn secret_key_file_round_trips() {
        let (seed, public) = generate_key().unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(public, public_key_b64(&key));
        let text = encode_secret_key(&key);
        assert!(text.starts_with(SECRET_KEY_PREFIX) && text.ends_with('\n'));
        assert_eq!(text.lines().count(), 1);
        let read = read_secret_key(&text).unwrap();
        assert_eq!(read.to_bytes(), key.to_bytes());

        assert!(read_secret_key(&public).is_err());
        let short = format!("{SECRET_KEY_PREFIX}{}", BASE64.encode([1u8; 31]));
        let err = read_secret_key(&short).unwrap_err().to_string();
        assert!(!err.contains(&BASE64.encode([1u8; 31])), "{err}");
    }
}
