//! Several real `regent serve` processes on one PostgreSQL database: a
//! database per test (dropped after), replicas started on ports of their
//! own (each with its own SQLite path, compile cache and plugins
//! directory), a client per replica, `kill -9` of one, and a TCP proxy to
//! cut one replica off from PostgreSQL and let it back.
//!
//! The server is `REGENT_TEST_DATABASE_URL` when set, else PostgreSQL on
//! 127.0.0.1:5432 as `postgres` (as the host's own tests use).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::app::ADMIN;

/// The server tests run on: a URL to any database on it.
pub fn admin_url() -> String {
    std::env::var("REGENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database replaced by `name` (the query, if any, kept).
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{name}{query}", &base[..scheme_end + slash]),
        None => format!("{base}/{name}{query}"),
    }
}

/// The `host:port` a URL connects to.
fn server_of(url: &str) -> SocketAddr {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let rest = &rest[rest.rfind('@').map_or(0, |i| i + 1)..];
    let hostport = rest.split(['/', '?']).next().unwrap();
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("the test database's address `{hostport}`: {e}"))
}

/// `url`, connecting through `through` instead of the server it names.
fn via(url: &str, through: SocketAddr) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let at = url.rfind('@').map_or(scheme_end, |i| i + 1);
    let rest = &url[at..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{}{through}{}", &url[..at], &rest[end..])
}

async fn admin(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("the cluster tests need PostgreSQL (set REGENT_TEST_DATABASE_URL, or run `make test`, which starts one): {e}")
        });
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = driver.await;
}

/// A database of the test's own, dropped (with any connection still open
/// to it) when the handle is.
pub struct Database {
    pub url: String,
    name: String,
}

impl Database {
    pub async fn create() -> Self {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name = format!("regent_test_{}", hex::encode(random));
        admin(&format!("CREATE DATABASE {name}")).await;
        Self {
            url: with_database(&admin_url(), &name),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Dropped inside a test's runtime, which cannot block on itself.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin(&sql));
        })
        .join();
        if dropped.is_err() {
            eprintln!("cannot drop the test database {}", self.name);
        }
    }
}

/// How to start one replica.
#[derive(Debug, Clone, Default)]
pub struct ReplicaOptions {
    /// Text added to the replica's config file (`[cluster]` bounds, ...).
    pub config: String,
    /// The database URL, when not the cluster's own (through a proxy).
    pub database_url: Option<String>,
    /// Plugins in its directory, as (source directory, name).
    pub plugins: Vec<(PathBuf, String)>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// One `regent serve` process.
pub struct Replica {
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    database_url: String,
    options: ReplicaOptions,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Replica {
    /// Starts a replica on `database_url` and waits until it answers.
    pub async fn start(database_url: &str, options: ReplicaOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut replica = Self {
            base: String::new(),
            port: free_port(),
            client: reqwest::Client::new(),
            dir,
            database_url: options
                .database_url
                .clone()
                .unwrap_or_else(|| database_url.to_string()),
            options,
            child: None,
        };
        replica.base = format!("http://127.0.0.1:{}", replica.port);
        replica.spawn();
        replica.wait_up().await;
        replica
    }

    fn spawn(&mut self) {
        let root = self.dir.path();
        let plugins = root.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        for (from, name) in &self.options.plugins {
            crate::app::copy_plugin(from, &plugins, name);
        }
        let config = root.join("regent.toml");
        std::fs::write(&config, &self.options.config).unwrap();
        let log = std::fs::File::create(root.join("regent.log")).unwrap();
        let mut cmd = Command::new(crate::regent_bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--plugins-dir")
            .arg(&plugins)
            .arg("--cache-dir")
            .arg(root.join("cache"))
            .arg("--db")
            .arg(root.join("regent.db"))
            .arg("--database-url")
            .arg(&self.database_url)
            .env("PORT", self.port.to_string())
            .env("REGENT_ADMIN_TOKEN", ADMIN)
            .env_remove("REGENT_DATABASE_URL")
            .env_remove("REGENT_CACHE_KEY_FILE")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    /// The replica's log so far, for a failing assertion's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("regent.log")).unwrap_or_default()
    }

    async fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("replica on port {} exited ({status}):\n{}", self.port, self.log());
            }
            if let Ok(r) = self.client.get(format!("{}/health", self.base)).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "replica on port {} did not start:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown, no retirement.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("replica on port {} ignored SIGTERM", self.port);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts the replica again (same port, directory and options).
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn();
        self.wait_up().await;
    }

