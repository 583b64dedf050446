//! `regent audit verify` and `regent audit keygen`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;

use crate::domain::checkpoint::{key_id, CheckpointCheck};
use crate::storage::prelude::*;

/// Where checkpoints are, and the keys that signed them.
pub struct CheckpointArgs {
    pub file: PathBuf,
    /// Base64 public keys (`regent audit keygen` prints it).
    pub public_keys: Vec<String>,
    /// Secret key files whose public halves to use instead.
    pub key_files: Vec<PathBuf>,
}

/// Walks the hash chain, then, with checkpoints, checks the log against
/// each: fails on any problem, after printing every one.
pub fn verify(path: &Path, checkpoints: Option<&CheckpointArgs>) -> Result<()> {
    if !path.exists() {
        bail!("no database at {}", path.display());
    }
    let db = crate::storage::SqliteStore::open(path)?;
    let chain = db.verify_audit()?;
    let mut problems = chain.problems;
    if let Some(args) = checkpoints {
        let keys = public_keys(args)?;
        let log_last = db.audit_last()?.map_or(0, |(id, _)| id);
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        let mut check = CheckpointCheck::new(&keys, log_last);
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", args.file.display()))?;
            check.line(i + 1, &line, |id| db.audit_hash(id))?;
        }
        let report = check.finish();
        match report.covered_up_to {
            Some(up_to) => {
                println!(
                    "{} checkpoint(s) in {} vouch for entries 1..{up_to}",
                    report.checkpoints,
                    args.file.display()
                );
                if log_last > up_to {
                    println!(
                        "entries {}..{log_last} are newer than the newest checkpoint: nothing vouches for them yet",
                        up_to + 1
                    );
                }
            }
            None => println!(
                "no valid checkpoint in {}: nothing vouches for the log",
                args.file.display()
            ),
        }
        problems.extend(report.problems);
    }
    if problems.is_empty() {
        println!("audit log intact: {} entries", chain.entries);
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    bail!(
        "the audit log was tampered with: {} problem(s) in {} entries",
        problems.len(),
        chain.entries
    )
}

fn public_keys(args: &CheckpointArgs) -> Result<Vec<VerifyingKey>> {
    let mut keys = Vec::new();
    for b64 in &args.public_keys {
        let bytes: [u8; 32] = BASE64
            .decode(b64.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow!("--public-key `{b64}` is not base64 of a 32-byte ed25519 public key")
            })?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| anyhow!("--public-key `{b64}` is not an ed25519 public key"))?;
        if key.is_weak() {
            bail!("--public-key `{b64}` is a weak (small-order) key");
        }
        keys.push(key);
    }
    for path in &args.key_files {
        keys.push(crate::checkpoints::verifying_key_of(path)?);
    }
    if keys.is_empty() {
        bail!("--checkpoints needs the key that signed them: --public-key <base64> (printed by `regent audit keygen`) or --key-file <secret key file>");
    }
    for key in &keys {
        println!("checking checkpoints signed by key {}", key_id(key));
    }
    Ok(keys)
}
