//! Plugin versions, their content-addressed bytes, activations, and the
//! sampled real inputs that candidates are shadow-run on.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{SqliteStore, StorageError};
use crate::domain::registry::{ActivationKind, PluginVersion, VersionStatus};
use crate::domain::{PluginKind, Timestamp};
use crate::storage::repositories::*;

const VERSION_COLUMNS: &str = "name, kind, version, sha256, size_bytes, uploaded_ms, uploaded_by, \
     signer, status, rejection, activated_ms";

/// A text column parsed with `FromStr`: a value this Regent does not know
/// is a conversion error naming the column, not a panic.
fn parsed<T: std::str::FromStr<Err = String>>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    row.get::<_, String>(i)?.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn version_row(row: &Row<'_>) -> rusqlite::Result<PluginVersion> {
    Ok(PluginVersion {
        name: row.get(0)?,
        kind: parsed(row, 1)?,
        version: row.get(2)?,
        sha256: row.get(3)?,
        size_bytes: row.get::<_, i64>(4)? as u64,
        uploaded_at: Timestamp(row.get(5)?),
        uploaded_by: row.get(6)?,
        signer: row.get(7)?,
        status: parsed(row, 8)?,
        rejection: row.get(9)?,
        activated_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
    })
}

fn version_in(
    tx: &rusqlite::Connection,
    name: &str,
    version: &str,
) -> Result<Option<PluginVersion>, StorageError> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = ?1 AND version = ?2"
            ),
            params![name, version],
            version_row,
        )
        .optional()?)
}

