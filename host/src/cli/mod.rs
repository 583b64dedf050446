//! The `regent` command line.

mod plugin;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ServeConfig;

#[derive(Parser)]
#[command(
    name = "regent",
    version,
    about = "Regent: a governance host for autonomous operations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (127.0.0.1:4007 unless HOST/PORT say otherwise).
    Serve {
        /// Directory of `<name>.wasm` + `<name>.toml` plugins.
        #[arg(long, env = "REGENT_PLUGINS_DIR", default_value = "target/plugins")]
        plugins_dir: PathBuf,
        /// Where precompiled plugins are cached between runs.
        #[arg(long, env = "REGENT_CACHE_DIR", default_value = "var/cache")]
        cache_dir: PathBuf,
        /// The SQLite file that records evaluations.
        #[arg(long, env = "GOVERNANCE_DB_PATH", default_value = "var/regent.db")]
        db: PathBuf,
    },
    /// Build, test and scaffold plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Build plugin crates (or componentize wasm32 core modules) into components.
    Build {
        /// Plugin crate directories, or `.wasm` core modules built with wit-bindgen.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write `<name>.wasm` (and copy `<name>.toml`); default `<crate>/dist`.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Run a plugin's fixtures (`<dir>/fixtures/*.json`) against its built component.
    Test {
        /// The plugin crate directory (holding `<name>.toml` and `fixtures/`).
        dir: PathBuf,
        /// The component; default `<dir>/dist/<name>.wasm`, then `target/plugins/<name>.wasm`, then `target/plugins/items/<name>.wasm`.
        #[arg(long)]
        wasm: Option<PathBuf>,
    },
    /// Create a plugin crate that builds and tests as generated.
    New {
        /// checklist-item, breaker-condition, risk-scorer or task-matcher.
        kind: String,
        /// The plugin's name (a-z, 0-9, `-`).
        name: String,
        /// Parent directory of the new crate.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Path to Regent's `sdk` directory, for the crate's dependency.
        #[arg(long, env = "REGENT_SDK_PATH")]
        sdk: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let result = match cli.command {
        Command::Serve {
            plugins_dir,
            cache_dir,
            db,
        } => match ServeConfig::from_env(plugins_dir, cache_dir, db) {
            Ok(config) => crate::startup::serve_blocking(config),
            Err(e) => Err(e),
        },
        Command::Plugin(PluginCommand::Build { inputs, out_dir }) => {
            plugin::build(&inputs, out_dir.as_deref())
        }
        Command::Plugin(PluginCommand::Test { dir, wasm }) => plugin::test(&dir, wasm.as_deref()),
        Command::Plugin(PluginCommand::New {
            kind,
            name,
            path,
            sdk,
        }) => scaffold::new_plugin(&kind, &name, &path, sdk.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
