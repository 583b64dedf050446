//! Server configuration: a flag wins over the environment, which wins over
//! a TOML file (`--config`), which wins over the default ([`sources`] holds
//! that rule for every command). Everything has a default, so no file is
//! needed. `docs/configuration.md` lists every key.
//!
//! ```toml
//! host = "127.0.0.1"
//! port = 4007
//! governance_db_path = "var/regent.db"
//! circuit_breaker_check_interval = 60000   # ms
//! max_body_bytes = 8388608
//! cycle_every = "7d"                       # or a cron expression; off by default
//! initial_stabilization_days = 180
//!
//! [[phases]]                               # all five, in order, to replace the table
//! phase = "L3"
//! commands = []
//! validationPeriodDays = 0
//! approvals = []
//!
//! [[breaker_rules]]                        # replaces the four default rules at first start
//! name = "High Error Rate"
//! enabled = true
//! condition = "errorRate > 0.05"
//! window = "5m"
//! action = "revert_to_l3"
//! alertSeverity = "critical"
//!
//! [risk]
//! scorer = "severity-weighted"
//! medium_from = 30
//! high_from = 60
//!
//! [matching]                               # task assignment (the seed's defaults)
//! matcher = "capability-match"
//! min_capability_match = 0.7
//! max_cost_per_task = 10.0                 # the cost cap when a request gives none
//! failure_threshold = 3
//!
//! [[event_actions]]                        # replaces the seed's selectAction; first match wins
//! engine = "billing"                       # optional
//! severity = "critical"                    # optional
//! action = "billing_sync_repair"
//!
//! [webhook]                                # auto-actions and escalations are POSTed here
//! url = "https://hooks.example.com/regent" # or REGENT_WEBHOOK_URL; http:// only to loopback
//! timeout_ms = 2000
//! attempts = 3
//! backoff_ms = 500
//! secret = "..."                           # or REGENT_WEBHOOK_SECRET: signs each payload
//! ca_file = "/etc/regent/hooks-ca.pem"     # trust only these roots (default: the system's)
//! queue_capacity = 10000                   # past this, the oldest waiting are `dropped`
//!
//! [tls]                                    # serve HTTPS (both keys, PEM)
//! cert_file = "/etc/regent/cert.pem"
//! key_file = "/etc/regent/key.pem"
//!
//! [plugins.readiness-checklist.params.success-rate]   # any plugin's params
//! min = 0.999
//!
//! initial_phase = "L4"                     # adopting Regent above L3: only at the
//! phase_started_at = "2026-06-01T00:00:00Z" # store's first start, audited
//!
//! [auth]
//! require_bound_agents = false             # true: authorize refuses tokens not bound to an agent
//! [auth.oidc]                              # people sign in with the identity provider
//! issuer = "https://idp.example.com"
//! audience = "regent"
//! jwks_url = "https://idp.example.com/jwks.json"   # or jwks_file = "/etc/regent/jwks.json"
//! roles_claim = "roles"                    # a dotted path works: realm_access.roles
//! leeway_s = 60
//!
//! [retention]                              # "0" keeps forever; tallies and the audit log are never pruned
//! decisions = "30d"
//! evaluations = "7d"
//! assessments = "90d"                      # the newest assessment is always kept
//! commands = "30d"                         # never less than the readiness or any breaker window
//! events = "180d"                          # never less than 30d; kept while an action names it
//! auto_actions = "180d"                    # settled deliveries only
//! webhook_attempts = "30d"                 # a settled action's last delivery error
//! every = "10m"
//! batch_rows = 500
//!
//! [plugin_registry]                        # uploads and hot swaps
//! require_signed = false                   # true: unsigned or unknown signers get 403
//! shadow_inputs = 20                       # recorded real inputs per kind a candidate is run on
//! shadow_sample_interval_ms = 1000         # at most one recorded input per kind per interval
//! max_upload_bytes = 67108864
//! [plugin_registry.trusted_keys]           # signer name = base64 ed25519 public key
//! release = "k3Zb...="
//!
//! [metrics]
//! require_token = false                    # true: anonymous GET /metrics is 401
//! store_cache_ms = 1000                    # the store's figures serve scrapes this long (0: read each time)
//!
//! [tracing]                                # request spans to an OpenTelemetry collector; off by default
//! otlp_endpoint = "http://127.0.0.1:4318"  # or REGENT_OTLP_ENDPOINT; OTLP over HTTP/protobuf, /v1/traces added
//!
//! [audit]                                  # signed checkpoints of the audit chain
//! checkpoint_key_file = "/etc/regent/audit.key"   # from `regent audit keygen`
//! checkpoint_file = "/var/log/regent/checkpoints.jsonl"
//! checkpoint_every_entries = 100
//! checkpoint_every_secs = 60
//! checkpoint_webhook = false               # true: also POST each to [webhook] url
//! [compile]                                # compiling components, and the compile cache
//! timeout_ms = 60000                       # a longer compile is given up: 422
//! max_concurrent = 2                       # more wait up to timeout_ms for a slot, then 503
//! cache_max_bytes = 1073741824             # least recently used artifacts are evicted beyond it
//! cache_key_file = "var/regent.cache-key"  # or REGENT_CACHE_KEY_FILE; default: beside the database
//!
//! [console]                                # the web console at /console
//! session_ttl_minutes = 480                # a sign-in lasts this long (1..=10080)
//!
//! [[budgets.rate]]                         # seeded into the store at start when absent
//! name = "replays"                         # then edited with PUT /api/budgets/rates/{name}
//! key = "command:REPLAY_DLQ"               # all | command:<type> | scope:<scope> | agent:<id>
//! limit = 3
//! window = "5m"
//! [[budgets.concurrency]]
//! name = "fleet"
//! key = "all"
//! limit = 150                              # autonomous operations in flight
//! lease_ttl = "10m"                        # a lease not completed by then is released
//! [[budgets.batch]]
//! command_type = "REPLAY_DLQ"
//! max_batch = 50                           # checked from authorize's `batchSize`
//! max_payload_bytes = 2000000              # checked from authorize's `payloadBytes`
//! [idempotency]                            # Idempotency-Key on authorize, commands, costs, failures, steps
//! retention_hours = 24                     # a key's first answer is replayed this long (1..=720)
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::domain::breaker::{BreakerRule, Window};
use crate::domain::budget::{BatchLimit, BudgetDef, BudgetKey, ConcurrencyBudget, RateBudget};
use crate::domain::events::ActionRule;
use crate::domain::fleet::MatchingPolicy;
use crate::domain::governance::{PhaseSpec, PhaseTable, RiskBounds};
use crate::domain::retention::RetentionPolicy;
use crate::domain::{Phase, Timestamp};

