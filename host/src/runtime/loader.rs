//! Loading plugins: compile (cached), check the component against its
//! kind's world, pre-instantiate, then ask it who it is and whether it
//! accepts its params. Everything that can be wrong with a plugin is found
//! here, off the request path.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

use super::cache::{sha256_hex, CompileError};
use super::error::LoadError;
use super::kinds;
use super::manifest::Manifest;
use super::plugin::{BundledItem, LoadedPlugin, PluginSummary};
use super::{convert, PluginRuntime};
use crate::domain::readiness::ContextScope;
use crate::domain::{PluginKind, Timestamp};

/// The only non-WASI interface a plugin may import.
const LOG_INTERFACE: &str = "regent:policy/log@0.1.0";
/// Holds only type definitions; importing it grants nothing.
pub(crate) const TYPES_INTERFACE: &str = "regent:policy/types@0.1.0";

impl PluginRuntime {
    /// Loads every `<name>.toml` + `<name>.wasm` pair in `dir`. A plugin
    /// that fails to load is reported and skipped; the others still load.
    pub fn load_dir(&self, dir: &Path) -> Result<(Vec<LoadedPlugin>, Vec<LoadError>), LoadError> {
        self.load_dir_with(dir, &Default::default())
    }

    /// As [`Self::load_dir`], with params overridden per plugin name.
    pub fn load_dir_with(
        &self,
        dir: &Path,
        overrides: &std::collections::BTreeMap<String, toml::Table>,
    ) -> Result<(Vec<LoadedPlugin>, Vec<LoadError>), LoadError> {
        let io = |error| LoadError::Io {
            path: dir.to_path_buf(),
            error,
        };
        let (mut loaded, mut failed) = (Vec::new(), Vec::new());
        let mut manifests = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            // An entry that cannot be read is reported, not skipped unseen.
            match entry {
                Ok(entry) => manifests.push(entry.path()),
                Err(error) => failed.push(io(error)),
            }
        }
        manifests.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        manifests.sort();
        for manifest_path in manifests {
            match self.load_file_with(&manifest_path, overrides) {
                Ok(plugin) => loaded.push(plugin),
                Err(e) => failed.push(e),
            }
        }
        Ok((loaded, failed))
    }

    /// Loads `<name>.toml` and the `<name>.wasm` beside it.
    pub fn load_file(&self, manifest_path: &Path) -> Result<LoadedPlugin, LoadError> {
        self.load_file_with(manifest_path, &Default::default())
    }

    fn load_file_with(
        &self,
        manifest_path: &Path,
        overrides: &std::collections::BTreeMap<String, toml::Table>,
    ) -> Result<LoadedPlugin, LoadError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| LoadError::Io {
                path: path.to_path_buf(),
                error,
            })
        };
        let text = String::from_utf8(read(manifest_path)?).map_err(|_| LoadError::Manifest {
            path: manifest_path.to_path_buf(),
            message: "is not UTF-8".into(),
        })?;
        let mut manifest = Manifest::parse(&text).map_err(|error| LoadError::ManifestInvalid {
            path: manifest_path.to_path_buf(),
            error: Box::new(error),
        })?;
        if let Some(params) = overrides.get(&manifest.name) {
            manifest
                .override_params(params)
                .map_err(|error| LoadError::ManifestInvalid {
                    path: manifest_path.to_path_buf(),
                    error: Box::new(error),
                })?;
        }
        let stem = manifest_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != manifest.name {
            return Err(LoadError::Manifest {
                path: manifest_path.to_path_buf(),
                message: format!(
                    "names the plugin `{}`, but the file is `{stem}.toml`",
                    manifest.name
                ),
            });
        }
        let wasm = read(&manifest_path.with_extension("wasm"))?;
        self.load(&wasm, manifest)
    }

    /// Loads one plugin from its component bytes and manifest.
    pub fn load(&self, wasm: &[u8], manifest: Manifest) -> Result<LoadedPlugin, LoadError> {
        let name = manifest.name.clone();
        let started = Instant::now();
        let sha256 = sha256_hex(wasm);
        let (component, compiled_from) = self
            .cache
            .get_or_compile(&self.engine, &sha256, wasm)
            .map_err(|e| match e {
                CompileError::Invalid(message) => LoadError::Compile {
                    plugin: name.clone(),
                    message,
                },
                error => LoadError::CompileRefused {
                    plugin: name.clone(),
                    error,
                },
            })?;
        let compile_ms = started.elapsed().as_secs_f64() * 1e3;

        check_exports(&self.engine, &component, manifest.kind, &name)?;
        let uses_wasi = check_imports(&self.engine, &component, &name)?;
        let linker = if uses_wasi {
            &self.wasi_linker
        } else {
            &self.linker
        };
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Other {
                plugin: name.clone(),
                message: format!("cannot link: {e:#}"),
            })?;
        let mismatch = |e: wasmtime::Error| LoadError::WorldMismatch {
            plugin: name.clone(),
            world: manifest.kind.world(),
            message: format!("{e:#}"),
        };
        let (plugin_name, plugin_version) = (
            Arc::<str>::from(manifest.name.as_str()),
            Arc::<str>::from(manifest.version.as_str()),
        );
        let mut scratch = self.store(&plugin_name, &plugin_version, manifest.limits);
        let prepared = kinds::of(manifest.kind)
            .prepare(&instance_pre, &mut scratch)
            .map_err(mismatch)?;

        let mut plugin = LoadedPlugin {
            info: PluginSummary {
                name: manifest.name.clone(),
                kind: manifest.kind,
                version: manifest.version.clone(),
                summary: String::new(),
                sha256,
                loaded_at: Timestamp::now(),
                item: None,
                reads: None,
                items: Vec::new(),
                timeout_ms: manifest.limits.timeout.as_millis() as u64,
                memory_limit_bytes: manifest.limits.memory_bytes,
                uses_wasi,
                compiled_from,
                compile_ms,
            },
            params_json: manifest.params_json.clone(),
            limits: manifest.limits,
            name: plugin_name,
            version: plugin_version,
            instance_pre,
            prepared,
        };
        self.check_description(&mut plugin, &manifest)?;
        self.configure(&mut plugin)?;
        Ok(plugin)
    }

    /// Asks the plugin who it is; it must agree with its manifest.
    fn check_description(
        &self,
        plugin: &mut LoadedPlugin,
        manifest: &Manifest,
    ) -> Result<(), LoadError> {
        let describe_error = |error| LoadError::Describe {
            plugin: manifest.name.clone(),
            error,
        };
        let description = plugin
            .prepared
            .describe(self, plugin)
            .map_err(describe_error)?;
        let info = description.plugin;
        let mut wrong = Vec::new();
        if info.name != manifest.name {
            wrong.push(format!(
                "name is `{}`, the manifest says `{}`",
                info.name, manifest.name
            ));
        }
        if info.version != manifest.version {
            wrong.push(format!(
                "version is `{}`, the manifest says `{}`",
                info.version, manifest.version
            ));
        }
        if convert::kind(info.kind) != manifest.kind {
            wrong.push(format!(
                "kind is `{}`, the manifest says `{}`",
                convert::kind(info.kind),
                manifest.kind
            ));
        }
        wrong.extend(description.problems);
        if !wrong.is_empty() {
            return Err(LoadError::DescribeMismatch {
                plugin: manifest.name.clone(),
                message: wrong.join("; "),
            });
        }
        plugin.info.summary = convert::capped_text(info.summary).0;
        plugin.info.item = description.item;
        plugin.info.items = description
            .items
            .into_iter()
            .map(|item| BundledItem {
                item,
                reads: ContextScope::everything(),
                params_json: "{}".to_string(),
            })
            .collect();
        Ok(())
    }

    /// Lets the plugin refuse its manifest's params now rather than fail
    /// every evaluation later, and keeps what it reads with them.
    fn configure(&self, plugin: &mut LoadedPlugin) -> Result<(), LoadError> {
        let configuration = plugin.prepared.configure(self, plugin)?;
        if configuration.reads.is_some() {
            plugin.info.reads = configuration.reads;
        }
        if let Some(items) = configuration.items {
            plugin.info.items = items;
        }
        Ok(())
    }
}

