//! Scoped authority over HTTP: a revoked scope denies only its own
//! would-be autonomous decisions, a scope's stop denies everything in it
//! until resumed, every change is audited, bad input changes nothing, the
//! governed system cannot hold these brakes, and a scope's stop made on
//! one PostgreSQL replica is enforced on another.

use std::time::Duration;

use regent_tests::app::{error_code, TestApp, ADMIN};
use regent_tests::cluster::{Cluster, ClusterSpec};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

/// An L5 program: `SET_POWER` is whitelisted, so it runs autonomously
/// unless a brake holds.
async fn program() -> (TestApp, String, String) {
    let app = TestApp::spawn_at("L5", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    (app, agent, oncall)
}

async fn authorize(app: &TestApp, token: &str, scope: Option<&str>) -> Value {
    let mut body = json!({"commandType": "SET_POWER"});
    if let Some(s) = scope {
        body["scope"] = json!(s);
    }
    let (s, b) = app.post_as(token, "/api/authorize", &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn put_scope(app: &TestApp, token: &str, scope: &str, body: Value) -> (StatusCode, Value) {
    app.send_as(Method::PUT, token, &format!("/api/scopes/{scope}"), &body)
        .await
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let (_, audit) = app.get("/api/audit?limit=1000").await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_revoked_scope_denies_only_its_own_decisions() {
    let (app, agent, oncall) = program().await;
    for scope in [Some("portal:carrier"), Some("website:seo"), None] {
        let r = authorize(&app, &agent, scope).await;
        assert_eq!(r["decision"], "autonomous", "{scope:?}: {r}");
    }

    let (s, revoked) = put_scope(
        &app,
        &oncall,
        "portal:carrier",
        json!({"autonomous": false, "reason": "carrier complaints"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["scope"], "portal:carrier");
    assert_eq!(revoked["autonomous"], false);
    assert_eq!(revoked["autonomyBy"], "oncall");
    assert_eq!(revoked["changed"], true);

    let r = authorize(&app, &agent, Some("portal:carrier")).await;
    assert_eq!(r["decision"], "denied", "{r}");
    assert_eq!(
        r["reasons"][0],
        "autonomy is revoked for scope `portal:carrier` by oncall: carrier complaints"
    );
    // The other scope, a scope nobody configured and no scope go on.
    for scope in [Some("website:seo"), Some("never:configured"), None] {
        let r = authorize(&app, &agent, scope).await;
        assert_eq!(r["decision"], "autonomous", "{scope:?}: {r}");
    }
    // A command that needs an approval still asks for one in the scope.
    let (_, r) = app
        .post_as(
            &agent,
            "/api/authorize",
            &json!({"commandType": "NOT_WHITELISTED", "scope": "portal:carrier"}),
        )
        .await;
    assert_eq!(r["decision"], "requires_approval", "{r}");

    // The decision log keeps the scope and filters by it.
    let (s, log) = app
        .get("/api/decisions?scope=portal:carrier&limit=100")
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|d| d["scope"] == "portal:carrier"));
    assert_eq!(log[1]["decision"], "denied");

    // Listed, readable, and shown to any authenticated caller.
    let viewer = app.token("dash", &["viewer"]).await;
    let (s, list) = app.get_as(&viewer, "/api/scopes").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (s, one) = app.get_as(&viewer, "/api/scopes/portal:carrier").await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["autonomyReason"], "carrier complaints");
    let (s, _) = app.get_as(&viewer, "/api/scopes/website:seo").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "never configured");

    // Granted again: autonomous again.
    let (s, granted) = put_scope(
        &app,
        &oncall,
        "portal:carrier",
        json!({"autonomous": true, "reason": "complaints handled"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{granted}");
    let r = authorize(&app, &agent, Some("portal:carrier")).await;
    assert_eq!(r["decision"], "autonomous", "{r}");

    let actions = audit_actions(&app).await;
    for expected in [
        "scope.revoke scope:portal:carrier",
        "scope.grant scope:portal:carrier",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_scopes_braked{brake=\"revoked\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_scopes_stop_denies_everything_in_it_and_resume_restores() {
    let (app, agent, oncall) = program().await;
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/scopes/portal:carrier/resume",
            &json!({"reason": "nothing to resume"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    let (s, stopped) = app
        .post_as(
            &oncall,
            "/api/scopes/portal:carrier/stop",
            &json!({"reason": "portal outage"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["stopped"], true);
    assert_eq!(stopped["stoppedBy"], "oncall");
    assert_eq!(stopped["changed"], true);
    assert_eq!(
        stopped["replicas"].as_array().unwrap().len(),
        1,
        "{stopped}"
    );

    // Every decision in the scope is denied, whitelisted or not.
    for command in ["SET_POWER", "NOT_WHITELISTED"] {
        let (_, r) = app
            .post_as(
                &agent,
                "/api/authorize",
                &json!({"commandType": command, "scope": "portal:carrier"}),
            )
            .await;
        assert_eq!(r["decision"], "denied", "{command}: {r}");
        assert_eq!(
            r["reasons"][0],
            "scope `portal:carrier` is stopped by oncall: portal outage"
        );
    }
    assert_eq!(
        authorize(&app, &agent, Some("website:seo")).await["decision"],
        "autonomous"
    );
    assert_eq!(
        authorize(&app, &agent, None).await["decision"],
        "autonomous"
    );
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_scopes_braked{brake=\"stopped\"} 1"),
        "{metrics}"
    );

    // A second stop changes nothing: the first one's reason stands.
    let (_, again) = app
        .post_as(
            &oncall,
            "/api/scopes/portal:carrier/stop",
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(again["changed"], false);
    assert_eq!(again["stopReason"], "portal outage");

    // The global stop stays above every scope, and is named first.
    let (s, _) = app
        .post_as(&oncall, "/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = authorize(&app, &agent, Some("portal:carrier")).await;
    assert_eq!(r["reasons"][0], "the emergency stop is on", "{r}");
    assert_eq!(r["reasons"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(
        authorize(&app, &agent, Some("website:seo")).await["decision"],
        "denied"
    );
    let (s, _) = app
        .post_as(
            &oncall,
            "/api/emergency-stop/resume",
            &json!({"reason": "drill over"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Lifting the global stop leaves the scope's own.
    let r = authorize(&app, &agent, Some("portal:carrier")).await;
    assert_eq!(r["decision"], "denied", "{r}");

    let (s, resumed) = app
        .post_as(
            &oncall,
            "/api/scopes/portal:carrier/resume",
            &json!({"reason": "portal back"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["stopped"], false);
    assert!(resumed["lastResumedAt"].is_string(), "{resumed}");
    let r = authorize(&app, &agent, Some("portal:carrier")).await;
    assert_eq!(r["decision"], "autonomous", "{r}");

    let actions = audit_actions(&app).await;
    for expected in [
        "scope.stop scope:portal:carrier",
        "scope.resume scope:portal:carrier",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (app, agent, oncall) = program().await;
    let audited = audit_actions(&app).await.len();
    let long = "x".repeat(1001);
    let too_long_scope = "s".repeat(129);
    let refused: Vec<(Method, String, Value)> = vec![
        (
            Method::PUT,
            "/api/scopes/portal:carrier".into(),
            json!({"autonomous": false, "reason": " "}),
        ),
        (
            Method::PUT,
            "/api/scopes/portal:carrier".into(),
            json!({"autonomous": false, "reason": long}),
        ),
        (
            Method::PUT,
            "/api/scopes/portal:carrier".into(),
            json!({"autonomous": false}),
        ),
        (
            Method::PUT,
            "/api/scopes/portal:carrier".into(),
            json!({"autonomous": "no", "reason": "r"}),
        ),
        (
            Method::PUT,
            "/api/scopes/portal:carrier".into(),
            json!({"autonomous": false, "reason": "r", "extra": 1}),
        ),
        (
            Method::PUT,
            format!("/api/scopes/{too_long_scope}"),
            json!({"autonomous": false, "reason": "r"}),
        ),
        (
            Method::PUT,
            "/api/scopes/%20".into(),
            json!({"autonomous": false, "reason": "r"}),
        ),
        (
            Method::POST,
            "/api/scopes/portal:carrier/stop".into(),
            json!({"reason": ""}),
        ),
        (
            Method::POST,
            "/api/scopes/portal:carrier/stop".into(),
            json!({}),
        ),
        (
            Method::POST,
            "/api/scopes/a%0Ab/stop".into(),
            json!({"reason": "r"}),
        ),
    ];
    for (method, path, body) in &refused {
        let (s, b) = app.send_as(method.clone(), &oncall, path, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {path} {body}: {b}");
        assert_eq!(error_code(&b), "bad_request", "{b}");
    }
    let (_, list) = app.get("/api/scopes").await;
    assert_eq!(list, json!([]));
    assert_eq!(audit_actions(&app).await.len(), audited);
    assert_eq!(
        authorize(&app, &agent, Some("portal:carrier")).await["decision"],
        "autonomous"
    );
    // A scope an authorize request names is checked as an id too.
    let (s, b) = app
        .post_as(
            &agent,
            "/api/authorize",
            &json!({"commandType": "SET_POWER", "scope": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn the_governed_system_cannot_hold_the_scope_brakes() {
    let (app, agent, oncall) = program().await;
    let viewer = app.token("dash", &["viewer"]).await;
    let attempts = [
        (
            Method::PUT,
            "/api/scopes/portal:carrier",
            json!({"autonomous": true, "reason": "me"}),
        ),
        (
            Method::PUT,
            "/api/scopes/portal:carrier",
            json!({"autonomous": false, "reason": "me"}),
        ),
        (
            Method::POST,
            "/api/scopes/portal:carrier/stop",
            json!({"reason": "me"}),
        ),
        (
            Method::POST,
            "/api/scopes/portal:carrier/resume",
            json!({"reason": "me"}),
        ),
    ];
    for token in [&agent, &viewer] {
        for (method, path, body) in &attempts {
            let (s, b) = app.send_as(method.clone(), token, path, body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {b}");
        }
    }
    // Nothing changed; an operator's stop is not lifted by the agent.
    let (_, list) = app.get("/api/scopes").await;
    assert_eq!(list, json!([]));
    let (s, _) = app
        .post_as(
            &oncall,
            "/api/scopes/portal:carrier/stop",
            &json!({"reason": "outage"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post_as(
            &agent,
            "/api/scopes/portal:carrier/resume",
            &json!({"reason": "me"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        authorize(&app, &agent, Some("portal:carrier")).await["decision"],
        "denied"
    );
    // Unauthenticated callers cannot even read them.
    let (s, _) = app.call(Method::GET, "/api/scopes", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_scope_stop_on_one_replica_is_enforced_on_another() {
    let cluster = Cluster::start_with(ClusterSpec {
        replicas: 2,
        config: "[cluster]
pool_size = 8
heartbeat_ms = 200
live_within_ms = 3000
stale_after_ms = 1000
poll_ms = 100
stop_confirm_ms = 2000
lease_ttl_ms = 3000
"
        .into(),
        ..ClusterSpec::default()
    })
    .await;
    let ask = |i: usize, scope: &'static str| {
        let cluster = &cluster;
        async move {
            let (s, r) = cluster
                .post_as(
                    i,
                    ADMIN,
                    "/api/authorize",
                    &json!({"commandType": "SET_POWER", "scope": scope}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            r
        }
    };
    assert_ne!(ask(1, "portal:carrier").await["decision"], "denied");

    let (s, reply) = cluster
        .post_as(
            0,
            ADMIN,
            "/api/scopes/portal:carrier/stop",
            &json!({"reason": "portal outage"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reply}");
    assert_eq!(reply["stopped"], true);
    cluster
        .on_every_replica("the scope's stop", Duration::from_secs(5), async |i| {
            ask(i, "portal:carrier").await["decision"] == "denied"
        })
        .await;
    let r = ask(1, "portal:carrier").await;
    let reason = r["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("scope `portal:carrier` is stopped by ")
            && reason.ends_with(": portal outage"),
        "{r}"
    );
    // The other scope goes on there.
    assert_ne!(ask(1, "website:seo").await["decision"], "denied");
    let (_, listed) = cluster.get(1, "/api/scopes/portal:carrier").await;
    assert_eq!(listed["stopped"], true, "{listed}");

    // Resumed on the other replica, lifted on the first.
    let (s, reply) = cluster
        .post_as(
            1,
            ADMIN,
            "/api/scopes/portal:carrier/resume",
            &json!({"reason": "portal back"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reply}");
    cluster
        .on_every_replica("the scope's resume", Duration::from_secs(5), async |i| {
            ask(i, "portal:carrier").await["decision"] != "denied"
        })
        .await;
}
