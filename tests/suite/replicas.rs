//! Replicas sharing one PostgreSQL database, as real `regent serve`
//! processes: a stop on one reaches all and its reply says so, an
//! activation on one serves on all, a replica cut off from the database
//! fails closed and then recovers, and a replica stopped cleanly leaves
//! the live list. Plus the one-replica view on SQLite.

use std::time::{Duration, Instant};

use regent_tests::app::{TestApp, ADMIN};
use regent_tests::built_plugins;
use regent_tests::cluster::{Cluster, ClusterSpec, Proxy};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Bounds short enough for a test to see each of them pass: a snapshot is
/// stale after 1 s, and a replica stays live 3 s after its last heartbeat
/// (long enough for a stop to find a cut-off one still live).
const QUICK: &str = "[cluster]
pool_size = 8
heartbeat_ms = 200
live_within_ms = 3000
stale_after_ms = 1000
poll_ms = 100
stop_confirm_ms = 2000
lease_ttl_ms = 3000
";

async fn cluster(replicas: usize) -> Cluster {
    Cluster::start_with(ClusterSpec {
        replicas,
        config: QUICK.into(),
        ..ClusterSpec::default()
    })
    .await
}

async fn authorize(cluster: &Cluster, i: usize) -> (StatusCode, Value) {
    cluster
        .post_as(
            i,
            ADMIN,
            "/api/authorize",
            &json!({"commandType": "SET_POWER"}),
        )
        .await
}

