//! `regent plugin keygen` and `regent plugin sign`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;

use crate::signing;

/// Writes a new secret key file to `out` and prints the public key with the
/// config snippet that trusts it.
pub fn keygen(out: &Path, force: bool) -> Result<()> {
    let public = write_new_key(out, force)?;
    println!("public key: {public}");
    println!("trust it in the server's config:");
    println!("[plugin_registry.trusted_keys]");
    println!("{} = \"{public}\"", toml_key(&signer_name(out)));
    Ok(())
}

/// `regent audit keygen`: the key that signs audit checkpoints.
pub fn audit_keygen(out: &Path, force: bool) -> Result<()> {
    let public = write_new_key(out, force)?;
    println!("public key: {public}");
    println!("sign audit checkpoints with it in the server's config (keep the key off the database's disk):");
    println!("[audit]");
    println!(
        "checkpoint_key_file = {}",
        toml_string(&out.display().to_string())
    );
    println!("checkpoint_file = \"/var/log/regent/checkpoints.jsonl\"");
    println!("check them with: regent audit verify --checkpoints <file> --public-key {public}");
    Ok(())
}

/// Creates `out` (readable by its owner only) holding a new secret key;
/// returns the public key in base64.
fn write_new_key(out: &Path, force: bool) -> Result<String> {
    let (seed, public) = signing::generate_key()
        .map_err(|e| anyhow!("cannot get randomness from the operating system: {e}"))?;
    let text = signing::encode_secret_key(&SigningKey::from_bytes(&seed));

    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if out.exists() {
        if !force {
            bail!(
                "{} already exists; pass --force to overwrite it",
                out.display()
            );
        }
        // Removed rather than truncated: an existing file keeps its mode, and
        // a secret must never land in a file others can read.
        std::fs::remove_file(out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    let mut options = OpenOptions::new();
    // create_new: never follow a file (or symlink) that appeared meanwhile.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(public)
}

/// The manifest that ships with `wasm` unless told otherwise: `<name>.toml`
/// beside `<name>.wasm`, as `regent plugin build` writes them.
pub fn manifest_beside(wasm: &Path) -> std::path::PathBuf {
    wasm.with_extension("toml")
}

pub fn read_key(key: &Path) -> Result<SigningKey> {
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    signing::read_secret_key(&key_text).map_err(|e| anyhow!("{}: {e}", key.display()))
}

/// Signs the statement of `wasm` with its manifest (`manifest`, default
/// `<name>.toml` beside it) with the secret key file at `key`, writing the
/// signature to `out` or, by default, next to it as `<wasm>.sig`.
pub fn sign(wasm: &Path, manifest: Option<&Path>, key: &Path, out: Option<&Path>) -> Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let manifest = manifest
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_beside(wasm));
    let manifest_text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "cannot read the manifest {} (a signature covers the manifest too; name it with --manifest)",
            manifest.display()
        )
    })?;
    let key = read_key(key)?;
    let signature = signing::sign_plugin(&key, &bytes, &manifest_text)
        .map_err(|e| anyhow!("{}: {e}", manifest.display()))?;
    let sig_path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| signing::signature_path(wasm));
    let mut json = serde_json::to_string_pretty(&signature)?;
    json.push('\n');
    // Write then rename: a watched plugins directory never reads half a signature.
    let tmp = sig_path.with_file_name(format!(
        ".{}.tmp",
        sig_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, json).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &sig_path)
        .with_context(|| format!("cannot write {}", sig_path.display()))?;

    println!(
        "signed {} {} ({}): component sha256 {}, manifest {} sha256 {}, with key {} -> {}",
        signature.name,
        signature.version,
        signature.kind,
        signature.sha256,
        manifest.display(),
        signature.manifest_sha256,
        signature.public_key,
        sig_path.display()
    );
    Ok(())
}

/// `x.wasm` -> `x.wasm.sig`: appended, not `with_extension`, so the name says
/// which file it signs.
fn signer_name(key_file: &Path) -> String {
    key_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signer".to_string())
}

/// A TOML basic string: JSON string escapes are all valid in one.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// A bare TOML key when possible; otherwise quoted, since a stem such as
/// `alice.prod` would otherwise read as a nested table. JSON string escapes
/// are all valid in a TOML basic string.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_else(|_| "\"signer\"".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{parse_signature, verify, Statement, TrustedKeys};
    use sha2::Digest;
    use std::collections::BTreeMap;

    const MANIFEST: &str =
        "name = \"rule\"\nkind = \"checklist-item\"\nversion = \"1.0.0\"\n[params]\nmin = 0.99\n";

    #[test]
    fn keygen_then_sign_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("keys/alice.key");
        keygen(&key_path, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = std::fs::read(&key_path).unwrap();
        let err = keygen(&key_path, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&key_path).unwrap(), before);

        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"\0asm pretend").unwrap();
        let err = sign(&wasm, None, &key_path, None).unwrap_err();
        assert!(format!("{err:#}").contains("--manifest"), "{err:#}");
        std::fs::write(dir.path().join("rule.toml"), MANIFEST).unwrap();
        sign(&wasm, None, &key_path, None).unwrap();
        let sig_file = dir.path().join("rule.wasm.sig");
        let sig = parse_signature(&std::fs::read(&sig_file).unwrap()).unwrap();
        let statement = Statement::for_plugin(b"\0asm pretend", MANIFEST).unwrap();

        let key = signing::read_secret_key(&String::from_utf8(before.clone()).unwrap()).unwrap();
        let trusted = TrustedKeys::from_config(&BTreeMap::from([(
            "alice".to_string(),
            signing::public_key_b64(&key),
        )]))
        .unwrap();
        assert_eq!(verify(&sig, &statement, &trusted).unwrap(), "alice");
        // The statement covers the manifest beside it.
        let neutered = Statement::for_plugin(b"\0asm pretend", &MANIFEST.replace("0.99", "0.0"));
        assert!(verify(&sig, &neutered.unwrap(), &trusted).is_err());

        // --force replaces the key, still private.
        keygen(&key_path, true).unwrap();
        assert_ne!(std::fs::read(&key_path).unwrap(), before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let out = dir.path().join("elsewhere.json");
        let manifest = dir.path().join("other.toml");
        std::fs::write(&manifest, MANIFEST.replace("0.99", "0.5")).unwrap();
        sign(&wasm, Some(&manifest), &key_path, Some(&out)).unwrap();
        let sig = parse_signature(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(
            sig.manifest_sha256,
            hex::encode(sha2::Sha256::digest(std::fs::read(&manifest).unwrap()))
        );
    }

    #[test]
    fn sign_names_the_bad_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"\0asm").unwrap();
        std::fs::write(dir.path().join("rule.toml"), MANIFEST).unwrap();
        let key = dir.path().join("bad.key");
        std::fs::write(&key, "hello").unwrap();
        let err = sign(&wasm, None, &key, None).unwrap_err();
        assert!(err.to_string().contains("bad.key"), "{err}");
    }

    #[test]
    fn toml_keys_are_quoted_when_needed() {
        assert_eq!(toml_key("alice-prod_1"), "alice-prod_1");
        assert_eq!(toml_key("alice.prod"), "\"alice.prod\"");
        assert_eq!(toml_key("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