pub mod sources;

pub use sources::{process_env, Sources};

/// Where `serve` keeps its database when nothing says otherwise.
pub const DEFAULT_DB_PATH: &str = "var/regent.db";
/// Where `serve` finds plugins when nothing says otherwise.
pub const DEFAULT_PLUGINS_DIR: &str = "target/plugins";
/// Where `serve` caches compiled plugins when nothing says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "var/cache";

/// What `regent serve` was given on its command line; `None` for a flag
/// not given, so the environment, the file or the default decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeFlags {
    pub plugins_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub db: Option<PathBuf>,
    /// `--database-url`: PostgreSQL instead of the SQLite file.
    pub database_url: Option<String>,
    pub cycle_every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    log_level: Option<String>,
    governance_db_path: Option<PathBuf>,
    database_url: Option<String>,
    command_db_path: Option<PathBuf>,
    circuit_breaker_check_interval: Option<u64>,
    max_body_bytes: Option<usize>,
    cycle_every: Option<String>,
    initial_stabilization_days: Option<u32>,
    phases: Option<Vec<PhaseSpec>>,
    breaker_rules: Option<Vec<BreakerRule>>,
    #[serde(default)]
    risk: RiskConfig,
    #[serde(default)]
    plugins: BTreeMap<String, PluginConfig>,
    matching: Option<MatchingPolicy>,
    event_actions: Option<Vec<ActionRule>>,
    webhook: Option<WebhookSettings>,
    plugin_registry: Option<RegistrySettings>,
    initial_phase: Option<Phase>,
    phase_started_at: Option<Timestamp>,
    #[serde(default)]
    auth: AuthSettings,
    retention: Option<RetentionPolicy>,
    tls: Option<TlsSettings>,
    #[serde(default)]
    metrics: MetricsSettings,
    #[serde(default)]
    tracing: TracingSettings,
    #[serde(default)]
    audit: AuditSettings,
    compile: Option<CompileSettings>,
    #[serde(default)]
    cluster: ClusterSettings,
    #[serde(default)]
    console: ConsoleSettings,
    #[serde(default)]
    budgets: BudgetSettings,
    #[serde(default)]
    idempotency: IdempotencySettings,
}

impl FileConfig {
    /// The file at `path`; without one, every key is unset.
    fn read(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e))
    }
}

/// The governance database: `--db`, else `GOVERNANCE_DB_PATH`, else the
/// file's `governance_db_path`, else [`DEFAULT_DB_PATH`]. `serve` and
/// `audit verify` both resolve it here, so they open the same file.
pub fn db_path(
    flag: Option<PathBuf>,
    file: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    let f = FileConfig::read(file)?;
    Ok(db_path_from(
        &Sources::new(&var),
        flag,
        f.governance_db_path,
    ))
}

fn db_path_from(sources: &Sources<'_>, flag: Option<PathBuf>, file: Option<PathBuf>) -> PathBuf {
    sources
        .path(flag, "GOVERNANCE_DB_PATH", file)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DB_PATH))
}

/// `[[budgets.rate]]`, `[[budgets.concurrency]]` and `[[budgets.batch]]`:
/// budgets seeded into the store at start when it has none of that kind
/// and name. After that the store is the truth: an operator's edit
/// through the API is not undone by a restart.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    #[serde(default)]
    rate: Vec<RateBudgetConfig>,
    #[serde(default)]
    concurrency: Vec<ConcurrencyBudgetConfig>,
    #[serde(default)]
    batch: Vec<BatchLimitConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBudgetConfig {
    name: String,
    key: BudgetKey,
    limit: u32,
    window: Window,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConcurrencyBudgetConfig {
    name: String,
    key: BudgetKey,
    limit: u32,
    lease_ttl: Window,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLimitConfig {
    command_type: String,
    max_batch: Option<u32>,
    max_payload_bytes: Option<u64>,
}

impl BudgetSettings {
    /// Every budget as the store keeps it, by name.
    pub fn definitions(&self) -> Vec<(String, BudgetDef)> {
        let rates = self.rate.iter().map(|b| {
            (
                b.name.clone(),
                BudgetDef::Rate(RateBudget {
                    key: b.key.clone(),
                    limit: b.limit,
                    window: b.window,
                }),
            )
        });
        let concurrency = self.concurrency.iter().map(|b| {
            (
                b.name.clone(),
                BudgetDef::Concurrency(ConcurrencyBudget {
                    key: b.key.clone(),
                    limit: b.limit,
                    lease_ttl: b.lease_ttl,
                }),
            )
        });
        let batches = self.batch.iter().map(|b| {
            (
                b.command_type.clone(),
                BudgetDef::Batch(BatchLimit {
                    max_batch: b.max_batch,
                    max_payload_bytes: b.max_payload_bytes,
                }),
            )
        });
        rates.chain(concurrency).chain(batches).collect()
    }

    fn check(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (name, def) in self.definitions() {
            let kind = def.kind().as_str();
            def.check(&name)
                .map_err(|e| anyhow::anyhow!("[[budgets.{kind}]] `{name}`: {e}"))?;
            if !seen.insert((kind, name.clone())) {
                bail!("[[budgets.{kind}]]: `{name}` is defined twice");
            }
        }
        Ok(())
    }
}

/// `[cluster]`: replicas sharing one PostgreSQL database
/// (`docs/deployment.md`). Read only with a `database_url`; every bound
/// is in milliseconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// Connections this replica keeps to PostgreSQL at most.
    pub pool_size: usize,
    /// A control snapshot not confirmed current for this long is not
    /// decided on: `authorize` denies and `/ready` answers 503.
    pub stale_after_ms: u64,
    /// How often the change version is checked when no notification
    /// arrives (a lost notification is caught within this).
    pub poll_ms: u64,
    /// How often this replica records its heartbeat.
    pub heartbeat_ms: u64,
    /// A replica whose heartbeat is older than this is not live.
    pub live_within_ms: u64,
    /// How long an emergency stop waits for the live replicas to confirm
    /// it before naming the others as unconfirmed.
    pub stop_confirm_ms: u64,
    /// A lease on background work lasts this long unless renewed; another
    /// replica takes the work over within it when the holder dies.
    pub lease_ttl_ms: u64,
    /// Where the other replicas and operators reach this one (`host:port`;
    /// also `REGENT_ADVERTISE`, since the file is shared by every replica);
    /// default: the address it listens on, with the hostname in place of
    /// an unspecified one (`0.0.0.0`).
    pub advertise: Option<String>,
    /// With `sslmode=require` in the database URL: the only roots trusted
    /// for PostgreSQL's certificate (a private CA's PEM file); without it,
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            pool_size: 16,
            stale_after_ms: 5_000,
            poll_ms: 500,
            heartbeat_ms: 1_000,
            live_within_ms: 5_000,
            stop_confirm_ms: 1_000,
            lease_ttl_ms: 10_000,
            advertise: None,
            ca_file: None,
        }
    }
}

