//! Several real `regent serve` processes sharing one PostgreSQL database,
//! for the multi-replica tests (tests/suite/cluster.rs).
//!
//! Each test gets a database of its own on the test server
//! (`REGENT_TEST_DATABASE_URL`, else PostgreSQL on 127.0.0.1:5432 as
//! `postgres`, which `make test` makes sure of: scripts/ensure-postgres.sh),
//! dropped when the test ends. Each replica is the built binary
//! (target/debug/regent) on a port of its own, with its own directory for
//! its `--db` path (unused on PostgreSQL), compile cache and log: all they
//! share is the database, the plugins directory and the config file, as
//! replicas on separate hosts would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::NoTls;

use crate::app::{plugins_dir, ADMIN};

/// The server the tests run on: `REGENT_TEST_DATABASE_URL` (a URL to any
/// database on it whose role may create databases), else the local one.
pub fn test_server_url() -> String {
    std::env::var("REGENT_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `name` (any query kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority = base.find("://").map_or(0, |s| s + 3);
    let stem = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    format!("{stem}/{name}{query}")
}

/// Runs `sql` on the server's administrative database, on a runtime of its
/// own in a thread of its own, so it works from `Drop` and from inside a
/// test's runtime alike.
fn admin(sql: String) {
    let url = test_server_url();
    let what = sql.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&url, NoTls)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                        "the cluster tests need PostgreSQL at {url} (set REGENT_TEST_DATABASE_URL, \
                         or run `make test`, which starts one: scripts/ensure-postgres.sh): {e}"
                    )
                    });
            let driver = tokio::spawn(connection);
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            drop(client);
            let _ = driver.await;
        });
    })
    .join()
    .unwrap_or_else(|_| panic!("cannot run `{what}` on the test server"));
}

/// A database of the test's own, dropped (with every connection still on
/// it) when this is.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).unwrap();
        let name = format!("regent_cluster_{}", hex::encode(suffix));
        admin(format!("CREATE DATABASE {name}"));
        Self {
            url: with_database(&test_server_url(), &name),
            name,
        }
    }

    /// A connection to this database, driven on the caller's runtime.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One `regent serve` process.
pub struct Replica {
    pub port: u16,
    pub base: String,
    /// The database URL it starts with, when not the cluster's own (one
    /// through a [`Proxy`], to cut it off).
    pub database_url: Option<String>,
    /// Its own directory: the SQLite path `--db` names (unused on
    /// PostgreSQL), the compile cache, and its log.
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn log_path(&self) -> PathBuf {
        self.dir.join("regent.log")
    }

    /// What the process wrote to stderr, for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// How to start the cluster.
pub struct ClusterSpec<'a> {
    pub replicas: usize,
    /// The config file every replica reads (TOML), beside `--database-url`.
    pub config: String,
    /// Plugins beside the built-in ones: (source directory, name).
    pub extra_plugins: &'a [(&'a Path, &'a str)],
    /// Replica `i` reaches the database through this proxy, to be cut off.
    pub through_proxy: Option<(usize, &'a Proxy)>,
}

impl Default for ClusterSpec<'_> {
    fn default() -> Self {
        Self {
            replicas: 3,
            config: String::new(),
            extra_plugins: &[],
            through_proxy: None,
        }
    }
}

/// `[cluster]` bounds that keep the tests quick: heartbeats, polls and
/// leases in a fraction of their production defaults, and a small pool
/// per replica so several clusters fit the server's connection limit.
pub const FAST_CLUSTER: &str = "[cluster]\npool_size = 8\npoll_ms = 200\nheartbeat_ms = 200\nlive_within_ms = 1500\nlease_ttl_ms = 2000\n";

pub struct Cluster {
    pub replicas: Vec<Replica>,
    pub client: reqwest::Client,
    plugins: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
    // Last, so it is dropped after every replica is gone.
    pub database: TestDatabase,
}

impl Cluster {
    /// Three replicas with the built-in plugins and [`FAST_CLUSTER`].
    pub async fn start(replicas: usize) -> Self {
        Self::start_with(ClusterSpec {
            replicas,
            config: FAST_CLUSTER.into(),
            ..ClusterSpec::default()
        })
        .await
    }