fn active_in(tx: &rusqlite::Connection, name: &str) -> Result<Option<String>, StorageError> {
    Ok(tx
        .query_row(
            "SELECT version FROM plugin_versions WHERE name = ?1 AND status = 'active'",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

fn no_version(name: &str, version: &str) -> StorageError {
    StorageError::NotFound(format!(
        "plugin `{name}` has no version `{version}` (GET /api/plugins/{name}/versions lists them)"
    ))
}

impl PluginRepository for SqliteStore {
    fn record_evaluation(&self, r: &EvaluationRecord) -> Result<i64, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO evaluations (at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                r.at.millis(),
                r.plugin,
                r.version,
                r.kind.world(),
                r.input.to_string(),
                r.output.as_ref().map(|o| o.to_string()),
                r.error_code,
                r.error,
                r.elapsed_us as i64,
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn recent_evaluations(
        &self,
        plugin: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EvaluationRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us
             FROM evaluations WHERE (?1 IS NULL OR plugin = ?1) ORDER BY id DESC LIMIT ?2",
        )?;
        type EvaluationRow = (
            i64,
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
        );
        let rows = stmt.query_map(
            params![plugin, limit],
            |row| -> rusqlite::Result<EvaluationRow> {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, plugin, version, kind, input, output, error_code, error, elapsed_us) =
                row?;
            // A kind this build does not know means the row is corrupt or
            // from a newer Regent: say so rather than guess one.
            let kind: PluginKind = kind.parse().map_err(|message| StorageError::Corrupt {
                table: "evaluations",
                message: format!("evaluation {id}: {message}"),
            })?;
            out.push(EvaluationRecord {
                id,
                at: Timestamp(at),
                plugin,
                version,
                kind,
                input: super::from_json("evaluations", &input)?,
                output: output
                    .map(|o| super::from_json("evaluations", &o))
                    .transpose()?,
                error_code,
                error,
                elapsed_us: elapsed_us as u64,
            });
        }
        Ok(out)
    }

    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([name], version_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<PluginVersion>, StorageError> {
        version_in(&self.conn(), name, version)
    }

    fn plugin_kind(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT kind FROM plugin_versions WHERE name = ?1 AND status != 'rejected' LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn stored_plugin(&self, name: &str, version: &str) -> Result<StoredPlugin, StorageError> {
        let conn = self.conn();
        let v = version_in(&conn, name, version)?.ok_or_else(|| no_version(name, version))?;
        if v.status == VersionStatus::Rejected {
            return Err(StorageError::Conflict(format!(
                "{name}@{version} was rejected ({}); upload it again to retry",
                v.rejection.as_deref().unwrap_or("no reason recorded")
            )));
        }
        let (manifest, bytes, signature): (String, Option<Vec<u8>>, Option<String>) = conn
            .query_row(
                "SELECT v.manifest, b.bytes, v.signature FROM plugin_versions v
                 LEFT JOIN plugin_blobs b ON b.sha256 = v.sha256
                 WHERE v.name = ?1 AND v.version = ?2",
                params![name, version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        let bytes = bytes.ok_or_else(|| StorageError::Corrupt {
            table: "plugin_blobs",
            message: format!("no stored bytes for {name}@{version} (sha256 {})", v.sha256),
        })?;
        Ok(StoredPlugin {
            version: v,
            manifest,
            bytes,
            signature,
        })
    }

    fn active_plugin_versions(&self) -> Result<Vec<(String, String)>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, version FROM plugin_versions WHERE status = 'active' ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn store_plugin_version(
        &self,
        v: &PluginVersion,
        manifest: &str,
        bytes: &[u8],
        signature: Option<&StoredSignature>,
        audit_action: &str,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            if let Some(existing) = version_in(tx, &v.name, &v.version)? {
                if existing.status != VersionStatus::Rejected {
                    return Err(StorageError::Conflict(format!(
                        "{}@{} already exists (sha256 {}); versions are immutable: give the new build a new version",
                        v.name, v.version, existing.sha256
                    )));
                }
                tx.execute(
                    "DELETE FROM plugin_versions WHERE name = ?1 AND version = ?2",
                    params![v.name, v.version],
                )?;
            }
            tx.execute(
                "INSERT INTO plugin_blobs (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                params![v.sha256, bytes],
            )?;
            insert_version(tx, v, VersionStatus::Inactive, manifest)?;
            if let Some(signature) = signature {
                tx.execute(
                    "UPDATE plugin_versions SET signature = ?3, signer_key = ?4 WHERE name = ?1 AND version = ?2",
                    params![v.name, v.version, signature.json, signature.public_key],
                )?;
            }
            tx.audit(v.uploaded_at,
                NewAudit {
                    actor: &v.uploaded_by,
                    action: audit_action,
                    target: format!("plugin:{}@{}", v.name, v.version),
                    before: None,
                    after: Some(serde_json::json!({
                        "kind": v.kind, "sha256": v.sha256, "sizeBytes": v.size_bytes, "signer": v.signer,
                        "signerKey": signature.map(|s| &s.public_key),
                    })),
                },
            )?;
            Ok(())
        })
    }

    fn record_rejection(
        &self,
        v: &PluginVersion,
        manifest: &str,
        gate: &str,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            match version_in(tx, &v.name, &v.version)? {
                Some(existing) if existing.status != VersionStatus::Rejected => {}
                existing => {
                    if existing.is_some() {
                        tx.execute(
                            "DELETE FROM plugin_versions WHERE name = ?1 AND version = ?2",
                            params![v.name, v.version],
                        )?;
                    }
                    insert_version(tx, v, VersionStatus::Rejected, manifest)?;
                }
            }
            tx.audit(
                v.uploaded_at,
                NewAudit {
                    actor: &v.uploaded_by,
                    action: "plugin.reject",
                    target: format!("plugin:{}@{}", v.name, v.version),
                    before: None,
                    after: Some(serde_json::json!({
                        "gate": gate, "reason": v.rejection, "sha256": v.sha256,
                    })),
                },
            )?;
            Ok(())
        })
    }

    fn audit_plugin_event(
        &self,
        actor: &str,
        action: &str,
        target: String,
        detail: serde_json::Value,
        at: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.audit(
                at,
                NewAudit {
                    actor,
                    action,
                    target,
                    before: None,
                    after: Some(detail),
                },
            )?;
            Ok(())
        })
    }

    fn set_plugin_signature(
        &self,
        name: &str,
        version: &str,
        signer: &str,
        signature: &StoredSignature,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            let before = version_in(tx, name, version)?.ok_or_else(|| no_version(name, version))?;
            tx.execute(
                "UPDATE plugin_versions SET signer = ?3, signature = ?4, signer_key = ?5 WHERE name = ?1 AND version = ?2",
                params![name, version, signer, signature.json, signature.public_key],
            )?;
            tx.audit(now,
                NewAudit {
                    actor,
                    action: "plugin.signature_added",
                    target: format!("plugin:{name}@{version}"),
                    before: Some(serde_json::json!({ "signer": before.signer })),
                    after: Some(serde_json::json!({
                        "signer": signer, "signerKey": signature.public_key, "sha256": before.sha256,
                    })),
                },
            )?;
            Ok(())
        })
    }

    fn versions_ever_active(&self, name: &str) -> Result<Vec<String>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT DISTINCT version FROM plugin_activations WHERE name = ?1")?;
        let rows = stmt.query_map([name], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    #[allow(clippy::too_many_arguments)]
    fn activate_plugin_version(
        &self,
        name: &str,
        version: &str,
        how: ActivationKind,
        forced: bool,
        downgrade_from: Option<&str>,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StorageError> {
        self.write(|tx| {
            let target = version_in(tx, name, version)?.ok_or_else(|| no_version(name, version))?;
            if target.status == VersionStatus::Rejected {
                return Err(StorageError::Conflict(format!(
                    "{name}@{version} was rejected; upload it again to retry"
                )));
            }
            let previous = active_in(tx, name)?;
            tx.execute(
                "UPDATE plugin_versions SET status = 'inactive' WHERE name = ?1 AND status = 'active'",
                [name],
            )?;
            tx.execute(
                "UPDATE plugin_versions SET status = 'active', activated_ms = ?3 WHERE name = ?1 AND version = ?2",
                params![name, version, now.millis()],
            )?;
            tx.execute(
                "INSERT INTO plugin_activations (name, version, previous, at_ms, by, how, forced)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![name, version, previous, now.millis(), actor, how.as_str(), forced],
            )?;
            tx.audit(now,
                NewAudit {
                    actor,
                    action: match (downgrade_from, forced) {
                        (Some(_), _) => "plugin.downgrade",
                        (None, true) => "plugin.activate_forced",
                        (None, false) => "plugin.activate",
                    },
                    target: format!("plugin:{name}"),
                    before: previous.as_ref().map(|p| serde_json::json!({ "version": p })),
                    after: Some(serde_json::json!({
                        "version": version, "sha256": target.sha256, "how": how.as_str(), "forced": forced,
                        "signer": target.signer, "downgradeFrom": downgrade_from,
                    })),
                },
            )?;
            Ok(previous)
        })
    }

    fn rollback_target(&self, name: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT previous FROM plugin_activations WHERE name = ?1 ORDER BY id DESC LIMIT 1",
                [name],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    fn delete_plugin_version(
        &self,
        name: &str,
        version: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<PluginVersion, StorageError> {
        self.write(|tx| {
            let v = version_in(tx, name, version)?.ok_or_else(|| no_version(name, version))?;
            if v.status == VersionStatus::Active {
                return Err(StorageError::Conflict(format!(
                    "{name}@{version} is active; activate another version (or roll back) before deleting it"
                )));
            }
            tx.execute(
                "DELETE FROM plugin_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
            )?;
            tx.execute(
                "DELETE FROM plugin_blobs WHERE sha256 = ?1
                 AND NOT EXISTS (SELECT 1 FROM plugin_versions WHERE sha256 = ?1)",
                [&v.sha256],
            )?;
            tx.audit(now,
                NewAudit {
                    actor,
                    action: "plugin.delete",
                    target: format!("plugin:{name}@{version}"),
                    before: Some(serde_json::json!({ "status": v.status, "sha256": v.sha256 })),
                    after: None,
                },
            )?;
            Ok(v)
        })
    }

    fn record_shadow_input(
        &self,
        source: &str,
        input: &serde_json::Value,
        keep: u32,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO shadow_inputs (source, at_ms, input) VALUES (?1, ?2, ?3)",
            params![source, now.millis(), input.to_string()],
        )?;
        trim_inputs(&tx, source, keep)?;
        tx.commit()?;
        Ok(())
    }

    fn shadow_inputs(&self, source: &str, limit: u32) -> Result<Vec<RecordedInput>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, input FROM shadow_inputs WHERE source = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![source, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, text) = row?;
            out.push(RecordedInput {
                id,
                at: Timestamp(at),
                input: super::from_json("shadow_inputs", &text)?,
            });
        }
        Ok(out)
    }
}

