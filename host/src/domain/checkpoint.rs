//! Signed checkpoints of the audit chain.
//!
//! The chain alone is unkeyed: whoever can write the database can rewrite a
//! row and recompute every hash after it. A checkpoint is the server's
//! ed25519 signature over `(last id, last hash, time)`, kept outside the
//! database with a key that is not in it, so a rewritten, deleted or
//! truncated tail contradicts a checkpoint the rewriter cannot forge.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Timestamp;

/// One line of the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkpoint {
    /// The newest audit entry the checkpoint vouches for (and every one
    /// before it, through the chain).
    pub last_id: i64,
    /// That entry's hash.
    pub last_hash: String,
    pub time: Timestamp,
    /// Which key signed it: see [`key_id`].
    pub key_id: String,
    /// Base64 of the 64-byte ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    #[error("signed by key {found}, not by the given key {expected}")]
    OtherKey { found: String, expected: String },
    #[error("signed by key {0}, which is not among the given keys")]
    UnknownKey(String),
    #[error("its signature does not verify: the checkpoint was forged or edited")]
    BadSignature,
}

/// A key's short name in checkpoints: the first 16 hex digits of the
/// sha256 of its public key. It only says which key to try; the signature
/// is what proves anything.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

impl Checkpoint {
    /// The signed text. Fixed fields, none of which can hold a `:`, behind
    /// a label no other Regent signature uses, so a checkpoint signature
    /// cannot be passed off as anything else, nor the other way round.
    fn message(last_id: i64, last_hash: &str, time: Timestamp) -> String {
        format!(
            "regent-audit-checkpoint:v1:{last_id}:{last_hash}:{}",
            time.millis()
        )
    }

    pub fn sign(key: &SigningKey, last_id: i64, last_hash: &str, time: Timestamp) -> Self {
        let signature = key.sign(Self::message(last_id, last_hash, time).as_bytes());
        Self {
            last_id,
            last_hash: last_hash.to_string(),
            time,
            key_id: key_id(&key.verifying_key()),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    pub fn parse(line: &str) -> Result<Self, CheckpointError> {
        serde_json::from_str(line).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }

    /// One line of the checkpoint file, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        let expected = key_id(key);
        if self.key_id != expected {
            return Err(CheckpointError::OtherKey {
                found: self.key_id.clone(),
                expected,
            });
        }
        let bytes: [u8; 64] = BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                CheckpointError::Malformed("`signature` is not base64 of 64 bytes".into())
            })?;
        // Strict: one valid signature per checkpoint and key, no
        // small-order keys.
        key.verify_strict(
            Self::message(self.last_id, &self.last_hash, self.time).as_bytes(),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| CheckpointError::BadSignature)
    }

    /// What the log says against this checkpoint: `None` when it agrees.
    /// `log_last` is the newest entry the log holds; `hash_at` is the hash
    /// of its entry `last_id`, if it has one.
    pub fn contradiction(&self, log_last: i64, hash_at: Option<&str>) -> Option<String> {
        let when = self.time;
        let id = self.last_id;
        if log_last < id {
            return Some(format!(
                "the checkpoint of {when} vouches for entries up to {id}, but the log ends at entry {log_last}: entries {}..{id} were deleted (the log was truncated)",
                log_last + 1
            ));
        }
        match hash_at {
            None => Some(format!(
                "entry {id}, vouched for by the checkpoint of {when}, is missing from the log"
            )),
            Some(h) if h != self.last_hash => Some(format!(
                "entry {id} is not the one the checkpoint of {when} vouches for: the log up to entry {id} was rewritten"
            )),
            Some(_) => None,
        }
    }
}

/// What checking a checkpoint file against the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// Checkpoints that verified.
    pub checkpoints: u64,
    /// The newest entry a verified checkpoint vouches for.
    pub covered_up_to: Option<i64>,
    /// Each contradiction or bad line, in file order; empty when the log
    /// agrees with every checkpoint.
    pub problems: Vec<String>,
}

