//! Plugin signatures: ed25519 over the raw 32-byte sha256 digest of the
//! component's bytes. The sha256 is already a plugin version's identity
//! everywhere in Regent, so signing that digest (rather than the bytes) lets a
//! signature be checked against the identity the host computed once anyway.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first (and only) thing on a secret key file's line; it names the
/// format so a stray file (a public key, a PEM) is refused with a clear error.
const SECRET_KEY_PREFIX: &str = "regent-ed25519-secret-key:";

/// The `<file>.wasm.sig` file, and the upload's `signature` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureFile {
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
    /// Base64 of the signer's 32-byte ed25519 public key.
    pub public_key: String,
    /// Base64 of the 64-byte ed25519 signature over the raw digest.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("the signature is for sha256 {signed}, but the component's sha256 is {actual}")]
    DigestMismatch { signed: String, actual: String },
    #[error("the signing key {public_key} is not among the trusted keys")]
    UnknownSigner { public_key: String },
    #[error("the signature does not verify with key `{signer}`")]
    Invalid { signer: String },
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
    pub fn from_config(keys: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut by_key: BTreeMap<[u8; 32], (String, VerifyingKey)> = BTreeMap::new();
        for (name, b64) in keys {
            let bytes = decode_fixed::<32>(b64.trim()).ok_or_else(|| {
                format!("trusted key `{name}` is not base64 of a 32-byte ed25519 public key")
            })?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
                format!(
                    "trusted key `{name}` is not a valid ed25519 public key (not a curve point)"
                )
            })?;
            // verify_strict rejects every signature by a small-order key, so
            // trusting one could only ever produce confusing failures later.
            if key.is_weak() {
                return Err(format!(
                    "trusted key `{name}` is a weak (small-order) ed25519 key"
                ));
            }
            // One key under two names would make the reported signer arbitrary.
            if let Some((other, _)) = by_key.get(&bytes) {
                return Err(format!(
                    "trusted keys `{other}` and `{name}` are the same key; keep one name"
                ));
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

/// A signature file's fields, decoded and checked for shape.
struct Decoded {
    digest: [u8; 32],
    public_key: [u8; 32],
    signature: Signature,
}

fn decode(sig: &SignatureFile) -> Result<Decoded, SignatureError> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&sig.sha256, &mut digest).map_err(|_| {
        SignatureError::Malformed(format!("`sha256` is not 64 hex digits: {:?}", sig.sha256))
    })?;
    let public_key = decode_fixed::<32>(&sig.public_key).ok_or_else(|| {
        SignatureError::Malformed("`publicKey` is not base64 of 32 bytes".to_string())
    })?;
    let signature = decode_fixed::<64>(&sig.signature).ok_or_else(|| {
        SignatureError::Malformed("`signature` is not base64 of 64 bytes".to_string())
    })?;
    Ok(Decoded {
        digest,
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
/// refused before anything else is done with it.
pub fn parse_signature(json: &[u8]) -> Result<SignatureFile, SignatureError> {
    let sig: SignatureFile = serde_json::from_slice(json)
        .map_err(|e| SignatureError::Malformed(format!("not a signature file: {e}")))?;
    decode(&sig)?;
    Ok(sig)
}

/// Checks `sig` against the component whose sha256 is `actual_sha256_hex` and
/// returns the name of the trusted signer.
pub fn verify(
    sig: &SignatureFile,
    actual_sha256_hex: &str,
    trusted: &TrustedKeys,
) -> Result<String, SignatureError> {
    let decoded = decode(sig)?;
    // Compared as bytes so hex case cannot cause a spurious mismatch.
    let mut actual = [0u8; 32];
    let actual_ok = hex::decode_to_slice(actual_sha256_hex, &mut actual).is_ok();
    if !actual_ok || actual != decoded.digest {
        return Err(SignatureError::DigestMismatch {
            signed: sig.sha256.to_ascii_lowercase(),
            actual: actual_sha256_hex.to_ascii_lowercase(),
        });
    }
    let (signer, key) =
        trusted
            .by_key
            .get(&decoded.public_key)
            .ok_or_else(|| SignatureError::UnknownSigner {
                public_key: BASE64.encode(decoded.public_key),
            })?;
    // Strict: no malleable (non-canonical) signatures and no small-order keys,
    // so one component has exactly one valid signature per key.
    key.verify_strict(&decoded.digest, &decoded.signature)
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
pub fn read_secret_key(text: &str) -> Result<SigningKey, String> {
    let encoded = text.trim().strip_prefix(SECRET_KEY_PREFIX).ok_or_else(|| {
        format!("not a Regent secret key file (expected one line `{SECRET_KEY_PREFIX}<base64>`)")
    })?;
    let seed = decode_fixed::<32>(encoded)
        .ok_or_else(|| "the secret key is not base64 of a 32-byte ed25519 seed".to_string())?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn public_key_b64(key: &SigningKey) -> String {
    BASE64.encode(key.verifying_key().as_bytes())
}

/// Signs a component: ed25519 over the raw sha256 digest of `wasm`.
pub fn sign_bytes(key: &SigningKey, wasm: &[u8]) -> SignatureFile {
    let digest: [u8; 32] = Sha256::digest(wasm).into();
    SignatureFile {
        sha256: hex::encode(digest),
        public_key: public_key_b64(key),
        signature: BASE64.encode(key.sign(&digest).to_bytes()),
    }
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

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    const WASM: &[u8] = b"\0asm\x0d\0\x01\0 pretend component";

    #[test]
    fn sign_then_verify_returns_the_signer() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice), ("bob", &key(2))]);
        let sig = sign_bytes(&alice, WASM);
        assert_eq!(sig.sha256, sha256_hex(WASM));
        assert_eq!(verify(&sig, &sha256_hex(WASM), &trusted).unwrap(), "alice");
        // The digest is the identity whatever the case it is written in.
        let upper = sha256_hex(WASM).to_ascii_uppercase();
        assert_eq!(verify(&sig, &upper, &trusted).unwrap(), "alice");
    }

    #[test]
    fn round_trips_through_json() {
        let sig = sign_bytes(&key(1), WASM);
        let json = serde_json::to_string(&sig).unwrap();
        assert!(json.contains("\"publicKey\""), "{json}");
        assert_eq!(parse_signature(json.as_bytes()).unwrap(), sig);
    }

    #[test]
    fn tampered_bytes_are_a_digest_mismatch() {
        let alice = key(1);
        let sig = sign_bytes(&alice, WASM);
        let mut tampered = WASM.to_vec();
        tampered.push(0);
        let err = verify(
            &sig,
            &sha256_hex(&tampered),
            &trusting(&[("alice", &alice)]),
        )
        .unwrap_err();
        match &err {
            SignatureError::DigestMismatch { signed, actual } => {
                assert_eq!(signed, &sha256_hex(WASM));
                assert_eq!(actual, &sha256_hex(&tampered));
            }
            other => panic!("expected DigestMismatch, got {other:?}"),
        }
        assert!(err.to_string().contains(&sha256_hex(&tampered)), "{err}");
    }

    #[test]
    fn a_valid_signature_by_an_untrusted_key_is_an_unknown_signer() {
        let mallory = key(9);
        let sig = sign_bytes(&mallory, WASM);
        let err = verify(&sig, &sha256_hex(WASM), &trusting(&[("alice", &key(1))])).unwrap_err();
        match &err {
            SignatureError::UnknownSigner { public_key } => {
                assert_eq!(public_key, &public_key_b64(&mallory));
            }
            other => panic!("expected UnknownSigner, got {other:?}"),
        }
        let none = verify(&sig, &sha256_hex(WASM), &TrustedKeys::default()).unwrap_err();
        assert!(matches!(none, SignatureError::UnknownSigner { .. }));
    }

    #[test]
    fn a_flipped_signature_byte_is_invalid() {
        let alice = key(1);
        let trusted = trusting(&[("alice", &alice)]);
        let mut sig = sign_bytes(&alice, WASM);
        for index in [0, 31, 32, 63] {
            let mut bytes = BASE64.decode(&sig.signature).unwrap();
            bytes[index] ^= 0x01;
            let flipped = SignatureFile {
                signature: BASE64.encode(&bytes),
                ..sig.clone()
            };
            let err = verify(&flipped, &sha256_hex(WASM), &trusted).unwrap_err();
            assert!(
                matches!(&err, SignatureError::Invalid { signer } if signer == "alice"),
                "byte {index}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the signature does not verify with key `alice`"
            );
        }
        // A signature moved onto another component's digest is invalid too.
        let other = b"another component";
        sig.sha256 = sha256_hex(other);
        assert!(matches!(
            verify(&sig, &sha256_hex(other), &trusted),
            Err(SignatureError::Invalid { .. })
        ));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let good = sign_bytes(&key(1), WASM);
        let cases = [
            b"not json".to_vec(),
            br#"{"sha256":"00"}"#.to_vec(),
            serde_json::to_vec(&serde_json::json!({
                "sha256": good.sha256, "publicKey": good.public_key,
                "signature": good.signature, "extra": 1
            }))
            .unwrap(),
            serde_json::to_vec(&SignatureFile {
                sha256: "xyz".into(),
                ..good.clone()
            })
            .unwrap(),
            serde_json::to_vec(&SignatureFile {
                public_key: "not base64!".into(),
                ..good.clone()
            })
            .unwrap(),
            serde_json::to_vec(&SignatureFile {
                public_key: BASE64.encode([0u8; 31]),
                ..good.clone()
            })
            .unwrap(),
            serde_json::to_vec(&SignatureFile {
                signature: BASE64.encode([0u8; 63]),
                ..good.clone()
            })
            .unwrap(),
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
            verify(&bad, &sha256_hex(WASM), &trusted),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn trusted_keys_reject_bad_keys() {
        let config = |value: &str| BTreeMap::from([("alice".to_string(), value.to_string())]);
        let err = TrustedKeys::from_config(&config("not base64!")).unwrap_err();
        assert_eq!(
            err,
            "trusted key `alice` is not base64 of a 32-byte ed25519 public key"
        );
        let err = TrustedKeys::from_config(&config(&BASE64.encode([1u8; 16]))).unwrap_err();
        assert!(err.contains("`alice`"), "{err}");
        // The identity point: small order, so nothing could ever verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = TrustedKeys::from_config(&config(&BASE64.encode(identity))).unwrap_err();
        assert!(err.contains("weak"), "{err}");

        let same = public_key_b64(&key(1));
        let twice = BTreeMap::from([
            ("alice".to_string(), same.clone()),
            ("bob".to_string(), same),
        ]);
        let err = TrustedKeys::from_config(&twice).unwrap_err();
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
        let err = read_secret_key(&short).unwrap_err();
        assert!(!err.contains(&BASE64.encode([1u8; 31])), "{err}");
    }
}