fn insert_version(
    tx: &Transaction<'_>,
    v: &PluginVersion,
    status: VersionStatus,
    manifest: &str,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO plugin_versions (name, kind, version, sha256, size_bytes, manifest, uploaded_ms,
             uploaded_by, signer, status, rejection, activated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)",
        params![
            v.name,
            v.kind.world(),
            v.version,
            v.sha256,
            v.size_bytes as i64,
            manifest,
            v.uploaded_at.millis(),
            v.uploaded_by,
            v.signer,
            status.as_str(),
            v.rejection,
        ],
    )?;
    Ok(())
}

fn trim_inputs(tx: &Transaction<'_>, source: &str, keep: u32) -> Result<(), StorageError> {
    tx.execute(
        "DELETE FROM shadow_inputs WHERE source = ?1 AND id <= (
             SELECT id FROM shadow_inputs WHERE source = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![source, keep],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PluginKind;

    fn version(v: &str, sha: &str) -> PluginVersion {
        PluginVersion {
            name: "item".into(),
            kind: PluginKind::ChecklistItem,
            version: v.into(),
            sha256: sha.into(),
            size_bytes: 3,
            uploaded_at: Timestamp(1_000),
            uploaded_by: "admin".into(),
            signer: None,
            status: VersionStatus::Inactive,
            activated_at: None,
            rejection: None,
        }
    }

    #[test]
    fn a_rejection_never_hides_a_stored_version() {
        let db = SqliteStore::open_in_memory().unwrap();
        db.store_plugin_version(&version("1", "aa"), "m", b"one", None, "plugin.upload")
            .unwrap();
        let mut bad = version("1", "zz");
        bad.rejection = Some("fixtures: nope".into());
        db.record_rejection(&bad, "m", "fixtures").unwrap();
        assert_eq!(
            db.plugin_version("item", "1").unwrap().unwrap().status,
            VersionStatus::Inactive
        );
        let mut new = version("2", "yy");
        new.rejection = Some("world: nope".into());
        db.record_rejection(&new, "m", "world").unwrap();
        assert_eq!(
            db.plugin_version("item", "2").unwrap().unwrap().status,
            VersionStatus::Rejected
        );
        // A retry of the rejected version replaces the rejection.
        db.store_plugin_version(&version("2", "yy"), "m", b"two", None, "plugin.upload")
            .unwrap();
        assert_eq!(
            db.plugin_version("item", "2").unwrap().unwrap().status,
            VersionStatus::Inactive
        );
    }

    #[test]
    fn shadow_inputs_keep_the_newest() {
        let db = SqliteStore::open_in_memory().unwrap();
        for i in 0..5 {
            db.record_shadow_input("readiness", &serde_json::json!({ "i": i }), 3, Timestamp(i))
                .unwrap();
        }
        let kept = db.shadow_inputs("readiness", 10).unwrap();
        let values: Vec<i64> = kept
            .iter()
            .map(|r| r.input["i"].as_i64().unwrap())
            .collect();
        assert_eq!(values, [4, 3, 2]);
        assert!(db.shadow_inputs("breaker", 10).unwrap().is_empty());
    }
}