    /// The first replica alone (it migrates the database, initializes the
    /// state and imports the plugins directory), then the others together;
    /// returns once every one answers `/ready` with 200.
    pub async fn start_with(spec: ClusterSpec<'_>) -> Self {
        assert!(spec.replicas >= 1);
        let database = TestDatabase::create();
        let dir = tempfile::tempdir().unwrap();
        let plugins = plugins_dir(dir.path(), spec.extra_plugins);
        let config = dir.path().join("regent.toml");
        std::fs::write(&config, &spec.config).unwrap();
        let replicas = (0..spec.replicas)
            .map(|i| {
                let port = free_port();
                let own = dir.path().join(format!("replica-{i}"));
                std::fs::create_dir_all(&own).unwrap();
                Replica {
                    port,
                    base: format!("http://127.0.0.1:{port}"),
                    database_url: spec
                        .through_proxy
                        .filter(|(proxied, _)| *proxied == i)
                        .map(|(_, proxy)| proxy.url_for(&database)),
                    dir: own,
                    child: None,
                }
            })
            .collect();
        let mut cluster = Self {
            replicas,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            plugins,
            config,
            dir,
            database,
        };
        cluster.launch(0);
        cluster.wait_ready(0).await;
        for i in 1..spec.replicas {
            cluster.launch(i);
        }
        for i in 1..spec.replicas {
            cluster.wait_ready(i).await;
        }
        cluster
    }

    /// The directory the replicas share their plugins and config from.
    pub fn shared_dir(&self) -> &Path {
        self.dir.path()
    }

