//! Replicas sharing one PostgreSQL database, as real `regent serve`
//! processes: a stop on one reaches all and its reply says so, an
//! activation on one serves on all, and a replica cut off from the
//! database fails closed, then recovers. Plus the one-replica view on
//! SQLite.

use std::time::{Duration, Instant};

use regent_tests::app::TestApp;
use regent_tests::built_plugins;
use regent_tests::cluster::{Cluster, Database, Proxy, Replica, ReplicaOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Bounds short enough for a test to see each of them pass.
const QUICK_CLUSTER: &str = "[cluster]
heartbeat_ms = 200
live_within_ms = 3000
stale_after_ms = 1000
poll_ms = 100
stop_confirm_ms = 2000
lease_ttl_ms = 3000
";

fn options() -> ReplicaOptions {
    ReplicaOptions {
        config: QUICK_CLUSTER.into(),
        ..ReplicaOptions::default()
    }
}

async fn authorize(replica: &Replica) -> (StatusCode, Value) {
    replica
        .post("/api/authorize", &json!({"commandType": "SET_POWER"}))
        .await
}

/// Whether `reply` is a decision denied because the stop is on.
fn denied_by_the_stop(reply: &Value) -> bool {
    reply["decision"] == "denied"
        && reply["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r.as_str() == Some("the emergency stop is on")))
}

/// The plugin generation `/ready` reports.
async fn plugin_generation(replica: &Replica) -> i64 {
    let (status, ready) = replica
        .call(reqwest::Method::GET, "/ready", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    ready["pluginGeneration"].as_i64().unwrap()
}

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
                assert!(Instant::now() < deadline, "{what}: not within {within:?}; last: {last}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_stop_on_one_replica_denies_on_every_replica_and_its_reply_lists_them_confirmed() {
    let cluster = Cluster::start(3, options()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);
    for r in [a, b, c] {
        let (status, reply) = authorize(r).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(!denied_by_the_stop(&reply), "{reply}");
    }

    let (status, reply) = a
        .post("/api/emergency-stop", &json!({"reason": "drill"}))
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
    // Confirmed means deciding on it: the very next call on B and C is denied.
    for r in [b, c] {
        let (status, reply) = authorize(r).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(denied_by_the_stop(&reply), "{reply}");
    }

    // Resumed on C, confirmed everywhere, and A decides again.
    let (status, reply) = c
        .post("/api/emergency-stop/resume", &json!({"reason": "drill over"}))
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
    let (_, reply) = authorize(a).await;
    assert!(!denied_by_the_stop(&reply), "{reply}");

    // Every replica lists the three, none lagging once they heartbeat.
    eventually("no replica lags", Duration::from_secs(5), || async {
        let (status, body) = b.get("/api/replicas").await;
        let list = body["replicas"].as_array().cloned().unwrap_or_default();
        if status == StatusCode::OK && list.len() == 3 && list.iter().all(|r| r["lag"] == 0) {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    let (_, body) = b.get("/api/replicas").await;
    let ids: Vec<&str> = body["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&body["thisReplica"].as_str().unwrap()), "{body}");
    for r in body["replicas"].as_array().unwrap() {
        assert!(r["pluginGeneration"].as_i64().is_some(), "{body}");
        assert!(r["appliedVersion"].as_i64().unwrap() > 0, "{body}");
        assert!(r["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{body}");
    }
}

#[tokio::test]
async fn an_activation_on_one_replica_serves_on_the_others() {
    let cluster = Cluster::start(3, options()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);
    let fixtures = built_plugins().join("fixtures");
    let before = [plugin_generation(b).await, plugin_generation(c).await];

    for (dir, version) in [(fixtures.clone(), "1.0.0"), (fixtures.join("v2"), "2.0.0")] {
        let wasm = std::fs::read(dir.join("swap-item.wasm")).unwrap();
        let manifest = std::fs::read_to_string(dir.join("swap-item.toml")).unwrap();
        let (status, body) = a.upload("swap-item", "", &wasm, &manifest).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"]["status"], "active", "{body}");
        for r in [b, c] {
            eventually(
                &format!("swap-item {version} serving on {}", r.base),
                Duration::from_secs(60),
                || async {
                    let (status, body) = r.get("/api/plugins/swap-item").await;
                    if status == StatusCode::OK && body["version"] == version {
                        Ok(())
                    } else {
                        Err(format!("{status} {body}"))
                    }
                },
            )
            .await;
        }
    }
    let after = [plugin_generation(b).await, plugin_generation(c).await];
    for (before, after) in before.iter().zip(after) {
        assert!(after >= before + 2, "two swaps: {before} -> {after}");
    }
    // The replicas' view says so too.
    let (_, body) = a.get("/api/replicas").await;
    for r in body["replicas"].as_array().unwrap() {
        assert!(r["pluginGeneration"].as_i64().unwrap() >= 2, "{body}");
    }
}

#[tokio::test]
async fn a_replica_cut_off_from_the_database_fails_closed_then_recovers() {
    let database = Database::create().await;
    let mut proxy = Proxy::start().await;
    let through_proxy = proxy.url_for(&database);
    let cluster = Cluster::start_on(database, 3, |i| ReplicaOptions {
        database_url: (i == 2).then(|| through_proxy.clone()),
        ..options()
    })
    .await;
    let (a, c) = (&cluster[0], &cluster[2]);
    let (status, reply) = authorize(c).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, ready) = c.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");

    proxy.cut();
    // A stop now: C is still live by its last heartbeat, and cannot apply
    // it, so the reply names it unconfirmed.
    let (status, reply) = a
        .post("/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let c_id = reply["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["confirmed"] == false)
        .unwrap_or_else(|| panic!("C is named unconfirmed: {reply}"))["id"]
        .clone();
    assert!(reply["replicas"][0]["confirmed"] == true, "{reply}");

    // Past the staleness bound, C refuses to decide, and says why.
    eventually("C fails closed", Duration::from_secs(10), || async {
        let (status, body) = authorize(c).await;
        let text = body.to_string();
        let closed = status == StatusCode::SERVICE_UNAVAILABLE
            && text.contains("denied in any case")
            || body["decision"] == "denied" && text.contains("last confirmed");
        if closed {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    let (status, ready) = c.get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready.to_string().contains("control state"), "{ready}");
    // A keeps deciding (on the stop).
    let (status, reply) = authorize(a).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(denied_by_the_stop(&reply), "{reply}");

    proxy.restore().await;
    eventually("C is ready again", Duration::from_secs(15), || async {
        let (status, body) = c.get("/ready").await;
        (status == StatusCode::OK).then_some(()).ok_or(format!("{status} {body}"))
    })
    .await;
    // Back, and on the stop it missed.
    let (status, reply) = authorize(c).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(denied_by_the_stop(&reply), "{reply}");
    assert!(!reply.to_string().contains("last confirmed"), "{reply}");
    eventually("C confirms the stop in its heartbeat", Duration::from_secs(5), || async {
        let (_, body) = a.get("/api/replicas").await;
        let lagging = body["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["id"] == c_id && r["lag"] != 0);
        (!lagging).then_some(()).ok_or(body.to_string())
    })
    .await;
}

/// A graceful stop takes the replica out of the live list at once.
#[tokio::test]
async fn a_replica_stopped_cleanly_leaves_the_live_list() {
    let mut cluster = Cluster::start(2, options()).await;
    cluster[1].terminate();
    let (_, body) = cluster[0].get("/api/replicas").await;
    assert_eq!(body["replicas"].as_array().unwrap().len(), 1, "{body}");
    let (status, reply) = cluster[0]
        .post("/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["replicas"].as_array().unwrap().len(), 1, "{reply}");
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
        .post("/api/emergency-stop", json!({"reason": "drill"}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let replicas = reply["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{reply}");
    assert_eq!(replicas[0]["confirmed"], true);
    assert_eq!(replicas[0]["id"], body["thisReplica"]);
}
