//! The governance API over HTTP: authentication and roles, reporting,
//! metrics, the program's state, readiness and attestations, circuit-breaker
//! rules, the OpenAPI document and the Prometheus exposition. Each test runs
//! its own server on an ephemeral port with a fresh database.

use std::collections::BTreeSet;

use regent_host::domain::Timestamp;
use regent_host::storage::prelude::*;
use regent_tests::app::{error_code, error_message, TestApp, ADMIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// `ms` milliseconds before now, in RFC 3339.
fn ago(ms: i64) -> String {
    Timestamp(Timestamp::now().millis() - ms).to_string()
}

fn command(id: &str, status: &str, required_approval: bool, created_at: &str) -> Value {
    json!({
        "id": id,
        "commandType": "SET_POWER",
        "status": status,
        "requiredApproval": required_approval,
        "autonomous": true,
        "createdAt": created_at,
    })
}

fn assert_rate(body: &Value, field: &str, expected: f64) {
    let got = body[field]
        .as_f64()
        .unwrap_or_else(|| panic!("`{field}` is not a number: {body}"));
    assert!(
        (got - expected).abs() < 1e-9,
        "`{field}`: expected {expected}, got {got}"
    );
}

/// Asserts `(status, code)` and returns the error message.
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(error_code(body), code, "{body}");
    error_message(body).to_string()
}

/// Commands in the last day. The window ends a minute from now: a record
/// stamped with the time it was received must count at once (see
/// `a_command_reported_now_counts_at_once` for the default window).
async fn commands_total(app: &TestApp) -> u64 {
    let now = Timestamp::now().millis();
    let path = format!(
        "/api/metrics/current?start={}&end={}",
        Timestamp(now - DAY_MS),
        Timestamp(now + MINUTE_MS)
    );
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["commandsTotal"].as_u64().unwrap()
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/api/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn item<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item `{id}` in {report}"))
}

// 1 ---------------------------------------------------------------------------

