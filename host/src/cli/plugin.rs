//! `regent plugin build` and `regent plugin test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::evaluation::{self, Fixture};
use crate::runtime::{componentize, Manifest, PluginRuntime, RuntimeConfig};

const TARGET: &str = "wasm32-unknown-unknown";
/// A 64 KiB shadow stack instead of rustc's 1 MiB default: plugins are
/// shallow, and every page the guest touches is a page the host resets.
const GUEST_RUSTFLAGS: &str = "-C link-arg=-zstack-size=65536";

pub fn build(inputs: &[PathBuf], out_dir: Option<&Path>) -> Result<()> {
    for input in inputs {
        if input.is_dir() {
            build_crate(input, out_dir)?;
        } else {
            let module =
                std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
            let component = componentize::componentize(&module)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            let name = input
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plugin")
                .replace('_', "-");
            let dir = out_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| input.with_file_name(""));
            write_component(&dir, &name, &component, None)?;
        }
    }
    Ok(())
}

fn build_crate(dir: &Path, out_dir: Option<&Path>) -> Result<()> {
    let manifest_path = plugin_manifest(dir)?;
    let manifest = Manifest::parse(&std::fs::read_to_string(&manifest_path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", manifest_path.display()))?;
    let target_dir = cargo_target_dir(dir)?.join("wasm");
    let mut cargo = wasm_cargo()?;
    cargo
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            GUEST_RUSTFLAGS,
        )
        // A crate inside Regent's workspace gets the workspace's release
        // profile, which is the host's (panic=unwind); a plugin must abort
        // so a panic traps, as the `plugin` profile builds the built-ins.
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of {} failed", dir.display());
    }
    let module_path = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", manifest.name.replace('-', "_")));
    let module = std::fs::read(&module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    let component = componentize::componentize(&module)
        .map_err(|e| anyhow::anyhow!("{}: {e}", module_path.display()))?;
    let out = out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("dist"));
    write_component(&out, &manifest.name, &component, Some(&manifest_path))
}

fn write_component(
    dir: &Path,
    name: &str,
    component: &[u8],
    manifest: Option<&Path>,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.wasm"));
    // Write then rename, so a watcher never sees half a component.
    let tmp = dir.join(format!(".{name}.wasm.tmp"));
    std::fs::write(&tmp, component)?;
    std::fs::rename(&tmp, &path)?;
    if let Some(manifest) = manifest {
        let tmp = dir.join(format!(".{name}.toml.tmp"));
        std::fs::copy(manifest, &tmp)?;
        std::fs::rename(&tmp, dir.join(format!("{name}.toml")))?;
    }
    println!(
        "built {} ({} KiB)",
        path.display(),
        component.len().div_ceil(1024)
    );
    Ok(())
}

/// The plugin's manifest: the one `.toml` in its crate that is not Cargo's.
fn plugin_manifest(dir: &Path) -> Result<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "toml")
                && p.file_name().is_some_and(|n| n != "Cargo.toml")
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "{} has no plugin manifest (`<name>.toml` beside Cargo.toml)",
            dir.display()
        ),
        _ => bail!(
            "{} has several plugin manifests; expected one `<name>.toml`",
            dir.display()
        ),
    }
}

fn cargo_target_dir(dir: &Path) -> Result<PathBuf> {
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let out = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice::<Metadata>(&out.stdout)?.target_directory)
}

/// Cargo for wasm32: rustup's when it has (or can add) the target;
/// otherwise Debian's `rustc-web` toolchain, building std from source.
fn wasm_cargo() -> Result<Command> {
    let has_target = |cmd: &mut Command| {
        cmd.output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(TARGET))
    };
    if has_target(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or(false)
        || Command::new("rustup")
            .args(["target", "add", TARGET])
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Ok(Command::new("cargo"));
    }
    let debian_std = Path::new("/usr/lib/rustlib/src/rust/library");
    if Path::new("/usr/bin/cargo").exists()
        && Path::new("/usr/bin/rustc").exists()
        && debian_std.exists()
    {
        let mut cargo = Command::new("/usr/bin/cargo");
        cargo
            .env("RUSTC", "/usr/bin/rustc")
            .env("RUSTC_BOOTSTRAP", "1")
            .env_remove("RUSTUP_TOOLCHAIN")
            .arg("-Zbuild-std=std,panic_abort");
        return Ok(cargo);
    }
    bail!(
        "no wasm32 toolchain: `rustup target add {TARGET}` failed, and Debian's fallback is not installed \
         (run `sudo apt-get install rustc-web cargo-web rust-web-src lld-22`)"
    )
}

pub fn test(dir: &Path, wasm: Option<&Path>) -> Result<()> {
    let manifest_path = plugin_manifest(dir)?;
    let manifest = Manifest::parse(&std::fs::read_to_string(&manifest_path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", manifest_path.display()))?;
    let wasm_path = match wasm {
        Some(p) => p.to_path_buf(),
        None => [
            dir.join("dist"),
            PathBuf::from("target/plugins"),
            PathBuf::from("target/plugins/items"),
        ]
        .into_iter()
        .map(|d| d.join(format!("{}.wasm", manifest.name)))
        .find(|p| p.exists())
        .with_context(|| {
            format!(
                "no built component for `{}`; run `regent plugin build {}` first",
                manifest.name,
                dir.display()
            )
        })?,
    };
    let bytes = std::fs::read(&wasm_path)
        .with_context(|| format!("cannot read {}", wasm_path.display()))?;
    // The manifest's own `[[fixtures]]` run too: they gate activation.
    let fixtures_dir = dir.join("fixtures");
    if !fixtures_dir.is_dir() && manifest.fixtures.is_empty() {
        bail!(
            "{} has no fixtures/ directory and its manifest no [[fixtures]]",
            dir.display()
        );
    }
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&fixtures_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    fixtures.sort();
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, outcome: Result<()>| match outcome {
        Ok(()) => {
            passed += 1;
            println!("ok      {name}");
        }
        Err(e) => {
            failed += 1;
            println!("FAILED  {name}: {e:#}");
        }
    };
    for path in &fixtures {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        report(name, run_fixture(&runtime, &bytes, &manifest, path));
    }
    if !manifest.fixtures.is_empty() {
        let plugin = runtime.load(&bytes, manifest.clone())?;
        for (i, fixture) in manifest.fixtures.iter().enumerate() {
            let outcome = evaluation::run_fixture(&runtime, &bytes, &plugin, &manifest, fixture)
                .map_err(anyhow::Error::msg);
            report(&format!("[[fixtures]] #{}", i + 1), outcome);
        }
    }
    println!(
        "{}: {passed} passed, {failed} failed ({})",
        manifest.name,
        wasm_path.display()
    );
    if failed > 0 || passed == 0 {
        bail!(
            "{} fixture(s) failed{}",
            failed,
            if passed == 0 { ", and none passed" } else { "" }
        );
    }
    Ok(())
}

fn run_fixture(
    runtime: &PluginRuntime,
    wasm: &[u8],
    manifest: &Manifest,
    path: &Path,
) -> Result<()> {
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let plugin = runtime.load(wasm, manifest.clone())?;
    evaluation::run_fixture(runtime, wasm, &plugin, manifest, &fixture).map_err(anyhow::Error::msg)
}