/// Whether `reply` is a decision denied because the stop is on.
fn denied_by_the_stop(reply: &Value) -> bool {
    reply["decision"] == "denied"
        && reply["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "the emergency stop is on"))
}

/// The replica ids `GET /api/replicas` on replica `i` lists, and the reply.
async fn live(cluster: &Cluster, i: usize) -> (Vec<String>, Value) {
    let (status, body) = cluster.get(i, "/api/replicas").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = body["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body)
}

/// Polls `check` until it returns `Ok`, or fails with its last `Err`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: not within {within:?}; last: {last}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn all_live(cluster: &Cluster, n: usize) {
    eventually("every replica live", Duration::from_secs(10), || async {
        let (ids, body) = live(cluster, 0).await;
        (ids.len() == n).then_some(()).ok_or(body.to_string())
    })
    .await;
}

#[tokio::test]
async fn a_stop_on_one_replica_denies_on_every_replica_and_its_reply_lists_them_confirmed() {
    let cluster = cluster(3).await;
    all_live(&cluster, 3).await;
    for i in 0..3 {
        let (status, reply) = authorize(&cluster, i).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(!denied_by_the_stop(&reply), "{reply}");
    }

    let (status, reply) = cluster
        .post_as(0, ADMIN, "/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["active"], true);
    let replicas = reply["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 3, "{reply}");
    for r in replicas {
        assert_eq!(r["confirmed"], true, "{reply}");
        assert!(r["delayMs"].as_u64().is_some(), "{reply}");
    }
    assert!(reply["confirmationError"].is_null(), "{reply}");
    // Confirmed means deciding on it: the very next call anywhere is denied.
    for i in 1..3 {
        let (status, reply) = authorize(&cluster, i).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(denied_by_the_stop(&reply), "{reply}");
    }

    // Resumed on another replica, confirmed everywhere, and the first
    // decides again.
    let (status, reply) = cluster
        .post_as(
            2,
            ADMIN,
            "/api/emergency-stop/resume",
            &json!({"reason": "drill over"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["active"], false);
    let confirmed = reply["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["confirmed"] == true)
        .count();
    assert_eq!(confirmed, 3, "{reply}");
    let (_, reply) = authorize(&cluster, 0).await;
    assert!(!denied_by_the_stop(&reply), "{reply}");

    // Every replica is listed with what it applied; none lags once each
    // has heartbeaten.
    eventually("no replica lags", Duration::from_secs(5), || async {
        let (ids, body) = live(&cluster, 1).await;
        let lagging = body["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["lag"] != 0);
        (ids.len() == 3 && !lagging)
            .then_some(())
            .ok_or(body.to_string())
    })
    .await;
    let (ids, body) = live(&cluster, 1).await;
    assert!(
        ids.iter().any(|id| body["thisReplica"] == id.as_str()),
        "{body}"
    );
    for r in body["replicas"].as_array().unwrap() {
        assert!(r["pluginGeneration"].as_i64().unwrap() >= 1, "{body}");
        assert!(r["appliedVersion"].as_i64().unwrap() > 0, "{body}");
        assert!(
            r["address"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{body}"
        );
    }
}

/// The plugin generation `/ready` reports.
async fn plugin_generation(cluster: &Cluster, i: usize) -> i64 {
    let (status, ready) = cluster.call(i, Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    ready["pluginGeneration"].as_i64().unwrap()
}

#[tokio::test]
async fn an_activation_on_one_replica_serves_on_the_others() {
    let cluster = cluster(3).await;
    let before = [
        plugin_generation(&cluster, 1).await,
        plugin_generation(&cluster, 2).await,
    ];
    let fixtures = built_plugins().join("fixtures");
    for (dir, version) in [(fixtures.clone(), "1.0.0"), (fixtures.join("v2"), "2.0.0")] {
        let wasm = std::fs::read(dir.join("swap-item.wasm")).unwrap();
        let manifest = std::fs::read_to_string(dir.join("swap-item.toml")).unwrap();
        let (status, body) = cluster.upload(0, "swap-item", "", &wasm, &manifest).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"]["status"], "active", "{body}");
        for i in 1..3 {
            eventually(
                &format!("swap-item {version} serving on replica {i}"),
                Duration::from_secs(60),
                || async {
                    let (status, body) = cluster.get(i, "/api/plugins/swap-item").await;
                    (status == StatusCode::OK && body["version"] == version)
                        .then_some(())
                        .ok_or(format!("{status} {body}"))
                },
            )
            .await;
        }
    }
    let after = [
        plugin_generation(&cluster, 1).await,
        plugin_generation(&cluster, 2).await,
    ];
    for (before, after) in before.iter().zip(after) {
        assert!(after >= before + 2, "two swaps: {before} -> {after}");
    }
    // Every replica's view says so too, and none fails /ready over it.
    eventually(
        "the heartbeats carry the swaps",
        Duration::from_secs(5),
        || async {
            let (_, body) = live(&cluster, 0).await;
            body["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["pluginGeneration"].as_i64().unwrap() >= 3)
                .then_some(())
                .ok_or(body.to_string())
        },
    )
    .await;
}

#[tokio::test]
async fn a_replica_cut_off_from_the_database_fails_closed_then_recovers() {
    let mut proxy = Proxy::start().await;
    let cluster = Cluster::start_with(ClusterSpec {
        replicas: 3,
        config: QUICK.into(),
        through_proxy: Some((2, &proxy)),
        ..ClusterSpec::default()
    })
    .await;
    all_live(&cluster, 3).await;
    let (status, reply) = authorize(&cluster, 2).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, body) = cluster.get(2, "/api/replicas").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cut_off = body["thisReplica"].as_str().unwrap().to_string();

    proxy.cut();
    // A stop now: the cut-off replica is still live by its last heartbeat
    // and cannot apply it, so the reply names it unconfirmed.
    let (status, reply) = cluster
        .post_as(0, ADMIN, "/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let unconfirmed: Vec<&str> = reply["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["confirmed"] == false)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(unconfirmed, [cut_off.as_str()], "{reply}");

    // Past the staleness bound it refuses to decide, and says why.
    eventually(
        "the cut-off replica fails closed",
        Duration::from_secs(10),
        || async {
            let (status, body) = authorize(&cluster, 2).await;
            let text = body.to_string();
            let closed = (status == StatusCode::SERVICE_UNAVAILABLE
                && text.contains("denied in any case")
                && text.contains("last confirmed"))
                || (body["decision"] == "denied" && text.contains("last confirmed"));
            closed.then_some(()).ok_or(format!("{status} {body}"))
        },
    )
    .await;
    let (status, ready) = cluster.call(2, Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready.to_string().contains("control state"), "{ready}");
    // The others keep deciding (on the stop).
    let (status, reply) = authorize(&cluster, 0).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(denied_by_the_stop(&reply), "{reply}");

    proxy.restore().await;
    eventually(
        "the replica is ready again",
        Duration::from_secs(15),
        || async {
            let (status, body) = cluster.call(2, Method::GET, "/ready", None, None).await;
            (status == StatusCode::OK)
                .then_some(())
                .ok_or(format!("{status} {body}"))
        },
    )
    .await;
    // Back, on the stop it missed.
    let (status, reply) = authorize(&cluster, 2).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(denied_by_the_stop(&reply), "{reply}");
    assert!(!reply.to_string().contains("last confirmed"), "{reply}");
    eventually(
        "its heartbeat shows it caught up",
        Duration::from_secs(5),
        || async {
            let (_, body) = live(&cluster, 0).await;
            let caught_up = body["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == cut_off.as_str() && r["lag"] == 0);
            caught_up.then_some(()).ok_or(body.to_string())
        },
    )
    .await;
}

/// A graceful shutdown takes the replica out of the live list at once, so
/// a stop does not wait for it.
#[tokio::test]
async fn a_replica_stopped_cleanly_leaves_the_live_list() {
    let mut cluster = cluster(2).await;
    all_live(&cluster, 2).await;
    cluster.terminate(1);
    let (ids, body) = live(&cluster, 0).await;
    assert_eq!(ids.len(), 1, "{body}");
    let started = Instant::now();
    let (status, reply) = cluster
        .post_as(0, ADMIN, "/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["replicas"].as_array().unwrap().len(), 1, "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the stop waited for a replica that was gone"
    );
}

/// On SQLite the fleet is this one process: listed, and confirming its own
/// stop at once.
#[tokio::test]
async fn on_sqlite_the_one_replica_is_listed_and_confirms_its_stop() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/replicas").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replicas = body["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{body}");
    assert_eq!(replicas[0]["id"], body["thisReplica"]);
    assert_eq!(replicas[0]["lag"], 0);

    let (status, reply) = app
        .post(
            "/api/emergency-stop",
            json!({"reason": "drill"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let replicas = reply["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{reply}");
    assert_eq!(replicas[0]["confirmed"], true);
    assert_eq!(replicas[0]["id"], body["thisReplica"]);
}