#[tokio::test]
async fn authentication_roles_and_token_lifecycle() {
    let app = TestApp::spawn().await;

    // No token, a malformed header, an unknown token: 401 with a challenge.
    let (status, body) = app
        .call(Method::GET, "/api/governance/state", None, None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{body}"
    );
    let resp = app
        .client
        .get(format!("{}/api/metrics/current", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = app
        .client
        .get(format!("{}/api/metrics/current", app.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let msg = assert_error(
        &app.get_as("rgt_garbage", "/api/governance/state").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert!(msg.contains("not valid"), "{msg}");
    assert_error(
        &app.post_as(
            "nope",
            "/api/commands",
            &command("c1", "succeeded", false, &ago(MINUTE_MS)),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // A viewer reads, but may not report.
    let viewer = app.token("vera-viewer", &["viewer"]).await;
    assert_eq!(
        app.get_as(&viewer, "/api/metrics/current").await.0,
        StatusCode::OK
    );
    let msg = assert_error(
        &app.post_as(
            &viewer,
            "/api/commands",
            &command("c1", "succeeded", false, &ago(MINUTE_MS)),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(
        msg.contains("`reporter`"),
        "the message names the needed role: {msg}"
    );
    assert!(msg.contains("vera-viewer"), "{msg}");
    assert_eq!(
        commands_total(&app).await,
        0,
        "a refused report stores nothing"
    );

    // System endpoints need no token.
    let (status, body) = app.call(Method::GET, "/health", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    let (status, text) = app.text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("regent_phase_info"), "{text}");

    // Creating a token: 201, its secret shown once.
    let (status, created) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "rob-reporter", "roles": ["reporter"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "rob-reporter");
    assert_eq!(created["roles"], json!(["reporter"]));
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rgt_") && secret.len() == 68, "{secret}");
    let (status, body) = app
        .post_as(
            &secret,
            "/api/commands",
            &command("r1", "succeeded", false, &ago(MINUTE_MS)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Listing shows no secret and no hash.
    let (status, list) = app.get("/api/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains(&secret), "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "admin, viewer, reporter: {list:?}");
    for t in list {
        for key in t.as_object().unwrap().keys() {
            let k = key.to_ascii_lowercase();
            assert!(
                !k.contains("hash") && !k.contains("secret") && k != "token",
                "`{key}` listed: {t}"
            );
        }
    }
    let listed = list.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(listed["name"], "rob-reporter");
    assert_eq!(listed["roles"], json!(["reporter"]));
    assert!(listed["createdAt"].is_string());
    assert!(listed["revokedAt"].is_null());

    // Revoking: the token is refused from the next request; twice is a conflict.
    let (status, revoked) = app
        .send_as(
            Method::DELETE,
            ADMIN,
            &format!("/api/tokens/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    assert_error(
        &app.get_as(&secret, "/api/metrics/current").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &app.send_as(
            Method::DELETE,
            ADMIN,
            &format!("/api/tokens/{id}"),
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &app.send_as(Method::DELETE, ADMIN, "/api/tokens/9999", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, list) = app.get("/api/tokens").await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()["revokedAt"]
        .is_string());

    // Bad token requests.
    let msg = assert_error(
        &app.post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "x", "roles": ["reporter", "root"]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("unknown role `root`"), "{msg}");
    assert_error(
        &app.post_as(ADMIN, "/api/tokens", &json!({"name": "x", "roles": []}))
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": " ", "roles": ["viewer"]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "x", "roles": ["viewer"], "admin": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // Only admin manages tokens.
    let operator = app.token("olga-operator", &["operator"]).await;
    let msg = assert_error(
        &app.post_as(
            &operator,
            "/api/tokens",
            &json!({"name": "mine", "roles": ["admin"]}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("`admin`"), "{msg}");
    assert_error(
        &app.get_as(&operator, "/api/tokens").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.send_as(Method::DELETE, &operator, "/api/tokens/1", &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // The admin token still works: the operator's attempt revoked nothing.
    assert_eq!(app.get("/api/tokens").await.0, StatusCode::OK);

    // Token changes are audited.
    let entries = audit(&app).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The bootstrap admin token, and the three made here.
    assert_eq!(
        actions.iter().filter(|a| **a == "token.create").count(),
        4,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "token.revoke").count(),
        1,
        "{actions:?}"
    );
    assert!(
        !serde_json::to_string(&entries).unwrap().contains(&secret),
        "a secret in the audit log"
    );
}

// 2 ---------------------------------------------------------------------------

#[tokio::test]
async fn commands_are_ingested_all_or_nothing_and_idempotently() {
    let app = TestApp::spawn().await;
    let reporter = app.token("rob-reporter", &["reporter"]).await;
    let at = ago(10 * MINUTE_MS);

    // One object.
    let (status, body) = app
        .post_as(
            &reporter,
            "/api/commands",
            &command("a1", "succeeded", false, &at),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"accepted": 1, "duplicates": 0}))
    );

    // An array, without createdAt (then the time received counts).
    let batch = json!([
        command("a2", "failed", false, &at),
        {"id": "a3", "commandType": "SET_FAN", "status": "rolled_back", "requiredApproval": true, "autonomous": false,
         "durationMs": 1200, "error": "overheated"},
    ]);
    let (status, body) = app.post_as(&reporter, "/api/commands", &batch).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"accepted": 2, "duplicates": 0}))
    );
    assert_eq!(commands_total(&app).await, 3);

    // Repeated ids are counted and change nothing, even with other contents.
    let again = json!([
        command("a1", "failed", true, &at),
        command("a2", "failed", false, &at),
        command("a4", "rejected", true, &at),
        command("a4", "rejected", true, &at),
    ]);
    let (status, body) = app.post_as(&reporter, "/api/commands", &again).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"accepted": 1, "duplicates": 3}))
    );
    let (_, m) = app.get("/api/metrics/current").await;
    assert_eq!(m["commandsTotal"], 4);
    assert_eq!(
        m["byStatus"],
        json!({"succeeded": 1, "failed": 1, "rejected": 1, "rolledBack": 1})
    );

    // One bad record refuses the whole batch, naming it by index.
    let bad = json!([
        command("b0", "succeeded", false, &at),
        command("b1", "succeeded", false, &at),
        command("b2", "exploded", false, &at),
        command("b3", "failed", false, &at),
    ]);
    let msg = assert_error(
        &app.post_as(&reporter, "/api/commands", &bad).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("record 2"), "{msg}");
    assert!(msg.contains("exploded"), "{msg}");
    assert!(
        !msg.contains("record 0") && !msg.contains("record 1") && !msg.contains("record 3"),
        "{msg}"
    );
    assert_eq!(
        commands_total(&app).await,
        4,
        "nothing of the refused batch was stored"
    );
    // ... not even its good records, which are new when sent on their own.
    let (_, body) = app
        .post_as(&reporter, "/api/commands", &json!([bad[0], bad[1]]))
        .await;
    assert_eq!(body, json!({"accepted": 2, "duplicates": 0}));

    // Several bad records are each named; other shape errors too.
    let bad = json!([
        {"id": "", "commandType": "X", "status": "failed", "requiredApproval": false, "autonomous": false},
        command("c1", "succeeded", false, &at),
        {"id": "c2", "commandType": "X", "status": "failed", "requiredApproval": false},
        {"id": "c3", "commandType": "X", "status": "failed", "requiredApproval": false, "autonomous": false, "colour": "red"},
        {"id": "c4", "commandType": "X", "status": "failed", "requiredApproval": false, "autonomous": false, "createdAt": "yesterday"},
    ]);
    let msg = assert_error(
        &app.post_as(&reporter, "/api/commands", &bad).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    for (i, needle) in [
        (0, "`id` is empty"),
        (2, "autonomous"),
        (3, "colour"),
        (4, "yesterday"),
    ] {
        assert!(msg.contains(&format!("record {i}")), "record {i}: {msg}");
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    assert!(!msg.contains("record 1"), "{msg}");

    // Too many records: 413, nothing stored.
    let many: Vec<Value> = (0..10_001)
        .map(|i| command(&format!("m{i}"), "succeeded", false, &at))
        .collect();
    let msg = assert_error(
        &app.post_as(&reporter, "/api/commands", &Value::Array(many.clone()))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert!(msg.contains("10001") || msg.contains("10,001"), "{msg}");
    // Exactly the limit is fine.
    let (status, body) = app
        .post_as(
            &reporter,
            "/api/commands",
            &Value::Array(many[..10_000].to_vec()),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"accepted": 10_000, "duplicates": 0}))
    );
    assert_eq!(commands_total(&app).await, 6 + 10_000);

    // Empty, malformed, and not records at all.
    let msg = assert_error(
        &app.post_as(&reporter, "/api/commands", &json!([])).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("empty"), "{msg}");
    let malformed = app
        .call(
            Method::POST,
            "/api/commands",
            Some(&reporter),
            Some("[{\"id\": \"x\",".into()),
        )
        .await;
    let msg = assert_error(&malformed, StatusCode::BAD_REQUEST, "bad_request");
    assert!(msg.starts_with("malformed JSON"), "{msg}");
    let empty = app
        .call(
            Method::POST,
            "/api/commands",
            Some(&reporter),
            Some("".into()),
        )
        .await;
    assert_error(&empty, StatusCode::BAD_REQUEST, "bad_request");
    assert_error(
        &app.post_as(&reporter, "/api/commands", &json!("a1")).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.post_as(&reporter, "/api/commands", &json!([1, 2]))
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_eq!(commands_total(&app).await, 6 + 10_000);
}

// 3 ---------------------------------------------------------------------------

#[tokio::test]
async fn metrics_rates_windows_weekly_and_snapshots() {
    let app = TestApp::spawn().await;

    // No commands: counts are 0 and every rate is null.
    let (status, empty) = app.get("/api/metrics/current").await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["commandsTotal"], 0);
    assert_eq!(
        empty["byStatus"],
        json!({"succeeded": 0, "failed": 0, "rejected": 0, "rolledBack": 0})
    );
    for rate in ["successRate", "errorRate", "approvalRate", "rollbackRate"] {
        assert!(empty[rate].is_null(), "{rate}: {empty}");
    }
    assert_eq!(
        empty["incidentsBySeverity"],
        json!({"low": 0, "medium": 0, "high": 0, "critical": 0})
    );
    assert_eq!(empty["criticalAutonomousIncidents"], 0);
    let (start, end) = (
        Timestamp::parse(empty["start"].as_str().unwrap()).unwrap(),
        Timestamp::parse(empty["end"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(
        end.millis() - start.millis(),
        DAY_MS,
        "the default window is the last 24 hours"
    );

    // Before a cycle there is no snapshot.
    assert_error(
        &app.get("/api/metrics/latest").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // 7 succeeded (2 needing approval), 2 failed, 1 rolled back (needing
    // approval), 2 rejected (needing approval): all in the last hour.
    let mut records = Vec::new();
    for i in 0..7 {
        records.push(command(
            &format!("s{i}"),
            "succeeded",
            i < 2,
            &ago((5 + i) * MINUTE_MS),
        ));
    }
    records.push(command("f0", "failed", false, &ago(20 * MINUTE_MS)));
    records.push(command("f1", "failed", false, &ago(45 * MINUTE_MS)));
    records.push(command("rb0", "rolled_back", true, &ago(40 * MINUTE_MS)));
    records.push(command("rj0", "rejected", true, &ago(50 * MINUTE_MS)));
    records.push(command("rj1", "rejected", true, &ago(55 * MINUTE_MS)));
    // Two older ones, outside the default 24 hours but inside the week.
    records.push(command("old0", "failed", false, &ago(3 * DAY_MS)));
    records.push(command(
        "old1",
        "succeeded",
        false,
        &ago(3 * DAY_MS + HOUR_MS),
    ));
    let (status, body) = app
        .post("/api/commands", Value::Array(records).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 14);

    let (status, m) = app.get("/api/metrics/current").await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["commandsTotal"], 12);
    assert_eq!(
        m["byStatus"],
        json!({"succeeded": 7, "failed": 2, "rejected": 2, "rolledBack": 1})
    );
    // Rates over executed commands (rejected ones never ran): 10.
    assert_rate(&m, "successRate", 0.7);
    assert_rate(&m, "errorRate", 0.2);
    assert_rate(&m, "rollbackRate", 0.1);
    // 5 needed approval, 2 of them were rejected.
    assert_rate(&m, "approvalRate", 0.6);

    // An explicit window: the older half of the last hour (30 to 60 minutes ago).
    let path = format!(
        "/api/metrics/current?start={}&end={}",
        ago(HOUR_MS),
        ago(30 * MINUTE_MS)
    );
    let (status, m) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        m["byStatus"],
        json!({"succeeded": 0, "failed": 1, "rejected": 2, "rolledBack": 1})
    );
    assert_rate(&m, "errorRate", 0.5);
    assert_rate(&m, "rollbackRate", 0.5);
    assert_rate(&m, "successRate", 0.0);
    assert_rate(&m, "approvalRate", 1.0 / 3.0);

    // A window spanning whole hours (served from the hourly roll-up) and
    // ragged edges: the last 4 days.
    let path = format!(
        "/api/metrics/current?start={}&end={}",
        ago(4 * DAY_MS),
        ago(0)
    );
    let (_, m) = app.get(&path).await;
    assert_eq!(m["commandsTotal"], 14);
    assert_eq!(
        m["byStatus"],
        json!({"succeeded": 8, "failed": 3, "rejected": 2, "rolledBack": 1})
    );

    // `start` is inclusive and `end` exclusive, also on an exact hour.
    let hour = (Timestamp::now().millis() - 10 * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS;
    let (_, body) = app
        .post(
            "/api/commands",
            command("edge", "succeeded", false, &Timestamp(hour).to_string()).to_string(),
        )
        .await;
    assert_eq!(body["accepted"], 1);
    for (from, to, expected) in [
        (hour, hour + HOUR_MS, 1),
        (hour, hour + 1, 1),
        (hour - HOUR_MS, hour, 0),
        (hour + 1, hour + 2 * HOUR_MS, 0),
        (hour - 5 * HOUR_MS, hour + 5 * HOUR_MS, 1),
    ] {
        let path = format!(
            "/api/metrics/current?start={}&end={}",
            Timestamp(from),
            Timestamp(to)
        );
        let (status, m) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{m}");
        assert_eq!(
            m["commandsTotal"], expected,
            "[{from}, {to}) around {hour}: {m}"
        );
    }

    // Bad windows.
    let msg = assert_error(
        &app.get("/api/metrics/current?start=yesterday").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(
        msg.contains("`start`") && msg.contains("yesterday"),
        "{msg}"
    );
    let msg = assert_error(
        &app.get("/api/metrics/current?end=2026-13-01T00:00:00Z")
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("`end`"), "{msg}");
    let path = format!(
        "/api/metrics/current?start={}&end={}",
        ago(MINUTE_MS),
        ago(2 * MINUTE_MS)
    );
    let msg = assert_error(
        &app.get(&path).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("`start`") && msg.contains("after"), "{msg}");
    // `[t, t)` is an empty window, not an error: no schema can forbid it.
    let same = ago(MINUTE_MS);
    let path = format!("/api/metrics/current?start={same}&end={same}");
    let (status, empty) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["commandsTotal"], 0);
    assert_error(
        &app.get("/api/metrics/current?from=x").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // The week: a total and 7 days, oldest first, that add up to it.
    let (status, week) = app.get("/api/metrics/weekly").await;
    assert_eq!(status, StatusCode::OK, "{week}");
    assert_eq!(week["total"]["commandsTotal"], 15);
    let days = week["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let sum: u64 = days
        .iter()
        .map(|d| d["commandsTotal"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 15);
    assert_eq!(days[6]["commandsTotal"], 13, "the last day: {}", days[6]);
    assert_eq!(days[0]["start"], week["total"]["start"]);
    assert_eq!(days[6]["end"], week["total"]["end"]);
    for pair in days.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "days are contiguous");
    }
    let older: u64 = days[..6]
        .iter()
        .map(|d| d["commandsTotal"].as_u64().unwrap())
        .sum();
    assert_eq!(older, 2);

    // A viewer may read metrics but not run the cycle; after one, the
    // latest snapshot is the cycle's week.
    let viewer = app.token("vera-viewer", &["viewer"]).await;
    assert_eq!(
        app.get_as(&viewer, "/api/metrics/weekly").await.0,
        StatusCode::OK
    );
    assert_error(
        &app.post_as(&viewer, "/api/governance/run-cycle", &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get_as(&viewer, "/api/metrics/latest").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, report) = app.post("/api/governance/run-cycle", "").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (status, latest) = app.get_as(&viewer, "/api/metrics/latest").await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest["commandsTotal"], 15);
    assert_eq!(latest, report["metrics"]);
    let (start, end) = (
        Timestamp::parse(latest["start"].as_str().unwrap()).unwrap(),
        Timestamp::parse(latest["end"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(end.millis() - start.millis(), 7 * DAY_MS);
}

// 4 ---------------------------------------------------------------------------

#[tokio::test]
async fn incidents_and_gauges_are_reported_and_counted() {
    let app = TestApp::spawn().await;
    let reporter = app.token("rob-reporter", &["reporter"]).await;

    let (status, inc) = app
        .post_as(
            &reporter,
            "/api/incidents",
            &json!({"severity": "HIGH", "autonomous": false, "description": "fan stalled"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inc}");
    assert_eq!(inc["severity"], "high");
    assert_eq!(inc["autonomous"], false);
    assert_eq!(inc["description"], "fan stalled");
    assert_eq!(inc["reportedBy"], "rob-reporter");
    assert!(inc["id"].as_i64().is_some());
    assert!(inc["occurredAt"].is_string());
    assert!(inc["commandType"].is_null());

    let at = ago(10 * MINUTE_MS);
    for (severity, autonomous) in [
        ("Critical", true),
        ("critical", false),
        ("low", true),
        ("MeDiUm", false),
    ] {
        let (status, inc) = app
            .post_as(
                &reporter,
                "/api/incidents",
                &json!({"severity": severity, "autonomous": autonomous, "commandType": "SET_POWER",
                        "description": "x", "occurredAt": at}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inc}");
        assert_eq!(inc["severity"], severity.to_ascii_lowercase());
        assert_eq!(inc["commandType"], "SET_POWER");
        assert_eq!(
            Timestamp::parse(inc["occurredAt"].as_str().unwrap()).unwrap(),
            Timestamp::parse(&at).unwrap()
        );
    }
    // Long ago: outside the default window.
    let (status, _) = app
        .post_as(&reporter, "/api/incidents", &json!({"severity": "critical", "autonomous": true, "description": "old", "occurredAt": ago(3 * DAY_MS)}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Bad incidents.
    let msg = assert_error(
        &app.post_as(
            &reporter,
            "/api/incidents",
            &json!({"severity": "catastrophic", "autonomous": false, "description": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("catastrophic"), "{msg}");
    assert_error(
        &app.post_as(
            &reporter,
            "/api/incidents",
            &json!({"severity": "low", "autonomous": false, "description": "  "}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.post_as(
            &reporter,
            "/api/incidents",
            &json!({"severity": "low", "description": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let future = Timestamp(Timestamp::now().millis() + HOUR_MS).to_string();
    let msg = assert_error(
        &app.post_as(&reporter, "/api/incidents", &json!({"severity": "low", "autonomous": false, "description": "x", "occurredAt": future})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("occurredAt"), "{msg}");
    let viewer = app.token("vera-viewer", &["viewer"]).await;
    assert_error(
        &app.post_as(
            &viewer,
            "/api/incidents",
            &json!({"severity": "low", "autonomous": false, "description": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Counted in the metrics: by severity, and critical autonomous ones.
    let (_, m) = app.get_as(&viewer, "/api/metrics/current").await;
    assert_eq!(
        m["incidentsBySeverity"],
        json!({"low": 1, "medium": 1, "high": 1, "critical": 2})
    );
    assert_eq!(m["criticalAutonomousIncidents"], 1);
    let (_, week) = app.get("/api/metrics/weekly").await;
    assert_eq!(week["total"]["incidentsBySeverity"]["critical"], 3);
    assert_eq!(week["total"]["criticalAutonomousIncidents"], 2);

    // Gauges: stored, and read by the checklist item that names them.
    let (status, g) = app
        .post_as(
            &reporter,
            "/api/gauges",
            &json!({"name": "evalCoverage", "value": 0.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["name"], "evalCoverage");
    assert_eq!(g["value"], 0.5);
    assert!(g["updatedAt"].is_string(), "{g}");
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&report, "eval-coverage")["passed"],
        false,
        "{}",
        item(&report, "eval-coverage")
    );
    let (status, g) = app
        .post_as(
            &reporter,
            "/api/gauges",
            &json!({"name": "evalCoverage", "value": 0.95}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let (_, report) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&report, "eval-coverage")["passed"],
        true,
        "{}",
        item(&report, "eval-coverage")
    );

    for bad in [
        json!({"name": "", "value": 1}),
        json!({"name": "x".repeat(101), "value": 1}),
        json!({"name": "g", "value": "high"}),
        json!({"name": "g"}),
        json!({"name": "g", "value": 1, "unit": "%"}),
    ] {
        assert_error(
            &app.post_as(&reporter, "/api/gauges", &bad).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }
    assert_error(
        &app.post_as(&viewer, "/api/gauges", &json!({"name": "g", "value": 1}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // The exposition counts incidents too (all time).
    let (_, text) = app.text("/metrics").await;
    assert!(
        text.contains("regent_incidents_total{severity=\"critical\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("regent_safety_constraint_violations_total 3"),
        "{text}"
    );
}

// 5 ---------------------------------------------------------------------------

#[tokio::test]
async fn governance_state_and_the_phase_bootstrap_are_audited() {
    let app = TestApp::spawn().await;
    let (status, state) = app.get("/api/governance/state").await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["phase"], "L3");
    assert_eq!(state["whitelist"], json!([]));
    assert_eq!(state["pausedCommandTypes"], json!([]));
    assert_eq!(state["emergencyStop"], false);
    assert_eq!(state["minStabilizationDays"], 180);
    assert_eq!(state["daysAtPhase"], 0);
    assert!(state["lastReportAt"].is_null());
    assert!(state["phaseStartedAt"].is_string());

    let started = Timestamp(Timestamp::now().millis() - 30 * DAY_MS - HOUR_MS);
    let backdate = json!({"phase": "L3", "phaseStartedAt": started.to_string()});
    let put = |token: &str, body: Value| {
        let token = token.to_string();
        let app = &app;
        async move {
            app.send_as(Method::PUT, &token, "/api/governance/state/phase", &body)
                .await
        }
    };

    // The attack: the admin raising a running program straight to L4 or
    // L5. Autonomy rises only through an approved proposal.
    for phase in ["L4", "L5"] {
        let msg = assert_error(
            &put(
                ADMIN,
                json!({"phase": phase, "phaseStartedAt": started.to_string()}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert!(
            msg.contains("autonomy rises only through an approved proposal"),
            "{msg}"
        );
    }
    // Backdating is a bootstrap: not for an operator, nor a viewer.
    let operator = app.token("olga-operator", &["operator"]).await;
    let msg = assert_error(
        &put(&operator, backdate.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("only an admin"), "{msg}");
    let viewer = app.token("vera-viewer", &["viewer"]).await;
    assert_error(
        &put(&viewer, backdate.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Bad input: a bad phase, the future, nothing to change, a bad time.
    let msg = assert_error(
        &put(
            ADMIN,
            json!({"phase": "L6", "phaseStartedAt": started.to_string()}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("L6"), "{msg}");
    let future = Timestamp(Timestamp::now().millis() + DAY_MS).to_string();
    let msg = assert_error(
        &put(ADMIN, json!({"phase": "L3", "phaseStartedAt": future})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(
        msg.contains("phaseStartedAt") && msg.contains("future"),
        "{msg}"
    );
    let msg = assert_error(
        &put(ADMIN, json!({"phase": "L3"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(msg.contains("already L3"), "{msg}");
    assert_error(
        &put(
            ADMIN,
            json!({"phase": "L3", "phaseStartedAt": "last month"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let (_, unchanged) = app.get("/api/governance/state").await;
    assert_eq!(unchanged["phase"], "L3");
    assert_eq!(unchanged["daysAtPhase"], 0);
    assert!(
        audit(&app)
            .await
            .iter()
            .all(|e| !e["action"].as_str().unwrap().starts_with("phase.")),
        "refused changes are not audited"
    );

    // As admin: the current phase's start moves back.
    let (status, set) = put(ADMIN, backdate.clone()).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["phase"], "L3");
    assert_eq!(set["whitelist"], json!([]));
    assert_eq!(set["daysAtPhase"], 30);
    assert_eq!(
        Timestamp::parse(set["phaseStartedAt"].as_str().unwrap()).unwrap(),
        started
    );
    let (status, state) = app.get_as(&viewer, "/api/governance/state").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state, set);

    // The audit log: admin only, newest first, chained, with before/after.
    assert_error(
        &app.get_as(&viewer, "/api/audit").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get_as(&operator, "/api/audit").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/audit?limit=0").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let (status, one) = app.get("/api/audit?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one.as_array().unwrap().len(), 1);
    let entries = audit(&app).await;
    assert_eq!(one[0], entries[0]);
    for pair in entries.windows(2) {
        assert!(
            pair[0]["id"].as_i64() > pair[1]["id"].as_i64(),
            "newest first"
        );
        assert_eq!(pair[0]["prevHash"], pair[1]["hash"], "chained");
    }
    let backdated = entries
        .iter()
        .find(|e| e["action"] == "phase.backdate")
        .expect("the backdate is audited");
    assert_eq!(backdated["actor"], "test-admin");
    assert_eq!(backdated["target"], "governance_state");
    assert_eq!(backdated["before"]["phase"], "L3");
    assert_eq!(backdated["after"]["phase"], "L3");
    assert_eq!(
        Timestamp::parse(backdated["after"]["phaseStartedAt"].as_str().unwrap()).unwrap(),
        started
    );
}

#[tokio::test]
async fn a_program_adopted_above_l3_starts_there_once_and_operators_can_lower_it() {
    let app = TestApp::spawn_at("L5", 3 * DAY_MS).await;
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L5");
    assert_eq!(state["daysAtPhase"], 3);
    assert_eq!(state["whitelist"].as_array().unwrap().len(), 8, "{state}");
    let entries = audit(&app).await;
    let init = entries
        .iter()
        .find(|e| e["action"] == "governance.initialize")
        .unwrap();
    assert_eq!(init["after"]["phase"], "L5");
    assert_eq!(init["after"]["source"], "config: initial_phase");

    // A brake: an operator lowers the phase, from now.
    let operator = app.token("olga-operator", &["operator"]).await;
    let (status, s) = app
        .send_as(
            Method::PUT,
            &operator,
            "/api/governance/state/phase",
            &json!({"phase": "L4"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["phase"], "L4");
    assert_eq!(
        s["whitelist"],
        json!(["SET_POWER", "SET_FAN", "SET_DRUM", "SET_AIRFLOW"])
    );
    assert_eq!(s["daysAtPhase"], 0);
    assert_eq!(s["minStabilizationDays"], 21);
    // Nor can the operator undo it: going back up needs a proposal.
    let msg = assert_error(
        &app.send_as(
            Method::PUT,
            &operator,
            "/api/governance/state/phase",
            &json!({"phase": "L5"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("approved proposal"), "{msg}");
    // The admin may lower with a start (a bootstrap), by wire name.
    let (status, s) = app
        .send_as(
            Method::PUT,
            ADMIN,
            "/api/governance/state/phase",
            &json!({"phase": "L3+", "phaseStartedAt": ago(DAY_MS)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["phase"], "L3+");
    assert_eq!(s["whitelist"], json!(["SET_POWER", "SET_FAN"]));
    assert_eq!(s["minStabilizationDays"], 14);
    assert_eq!(s["daysAtPhase"], 1);
    let lowered: Vec<Value> = audit(&app)
        .await
        .into_iter()
        .filter(|e| e["action"] == "phase.lower")
        .collect();
    assert_eq!(lowered.len(), 2);
    assert_eq!(lowered[1]["actor"], "olga-operator");
    assert_eq!(lowered[1]["before"]["phase"], "L5");
    assert_eq!(lowered[1]["after"]["phase"], "L4");
    assert_eq!(lowered[0]["actor"], "test-admin");

    // A restart with another `initial_phase` changes nothing: it applies
    // only at the store's first start.
    let config = {
        let mut c = regent_host::config::ServeConfig::new(
            app.dir.path().join("plugins"),
            regent_tests::built_plugins().join("test-cache"),
            app.db_path.clone(),
        );
        regent_tests::app::start_at(&mut c, "L5", 0);
        c
    };
    let db = regent_host::storage::SqliteStore::open(&config.db_path).unwrap();
    let whitelist = config
        .governance
        .phases
        .whitelist(regent_host::domain::Phase::L5);
    let again = db
        .initialize(
            &[],
            Some(regent_host::storage::InitialState {
                phase: regent_host::domain::Phase::L5,
                started_at: Timestamp::now(),
                whitelist: &whitelist,
            }),
            Timestamp::now(),
        )
        .unwrap();
    assert!(!again, "a second start does not initialize");
    assert_eq!(db.state().unwrap().phase.as_str(), "L3+");
}

// 6 ---------------------------------------------------------------------------

#[tokio::test]
async fn readiness_reports_the_whole_checklist_and_is_stored() {
    let app = TestApp::spawn().await;
    assert_error(
        &app.get("/api/readiness/latest").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let viewer = app.token("vera-viewer", &["viewer"]).await;
    let (status, r) = app.get_as(&viewer, "/api/readiness/current").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["phase"], "L3");
    assert!(r["id"].as_i64().unwrap() > 0);
    assert!(r["assessedAt"].is_string());
    assert_eq!(r["overall"]["maxScore"], 80);
    assert_eq!(r["categories"]["technical"]["maxScore"], 35);
    assert_eq!(r["categories"]["process"]["maxScore"], 25);
    assert_eq!(r["categories"]["organizational"]["maxScore"], 20);

    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 22);
    let mut ids = BTreeSet::new();
    for i in items {
        for key in [
            "id",
            "name",
            "category",
            "subcategory",
            "weight",
            "required",
            "passed",
            "detail",
            "plugin",
            "pluginVersion",
        ] {
            assert!(!i[key].is_null(), "item without `{key}`: {i}");
        }
        assert!(
            ["technical", "process", "organizational"].contains(&i["category"].as_str().unwrap()),
            "{i}"
        );
        assert!(
            ids.insert(i["id"].as_str().unwrap().to_string()),
            "duplicate id: {i}"
        );
        assert!(!i["detail"].as_str().unwrap().is_empty(), "{i}");
    }

    // Scores add up per category and overall.
    let mut total = 0;
    for cat in ["technical", "process", "organizational"] {
        let (mut score, mut max) = (0, 0);
        for i in items.iter().filter(|i| i["category"] == cat) {
            let w = i["weight"].as_u64().unwrap();
            max += w;
            if i["passed"] == true {
                score += w;
            }
        }
        assert_eq!(r["categories"][cat]["maxScore"], max, "{cat}");
        assert_eq!(r["categories"][cat]["score"], score, "{cat}");
        total += score;
    }
    assert_eq!(r["overall"]["score"], total);
    let pct = r["overall"]["percentage"].as_f64().unwrap();
    assert!(
        (pct - (total as f64 * 100.0 / 80.0 * 10.0).round() / 10.0).abs() < 1e-9,
        "{pct}"
    );

    // An empty system needs work; its blockers are the names of the failed
    // required items.
    assert_eq!(r["overall"]["status"], "needs_work");
    let expected: Vec<&Value> = items
        .iter()
        .filter(|i| i["required"] == true && i["passed"] == false)
        .map(|i| &i["name"])
        .collect();
    let blockers: Vec<&Value> = r["overall"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(!blockers.is_empty());
    assert_eq!(blockers, expected);
    assert!(
        blockers.contains(&&json!("Runbooks complete")),
        "{blockers:?}"
    );
    assert_eq!(item(&r, "runbooks")["passed"], false);
    assert_eq!(item(&r, "runbooks")["required"], true);

    // Latest returns the stored assessment; the score reads it.
    let (status, latest) = app.get_as(&viewer, "/api/readiness/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["id"], r["id"]);
    assert_eq!(latest, r);
    let (status, score) = app.get_as(&viewer, "/api/readiness/score").await;
    assert_eq!(status, StatusCode::OK, "{score}");
    assert_eq!(
        score,
        json!({"score": r["overall"]["score"], "maxScore": 80, "percentage": r["overall"]["percentage"], "status": "needs_work"})
    );

    // A second assessment is a new one; latest follows it.
    let (_, r2) = app.get("/api/readiness/current").await;
    assert!(r2["id"].as_i64() > r["id"].as_i64());
    let (_, latest) = app.get("/api/readiness/latest").await;
    assert_eq!(latest["id"], r2["id"]);
}

#[tokio::test]
async fn readiness_score_assesses_when_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (status, score) = app.get("/api/readiness/score").await;
    assert_eq!(status, StatusCode::OK, "{score}");
    assert_eq!(score["maxScore"], 80);
    assert_eq!(score["status"], "needs_work");
    let (status, latest) = app.get("/api/readiness/latest").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the score stored the assessment it ran: {latest}"
    );
    assert_eq!(latest["overall"]["score"], score["score"]);
}

// 7 ---------------------------------------------------------------------------

#[tokio::test]
async fn attestations_pass_items_and_are_revoked_by_the_right_people() {
    let app = TestApp::spawn().await;
    // `runbooks` counts an ops_lead's attestation (its default `roles`).
    let tech = app.token("ana-ops-lead", &["ops_lead"]).await;
    let reporter = app.token("rob-reporter", &["reporter"]).await;
    let viewer = app.token("vera-viewer", &["viewer"]).await;

    let (status, a) = app
        .post_as(&tech, "/api/attestations", &json!({"key": "runbooks"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["key"], "runbooks");
    assert_eq!(a["role"], "ops_lead");
    assert_eq!(a["attestedBy"], "ana-ops-lead");
    assert!(a["attestedAt"].is_string());
    assert!(a["expiresAt"].is_null());

    let (_, r) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&r, "runbooks")["passed"],
        true,
        "{}",
        item(&r, "runbooks")
    );
    assert!(!r["overall"]["blockers"]
        .as_array()
        .unwrap()
        .contains(&json!("Runbooks complete")));

    let (status, list) = app.get_as(&viewer, "/api/attestations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([a]));

    // Who may attest, and in which role.
    let msg = assert_error(
        &app.post_as(&viewer, "/api/attestations", &json!({"key": "runbooks"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("viewer"), "{msg}");
    let two = app
        .token("lee-two-hats", &["tech_lead", "ops_lead", "viewer"])
        .await;
    let msg = assert_error(
        &app.post_as(&two, "/api/attestations", &json!({"key": "ops_approval"}))
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("role"), "{msg}");
    assert_error(
        &app.post_as(
            &two,
            "/api/attestations",
            &json!({"key": "ops_approval", "role": "product_lead"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post_as(
            &two,
            "/api/attestations",
            &json!({"key": "ops_approval", "role": "chief"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    // `ops-approval` needs the attestation in role ops_lead.
    let (status, by_tech) = app
        .post_as(
            &two,
            "/api/attestations",
            &json!({"key": "ops_approval", "role": "tech_lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_tech}");
    let (_, r) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&r, "ops-approval")["passed"],
        false,
        "{}",
        item(&r, "ops-approval")
    );
    let (status, by_ops) = app
        .post_as(
            &two,
            "/api/attestations",
            &json!({"key": "ops_approval", "role": "ops_lead", "evidenceUrl": "https://wiki/ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_ops}");
    assert_eq!(by_ops["role"], "ops_lead");
    assert_eq!(by_ops["evidenceUrl"], "https://wiki/ops");
    let (_, r) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&r, "ops-approval")["passed"],
        true,
        "{}",
        item(&r, "ops-approval")
    );

    // Bad attestations.
    for bad in [
        json!({"key": ""}),
        json!({"key": "k".repeat(101)}),
        json!({"key": "runbooks", "expiresAt": ago(MINUTE_MS)}),
        json!({"key": "runbooks", "signedBy": "me"}),
        json!({}),
    ] {
        assert_error(
            &app.post_as(&tech, "/api/attestations", &bad).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }

    // Revocation: not by another reporter; by admin, once.
    let msg = assert_error(
        &app.send_as(
            Method::DELETE,
            &reporter,
            &format!("/api/attestations/{id}"),
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("attester"), "{msg}");
    assert_error(
        &app.send_as(
            Method::DELETE,
            &two,
            &format!("/api/attestations/{id}"),
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (_, r) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&r, "runbooks")["passed"],
        true,
        "a refused revocation changes nothing"
    );
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/attestations/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_error(
        &app.send_as(
            Method::DELETE,
            ADMIN,
            &format!("/api/attestations/{id}"),
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, r) = app.get("/api/readiness/current").await;
    assert_eq!(
        item(&r, "runbooks")["passed"],
        false,
        "{}",
        item(&r, "runbooks")
    );
    assert!(r["overall"]["blockers"]
        .as_array()
        .unwrap()
        .contains(&json!("Runbooks complete")));
    let (_, list) = app.get("/api/attestations").await;
    assert!(
        list.as_array().unwrap().iter().all(|x| x["id"] != id),
        "{list}"
    );

    // The attester revokes their own; an operator anyone's.
    let (_, own) = app
        .post_as(&tech, "/api/attestations", &json!({"key": "chaos_testing"}))
        .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/attestations/{}", own["id"]),
            Some(&tech),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let operator = app.token("olga-operator", &["operator"]).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/attestations/{}", by_tech["id"]),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let actions: Vec<Value> = audit(&app)
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "attestation.revoke")
            .count(),
        3,
        "{actions:?}"
    );
}

/// The attester may revoke their own attestation; that must mean the
/// principal that attested, not any token that happens to carry its name:
/// a second token joins a principal only when asked to explicitly.
#[tokio::test]
async fn a_namesake_token_cannot_revoke_someone_elses_attestation() {
    let app = TestApp::spawn().await;
    let tech = app.token("ana", &["tech_lead"]).await;
    let (status, a) = app
        .post_as(&tech, "/api/attestations", &json!({"key": "runbooks"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");

    // Either a second token cannot take the name, or the name gives it no
    // right over the attestation.
    let (status, created) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "ana", "roles": ["viewer"]}),
        )
        .await;
    if status == StatusCode::CONFLICT {
        return;
    }
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let namesake = created["token"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/attestations/{}", a["id"]),
            Some(namesake),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer token named `ana` revoked ana's attestation: {body}"
    );
}

// 8 ---------------------------------------------------------------------------

#[tokio::test]
async fn breaker_rules_are_validated_by_their_plugin_and_audited() {
    let app = TestApp::spawn().await;
    let (status, rules) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let rules = rules.as_array().unwrap().clone();
    let summary: Vec<(&str, &str, &str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["window"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["alertSeverity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("High Error Rate", "5m", "revert_to_l3", "critical"),
            (
                "Repeated Command Failures",
                "5m",
                "pause_command_type",
                "high"
            ),
            ("Critical Incident", "1m", "revert_to_l3", "critical"),
            ("High Rollback Rate", "15m", "alert_only", "medium"),
            (
                "Charter SLO: Success Rate Below 98%",
                "15m",
                "throttle",
                "high"
            ),
            ("Charter SLO: p95 Above 2.5s", "15m", "throttle", "high"),
            (
                "Charter SLO: Success Rate Below 95%",
                "15m",
                "revert_to_l3",
                "critical"
            ),
        ]
    );
    // The seed's four are on; the Charter's SLOs are off until an operator
    // turns them on.
    for (i, r) in rules.iter().enumerate() {
        assert_eq!(r["enabled"], i < 4, "{r}");
        assert_eq!(r["plugin"], "expression");
    }
    let original = rules[3].clone();
    assert_eq!(original["condition"], "rollbackRate > 0.10");

    // A condition the plugin cannot parse: 400 quoting its error; unchanged.
    let path = "/api/circuit-breaker/rules/High%20Rollback%20Rate";
    let msg = assert_error(
        &app.send_as(
            Method::PATCH,
            ADMIN,
            path,
            &json!({"condition": "rollbackRate >"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("expected a number after `>`"), "{msg}");
    assert!(msg.contains("found the end of the condition"), "{msg}");
    assert!(
        msg.contains("`expression`") && msg.contains("High Rollback Rate"),
        "{msg}"
    );
    let msg = assert_error(
        &app.send_as(
            Method::PATCH,
            ADMIN,
            path,
            &json!({"condition": "errRate > 0.1"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("unknown metric `errRate`"), "{msg}");
    let (_, after) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(after[3], original, "a refused patch changes nothing");

    // Other bad patches.
    for bad in [
        json!({"window": "5w"}),
        json!({"action": "explode"}),
        json!({"name": "Renamed"}),
        json!({"enabled": "no"}),
    ] {
        assert_error(
            &app.send_as(Method::PATCH, ADMIN, path, &bad).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }
    let msg = assert_error(
        &app.send_as(
            Method::PATCH,
            ADMIN,
            path,
            &json!({"plugin": "severity-weighted"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("not a breaker-condition"), "{msg}");
    assert_error(
        &app.send_as(
            Method::PATCH,
            ADMIN,
            path,
            &json!({"plugin": "no-such-plugin"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.send_as(
            Method::PATCH,
            ADMIN,
            "/api/circuit-breaker/rules/No%20Such%20Rule",
            &json!({"enabled": false}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Reporters and viewers may read rules but not change them.
    let reporter = app.token("rob-reporter", &["reporter"]).await;
    assert_eq!(
        app.get_as(&reporter, "/api/circuit-breaker/rules").await.0,
        StatusCode::OK
    );
    let msg = assert_error(
        &app.send_as(Method::PATCH, &reporter, path, &json!({"enabled": false}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(msg.contains("`operator`"), "{msg}");

    // A valid patch, by an operator.
    let operator = app.token("olga-operator", &["operator"]).await;
    let (status, patched) = app
        .send_as(Method::PATCH, &operator, path, &json!({"enabled": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["condition"], original["condition"]);
    let (_, enabled) = app.get("/api/circuit-breaker/rules/enabled").await;
    let names: Vec<&str> = enabled
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "High Error Rate",
            "Repeated Command Failures",
            "Critical Incident"
        ]
    );
    let (status, patched) = app
        .send_as(
            Method::PATCH,
            &operator,
            path,
            &json!({"condition": "rollbackRate >= 0.2", "window": "60m"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["window"], "1h",
        "a window is shown in its largest unit"
    );

    // A new rule; its name is unique.
    let rule = json!({"name": "Slow Failures", "enabled": true, "condition": "failures >= 10 and errorRate > 0.2",
                      "window": "90s", "action": "alert_only", "alertSeverity": "HIGH"});
    let (status, created) = app
        .post_as(&operator, "/api/circuit-breaker/rules", &rule)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["plugin"], "expression");
    assert_eq!(created["params"], json!({}));
    assert_eq!(created["window"], "90s");
    assert_eq!(created["alertSeverity"], "high");
    let (_, all) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(all.as_array().unwrap().len(), 8);
    assert_eq!(all[7], created);
    let msg = assert_error(
        &app.post_as(&operator, "/api/circuit-breaker/rules", &rule)
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(msg.contains("Slow Failures"), "{msg}");
    assert_error(
        &app.post_as(&reporter, "/api/circuit-breaker/rules", &rule)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let mut bad = rule.clone();
    bad["name"] = json!("Weekly");
    bad["window"] = json!("5w");
    let msg = assert_error(
        &app.post_as(&operator, "/api/circuit-breaker/rules", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(msg.contains("5w"), "{msg}");
    bad["window"] = json!("31d");
    assert_error(
        &app.post_as(&operator, "/api/circuit-breaker/rules", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    bad["window"] = json!("5m");
    bad["condition"] = json!("errorRate >> 1");
    assert_error(
        &app.post_as(&operator, "/api/circuit-breaker/rules", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    bad["condition"] = json!("errorRate > 0.5");
    bad["name"] = json!("");
    assert_error(
        &app.post_as(&operator, "/api/circuit-breaker/rules", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let (_, all) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        8,
        "no refused rule was added"
    );

    // Delete: 200 with the rule, then 404.
    let del = "/api/circuit-breaker/rules/Slow%20Failures";
    assert_error(
        &app.send_as(Method::DELETE, &reporter, del, &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, deleted) = app.call(Method::DELETE, del, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["name"], "Slow Failures");
    assert_error(
        &app.send_as(Method::DELETE, &operator, del, &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.send_as(Method::PATCH, &operator, del, &json!({"enabled": true}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, all) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(all.as_array().unwrap().len(), 7);

    // Audited: the two accepted patches only, with before and after.
    let entries = audit(&app).await;
    let updates: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "rule.update")
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    let first = updates[1];
    assert_eq!(first["actor"], "olga-operator");
    assert_eq!(first["target"], "rule/High Rollback Rate");
    assert_eq!(first["before"]["enabled"], true);
    assert_eq!(first["after"]["enabled"], false);
    assert_eq!(first["before"]["condition"], "rollbackRate > 0.10");
    assert_eq!(updates[0]["after"]["condition"], "rollbackRate >= 0.2");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "rule.create")
            .count(),
        1
    );
    let deleted = entries
        .iter()
        .find(|e| e["action"] == "rule.delete")
        .unwrap();
    assert_eq!(deleted["before"]["name"], "Slow Failures");
    assert!(deleted["after"].is_null());
}

#[tokio::test]
async fn a_rule_cannot_be_named_enabled() {
    // `/rules/enabled` is the enabled-rules listing, so a rule of that
    // name could never be patched or deleted: it is refused up front.
    let app = TestApp::spawn().await;
    let rule = json!({"name": "enabled", "enabled": true, "condition": "errorRate > 0.5",
                      "window": "5m", "action": "alert_only", "alertSeverity": "low"});
    let got = app
        .post_as(ADMIN, "/api/circuit-breaker/rules", &rule)
        .await;
    let message = assert_error(&got, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        message.contains("`enabled` cannot be a rule name"),
        "{message}"
    );
    let (_, rules) = app.get("/api/circuit-breaker/rules").await;
    assert_eq!(rules.as_array().unwrap().len(), 7, "nothing was added");
}

// 9 ---------------------------------------------------------------------------

/// Every operation the router serves, by method and path template.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("put", "/api/plugins/{name}"),
    ("get", "/api/plugins/{name}/versions"),
    ("post", "/api/plugins/{name}/activate"),
    ("post", "/api/plugins/{name}/rollback"),
    ("delete", "/api/plugins/{name}/versions/{version}"),
    ("post", "/api/tokens"),
    ("get", "/api/tokens"),
    ("delete", "/api/tokens/{id}"),
    ("post", "/api/attestations"),
    ("get", "/api/attestations"),
    ("delete", "/api/attestations/{id}"),
    ("get", "/api/audit"),
    ("get", "/api/audit/verify"),
    ("post", "/api/commands"),
    ("post", "/api/incidents"),
    ("get", "/api/incidents"),
    ("post", "/api/gauges"),
    ("get", "/api/metrics/current"),
    ("get", "/api/metrics/latest"),
    ("get", "/api/metrics/weekly"),
    ("get", "/api/governance/state"),
    ("put", "/api/governance/state/phase"),
    ("get", "/api/readiness/current"),
    ("get", "/api/readiness/latest"),
    ("get", "/api/readiness/score"),
    ("post", "/api/readiness/evaluate"),
    ("post", "/api/governance/run-cycle"),
    ("get", "/api/governance/proposals"),
    ("get", "/api/governance/proposals/{id}"),
    ("post", "/api/governance/proposals/{id}/approve"),
    ("post", "/api/governance/proposals/{id}/reject"),
    ("get", "/api/governance/reports"),
    ("get", "/api/governance/reports/latest"),
    ("get", "/api/governance/reports/{id}"),
    ("get", "/api/circuit-breaker/events"),
    ("get", "/api/circuit-breaker/events/unresolved"),
    ("post", "/api/circuit-breaker/events/{id}/resolve"),
    ("get", "/api/circuit-breaker/rules"),
    ("post", "/api/circuit-breaker/rules"),
    ("get", "/api/circuit-breaker/rules/enabled"),
    ("patch", "/api/circuit-breaker/rules/{name}"),
    ("delete", "/api/circuit-breaker/rules/{name}"),
    ("post", "/api/circuit-breaker/check"),
    ("get", "/api/plugins"),
    ("get", "/api/plugins/{name}"),
    ("post", "/api/plugins/{name}/evaluate"),
    ("get", "/api/evaluations"),
    ("post", "/api/authorize"),
    ("get", "/api/decisions"),
    ("get", "/api/emergency-stop"),
    ("post", "/api/emergency-stop"),
    ("get", "/api/replicas"),
    ("get", "/api/budgets/overview"),
    ("get", "/api/budgets/rates"),
    ("get", "/api/budgets/concurrency"),
    ("get", "/api/budgets/batches"),
    ("get", "/api/budgets/throttles"),
    ("put", "/api/budgets/rates/{name}"),
    ("delete", "/api/budgets/rates/{name}"),
    ("put", "/api/budgets/concurrency/{name}"),
    ("delete", "/api/budgets/concurrency/{name}"),
    ("put", "/api/budgets/batches/{commandType}"),
    ("delete", "/api/budgets/batches/{commandType}"),
    ("post", "/api/decisions/{id}/complete"),
    ("post", "/api/emergency-stop/resume"),
    ("get", "/api/scopes"),
    ("get", "/api/scopes/{scope}"),
    ("put", "/api/scopes/{scope}"),
    ("post", "/api/scopes/{scope}/stop"),
    ("post", "/api/scopes/{scope}/resume"),
    ("post", "/api/workflows"),
    ("get", "/api/workflows"),
    ("get", "/api/workflows/{id}"),
    ("get", "/api/workflows/{id}/trace"),
    ("post", "/api/workflows/{id}/steps"),
    ("post", "/api/workflows/{id}/complete"),
    ("post", "/api/workflows/{id}/pause"),
    ("post", "/api/workflows/{id}/resume"),
    ("post", "/api/governance/event"),
    ("get", "/api/governance/events"),
    ("get", "/api/governance/actions"),
    ("post", "/api/governance/report"),
    ("get", "/api/governance/risk-reports"),
    ("get", "/api/governance/stats"),
    ("post", "/api/agents"),
    ("get", "/api/agents"),
    ("get", "/api/agents/breakers"),
    ("get", "/api/agents/{id}"),
    ("post", "/api/agents/{id}/costs"),
    ("post", "/api/agents/{id}/failures"),
    ("post", "/api/agents/{id}/breaker/trip"),
    ("post", "/api/agents/{id}/breaker/reset"),
    ("get", "/api/budgets"),
    ("post", "/api/tasks/assign"),
    ("get", "/api/assignments"),
    ("post", "/api/session"),
    ("get", "/api/session"),
    ("delete", "/api/session"),
    ("get", "/api/stream"),
];

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "no token needed: {doc}");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Regent");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().unwrap();

    // Every route the router serves is documented.
    let mut missing = Vec::new();
    for (method, path) in ROUTES {
        if !paths.get(*path).is_some_and(|p| p[*method].is_object()) {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");

    // Every documented operation is served: without a token, an API route
    // answers 401 (never 404 or 405), a system route answers.
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !op.is_object() || !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            operations += 1;
            let concrete = path.replace("{id}", "1").replace("{name}", "some-name");
            let (status, body) = app.call(m.clone(), &concrete, None, None).await;
            if path.starts_with("/api/") && op["x-access"] == "public" {
                // The console's sign-in: served to anyone, and refusing an
                // empty body.
                assert_eq!(status, StatusCode::BAD_REQUEST, "{m} {concrete}: {body}");
            } else if path.starts_with("/api/") {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {concrete}: {body}");
                assert!(
                    op["security"].as_array().is_some_and(|s| !s.is_empty()),
                    "{m} {path} documents no security"
                );
            } else {
                assert_eq!(status, StatusCode::OK, "{m} {concrete}: {body}");
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path}: no responses"
            );
        }
    }
    assert_eq!(
        operations,
        ROUTES.len(),
        "documented operations vs. served routes"
    );
}

// 10 --------------------------------------------------------------------------

#[tokio::test]
async fn the_prometheus_exposition_is_valid() {
    let app = TestApp::spawn().await;
    let reporter = app.token("rob-reporter", &["reporter"]).await;
    let (status, _) = app
        .post_as(
            &reporter,
            "/api/commands",
            &json!([
                command("p1", "failed", false, &ago(MINUTE_MS)),
                command("p2", "succeeded", true, &ago(MINUTE_MS))
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/governance/proposals/42").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/readiness/current").await;
    assert_eq!(status, StatusCode::OK);

    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();

    let lines: Vec<&str> = text.lines().collect();
    let has = |l: &str| lines.contains(&l);
    assert!(has("regent_phase_info{phase=\"L3\"} 1"), "{text}");
    assert!(has("regent_phase_info{phase=\"L4\"} 0"), "{text}");
    assert!(has("regent_commands_total{status=\"failed\"} 1"), "{text}");
    assert!(
        has("regent_commands_total{status=\"succeeded\"} 1"),
        "{text}"
    );
    assert!(
        has("regent_commands_total{status=\"rejected\"} 0"),
        "{text}"
    );
    assert!(has("regent_command_error_ratio 0.5"), "{text}");
    assert!(has("regent_circuit_breaker_events_unresolved 0"), "{text}");
    // An assessment ran: its score is exported.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("regent_readiness_score_ratio ")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("regent_readiness_process_points ")),
        "{text}"
    );
    for l in [
        "# TYPE regent_commands_total counter",
        "# TYPE regent_http_request_duration_seconds histogram",
    ] {
        assert!(has(l), "{l}: {text}");
    }
    // Requests are timed by route template, not by raw path.
    assert!(
        text.lines().any(
            |l| l.starts_with("regent_http_request_duration_seconds_bucket{")
                && l.contains("route=\"/api/commands\"")
                && l.contains("method=\"POST\"")
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"/api/governance/proposals/{id}\""),
        "{text}"
    );
    assert!(
        !text.contains("/api/governance/proposals/42"),
        "a series per id: {text}"
    );
    assert!(
        text.contains("regent_http_request_duration_seconds_count{"),
        "{text}"
    );

    regent_tests::promtool_check_metrics(&text);
}

// 11 --------------------------------------------------------------------------

#[tokio::test]
async fn unknown_things_are_404_and_oversized_bodies_413() {
    let app = TestApp::spawn().await;
    let tech = app.token("ana-tech-lead", &["tech_lead"]).await;

    let msg = assert_error(
        &app.get("/api/nowhere").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(msg.contains("/api/nowhere"), "{msg}");
    assert_error(
        &app.call(Method::GET, "/nowhere", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/api/governance/proposals/12345").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post_as(
            &tech,
            "/api/governance/proposals/12345/approve",
            &json!({"role": "tech_lead"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post_as(
            &tech,
            "/api/governance/proposals/12345/reject",
            &json!({"role": "tech_lead", "reason": "no"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/api/governance/reports/12345").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/api/governance/reports/latest").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let msg = assert_error(
        &app.post_as(
            ADMIN,
            "/api/circuit-breaker/events/12345/resolve",
            &json!({"resolution": "fixed"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(msg.contains("12345"), "{msg}");
    assert_error(
        &app.post_as(
            ADMIN,
            "/api/circuit-breaker/events/12345/resolve",
            &json!({"resolution": " "}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &app.get("/api/plugins/no-such-plugin").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.send_as(Method::DELETE, ADMIN, "/api/attestations/12345", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, events) = app.get("/api/circuit-breaker/events").await;
    assert_eq!(events, json!([]));
    let (_, unresolved) = app.get("/api/circuit-breaker/events/unresolved").await;
    assert_eq!(unresolved, json!([]));
    let (_, proposals) = app.get("/api/governance/proposals?status=all").await;
    assert_eq!(proposals, json!([]));
    assert_error(
        &app.get("/api/governance/proposals?status=done").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // A body over the 8 MiB limit: 413 before it is parsed.
    let huge = vec![b' '; (8 << 20) + 1];
    assert_error(
        &app.post("/api/commands", huge.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_error(
        &app.post("/api/incidents", huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Just under it is read (and then refused as not JSON).
    let under = vec![b' '; 8 << 20];
    assert_error(
        &app.post("/api/commands", under).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_eq!(commands_total(&app).await, 0);
}

/// Errors keep the one JSON shape even where the framework rejects the
/// request before a handler runs: a path id that is not a number, a method
/// the route does not serve.
#[tokio::test]
async fn framework_rejections_use_the_error_shape() {
    let app = TestApp::spawn().await;
    let mut wrong = Vec::new();
    for (method, path, expected) in [
        (
            Method::GET,
            "/api/governance/proposals/abc",
            StatusCode::BAD_REQUEST,
        ),
        (Method::DELETE, "/api/tokens/abc", StatusCode::BAD_REQUEST),
        (
            Method::DELETE,
            "/api/governance/state",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let (status, body) = app.call(method.clone(), path, Some(ADMIN), None).await;
        if status != expected
            || !body["error"]["code"].is_string()
            || !body["error"]["message"].is_string()
        {
            wrong.push(format!("{method} {path}: {status} {body}"));
        }
    }
    assert!(wrong.is_empty(), "not the error shape: {wrong:#?}");
}

/// A command reported without `createdAt` is stamped with the time it was
/// received; the default metrics window ends "now". Asked for at once, the
/// metrics must count it (the window must not end before it).
#[tokio::test]
async fn a_command_reported_now_counts_at_once() {
    let app = TestApp::spawn().await;
    let mut missed = Vec::new();
    for i in 0..100u64 {
        let record = json!({"id": format!("now{i}"), "commandType": "SET_FAN", "status": "succeeded",
                            "requiredApproval": false, "autonomous": false});
        let (status, body) = app.post("/api/commands", record.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, m) = app.get("/api/metrics/current").await;
        if m["commandsTotal"] != i + 1 {
            missed.push(i);
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            let (_, later) = app.get("/api/metrics/current").await;
            assert_eq!(later["commandsTotal"], i + 1, "still missing 3 ms later");
        }
    }
    assert!(missed.is_empty(), "GET /api/metrics/current right after POST /api/commands missed the new record {} times in 100", missed.len());
}
