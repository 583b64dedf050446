//! The plugin registry: versions in, through the gates, into the active
//! set, without a restart and without a failed or mixed request.
//!
//! A candidate is compiled and checked on the caller's blocking thread,
//! never on a request-serving one. Only when every gate passed does the
//! registry commit the activation and then publish the next plugin set;
//! the swap lock keeps the store's order and the published order the same.

mod dir;
mod shadow;

pub use dir::spawn_watch;
pub(crate) use shadow::breaker_input;
pub use shadow::ShadowRecorder;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::{ServiceError, ServiceResult};
use crate::config::RegistrySettings;
use crate::domain::registry::{
    Activation, ActivationKind, Gate, GateFailure, GateResult, PluginVersion, ShadowReport,
    UploadOptions, UploadOutcome, VersionStatus,
};
use crate::domain::Timestamp;
use crate::evaluation::run_fixture;
use crate::metrics::Metrics;
use crate::runtime::cache::sha256_hex;
use crate::runtime::{
    ActivePlugins, CompileError, LoadError, LoadedPlugin, Manifest, PluginRuntime,
};
use crate::signing::{self, SignatureError, SignatureFile, Statement, TrustedKeys};
use crate::storage::prelude::*;
use crate::storage::{StorageError, StoredPlugin, StoredSignature};

/// Manifests and signature files are small; only the component may be large.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
pub const MAX_SIGNATURE_BYTES: usize = 16 << 10;

/// An upload: the component's bytes, its manifest, and its signature file.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub wasm: Vec<u8>,
    pub manifest: String,
    pub signature: Option<Vec<u8>>,
}

pub struct PluginRegistry {
    db: Arc<dyn Store>,
    runtime: Arc<PluginRuntime>,
    active: Arc<ActivePlugins>,
    exporter: Arc<Metrics>,
    settings: RegistrySettings,
    trusted: TrustedKeys,
    /// `[plugins.<name>.params]` from the config: applied to every
    /// version of that name that serves.
    overrides: BTreeMap<String, toml::Table>,
    /// Held from commit to publish, so the store and the published set
    /// change in the same order.
    swap: Mutex<()>,
    /// Why a plugin is not serving as it should, by name: `/ready` fails
    /// while any is here.
    faults: RwLock<BTreeMap<(String, Fault), String>>,
}

/// Kept apart so that signing a serving version again clears only what
/// its signature caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Not loaded, or stored bytes that fail their sha256.
    Serving,
    /// Serving, with a signature that no longer holds.
    Signature,
}

/// What [`PluginRegistry::follow_store`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// This replica already serves the store's active versions.
    Unchanged,
    /// It now does, as this generation.
    Swapped { generation: u64 },
    /// It could not, for these reasons; the previous set still serves.
    Behind(Vec<String>),
}

/// The candidate, loaded, with the gates it passed so far.
struct Checked {
    plugin: LoadedPlugin,
    gates: Vec<GateResult>,
    shadow: ShadowReport,
}

