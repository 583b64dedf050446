//! The governance workflow end to end over HTTP: readiness to proposal to
//! approvals to a phase change, racing approvals, the circuit breakers'
//! three actions, and durability across `kill -9`.
//!
//! No fake clock: history is written with past `createdAt` values and the
//! phase start is bootstrapped into the past.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regent_host::domain::Timestamp;
use regent_tests::app::{error_code, start_at, TestApp, ADMIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ago(ms: i64) -> String {
    Timestamp(now_ms() - ms).to_string()
}

struct Team {
    reporter: String,
    operator: String,
    tech: String,
    ops: String,
    product: String,
    exec: String,
    /// The monitoring system's token: only its scrapes count as monitoring.
    scraper: String,
}

/// Tokens for each part of a real program.
async fn team(app: &TestApp) -> Team {
    Team {
        reporter: app.token("command-service", &["reporter"]).await,
        operator: app.token("oncall", &["operator"]).await,
        tech: app.token("tess (tech lead)", &["tech_lead"]).await,
        ops: app.token("omar (ops lead)", &["ops_lead"]).await,
        product: app.token("pia (product lead)", &["product_lead"]).await,
        exec: app.token("eve (exec sponsor)", &["exec_sponsor"]).await,
        scraper: app.token("prometheus", &["scraper"]).await,
    }
}

/// A program that has earned its next phase: `days` at `phase`, a week of
/// clean commands (all older than any breaker window), every attestation,
/// eval coverage, and a fresh `/metrics` scrape.
async fn make_ready(app: &TestApp, t: &Team, phase: &str, days: i64) {
    let (s, b) = app
        .send_as(
            Method::PUT,
            ADMIN,
            "/api/governance/state/phase",
            &json!({"phase": phase, "phaseStartedAt": ago(days * DAY_MS)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let commands: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "id": format!("hist-{i}"),
                "commandType": "SET_POWER",
                "status": if i % 500 == 7 { "failed" } else { "succeeded" },
                "requiredApproval": i % 10 == 0,
                "autonomous": true,
                // Spread over 6 days, the newest an hour ago.
                "createdAt": ago(3_600_000 + i * 500_000),
            })
        })
        .collect();
    let (s, b) = app
        .post_as(&t.reporter, "/api/commands", &json!(commands))
        .await;
    assert_eq!(
        (s, b["accepted"].as_u64()),
        (StatusCode::OK, Some(1000)),
        "{b}"
    );
    let (s, _) = app
        .post_as(
            &t.reporter,
            "/api/gauges",
            &json!({"name": "evalCoverage", "value": 0.95}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Each item counts only the roles its params name (the defaults).
    let by_role: [(&str, &[&str]); 4] = [
        (
            &t.tech,
            &[
                "chaos_testing",
                "architecture_docs",
                "security_review",
                "audit_trail",
                "rollback_plan",
                "team_consensus",
            ],
        ),
        (
            &t.ops,
            &[
                "kill_switch_tested",
                "runbooks",
                "incident_playbooks",
                "escalation_path",
                "oncall_trained",
                "ops_approval",
            ],
        ),
        (&t.product, &["product_approval"]),
        (&t.exec, &["stakeholder_signoff"]),
    ];
    for (token, keys) in by_role {
        for key in keys {
            let (s, b) = app
                .post_as(token, "/api/attestations", &json!({"key": key}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
    }
    // Monitoring in place: Prometheus has scraped us just now, with its
    // own token.
    assert_eq!(app.get_as(&t.scraper, "/metrics").await.0, StatusCode::OK);
}

async fn pending_proposal(app: &TestApp, t: &Team) -> Value {
    let (s, report) = app
        .post_as(&t.operator, "/api/governance/run-cycle", &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["decision"]["proposalCreated"], true, "{report}");
    let id = report["decision"]["proposalId"].as_i64().unwrap();
    let (s, p) = app.get(&format!("/api/governance/proposals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    p
}

#[tokio::test]
async fn readiness_to_proposal_to_approvals_moves_the_phase() {
    // Adopted at L3+ just now (`initial_phase`); only a proposal goes higher.
    let app = TestApp::spawn_at("L3+", 0).await;
    let t = team(&app).await;

    // Not ready yet: the cycle says why, and proposes nothing.
    let (_, report) = app
        .post_as(&t.operator, "/api/governance/run-cycle", &json!({}))
        .await;
    assert_eq!(report["decision"]["proposalCreated"], false);
    let reasons = report["decision"]["reasons"].to_string();
    assert!(reasons.contains("readiness is needs_work"), "{reasons}");
    assert!(
        reasons.contains("0 day(s) at L3+; the stabilization period is 14"),
        "{reasons}"
    );

    make_ready(&app, &t, "L3+", 20).await;
    let (_, readiness) = app.get_as(&t.reporter, "/api/readiness/current").await;
    assert_eq!(readiness["overall"]["status"], "ready", "{readiness}");
    assert_eq!(readiness["overall"]["score"], 80, "{readiness}");
    assert_eq!(readiness["phase"], "L3+");

    let p = pending_proposal(&app, &t).await;
    assert_eq!(p["fromPhase"], "L3+");
    assert_eq!(p["targetPhase"], "L4");
    assert_eq!(p["commandsToWhitelist"], json!(["SET_DRUM", "SET_AIRFLOW"]));
    assert_eq!(p["validationPeriodDays"], 21);
    assert_eq!(p["requiredApprovals"], json!(["tech_lead", "ops_lead"]));
    assert_eq!(p["status"], "pending");
    assert_eq!(p["riskAssessment"]["level"], "low", "{p}");
    assert_eq!(p["riskAssessment"]["scorer"], "severity-weighted");
    assert!(!p["keyAchievements"].as_array().unwrap().is_empty());
    let id = p["id"].as_i64().unwrap();
    let approve = |role: &str| json!({"role": role, "comment": "reviewed the week"});
    let path = format!("/api/governance/proposals/{id}/approve");

    // A second cycle does not stack a second proposal.
    let (_, report) = app
        .post_as(&t.operator, "/api/governance/run-cycle", &json!({}))
        .await;
    assert_eq!(report["decision"]["proposalCreated"], false);
    assert!(report["decision"]["reasons"]
        .to_string()
        .contains("already pending"));

    // Wrong role held, a role not required, admin standing in: all 403.
    let (s, b) = app.post_as(&t.tech, &path, &approve("ops_lead")).await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{b}"
    );
    let (s, b) = app
        .post_as(&t.product, &path, &approve("product_lead"))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not need `product_lead`"),
        "{b}"
    );
    let (s, _) = app.post_as(ADMIN, &path, &approve("tech_lead")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, p) = app.post_as(&t.tech, &path, &approve("tech_lead")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "pending");
    assert_eq!(p["approvals"][0]["by"], "tess (tech lead)");
    let (s, b) = app.post_as(&t.tech, &path, &approve("tech_lead")).await;
    assert_eq!((s, error_code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L3+", "one approval of two moves nothing");

    let (s, p) = app.post_as(&t.ops, &path, &approve("ops_lead")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "approved");
    assert!(p["decidedAt"].is_string());
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L4");
    assert_eq!(
        state["whitelist"],
        json!(["SET_POWER", "SET_FAN", "SET_DRUM", "SET_AIRFLOW"])
    );
    assert_eq!(state["daysAtPhase"], 0);
    assert_eq!(state["minStabilizationDays"], 21);

    let (s, b) = app.post_as(&t.ops, &path, &approve("ops_lead")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, pending) = app.get("/api/governance/proposals").await;
    assert_eq!(pending, json!([]));
    let (_, all) = app.get("/api/governance/proposals?status=all").await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    let (_, audit) = app.get("/api/audit?limit=500").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "phase.expand").count(), 1);
    assert!(actions.contains(&"proposal.create") && actions.contains(&"proposal.approve"));
    let (_, reports) = app.get("/api/governance/reports").await;
    assert_eq!(reports.as_array().unwrap().len(), 3);
    let (_, latest) = app.get("/api/governance/reports/latest").await;
    assert_eq!(latest["decision"]["proposalCreated"], false);
    let (_, state_after) = app.get("/api/governance/state").await;
    assert_eq!(state_after["lastReportAt"], latest["generatedAt"]);
}

#[tokio::test]
async fn a_rejection_by_a_required_role_ends_the_proposal() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    make_ready(&app, &t, "L3", 200).await;
    let p = pending_proposal(&app, &t).await;
    assert_eq!(
        (p["fromPhase"].as_str(), p["targetPhase"].as_str()),
        (Some("L3"), Some("L3+"))
    );
    let path = format!("/api/governance/proposals/{}/reject", p["id"]);
    let (s, _) = app
        .post_as(&t.ops, &path, &json!({"role": "ops_lead", "reason": "no"}))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "ops_lead is not required to enter L3+"
    );
    let (s, b) = app
        .post_as(&t.tech, &path, &json!({"role": "tech_lead", "reason": " "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, p) = app
        .post_as(
            &t.tech,
            &path,
            &json!({"role": "tech_lead", "reason": "chaos tests are stale"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "rejected");
    assert_eq!(p["rejection"]["reason"], "chaos tests are stale");
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L3");
}

#[tokio::test]
async fn racing_approvals_change_the_phase_once_and_lose_none() {
    let app = TestApp::spawn_at("L3+", 0).await;
    let t = team(&app).await;
    make_ready(&app, &t, "L3+", 30).await;
    let p = pending_proposal(&app, &t).await;
    let path = format!("/api/governance/proposals/{}/approve", p["id"]);
    // Ten concurrent approvals, five per required role.
    let mut calls = Vec::new();
    for i in 0..10 {
        let (token, role) = if i % 2 == 0 {
            (t.tech.clone(), "tech_lead")
        } else {
            (t.ops.clone(), "ops_lead")
        };
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        calls.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"role": role}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        8,
        "{statuses:?}"
    );
    let (_, p) = app
        .get(&format!("/api/governance/proposals/{}", p["id"]))
        .await;
    assert_eq!(p["status"], "approved");
    assert_eq!(p["approvals"].as_array().unwrap().len(), 2);
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L4");
    let (_, audit) = app.get("/api/audit?limit=1000").await;
    let expansions = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "phase.expand")
        .count();
    assert_eq!(expansions, 1);
}

async fn wait_for_events(app: &TestApp, rules: &[&str]) -> Vec<Value> {
    for _ in 0..100 {
        let (_, events) = app.get("/api/circuit-breaker/events?limit=100").await;
        let events = events.as_array().unwrap().clone();
        if rules
            .iter()
            .all(|r| events.iter().any(|e| e["ruleName"] == *r))
        {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the breakers did not trip {rules:?} within 5 s");
}

#[tokio::test]
async fn breakers_revert_pause_and_alert_on_their_own() {
    let app = TestApp::spawn_with(&[], true, |c| {
        c.breaker_check_interval = Duration::from_millis(100);
        start_at(c, "L3+", 0);
    })
    .await;
    let t = team(&app).await;
    make_ready(&app, &t, "L3+", 30).await;
    let p = pending_proposal(&app, &t).await;

    // Bad minutes: SET_DRUM fails repeatedly, SET_FAN rolls back.
    let now: Vec<Value> = (0..20)
        .map(|i| {
            let (ty, status) = match i % 4 {
                0 => ("SET_DRUM", "failed"),
                1 => ("SET_FAN", "rolled_back"),
                _ => ("SET_POWER", "succeeded"),
            };
            json!({"id": format!("bad-{i}"), "commandType": ty, "status": status, "requiredApproval": false, "autonomous": true})
        })
        .collect();
    let (s, _) = app.post_as(&t.reporter, "/api/commands", &json!(now)).await;
    assert_eq!(s, StatusCode::OK);
    let events = wait_for_events(
        &app,
        &[
            "High Error Rate",
            "Repeated Command Failures",
            "High Rollback Rate",
        ],
    )
    .await;
    let event = |rule: &str| {
        events
            .iter()
            .find(|e| e["ruleName"] == rule)
            .unwrap()
            .clone()
    };

    // revert_to_l3: phase, whitelist and the pending proposal.
    let revert = event("High Error Rate");
    assert_eq!(revert["action"], "revert_to_l3");
    assert_eq!(revert["observedValue"], 0.25, "5 failed of 20 executed");
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L3");
    assert_eq!(state["whitelist"], json!([]));
    let (_, p) = app
        .get(&format!("/api/governance/proposals/{}", p["id"]))
        .await;
    assert_eq!(p["status"], "cancelled");

    // pause_command_type: only the type that failed, until resolved.
    let pause = event("Repeated Command Failures");
    assert_eq!(pause["pausedCommandTypes"], json!(["SET_DRUM"]));
    assert_eq!(state["pausedCommandTypes"], json!(["SET_DRUM"]));

    // alert_only: recorded, nothing else.
    let alert = event("High Rollback Rate");
    assert_eq!(alert["action"], "alert_only");
    assert_eq!(alert["pausedCommandTypes"], json!([]));

    // Many more checks run; each rule still has one unresolved event.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, unresolved) = app.get("/api/circuit-breaker/events/unresolved").await;
    assert_eq!(unresolved.as_array().unwrap().len(), 3, "{unresolved}");
    let (_, created) = app
        .post_as(&t.operator, "/api/circuit-breaker/check", &json!({}))
        .await;
    assert_eq!(created, json!([]));

    // Resolving the pause lifts it; resolving twice is a conflict.
    let path = format!("/api/circuit-breaker/events/{}/resolve", pause["id"]);
    let (s, b) = app
        .post_as(&t.reporter, &path, &json!({"resolution": "x"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // Stop new failures from re-tripping it: disable the rule first.
    let (s, _) = app
        .send_as(
            Method::PATCH,
            &t.operator,
            "/api/circuit-breaker/rules/Repeated%20Command%20Failures",
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, resolved) = app
        .post_as(
            &t.operator,
            &path,
            &json!({"resolution": "drum motor replaced"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["resolvedBy"], "oncall");
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["pausedCommandTypes"], json!([]));
    let (s, _) = app
        .post_as(&t.operator, &path, &json!({"resolution": "again"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The cycle refuses to propose while events are unresolved.
    let (_, report) = app
        .post_as(&t.operator, "/api/governance/run-cycle", &json!({}))
        .await;
    assert!(
        report["decision"]["reasons"]
            .to_string()
            .contains("circuit-breaker event(s) unresolved"),
        "{report}"
    );

    let metrics = app.text("/metrics").await.1;
    assert!(metrics.contains("regent_circuit_breaker_events_total{rule_name=\"High Error Rate\",action=\"revert_to_l3\",alert_severity=\"critical\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_critical_autonomous_incident_reverts_to_l3() {
    let app = TestApp::spawn_with(&[], true, |c| {
        c.breaker_check_interval = Duration::from_millis(100);
        start_at(c, "L4", 40 * DAY_MS);
    })
    .await;
    let t = team(&app).await;
    let (s, b) = app
        .post_as(&t.reporter, "/api/incidents", &json!({"severity": "CRITICAL", "autonomous": true, "commandType": "SET_DRUM", "description": "drum overheated"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, incidents) = app.get_as(&t.operator, "/api/incidents").await;
    assert_eq!(incidents[0]["severity"], "critical");
    assert_eq!(incidents[0]["reportedBy"], "command-service");
    let events = wait_for_events(&app, &["Critical Incident"]).await;
    assert_eq!(events[0]["action"], "revert_to_l3");
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L3");
}

/// `kill -9` of the real binary loses nothing it acknowledged.
#[tokio::test]
async fn a_slow_p95_trips_a_latency_rule_through_the_expression_plugin() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let rule = json!({"name": "Slow Commands", "enabled": true, "condition": "p95DurationMs > 2500",
                      "window": "5m", "action": "alert_only", "alertSeverity": "HIGH"});
    let (s, created) = app
        .post_as(&t.operator, "/api/circuit-breaker/rules", &rule)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let check = || async {
        let (s, created) = app
            .post_as(&t.operator, "/api/circuit-breaker/check", &json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{created}");
        created.as_array().unwrap().clone()
    };
    let timed = |id: String, duration: Option<u64>| {
        let mut c = json!({"id": id, "commandType": "SET_POWER", "status": "succeeded",
                           "requiredApproval": false, "autonomous": true, "createdAt": ago(60_000)});
        if let Some(ms) = duration {
            c["durationMs"] = json!(ms);
        }
        c
    };

    // Commands with no duration: no latency data, so no trip.
    let untimed: Vec<Value> = (0..5).map(|i| timed(format!("u-{i}"), None)).collect();
    let (s, b) = app
        .post_as(&t.reporter, "/api/commands", &json!(untimed))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(check().await, Vec::<Value>::new());

    // 19 fast and 1 slow of 20 timed commands: p95 is rank 19, still fast
    // (the untimed ones do not count, or the slow one would be further out).
    let mut batch: Vec<Value> = (0..19)
        .map(|i| timed(format!("f-{i}"), Some(120)))
        .collect();
    batch.push(timed("s-0".into(), Some(4_000)));
    let (s, b) = app
        .post_as(&t.reporter, "/api/commands", &json!(batch))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(check().await, Vec::<Value>::new(), "p95 is 120 ms");

    // A second slow one of 21: p95 is rank 20, slow. The rule trips in Wasm.
    let (s, b) = app
        .post_as(
            &t.reporter,
            "/api/commands",
            &json!([timed("s-1".into(), Some(4_000))]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let events = check().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["ruleName"], "Slow Commands");
    assert_eq!(event["observedValue"], 4000.0);
    assert_eq!(event["reason"], "p95DurationMs 4000 > 2500");
    assert_eq!(event["plugin"], "expression");
    assert_eq!(event["pluginVersion"], "0.2.0");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("regent.db");
    let plugins = regent_tests::app::plugins_dir(dir.path(), &[]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Adopted at L5; the acknowledged change below lowers it.
    let config = dir.path().join("regent.toml");
    std::fs::write(
        &config,
        format!(
            "initial_phase = \"L5\"\nphase_started_at = \"{}\"\n",
            ago(10 * DAY_MS)
        ),
    )
    .unwrap();
    let start = || {
        std::process::Command::new(regent_tests::regent_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--plugins-dir")
            .arg(&plugins)
            .arg("--cache-dir")
            .arg(regent_tests::built_plugins().join("test-cache"))
            .env("GOVERNANCE_DB_PATH", &db)
            .env("PORT", port.to_string())
            .env("REGENT_ADMIN_TOKEN", ADMIN)
            .env("REGENT_CACHE_KEY_FILE", regent_tests::test_cache_key())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let wait_up = || async {
        for _ in 0..300 {
            if client.get(format!("{base}/health")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not start");
    };
    let mut child = start();
    wait_up().await;
    let mut acknowledged = 0u64;
    for batch in 0..20 {
        let records: Vec<Value> = (0..500)
            .map(|i| json!({"id": format!("k{batch}-{i}"), "commandType": "SET_FAN", "status": "succeeded",
                            "requiredApproval": false, "autonomous": true, "createdAt": ago(600_000)}))
            .collect();
        let resp = client
            .post(format!("{base}/api/commands"))
            .bearer_auth(ADMIN)
            .json(&records)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        acknowledged += resp.json::<Value>().await.unwrap()["accepted"]
            .as_u64()
            .unwrap();
    }
    let resp = client
        .put(format!("{base}/api/governance/state/phase"))
        .bearer_auth(ADMIN)
        .json(&json!({"phase": "L4+", "phaseStartedAt": ago(DAY_MS)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();

    let mut child = start();
    wait_up().await;
    let metrics: Value = client
        .get(format!("{base}/api/metrics/current?start={}", ago(DAY_MS)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state: Value = client
        .get(format!("{base}/api/governance/state"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(metrics["commandsTotal"].as_u64(), Some(acknowledged));
    assert_eq!(acknowledged, 10_000);
    assert_eq!(state["phase"], "L4+");
}

/// `COMMAND_DB_PATH`: a command service's own database, read read-only.
#[tokio::test]
async fn commands_are_read_from_a_command_services_database() {
    let fixture = tempfile::tempdir().unwrap();
    let path = fixture.path().join("command.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE commands (id TEXT PRIMARY KEY, command_type TEXT NOT NULL, status TEXT NOT NULL,
            required_approval INTEGER NOT NULL DEFAULT 0, autonomous INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, duration_ms INTEGER, error TEXT);",
    )
    .unwrap();
    for (i, status) in [
        "SUCCEEDED",
        "succeeded",
        "FAILED",
        "rolled_back",
        "REJECTED",
    ]
    .iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO commands (id, command_type, status, required_approval, autonomous, created_at) VALUES (?1, 'SET_FAN', ?2, 1, 1, ?3)",
            rusqlite::params![format!("svc-{i}"), status, ago(60_000)],
        )
        .unwrap();
    }
    drop(conn);
    let source = path.clone();
    let app = TestApp::spawn_with(&[], false, move |c| c.command_db_path = Some(source)).await;
    let (_, m) = app.get("/api/metrics/current").await;
    assert_eq!(
        m["byStatus"],
        json!({"succeeded": 2, "failed": 1, "rejected": 1, "rolledBack": 1}),
        "{m}"
    );
    assert_eq!(m["approvalRate"], 0.8);
}

/// `regent audit verify` finds an edited row and a deleted one.
#[tokio::test]
async fn audit_verify_detects_edited_and_deleted_entries() {
    let app = TestApp::spawn().await;
    for name in ["a", "b", "c"] {
        app.token(name, &["viewer"]).await;
    }
    let verify = |db: &std::path::Path| {
        std::process::Command::new(regent_tests::regent_bin())
            .args(["audit", "verify", "--db"])
            .arg(db)
            .output()
            .unwrap()
    };
    let out = verify(&app.db_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("audit log intact: "));
    // The server walks the same chain for the console (admin only).
    let (s, v) = app.get("/api/audit/verify").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["intact"].as_bool(),
            v["problems"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0)),
        "{v}"
    );
    assert!(v["entries"].as_u64() > Some(1), "{v}");

    // The log refuses edits through SQL; someone with the file drops the guard.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let refused = conn
        .execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2", [])
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2", [])
        .unwrap();
    let out = verify(&app.db_path);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("entry 2 was edited"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (s, v) = app.get("/api/audit/verify").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["intact"], false, "{v}");
    assert!(
        v["problems"].to_string().contains("entry 2 was edited"),
        "{v}"
    );

    let last: i64 = conn
        .query_row("SELECT max(id) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM audit_log WHERE id = ?1", [last])
        .unwrap();
    let out = verify(&app.db_path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("newest entries were deleted"), "{text}");
}

/// `/ready` is 503 and names the plugin that did not load.
#[tokio::test]
async fn ready_fails_while_a_configured_plugin_has_not_loaded() {
    let fixtures = regent_tests::built_plugins().join("fixtures");
    let app = TestApp::spawn_with(
        &[(fixtures.as_path(), "hostile-wrong-world")],
        false,
        |_| {},
    )
    .await;
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["failures"].to_string().contains("hostile-wrong-world"),
        "{body}"
    );
    // The rest still serve.
    let (status, _) = app.get("/api/readiness/current").await;
    assert_eq!(status, StatusCode::OK);

    let app = TestApp::spawn().await;
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

/// `--cycle-every`: the cycle runs on its own, as `scheduler`.
#[tokio::test]
async fn the_cycle_runs_on_its_schedule() {
    use regent_host::config::CycleSchedule;
    let app = TestApp::spawn_with(&[], true, |c| {
        c.cycle = Some(CycleSchedule::Every(Duration::from_millis(200)));
    })
    .await;
    for _ in 0..100 {
        let (_, reports) = app.get("/api/governance/reports").await;
        if reports.as_array().unwrap().len() >= 2 {
            let (_, audit) = app.get("/api/audit?limit=50").await;
            let by_scheduler = audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "cycle.report" && e["actor"] == "scheduler");
            assert!(by_scheduler, "{audit}");
            let (_, state) = app.get("/api/governance/state").await;
            assert!(state["lastReportAt"].is_string());
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no scheduled cycle ran within 5 s");
}

/// The config file's `[plugins.<name>.params]` reach the plugin.
#[tokio::test]
async fn config_overrides_a_checklist_items_params() {
    let lenient = |c: &mut regent_host::config::ServeConfig| {
        let table: toml::Table = toml::from_str("[success-rate]\nmin = 0.5\n").unwrap();
        c.plugin_params.insert("readiness-checklist".into(), table);
    };
    let context = json!({"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.9}});
    let passed = |body: &Value| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "success-rate")
            .unwrap()["passed"]
            .clone()
    };
    let app = TestApp::spawn_with(&[], false, lenient).await;
    let (_, body) = app
        .post("/api/readiness/evaluate", context.to_string())
        .await;
    assert_eq!(passed(&body), true, "min 0.5 from the config");
    let app = TestApp::spawn().await;
    let (_, body) = app
        .post("/api/readiness/evaluate", context.to_string())
        .await;
    assert_eq!(passed(&body), false, "the manifest's min 0.995");
}

// Evidence that cannot be faked or rewritten ----------------------------------

fn monitoring_item(readiness: &Value) -> Value {
    readiness["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "monitoring-in-place")
        .cloned()
        .unwrap_or_else(|| panic!("no monitoring-in-place item: {readiness}"))
}

/// Only the monitoring system's own `scraper` token makes a scrape count as
/// "monitoring in place": an anonymous curl, an admin or a bad token does not.
#[tokio::test]
async fn only_a_scraper_tokens_scrape_is_monitoring_evidence() {
    async fn scrape(app: &TestApp, token: Option<&str>) -> StatusCode {
        app.call(Method::GET, "/metrics", token, None).await.0
    }
    async fn monitored(app: &TestApp) -> bool {
        let (status, readiness) = app.get("/api/readiness/current").await;
        assert_eq!(status, StatusCode::OK, "{readiness}");
        monitoring_item(&readiness)["passed"] == true
    }
    let app = TestApp::spawn().await;
    let viewer = app.token("vic", &["viewer"]).await;
    assert!(!monitored(&app).await);
    for who in [None, Some(ADMIN), Some(viewer.as_str())] {
        assert_eq!(scrape(&app, who).await, StatusCode::OK, "{who:?}");
        assert!(
            !monitored(&app).await,
            "a scrape by {who:?} counted as monitoring"
        );
    }
    // A credential that is there but wrong is refused, never read as anonymous.
    assert_eq!(
        scrape(&app, Some("rgt_not-a-token")).await,
        StatusCode::UNAUTHORIZED
    );
    let scraper = app.token("prometheus", &["scraper"]).await;
    assert_eq!(scrape(&app, Some(&scraper)).await, StatusCode::OK);
    assert!(
        monitored(&app).await,
        "the scraper's scrape is the evidence"
    );

    // A scraper is the monitoring system's token: nothing else rides on it.
    for (roles, kind, says) in [
        (
            json!(["scraper", "viewer"]),
            Value::Null,
            "holds `scraper` alone",
        ),
        (json!(["scraper"]), json!("person"), "system principal"),
    ] {
        let (status, body) = app
            .post_as(
                ADMIN,
                "/api/tokens",
                &json!({"name": "p2", "roles": roles, "kind": kind}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
}

/// `[metrics] require_token`: anonymous scrapes are 401, a token without the
/// scraper role 403.
#[tokio::test]
async fn metrics_can_require_a_scraper_token() {
    let app = TestApp::spawn_with(&[], false, |c| c.metrics.require_token = true).await;
    let viewer = app.token("vic", &["viewer"]).await;
    let scraper = app.token("prometheus", &["scraper"]).await;
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.to_string().contains("require_token"), "{body}");
    let (status, body) = app.get_as(&viewer, "/metrics").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("`scraper`"), "{body}");
    let (status, text) = app.get_as(&scraper, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.to_string().contains("regent_phase_info"), "{text}");
}

/// `/ready` reports a cached database check: however often it is polled,
/// it checks (and so writes) at most about once a second.
#[tokio::test]
async fn ready_reports_a_cached_check_at_most_a_second_old() {
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();
    let mut checked_at = std::collections::BTreeSet::new();
    const CALLS: usize = 30;
    for _ in 0..CALLS {
        let (status, body) = app.call(Method::GET, "/ready", None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        checked_at.insert(body["databaseCheckedAt"].as_str().unwrap().to_string());
    }
    let seconds = started.elapsed().as_secs() as usize;
    // Every call checking would give CALLS distinct times; a check per
    // second gives one per second elapsed, plus the first.
    assert!(
        checked_at.len() <= seconds + 2,
        "{} checks for {CALLS} calls in {seconds} s",
        checked_at.len()
    );
}

/// Attacker's tools: a rewrite of the audit chain that keeps it internally
/// consistent, as anyone with the database file can do (the chain is
/// unkeyed), and a truncation that moves the head back.
mod tamper {
    use sha2::{Digest, Sha256};

    fn hash(
        prev: &str,
        id: i64,
        at: i64,
        fields: [&str; 3],
        before: Option<&str>,
        after: Option<&str>,
    ) -> String {
        let mut h = Sha256::new();
        for field in [
            prev,
            &id.to_string(),
            &at.to_string(),
            fields[0],
            fields[1],
            fields[2],
            before.unwrap_or("\u{0}"),
            after.unwrap_or("\u{0}"),
        ] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }

    pub fn unguard(conn: &rusqlite::Connection) {
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;",
        )
        .unwrap();
    }

    /// Sets entry `id`'s actor, then recomputes every hash from there and the head.
    pub fn rewrite(conn: &rusqlite::Connection, id: i64, actor: &str) {
        unguard(conn);
        conn.execute(
            "UPDATE audit_log SET actor = ?2 WHERE id = ?1",
            rusqlite::params![id, actor],
        )
        .unwrap();
        // Each entry's new (id, prev_hash, hash), chained from the genesis.
        let mut prev = "0".repeat(64);
        let chain: Vec<(i64, String, String)> = conn
            .prepare(
                "SELECT id, at_ms, actor, action, target, before, after FROM audit_log ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| {
                let (actor, action, target): (String, String, String) =
                    (r.get(2)?, r.get(3)?, r.get(4)?);
                let (before, after): (Option<String>, Option<String>) = (r.get(5)?, r.get(6)?);
                let h = hash(
                    &prev,
                    r.get(0)?,
                    r.get(1)?,
                    [&actor, &action, &target],
                    before.as_deref(),
                    after.as_deref(),
                );
                Ok((r.get(0)?, std::mem::replace(&mut prev, h.clone()), h))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, prev_hash, h) in chain {
            conn.execute(
                "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
                rusqlite::params![id, prev_hash, h],
            )
            .unwrap();
            conn.execute(
                "UPDATE audit_head SET last = ?1, hash = ?2",
                rusqlite::params![id, h],
            )
            .unwrap();
        }
    }

    /// Deletes every entry after `keep` and moves the head back to it.
    pub fn truncate(conn: &rusqlite::Connection, keep: i64) {
        unguard(conn);
        conn.execute("DELETE FROM audit_log WHERE id > ?1", [keep])
            .unwrap();
        conn.execute(
            "UPDATE audit_head SET last = ?1, hash = (SELECT hash FROM audit_log WHERE id = ?1)",
            [keep],
        )
        .unwrap();
    }
}

/// `regent audit verify` with `--checkpoints`.
fn verify_with(db: &std::path::Path, extra: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = std::process::Command::new(regent_tests::regent_bin())
        .args(["audit", "verify", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The server signs checkpoints with a key outside the database; a tail
/// rewritten with every hash recomputed passes the bare chain check but
/// not the checkpoints, nor does a truncated one, and a running server
/// stops being ready.
#[tokio::test]
async fn signed_checkpoints_expose_a_rewritten_or_truncated_audit_log() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("audit.key");
    let out = std::process::Command::new(regent_tests::regent_bin())
        .args(["audit", "keygen", "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{printed}");
    let public = printed
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .to_string();
    let checkpoints = keys.path().join("checkpoints.jsonl");
    let configure = {
        let (key_file, checkpoints) = (key_file.clone(), checkpoints.clone());
        move |c: &mut regent_host::config::ServeConfig| {
            c.audit.checkpoint_key_file = Some(key_file);
            c.audit.checkpoint_file = Some(checkpoints);
            c.audit.checkpoint_every_entries = 1;
            c.audit.checkpoint_every_secs = 1;
        }
    };
    let app = TestApp::spawn_with(&[], false, configure.clone()).await;
    for name in ["a", "b", "c", "d"] {
        app.token(name, &["viewer"]).await;
    }
    let last_id: i64 = rusqlite::Connection::open(&app.db_path)
        .unwrap()
        .query_row("SELECT max(id) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    let covered = || {
        std::fs::read_to_string(&checkpoints)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|c| c["lastId"].as_i64())
            .max()
    };
    for _ in 0..200 {
        if covered() == Some(last_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(covered(), Some(last_id), "no checkpoint covers the log");
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&checkpoints)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    for field in ["lastId", "lastHash", "time", "signature", "keyId"] {
        assert!(!line[field].is_null(), "{field}: {line}");
    }

    let with_checkpoints = [
        std::ffi::OsStr::new("--checkpoints"),
        checkpoints.as_os_str(),
        std::ffi::OsStr::new("--public-key"),
        std::ffi::OsStr::new(&public),
    ];
    let (ok, text) = verify_with(&app.db_path, &with_checkpoints);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("vouch for entries 1..{last_id}")),
        "{text}"
    );
    // Checked with some other key, the same file proves nothing.
    let other = {
        use base64::Engine;
        let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
    };
    let (ok, text) = verify_with(
        &app.db_path,
        &[
            with_checkpoints[0],
            with_checkpoints[1],
            with_checkpoints[2],
            std::ffi::OsStr::new(&other),
        ],
    );
    assert!(!ok && text.contains("not among the given keys"), "{text}");

    // Someone with the database file rewrites entry 2 and every hash after.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    tamper::rewrite(&conn, 2, "mallory");
    let (ok, text) = verify_with(&app.db_path, &[]);
    assert!(ok, "the bare chain cannot tell: {text}");
    let (ok, text) = verify_with(&app.db_path, &with_checkpoints);
    assert!(!ok, "{text}");
    assert!(text.contains("was rewritten"), "{text}");
    // The running server notices on its next tick: no longer ready, and it
    // vouches for nothing more.
    let mut status = StatusCode::OK;
    let mut body = Value::Null;
    for _ in 0..100 {
        (status, body) = app.call(Method::GET, "/ready", None, None).await;
        if status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["failures"].to_string().contains("audit checkpoints"),
        "{body}"
    );

    // Deleting the tail back to entry 2 and moving the head: truncation.
    tamper::truncate(&conn, 2);
    let (ok, text) = verify_with(&app.db_path, &[]);
    assert!(ok, "the bare chain cannot tell: {text}");
    let (ok, text) = verify_with(&app.db_path, &with_checkpoints);
    assert!(!ok, "{text}");
    assert!(text.contains("the log was truncated"), "{text}");

    // A restart over the truncated store is refused, saying why.
    let mut config = regent_host::config::ServeConfig::new(
        app.dir.path().join("plugins"),
        regent_tests::built_plugins().join("test-cache"),
        app.db_path.clone(),
    );
    configure(&mut config);
    let refused = tokio::task::spawn_blocking(move || {
        regent_host::startup::build_state(&config)
            .err()
            .map(|e| format!("{e:#}"))
    })
    .await
    .unwrap()
    .expect("a store that contradicts its checkpoints was served");
    assert!(refused.contains("contradicts checkpoint file"), "{refused}");
}