    fn launch(&mut self, i: usize) {
        let replica = &self.replicas[i];
        assert!(replica.child.is_none(), "replica {i} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(replica.log_path())
            .unwrap();
        let child = Command::new(crate::regent_bin())
            .arg("serve")
            .arg("--database-url")
            .arg(
                replica
                    .database_url
                    .as_deref()
                    .unwrap_or(&self.database.url),
            )
            .arg("--config")
            .arg(&self.config)
            .arg("--plugins-dir")
            .arg(&self.plugins)
            .arg("--db")
            .arg(replica.dir.join("regent.db"))
            .arg("--cache-dir")
            .arg(replica.dir.join("cache"))
            .env("PORT", replica.port.to_string())
            .env("HOST", "127.0.0.1")
            .env("REGENT_ADMIN_TOKEN", ADMIN)
            // On PostgreSQL a replica keys its compile cache with a key of
            // its own, held in memory: it compiles the stored bytes itself.
            .env_remove("REGENT_CACHE_KEY_FILE")
            .env("RUST_LOG", "warn")
            .env_remove("REGENT_DATABASE_URL")
            .env_remove("GOVERNANCE_DB_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.replicas[i].child = Some(child);
    }

    /// Waits for `/ready` to answer 200 on replica `i`.
    pub async fn wait_ready(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = format!("{}/ready", self.replicas[i].base);
        loop {
            if let Ok(r) = self.client.get(&url).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            if let Some(child) = self.replicas[i].child.as_mut() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "replica {i} exited ({status}) before it was ready:\n{}",
                        self.replicas[i].log()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "replica {i} was not ready within 120 s:\n{}",
                self.replicas[i].log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9` of replica `i`: no shutdown, nothing flushed.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM to replica `i`, then waits for it to exit (a graceful
    /// shutdown: it retires from the live list).
    pub fn terminate(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            let sent = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(sent.success(), "kill -TERM replica {i}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("replica {i} ignored SIGTERM:\n{}", self.replicas[i].log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `PUT /api/plugins/{name}{query}` on replica `i`, as multipart, with
    /// the admin token.
    pub async fn upload(
        &self,
        i: usize,
        name: &str,
        query: &str,
        wasm: &[u8],
        manifest: &str,
    ) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(wasm.to_vec()).file_name(format!("{name}.wasm")),
            )
            .text("manifest", manifest.to_string());
        let resp = self
            .client
            .put(format!("{}/api/plugins/{name}{query}", self.base(i)))
            .bearer_auth(ADMIN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Starts replica `i` again (after [`Cluster::kill`]) on the same port
    /// and waits until it is ready.
    pub async fn restart(&mut self, i: usize) {
        self.launch(i);
        self.wait_ready(i).await;
    }

    pub fn base(&self, i: usize) -> &str {
        &self.replicas[i].base
    }

    /// Sends `body` to replica `i` with `token`; returns the status and the
    /// JSON reply (`null` for an empty one, a string for text).
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        call(&self.client, self.base(i), method, path, token, body).await
    }

    pub async fn get(&self, i: usize, path: &str) -> (StatusCode, Value) {
        self.call(i, Method::GET, path, Some(ADMIN), None).await
    }

    pub async fn post_as(
        &self,
        i: usize,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        self.call(i, Method::POST, path, Some(token), Some(body))
            .await
    }

    /// A new token holding `roles`, minted on replica `i`; returns its secret.
    pub async fn token(&self, i: usize, name: &str, roles: &[&str]) -> String {
        let (status, body) = self
            .post_as(
                i,
                ADMIN,
                "/api/tokens",
                &json!({"name": name, "roles": roles}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Polls `check` on every replica until each returns true, or panics
    /// naming `what` after `within`.
    pub async fn on_every_replica(
        &self,
        what: &str,
        within: Duration,
        mut check: impl AsyncFnMut(usize) -> bool,
    ) {
        let deadline = Instant::now() + within;
        for i in 0..self.replicas.len() {
            if !self.replicas[i].is_running() {
                continue;
            }
            while !check(i).await {
                assert!(
                    Instant::now() < deadline,
                    "replica {i}: {what} not seen within {within:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One request with `reqwest` (free of `Cluster`, for spawned tasks).
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{base}{path}: {e}"));
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            if let Some(mut child) = replica.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Then `database` drops, with FORCE for any connection left.
    }
}

/// A TCP proxy to the test server: a replica whose database URL goes
/// through it ([`Proxy::url_for`]) can be cut off from PostgreSQL (every
/// connection dropped, new ones refused) and let back on the same port.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start() -> Self {
        let upstream = server_of(&test_server_url());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Self {
            addr,
            upstream,
            task: Some(tokio::spawn(forward(listener, upstream))),
        }
    }

    /// `database`'s URL, through this proxy.
    pub fn url_for(&self, database: &TestDatabase) -> String {
        via(&database.url, self.addr)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn restore(&mut self) {
        if self.task.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot listen on {} again: {e}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.task = Some(tokio::spawn(forward(listener, self.upstream)));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Accepts and pipes connections. Aborting it drops the listener and every
/// connection with it: they live in its `JoinSet`.
async fn forward(listener: tokio::net::TcpListener, upstream: std::net::SocketAddr) {
    let mut pipes = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        pipes.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while pipes.try_join_next().is_some() {}
    }
}

/// The `host:port` a database URL connects to.
fn server_of(url: &str) -> std::net::SocketAddr {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let rest = &rest[rest.rfind('@').map_or(0, |i| i + 1)..];
    let hostport = rest.split(['/', '?']).next().unwrap_or_default();
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("the test server's address `{hostport}`: {e}"))
}

/// `url`, connecting through `through` instead of the server it names.
fn via(url: &str, through: std::net::SocketAddr) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let at = url.rfind('@').map_or(scheme_end, |i| i + 1);
    let rest = &url[at..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{}{through}{}", &url[..at], &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::{server_of, via, with_database};

    #[test]
    fn a_url_is_routed_through_a_proxy() {
        assert_eq!(
            server_of("postgres://u:p@127.0.0.1:5433/x"),
            "127.0.0.1:5433".parse().unwrap()
        );
        assert_eq!(
            server_of("postgres://postgres@localhost/x"),
            "127.0.0.1:5432".parse().unwrap()
        );
        assert_eq!(
            via(
                "postgres://postgres@127.0.0.1:5432/t1?x=1",
                "127.0.0.1:6000".parse().unwrap()
            ),
            "postgres://postgres@127.0.0.1:6000/t1?x=1"
        );
    }

    #[test]
    fn a_database_name_replaces_the_urls_own_and_keeps_its_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/x?sslmode=disable", "t2"),
            "postgres://u:p@db:5432/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@db:5432", "t3"),
            "postgres://u@db:5432/t3"
        );
    }
}
