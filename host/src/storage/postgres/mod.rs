//! The PostgreSQL store, for several replicas sharing one database:
//! [`PostgresStore`] implements every repository trait of
//! [`crate::storage::repositories`] with the same guarantees as SQLite's
//! (`docs/storage.md`). Nothing outside this module names
//! `tokio_postgres` or `deadpool_postgres`.
//!
//! - **One writer at a time, across replicas.** Every unit of work takes a
//!   transaction-level advisory lock ([`WRITER_LOCK`]) first, so changes
//!   serialize exactly as SQLite's `IMMEDIATE` transactions do: a cost and
//!   the trip it causes, an approval and the phase it moves, and the audit
//!   chain's appends are never interleaved with another replica's. The
//!   decision log does not take it: its appends are independent rows and
//!   its totals are atomic upserts.
//! - **Durable when acknowledged.** PostgreSQL's default
//!   `synchronous_commit = on`: a commit has reached the WAL on disk.
//! - **Changes reach the other replicas.** Every unit of work bumps
//!   `change_version` and `pg_notify`s it at commit; [`replication`]
//!   listens, polls as a fallback, and rebuilds the control snapshot.
//! - **Fail closed when stale.** [`ControlRepository::control`] returns a
//!   fault snapshot (every call denied, with the reason) once the snapshot
//!   has not been confirmed current for longer than the staleness bound.
//!
//! The repository traits are synchronous, called from blocking threads as
//! SQLite's are. The store owns a small tokio runtime that drives its
//! connections, and runs each operation's future to completion on the
//! calling thread ([`PostgresStore::block_on`]).

mod access;
mod agents;
mod audit;
mod breakers;
mod budgets;
mod commands;
mod control;
mod events;
mod governance;
mod idempotency;
mod leases;
mod plugins;
mod replicas;
pub(crate) mod replication;
mod retention;
mod schema;
mod scopes;
mod sessions;
mod workflows;

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::domain::control::ControlSnapshot;
use crate::domain::Timestamp;
use crate::storage::repositories::*;
use crate::storage::StorageError;

pub(crate) use crate::storage::codec::{from_json, json_value, to_json};

/// The transaction-level advisory lock every unit of work takes first
/// ("regent:w" in ASCII).
const WRITER_LOCK: i64 = 0x7265_6765_6e74_3a77;

/// The channel every commit notifies, with the new change version.
pub(crate) const CHANGES_CHANNEL: &str = "regent_changes";

/// How the store connects and how long its snapshot may go unconfirmed.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool: the most statements in flight at once.
    pub pool_size: usize,
    /// How long a caller waits for a pooled connection, and for a new one
    /// to be established, before the operation fails.
    pub connect_timeout: Duration,
    /// A control snapshot not confirmed current for longer than this is
    /// not decided on: `control()` returns a fault that denies everything.
    pub stale_after: Duration,
    /// How often the version is checked when no notification arrives.
    pub poll_every: Duration,
    /// With `sslmode=require`: the only roots trusted for the server's
    /// certificate; without it, the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// At start, how long a connection that times out is tried again
    /// before the replica gives up: a server slow to accept (a failover, a
    /// busy host, a fleet starting at once) is waited for. A refusal (wrong
    /// password, a certificate that does not verify, nothing listening)
    /// fails at once.
    pub start_wait: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(2),
            stale_after: Duration::from_secs(5),
            poll_every: Duration::from_millis(500),
            ca_file: None,
            start_wait: Duration::from_secs(30),
        }
    }
}

