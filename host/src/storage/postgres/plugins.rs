//! Plugin versions, their content-addressed bytes, activations, and the
//! sampled real inputs that candidates are shadow-run on.
//!
//! The bytes live in `plugin_blobs`, so every replica loads a version from
//! the database and compiles it for itself. Activations are units of work
//! under the writer lock, and a partial unique index allows one active
//! version per name: two replicas activating versions of one plugin at
//! once leave exactly one active.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{from_json, pg, PostgresStore, StorageError};
use crate::domain::registry::{ActivationKind, PluginVersion, VersionStatus};
use crate::domain::{PluginKind, Timestamp};
use crate::storage::repositories::*;

const VERSION_COLUMNS: &str = "name, kind, version, sha256, size_bytes, uploaded_ms, uploaded_by, \
     signer, status, rejection, activated_ms";

/// A text column parsed with `FromStr`: a value this Regent does not know
/// means the row is corrupt or from a newer Regent, never a guess.
fn parsed<T: std::str::FromStr<Err = String>>(
    row: &Row,
    i: usize,
    table: &'static str,
) -> Result<T, StorageError> {
    row.get::<_, &str>(i)
        .parse()
        .map_err(|message| StorageError::Corrupt { table, message })
}

/// A count or size the schema keeps as BIGINT; a negative one is corrupt.
fn unsigned(value: i64, table: &'static str, what: &str) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt {
        table,
        message: format!("{what} is negative ({value})"),
    })
}

fn signed(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Invalid(format!("{what} {value} is too large")))
}

/// A version from the first eleven columns of `row`, as [`VERSION_COLUMNS`].
fn version_row(row: &Row) -> Result<PluginVersion, StorageError> {
    Ok(PluginVersion {
        name: row.get(0),
        kind: parsed(row, 1, "plugin_versions")?,
        version: row.get(2),
        sha256: row.get(3),
        size_bytes: unsigned(row.get(4), "plugin_versions", "size_bytes")?,
        uploaded_at: Timestamp(row.get(5)),
        uploaded_by: row.get(6),
        signer: row.get(7),
        status: parsed(row, 8, "plugin_versions")?,
        rejection: row.get(9),
        activated_at: row.get::<_, Option<i64>>(10).map(Timestamp),
    })
}

async fn version_in<C: GenericClient>(
    c: &C,
    name: &str,
    version: &str,
) -> Result<Option<PluginVersion>, StorageError> {
    c.query_opt(
        &format!("SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = $1 AND version = $2"),
        &[&name, &version],
    )
    .await
    .map_err(pg("read a plugin version"))?
    .as_ref()
    .map(version_row)
    .transpose()
}

async fn active_in<C: GenericClient>(c: &C, name: &str) -> Result<Option<String>, StorageError> {
    Ok(c.query_opt(
        "SELECT version FROM plugin_versions WHERE name = $1 AND status = 'active'",
        &[&name],
    )
    .await
    .map_err(pg("read the active plugin version"))?
    .map(|r| r.get(0)))
}

fn no_version(name: &str, version: &str) -> StorageError {
    StorageError::NotFound(format!(
        "plugin `{name}` has no version `{version}` (GET /api/plugins/{name}/versions lists them)"
    ))
}

async fn insert_version<C: GenericClient>(
    c: &C,
    v: &PluginVersion,
    status: VersionStatus,
    manifest: &str,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO plugin_versions (name, kind, version, sha256, size_bytes, manifest, uploaded_ms,
             uploaded_by, signer, status, rejection, activated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)",
        &[
            &v.name,
            &v.kind.world(),
            &v.version,
            &v.sha256,
            &signed(v.size_bytes, "a plugin of size")?,
            &manifest,
            &v.uploaded_at.millis(),
            &v.uploaded_by,
            &v.signer,
            &status.as_str(),
            &v.rejection,
        ],
    )
    .await
    .map_err(pg("store a plugin version"))?;
    Ok(())
}

async fn delete_version<C: GenericClient>(
    c: &C,
    name: &str,
    version: &str,
) -> Result<(), StorageError> {
    c.execute(
        "DELETE FROM plugin_versions WHERE name = $1 AND version = $2",
        &[&name, &version],
    )
    .await
    .map_err(pg("delete a plugin version"))?;
    Ok(())
}