/// Compares the component's exported functions with the world's, so that
/// the author reads "missing export `evaluate`" rather than a type error.
fn check_exports(
    engine: &wasmtime::Engine,
    component: &Component,
    kind: PluginKind,
    plugin: &str,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports = |kind: PluginKind| kinds::of(kind).exports();
    let exported: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let missing: Vec<&str> = exports(kind)
        .iter()
        .copied()
        .filter(|f| !exported.contains(f))
        .collect();
    let not_functions: Vec<&str> = exports(kind)
        .iter()
        .copied()
        .filter(|f| matches!(ty.get_export(engine, f), Some(item) if !matches!(item.ty, ComponentItem::ComponentFunc(_))))
        .collect();
    if missing.is_empty() && not_functions.is_empty() {
        return Ok(());
    }
    let mut message = Vec::new();
    if !missing.is_empty() {
        message.push(format!(
            "missing export{} `{}`",
            if missing.len() > 1 { "s" } else { "" },
            missing.join("`, `")
        ));
    }
    if !not_functions.is_empty() {
        message.push(format!(
            "`{}` must be a function",
            not_functions.join("`, `")
        ));
    }
    message.push(format!(
        "the world exports {}; the component exports {}",
        quoted(exports(kind)),
        if exported.is_empty() {
            "nothing".to_string()
        } else {
            quoted(&exported)
        }
    ));
    if let Some(other) = PluginKind::ALL
        .into_iter()
        .find(|k| *k != kind && exports(*k).iter().all(|f| exported.contains(f)))
    {
        message.push(format!("it looks like a `{other}` plugin"));
    }
    Err(LoadError::WorldMismatch {
        plugin: plugin.to_string(),
        world: kind.world(),
        message: message.join("; "),
    })
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plugins may import the host's log and, from other toolchains, WASI.
/// Returns whether WASI is imported. Anything else is refused by name.
fn check_imports(
    engine: &wasmtime::Engine,
    component: &Component,
    plugin: &str,
) -> Result<bool, LoadError> {
    let mut uses_wasi = false;
    for (name, _) in component.component_type().imports(engine) {
        if name.starts_with("wasi:") {
            uses_wasi = true;
        } else if name != LOG_INTERFACE && name != TYPES_INTERFACE {
            return Err(LoadError::Other {
                plugin: plugin.to_string(),
                message: format!("imports `{name}`, which Regent does not provide (a plugin may import only `{LOG_INTERFACE}` and WASI)"),
            });
        }
    }
    Ok(uses_wasi)
}