/// Every driver failure becomes a backend error naming what was being
/// done, with the driver's error as its source.
pub(crate) fn pg(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StorageError {
    move |e| {
        // A constraint the schema enforces is the caller's conflict, not a
        // broken backend.
        if let Some(db) = e.as_db_error() {
            if db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                return StorageError::Conflict(db.message().to_string());
            }
        }
        StorageError::Backend {
            operation,
            source: Box::new(e),
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StorageError {
    StorageError::Backend {
        operation: "get a PostgreSQL connection from the pool",
        source: Box::new(e),
    }
}

/// A pooled connection; statements prepared on it are cached by the pool.
pub(crate) type PgClient = deadpool_postgres::Object;

/// One change of state: a single transaction, begun by taking
/// [`WRITER_LOCK`], that spans every table the change touches and appends
/// its audit entries. Committed as a whole by [`PostgresStore::write`]
/// when the closure returns `Ok`, rolled back otherwise.
pub(crate) struct UnitOfWork<'c> {
    tx: deadpool_postgres::Transaction<'c>,
}

impl UnitOfWork<'_> {
    /// Appends `entry` to the audit chain, inside this unit of work.
    pub(crate) async fn audit(
        &self,
        at: Timestamp,
        entry: NewAudit<'_>,
    ) -> Result<i64, StorageError> {
        audit::append(&self.tx, at, entry).await
    }
}

impl<'c> std::ops::Deref for UnitOfWork<'c> {
    type Target = deadpool_postgres::Transaction<'c>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

/// The published control state: the snapshot, the change version it was
/// read at, and when it was last confirmed current.
struct Published {
    snapshot: Arc<ControlSnapshot>,
    version: i64,
    confirmed: Instant,
}

pub struct PostgresStore {
    pool: Pool,
    /// Drives the pool's connections and the listener. `None` only while
    /// dropping: a runtime cannot be dropped inside another's async
    /// context, so it is shut down in the background instead.
    runtime: Option<tokio::runtime::Runtime>,
    published: RwLock<Published>,
    /// Serializes publishing, so a snapshot read earlier never replaces
    /// one read later.
    publishing: Mutex<()>,
    options: PostgresOptions,
    url: String,
    /// How the pool's connections and the listener's reach the server.
    transport: Transport,
    changes: tokio::sync::watch::Sender<i64>,
}

/// Plain TCP, or TLS verified as the webhook client verifies its receiver.
///
/// TLS is used only when the URL asks for it with `sslmode=require`, and
/// then the server's certificate is verified (chain and host name), which
/// is libpq's `verify-full`: a `require` that trusted any certificate would
/// let whoever sits on the path impersonate the database that holds the
/// brakes. `sslmode=prefer`, the driver's default, is plain TCP, so no
/// deployment changes behaviour without asking.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Transport {
    fn for_url(
        config: &tokio_postgres::Config,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, crate::tls::TlsError> {
        Ok(match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Transport::Tls(
                tokio_postgres_rustls::MakeRustlsConnect::new(crate::tls::client_config(ca_file)?),
            ),
            _ => Transport::Plain,
        })
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl PostgresStore {
    /// Connects to `url`, applies any pending migration (under the
    /// migration lock), reads the control state, and starts listening for
    /// other replicas' changes.
    pub fn connect(url: &str, options: PostgresOptions) -> Result<Self, StorageError> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| StorageError::Open {
            path: redact(url),
            source,
        };
        let config: tokio_postgres::Config = url.parse().map_err(|e| fail(Box::new(e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("regent-postgres")
            .enable_all()
            .build()
            .map_err(|e| fail(Box::new(e)))?;
        let transport = Transport::for_url(&config, options.ca_file.as_deref())
            .map_err(|e| fail(Box::new(e)))?;
        let manager_config = ManagerConfig {
            // A connection handed out again is checked with a round trip,
            // so a connection the server closed is never used.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &transport {
            Transport::Plain => Manager::from_config(config.clone(), NoTls, manager_config),
            Transport::Tls(tls) => {
                Manager::from_config(config.clone(), tls.clone(), manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| fail(Box::new(e)))?;
        let (changes, _) = tokio::sync::watch::channel(0);
        let store = Self {
            pool,
            runtime: Some(runtime),
            published: RwLock::new(Published {
                snapshot: Arc::new(ControlSnapshot::fault(
                    "the control state has not been read yet".into(),
                )),
                version: -1,
                confirmed: Instant::now(),
            }),
            publishing: Mutex::new(()),
            options,
            url: url.to_string(),
            transport,
            changes,
        };
        store
            .block_on(async {
                let mut client = store.first_connection().await?;
                schema::migrate(&mut client).await
            })
            .map_err(|e| fail(Box::new(e)))?;
        store.refresh_control().map_err(|e| fail(Box::new(e)))?;
        Ok(store)
    }

    /// The database URL this store connected to (with its password).
    /// The first connection, waiting up to `start_wait` for a server that
    /// is slow to accept; any other failure is returned at once.
    async fn first_connection(&self) -> Result<deadpool_postgres::Object, StorageError> {
        let deadline = Instant::now() + self.options.start_wait;
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.pool.get().await {
                Ok(client) => return Ok(client),
                Err(e @ deadpool_postgres::PoolError::Timeout(_))
                    if Instant::now() + backoff < deadline =>
                {
                    tracing::warn!(url = %redact(&self.url), error = %e, "PostgreSQL has not accepted a connection yet; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(pool_error(e)),
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Whether connections to the server use TLS (`sslmode=require`).
    pub fn uses_tls(&self) -> bool {
        self.transport.is_tls()
    }

    pub(crate) fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// The change version of the published snapshot; replicas report it.
    pub fn control_version(&self) -> i64 {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .version
    }

    /// Follows every change this store publishes, by change version.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.changes.subscribe()
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        match &self.runtime {
            Some(rt) => rt.handle(),
            // Only `drop` takes the runtime, and nothing runs after it.
            None => unreachable!("the store's runtime is gone only once the store is dropped"),
        }
    }

    /// Runs `fut` to completion on the calling thread, with the store's
    /// runtime entered so the driver can spawn and time out on it. Unlike
    /// `Runtime::block_on`, this never panics when the caller is itself on
    /// a runtime (a misplaced call blocks that thread, as a SQLite call
    /// would, instead of taking the process down).
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _entered = self.runtime().enter();
        futures_executor::block_on(fut)
    }

    pub(crate) async fn client(&self) -> Result<PgClient, StorageError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs a read on a pooled connection.
    pub(crate) fn read<R>(
        &self,
        f: impl AsyncFnOnce(&PgClient) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        self.block_on(async {
            let client = self.client().await?;
            f(&client).await
        })
    }

    /// Runs `f` in one unit of work: committed if it returns `Ok`, rolled
    /// back otherwise. The commit bumps the change version and notifies
    /// the other replicas; the control snapshot is republished after it.
    pub(crate) fn write<R>(
        &self,
        f: impl AsyncFnOnce(&UnitOfWork<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let out = self.block_on(async {
            let mut client = self.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(pg("begin a transaction"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])
                .await
                .map_err(pg("take the writer lock"))?;
            let work = UnitOfWork { tx };
            let out = f(&work).await?;
            let version: i64 = work
                .tx
                .query_one(
                    "UPDATE change_version SET version = version + 1 WHERE id = 1 RETURNING version",
                    &[],
                )
                .await
                .map_err(pg("bump the change version"))?
                .get(0);
            work.tx
                .execute(
                    "SELECT pg_notify($1, $2)",
                    &[&CHANGES_CHANNEL, &version.to_string()],
                )
                .await
                .map_err(pg("notify the other replicas"))?;
            work.tx.commit().await.map_err(pg("commit"))?;
            Ok::<_, StorageError>(out)
        })?;
        if let Err(e) = self.refresh_control() {
            // Committed, so the caller's change stands; the snapshot stays
            // as it was and turns into a fault once it is stale.
            tracing::error!(error = %e, "cannot reread the control state after a commit");
        }
        Ok(out)
    }

    /// Rereads the control state if the change version moved, and marks
    /// the snapshot confirmed either way. Returns the version now published.
    pub fn refresh_control(&self) -> Result<i64, StorageError> {
        let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.control_version();
        let read = self.block_on(async {
            let mut client = self.client().await?;
            let version: i64 = client
                .query_one("SELECT version FROM change_version WHERE id = 1", &[])
                .await
                .map_err(pg("read the change version"))?
                .get(0);
            if version == current {
                return Ok(None);
            }
            // One snapshot of the database for the version and the state.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg("begin reading the control state"))?;
            let version: i64 = tx
                .query_one("SELECT version FROM change_version WHERE id = 1", &[])
                .await
                .map_err(pg("read the change version"))?
                .get(0);
            let snapshot = control::read_snapshot(&tx).await?;
            tx.commit()
                .await
                .map_err(pg("finish reading the control state"))?;
            Ok::<_, StorageError>(Some((version, snapshot)))
        });
        let mut published = self.published.write().unwrap_or_else(|p| p.into_inner());
        match read {
            Ok(Some((version, snapshot))) => {
                if version > published.version {
                    published.snapshot = Arc::new(snapshot);
                    published.version = version;
                }
                published.confirmed = Instant::now();
                let version = published.version;
                drop(published);
                self.changes.send_replace(version);
                Ok(version)
            }
            Ok(None) => {
                published.confirmed = Instant::now();
                Ok(published.version)
            }
            Err(e) => Err(e),
        }
    }

    /// How long ago the published snapshot was last confirmed current.
    pub fn snapshot_age(&self) -> Duration {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .confirmed
            .elapsed()
    }

    fn published_control(&self) -> Arc<ControlSnapshot> {
        let published = self.published.read().unwrap_or_else(|p| p.into_inner());
        let age = published.confirmed.elapsed();
        if age > self.options.stale_after {
            // Fail closed: a brake applied elsewhere may be missing here.
            return Arc::new(ControlSnapshot::fault(format!(
                "this replica's control state was last confirmed {} ms ago (bound {} ms): \
                 the database is unreachable or lagging, so no decision is made on stale brakes",
                age.as_millis(),
                self.options.stale_after.as_millis()
            )));
        }
        published.snapshot.clone()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl HealthRepository for PostgresStore {
    fn check_writable(&self) -> Result<(), StorageError> {
        if self.snapshot_age() > self.options.stale_after {
            return Err(StorageError::Backend {
                operation: "confirm the control state is current",
                source: format!(
                    "the control state was last confirmed {} ms ago",
                    self.snapshot_age().as_millis()
                )
                .into(),
            });
        }
        // Not a unit of work: a probe must not bump the change version,
        // which would wake every other replica at each `/ready` poll.
        self.read(async |c| {
            c.execute(
                "UPDATE governance_state SET emergency_stop = emergency_stop",
                &[],
            )
            .await
            .map_err(pg("write to governance_state"))?;
            Ok(())
        })
    }

    fn schema_version(&self) -> Result<i64, StorageError> {
        self.read(async |c| {
            Ok(c.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg("read the schema version"))?
            .get(0))
        })
    }
}

/// Databases of their own for tests, on the server `REGENT_TEST_DATABASE_URL`
/// names (else the local one), dropped when the handle is.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The server tests run on: `REGENT_TEST_DATABASE_URL` (a URL to any
    /// database on it), else PostgreSQL on 127.0.0.1:5432 as `postgres`.
    pub(crate) fn admin_url() -> String {
        std::env::var("REGENT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// A fresh database, dropped (with any connection left to it) on drop.
    pub(crate) struct TestDatabase {
        pub(crate) url: String,
        name: String,
    }

    fn admin(sql: &str) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url(), NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "tests need PostgreSQL at {} (set REGENT_TEST_DATABASE_URL, or run `make test`, which starts one): {e}",
                        redact(&admin_url())
                    )
                });
            let driver = tokio::spawn(connection);
            client.batch_execute(sql).await.expect(sql);
            drop(client);
            let _ = driver.await;
        });
    }

    impl TestDatabase {
        pub(crate) fn create() -> Self {
            let name = format!("regent_test_{}", hex::encode(rand::random::<[u8; 8]>()));
            admin(&format!("CREATE DATABASE {name}"));
            let base = admin_url();
            let url = match base.rfind('/') {
                Some(slash) if base[..slash].contains("://") && base[slash..].len() > 1 => {
                    let query = base[slash..]
                        .find('?')
                        .map(|q| &base[slash + q..])
                        .unwrap_or("");
                    format!("{}/{name}{query}", &base[..slash])
                }
                _ => format!("{base}/{name}"),
            };
            Self { url, name }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            admin(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use super::test_support::TestDatabase;
    use super::{PostgresOptions, PostgresStore};
    use crate::storage::conformance::{conformance_suite, StoreFactory};
    use crate::storage::Store;

    /// A database of the test's own; reopening connects to it again.
    struct PostgresFactory {
        database: TestDatabase,
    }

    impl StoreFactory for PostgresFactory {
        fn open(&self) -> Arc<dyn Store> {
            Arc::new(
                PostgresStore::connect(&self.database.url, PostgresOptions::default())
                    .expect("the test store connects"),
            )
        }
    }

    conformance_suite!(PostgresFactory {
        database: TestDatabase::create()
    });
}

#[cfg(test)]
mod tls {
    use super::test_support::TestDatabase;
    use super::{PostgresOptions, PostgresStore};
    use crate::storage::prelude::*;

    fn with_query(url: &str, query: &str) -> String {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}{query}")
    }

    /// The attack: something on the path answers for the database with a
    /// certificate no trusted root signed, or strips TLS off. Asked for
    /// `sslmode=require`, Regent refuses to connect: it never falls back to
    /// plain TCP, nor trusts what it cannot verify.
    #[test]
    fn require_refuses_a_server_it_cannot_verify() {
        let database = TestDatabase::create();
        let refused = PostgresStore::connect(
            &with_query(&database.url, "sslmode=require"),
            PostgresOptions::default(),
        );
        let error = match refused {
            Ok(_) => panic!(
                "connected with TLS to a server whose certificate no system root signed (a snakeoil or no TLS at all)"
            ),
            Err(e) => format!("{e:#}").to_lowercase(),
        };
        assert!(
            ["tls", "certificate", "issuer", "ssl"]
                .iter()
                .any(|w| error.contains(w)),
            "the refusal names TLS: {error}"
        );
        let plain = PostgresStore::connect(
            &with_query(&database.url, "sslmode=disable"),
            PostgresOptions::default(),
        )
        .expect("the same server, asked for no TLS, connects");
        assert!(!plain.uses_tls());
    }

    /// Where the server has Debian's default certificate (`ssl = on` with
    /// the snakeoil certificate for `localhost`), trusting that certificate
    /// as the CA file connects over TLS, and the server sees TLS.
    #[test]
    fn require_with_the_servers_ca_connects_over_tls() {
        let snakeoil = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
        let database = TestDatabase::create();
        let plain = PostgresStore::connect(&database.url, PostgresOptions::default()).unwrap();
        let server_ssl: String = plain
            .read(async |c| Ok(c.query_one("SHOW ssl", &[]).await.unwrap().get(0)))
            .unwrap();
        if server_ssl != "on" || !snakeoil.exists() || !database.url.contains("@127.0.0.1:") {
            eprintln!(
                "skipped: this PostgreSQL has no snakeoil TLS on 127.0.0.1 (ssl = {server_ssl})"
            );
            return;
        }
        let url = with_query(
            &database.url.replace("@127.0.0.1:", "@localhost:"),
            "sslmode=require",
        );
        let store = PostgresStore::connect(
            &url,
            PostgresOptions {
                ca_file: Some(snakeoil.into()),
                ..PostgresOptions::default()
            },
        )
        .expect("TLS with the server's own certificate as the CA");
        assert!(store.uses_tls());
        let encrypted: bool = store
            .read(async |c| {
                Ok(c.query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0))
            })
            .unwrap();
        assert!(encrypted, "the server sees this connection as TLS");
        assert!(store.decision_totals().is_ok(), "and serves over it");
    }
}
