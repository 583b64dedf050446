//! Replicas sharing PostgreSQL: three real `regent serve` processes on one
//! database (tests/common/cluster.rs), each test on a database of its own.
//! What one replica acknowledges, the database holds once, whichever
//! replica took it: costs deducted atomically with a single trip, every
//! decision logged exactly once, a webhook action delivered once by one
//! replica rather than by each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regent_host::domain::Timestamp;
use regent_tests::app::ADMIN;
use regent_tests::cluster::{call, Cluster, ClusterSpec, FAST_CLUSTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

/// Top-level keys first: a TOML key after `[cluster]` would belong to it.
fn config(top_level: &str, sections: &str) -> String {
    format!("{top_level}\n{FAST_CLUSTER}\n[metrics]\nstore_cache_ms = 0\n{sections}")
}

/// Waits until `token` is known on every replica (a token minted on one
/// replica is in the database; a replica that caches principals must
/// follow it).
async fn token_known_everywhere(cluster: &Cluster, token: &str, path: &str) {
    cluster
        .on_every_replica("the new token", Duration::from_secs(5), async |i| {
            cluster
                .call(i, Method::GET, path, Some(token), None)
                .await
                .0
                == StatusCode::OK
        })
        .await;
}

fn replica_bases(cluster: &Cluster) -> Vec<String> {
    (0..cluster.replicas.len())
        .map(|i| cluster.base(i).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_costs_over_three_replicas_are_none_lost_and_trip_once() {
    let cluster = Cluster::start_with(ClusterSpec {
        config: config("", ""),
        ..ClusterSpec::default()
    })
    .await;
    let coord = cluster.token(0, "coordinator", &["reporter"]).await;
    let (s, b) = cluster
        .post_as(
            1,
            ADMIN,
            "/api/agents",
            &json!({"id": "worker", "capabilities": ["x:y"], "costPerHour": 1,
                    "reputation": 0.5, "budget": 40}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    token_known_everywhere(&cluster, &coord, "/api/agents/worker").await;

    // 200 x 0.25 against a budget of 40: the 160th deduction, whichever
    // replica takes it, reaches zero and trips the breaker.
    let bases = replica_bases(&cluster);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200usize {
        let client = cluster.client.clone();
        let base = bases[n % bases.len()].clone();
        let coord = coord.clone();
        tasks.spawn(async move {
            let (s, b) = call(
                &client,
                &base,
                Method::POST,
                "/api/agents/worker/costs",
                Some(&coord),
                Some(&json!({"operation": format!("task-{n}"), "cost": 0.25})),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "cost {n} on {base}: {b}");
            b
        });
    }
    let replies = tasks.join_all().await;
    assert_eq!(replies.len(), 200, "every cost acknowledged");
    let trips: Vec<&Value> = replies.iter().filter(|r| !r["tripped"].is_null()).collect();
    assert_eq!(trips.len(), 1, "one reply reports the trip: {trips:?}");
    assert_eq!(trips[0]["tripped"], "budget_exhausted");
    assert_eq!(trips[0]["agent"]["budgetRemaining"], 0.0, "{}", trips[0]);

    // Every replica reads the same totals: 200 x 0.25, none lost.
    for i in 0..3 {
        let (_, w) = cluster.get(i, "/api/agents/worker").await;
        assert_eq!(w["totalCost"], 50.0, "replica {i}: {w}");
        assert_eq!(w["budgetRemaining"], -10.0, "replica {i}: {w}");
        assert_eq!(w["breaker"]["tripped"], true, "replica {i}: {w}");
        assert_eq!(w["breaker"]["reason"], "budget_exhausted");
    }
    // Each acknowledged cost is one row; one trip is audited and escalated.
    let db = cluster.database.connect().await;
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT operation), sum(cost) FROM agent_costs WHERE agent_id = 'worker'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 200);
    assert_eq!(row.get::<_, i64>(1), 200, "each cost stored once");
    assert_eq!(row.get::<_, f64>(2), 50.0);
    let trips: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'agent.breaker.trip'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(trips, 1, "one trip in the audit log");
    let escalations: i64 = db
        .query_one(
            "SELECT count(*) FROM actions WHERE kind = 'escalation' AND agent_id = 'worker'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(escalations, 1, "one escalation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_decisions_over_three_replicas_are_each_logged_once() {
    let since = Timestamp(Timestamp::now().millis() - DAY_MS);
    let cluster = Cluster::start_with(ClusterSpec {
        config: config(
            &format!("initial_phase = \"L4\"\nphase_started_at = \"{since}\""),
            "",
        ),
        ..ClusterSpec::default()
    })
    .await;
    let fleet = cluster.token(2, "fleet", &["reporter"]).await;
    token_known_everywhere(&cluster, &fleet, "/api/governance/state").await;

    // At L4, SET_POWER is whitelisted (autonomous) and ABORT is not
    // (requires approval): 500 of each.
    let bases = replica_bases(&cluster);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..1000usize {
        let client = cluster.client.clone();
        let base = bases[n % bases.len()].clone();
        let fleet = fleet.clone();
        tasks.spawn(async move {
            let command = if n % 2 == 0 { "SET_POWER" } else { "ABORT" };
            let (s, b) = call(
                &client,
                &base,
                Method::POST,
                "/api/authorize",
                Some(&fleet),
                Some(&json!({"commandType": command})),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "decision {n} on {base}: {b}");
            (
                b["decisionId"].as_i64().unwrap(),
                b["decision"].as_str().unwrap().to_string(),
            )
        });
    }
    let replies: BTreeMap<i64, String> = tasks.join_all().await.into_iter().collect();
    assert_eq!(replies.len(), 1000, "every reply has its own decision id");
    let answered = |d: &str| replies.values().filter(|v| *v == d).count() as i64;
    assert_eq!(answered("autonomous"), 500);
    assert_eq!(answered("requires_approval"), 500);

    // The log holds exactly the acknowledged ids, each once, as decided.
    let db = cluster.database.connect().await;
    let logged: BTreeMap<i64, String> = db
        .query("SELECT id, decision FROM decisions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(logged, replies);
    let totals: BTreeMap<String, i64> = db
        .query("SELECT decision, n FROM decision_totals", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        totals,
        BTreeMap::from([
            ("autonomous".to_string(), 500),
            ("requires_approval".to_string(), 500)
        ])
    );
    // Any replica lists the whole log and counts it in /metrics.
    let (_, log) = cluster.get(1, "/api/decisions?limit=2000").await;
    let listed: BTreeSet<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decisionId"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, replies.keys().copied().collect());
    for i in 0..3 {
        let (status, metrics) = cluster
            .call(i, Method::GET, "/metrics", Some(ADMIN), None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "replica {i}: {metrics}\n{}",
            cluster.replicas[i].log()
        );
        let metrics = metrics
            .as_str()
            .unwrap_or_else(|| panic!("replica {i}: not text: {metrics}"));
        for decision in ["autonomous", "requires_approval"] {
            let line = format!("regent_authorize_decisions_total{{decision=\"{decision}\"}} 500");
            assert!(metrics.contains(&line), "replica {i} lacks {line}");
        }
    }
}

/// A webhook receiver counting every delivery by action id.
async fn counting_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_action_is_delivered_once_not_once_per_replica() {
    let (url, received) = counting_receiver().await;
    let cluster = Cluster::start_with(ClusterSpec {
        config: config(
            "",
            &format!("[webhook]\nurl = \"{url}\"\nbackoff_ms = 10\n"),
        ),
        ..ClusterSpec::default()
    })
    .await;
    let engine = cluster.token(0, "maos-engine", &["reporter"]).await;
    token_known_everywhere(&cluster, &engine, "/api/governance/events").await;

    // Critical events on every replica, each with an auto-action.
    let mut events = BTreeSet::new();
    for n in 0..9usize {
        let (s, b) = cluster
            .post_as(
                n % 3,
                &engine,
                "/api/governance/event",
                &json!({"engine": "maos", "eventType": format!("crash-{n}"), "severity": "CRITICAL"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["action"], "MAOS_auto_fix", "{b}");
        events.insert(b["id"].as_i64().unwrap());
    }
    assert_eq!(events.len(), 9);

    // Every action is recorded delivered...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = cluster.get(1, "/api/governance/actions").await;
        let listed = listed.as_array().unwrap();
        if listed.len() == 9 && listed.iter().all(|a| a["delivery"] == "delivered") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all delivered: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and, after several more polls and heartbeats of every replica,
    // the receiver has had each exactly once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = received.lock().unwrap().clone();
    let mut per_action: BTreeMap<i64, usize> = BTreeMap::new();
    for delivery in &received {
        *per_action
            .entry(delivery["id"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_action.len(), 9, "{received:?}");
    assert!(
        per_action.values().all(|n| *n == 1),
        "each action delivered once: {per_action:?}"
    );
    let (_, listed) = cluster.get(2, "/api/governance/actions").await;
    for action in listed.as_array().unwrap() {
        assert_eq!(action["attempts"], 1, "{action}");
    }
}