/// Checks a checkpoint file, a line at a time, against the log: every line
/// must be a checkpoint signed by one of `keys` (several when the key was
/// rotated), later lines must not go back, and the log must hold, at each
/// checkpoint's id, the entry it vouches for.
pub struct CheckpointCheck<'k> {
    keys: &'k [VerifyingKey],
    log_last: i64,
    newest: Option<Checkpoint>,
    report: CheckpointReport,
}

impl<'k> CheckpointCheck<'k> {
    /// `log_last`: the newest entry the log holds (0 when empty).
    pub fn new(keys: &'k [VerifyingKey], log_last: i64) -> Self {
        Self {
            keys,
            log_last,
            newest: None,
            report: CheckpointReport::default(),
        }
    }

    /// Line `number` (from 1) of the file; `hash_at` looks up an entry's
    /// hash in the log.
    pub fn line<E>(
        &mut self,
        number: usize,
        text: &str,
        hash_at: impl FnOnce(i64) -> Result<Option<String>, E>,
    ) -> Result<(), E> {
        let checkpoint = match Checkpoint::parse(text).and_then(|c| {
            let key = self
                .keys
                .iter()
                .find(|k| key_id(k) == c.key_id)
                .ok_or_else(|| CheckpointError::UnknownKey(c.key_id.clone()))?;
            c.verify(key)?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                self.report
                    .problems
                    .push(format!("checkpoint line {number}: {e}"));
                return Ok(());
            }
        };
        if let Some(before) = &self.newest {
            if checkpoint.last_id < before.last_id || checkpoint.time < before.time {
                self.report.problems.push(format!(
                    "checkpoint line {number} goes back (entry {} at {}, after entry {} at {}): the checkpoint file was reordered or spliced",
                    checkpoint.last_id, checkpoint.time, before.last_id, before.time
                ));
            }
        }
        let hash = if checkpoint.last_id <= self.log_last {
            hash_at(checkpoint.last_id)?
        } else {
            None
        };
        if let Some(problem) = checkpoint.contradiction(self.log_last, hash.as_deref()) {
            self.report
                .problems
                .push(format!("checkpoint line {number}: {problem}"));
        }
        self.report.checkpoints += 1;
        self.report.covered_up_to = self.report.covered_up_to.max(Some(checkpoint.last_id));
        if self
            .newest
            .as_ref()
            .is_none_or(|n| checkpoint.last_id >= n.last_id)
        {
            self.newest = Some(checkpoint);
        }
        Ok(())
    }

    pub fn finish(self) -> CheckpointReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    const H3: &str = "33333333333333333333333333333333333333333333333333333333333333aa";
    const H5: &str = "55555555555555555555555555555555555555555555555555555555555555bb";

    fn log(id: i64) -> Result<Option<String>, std::convert::Infallible> {
        Ok(match id {
            3 => Some(H3.to_string()),
            5 => Some(H5.to_string()),
            _ => Some("00".repeat(32)),
        })
    }

