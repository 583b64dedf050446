//! `Idempotency-Key` on authorize, commands, costs, failures and workflow
//! steps: a retry gets the first answer back and changes nothing; the same
//! key with another body is a 409; keys are per caller; concurrent
//! duplicates run once; and across PostgreSQL replicas a retry sent to
//! another replica gets the first one's answer.

use std::time::Duration;

use regent_tests::app::{error_code, error_message, TestApp, ADMIN};
use regent_tests::cluster::{Cluster, ClusterSpec, FAST_CLUSTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One request with an optional `Idempotency-Key` (sent as given); returns
/// the status, whether it was replayed, and the JSON reply.
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let mut req = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let bytes = resp.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, replayed, value)
}

async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, bool, Value) {
    send(&app.client, &app.base, token, path, key, body).await
}

async fn decisions(app: &TestApp) -> Vec<Value> {
    let (s, b) = app.get("/api/decisions?limit=1000").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

async fn metric(app: &TestApp, line_start: &str) -> String {
    let (_, text) = app.text("/metrics").await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` in /metrics"))
        .to_string()
}

#[tokio::test]
async fn an_authorize_retry_returns_the_same_decision_id_and_is_logged_once() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let body = json!({"commandType": "SET_POWER"});
    let (s, replayed, first) = post(&app, &fleet, "/api/authorize", Some("k-1"), &body).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert!(!replayed, "the first answer is made, not replayed");
    let (s, replayed, again) = post(&app, &fleet, "/api/authorize", Some("k-1"), &body).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert!(replayed, "the retry is marked as replayed");
    assert_eq!(
        again, first,
        "the retry gets the first answer, decisionId and all"
    );
    let log = decisions(&app).await;
    assert_eq!(log.len(), 1, "one decision in the log: {log:?}");
    assert_eq!(log[0]["decisionId"], first["decisionId"]);
    assert_eq!(
        metric(&app, "regent_idempotent_replays_total").await,
        "regent_idempotent_replays_total 1"
    );

    // Without a key, the same request twice is two decisions.
    for _ in 0..2 {
        let (s, replayed, _) = post(&app, &fleet, "/api/authorize", None, &body).await;
        assert_eq!(s, StatusCode::OK);
        assert!(!replayed);
    }
    assert_eq!(decisions(&app).await.len(), 3);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let (s, _, _) = post(
        &app,
        &fleet,
        "/api/authorize",
        Some("k"),
        &json!({"commandType": "SET_POWER"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, replayed, b) = post(
        &app,
        &fleet,
        "/api/authorize",
        Some("k"),
        &json!({"commandType": "ABORT"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(!replayed);
    assert_eq!(error_code(&b), "conflict");
    assert!(
        error_message(&b).contains("already used")
            && error_message(&b).contains("another request body"),
        "{b}"
    );
    let log = decisions(&app).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["commandType"], "SET_POWER");
    assert_eq!(
        metric(
            &app,
            "regent_idempotency_conflicts_total{reason=\"other_body\"}"
        )
        .await,
        "regent_idempotency_conflicts_total{reason=\"other_body\"} 1"
    );
}

async fn register_agent(app: &TestApp, id: &str, budget: f64) {
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/agents",
            &json!({"id": id, "capabilities": ["x:y"], "costPerHour": 1,
                    "reputation": 0.5, "budget": budget}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn a_retried_cost_is_deducted_once_and_a_retried_failure_counted_once() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    register_agent(&app, "a1", 100.0).await;
    let cost = json!({"operation": "train", "cost": 10});
    let (s, _, first) = post(&app, &fleet, "/api/agents/a1/costs", Some("c-1"), &cost).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, replayed, again) = post(&app, &fleet, "/api/agents/a1/costs", Some("c-1"), &cost).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert!(replayed);
    assert_eq!(again, first);
    let (_, agent) = app.get("/api/agents/a1").await;
    assert_eq!(agent["totalCost"], 10.0, "{agent}");
    assert_eq!(agent["budgetRemaining"], 90.0, "{agent}");

    // The same key for another agent's costs is another request: refused.
    register_agent(&app, "a2", 100.0).await;
    let (s, _, b) = post(&app, &fleet, "/api/agents/a2/costs", Some("c-1"), &cost).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, other) = app.get("/api/agents/a2").await;
    assert_eq!(other["totalCost"], 0.0, "{other}");

    let failure = json!({"taskId": "t1", "reason": "crashed"});
    for _ in 0..3 {
        let (s, _, b) = post(
            &app,
            &fleet,
            "/api/agents/a1/failures",
            Some("f-1"),
            &failure,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (_, agent) = app.get("/api/agents/a1").await;
    assert_eq!(agent["breaker"]["failures"], 1, "{agent}");
    assert_eq!(agent["breaker"]["tripped"], false, "{agent}");
}

#[tokio::test]
async fn a_retried_step_appends_one_step_and_a_retried_command_batch_is_stored_once() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let (s, b) = app
        .post_as(
            &fleet,
            "/api/workflows",
            &json!({"id": "wf-1", "name": "nightly", "agentId": "a1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let step = json!({"name": "fetch", "status": "succeeded"});
    let (s, _, first) = post(
        &app,
        &fleet,
        "/api/workflows/wf-1/steps",
        Some("s-1"),
        &step,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, replayed, again) = post(
        &app,
        &fleet,
        "/api/workflows/wf-1/steps",
        Some("s-1"),
        &step,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the replay keeps the first status: {again}"
    );
    assert!(replayed);
    assert_eq!(again, first);
    let (_, trace) = app.get("/api/workflows/wf-1/trace").await;
    assert_eq!(trace.as_array().unwrap().len(), 1, "{trace}");

    let command = json!({"id": "cmd-1", "commandType": "SET_POWER", "status": "succeeded",
                         "requiredApproval": false, "autonomous": true});
    let (s, _, first) = post(&app, &fleet, "/api/commands", Some("b-1"), &command).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["accepted"], 1, "{first}");
    let (s, replayed, again) = post(&app, &fleet, "/api/commands", Some("b-1"), &command).await;
    assert_eq!(s, StatusCode::OK);
    assert!(replayed);
    // The first answer, not the `duplicates: 1` a second ingest would say.
    assert_eq!(again, first);
}

#[tokio::test]
async fn two_callers_with_the_same_key_are_two_keys() {
    let app = TestApp::spawn().await;
    let one = app.token("fleet-one", &["reporter"]).await;
    let two = app.token("fleet-two", &["reporter"]).await;
    let body = json!({"commandType": "SET_POWER"});
    let (s, r1, a) = post(&app, &one, "/api/authorize", Some("shared"), &body).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r2, b) = post(&app, &two, "/api/authorize", Some("shared"), &body).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!r1 && !r2, "neither is a replay of the other's");
    assert_ne!(a["decisionId"], b["decisionId"]);
    // And another body from the second caller is no conflict with the first's.
    let (s, _, _) = post(
        &app,
        &two,
        "/api/authorize",
        Some("other"),
        &json!({"commandType": "ABORT"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(decisions(&app).await.len(), 3);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_and_nothing_runs() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let body = json!({"commandType": "SET_POWER"});
    let too_long = "k".repeat(256);
    for (key, says) in [
        ("", "empty"),
        ("has space", "visible ASCII"),
        ("tab\there", "visible ASCII"),
        (too_long.as_str(), "256 characters"),
    ] {
        let (s, _, b) = post(&app, &fleet, "/api/authorize", Some(key), &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{key:?}: {b}");
        assert!(error_message(&b).contains(says), "{key:?}: {b}");
    }
    // Two keys on one request.
    let resp = app
        .client
        .post(format!("{}/api/authorize", app.base))
        .bearer_auth(&fleet)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(decisions(&app).await.is_empty());
    // The longest key is fine.
    let longest = "~".repeat(255);
    let (s, _, b) = post(&app, &fleet, "/api/authorize", Some(&longest), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_failed_request_releases_its_key_so_the_retry_runs() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let cost = json!({"operation": "train", "cost": 5});
    let (s, _, b) = post(&app, &fleet, "/api/agents/late/costs", Some("k"), &cost).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    register_agent(&app, "late", 50.0).await;
    let (s, replayed, b) = post(&app, &fleet, "/api/agents/late/costs", Some("k"), &cost).await;
    assert_eq!(s, StatusCode::OK, "the 404 was not kept: {b}");
    assert!(!replayed);
    let (_, agent) = app.get("/api/agents/late").await;
    assert_eq!(agent["totalCost"], 5.0, "{agent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_duplicates_run_once() {
    let app = TestApp::spawn().await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, base, fleet) = (app.client.clone(), app.base.clone(), fleet.clone());
        tasks.spawn(async move {
            send(
                &client,
                &base,
                &fleet,
                "/api/authorize",
                Some("burst"),
                &json!({"commandType": "SET_POWER"}),
            )
            .await
        });
    }
    let replies = tasks.join_all().await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .map(|(_, _, b)| b["decisionId"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "every answer names one decision: {replies:?}");
    for (s, _, b) in &replies {
        // A duplicate that arrives mid-work is told to retry, never run.
        if *s != StatusCode::OK {
            assert_eq!(*s, StatusCode::CONFLICT, "{b}");
            assert!(error_message(b).contains("in progress"), "{b}");
        }
    }
    assert_eq!(decisions(&app).await.len(), 1, "{replies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_to_another_replica_gets_the_first_replicas_answer() {
    let cluster = Cluster::start_with(ClusterSpec {
        replicas: 2,
        config: format!("{FAST_CLUSTER}\n[metrics]\nstore_cache_ms = 0\n"),
        ..ClusterSpec::default()
    })
    .await;
    let fleet = cluster.token(0, "fleet", &["reporter"]).await;
    cluster
        .on_every_replica("the new token", Duration::from_secs(5), async |i| {
            cluster
                .call(i, Method::GET, "/api/governance/state", Some(&fleet), None)
                .await
                .0
                == StatusCode::OK
        })
        .await;
    let body = json!({"commandType": "SET_POWER"});
    let (s, replayed, first) = send(
        &cluster.client,
        cluster.base(0),
        &fleet,
        "/api/authorize",
        Some("across"),
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert!(!replayed);
    let (s, replayed, again) = send(
        &cluster.client,
        cluster.base(1),
        &fleet,
        "/api/authorize",
        Some("across"),
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert!(replayed, "replica B replays replica A's answer");
    assert_eq!(again["decisionId"], first["decisionId"]);
    let (s, _, b) = send(
        &cluster.client,
        cluster.base(1),
        &fleet,
        "/api/authorize",
        Some("across"),
        &json!({"commandType": "ABORT"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let db = cluster.database.connect().await;
    let logged: i64 = db
        .query_one("SELECT count(*) FROM decisions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 1, "one decision, whichever replica was asked");
}