impl ClusterSettings {
    fn check(&self) -> Result<()> {
        if self.pool_size == 0 {
            bail!("[cluster] pool_size must be at least 1");
        }
        for (name, value) in [
            ("stale_after_ms", self.stale_after_ms),
            ("poll_ms", self.poll_ms),
            ("heartbeat_ms", self.heartbeat_ms),
            ("live_within_ms", self.live_within_ms),
            ("stop_confirm_ms", self.stop_confirm_ms),
            ("lease_ttl_ms", self.lease_ttl_ms),
        ] {
            if value == 0 {
                bail!("[cluster] {name} must be at least 1");
            }
        }
        if self.poll_ms >= self.stale_after_ms {
            bail!(
                "[cluster] poll_ms ({}) must be below stale_after_ms ({}): a replica that polls less often than its snapshot goes stale would deny everything between polls",
                self.poll_ms,
                self.stale_after_ms
            );
        }
        if self.heartbeat_ms >= self.live_within_ms {
            bail!(
                "[cluster] heartbeat_ms ({}) must be below live_within_ms ({}): a live replica would look dead between heartbeats",
                self.heartbeat_ms,
                self.live_within_ms
            );
        }
        if self.lease_ttl_ms < 3 * self.heartbeat_ms {
            bail!(
                "[cluster] lease_ttl_ms ({}) must be at least three heartbeats ({} ms): the holder renews its leases with its heartbeat",
                self.lease_ttl_ms,
                3 * self.heartbeat_ms
            );
        }
        Ok(())
    }
}

/// `[console]`: the web console's sign-in sessions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// How long a console session lasts after sign-in (one with the
    /// identity provider's JWT ends by the JWT's `exp` if sooner).
    pub session_ttl_minutes: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_ttl_minutes: 480,
        }
    }
}

impl ConsoleSettings {
    /// A week at most: a session outliving the working week would be a
    /// standing credential in a browser.
    pub const MAX_TTL_MINUTES: u64 = 7 * 24 * 60;

    fn check(&self) -> Result<()> {
        if self.session_ttl_minutes == 0 || self.session_ttl_minutes > Self::MAX_TTL_MINUTES {
            bail!(
                "[console] session_ttl_minutes must be between 1 and {}, got {}",
                Self::MAX_TTL_MINUTES,
                self.session_ttl_minutes
            );
        }
        Ok(())
    }

    /// The session lifetime in milliseconds.
    pub fn session_ttl_ms(&self) -> i64 {
        i64::try_from(self.session_ttl_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX)
    }
}

/// `[idempotency]`: how long a request's `Idempotency-Key` keeps its first
/// answer (`docs/api.md#idempotency`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencySettings {
    /// A retry within this many hours of the first answer gets that
    /// answer back; after it, the key is free again (and pruned).
    pub retention_hours: u64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            retention_hours: 24,
        }
    }
}

impl IdempotencySettings {
    /// Thirty days at most: longer than any client retries, and the table
    /// holds a full answer per request meanwhile.
    pub const MAX_RETENTION_HOURS: u64 = 30 * 24;

    fn check(&self) -> Result<()> {
        if self.retention_hours == 0 || self.retention_hours > Self::MAX_RETENTION_HOURS {
            bail!(
                "[idempotency] retention_hours must be between 1 and {}, got {}",
                Self::MAX_RETENTION_HOURS,
                self.retention_hours
            );
        }
        Ok(())
    }

    /// The retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }
}

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM files).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[metrics]`: who may scrape `/metrics`, and how fresh the store's
/// figures are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Anonymous scrapes get 401; a `scraper` (or admin) token is needed.
    pub require_token: bool,
    /// One read of the store's figures serves the scrapes of this many
    /// milliseconds; 0 reads the store on every scrape.
    pub store_cache_ms: u64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            require_token: false,
            store_cache_ms: 1000,
        }
    }
}

/// `[tracing]`: where request spans are exported, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingSettings {
    /// An OpenTelemetry collector's OTLP/HTTP address (`http://host:4318`);
    /// spans go to its `/v1/traces`. `None`: no export.
    pub otlp_endpoint: Option<String>,
}

/// `[audit]`: signed checkpoints of the audit chain, kept outside the
/// database so that whoever can write the database cannot rewrite history
/// unnoticed. Off unless both files are named.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// The ed25519 secret key (`regent audit keygen`); never in the database.
    pub checkpoint_key_file: Option<PathBuf>,
    /// Checkpoints are appended here, one JSON object a line.
    pub checkpoint_file: Option<PathBuf>,
    /// A checkpoint once this many entries are new since the last one...
    pub checkpoint_every_entries: u64,
    /// ...or once this long has passed with any new entry.
    pub checkpoint_every_secs: u64,
    /// Also POST each checkpoint to `[webhook] url`.
    pub checkpoint_webhook: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_key_file: None,
            checkpoint_file: None,
            checkpoint_every_entries: 100,
            checkpoint_every_secs: 60,
            checkpoint_webhook: false,
        }
    }
}

/// `[compile]`: the bounds on compiling a component, and the compile cache.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompileSettings {
    pub timeout_ms: u64,
    pub max_concurrent: usize,
    pub cache_max_bytes: u64,
    /// The key that binds cached native code to this server, 0600, never
    /// inside the cache directory. `None`: `<database>.cache-key`.
    pub cache_key_file: Option<PathBuf>,
}

impl Default for CompileSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            max_concurrent: 2,
            cache_max_bytes: 1 << 30,
            cache_key_file: None,
        }
    }
}

impl AuditSettings {
    /// Whether checkpoints are written.
    pub fn checkpoints(&self) -> bool {
        self.checkpoint_key_file.is_some()
    }