    fn check(key: &VerifyingKey, log_last: i64, lines: &[String]) -> CheckpointReport {
        let keys = [*key];
        let mut check = CheckpointCheck::new(&keys, log_last);
        for (i, line) in lines.iter().enumerate() {
            check.line(i + 1, line.trim_end(), log).unwrap();
        }
        check.finish()
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies() {
        let k = key(7);
        let c = Checkpoint::sign(&k, 3, H3, Timestamp(1_700_000_000_123));
        let line = c.to_line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(
            line.contains("\"lastId\":3") && line.contains("\"keyId\""),
            "{line}"
        );
        let back = Checkpoint::parse(line.trim_end()).unwrap();
        assert_eq!(back, c);
        back.verify(&k.verifying_key()).unwrap();
    }

    #[test]
    fn an_edited_or_foreign_checkpoint_does_not_verify() {
        let k = key(7);
        let c = Checkpoint::sign(&k, 3, H3, Timestamp(1_700_000_000_000));
        for edited in [
            Checkpoint {
                last_id: 2,
                ..c.clone()
            },
            Checkpoint {
                last_hash: H5.into(),
                ..c.clone()
            },
            Checkpoint {
                time: Timestamp(1_700_000_000_001),
                ..c.clone()
            },
        ] {
            assert_eq!(
                edited.verify(&k.verifying_key()),
                Err(CheckpointError::BadSignature)
            );
        }
        // Signed by someone else: named as such, even when it claims our id.
        let mallory = Checkpoint::sign(&key(9), 3, H3, c.time);
        assert!(matches!(
            mallory.verify(&k.verifying_key()),
            Err(CheckpointError::OtherKey { .. })
        ));
        let claiming = Checkpoint {
            key_id: c.key_id.clone(),
            ..mallory
        };
        assert_eq!(
            claiming.verify(&k.verifying_key()),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn the_log_agreeing_with_every_checkpoint_has_no_problem() {
        let k = key(7);
        let lines = [
            Checkpoint::sign(&k, 3, H3, Timestamp(1_000)).to_line(),
            Checkpoint::sign(&k, 5, H5, Timestamp(2_000)).to_line(),
        ];
        let report = check(&k.verifying_key(), 6, &lines);
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!((report.checkpoints, report.covered_up_to), (2, Some(5)));
    }

    #[test]
    fn a_rewritten_or_truncated_tail_contradicts_a_checkpoint() {
        let k = key(7);
        let lines = [
            Checkpoint::sign(&k, 3, H3, Timestamp(1_000)).to_line(),
            // The log's entry 5 is not what was signed: rewritten.
            Checkpoint::sign(&k, 5, &"ab".repeat(32), Timestamp(2_000)).to_line(),
        ];
        let report = check(&k.verifying_key(), 6, &lines);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].starts_with("checkpoint line 2: entry 5 is not the one")
                && report.problems[0].contains("was rewritten"),
            "{:?}",
            report.problems
        );
        // The log ends at 4: entry 5 was deleted.
        let lines = [Checkpoint::sign(&k, 5, H5, Timestamp(2_000)).to_line()];
        let report = check(&k.verifying_key(), 4, &lines);
        assert!(
            report.problems[0].contains("entries 5..5 were deleted (the log was truncated)"),
            "{:?}",
            report.problems
        );
        // A gap where the checkpointed entry was.
        let keys = [k.verifying_key()];
        let mut check = CheckpointCheck::new(&keys, 9);
        check
            .line(1, lines[0].trim_end(), |_| {
                Ok::<_, std::convert::Infallible>(None)
            })
            .unwrap();
        assert!(check.finish().problems[0].contains("entry 5, vouched for by"));
    }

    #[test]
    fn bad_lines_and_a_file_that_goes_back_are_problems() {
        let k = key(7);
        let lines = [
            Checkpoint::sign(&k, 5, H5, Timestamp(2_000)).to_line(),
            Checkpoint::sign(&k, 3, H3, Timestamp(1_000)).to_line(),
            "{\"lastId\": 1".to_string(),
            Checkpoint::sign(&key(9), 5, H5, Timestamp(3_000)).to_line(),
        ];
        let report = check(&k.verifying_key(), 6, &lines);
        assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
        assert!(report.problems[0].contains("line 2 goes back"));
        assert!(report.problems[1].starts_with("checkpoint line 3: not a checkpoint"));
        assert!(
            report.problems[2].contains("line 4: signed by key")
                && report.problems[2].contains("not among the given keys"),
            "{:?}",
            report.problems
        );
        assert_eq!(report.checkpoints, 2);
    }

    #[test]
    fn a_rotated_key_is_checked_with_its_own_public_key() {
        let (old, new) = (key(7), key(8));
        let lines = [
            Checkpoint::sign(&old, 3, H3, Timestamp(1_000)).to_line(),
            Checkpoint::sign(&new, 5, H5, Timestamp(2_000)).to_line(),
        ];
        let keys = [old.verifying_key(), new.verifying_key()];
        let mut check = CheckpointCheck::new(&keys, 5);
        for (i, line) in lines.iter().enumerate() {
            check.line(i + 1, line.trim_end(), log).unwrap();
        }
        let report = check.finish();
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!(report.checkpoints, 2);
    }
}
