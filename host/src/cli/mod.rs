//! The `regent` command line.

mod audit;
mod keys;
mod plugin;
mod plugins_remote;
mod remote;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ServeConfig, ServeFlags};

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
    ///
    /// Each setting comes from its flag, else its environment variable, else
    /// the config file, else its default.
    Serve {
        /// Directory of `<name>.wasm` + `<name>.toml` plugins
        /// (else REGENT_PLUGINS_DIR, else target/plugins).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        /// Where precompiled plugins are cached between runs
        /// (else REGENT_CACHE_DIR, else var/cache).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// The SQLite file (else GOVERNANCE_DB_PATH, else the file's
        /// governance_db_path, else var/regent.db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// PostgreSQL instead of the SQLite file, for replicas sharing one
        /// database: `postgres://user@host:5432/regent` (else
        /// REGENT_DATABASE_URL, else the file's database_url).
        #[arg(long)]
        database_url: Option<String>,
        /// A TOML config file; flags and the environment win over it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run the governance cycle on its own: `7d`, or a cron expression
        /// (`sec min hour day month weekday`, e.g. `0 0 17 * * Fri`);
        /// else the file's cycle_every.
        #[arg(long)]
        cycle_every: Option<String>,
        /// Pick up new or changed `<name>.wasm` + `<name>.toml` in
        /// --plugins-dir while running (write each file under another name,
        /// then rename it into place).
        #[arg(long)]
        watch: bool,
    },
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Build, test, sign and scaffold plugins; push, list, activate and roll
    /// back their versions on a running server (REGENT_URL, REGENT_TOKEN).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Emergency stop: deny every autonomous action now (REGENT_URL,
    /// REGENT_TOKEN with the operator role).
    Stop {
        /// Why; recorded in the audit log.
        #[arg(long, short)]
        reason: String,
    },
    /// Lift the emergency stop.
    Resume {
        #[arg(long, short)]
        reason: String,
    },
    /// Whether the emergency stop is on, since when, by whom and why.
    Status,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walks the hash chain; fails if a row was edited or deleted.
    ///
    /// With --checkpoints, also checks the log against the server's signed
    /// checkpoints: a tail rewritten (hashes and all), deleted or truncated
    /// behind a checkpoint is reported.
    Verify {
        /// The SQLite file (else GOVERNANCE_DB_PATH, else the config file's
        /// governance_db_path, else var/regent.db), as for `serve`.
        #[arg(long)]
        db: Option<PathBuf>,
        /// The server's TOML config file, for its governance_db_path.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The checkpoint file (`[audit] checkpoint_file`).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// The checkpoint key's public half, base64 (repeat after a rotation).
        #[arg(long, requires = "checkpoints")]
        public_key: Vec<String>,
        /// Or the secret key file itself, to derive it from.
        #[arg(long, requires = "checkpoints")]
        key_file: Vec<PathBuf>,
    },
    /// Make the ed25519 key that signs audit checkpoints.
    ///
    /// Prints its public key and the server config that uses it.
    Keygen {
        /// Where to write the secret key (created readable by you only).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing key file.
        #[arg(long)]
        force: bool,
    },
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
        /// Path to Regent's `sdk` directory, for the crate's dependency
        /// (else REGENT_SDK_PATH).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Upload a plugin version to a running server (an admin's REGENT_TOKEN).
    ///
    /// Sent to REGENT_URL (default http://127.0.0.1:4007). It passes the gates (signature, compile, world,
    /// describe, params, fixtures, shadow run on recorded inputs) or is
    /// refused with the gate that failed; the active version keeps serving.
    Push {
        /// The component (`<name>.wasm`). `<file>.wasm.sig`, if it exists
        /// beside it, is sent as its signature.
        wasm: PathBuf,
        /// Its manifest (`<name>.toml`); its `name` says which plugin this is.
        #[arg(long)]
        manifest: PathBuf,
        /// The signature from `regent plugin sign` (default
        /// `<file>.wasm.sig` when it exists).
        #[arg(long, conflicts_with = "key")]
        signature: Option<PathBuf>,
        /// Sign what is sent (component and manifest) with this secret key
        /// file, instead of sending a signature file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Store it without making it active (`regent plugin activate` later).
        #[arg(long)]
        no_activate: bool,
        /// Run every gate and the shadow run, but store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Activate it even though it fails on some recorded inputs, or is
        /// lower than a version that was active (both audited).
        #[arg(long)]
        force: bool,
    },
    /// The active plugins, or a plugin's stored versions (any REGENT_TOKEN).
    ///
    /// Without a name: each active plugin's kind, version and sha256. With
    /// one: every stored version of it, newest first, the active one marked
    /// `*`, rejected ones with the reason. Asks REGENT_URL (default
    /// http://127.0.0.1:4007).
    List {
        /// A plugin name: list its versions.
        name: Option<String>,
    },
    /// Make a stored version active (an admin's REGENT_TOKEN).
    ///
    /// The gates run again on today's recorded inputs first. Asks REGENT_URL
    /// (default http://127.0.0.1:4007).
    Activate {
        name: String,
        version: String,
        /// Activate it even though it fails on some recorded inputs, or is
        /// lower than a version that was active (both audited).
        #[arg(long)]
        force: bool,
    },
    /// Reactivate the previously active version (an admin's REGENT_TOKEN).
    ///
    /// Asks REGENT_URL (default http://127.0.0.1:4007).
    Rollback { name: String },
    /// Make an ed25519 key for signing plugins.
    ///
    /// Prints its public key and the server config that trusts it.
    Keygen {
        /// Where to write the secret key (created readable by you only).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Sign a component and its manifest with a key from `regent plugin keygen`.
    ///
    /// The signature covers the plugin's name, version and kind, the
    /// component's sha256 and the manifest's sha256: change either and it
    /// no longer holds. `regent plugin push` sends it along.
    Sign {
        /// The component to sign.
        wasm: PathBuf,
        /// Its manifest (default `<name>.toml` beside `<name>.wasm`).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signature (default `<file>.wasm.sig`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        crate::telemetry::init(None);
    }
    let result = match cli.command {
        Command::Serve {
            plugins_dir,
            cache_dir,
            db,
            database_url,
            config,
            cycle_every,
            watch,
        } => ServeConfig::load(
            config.as_deref(),
            ServeFlags {
                plugins_dir,
                cache_dir,
                db,
                database_url,
                cycle_every,
            },
            crate::config::process_env,
        )
        .and_then(|mut config| {
            config.watch = watch;
            // Held while serving: dropping it sends the spans still buffered.
            let _telemetry =
                crate::telemetry::init_serve(config.log_level.as_deref(), &config.tracing)
                    .map_err(|e| anyhow::Error::new(e).context("[tracing]"))?;
            crate::startup::serve_blocking(config)
        }),
        Command::Audit(AuditCommand::Verify {
            db,
            config,
            checkpoints,
            public_key,
            key_file,
        }) => crate::config::db_path(db, config.as_deref(), crate::config::process_env).and_then(
            |db| {
                audit::verify(
                    &db,
                    checkpoints
                        .map(|file| audit::CheckpointArgs {
                            file,
                            public_keys: public_key,
                            key_files: key_file,
                        })
                        .as_ref(),
                )
            },
        ),
        Command::Audit(AuditCommand::Keygen { out, force }) => keys::audit_keygen(&out, force),
        Command::Stop { reason } => remote::stop(&reason),
        Command::Resume { reason } => remote::resume(&reason),
        Command::Status => remote::status(),
        Command::Plugin(PluginCommand::Build { inputs, out_dir }) => {
            plugin::build(&inputs, out_dir.as_deref())
        }
        Command::Plugin(PluginCommand::Test { dir, wasm }) => plugin::test(&dir, wasm.as_deref()),
        Command::Plugin(PluginCommand::New {
            kind,
            name,
            path,
            sdk,
        }) => {
            let sdk = crate::config::Sources::new(&crate::config::process_env).path(
                sdk,
                "REGENT_SDK_PATH",
                None,
            );
            scaffold::new_plugin(&kind, &name, &path, sdk.as_deref())
        }
        Command::Plugin(PluginCommand::Push {
            wasm,
            manifest,
            signature,
            key,
            no_activate,
            dry_run,
            force,
        }) => plugins_remote::push(
            &wasm,
            &manifest,
            match (signature, key) {
                (Some(file), _) => plugins_remote::SignWith::File(file),
                (None, Some(key)) => plugins_remote::SignWith::Key(key),
                (None, None) => plugins_remote::SignWith::Beside,
            },
            plugins_remote::PushOptions {
                activate: !no_activate,
                dry_run,
                force,
            },
        ),
        Command::Plugin(PluginCommand::List { name }) => plugins_remote::list(name.as_deref()),
        Command::Plugin(PluginCommand::Activate {
            name,
            version,
            force,
        }) => plugins_remote::activate(&name, &version, force),
        Command::Plugin(PluginCommand::Rollback { name }) => plugins_remote::rollback(&name),
        Command::Plugin(PluginCommand::Keygen { out, force }) => keys::keygen(&out, force),
        Command::Plugin(PluginCommand::Sign {
            wasm,
            manifest,
            key,
            out,
        }) => keys::sign(&wasm, manifest.as_deref(), &key, out.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
