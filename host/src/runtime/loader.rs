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

/// The version of the `regent:policy` WIT package (`wit/`) this host
/// serves, and the SDK builds against.
pub const PACKAGE_VERSION: &str = "0.2.0";
/// Earlier versions whose components this host still loads (their WIT is
/// kept in `wit/archive/`). Only `breaker-condition`'s input changed since
/// 0.1.0, and that world has bindings of its own for it; the other worlds'
/// types are the same, and component types are checked structurally.
pub const EARLIER_PACKAGE_VERSIONS: &[&str] = &["0.1.0"];

/// The only non-WASI interface a plugin may import.
const LOG_INTERFACE: &str = "regent:policy/log@0.2.0";
/// Holds only type definitions; importing it grants nothing.
pub(crate) const TYPES_INTERFACE: &str = "regent:policy/types@0.2.0";
/// The same two interfaces as 0.1.0 named them, for components built
/// against it: `log` is unchanged, and `types` still grants nothing.
pub(crate) const LOG_INTERFACE_0_1: &str = "regent:policy/log@0.1.0";
pub(crate) const TYPES_INTERFACE_0_1: &str = "regent:policy/types@0.1.0";

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

        // Imports first: a component built against a version this host
        // does not serve is told so, rather than what its exports lack.
        let Imports {
            uses_wasi,
            package_version: imported_version,
        } = check_imports(&self.engine, &component, &name)?;
        check_exports(&self.engine, &component, manifest.kind, &name)?;
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
        // Its world's types, where they tell versions apart, say which
        // package it was built against; otherwise its imports' names do (a
        // plugin that never logs has none).
        let wit_package = match (prepared.package_version(), imported_version) {
            (Some(typed), Some(imported)) if typed != imported => {
                return Err(LoadError::WorldMismatch {
                    plugin: name.clone(),
                    world: manifest.kind.world(),
                    message: format!(
                        "it imports `regent:policy@{imported}` but its exports have the types of `regent:policy@{typed}`"
                    ),
                });
            }
            (Some(typed), _) => Some(typed.to_string()),
            (None, imported) => imported,
        };
        if let Some(version) = wit_package.as_deref().filter(|v| *v != PACKAGE_VERSION) {
            tracing::warn!(
                plugin = %name,
                "built against regent:policy@{version}, an earlier version this host still loads (it serves {PACKAGE_VERSION}); rebuild it with this host's SDK to see what {PACKAGE_VERSION} added"
            );
        }

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
                wit_package,
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

/// What a component's imports say about it.
struct Imports {
    uses_wasi: bool,
    /// The `regent:policy` version its imports name, if they name one.
    package_version: Option<String>,
}

/// Plugins may import the host's log and types (of the package version
/// this host serves or an earlier one it still loads) and, from other
/// toolchains, WASI. Anything else is refused by name; a `regent:policy`
/// version the host does not serve is refused as such, saying how to
/// rebuild.
fn check_imports(
    engine: &wasmtime::Engine,
    component: &Component,
    plugin: &str,
) -> Result<Imports, LoadError> {
    let mut imports = Imports {
        uses_wasi: false,
        package_version: None,
    };
    for (name, _) in component.component_type().imports(engine) {
        if name.starts_with("wasi:") {
            imports.uses_wasi = true;
            continue;
        }
        let version = match name.split_once('@') {
            Some((interface, version)) if interface.starts_with("regent:policy/") => version,
            _ => {
                return Err(LoadError::Other {
                    plugin: plugin.to_string(),
                    message: format!("imports `{name}`, which Regent does not provide (a plugin may import only `{LOG_INTERFACE}` and WASI)"),
                })
            }
        };
        let served = version == PACKAGE_VERSION || EARLIER_PACKAGE_VERSIONS.contains(&version);
        if !served {
            return Err(LoadError::PackageVersion {
                plugin: plugin.to_string(),
                built_for: version.to_string(),
                serves: PACKAGE_VERSION,
                also: EARLIER_PACKAGE_VERSIONS.join(", "),
            });
        }
        if ![
            LOG_INTERFACE,
            TYPES_INTERFACE,
            LOG_INTERFACE_0_1,
            TYPES_INTERFACE_0_1,
        ]
        .contains(&name)
        {
            return Err(LoadError::Other {
                plugin: plugin.to_string(),
                message: format!("imports `{name}`, which Regent does not provide (a plugin may import only `{LOG_INTERFACE}` and WASI)"),
            });
        }
        match &imports.package_version {
            Some(seen) if seen != version => {
                return Err(LoadError::Other {
                    plugin: plugin.to_string(),
                    message: format!(
                        "imports both `regent:policy@{seen}` and `regent:policy@{version}`: a component is built against one version"
                    ),
                })
            }
            _ => imports.package_version = Some(version.to_string()),
        }
    }
    Ok(imports)
}