impl PluginRegistry {
    pub fn new(
        db: Arc<dyn Store>,
        runtime: Arc<PluginRuntime>,
        active: Arc<ActivePlugins>,
        exporter: Arc<Metrics>,
        settings: RegistrySettings,
        overrides: BTreeMap<String, toml::Table>,
    ) -> Result<Self, signing::KeyError> {
        let trusted = TrustedKeys::from_config(&settings.trusted_keys)?;
        Ok(Self {
            db,
            runtime,
            active,
            exporter,
            settings,
            trusted,
            overrides,
            swap: Mutex::new(()),
            faults: RwLock::new(BTreeMap::new()),
        })
    }

    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// What keeps `/ready` failing, one line per plugin.
    pub fn faults(&self) -> Vec<String> {
        self.faults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((name, _), why)| format!("plugin `{name}`: {why}"))
            .collect()
    }

    fn set_fault(&self, name: &str, why: String) {
        self.set_fault_of(Fault::Serving, name, why);
    }

    fn set_fault_of(&self, fault: Fault, name: &str, why: String) {
        tracing::error!(plugin = name, error = %why, "plugin fault");
        self.faults
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((name.to_string(), fault), why);
    }

    /// Another version of `name` is active: whatever was wrong is gone.
    fn clear_fault(&self, name: &str) {
        let mut faults = self.faults.write().unwrap_or_else(|p| p.into_inner());
        for fault in [Fault::Serving, Fault::Signature] {
            faults.remove(&(name.to_string(), fault));
        }
    }

    /// Every version of `name`, newest first.
    pub fn versions(&self, name: &str) -> ServiceResult<Vec<PluginVersion>> {
        let versions = self.db.plugin_versions(name)?;
        if versions.is_empty() && self.active.current().get(name).is_none() {
            return Err(ServiceError::NotFound(format!(
                "no plugin named `{name}` (GET /api/plugins lists them)"
            )));
        }
        Ok(versions)
    }

    /// Loads the versions the store says are active: what a restart
    /// comes back with. One that cannot load is a fault, and the others
    /// still serve.
    ///
    /// Each one's signature is verified again against today's trusted keys.
    /// One that no longer holds (its key was removed, or it was signed in
    /// the old format) is a fault that fails `/ready` naming it, but it
    /// still serves: dropping an active rule or breaker condition at start
    /// would change decisions without anyone deciding so. Activating another
    /// version (or rolling back) clears it.
    pub fn load_active(&self) -> ServiceResult<()> {
        let mut loaded = Vec::new();
        for (name, version) in self.db.active_plugin_versions()? {
            let outcome = self
                .read_stored(&name, &version)
                .and_then(|(stored, manifest)| {
                    let signature = self.verify_stored(&stored, &manifest);
                    let plugin = self.load_checked(&stored, manifest)?;
                    Ok((plugin, signature))
                });
            match outcome {
                Ok((plugin, signature)) => {
                    self.runtime.persist_compiled(&plugin);
                    loaded.push(Arc::new(plugin));
                    if let Err(e) = signature {
                        self.audit_signature_refusal(
                            "regent",
                            &stored_target(&name, &version),
                            &e,
                            "start",
                        );
                        self.set_fault_of(
                            Fault::Signature,
                            &name,
                            format!("active version {version} is serving, but its signature no longer holds: {e}; activate a version signed by a trusted key"),
                        );
                    }
                }
                Err(e) => {
                    self.set_fault(&name, format!("active version {version} not loaded: {e}"))
                }
            }
        }
        let _swap = self.lock_swaps();
        let set = crate::runtime::PluginSet::from_shared(loaded);
        self.runtime.release_compiled_except(&set);
        self.active.publish(set);
        Ok(())
    }

    /// Serves the versions the store says are active when they are not
    /// the ones served: another replica activated or rolled back. What is
    /// new is loaded from the stored bytes and compiled here (never native
    /// code another process wrote), then the whole set is swapped at once,
    /// as the next generation. A set that cannot be completed is not
    /// published at all: the previous one keeps serving, and each version
    /// that does not load is a fault (failing `/ready`) until it does.
    pub fn follow_store(&self) -> ServiceResult<Followed> {
        // A local swap between the read and the publish means reading again.
        for _ in 0..3 {
            let serving = self.active.current();
            let wanted = self.db.active_plugin_versions()?;
            let unchanged = serving.len() == wanted.len()
                && wanted.iter().all(|(name, version)| {
                    serving.get(name).is_some_and(|p| p.version() == version)
                });
            if unchanged {
                return Ok(Followed::Unchanged);
            }
            let mut next = Vec::with_capacity(wanted.len());
            let mut changed = Vec::new();
            let mut unsigned = Vec::new();
            let mut problems = Vec::new();
            for (name, version) in &wanted {
                if let Some(p) = serving.get(name).filter(|p| p.version() == version) {
                    next.push(p.clone());
                    continue;
                }
                // Not audited here: every replica retrying would append an
                // entry, and each entry wakes every replica again.
                let loaded =
                    self.read_stored_as(name, version, false)
                        .and_then(|(stored, manifest)| {
                            let signature = self.verify_stored(&stored, &manifest);
                            Ok((self.load_checked(&stored, manifest)?, signature))
                        });
                match loaded {
                    Ok((plugin, signature)) => {
                        self.runtime.persist_compiled(&plugin);
                        if let Err(e) = signature {
                            unsigned.push((name.clone(), version.clone(), e));
                        }
                        changed.push(name.clone());
                        next.push(Arc::new(plugin));
                    }
                    Err(e) => problems.push((name, format!("{name}@{version}: {e}"))),
                }
            }
            if !problems.is_empty() {
                for (name, problem) in &problems {
                    self.set_fault(
                        name,
                        format!("the store's active version does not load on this replica ({problem}); this replica keeps serving its previous set until it does"),
                    );
                }
                self.release_unused();
                return Ok(Followed::Behind(
                    problems.into_iter().map(|(_, problem)| problem).collect(),
                ));
            }
            let swap = self.lock_swaps();
            if !Arc::ptr_eq(&self.active.current(), &serving) {
                continue;
            }
            let set = serving.succeeded_by(next);
            let generation = set.generation();
            self.active.publish(set);
            for name in &changed {
                self.clear_fault(name);
            }
            for (name, version, e) in unsigned {
                self.set_fault_of(
                    Fault::Signature,
                    &name,
                    format!("active version {version} is serving, but its signature no longer holds here: {e}; activate a version signed by a trusted key"),
                );
            }
            drop(swap);
            self.release_unused();
            tracing::info!(generation, changed = ?changed, "plugin set follows the store");
            return Ok(Followed::Swapped { generation });
        }
        Ok(Followed::Behind(vec![
            "the plugin set kept changing here while the store's was read; retrying".into(),
        ]))
    }

    fn lock_swaps(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guard protects no data, only ordering: a panic cannot leave
        // anything half-done behind it.
        self.swap.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads a stored version, read and verified with [`Self::read_stored`].
    fn load_checked(
        &self,
        stored: &StoredPlugin,
        manifest: Manifest,
    ) -> ServiceResult<LoadedPlugin> {
        let manifest = self.with_overrides(manifest)?;
        self.runtime.load(&stored.bytes, manifest).map_err(|e| {
            ServiceError::Conflict(format!(
                "{}@{} does not load: {e}",
                stored.version.name, stored.version.version
            ))
        })
    }

    /// A stored version's signature, verified again against the trusted
    /// keys of the day, over the statement of the bytes and manifest the
    /// store holds now. Returns the signer.
    fn verify_stored(
        &self,
        stored: &StoredPlugin,
        manifest: &Manifest,
    ) -> Result<Option<String>, SignatureError> {
        match (&stored.signature, &stored.version.signer) {
            (Some(json), _) => {
                let sig = signing::parse_signature(json.as_bytes())?;
                let statement = Statement::new(manifest, &stored.manifest, &stored.version.sha256);
                signing::verify(&sig, &statement, &self.trusted).map(Some)
            }
            // A signer with no signature kept: accepted before signatures
            // covered the manifest.
            (None, Some(_)) => Err(SignatureError::OldFormat),
            (None, None) if self.settings.require_signed => Err(SignatureError::Unsigned),
            (None, None) => Ok(None),
        }
    }

    /// Refuses to activate a stored version whose signature no longer
    /// holds; audited, since it may be an attempt to bring back what a
    /// removed key signed.
    fn require_signature(
        &self,
        stored: &StoredPlugin,
        manifest: &Manifest,
        who: &str,
        how: ActivationKind,
    ) -> ServiceResult<()> {
        let (name, version) = (&stored.version.name, &stored.version.version);
        self.verify_stored(stored, manifest).map(|_| ()).map_err(|e| {
            self.exporter.plugin_rejected(Gate::Signature.as_str());
            self.audit_signature_refusal(who, &stored_target(name, version), &e, how.as_str());
            ServiceError::Forbidden(format!(
                "{name}@{version} cannot be activated: its signature does not hold against this server's trusted keys: {e}"
            ))
        })
    }

    fn audit_signature_refusal(&self, who: &str, target: &str, e: &SignatureError, on: &str) {
        // The refusal stands whether or not its audit entry is written.
        if let Err(audit) = self.db.audit_plugin_event(
            who,
            "plugin.signature_refused",
            target.to_string(),
            serde_json::json!({ "reason": e.to_string(), "on": on }),
            Timestamp::now(),
        ) {
            tracing::error!(error = %audit, "cannot audit a signature refusal");
        }
    }

    /// Refuses a downgrade that was not asked for; returns the highest
    /// version ever active when `version` is lower.
    fn check_downgrade(
        &self,
        name: &str,
        version: &str,
        allowed: bool,
    ) -> ServiceResult<Option<String>> {
        let highest =
            crate::domain::registry::downgrade_from(version, &self.db.versions_ever_active(name)?);
        match highest {
            Some(highest) if !allowed => Err(ServiceError::Conflict(format!(
                "{name}@{version} is lower than {highest}, the highest version of `{name}` that has been active: activating it is a downgrade, which takes `?force=true` (`--force`) and is audited as one"
            ))),
            other => Ok(other),
        }
    }

    /// A stored version's bytes, checked against their sha256, and its
    /// manifest. A mismatch is a fault until another version activates.
    fn read_stored(&self, name: &str, version: &str) -> ServiceResult<(StoredPlugin, Manifest)> {
        self.read_stored_as(name, version, true)
    }

    /// [`Self::read_stored`], auditing an integrity failure only if `audit`.
    fn read_stored_as(
        &self,
        name: &str,
        version: &str,
        audit: bool,
    ) -> ServiceResult<(StoredPlugin, Manifest)> {
        let stored = self.db.stored_plugin(name, version)?;
        let actual = sha256_hex(&stored.bytes);
        if actual != stored.version.sha256 {
            let why = format!(
                "the stored bytes of {name}@{version} do not match their sha256 (stored {}, now {actual}): refusing to load them",
                stored.version.sha256
            );
            self.set_fault(name, why.clone());
            if !audit {
                return Err(ServiceError::Conflict(why));
            }
            // The refusal is part of the record; losing its audit entry
            // must not hide the refusal itself.
            if let Err(e) = self.db.audit_plugin_event(
                "regent",
                "plugin.integrity_failed",
                format!("plugin:{name}@{version}"),
                serde_json::json!({ "expected": stored.version.sha256, "actual": actual }),
                Timestamp::now(),
            ) {
                tracing::error!(error = %e, "cannot audit an integrity failure");
            }
            return Err(ServiceError::Conflict(why));
        }
        let manifest = Manifest::parse(&stored.manifest).map_err(|e| {
            ServiceError::Storage(StorageError::Corrupt {
                table: "plugin_versions",
                message: format!("{name}@{version}: manifest: {e}"),
            })
        })?;
        Ok((stored, manifest))
    }

    fn with_overrides(&self, mut manifest: Manifest) -> ServiceResult<Manifest> {
        if let Some(params) = self.overrides.get(&manifest.name) {
            manifest.override_params(params).map_err(|e| {
                ServiceError::BadRequest(format!(
                    "[plugins.{}.params] in the config: {e}",
                    manifest.name
                ))
            })?;
        }
        Ok(manifest)
    }

    /// `PUT /api/plugins/{name}`: the gates, then storage, then (unless
    /// told otherwise) activation.
    pub fn upload(
        &self,
        name: &str,
        candidate: Candidate,
        options: UploadOptions,
        who: &str,
        how: ActivationKind,
    ) -> ServiceResult<UploadOutcome> {
        let started = Instant::now();
        let manifest = Manifest::parse(&candidate.manifest)
            .map_err(|e| ServiceError::BadRequest(format!("manifest: {e}")))?;
        if manifest.name != name {
            return Err(ServiceError::BadRequest(format!(
                "the manifest names the plugin `{}`, but it was uploaded as `{name}`",
                manifest.name
            )));
        }
        let sha256 = sha256_hex(&candidate.wasm);
        if let Some(existing) = self.db.plugin_version(name, &manifest.version)? {
            if existing.status != VersionStatus::Rejected {
                return self.upload_again(
                    existing, &candidate, &manifest, &sha256, options, who, how, started,
                );
            }
        }
        crate::domain::registry::check_semver(&manifest.version)
            .map_err(|e| ServiceError::BadRequest(format!("manifest: {e}")))?;
        let mut version = PluginVersion {
            name: name.to_string(),
            kind: manifest.kind,
            version: manifest.version.clone(),
            sha256,
            size_bytes: candidate.wasm.len() as u64,
            uploaded_at: Timestamp::now(),
            uploaded_by: who.to_string(),
            signer: None,
            status: VersionStatus::Inactive,
            activated_at: None,
            rejection: None,
        };
        let signature = match &candidate.signature {
            Some(bytes) => {
                Some(self.check_signature(bytes, &manifest, &candidate.manifest, &version, who)?)
            }
            None if self.settings.require_signed => {
                return Err(self.refuse_signature(&version, who, &SignatureError::Unsigned))
            }
            None => None,
        };
        version.signer = signature.as_ref().map(|(signer, _)| signer.clone());
        // Before the gates, so a downgrade not asked for costs no shadow run;
        // checked again when it commits.
        if options.activate && !options.dry_run {
            self.check_downgrade(name, &version.version, options.force)?;
        }
        let stored_kind = self.stored_kind(&manifest.name)?;
        // Only after the signature gate: unsigned bytes never cost a compile
        // where signatures are required.
        self.compile_within_bounds(&candidate.wasm)?;
        let signature_gate = GateResult {
            gate: Gate::Signature,
            passed: true,
            elapsed_ms: 0.0,
            detail: match &version.signer {
                Some(signer) => {
                    format!("signed by trusted key `{signer}` (component and manifest)")
                }
                None => "unsigned (signatures are not required)".into(),
            },
        };
        let checked = self.check(
            &candidate.wasm,
            manifest,
            stored_kind,
            vec![signature_gate],
            options.force,
        );
        self.release_unused();
        let checked = match checked {
            Ok(c) => c,
            Err(failure) => {
                self.exporter.plugin_rejected(failure.gate.as_str());
                if !options.dry_run {
                    version.status = VersionStatus::Rejected;
                    version.rejection = Some(format!("{}: {}", failure.gate, failure.message));
                    self.db.record_rejection(
                        &version,
                        &candidate.manifest,
                        failure.gate.as_str(),
                    )?;
                }
                return Err(ServiceError::GateFailed(failure));
            }
        };
        let forced = options.force && !checked.shadow.failures.is_empty();
        let mut outcome = UploadOutcome {
            version: version.clone(),
            dry_run: options.dry_run,
            gates: checked.gates,
            shadow: checked.shadow,
            activation: None,
            elapsed_ms: 0.0,
        };
        if options.dry_run {
            outcome.elapsed_ms = elapsed_ms(started);
            return Ok(outcome);
        }
        self.db.store_plugin_version(
            &version,
            &candidate.manifest,
            &candidate.wasm,
            signature.as_ref().map(|(_, stored)| stored),
            if forced {
                "plugin.upload_forced"
            } else {
                "plugin.upload"
            },
        )?;
        self.runtime.persist_compiled(&checked.plugin);
        if options.activate {
            let activation =
                self.publish(checked.plugin, how, forced, options.force, who, started)?;
            outcome.version.status = VersionStatus::Active;
            outcome.version.activated_at = Some(Timestamp::now());
            outcome.activation = Some(activation);
        }
        outcome.elapsed_ms = elapsed_ms(started);
        Ok(outcome)
    }

    /// Compiles a candidate before the gates, so that a component over a
    /// compile bound is refused as such (413, 422, or 503 when every
    /// compile slot stays busy) rather than as a failed gate. An invalid
    /// component is left to the compile gate to report.
    fn compile_within_bounds(&self, wasm: &[u8]) -> ServiceResult<()> {
        match self.runtime.compile(wasm) {
            Ok(_) | Err(CompileError::Invalid(_)) => Ok(()),
            Err(e @ CompileError::TooLarge { .. }) => {
                self.exporter.plugin_rejected(Gate::Compile.as_str());
                Err(ServiceError::TooLarge(e.to_string()))
            }
            Err(e @ CompileError::TooSlow { .. }) => {
                self.exporter.plugin_rejected(Gate::Compile.as_str());
                Err(ServiceError::OverLimit(e.to_string()))
            }
            Err(e) => Err(ServiceError::Unavailable(e.to_string())),
        }
    }

    /// The same version uploaded again: the same bytes and manifest are a
    /// no-op (or an activation, if asked for); anything else is a conflict,
    /// since a version never changes once stored. A signature that comes
    /// along and verifies is kept with it: how a version signed in the old
    /// format is signed again.
    #[allow(clippy::too_many_arguments)]
    fn upload_again(
        &self,
        existing: PluginVersion,
        candidate: &Candidate,
        manifest: &Manifest,
        sha256: &str,
        options: UploadOptions,
        who: &str,
        how: ActivationKind,
        started: Instant,
    ) -> ServiceResult<UploadOutcome> {
        if existing.sha256 != sha256 {
            return Err(ServiceError::Conflict(format!(
                "{}@{} already exists with other bytes (sha256 {}, uploaded {}); versions are immutable: give the new build a new version",
                existing.name, existing.version, existing.sha256, existing.uploaded_at
            )));
        }
        let stored = self.db.stored_plugin(&existing.name, &existing.version)?;
        if stored.manifest != candidate.manifest {
            return Err(ServiceError::Conflict(format!(
                "{}@{} already exists with another manifest (sha256 {}, this one's {}); versions are immutable, manifest included: give the changed manifest a new version",
                existing.name,
                existing.version,
                sha256_hex(stored.manifest.as_bytes()),
                sha256_hex(candidate.manifest.as_bytes()),
            )));
        }
        let mut outcome = UploadOutcome {
            version: existing.clone(),
            dry_run: options.dry_run,
            gates: Vec::new(),
            shadow: ShadowReport::default(),
            activation: None,
            elapsed_ms: 0.0,
        };
        if let Some(bytes) = &candidate.signature {
            let (signer, signature) =
                self.check_signature(bytes, manifest, &candidate.manifest, &existing, who)?;
            if !options.dry_run && stored.signature.as_deref() != Some(signature.json.as_str()) {
                self.db.set_plugin_signature(
                    &existing.name,
                    &existing.version,
                    &signer,
                    &signature,
                    who,
                    Timestamp::now(),
                )?;
                // Signed again while serving: what kept `/ready` failing is gone.
                let serving = self
                    .active
                    .current()
                    .get(&existing.name)
                    .is_some_and(|p| p.version() == existing.version);
                if serving {
                    self.faults
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&(existing.name.clone(), Fault::Signature));
                }
            }
            outcome.version.signer = Some(signer);
        }
        if options.activate && !options.dry_run && existing.status != VersionStatus::Active {
            let activation =
                self.activate_as(&existing.name, &existing.version, how, options.force, who)?;
            outcome.version.status = VersionStatus::Active;
            outcome.activation = Some(activation);
        }
        outcome.elapsed_ms = elapsed_ms(started);
        Ok(outcome)
    }

    /// Gate 0: who signed it, over this component and this manifest.
    fn check_signature(
        &self,
        signature: &[u8],
        manifest: &Manifest,
        manifest_text: &str,
        version: &PluginVersion,
        who: &str,
    ) -> ServiceResult<(String, StoredSignature)> {
        let statement = Statement::new(manifest, manifest_text, &version.sha256);
        let verified = signing::parse_signature(signature).and_then(|sig| {
            let signer = signing::verify(&sig, &statement, &self.trusted)?;
            Ok((signer, sig))
        });
        match verified {
            Ok((signer, sig)) => Ok((signer, stored_signature(&sig)?)),
            Err(e) => Err(self.refuse_signature(version, who, &e)),
        }
    }

    /// A refused signature: audited, since it may be an attempt to ship an
    /// unreviewed rule.
    fn refuse_signature(
        &self,
        version: &PluginVersion,
        who: &str,
        e: &SignatureError,
    ) -> ServiceError {
        self.exporter.plugin_rejected(Gate::Signature.as_str());
        let audited = self.db.audit_plugin_event(
            who,
            "plugin.signature_refused",
            stored_target(&version.name, &version.version),
            serde_json::json!({ "sha256": version.sha256, "reason": e.to_string() }),
            Timestamp::now(),
        );
        match audited {
            Ok(()) => ServiceError::Forbidden(format!("gate `signature` failed: {e}")),
            Err(audit) => audit.into(),
        }
    }

    /// The kind `name` was stored with, if any version of it is kept. A
    /// store error refuses the caller: skipping the kind gate on an error
    /// would let a name change its kind (fail open).
    fn stored_kind(&self, name: &str) -> ServiceResult<Option<String>> {
        self.db
            .plugin_kind(name)
            .map_err(|source| ServiceError::StoreRead {
                what: format!("the kind of plugin `{name}`'s stored versions"),
                source: source.into(),
            })
    }

    /// Gates 1-5 on a candidate. The component serves with the config's
    /// params overrides; its fixtures run on the params its author wrote.
    fn check(
        &self,
        wasm: &[u8],
        manifest: Manifest,
        stored_kind: Option<String>,
        mut gates: Vec<GateResult>,
        force: bool,
    ) -> Result<Checked, Box<GateFailure>> {
        let fail = |gates: &mut Vec<GateResult>, gate: Gate, message: String, shadow| {
            gates.push(GateResult {
                gate,
                passed: false,
                elapsed_ms: 0.0,
                detail: message.clone(),
            });
            Box::new(GateFailure {
                gate,
                message,
                gates: std::mem::take(gates),
                shadow,
            })
        };
        if let Some(kind) = stored_kind {
            if kind != manifest.kind.world() {
                let message = format!(
                    "`{}` is a {kind} plugin, and this version declares {}: a name keeps its kind, since rules and settings refer to it by name",
                    manifest.name, manifest.kind
                );
                return Err(fail(
                    &mut gates,
                    Gate::World,
                    message,
                    ShadowReport::default(),
                ));
            }
        }
        let started = Instant::now();
        let served = match self.with_overrides(manifest.clone()) {
            Ok(m) => m,
            Err(e) => {
                return Err(fail(
                    &mut gates,
                    Gate::Params,
                    e.to_string(),
                    ShadowReport::default(),
                ))
            }
        };
        let plugin = match self.runtime.load(wasm, served) {
            Ok(p) => p,
            Err(e) => {
                let gate = gate_of(&e);
                // The gates before the failed one passed.
                for earlier in [Gate::Compile, Gate::World, Gate::Describe, Gate::Params] {
                    if earlier == gate {
                        break;
                    }
                    gates.push(passed(earlier, 0.0, "passed".into()));
                }
                return Err(fail(
                    &mut gates,
                    gate,
                    e.to_string(),
                    ShadowReport::default(),
                ));
            }
        };
        let summary = plugin.summary();
        let load_ms = elapsed_ms(started);
        gates.push(passed(
            Gate::Compile,
            summary.compile_ms,
            format!(
                "{} KiB, compiled ({:?})",
                summary_kib(wasm),
                summary.compiled_from
            )
            .to_lowercase(),
        ));
        gates.push(passed(
            Gate::World,
            0.0,
            format!("exports the {} world", manifest.kind),
        ));
        gates.push(passed(
            Gate::Describe,
            0.0,
            format!(
                "describes itself as {} {} {}",
                manifest.kind, manifest.name, manifest.version
            ),
        ));
        gates.push(passed(
            Gate::Params,
            (load_ms - summary.compile_ms).max(0.0),
            "accepts its params".into(),
        ));

        let started = Instant::now();
        if !manifest.fixtures.is_empty() {
            let authored;
            let as_authored = if self.overrides.contains_key(&manifest.name) {
                authored = match self.runtime.load(wasm, manifest.clone()) {
                    Ok(p) => p,
                    Err(e) => {
                        return Err(fail(
                            &mut gates,
                            Gate::Fixtures,
                            e.to_string(),
                            ShadowReport::default(),
                        ))
                    }
                };
                &authored
            } else {
                &plugin
            };
            for (i, fixture) in manifest.fixtures.iter().enumerate() {
                if let Err(e) = run_fixture(&self.runtime, wasm, as_authored, &manifest, fixture) {
                    let message = format!("fixture #{} of {}: {e}", i + 1, manifest.fixtures.len());
                    return Err(fail(
                        &mut gates,
                        Gate::Fixtures,
                        message,
                        ShadowReport::default(),
                    ));
                }
            }
        }
        gates.push(passed(
            Gate::Fixtures,
            elapsed_ms(started),
            match manifest.fixtures.len() {
                0 => "the manifest has no [[fixtures]]".into(),
                n => format!("{n} fixture(s) passed"),
            },
        ));

        let started = Instant::now();
        let current = self.active.current();
        let shadow = match self.shadow_run(&plugin, current.get(&manifest.name).map(|p| p.as_ref()))
        {
            Ok(report) => report,
            Err(e) => {
                return Err(fail(
                    &mut gates,
                    Gate::Shadow,
                    e.to_string(),
                    ShadowReport::default(),
                ))
            }
        };
        if !shadow.failures.is_empty() && !force {
            let first = &shadow.failures[0];
            let message = format!(
                "failed on {} of {} recorded inputs (first: {} recorded {}: {}); `?force=true` activates it anyway",
                shadow.failures.len(),
                shadow.inputs,
                first.input,
                first.recorded_at,
                first.error
            );
            return Err(fail(&mut gates, Gate::Shadow, message, shadow));
        }
        gates.push(passed(
            Gate::Shadow,
            elapsed_ms(started),
            format!(
                "{} recorded inputs: {} identical, {} different, {} failed{}",
                shadow.inputs,
                shadow.identical,
                shadow.differences.len(),
                shadow.failures.len(),
                if shadow.failures.is_empty() {
                    ""
                } else {
                    " (forced)"
                }
            ),
        ));
        Ok(Checked {
            plugin,
            gates,
            shadow,
        })
    }

    /// `POST /api/plugins/{name}/activate`: a stored version, through the
    /// gates again (the inputs and the active version may have changed
    /// since its upload), then live.
    pub fn activate(
        &self,
        name: &str,
        version: &str,
        force: bool,
        who: &str,
    ) -> ServiceResult<Activation> {
        self.activate_as(name, version, ActivationKind::Activate, force, who)
    }

    fn activate_as(
        &self,
        name: &str,
        version: &str,
        how: ActivationKind,
        force: bool,
        who: &str,
    ) -> ServiceResult<Activation> {
        let started = Instant::now();
        let current = self.active.current();
        if current.get(name).is_some_and(|p| p.version() == version) {
            return Err(ServiceError::Conflict(format!(
                "{name}@{version} is already active"
            )));
        }
        drop(current);
        let (stored, manifest) = self.read_stored(name, version)?;
        self.require_signature(&stored, &manifest, who, how)?;
        self.check_downgrade(name, version, force)?;
        let stored_kind = self.stored_kind(&manifest.name)?;
        let checked = self.check(&stored.bytes, manifest, stored_kind, Vec::new(), force);
        self.release_unused();
        let checked = checked.map_err(|failure| {
            self.exporter.plugin_rejected(failure.gate.as_str());
            ServiceError::GateFailed(failure)
        })?;
        let forced = force && !checked.shadow.failures.is_empty();
        self.publish(checked.plugin, how, forced, force, who, started)
    }

    /// `POST /api/plugins/{name}/rollback`: back to the version that was
    /// active before the current one. It served until the last swap, so
    /// only its bytes and its signature are checked: a rollback must not be
    /// held up by a shadow run when the new version is misbehaving. Going
    /// back is what a rollback is for, so a lower version needs no `force`;
    /// it is audited as a downgrade all the same.
    pub fn rollback(&self, name: &str, who: &str) -> ServiceResult<Activation> {
        let started = Instant::now();
        let target = self.db.rollback_target(name)?.ok_or_else(|| {
            ServiceError::Conflict(format!(
                "`{name}` has no earlier active version to roll back to"
            ))
        })?;
        let (stored, manifest) = self.read_stored(name, &target)?;
        self.require_signature(&stored, &manifest, who, ActivationKind::Rollback)?;
        let plugin = self.load_checked(&stored, manifest)?;
        self.publish(plugin, ActivationKind::Rollback, false, true, who, started)
    }

    /// Deletes an inactive version.
    pub fn delete(&self, name: &str, version: &str, who: &str) -> ServiceResult<PluginVersion> {
        Ok(self
            .db
            .delete_plugin_version(name, version, who, Timestamp::now())?)
    }

    /// Commits the activation, then publishes the next set. A crash in
    /// between leaves the store ahead, and a restart loads what it says.
    /// Whether it is a downgrade is decided here, under the swap lock, so
    /// two activations racing cannot both pass an earlier check.
    fn publish(
        &self,
        plugin: LoadedPlugin,
        how: ActivationKind,
        forced: bool,
        allow_downgrade: bool,
        who: &str,
        started: Instant,
    ) -> ServiceResult<Activation> {
        let (name, version) = (plugin.name().to_string(), plugin.version().to_string());
        self.runtime.persist_compiled(&plugin);
        let _swap = self.lock_swaps();
        let downgrade_from = self.check_downgrade(&name, &version, allow_downgrade)?;
        let previous = self.db.activate_plugin_version(
            &name,
            &version,
            how,
            forced,
            downgrade_from.as_deref(),
            who,
            Timestamp::now(),
        )?;
        let next = self.active.current().with(Arc::new(plugin));
        let generation = next.generation();
        self.active.publish(next);
        let elapsed = started.elapsed();
        self.exporter.plugin_swapped(&name, elapsed);
        self.clear_fault(&name);
        drop(_swap);
        self.release_unused();
        tracing::info!(plugin = %name, %version, previous = ?previous, how = how.as_str(), forced, generation, elapsed_ms = format!("{:.1}", elapsed.as_secs_f64() * 1e3), "plugin version active");
        Ok(Activation {
            name,
            version,
            previous,
            how,
            forced,
            generation,
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
            downgrade_from,
        })
    }

    fn release_unused(&self) {
        self.runtime.release_compiled_except(&self.active.current());
    }
}