    fn check(&self, webhook: &WebhookSettings) -> Result<()> {
        match (&self.checkpoint_key_file, &self.checkpoint_file) {
            (Some(_), None) => bail!("[audit] checkpoint_key_file needs checkpoint_file: where the checkpoints are appended"),
            (None, Some(_)) => bail!("[audit] checkpoint_file needs checkpoint_key_file: the key that signs the checkpoints"),
            _ => {}
        }
        if self.checkpoint_every_entries == 0 || self.checkpoint_every_secs == 0 {
            bail!("[audit] checkpoint_every_entries and checkpoint_every_secs must be at least 1");
        }
        if self.checkpoint_webhook {
            if !self.checkpoints() {
                bail!("[audit] checkpoint_webhook = true needs checkpoint_key_file and checkpoint_file");
            }
            if webhook.url.is_none() {
                bail!("[audit] checkpoint_webhook = true needs a [webhook] url (or REGENT_WEBHOOK_URL)");
            }
        }
        Ok(())
    }
}

impl CompileSettings {
    /// The key file: as configured, or beside the database.
    pub fn key_file(&self, db_path: &Path) -> PathBuf {
        self.cache_key_file
            .clone()
            .unwrap_or_else(|| db_path.with_extension("cache-key"))
    }

    fn check(&self) -> Result<()> {
        if self.timeout_ms == 0 || self.max_concurrent == 0 || self.cache_max_bytes == 0 {
            bail!("[compile] timeout_ms, max_concurrent and cache_max_bytes must be at least 1");
        }
        Ok(())
    }
}

/// `[auth]`: how people sign in, and how much the governed system must
/// identify itself.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// People sign in with the organization's identity provider; approver
    /// roles then come only from it.
    pub oidc: Option<crate::oidc::OidcConfig>,
    /// Refuse `POST /api/authorize` from tokens not bound to an agent.
    pub require_bound_agents: bool,
}

/// Where a system adopting Regent above L3 starts: applied only at the
/// store's first start, and audited as such.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitialPhase {
    pub phase: Phase,
    pub started_at: Timestamp,
}

/// Plugin uploads: signatures, shadow runs and limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySettings {
    pub require_signed: bool,
    /// Signer name to base64 ed25519 public key.
    pub trusted_keys: BTreeMap<String, String>,
    /// How many recorded inputs per kind are kept, and replayed.
    pub shadow_inputs: u32,
    /// Inputs are sampled, not all recorded: at most one per kind per
    /// interval, so recording costs nothing measurable under load.
    pub shadow_sample_interval_ms: u64,
    pub max_upload_bytes: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            require_signed: false,
            trusted_keys: BTreeMap::new(),
            shadow_inputs: 20,
            shadow_sample_interval_ms: 1_000,
            max_upload_bytes: 64 << 20,
        }
    }
}

/// Where auto-actions and escalations are sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub timeout_ms: u64,
    pub attempts: u32,
    pub backoff_ms: u64,
    /// Signs each payload (HMAC-SHA256) so the receiver can tell it came
    /// from Regent, and when.
    pub secret: Option<crate::webhook::WebhookSecret>,
    /// Trust only the roots in this PEM file instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Undelivered actions held in memory; past this the oldest are
    /// recorded as `dropped`.
    pub queue_capacity: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 2_000,
            attempts: 3,
            backoff_ms: 500,
            secret: None,
            ca_file: None,
            queue_capacity: 10_000,
        }
    }
}