    /// Sends `body` (JSON) with `token`; returns the status and the JSON
    /// reply (`null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
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

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(ADMIN), None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(ADMIN), Some(body)).await
    }

    /// `PUT /api/plugins/{name}{query}` as multipart, with the admin token.
    pub async fn upload(
        &self,
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
            .put(format!("{}/api/plugins/{name}{query}", self.base))
            .bearer_auth(ADMIN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// N replicas on a fresh database of their own.
pub struct Cluster {
    /// Declared first: the replicas stop before their database is dropped.
    pub replicas: Vec<Replica>,
    pub database: Database,
}

impl Cluster {
    /// `n` replicas with the same options.
    pub async fn start(n: usize, options: ReplicaOptions) -> Self {
        Self::start_each(n, |_| options.clone()).await
    }

    /// `n` replicas, the i-th with `options(i)`. The first starts alone
    /// (it migrates and seeds the database); the others then start
    /// together.
    pub async fn start_each(n: usize, options: impl Fn(usize) -> ReplicaOptions) -> Self {
        Self::start_on(Database::create().await, n, options).await
    }

    /// As [`Self::start_each`], on a database made beforehand (to route a
    /// replica through a [`Proxy`] to it).
    pub async fn start_on(
        database: Database,
        n: usize,
        options: impl Fn(usize) -> ReplicaOptions,
    ) -> Self {
        let mut replicas = Vec::with_capacity(n);
        if n > 0 {
            replicas.push(Replica::start(&database.url, options(0)).await);
        }
        let rest: Vec<_> = (1..n)
            .map(|i| {
                let (url, opts) = (database.url.clone(), options(i));
                tokio::spawn(async move { Replica::start(&url, opts).await })
            })
            .collect();
        for r in rest {
            replicas.push(r.await.unwrap());
        }
        let cluster = Self { replicas, database };
        cluster.wait_all_live().await;
        cluster
    }

    /// Waits until the first replica lists every replica as live.
    pub async fn wait_all_live(&self) {
        let Some(first) = self.replicas.first() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = first.get("/api/replicas").await;
            let live = body["replicas"].as_array().map_or(0, Vec::len);
            if status == StatusCode::OK && live == self.replicas.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not every replica is live: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl std::ops::Index<usize> for Cluster {
    type Output = Replica;

    fn index(&self, i: usize) -> &Replica {
        &self.replicas[i]
    }
}

impl std::ops::IndexMut<usize> for Cluster {
    fn index_mut(&mut self, i: usize) -> &mut Replica {
        &mut self.replicas[i]
    }
}

/// A TCP proxy to the test database's server: a replica connected through
/// it can be cut off (every connection dropped, new ones refused) and let
/// back on the same port.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start() -> Self {
        let upstream = server_of(&admin_url());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Self {
            addr,
            upstream,
            task: Some(tokio::spawn(forward(listener, upstream))),
        }
    }

    /// A database URL through this proxy for `database`.
    pub fn url_for(&self, database: &Database) -> String {
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
                    assert!(Instant::now() < deadline, "cannot listen on {} again: {e}", self.addr);
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

/// Accepts and pipes connections; aborting it drops the listener and
/// every connection (they live in its `JoinSet`).
async fn forward(listener: tokio::net::TcpListener, upstream: SocketAddr) {
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
        // Reap finished pipes so the set does not grow.
        while pipes.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten_to_another_database_and_through_a_proxy() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5433/x?sslmode=disable", "t1"),
            "postgres://u:p@db:5433/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
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
}
