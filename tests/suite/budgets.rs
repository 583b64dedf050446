//! Graded brakes at the enforcement point: a throttle from a tripped SLO,
//! rate and concurrency budgets that hold across replicas, and batch limits.

use std::collections::BTreeMap;
use std::time::Duration;

use regent_host::domain::Timestamp;
use regent_tests::app::{error_message, TestApp, ADMIN};
use regent_tests::cluster::{call, Cluster, ClusterSpec, FAST_CLUSTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

async fn authorize(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, b) = app.post_as(token, "/api/authorize", &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn decision(reply: &Value) -> &str {
    reply["decision"].as_str().unwrap()
}

fn reasons(reply: &Value) -> String {
    reply["reasons"].to_string()
}

#[tokio::test]
async fn a_latency_slo_trips_a_throttle_that_limits_decisions_until_resolved() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;

    // The Charter's SLOs are seeded, and off until an operator turns them on.
    let (_, rules) = app.get("/api/circuit-breaker/rules").await;
    let charter: Vec<&Value> = rules
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("Charter SLO"))
        .collect();
    assert_eq!(charter.len(), 3, "{rules}");
    assert!(charter.iter().all(|r| r["enabled"] == false), "{rules}");

    // A throttle rule says how hard it throttles.
    let rule = json!({"name": "p95 over 2.5s", "enabled": true, "condition": "p95DurationMs > 2500",
        "window": "5m", "action": "throttle", "alertSeverity": "high"});
    let (s, b) = app
        .post_as(&oncall, "/api/circuit-breaker/rules", &rule)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(error_message(&b).contains("needs `throttle`"), "{b}");
    let mut rule = rule;
    rule["throttle"] = json!({"limit": 2, "per": "1m"});
    let (s, b) = app
        .post_as(&oncall, "/api/circuit-breaker/rules", &rule)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // Slow but successful commands: only the latency SLO is breached.
    let commands: Vec<Value> = (0..10)
        .map(|i| {
            json!({"id": format!("slow-{i}"), "commandType": "SET_POWER", "status": "succeeded",
                        "requiredApproval": false, "autonomous": true, "durationMs": 3000 + i})
        })
        .collect();
    let (s, b) = app.post_as(&agent, "/api/commands", &json!(commands)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let before = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&before), "autonomous", "{before}");

    let (s, created) = app
        .post_as(&oncall, "/api/circuit-breaker/check", &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let events = created.as_array().unwrap();
    assert_eq!(events.len(), 1, "only the latency rule trips: {created}");
    assert_eq!(events[0]["action"], "throttle");
    assert_eq!(events[0]["throttle"]["limit"], 2);

    let answers: Vec<Value> = authorize_in_turn(&app, &agent, 4).await;
    let outcomes: Vec<&str> = answers.iter().map(decision).collect();
    assert_eq!(
        outcomes,
        ["autonomous", "autonomous", "throttled", "throttled"]
    );
    let why = reasons(&answers[2]);
    assert!(why.contains("p95 over 2.5s"), "{why}");
    assert!(why.contains("2 per 1m"), "the limit: {why}");
    assert!(why.contains("resets at"), "when: {why}");
    // A command the whitelist does not allow is not throttled: it already
    // needs a human.
    let abort = authorize(&app, &agent, json!({"commandType": "ABORT"})).await;
    assert_eq!(decision(&abort), "requires_approval", "{abort}");

    let (_, throttles) = app.get("/api/budgets/throttles").await;
    assert_eq!(throttles[0]["used"], 2, "{throttles}");
    assert_eq!(throttles[0]["limit"], 2, "{throttles}");
    let (_, metrics) = app.text("/metrics").await;
    assert!(metrics.contains("regent_throttles_active 1"), "{metrics}");
    assert!(metrics.contains("regent_budget_used{kind=\"throttle\",budget=\"p95 over 2.5s\"} 2"));

    let (s, b) = app
        .post_as(
            &oncall,
            &format!("/api/circuit-breaker/events/{}/resolve", events[0]["id"]),
            &json!({"resolution": "slow disk replaced"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let after = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&after), "autonomous", "lifted: {after}");
    let (_, throttles) = app.get("/api/budgets/throttles").await;
    assert_eq!(throttles, json!([]));

    // Throttled decisions are logged as such.
    let (_, logged) = app.get("/api/decisions?decision=throttled").await;
    assert_eq!(logged.as_array().unwrap().len(), 2, "{logged}");
}

/// `n` authorize calls one after another, so their order is known.
async fn authorize_in_turn(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(authorize(app, token, json!({"commandType": "SET_POWER"})).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_budget_holds_exactly_under_200_concurrent_calls_over_three_replicas() {
    let since = Timestamp(Timestamp::now().millis() - DAY_MS);
    let cluster = Cluster::start_with(ClusterSpec {
        config: format!(
            "initial_phase = \"L4\"\nphase_started_at = \"{since}\"\n{FAST_CLUSTER}\n\
             [metrics]\nstore_cache_ms = 0\n\
             [[budgets.rate]]\nname = \"power\"\nkey = \"command:SET_POWER\"\nlimit = 50\nwindow = \"1h\"\n"
        ),
        ..ClusterSpec::default()
    })
    .await;
    let fleet = cluster.token(0, "fleet", &["reporter"]).await;
    cluster
        .on_every_replica("the new token", Duration::from_secs(5), async |i| {
            cluster
                .call(i, Method::GET, "/api/budgets/rates", Some(&fleet), None)
                .await
                .0
                == StatusCode::OK
        })
        .await;

    let bases: Vec<String> = (0..3).map(|i| cluster.base(i).to_string()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200usize {
        let client = cluster.client.clone();
        let base = bases[n % bases.len()].clone();
        let fleet = fleet.clone();
        tasks.spawn(async move {
            let (s, b) = call(
                &client,
                &base,
                Method::POST,
                "/api/authorize",
                Some(&fleet),
                Some(&json!({"commandType": "SET_POWER"})),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "call {n} on {base}: {b}");
            (
                b["decisionId"].as_i64().unwrap(),
                b["decision"].as_str().unwrap().to_string(),
                b["reasons"].to_string(),
            )
        });
    }
    let replies = tasks.join_all().await;
    let granted = replies.iter().filter(|r| r.1 == "autonomous").count();
    assert_eq!(granted, 50, "exactly the budget, across three replicas");
    let denied: Vec<_> = replies.iter().filter(|r| r.1 == "denied").collect();
    assert_eq!(denied.len(), 150);
    assert!(
        denied[0].2.contains("rate budget `power`") && denied[0].2.contains("refills at"),
        "{}",
        denied[0].2
    );

    // The log agrees with the answers, and the budget shows its use.
    let db = cluster.database.connect().await;
    let logged: BTreeMap<i64, String> = db
        .query("SELECT id, decision FROM decisions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let answered: BTreeMap<i64, String> = replies.into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(logged, answered);
    let (_, rates) = cluster.get(2, "/api/budgets/rates").await;
    assert_eq!(rates[0]["used"], 50, "{rates}");
    assert_eq!(rates[0]["limit"], 50, "{rates}");
}

#[tokio::test]
async fn a_concurrency_budget_holds_with_leases_released_by_completion_or_expiry() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let other = app.token("other-system", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;

    // The governed system cannot set its own budgets.
    let budget = json!({"key": "all", "limit": 3, "leaseTtl": "2s"});
    let (s, _) = app
        .send_as(
            Method::PUT,
            &agent,
            "/api/budgets/concurrency/fleet",
            &budget,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (bad, says) in [
        (
            json!({"key": "all", "limit": 0, "leaseTtl": "2s"}),
            "at least 1",
        ),
        (
            json!({"key": "everything", "limit": 3, "leaseTtl": "2s"}),
            "everything",
        ),
        (json!({"key": "all", "limit": 3}), "leaseTtl"),
    ] {
        let (s, b) = app
            .send_as(Method::PUT, &oncall, "/api/budgets/concurrency/fleet", &bad)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert!(b.to_string().contains(says), "{bad}: {b}");
    }
    let (_, none) = app.get("/api/budgets/concurrency").await;
    assert_eq!(none, json!([]), "a refused budget changed nothing");

    let (s, b) = app
        .send_as(
            Method::PUT,
            &oncall,
            "/api/budgets/concurrency/fleet",
            &budget,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let held: Vec<Value> = authorize_in_turn(&app, &agent, 3).await;
    assert!(held.iter().all(|d| decision(d) == "autonomous"));
    let full = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&full), "denied", "{full}");
    assert!(reasons(&full).contains("is full (3 of 3)"), "{full}");
    // Decisions that are not autonomous take no lease.
    let abort = authorize(&app, &agent, json!({"commandType": "ABORT"})).await;
    assert_eq!(decision(&abort), "requires_approval");

    // Completing releases the lease; only its holder or an operator may.
    let first = held[0]["decisionId"].as_i64().unwrap();
    let complete = format!("/api/decisions/{first}/complete");
    let (s, b) = app.post_as(&other, &complete, &json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = app.post_as(&agent, &complete, &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["released"], 1);
    let (_, b) = app.post_as(&agent, &complete, &json!({})).await;
    assert_eq!(b["released"], 0, "completing twice frees nothing more");
    let (s, _) = app
        .post_as(&agent, "/api/decisions/999999/complete", &json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, c) = app.get("/api/budgets/concurrency").await;
    assert_eq!(c[0]["inFlight"], 2, "{c}");
    let next = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&next), "autonomous", "room again: {next}");
    let full = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&full), "denied");

    // Leases never completed expire with their TTL.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, c) = app.get("/api/budgets/concurrency").await;
    assert_eq!(c[0]["inFlight"], 0, "{c}");
    let after = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(
        decision(&after),
        "autonomous",
        "expired leases freed: {after}"
    );

    // Every change to a budget is audited.
    let (_, audit) = app.get("/api/audit?limit=1000").await;
    let puts: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "budget.put")
        .collect();
    assert_eq!(puts.len(), 1, "{audit}");
    assert_eq!(puts[0]["actor"], "oncall", "{audit}");
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/budgets/concurrency/fleet",
            Some(&oncall),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/budgets/concurrency/fleet",
            Some(&oncall),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batch_limits_deny_oversized_and_unsized_commands() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    let (s, b) = app
        .send_as(
            Method::PUT,
            &oncall,
            "/api/budgets/batches/SET_POWER",
            &json!({"maxBatch": 50, "maxPayloadBytes": 2000000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let no_size = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&no_size), "denied");
    assert!(
        reasons(&no_size).contains("`batchSize` is required"),
        "{no_size}"
    );
    let big = authorize(
        &app,
        &agent,
        json!({"commandType": "SET_POWER", "batchSize": 51, "payloadBytes": 10}),
    )
    .await;
    assert_eq!(decision(&big), "denied");
    assert!(
        reasons(&big).contains("over `SET_POWER`'s limit of 50"),
        "{big}"
    );
    let ok = authorize(
        &app,
        &agent,
        json!({"commandType": "SET_POWER", "batchSize": 50, "payloadBytes": 2000000}),
    )
    .await;
    assert_eq!(decision(&ok), "autonomous", "{ok}");
    // Other command types are not limited.
    let drum = authorize(&app, &agent, json!({"commandType": "SET_DRUM"})).await;
    assert_eq!(decision(&drum), "autonomous", "{drum}");
}

#[tokio::test]
async fn rate_budgets_are_keyed_by_scope_and_agent_and_show_in_metrics() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    for (name, key) in [("carrier", "scope:portal:carrier"), ("a7", "agent:agent-7")] {
        let (s, b) = app
            .send_as(
                Method::PUT,
                ADMIN,
                &format!("/api/budgets/rates/{name}"),
                &json!({"key": key, "limit": 1, "window": "5m"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let carrier = json!({"commandType": "SET_POWER", "scope": "portal:carrier"});
    assert_eq!(
        decision(&authorize(&app, &agent, carrier.clone()).await),
        "autonomous"
    );
    assert_eq!(decision(&authorize(&app, &agent, carrier).await), "denied");
    let seo = json!({"commandType": "SET_POWER", "scope": "website:seo"});
    assert_eq!(decision(&authorize(&app, &agent, seo).await), "autonomous");
    let a7 = json!({"commandType": "SET_POWER", "agentId": "agent-7"});
    assert_eq!(
        decision(&authorize(&app, &agent, a7.clone()).await),
        "autonomous"
    );
    assert_eq!(decision(&authorize(&app, &agent, a7).await), "denied");

    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_budget_used{kind=\"rate\",budget=\"carrier\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("regent_budget_limit{kind=\"rate\",budget=\"a7\"} 1"));
    regent_tests::promtool_check_metrics(&metrics);
}