impl PluginRepository for PostgresStore {
    fn record_evaluation(&self, r: &EvaluationRecord) -> Result<i64, StorageError> {
        // Changes no decision: a plain insert, outside the writer lock.
        self.read(async |c| {
            Ok(c.query_one(
                "INSERT INTO evaluations (at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &r.at.millis(),
                    &r.plugin,
                    &r.version,
                    &r.kind.world(),
                    &r.input.to_string(),
                    &r.output.as_ref().map(|o| o.to_string()),
                    &r.error_code,
                    &r.error,
                    &signed(r.elapsed_us, "an evaluation time (µs) of")?,
                ],
            )
            .await
            .map_err(pg("record an evaluation"))?
            .get(0))
        })
    }

    fn recent_evaluations(
        &self,
        plugin: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EvaluationRecord>, StorageError> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT id, at_ms, plugin, version, kind, input, output, error_code, error, elapsed_us
                     FROM evaluations WHERE ($1::text IS NULL OR plugin = $1) ORDER BY id DESC LIMIT $2",
                    &[&plugin, &i64::from(limit)],
                )
                .await
                .map_err(pg("read recent evaluations"))?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.get(0);
                    let kind: PluginKind =
                        row.get::<_, &str>(4)
                            .parse()
                            .map_err(|message| StorageError::Corrupt {
                                table: "evaluations",
                                message: format!("evaluation {id}: {message}"),
                            })?;
                    Ok(EvaluationRecord {
                        id,
                        at: Timestamp(row.get(1)),
                        plugin: row.get(2),
                        version: row.get(3),
                        kind,
                        input: from_json("evaluations", row.get(5))?,
                        output: row
                            .get::<_, Option<&str>>(6)
                            .map(|o| from_json("evaluations", o))
                            .transpose()?,
                        error_code: row.get(7),
                        error: row.get(8),
                        elapsed_us: unsigned(row.get(9), "evaluations", "elapsed_us")?,
                    })
                })
                .collect()
        })
    }

    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StorageError> {
        self.read(async |c| {
            c.query(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = $1 ORDER BY id DESC"
                ),
                &[&name],
            )
            .await
            .map_err(pg("read plugin versions"))?
            .iter()
            .map(version_row)
            .collect()
        })
    }

    fn plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<PluginVersion>, StorageError> {
        self.read(async |c| version_in(c, name, version).await)
    }

    fn plugin_kind(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.read(async |c| {
            Ok(c.query_opt(
                "SELECT kind FROM plugin_versions WHERE name = $1 AND status != 'rejected' LIMIT 1",
                &[&name],
            )
            .await
            .map_err(pg("read a plugin's kind"))?
            .map(|r| r.get(0)))
        })
    }

    fn stored_plugin(&self, name: &str, version: &str) -> Result<StoredPlugin, StorageError> {
        self.read(async |c| {
            // One statement, so the version and its bytes are read from
            // one snapshot even while another replica deletes it.
            let row = c
                .query_opt(
                    "SELECT v.name, v.kind, v.version, v.sha256, v.size_bytes, v.uploaded_ms,
                            v.uploaded_by, v.signer, v.status, v.rejection, v.activated_ms,
                            v.manifest, b.bytes, v.signature
                     FROM plugin_versions v LEFT JOIN plugin_blobs b ON b.sha256 = v.sha256
                     WHERE v.name = $1 AND v.version = $2",
                    &[&name, &version],
                )
                .await
                .map_err(pg("read a stored plugin"))?
                .ok_or_else(|| no_version(name, version))?;
            let v = version_row(&row)?;
            if v.status == VersionStatus::Rejected {
                return Err(StorageError::Conflict(format!(
                    "{name}@{version} was rejected ({}); upload it again to retry",
                    v.rejection.as_deref().unwrap_or("no reason recorded")
                )));
            }
            let bytes: Vec<u8> =
                row.get::<_, Option<Vec<u8>>>(12)
                    .ok_or_else(|| StorageError::Corrupt {
                        table: "plugin_blobs",
                        message: format!(
                            "no stored bytes for {name}@{version} (sha256 {})",
                            v.sha256
                        ),
                    })?;
            Ok(StoredPlugin {
                manifest: row.get(11),
                signature: row.get(13),
                version: v,
                bytes,
            })
        })
    }

    fn active_plugin_versions(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.read(async |c| {
            // Byte order, as SQLite sorts, whatever the database's locale.
            Ok(c.query(
                "SELECT name, version FROM plugin_versions WHERE status = 'active'
                     ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(pg("read the active plugin versions"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn store_plugin_version(
        &self,
        v: &PluginVersion,
        manifest: &str,
        bytes: &[u8],
        signature: Option<&StoredSignature>,
        audit_action: &str,
    ) -> Result<(), StorageError> {
        self.write(async |tx| {
            if let Some(existing) = version_in(&**tx, &v.name, &v.version).await? {
                if existing.status != VersionStatus::Rejected {
                    return Err(StorageError::Conflict(format!(
                        "{}@{} already exists (sha256 {}); versions are immutable: give the new build a new version",
                        v.name, v.version, existing.sha256
                    )));
                }
                delete_version(&**tx, &v.name, &v.version).await?;
            }
            tx.execute(
                "INSERT INTO plugin_blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&v.sha256, &bytes],
            )
            .await
            .map_err(pg("store a plugin's bytes"))?;
            insert_version(&**tx, v, VersionStatus::Inactive, manifest).await?;
            if let Some(signature) = signature {
                tx.execute(
                    "UPDATE plugin_versions SET signature = $3, signer_key = $4 WHERE name = $1 AND version = $2",
                    &[&v.name, &v.version, &signature.json, &signature.public_key],
                )
                .await
                .map_err(pg("keep a plugin version's signature"))?;
            }
            tx.audit(
                v.uploaded_at,
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
            )
            .await?;
            Ok(())
        })
    }

    fn record_rejection(
        &self,
        v: &PluginVersion,
        manifest: &str,
        gate: &str,
    ) -> Result<(), StorageError> {
        self.write(async |tx| {
            match version_in(&**tx, &v.name, &v.version).await? {
                Some(existing) if existing.status != VersionStatus::Rejected => {}
                existing => {
                    if existing.is_some() {
                        delete_version(&**tx, &v.name, &v.version).await?;
                    }
                    insert_version(&**tx, v, VersionStatus::Rejected, manifest).await?;
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
            )
            .await?;
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
        self.write(async |tx| {
            tx.audit(
                at,
                NewAudit {
                    actor,
                    action,
                    target,
                    before: None,
                    after: Some(detail),
                },
            )
            .await?;
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
        self.write(async |tx| {
            let before = version_in(&**tx, name, version)
                .await?
                .ok_or_else(|| no_version(name, version))?;
            tx.execute(
                "UPDATE plugin_versions SET signer = $3, signature = $4, signer_key = $5 WHERE name = $1 AND version = $2",
                &[&name, &version, &signer, &signature.json, &signature.public_key],
            )
            .await
            .map_err(pg("keep a plugin version's signature"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "plugin.signature_added",
                    target: format!("plugin:{name}@{version}"),
                    before: Some(serde_json::json!({ "signer": before.signer })),
                    after: Some(serde_json::json!({
                        "signer": signer, "signerKey": signature.public_key, "sha256": before.sha256,
                    })),
                },
            )
            .await?;
            Ok(())
        })
    }

    fn versions_ever_active(&self, name: &str) -> Result<Vec<String>, StorageError> {
        self.read(async |c| {
            Ok(c.query(
                "SELECT version FROM plugin_activations WHERE name = $1
                     GROUP BY version ORDER BY MIN(id)",
                &[&name],
            )
            .await
            .map_err(pg("read a plugin's activations"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
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
        self.write(async |tx| {
            let target = version_in(&**tx, name, version)
                .await?
                .ok_or_else(|| no_version(name, version))?;
            if target.status == VersionStatus::Rejected {
                return Err(StorageError::Conflict(format!(
                    "{name}@{version} was rejected; upload it again to retry"
                )));
            }
            let previous = active_in(&**tx, name).await?;
            let activate = pg("activate a plugin version");
            tx.execute(
                "UPDATE plugin_versions SET status = 'inactive' WHERE name = $1 AND status = 'active'",
                &[&name],
            )
            .await
            .map_err(&activate)?;
            tx.execute(
                "UPDATE plugin_versions SET status = 'active', activated_ms = $3 WHERE name = $1 AND version = $2",
                &[&name, &version, &now.millis()],
            )
            .await
            .map_err(&activate)?;
            tx.execute(
                "INSERT INTO plugin_activations (name, version, previous, at_ms, by, how, forced)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&name, &version, &previous, &now.millis(), &actor, &how.as_str(), &forced],
            )
            .await
            .map_err(pg("record a plugin activation"))?;
            tx.audit(
                now,
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
            )
            .await?;
            Ok(previous)
        })
    }

    fn rollback_target(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.read(async |c| {
            Ok(c.query_opt(
                "SELECT previous FROM plugin_activations WHERE name = $1 ORDER BY id DESC LIMIT 1",
                &[&name],
            )
            .await
            .map_err(pg("read a plugin's last activation"))?
            .and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    fn delete_plugin_version(
        &self,
        name: &str,
        version: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<PluginVersion, StorageError> {
        self.write(async |tx| {
            let v = version_in(&**tx, name, version)
                .await?
                .ok_or_else(|| no_version(name, version))?;
            if v.status == VersionStatus::Active {
                return Err(StorageError::Conflict(format!(
                    "{name}@{version} is active; activate another version (or roll back) before deleting it"
                )));
            }
            delete_version(&**tx, name, version).await?;
            tx.execute(
                "DELETE FROM plugin_blobs WHERE sha256 = $1
                 AND NOT EXISTS (SELECT 1 FROM plugin_versions WHERE sha256 = $1)",
                &[&v.sha256],
            )
            .await
            .map_err(pg("delete a plugin's unshared bytes"))?;
            tx.audit(
                now,
                NewAudit {
                    actor,
                    action: "plugin.delete",
                    target: format!("plugin:{name}@{version}"),
                    before: Some(serde_json::json!({ "status": v.status, "sha256": v.sha256 })),
                    after: None,
                },
            )
            .await?;
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
        // Changes no decision: its own transaction, outside the writer
        // lock. A concurrent trim sees fewer rows, so it never removes one
        // of the newest `keep`.
        self.block_on(async {
            let mut client = self.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(pg("begin recording a shadow input"))?;
            tx.execute(
                "INSERT INTO shadow_inputs (source, at_ms, input) VALUES ($1, $2, $3)",
                &[&source, &now.millis(), &input.to_string()],
            )
            .await
            .map_err(pg("record a shadow input"))?;
            tx.execute(
                "DELETE FROM shadow_inputs WHERE source = $1 AND id <= (
                     SELECT id FROM shadow_inputs WHERE source = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                &[&source, &i64::from(keep)],
            )
            .await
            .map_err(pg("trim the shadow inputs"))?;
            tx.commit()
                .await
                .map_err(pg("commit a shadow input"))?;
            Ok(())
        })
    }

    fn shadow_inputs(&self, source: &str, limit: u32) -> Result<Vec<RecordedInput>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT id, at_ms, input FROM shadow_inputs WHERE source = $1 ORDER BY id DESC LIMIT $2",
                &[&source, &i64::from(limit)],
            )
            .await
            .map_err(pg("read shadow inputs"))?
            .iter()
            .map(|r| {
                Ok(RecordedInput {
                    id: r.get(0),
                    at: Timestamp(r.get(1)),
                    input: from_json("shadow_inputs", r.get(2))?,
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::TestDatabase;
    use super::super::PostgresOptions;
    use super::*;

    fn store(database: &TestDatabase) -> PostgresStore {
        PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap()
    }

    #[test]
    fn evaluations_keep_their_kind_and_an_unknown_kind_is_corrupt() {
        let database = TestDatabase::create();
        let db = store(&database);
        let record = EvaluationRecord {
            id: 0,
            at: Timestamp(5),
            plugin: "p".into(),
            version: "1".into(),
            kind: PluginKind::RiskScorer,
            input: serde_json::json!({"a": 1}),
            output: None,
            error_code: Some("trap".into()),
            error: Some("boom".into()),
            elapsed_us: 42,
        };
        let id = db.record_evaluation(&record).unwrap();
        assert_eq!(
            db.recent_evaluations(Some("p"), 5).unwrap(),
            [EvaluationRecord { id, ..record }]
        );
        db.block_on(async {
            db.client()
                .await?
                .execute("UPDATE evaluations SET kind = 'mystery'", &[])
                .await
                .map_err(pg("corrupt"))
        })
        .unwrap();
        assert!(matches!(
            db.recent_evaluations(None, 5),
            Err(StorageError::Corrupt {
                table: "evaluations",
                ..
            })
        ));
    }
}