fn stored_target(name: &str, version: &str) -> String {
    format!("plugin:{name}@{version}")
}

/// A verified signature as it is kept: re-serialized, so the stored JSON
/// is the parsed file's fields and nothing else.
fn stored_signature(sig: &SignatureFile) -> ServiceResult<StoredSignature> {
    let json = serde_json::to_string(sig)
        .map_err(|e| ServiceError::BadRequest(format!("signature: {e}")))?;
    Ok(StoredSignature {
        json,
        public_key: sig.public_key.clone(),
    })
}

fn passed(gate: Gate, elapsed_ms: f64, detail: String) -> GateResult {
    GateResult {
        gate,
        passed: true,
        elapsed_ms,
        detail,
    }
}

fn summary_kib(wasm: &[u8]) -> usize {
    wasm.len().div_ceil(1024)
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Which gate a load failure belongs to.
fn gate_of(e: &LoadError) -> Gate {
    match e {
        LoadError::Compile { .. } => Gate::Compile,
        LoadError::WorldMismatch { .. }
        | LoadError::PackageVersion { .. }
        | LoadError::Other { .. } => Gate::World,
        LoadError::Describe { .. } | LoadError::DescribeMismatch { .. } => Gate::Describe,
        LoadError::InvalidParams { .. } => Gate::Params,
        _ => Gate::Compile,
    }
}