impl WebhookSettings {
    pub fn check(&self) -> Result<(), crate::webhook::WebhookError> {
        crate::webhook::check_settings(self)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskConfig {
    scorer: Option<String>,
    medium_from: Option<u32>,
    high_from: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginConfig {
    #[serde(default)]
    params: toml::Table,
}

/// When the weekly cycle runs on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum CycleSchedule {
    Every(Duration),
    Cron(String),
}

impl CycleSchedule {
    pub fn parse(text: &str) -> Result<Self> {
        if let Ok(w) = crate::domain::breaker::Window::parse(text) {
            return Ok(CycleSchedule::Every(Duration::from_millis(w.millis as u64)));
        }
        text.parse::<cron::Schedule>()
            .with_context(|| format!("cycle schedule `{text}` is neither a duration like `7d` nor a cron expression (sec min hour day month weekday)"))?;
        Ok(CycleSchedule::Cron(text.to_string()))
    }
}

/// Governance settings the service reads.
#[derive(Debug, Clone)]
pub struct GovernanceSettings {
    pub phases: PhaseTable,
    pub default_rules: Vec<BreakerRule>,
    pub risk_bounds: RiskBounds,
    pub risk_scorer: String,
    /// Readiness metrics look back this far (7 days).
    pub readiness_window_days: u32,
    pub matching: MatchingPolicy,
    pub action_rules: Vec<ActionRule>,
}

impl Default for GovernanceSettings {
    fn default() -> Self {
        Self {
            phases: PhaseTable::default(),
            default_rules: BreakerRule::defaults(),
            risk_bounds: RiskBounds::default(),
            risk_scorer: "severity-weighted".into(),
            readiness_window_days: 7,
            matching: MatchingPolicy::default(),
            action_rules: ActionRule::defaults(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub plugins_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub db_path: PathBuf,
    /// PostgreSQL (`--database-url`, `REGENT_DATABASE_URL`, `database_url`);
    /// `None`: the SQLite file at `db_path`.
    pub database_url: Option<String>,
    pub cluster: ClusterSettings,
    pub command_db_path: Option<PathBuf>,
    pub log_level: Option<String>,
    pub breaker_check_interval: Duration,
    pub max_body_bytes: usize,
    pub cycle: Option<CycleSchedule>,
    pub plugin_params: BTreeMap<String, toml::Table>,
    pub governance: GovernanceSettings,
    pub webhook: WebhookSettings,
    pub registry: RegistrySettings,
    /// Pick up new or changed plugins in `plugins_dir` while running.
    pub watch: bool,
    pub auth: AuthSettings,
    pub compile: CompileSettings,
    /// `initial_phase` and `phase_started_at`; `None` starts at L3 now.
    pub initial_phase: Option<InitialPhase>,
    pub retention: RetentionPolicy,
    /// `[tls]`; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    pub metrics: MetricsSettings,
    /// `[tracing]`, or `REGENT_OTLP_ENDPOINT`.
    pub tracing: TracingSettings,
    pub audit: AuditSettings,
    /// `[console]`: the web console's sessions.
    pub console: ConsoleSettings,
    /// `[[budgets.*]]`: budgets seeded into the store when absent.
    pub budgets: BudgetSettings,
    /// `[idempotency]`: how long idempotency keys keep their answer.
    pub idempotency: IdempotencySettings,
}

impl ServeConfig {
    /// Defaults, for tests and embedding.
    pub fn new(plugins_dir: PathBuf, cache_dir: PathBuf, db_path: PathBuf) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 4007)),
            plugins_dir,
            cache_dir,
            db_path,
            database_url: None,
            cluster: ClusterSettings::default(),
            command_db_path: None,
            log_level: None,
            breaker_check_interval: Duration::from_millis(60_000),
            max_body_bytes: 8 << 20,
            cycle: None,
            plugin_params: BTreeMap::new(),
            governance: GovernanceSettings::default(),
            webhook: WebhookSettings::default(),
            registry: RegistrySettings::default(),
            watch: false,
            auth: AuthSettings::default(),
            compile: CompileSettings::default(),
            initial_phase: None,
            retention: RetentionPolicy::default(),
            tls: None,
            metrics: MetricsSettings::default(),
            tracing: TracingSettings::default(),
            audit: AuditSettings::default(),
            console: ConsoleSettings::default(),
            budgets: BudgetSettings::default(),
            idempotency: IdempotencySettings::default(),
        }
    }

    /// Each setting from its flag, else its environment variable, else the
    /// file, else its default ([`Sources`]).
    pub fn load(
        file: Option<&Path>,
        flags: ServeFlags,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let f = FileConfig::read(file)?;
        let sources = Sources::new(&var);
        let mut c = Self::new(
            sources
                .path(flags.plugins_dir, "REGENT_PLUGINS_DIR", None)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PLUGINS_DIR)),
            sources
                .path(flags.cache_dir, "REGENT_CACHE_DIR", None)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR)),
            db_path_from(&sources, flags.db, f.governance_db_path),
        );
        let host: IpAddr = match sources.text(None, "HOST", f.host) {
            Some(h) => h
                .parse()
                .with_context(|| format!("HOST=`{h}` is not an IP address"))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = sources
            .number(None, "PORT", "a port number", f.port)?
            .unwrap_or(4007);
        c.addr = SocketAddr::new(host, port);
        c.log_level = sources.text(None, "LOG_LEVEL", f.log_level);
        c.database_url = sources.text(flags.database_url, "REGENT_DATABASE_URL", f.database_url);
        if let Some(url) = &c.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!(
                    "the database URL must start with postgres:// or postgresql://, got `{}`",
                    crate::storage::redact_url(url)
                );
            }
        }
        f.cluster.check()?;
        c.cluster = f.cluster.clone();
        // Per replica, while the file is shared by all of them.
        c.cluster.advertise = sources.text(None, "REGENT_ADVERTISE", f.cluster.advertise.clone());
        c.command_db_path = sources.path(None, "COMMAND_DB_PATH", f.command_db_path);
        let interval = sources
            .number(
                None,
                "CIRCUIT_BREAKER_CHECK_INTERVAL",
                "a number of milliseconds",
                f.circuit_breaker_check_interval,
            )?
            .unwrap_or(60_000);
        if interval < 10 {
            bail!("CIRCUIT_BREAKER_CHECK_INTERVAL must be at least 10 ms, got {interval}");
        }
        c.breaker_check_interval = Duration::from_millis(interval);
        if let Some(max) = f.max_body_bytes {
            c.max_body_bytes = max;
        }
        c.cycle = flags
            .cycle_every
            .or(f.cycle_every)
            .map(|s| CycleSchedule::parse(&s))
            .transpose()?;
        if let Some(phases) = f.phases {
            c.governance.phases.phases = phases;
        }
        if let Some(days) = f.initial_stabilization_days {
            c.governance.phases.initial_stabilization_days = days;
        }
        c.governance
            .phases
            .check()
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        if let Some(rules) = f.breaker_rules {
            for r in &rules {
                BreakerRule::check_name(&r.name)
                    .map_err(|e| anyhow::anyhow!("config: breaker rule: {e}"))?;
            }
            c.governance.default_rules = rules;
        }
        if let Some(s) = f.risk.scorer {
            c.governance.risk_scorer = s;
        }
        let bounds = &mut c.governance.risk_bounds;
        bounds.medium_from = f.risk.medium_from.unwrap_or(bounds.medium_from);
        bounds.high_from = f.risk.high_from.unwrap_or(bounds.high_from);
        if bounds.medium_from > bounds.high_from || bounds.high_from > 100 {
            bail!("config: risk bounds must satisfy medium_from <= high_from <= 100");
        }
        if let Some(registry) = f.plugin_registry {
            crate::signing::TrustedKeys::from_config(&registry.trusted_keys)
                .map_err(|e| anyhow::anyhow!("[plugin_registry.trusted_keys]: {e}"))?;
            if registry.require_signed && registry.trusted_keys.is_empty() {
                bail!("[plugin_registry] require_signed = true needs at least one trusted key");
            }
            c.registry = registry;
        }
        c.plugin_params = f.plugins.into_iter().map(|(k, v)| (k, v.params)).collect();
        if let Some(m) = f.matching {
            m.check().map_err(|e| anyhow::anyhow!("config: {e}"))?;
            c.governance.matching = m;
        }
        if let Some(rules) = f.event_actions {
            ActionRule::check_all(&rules).map_err(|e| anyhow::anyhow!("config: {e}"))?;
            c.governance.action_rules = rules;
        }
        c.webhook = f.webhook.unwrap_or_default();
        c.webhook.url = sources.text(None, "REGENT_WEBHOOK_URL", c.webhook.url.take());
        if let Some(secret) = sources.env("REGENT_WEBHOOK_SECRET") {
            // The file's secret stays unread text inside its wrapper; only
            // the variable, when set, replaces it.
            c.webhook.secret = Some(crate::webhook::WebhookSecret::new(secret));
        }
        c.webhook.check().context("config: [webhook]")?;
        c.tls = f.tls;
        if let Some(oidc) = &f.auth.oidc {
            oidc.check()
                .map_err(|e| anyhow::anyhow!("[auth.oidc]: {e}"))?;
        }
        c.auth = f.auth;
        if let Some(retention) = f.retention {
            retention
                .check()
                .map_err(|e| anyhow::anyhow!("[retention]: {e}"))?;
            c.retention = retention;
        }
        c.metrics = f.metrics;
        c.tracing = f.tracing;
        if let Some(endpoint) = var("REGENT_OTLP_ENDPOINT").filter(|e| !e.trim().is_empty()) {
            c.tracing.otlp_endpoint = Some(endpoint);
        }
        if let Some(endpoint) = &c.tracing.otlp_endpoint {
            crate::telemetry::check_otlp_endpoint(endpoint)
                .map_err(|e| anyhow::anyhow!("[tracing] otlp_endpoint: {e}"))?;
        }
        f.audit.check(&c.webhook)?;
        c.audit = f.audit;
        c.compile = f.compile.unwrap_or_default();
        c.compile.cache_key_file = sources.path(
            None,
            "REGENT_CACHE_KEY_FILE",
            c.compile.cache_key_file.take(),
        );
        c.compile.check()?;
        f.console.check()?;
        c.console = f.console;
        f.budgets.check()?;
        c.budgets = f.budgets;
        f.idempotency.check()?;
        c.idempotency = f.idempotency;
        c.initial_phase = match (f.initial_phase, f.phase_started_at) {
            (None, None) => None,
            (Some(phase), Some(started_at)) => {
                if started_at > Timestamp::now() {
                    bail!("config: `phase_started_at` ({started_at}) is in the future");
                }
                Some(InitialPhase { phase, started_at })
            }
            (Some(_), None) => bail!(
                "config: `initial_phase` needs `phase_started_at` (RFC 3339): when the system reached that phase"
            ),
            (None, Some(_)) => bail!("config: `phase_started_at` needs `initial_phase`"),
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<ServeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regent.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServeConfig::load(
            file.map(|_| path.as_path()),
            ServeFlags {
                plugins_dir: Some("p".into()),
                cache_dir: Some("c".into()),
                ..ServeFlags::default()
            },
            |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        )
    }

    fn lookup<'a>(env: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    /// `serve` with `flags`, the file `file` and the environment `env`.
    fn serve(flags: ServeFlags, file: Option<&str>, env: &[(&str, &str)]) -> ServeConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regent.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        ServeConfig::load(file.map(|_| path.as_path()), flags, lookup(env)).unwrap()
    }

    #[test]
    fn serve_takes_the_db_from_the_flag_then_the_environment_then_the_file() {
        let file = Some("governance_db_path = \"file.db\"\n");
        let env = [("GOVERNANCE_DB_PATH", "env.db")];
        let flag = || ServeFlags {
            db: Some("flag.db".into()),
            ..ServeFlags::default()
        };
        assert_eq!(serve(flag(), file, &env).db_path, PathBuf::from("flag.db"));
        assert_eq!(
            serve(ServeFlags::default(), file, &env).db_path,
            PathBuf::from("env.db")
        );
        assert_eq!(
            serve(ServeFlags::default(), file, &[]).db_path,
            PathBuf::from("file.db")
        );
        assert_eq!(
            serve(ServeFlags::default(), None, &[]).db_path,
            PathBuf::from(DEFAULT_DB_PATH)
        );
        // Set but empty is not set.
        assert_eq!(
            serve(ServeFlags::default(), file, &[("GOVERNANCE_DB_PATH", "")]).db_path,
            PathBuf::from("file.db")
        );
    }

    #[test]
    fn budgets_are_read_and_checked() {
        let c = load(
            Some(
                "[[budgets.rate]]\nname = \"replays\"\nkey = \"command:REPLAY_DLQ\"\nlimit = 3\nwindow = \"5m\"\n\
                 [[budgets.concurrency]]\nname = \"fleet\"\nkey = \"all\"\nlimit = 150\nlease_ttl = \"10m\"\n\
                 [[budgets.batch]]\ncommand_type = \"REPLAY_DLQ\"\nmax_batch = 50\n",
            ),
            &[],
        )
        .unwrap();
        let defs = c.budgets.definitions();
        assert_eq!(defs.len(), 3);
        assert_eq!(defs[0].0, "replays");
        for (bad, says) in [
            ("[[budgets.rate]]\nname = \"r\"\nkey = \"team:x\"\nlimit = 3\nwindow = \"5m\"\n", "team:x"),
            ("[[budgets.rate]]\nname = \"r\"\nkey = \"all\"\nlimit = 0\nwindow = \"5m\"\n", "at least 1"),
            ("[[budgets.batch]]\ncommand_type = \"X\"\n", "maxBatch"),
            ("[[budgets.rate]]\nname = \"r\"\nkey = \"all\"\nlimit = 1\nwindow = \"5m\"\n[[budgets.rate]]\nname = \"r\"\nkey = \"all\"\nlimit = 2\nwindow = \"5m\"\n", "twice"),
        ] {
            let err = format!("{:#}", load(Some(bad), &[]).unwrap_err());
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_console_session_lifetime_is_read_and_bounded() {
        assert_eq!(
            load(None, &[]).unwrap().console.session_ttl_ms(),
            480 * 60_000
        );
        let c = load(Some("[console]\nsession_ttl_minutes = 15\n"), &[]).unwrap();
        assert_eq!(c.console.session_ttl_ms(), 15 * 60_000);
        for bad in ["0", "10081"] {
            let file = format!("[console]\nsession_ttl_minutes = {bad}\n");
            let err = format!("{:#}", load(Some(&file), &[]).unwrap_err());
            assert!(err.contains("session_ttl_minutes"), "{bad}: {err}");
        }
        let err = format!("{:#}", load(Some("[console]\nttl = 1\n"), &[]).unwrap_err());
        assert!(err.contains("ttl"), "{err}");
    }

    #[test]
    fn the_idempotency_retention_is_read_and_bounded() {
        assert_eq!(
            load(None, &[]).unwrap().idempotency.retention_ms(),
            24 * 3_600_000
        );
        let c = load(Some("[idempotency]\nretention_hours = 2\n"), &[]).unwrap();
        assert_eq!(c.idempotency.retention_ms(), 2 * 3_600_000);
        for bad in ["0", "721"] {
            let file = format!("[idempotency]\nretention_hours = {bad}\n");
            let err = format!("{:#}", load(Some(&file), &[]).unwrap_err());
            assert!(err.contains("retention_hours"), "{bad}: {err}");
        }
        let err = format!(
            "{:#}",
            load(Some("[idempotency]\nhours = 1\n"), &[]).unwrap_err()
        );
        assert!(err.contains("hours"), "{err}");
    }

    #[test]
    fn each_replica_advertises_its_own_address_over_the_shared_file() {
        let file = Some("[cluster]\nadvertise = \"shared:4007\"\n");
        let env = [("REGENT_ADVERTISE", "regent-2.internal:4007")];
        let advertise = |file, env| serve(ServeFlags::default(), file, env).cluster.advertise;
        assert_eq!(
            advertise(file, &env[..]).as_deref(),
            Some("regent-2.internal:4007")
        );
        assert_eq!(advertise(file, &[]).as_deref(), Some("shared:4007"));
        assert_eq!(advertise(None, &[]), None);
    }

    #[test]
    fn audit_verify_takes_the_db_by_the_same_rule_as_serve() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("regent.toml");
        std::fs::write(&file, "governance_db_path = \"file.db\"\n").unwrap();
        let env = [("GOVERNANCE_DB_PATH", "env.db")];
        let resolve = |flag: Option<&str>, file: Option<&Path>, env: &[(&str, &str)]| {
            db_path(flag.map(PathBuf::from), file, lookup(env)).unwrap()
        };
        for (flag, file, env, want) in [
            (Some("flag.db"), Some(file.as_path()), &env[..], "flag.db"),
            (None, Some(file.as_path()), &env[..], "env.db"),
            (None, Some(file.as_path()), &[][..], "file.db"),
            (None, None, &[][..], DEFAULT_DB_PATH),
        ] {
            let got = resolve(flag, file, env);
            assert_eq!(got, PathBuf::from(want), "{flag:?} {file:?} {env:?}");
            // The same inputs name the same database for `serve`.
            let serve_flags = ServeFlags {
                db: flag.map(PathBuf::from),
                ..ServeFlags::default()
            };
            let text = file.map(|f| std::fs::read_to_string(f).unwrap());
            assert_eq!(serve(serve_flags, text.as_deref(), env).db_path, got);
        }
        let absent = dir.path().join("absent.toml");
        let err = db_path(None, Some(absent.as_path()), lookup(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read the config file"),
            "{err}"
        );
    }

    #[test]
    fn the_plugins_dir_and_the_cycle_follow_the_same_rule() {
        let env = [
            ("REGENT_PLUGINS_DIR", "env-plugins"),
            ("REGENT_CACHE_DIR", "env-cache"),
        ];
        let flags = ServeFlags {
            plugins_dir: Some("flag-plugins".into()),
            cycle_every: Some("1d".into()),
            ..ServeFlags::default()
        };
        let c = serve(flags, Some("cycle_every = \"7d\"\n"), &env);
        assert_eq!(c.plugins_dir, PathBuf::from("flag-plugins"));
        assert_eq!(c.cache_dir, PathBuf::from("env-cache"));
        assert_eq!(c.cycle, Some(CycleSchedule::parse("1d").unwrap()));
        let c = serve(ServeFlags::default(), Some("cycle_every = \"7d\"\n"), &[]);
        assert_eq!(c.plugins_dir, PathBuf::from(DEFAULT_PLUGINS_DIR));
        assert_eq!(c.cache_dir, PathBuf::from(DEFAULT_CACHE_DIR));
        assert_eq!(c.cycle, Some(CycleSchedule::parse("7d").unwrap()));
        let c = serve(ServeFlags::default(), None, &[("LOG_LEVEL", "debug")]);
        assert_eq!(c.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn listens_on_loopback_4007_unless_host_or_port_say_otherwise() {
        assert_eq!(
            load(None, &[]).unwrap().addr,
            "127.0.0.1:4007".parse().unwrap()
        );
        let c = load(None, &[("HOST", "0.0.0.0"), ("PORT", "8080")]).unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        let err = load(None, &[("PORT", "http")]).unwrap_err();
        assert_eq!(err.to_string(), "PORT=`http` is not a port number");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let file =
            "port = 9000\ncircuit_breaker_check_interval = 5000\ngovernance_db_path = \"a.db\"\n";
        let c = load(Some(file), &[]).unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.breaker_check_interval, Duration::from_millis(5000));
        assert_eq!(c.db_path, PathBuf::from("a.db"));
        let c = load(
            Some(file),
            &[
                ("PORT", "9001"),
                ("GOVERNANCE_DB_PATH", "b.db"),
                ("CIRCUIT_BREAKER_CHECK_INTERVAL", "250"),
            ],
        )
        .unwrap();
        assert_eq!(c.addr.port(), 9001);
        assert_eq!(c.db_path, PathBuf::from("b.db"));
        assert_eq!(c.breaker_check_interval, Duration::from_millis(250));
    }

    #[test]
    fn the_file_overrides_phases_rules_risk_and_plugin_params() {
        let file = r#"
cycle_every = "7d"
initial_stabilization_days = 90
[[breaker_rules]]
name = "Only"
enabled = true
condition = "failures >= 1"
window = "1m"
action = "alert_only"
alertSeverity = "LOW"
[risk]
medium_from = 20
[plugins.readiness-checklist.params.success-rate]
min = 0.99
"#;
        let c = load(Some(file), &[]).unwrap();
        assert_eq!(
            c.cycle,
            Some(CycleSchedule::Every(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(
            c.governance
                .phases
                .min_stabilization_days(crate::domain::Phase::L3),
            90
        );
        assert_eq!(c.governance.default_rules.len(), 1);
        assert_eq!(c.governance.default_rules[0].plugin, "expression");
        assert_eq!(c.governance.risk_bounds.medium_from, 20);
        assert!(c.plugin_params["readiness-checklist"].contains_key("success-rate"));
        let err = load(Some("prot = 1\n"), &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `prot`"), "{err}");
        let err = load(Some("cycle_every = \"weekly\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither a duration"), "{err}");
    }

    #[test]
    fn the_registry_section_checks_its_keys() {
        let key = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
        let c = load(
            Some(&format!(
                "[plugin_registry]\nrequire_signed = true\nshadow_inputs = 5\n[plugin_registry.trusted_keys]\nrelease = \"{key}\"\n"
            )),
            &[],
        )
        .unwrap();
        assert!(c.registry.require_signed);
        assert_eq!(c.registry.shadow_inputs, 5);
        assert_eq!(c.registry.shadow_sample_interval_ms, 1_000, "defaults kept");
        let err = load(Some("[plugin_registry]\nrequire_signed = true\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one trusted key"), "{err}");
        let err = load(
            Some("[plugin_registry.trusted_keys]\nrelease = \"not a key\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("trusted key `release`"), "{err}");
    }

    #[test]
    fn metrics_and_audit_checkpoints_are_checked() {
        let c = load(None, &[]).unwrap();
        assert!(!c.metrics.require_token);
        assert!(!c.audit.checkpoints());
        let c = load(
            Some(
                "[metrics]\nrequire_token = true\n[webhook]\nurl = \"http://127.0.0.1:9/h\"\n\
                 [audit]\ncheckpoint_key_file = \"k\"\ncheckpoint_file = \"c\"\ncheckpoint_every_entries = 5\ncheckpoint_webhook = true\n",
            ),
            &[],
        )
        .unwrap();
        assert!(c.metrics.require_token);
        assert!(c.audit.checkpoints() && c.audit.checkpoint_webhook);
        assert_eq!(
            (
                c.audit.checkpoint_every_entries,
                c.audit.checkpoint_every_secs
            ),
            (5, 60)
        );
        for (file, says) in [
            ("[audit]\ncheckpoint_key_file = \"k\"\n", "needs checkpoint_file"),
            ("[audit]\ncheckpoint_file = \"c\"\n", "needs checkpoint_key_file"),
            (
                "[audit]\ncheckpoint_key_file = \"k\"\ncheckpoint_file = \"c\"\ncheckpoint_every_secs = 0\n",
                "at least 1",
            ),
            (
                "[audit]\ncheckpoint_key_file = \"k\"\ncheckpoint_file = \"c\"\ncheckpoint_webhook = true\n",
                "needs a [webhook] url",
            ),
            ("[metrics]\nrequire = true\n", "require"),
        ] {
            let err = format!("{:#}", load(Some(file), &[]).unwrap_err());
            assert!(err.contains(says), "{file}: {err}");
        }
    }

    #[test]
    fn auth_and_the_initial_phase_are_checked() {
        let c = load(
            Some(
                "initial_phase = \"L4\"\nphase_started_at = \"2026-01-01T00:00:00Z\"\n\
                 [auth]\nrequire_bound_agents = true\n\
                 [auth.oidc]\nissuer = \"https://idp\"\naudience = \"regent\"\njwks_file = \"/etc/jwks.json\"\n",
            ),
            &[],
        )
        .unwrap();
        assert!(c.auth.require_bound_agents);
        let oidc = c.auth.oidc.unwrap();
        assert_eq!((oidc.roles_claim.as_str(), oidc.leeway_s), ("roles", 60));
        let initial = c.initial_phase.unwrap();
        assert_eq!(initial.phase, Phase::L4);
        assert_eq!(
            Some(initial.started_at),
            Timestamp::parse("2026-01-01T00:00:00Z").ok()
        );
        for (file, says) in [
            ("initial_phase = \"L4\"\n", "needs `phase_started_at`"),
            (
                "phase_started_at = \"2026-01-01T00:00:00Z\"\n",
                "needs `initial_phase`",
            ),
            (
                "initial_phase = \"L9\"\nphase_started_at = \"2026-01-01T00:00:00Z\"\n",
                "L9",
            ),
            (
                "initial_phase = \"L4\"\nphase_started_at = \"2999-01-01T00:00:00Z\"\n",
                "in the future",
            ),
            ("[auth]\nrequire_bound = true\n", "require_bound"),
            (
                "[auth.oidc]\nissuer = \"https://idp\"\naudience = \"regent\"\n",
                "[auth.oidc]",
            ),
        ] {
            let err = format!("{:#}", load(Some(file), &[]).unwrap_err());
            assert!(err.contains(says), "{file}: {err}");
        }
    }

    #[test]
    fn the_retention_section_sets_periods_and_refuses_bad_ones() {
        use crate::domain::retention::Period;
        let c = load(None, &[]).unwrap();
        assert_eq!(c.retention, RetentionPolicy::default());
        let c = load(
            Some("[retention]\ndecisions = \"7d\"\ncommands = \"0\"\nevery = \"250ms\"\n"),
            &[],
        )
        .unwrap();
        assert_eq!(c.retention.decisions, Period::days(7));
        assert_eq!(c.retention.commands, Period::FOREVER);
        assert_eq!(c.retention.every, Period::millis(250));
        assert_eq!(c.retention.events, Period::days(180));
        let err = load(Some("[retention]\ndecisions = \"a month\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`a month` is not a retention period"), "{err}");
        let err = load(Some("[retention]\nevery = \"0\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("[retention]: `every`"), "{err}");
        let err = load(Some("[retention]\naudit = \"1d\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `audit`"), "{err}");
    }

    #[test]
    fn tls_and_the_webhook_section_are_checked() {
        let c = load(
            Some(
                "[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n\
                 [webhook]\nurl = \"https://hooks.example.com/r\"\nqueue_capacity = 5\n",
            ),
            &[("REGENT_WEBHOOK_SECRET", "0123456789abcdef")],
        )
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert_file, PathBuf::from("c.pem"));
        assert_eq!(tls.key_file, PathBuf::from("k.pem"));
        assert_eq!(c.webhook.queue_capacity, 5);
        assert_eq!(
            c.webhook.secret,
            Some(crate::webhook::WebhookSecret::new("0123456789abcdef"))
        );
        assert_eq!(load(None, &[]).unwrap().webhook.queue_capacity, 10_000);
        for (file, env, says) in [
            ("[tls]\ncert_file = \"c.pem\"\n", None, "key_file"),
            (
                "[webhook]\nurl = \"http://hooks.example.com/r\"\n",
                None,
                "must use https://",
            ),
            (
                "[webhook]\nurl = \"https://h/r\"\nsecret = \"short\"\n",
                None,
                "at least 16 bytes",
            ),
            (
                "",
                Some(("REGENT_WEBHOOK_URL", "http://10.0.0.1/hook")),
                "must use https://",
            ),
        ] {
            let env: Vec<(&str, &str)> = env.into_iter().collect();
            let err = format!("{:#}", load(Some(file), &env).unwrap_err());
            assert!(err.contains(says), "{file}: {err}");
        }
    }

    #[test]
    fn otlp_export_is_off_unless_configured_and_the_environment_wins() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.tracing.otlp_endpoint, None);
        assert_eq!(c.metrics.store_cache_ms, 1000);
        let file =
            "[tracing]\notlp_endpoint = \"http://collector:4318\"\n[metrics]\nstore_cache_ms = 0\n";
        let c = load(Some(file), &[]).unwrap();
        assert_eq!(
            c.tracing.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(c.metrics.store_cache_ms, 0);
        let c = load(Some(file), &[("REGENT_OTLP_ENDPOINT", "http://other:4318")]).unwrap();
        assert_eq!(
            c.tracing.otlp_endpoint.as_deref(),
            Some("http://other:4318")
        );
        let err = load(Some("[tracing]\notlp_endpoint = \"collector:4318\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("otlp_endpoint"), "{err}");
    }
}
