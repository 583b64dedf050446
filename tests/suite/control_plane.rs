//! The control plane over HTTP: authorization and its decision log, the
//! emergency stop (API and CLI), workflow brakes, engines' events with
//! auto-actions and the webhook, risk reports, and agents with budgets,
//! breakers and the seed's assignment scenarios.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regent_host::domain::Timestamp;
use regent_host::webhook::WebhookSecret;
use regent_tests::app::{error_code, error_message, start_at, TestApp, ADMIN};
use regent_tests::tls::{serve_https, TestCert};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

fn ago(ms: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    Timestamp(now - ms).to_string()
}

async fn authorize(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, b) = app.post_as(token, "/api/authorize", &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn decision(reply: &Value) -> &str {
    reply["decision"].as_str().unwrap()
}

// 1 ---------------------------------------------------------------------------

#[tokio::test]
async fn decisions_follow_the_whitelist_and_each_is_logged_under_its_id() {
    let app = TestApp::spawn().await;
    let agent = app.token("fleet", &["reporter"]).await;
    let viewer = app.token("dash", &["viewer"]).await;

    let r = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(
        decision(&r),
        "requires_approval",
        "L3 has an empty whitelist: {r}"
    );
    assert_eq!(r["phase"], "L3");
    // The one way up: a proposal, approved.
    let id = app.propose("L3", "L3+", &["tech_lead"]);
    let tech = app.token("tess", &["tech_lead"]).await;
    let (s, p) = app
        .post_as(
            &tech,
            &format!("/api/governance/proposals/{id}/approve"),
            &json!({"role": "tech_lead"}),
        )
        .await;
    assert_eq!(
        (s, p["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{p}"
    );

    let on = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(
        decision(&on),
        "autonomous",
        "the very next call sees L3+: {on}"
    );
    assert_eq!(on["phase"], "L3+");
    let drum = authorize(&app, &agent, json!({"commandType": "SET_DRUM"})).await;
    assert_eq!(decision(&drum), "requires_approval");
    assert!(drum["reasons"][0]
        .as_str()
        .unwrap()
        .contains("not in the L3+ whitelist"));

    // decisionId ties the reply to its log entry.
    let (s, log) = app.get_as(&viewer, "/api/decisions?limit=10").await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    let entry = log
        .iter()
        .find(|e| e["decisionId"] == on["decisionId"])
        .unwrap();
    assert_eq!(entry["commandType"], "SET_POWER");
    assert_eq!(entry["decision"], "autonomous");
    assert_eq!(entry["caller"], "fleet");
    assert_eq!(entry["reasons"], on["reasons"]);

    let (_, only) = app
        .get_as(
            &viewer,
            "/api/decisions?decision=requires_approval&commandType=SET_DRUM",
        )
        .await;
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    let (s, b) = app.get_as(&viewer, "/api/decisions?decision=maybe").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&b).contains("unknown decision `maybe`"),
        "{b}"
    );

    // Bad input changes nothing; a viewer cannot ask.
    for bad in [
        json!({}),
        json!({"commandType": ""}),
        json!({"commandType": "X", "extra": 1}),
        json!({"commandType": "X", "workflowId": ""}),
    ] {
        let (s, b) = app.post_as(&agent, "/api/authorize", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let (s, _) = app
        .post_as(
            &viewer,
            "/api/authorize",
            &json!({"commandType": "SET_POWER"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, log) = app.get_as(&viewer, "/api/decisions").await;
    assert_eq!(
        log.as_array().unwrap().len(),
        3,
        "refused calls are not decisions"
    );
}

#[tokio::test]
async fn a_breaker_pause_reaches_the_enforcement_point_until_resolved() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    // Keep only the pausing rule, so the failures below pause rather
    // than revert the phase.
    for rule in ["High%20Error%20Rate", "High%20Rollback%20Rate"] {
        let (s, b) = app
            .send_as(
                Method::PATCH,
                &oncall,
                &format!("/api/circuit-breaker/rules/{rule}"),
                &json!({"enabled": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let commands: Vec<Value> = (0..12)
        .map(|i| {
            let (ty, status) = if i % 3 == 0 { ("SET_DRUM", "failed") } else { ("SET_POWER", "succeeded") };
            json!({"id": format!("c-{i}"), "commandType": ty, "status": status, "requiredApproval": false, "autonomous": true})
        })
        .collect();
    let (s, b) = app.post_as(&agent, "/api/commands", &json!(commands)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let drum = authorize(&app, &agent, json!({"commandType": "SET_DRUM"})).await;
    assert_eq!(decision(&drum), "autonomous", "before the check: {drum}");

    let (s, created) = app
        .post_as(&oncall, "/api/circuit-breaker/check", &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    assert_eq!(
        created[0]["pausedCommandTypes"],
        json!(["SET_DRUM"]),
        "{created}"
    );
    let drum = authorize(&app, &agent, json!({"commandType": "SET_DRUM"})).await;
    assert_eq!(decision(&drum), "requires_approval", "{drum}");
    assert!(drum["reasons"][0]
        .as_str()
        .unwrap()
        .contains("paused by a circuit breaker"));
    let power = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(
        decision(&power),
        "autonomous",
        "only the failing type: {power}"
    );

    let (s, b) = app
        .post_as(
            &oncall,
            &format!("/api/circuit-breaker/events/{}/resolve", created[0]["id"]),
            &json!({"resolution": "drum motor replaced"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let drum = authorize(&app, &agent, json!({"commandType": "SET_DRUM"})).await;
    assert_eq!(decision(&drum), "autonomous", "resolved, lifted: {drum}");
}

#[tokio::test]
async fn concurrent_decisions_are_all_logged() {
    let app = Arc::new(TestApp::spawn_at("L4", DAY_MS).await);
    let agent = app.token("fleet", &["reporter"]).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let cmd = if i % 2 == 0 { "SET_POWER" } else { "ABORT" };
            authorize(&app, &agent, json!({"commandType": cmd})).await["decisionId"]
                .as_i64()
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every reply has its own log entry");
    let (_, log) = app.get("/api/decisions?limit=1000").await;
    let mut logged: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decisionId"].as_i64().unwrap())
        .collect();
    logged.sort();
    assert_eq!(logged, ids);
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_authorize_decisions_total{decision=\"autonomous\"} 100"),
        "{metrics}"
    );
    assert!(
        metrics.contains("regent_authorize_decisions_total{decision=\"requires_approval\"} 100")
    );
}

// 2 ---------------------------------------------------------------------------

#[tokio::test]
async fn the_emergency_stop_denies_everything_until_resumed_and_is_audited() {
    let app = TestApp::spawn_at("L5", DAY_MS).await;
    let agent = app.token("fleet", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;

    let (s, _) = app
        .post_as(&agent, "/api/emergency-stop", &json!({"reason": "x"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an agent cannot stop or resume");
    let (s, b) = app
        .post_as(&oncall, "/api/emergency-stop", &json!({"reason": " "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/emergency-stop/resume",
            &json!({"reason": "nothing to resume"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    let (s, stopped) = app
        .post_as(
            &oncall,
            "/api/emergency-stop",
            &json!({"reason": "runaway fan commands"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["active"], true);
    assert_eq!(stopped["by"], "oncall");
    assert_eq!(stopped["reason"], "runaway fan commands");
    assert_eq!(stopped["changed"], true);

    let r = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&r), "denied", "{r}");
    assert_eq!(r["reasons"][0], "the emergency stop is on");
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["emergencyStop"], true);

    // A second stop changes nothing: the first one's reason stands.
    let (_, again) = app
        .post_as(&oncall, "/api/emergency-stop", &json!({"reason": "again"}))
        .await;
    assert_eq!(again["changed"], false);
    assert_eq!(again["reason"], "runaway fan commands");

    // The stop was exercised: the kill-switch item passes without attestation.
    let (_, readiness) = app.get("/api/readiness/current").await;
    let item = readiness["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "kill-switch-tested")
        .unwrap_or_else(|| panic!("no kill-switch item: {readiness}"));
    assert_eq!(item["passed"], true, "{item}");

    let (s, resumed) = app
        .post_as(
            &oncall,
            "/api/emergency-stop/resume",
            &json!({"reason": "fan fixed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["active"], false);
    assert!(resumed["lastActivatedAt"].is_string());
    let r = authorize(&app, &agent, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(decision(&r), "autonomous", "{r}");

    let (_, audit) = app.get("/api/audit?limit=100").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"emergency_stop.activate"), "{actions:?}");
    assert!(actions.contains(&"emergency_stop.resume"), "{actions:?}");
    let (_, metrics) = app.text("/metrics").await;
    assert!(metrics.contains("regent_emergency_stop_active 0"));
}

#[tokio::test]
async fn the_cli_reaches_an_https_server_through_its_ca_file_only() {
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(certs.path(), "server");
    let app = TestApp::spawn_with(&[], false, |c| c.tls = Some(cert.settings())).await;
    let oncall = app.token("oncall", &["operator"]).await;
    let status = |ca_file: Option<std::path::PathBuf>| {
        let (base, token) = (app.base.clone(), oncall.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(regent_tests::regent_bin());
            cmd.arg("status")
                .env("REGENT_URL", base)
                .env("REGENT_TOKEN", token)
                .env_remove("REGENT_CA_FILE");
            if let Some(path) = ca_file {
                cmd.env("REGENT_CA_FILE", path);
            }
            let out = cmd.output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        })
    };
    let (ok, out) = status(Some(cert.cert_file.clone())).await.unwrap();
    assert!(ok && out.contains("RUNNING"), "{out}");
    // Without it, the server's certificate is not trusted: no token is sent.
    let (ok, out) = status(None).await.unwrap();
    assert!(!ok && out.contains("cannot reach Regent"), "{out}");
    let (ok, out) = status(Some(certs.path().join("absent.pem"))).await.unwrap();
    assert!(!ok && out.contains("cannot read REGENT_CA_FILE"), "{out}");
}

#[tokio::test]
async fn the_cli_stops_reports_and_resumes_a_running_server() {
    let app = TestApp::spawn().await;
    let oncall = app.token("oncall", &["operator"]).await;
    let base = app.base.clone();
    let run = move |args: &[&str], token: &str| {
        let out = std::process::Command::new(regent_tests::regent_bin())
            .args(args)
            .env("REGENT_URL", &base)
            .env("REGENT_TOKEN", token)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let cli = |args: Vec<String>, token: String| {
        let run = run.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&args, &token)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (ok, out) = cli(s(&["status"]), oncall.clone()).await.unwrap();
    assert!(ok && out.contains("RUNNING"), "{out}");
    let (ok, out) = cli(s(&["stop", "--reason", "drill"]), oncall.clone())
        .await
        .unwrap();
    assert!(
        ok && out.contains("STOPPED") && out.contains("drill"),
        "{out}"
    );
    let (_, st) = app.get("/api/emergency-stop").await;
    assert_eq!(st["active"], true);
    let (ok, out) = cli(s(&["status"]), oncall.clone()).await.unwrap();
    assert!(
        ok && out.contains("STOPPED since") && out.contains("by oncall"),
        "{out}"
    );
    let (ok, out) = cli(s(&["resume", "--reason", "drill over"]), oncall.clone())
        .await
        .unwrap();
    assert!(ok && out.contains("RUNNING"), "{out}");
    let (ok, out) = cli(s(&["resume", "--reason", "again"]), oncall.clone())
        .await
        .unwrap();
    assert!(
        !ok && out.contains("409") && out.contains("nothing to resume"),
        "{out}"
    );
    let (ok, out) = cli(s(&["stop", "--reason", "x"]), "wrong-token".into())
        .await
        .unwrap();
    assert!(!ok && out.contains("401"), "{out}");
    let (_, st) = app.get("/api/emergency-stop").await;
    assert_eq!(st["active"], false, "a refused call changed nothing");
}

// 3 ---------------------------------------------------------------------------

#[tokio::test]
async fn a_paused_workflow_is_denied_while_others_run_and_operators_cannot_edit_it() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    let agent = app.token("agent-7", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;

    for id in ["wf-roast", "wf-clean"] {
        let (s, w) = app
            .post_as(
                &agent,
                "/api/workflows",
                &json!({"id": id, "name": "Roast batch 12", "agentId": "agent-7"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{w}");
        assert_eq!(w["status"], "running");
    }
    let (s, b) = app
        .post_as(
            &agent,
            "/api/workflows",
            &json!({"id": "wf-roast", "name": "dup", "agentId": "agent-7"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    for (name, status) in [("preheat", "succeeded"), ("drum", "started")] {
        let (s, step) = app
            .post_as(
                &agent,
                "/api/workflows/wf-roast/steps",
                &json!({"name": name, "status": status, "detail": {"temp": 180}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{step}");
    }
    let (s, _) = app
        .post_as(
            &agent,
            "/api/workflows/wf-roast/steps",
            &json!({"name": "x", "status": "exploded"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The brake pedal, not the steering wheel.
    let (s, _) = app
        .post_as(
            &oncall,
            "/api/workflows/wf-roast/steps",
            &json!({"name": "x", "status": "started"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "operators cannot edit a workflow's content"
    );
    let (s, _) = app
        .post_as(
            &agent,
            "/api/workflows/wf-roast/pause",
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents cannot pause");

    let (s, w) = app
        .post_as(
            &oncall,
            "/api/workflows/wf-roast/pause",
            &json!({"reason": "smoke reported"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "paused");
    assert_eq!(w["pausedBy"], "oncall");
    assert_eq!(w["stepCount"], 2);

    let paused = authorize(
        &app,
        &agent,
        json!({"commandType": "SET_POWER", "workflowId": "wf-roast"}),
    )
    .await;
    assert_eq!(decision(&paused), "denied", "{paused}");
    assert_eq!(paused["reasons"][0], "workflow `wf-roast` is paused");
    let other = authorize(
        &app,
        &agent,
        json!({"commandType": "SET_POWER", "workflowId": "wf-clean"}),
    )
    .await;
    assert_eq!(decision(&other), "autonomous", "{other}");

    let (s, b) = app
        .post_as(&agent, "/api/workflows/wf-roast/complete", &json!({}))
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "completing cannot release the brake: {b}"
    );
    let (_, listed) = app.get("/api/workflows?status=paused").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (s, _) = app.get("/api/workflows?status=sleeping").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, metrics) = app.text("/metrics").await;
    assert!(metrics.contains("regent_workflows_paused 1"), "{metrics}");

    let (s, w) = app
        .call(
            Method::POST,
            "/api/workflows/wf-roast/resume",
            Some(&oncall),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["pausedBy"], Value::Null);
    let again = authorize(
        &app,
        &agent,
        json!({"commandType": "SET_POWER", "workflowId": "wf-roast"}),
    )
    .await;
    assert_eq!(decision(&again), "autonomous");

    let (s, done) = app
        .post_as(&agent, "/api/workflows/wf-roast/complete", &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    let (s, _) = app
        .post_as(
            &agent,
            "/api/workflows/wf-roast/steps",
            &json!({"name": "late", "status": "started"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, trace) = app.get("/api/workflows/wf-roast/trace").await;
    let trace = trace.as_array().unwrap();
    assert_eq!(trace.len(), 2);
    assert_eq!(trace[0]["name"], "preheat");
    assert_eq!(trace[0]["detail"]["temp"], 180);
    assert_eq!(trace[1]["seq"], 2);
    let (s, b) = app.get("/api/workflows/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&b), "not_found");

    let (_, audit) = app.get("/api/audit?limit=50").await;
    let text = audit.to_string();
    assert!(text.contains("workflow.pause") && text.contains("workflow.resume"));
}

// 4 ---------------------------------------------------------------------------

/// A webhook receiver that fails the first `fail_first` calls with 500.
async fn webhook(fail_first: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(0usize));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            let calls = calls.clone();
            async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                if *n <= fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
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

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn serious_events_get_the_seeds_actions_delivered_through_the_webhook_with_retries() {
    let (url, received) = webhook(1).await;
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        c.webhook.backoff_ms = 10;
    })
    .await;
    let engine = app.token("billing-engine", &["reporter"]).await;

    let cases = [
        ("billing", "HIGH", Some("billing_sync_repair")),
        ("maos", "CRITICAL", Some("MAOS_auto_fix")),
        ("deep_agent", "high", Some("DeepAgent_policy_update")),
        ("qa", "CRITICAL", Some("notify_admin")),
        ("voice_engine", "HIGH", Some("MAOS_auto_fix")),
        ("billing", "MEDIUM", None),
    ];
    for (engine_name, severity, action) in cases {
        let (s, b) = app
            .post_as(&engine, "/api/governance/event", &json!({"engine": engine_name, "eventType": "sync_failed", "severity": severity, "details": {"invoice": 42}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(b["id"].is_i64());
        assert_eq!(b["action"].as_str(), action, "{engine_name} {severity}");
    }
    for bad in [
        json!({"engine": "qa", "eventType": "x", "severity": "SEVERE"}),
        json!({"engine": "", "eventType": "x", "severity": "LOW"}),
        json!({"engine": "qa", "eventType": "x", "severity": "LOW", "details": [1]}),
    ] {
        let (s, b) = app.post_as(&engine, "/api/governance/event", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }

    // The first delivery fails (500) and is retried; all five arrive.
    eventually("five deliveries", async || {
        received.lock().unwrap().len() == 5
    })
    .await;
    let first = received.lock().unwrap()[0].clone();
    assert_eq!(first["action"], "billing_sync_repair");
    assert_eq!(first["payload"]["event"]["details"]["invoice"], 42);
    eventually("delivered statuses", async || {
        let (_, actions) = app.get("/api/governance/actions").await;
        actions
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["delivery"] == "delivered")
    })
    .await;
    let (_, actions) = app.get("/api/governance/actions").await;
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 5);
    let billing = actions
        .iter()
        .find(|a| a["action"] == "billing_sync_repair")
        .unwrap();
    assert_eq!(
        billing["attempts"], 2,
        "one failure, one success: {billing}"
    );

    let (_, events) = app.get("/api/governance/events?engine=billing").await;
    assert_eq!(events.as_array().unwrap().len(), 2);
    let (_, crit) = app.get("/api/governance/events?severity=critical").await;
    assert_eq!(crit.as_array().unwrap().len(), 2);
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_governance_events_total{engine=\"billing\",severity=\"high\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_dead_webhook_never_blocks_or_loses_an_event() {
    // Nothing listens on port 9 (discard): every attempt fails fast.
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some("http://127.0.0.1:9/hook".into());
        c.webhook.backoff_ms = 5;
        c.webhook.attempts = 2;
    })
    .await;
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/governance/event",
            &json!({"engine": "maos", "eventType": "x", "severity": "CRITICAL"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    eventually("a failed delivery", async || {
        let (_, a) = app.get("/api/governance/actions").await;
        a[0]["delivery"] == "failed"
    })
    .await;
    let (_, a) = app.get("/api/governance/actions").await;
    assert_eq!(a[0]["attempts"], 2);
    assert!(
        a[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("cannot reach the webhook"),
        "{a}"
    );
    let (_, events) = app.get("/api/governance/events").await;
    assert_eq!(events.as_array().unwrap().len(), 1);
}

const HOOK_SECRET: &str = "a-secret-only-regent-and-the-receiver-know";
/// The receiver's replay window: a signature older than this is refused.
const REPLAY_WINDOW_S: i64 = 300;

/// A receiver's check of `Regent-Signature: t=<unix s>,v1=<hex>`, written
/// from the recipe in docs/operations.md (Webhooks), independently of Regent's signing code.
fn verify_signature(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), String> {
    use hmac::{Hmac, Mac};
    let header = header.ok_or("no Regent-Signature header")?;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", s)) => t = s.parse::<i64>().ok(),
            Some(("v1", s)) => v1 = hex::decode(s).ok(),
            _ => {}
        }
    }
    let (t, v1) = t.zip(v1).ok_or(format!("malformed signature `{header}`"))?;
    if (now_s - t).abs() > REPLAY_WINDOW_S {
        return Err(format!("signed at {t}, outside the replay window"));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1)
        .map_err(|_| "the signature does not match".to_string())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One request a receiver got: its signature header and raw body.
type Received = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A `/hook` receiver that answers 401 unless the request is signed with
/// `HOOK_SECRET` within the replay window.
fn verifying_receiver() -> (axum::Router, Received) {
    let got: Received = Arc::default();
    let seen = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let signature = headers
                        .get("regent-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    seen.lock()
                        .unwrap()
                        .push((signature.clone(), body.to_vec()));
                    match verify_signature(HOOK_SECRET, signature.as_deref(), &body, unix_now()) {
                        Ok(()) => axum::http::StatusCode::OK,
                        Err(_) => axum::http::StatusCode::UNAUTHORIZED,
                    }
                }
            },
        ),
    );
    (router, got)
}

async fn critical_event(app: &TestApp) {
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/governance/event",
            &json!({"engine": "maos", "eventType": "x", "severity": "CRITICAL"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn only_action(app: &TestApp) -> Value {
    let (_, actions) = app.get("/api/governance/actions").await;
    assert_eq!(actions.as_array().unwrap().len(), 1, "{actions}");
    actions[0].clone()
}

#[tokio::test]
async fn webhooks_go_over_https_signed_and_the_receiver_verifies_each() {
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(certs.path(), "receiver");
    let (router, received) = verifying_receiver();
    let url = format!("{}/hook", serve_https(router, &cert).await);
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        c.webhook.ca_file = Some(cert.cert_file.clone());
        c.webhook.secret = Some(WebhookSecret::new(HOOK_SECRET));
        c.webhook.attempts = 1;
    })
    .await;
    critical_event(&app).await;
    eventually("a delivered action", async || {
        only_action(&app).await["delivery"] != "pending"
    })
    .await;
    let action = only_action(&app).await;
    // The receiver answers 401 to a missing or wrong signature, so
    // `delivered` means it verified this one.
    assert_eq!(action["delivery"], "delivered", "{action}");
    let (signature, body) = received.lock().unwrap()[0].clone();
    let signature = signature.expect("the request is signed");
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["id"], action["id"]);

    // What the signature protects against: a changed body, a replay after
    // the window, another secret.
    let now = unix_now();
    assert!(verify_signature(HOOK_SECRET, Some(&signature), &body, now).is_ok());
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(verify_signature(HOOK_SECRET, Some(&signature), &tampered, now).is_err());
    let replayed_later = now + REPLAY_WINDOW_S + 60;
    assert!(verify_signature(HOOK_SECRET, Some(&signature), &body, replayed_later).is_err());
    assert!(verify_signature("another-secret-entirely", Some(&signature), &body, now).is_err());
}

#[tokio::test]
async fn a_webhook_whose_certificate_is_not_trusted_gets_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let trusted = TestCert::generate(certs.path(), "trusted");
    let impostor = TestCert::generate(certs.path(), "impostor");
    let (router, received) = verifying_receiver();
    let url = format!("{}/hook", serve_https(router, &impostor).await);
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        c.webhook.ca_file = Some(trusted.cert_file.clone());
        c.webhook.secret = Some(WebhookSecret::new(HOOK_SECRET));
        c.webhook.attempts = 1;
    })
    .await;
    critical_event(&app).await;
    eventually("a failed delivery", async || {
        only_action(&app).await["delivery"] == "failed"
    })
    .await;
    let error = only_action(&app).await["lastError"].to_string();
    assert!(error.contains("cannot reach the webhook"), "{error}");
    assert!(error.contains("certificate"), "{error}");
    assert!(received.lock().unwrap().is_empty(), "no byte reached it");
}

#[tokio::test]
async fn a_webhook_redirect_is_never_followed() {
    let caught = Arc::new(Mutex::new(0usize));
    let hits = caught.clone();
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|| async { axum::response::Redirect::temporary("/elsewhere") }),
        )
        .route(
            "/elsewhere",
            axum::routing::post(move || {
                *hits.lock().unwrap() += 1;
                async { axum::http::StatusCode::OK }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        c.webhook.attempts = 1;
    })
    .await;
    critical_event(&app).await;
    eventually("a failed delivery", async || {
        only_action(&app).await["delivery"] == "failed"
    })
    .await;
    let error = only_action(&app).await["lastError"].to_string();
    assert!(
        error.contains("307") && error.contains("redirects are not followed"),
        "{error}"
    );
    assert_eq!(*caught.lock().unwrap(), 0, "the redirect target was called");
}

#[tokio::test]
async fn a_full_delivery_queue_records_its_oldest_waiting_action_as_dropped() {
    // The receiver holds every request until the test opens the gate.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let got: Arc<Mutex<Vec<i64>>> = Arc::default();
    let (held, seen) = (gate.clone(), got.clone());
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (held, seen) = (held.clone(), seen.clone());
            async move {
                seen.lock().unwrap().push(body["id"].as_i64().unwrap());
                held.acquire().await.unwrap().forget();
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        c.webhook.queue_capacity = 2;
        c.webhook.attempts = 1;
        // Long enough that the held delivery never times out in the test.
        c.webhook.timeout_ms = 120_000;
    })
    .await;
    // The first action is taken by the sender and held at the receiver...
    critical_event(&app).await;
    eventually("the first delivery in flight", async || {
        got.lock().unwrap().len() == 1
    })
    .await;
    // ...so the next three wait in a queue of two: the oldest is pushed out.
    for _ in 0..3 {
        critical_event(&app).await;
    }
    let (_, actions) = app.get("/api/governance/actions").await;
    let mut actions = actions.as_array().unwrap().clone();
    actions.sort_by_key(|a| a["id"].as_i64());
    let ids: Vec<i64> = actions.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    let deliveries: Vec<&str> = actions
        .iter()
        .map(|a| a["delivery"].as_str().unwrap())
        .collect();
    assert_eq!(
        deliveries,
        ["pending", "dropped", "pending", "pending"],
        "{actions:?}"
    );
    let reason = actions[1]["lastError"].as_str().unwrap();
    assert!(reason.contains("queue_capacity"), "{reason}");

    gate.add_permits(10);
    eventually("the rest delivered", async || {
        let (_, a) = app.get("/api/governance/actions").await;
        a.as_array()
            .unwrap()
            .iter()
            .all(|a| a["delivery"] != "pending")
    })
    .await;
    assert_eq!(*got.lock().unwrap(), [ids[0], ids[2], ids[3]]);
    let (_, actions) = app.get("/api/governance/actions").await;
    let dropped = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == ids[1])
        .unwrap();
    assert_eq!(
        dropped["delivery"], "dropped",
        "never sent later: {dropped}"
    );
    assert_eq!(dropped["attempts"], 0);
}

/// `[audit] checkpoint_webhook`: each signed audit checkpoint also goes to
/// the webhook, a copy out of reach of whoever holds the server's disk.
#[tokio::test]
async fn audit_checkpoints_are_posted_to_the_webhook() {
    let (url, received) = webhook(1).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("audit.key");
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    std::fs::write(&key_file, regent_host::signing::encode_secret_key(&key)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let checkpoints = keys.path().join("checkpoints.jsonl");
    let file = checkpoints.clone();
    let app = TestApp::spawn_with(&[], false, move |c| {
        c.webhook.url = Some(url);
        c.webhook.backoff_ms = 10;
        c.audit.checkpoint_key_file = Some(key_file);
        c.audit.checkpoint_file = Some(file);
        c.audit.checkpoint_every_entries = 1;
        c.audit.checkpoint_webhook = true;
    })
    .await;
    app.token("someone", &["viewer"]).await;
    eventually("a checkpoint at the webhook", async || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    let posted = received.lock().unwrap()[0].clone();
    assert_eq!(posted["kind"], "audit.checkpoint", "{posted}");
    let written: Value = serde_json::from_str(
        std::fs::read_to_string(&checkpoints)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        posted["checkpoint"], written,
        "the webhook gets the file's line"
    );
    let checkpoint: regent_host::domain::checkpoint::Checkpoint =
        serde_json::from_value(written).unwrap();
    checkpoint.verify(&key.verifying_key()).unwrap();
}

#[tokio::test]
async fn risk_reports_score_the_last_week_with_the_plugin_and_feed_stats() {
    let app = TestApp::spawn().await;
    let engine = app.token("engines", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    let (_, stats) = app.get("/api/governance/stats").await;
    assert_eq!(
        stats,
        json!({"totalEvents": 0, "criticalCount": 0, "latestRiskScore": 0, "topRiskyEngine": null})
    );

    let events = [
        ("billing", "CRITICAL", 0),
        ("billing", "HIGH", 0),
        ("qa", "MEDIUM", 0),
        ("maos", "LOW", 0),
        // Older than 7 days: in the 30-day stats, not in the report.
        ("compliance", "CRITICAL", 10),
    ];
    for (e, sev, days) in events {
        let (s, b) = app
            .post_as(&engine, "/api/governance/event", &json!({"engine": e, "eventType": "t", "severity": sev, "occurredAt": ago(days * DAY_MS + 1000)}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, _) = app
        .post_as(&engine, "/api/governance/report", &json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "reports are the operator's");
    let (s, r) = app
        .call(Method::POST, "/api/governance/report", Some(&oncall), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["summary"]["totalEvents"], 4);
    assert_eq!(r["summary"]["criticalCount"], 1);
    assert_eq!(r["summary"]["byEngine"]["billing"], 2);
    assert_eq!(r["summary"]["bySeverity"]["CRITICAL"], 1);
    // The seed's weights: billing 25 + 15; qa 5 (operational and
    // performance); maos 1 (operational and security).
    let scores = &r["summary"]["riskScores"];
    assert_eq!(scores["billing_risk"], 40, "{r}");
    assert_eq!(scores["operational_risk"], 6);
    assert_eq!(scores["security_risk"], 1);
    assert_eq!(scores["performance_risk"], 5);
    assert_eq!(scores["client_risk"], 0);
    assert_eq!(r["riskScore"], 10, "mean of 40, 6, 1, 0, 5 rounded: {r}");
    assert_eq!(r["scorer"], "severity-weighted");
    assert!(r["scorerVersion"].is_string());
    let recs: Vec<&str> = r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        recs.contains(&"Audit billing sync and token enforcement"),
        "{recs:?}"
    );
    assert!(
        recs.iter().any(|r| r.contains("1 critical events")),
        "{recs:?}"
    );
    let period = r["reportPeriod"].as_str().unwrap();
    assert_eq!(period.len(), 21, "{period}");

    let (_, listed) = app.get("/api/governance/risk-reports?limit=10").await;
    assert_eq!(listed[0]["id"], r["id"]);
    let (_, stats) = app.get("/api/governance/stats").await;
    assert_eq!(stats["totalEvents"], 5);
    assert_eq!(stats["criticalCount"], 2);
    assert_eq!(stats["latestRiskScore"], 10);
    assert_eq!(stats["topRiskyEngine"], "billing");
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_risk_score{category=\"billing_risk\"} 40"),
        "{metrics}"
    );
}

// 5 ---------------------------------------------------------------------------

async fn register(app: &TestApp, id: &str, caps: &[&str], cost: f64, rep: f64, budget: f64) {
    let (s, b) = app
        .post_as(ADMIN, "/api/agents", &json!({"id": id, "capabilities": caps, "costPerHour": cost, "reputation": rep, "budget": budget, "model": "haiku"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn assign(app: &TestApp, token: &str, caps: &[&str], max_cost: f64) -> Value {
    let (s, b) = app
        .post_as(
            token,
            "/api/tasks/assign",
            &json!({"taskId": "t", "requiredCapabilities": caps, "maxCost": max_cost}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn cost(app: &TestApp, token: &str, id: &str, amount: f64) -> Value {
    let (s, b) = app
        .post_as(
            token,
            &format!("/api/agents/{id}/costs"),
            &json!({"operation": "task", "cost": amount}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

#[tokio::test]
async fn seed_scenario_1_basic_assignment() {
    let app = TestApp::spawn().await;
    let coord = app.token("coordinator", &["reporter"]).await;
    register(
        &app,
        "session-4-sip",
        &["integration:sip", "integration:h323"],
        15.0,
        0.95,
        25.0,
    )
    .await;
    register(&app, "session-1-ndi", &["integration:ndi"], 2.0, 0.90, 25.0).await;
    let a = assign(&app, &coord, &["integration:sip"], 20.0).await;
    assert_eq!(a["agentId"], "session-4-sip", "{a}");
    assert_eq!(a["candidates"][0]["match"], 1.0);
    assert!((a["score"].as_f64().unwrap() - 0.95 / 15.0).abs() < 1e-9);
    assert_eq!(a["matcher"], "capability-match");
    assert_eq!(a["excludedCounts"]["insufficient_capability"], 1, "{a}");
    let after = cost(&app, &coord, "session-4-sip", 2.5).await;
    assert_eq!(after["agent"]["budgetRemaining"], 22.5);
    let (_, history) = app.get("/api/assignments?limit=5").await;
    assert_eq!(history[0]["id"], a["id"]);
    assert_eq!(history[0]["agentId"], "session-4-sip");
}

#[tokio::test]
async fn seed_scenario_2_budget_exhaustion_trips_and_a_reset_restores() {
    let (url, received) = webhook(0).await;
    let app = TestApp::spawn_with(&[], false, |c| {
        c.webhook.url = Some(url);
        start_at(c, "L4", DAY_MS);
    })
    .await;
    let coord = app.token("coordinator", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    register(
        &app,
        "session-test",
        &["code-analysis:python"],
        15.0,
        0.95,
        5.0,
    )
    .await;

    for (i, left) in [(1, 3.0), (2, 1.0)] {
        let a = assign(&app, &coord, &["code-analysis:python"], 20.0).await;
        assert_eq!(a["agentId"], "session-test", "task {i}");
        let c = cost(&app, &coord, "session-test", 2.0).await;
        assert_eq!(c["agent"]["budgetRemaining"], left);
        assert_eq!(c["tripped"], Value::Null);
    }
    let a = assign(&app, &coord, &["code-analysis:python"], 20.0).await;
    assert_eq!(a["agentId"], "session-test");
    let c = cost(&app, &coord, "session-test", 2.0).await;
    assert_eq!(c["agent"]["budgetRemaining"], -1.0);
    assert_eq!(c["tripped"], "budget_exhausted");
    assert_eq!(c["agent"]["breaker"]["tripped"], true);

    let a = assign(&app, &coord, &["code-analysis:python"], 20.0).await;
    assert_eq!(a["agentId"], Value::Null, "the breaker blocks: {a}");
    assert_eq!(a["excluded"][0]["agentId"], "session-test");
    let (_, breakers) = app.get("/api/agents/breakers").await;
    assert_eq!(breakers[0]["agentId"], "session-test");
    assert_eq!(breakers[0]["reason"], "budget_exhausted");
    assert!(breakers[0]["trippedAt"].is_string());
    // A tripped agent is denied at the enforcement point too.
    let d = authorize(
        &app,
        &coord,
        json!({"commandType": "SET_POWER", "agentId": "session-test"}),
    )
    .await;
    assert_eq!(decision(&d), "denied", "{d}");
    // The trip is escalated through the webhook, as the seed's ESCALATE.
    eventually("the escalation", async || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    let esc = received.lock().unwrap()[0].clone();
    assert_eq!(esc["payload"]["type"], "ESCALATE");
    assert_eq!(esc["payload"]["context"]["reason"], "budget_exhausted");

    let (s, b) = app
        .post_as(
            &coord,
            "/api/agents/session-test/breaker/reset",
            &json!({"newBudget": 25.0}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "resetting is a human's call: {b}");
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/agents/session-test/breaker/reset",
            &json!({"newBudget": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/agents/session-test/breaker/reset",
            &json!({"newBudget": 25.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["budgetRemaining"], 25.0);
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/agents/session-test/breaker/reset",
            &json!({"newBudget": 25.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "not tripped any more: {b}");
    let a = assign(&app, &coord, &["code-analysis:python"], 20.0).await;
    assert_eq!(a["agentId"], "session-test");
    let d = authorize(
        &app,
        &coord,
        json!({"commandType": "SET_POWER", "agentId": "session-test"}),
    )
    .await;
    assert_eq!(decision(&d), "autonomous");

    let (_, audit) = app.get("/api/audit?limit=50").await;
    let text = audit.to_string();
    assert!(text.contains("agent.breaker.trip") && text.contains("agent.breaker.reset"));
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_agent_budget_remaining{agent=\"session-test\"} 25"),
        "{metrics}"
    );
    assert!(metrics.contains("regent_agent_breaker_tripped{agent=\"session-test\"} 0"));
    assert!(metrics.contains("regent_task_assignments_total 5"));
    assert!(metrics.contains("regent_task_assignments_failed_total 1"));
    assert!(metrics.contains("regent_task_assignment_duration_seconds_count 5"));
    // With every control-plane family populated, the exposition still lints clean.
    let (_, events) = app
        .post_as(
            &coord,
            "/api/governance/event",
            &json!({"engine": "billing", "eventType": "x", "severity": "HIGH"}),
        )
        .await;
    assert!(events["id"].is_i64());
    let (s, _) = app
        .call(Method::POST, "/api/governance/report", Some(&oncall), None)
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_risk_score{category=\"billing_risk\"} 15"),
        "{metrics}"
    );
    regent_tests::promtool_check_metrics(&metrics);
}

#[tokio::test]
async fn seed_scenarios_3_and_4_distribution_and_cost_optimisation() {
    let app = TestApp::spawn().await;
    let coord = app.token("coordinator", &["reporter"]).await;
    for (id, cap, cost, rep) in [
        ("session-1-ndi", "integration:ndi", 2.0, 0.90),
        ("session-2-webrtc", "integration:webrtc", 15.0, 0.92),
        ("session-3-h323", "integration:h323", 2.0, 0.88),
        ("session-4-sip", "integration:sip", 15.0, 0.95),
    ] {
        register(&app, id, &[cap], cost, rep, 25.0).await;
    }
    for (cap, expected) in [
        ("integration:ndi", "session-1-ndi"),
        ("integration:webrtc", "session-2-webrtc"),
        ("integration:h323", "session-3-h323"),
        ("integration:sip", "session-4-sip"),
    ] {
        assert_eq!(
            assign(&app, &coord, &[cap], 20.0).await["agentId"],
            expected,
            "{cap}"
        );
    }
    for (id, cost, rep) in [
        ("haiku-swarm", 1.5, 0.90),
        ("sonnet-swarm", 15.0, 0.95),
        ("opus-swarm", 75.0, 1.0),
    ] {
        register(&app, id, &["code-analysis:python"], cost, rep, 25.0).await;
    }
    let a = assign(&app, &coord, &["code-analysis:python"], 100.0).await;
    assert_eq!(a["agentId"], "haiku-swarm", "{a}");
    let ranked: Vec<&str> = a["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agentId"].as_str().unwrap())
        .collect();
    assert_eq!(ranked, ["haiku-swarm", "sonnet-swarm", "opus-swarm"]);
    // Without maxCost the policy's max_cost_per_task (10/h) caps the cost.
    let (_, capped) = app
        .post_as(
            &coord,
            "/api/tasks/assign",
            &json!({"taskId": "t2", "requiredCapabilities": ["code-analysis:python"]}),
        )
        .await;
    assert_eq!(capped["maxCost"], 10.0);
    assert_eq!(
        capped["candidates"].as_array().unwrap().len(),
        1,
        "{capped}"
    );
    let over = capped["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["agentId"] == "opus-swarm")
        .unwrap();
    assert_eq!(over["reason"], "over_cost");
    assert_eq!(over["detail"], "cost 75.00/h > max 10.00/h");
}

#[tokio::test]
async fn agent_input_is_checked_and_concurrent_costs_are_never_lost() {
    let app = Arc::new(TestApp::spawn().await);
    let coord = app.token("coordinator", &["reporter"]).await;
    let oncall = app.token("oncall", &["operator"]).await;
    for bad in [
        json!({"id": "a", "capabilities": ["python"], "costPerHour": 1, "reputation": 0.5, "budget": 1}),
        json!({"id": "a", "capabilities": ["x:y"], "costPerHour": 0, "reputation": 0.5, "budget": 1}),
        json!({"id": "a", "capabilities": ["x:y"], "costPerHour": 1, "reputation": 1.5, "budget": 1}),
        json!({"id": "breakers", "capabilities": ["x:y"], "costPerHour": 1, "reputation": 0.5, "budget": 1}),
    ] {
        let (s, b) = app.post_as(ADMIN, "/api/agents", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let (s, _) = app
        .post_as(&coord, "/api/agents", &json!({"id": "a", "capabilities": ["x:y"], "costPerHour": 1, "reputation": 0.5, "budget": 1}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "registering is the admin's");
    register(&app, "worker", &["x:y"], 1.0, 0.5, 100.0).await;
    let (s, _) = app
        .post_as(ADMIN, "/api/agents", &json!({"id": "worker", "capabilities": ["x:y"], "costPerHour": 1, "reputation": 0.5, "budget": 1}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    for bad in [
        json!({"operation": "x", "cost": -1}),
        json!({"operation": "x"}),
        json!({"operation": "", "cost": 1}),
    ] {
        let (s, b) = app.post_as(&coord, "/api/agents/worker/costs", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let (s, _) = app
        .post_as(
            &coord,
            "/api/agents/ghost/costs",
            &json!({"operation": "x", "cost": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let mut tasks = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        let coord = coord.clone();
        tasks.push(tokio::spawn(async move {
            cost(&app, &coord, "worker", 0.25).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, w) = app.get("/api/agents/worker").await;
    assert_eq!(
        w["budgetRemaining"], 90.0,
        "40 x 0.25 deducted, none lost: {w}"
    );
    assert_eq!(w["totalCost"], 10.0);
    let (_, budgets) = app.get("/api/budgets").await;
    assert_eq!(budgets, json!({"worker": 90.0}));

    // The failure threshold (3) trips `repeated_failures`.
    for n in 1..=3 {
        let (s, b) = app
            .post_as(
                &coord,
                "/api/agents/worker/failures",
                &json!({"taskId": format!("t{n}"), "reason": "timeout"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            b["tripped"],
            if n == 3 {
                json!("repeated_failures")
            } else {
                Value::Null
            }
        );
    }
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/agents/worker/breaker/trip",
            &json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "already tripped: {b}");
    let (s, _) = app
        .post_as(
            &oncall,
            "/api/agents/worker/breaker/reset",
            &json!({"newBudget": 50}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .post_as(
            &oncall,
            "/api/agents/worker/breaker/trip",
            &json!({"reason": "suspicious output"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["breaker"]["reason"], "suspicious output");
    assert_eq!(b["breaker"]["trippedBy"], "oncall");
    let (_, actions) = app.get("/api/governance/actions").await;
    let escalations = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "escalation")
        .count();
    assert_eq!(escalations, 2, "each trip is escalated: {actions}");
    assert_eq!(actions[0]["delivery"], "not_configured");

    // While the emergency stop is on, nothing is assigned.
    let (s, _) = app
        .post_as(&oncall, "/api/emergency-stop", &json!({"reason": "drill"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .post_as(
            &coord,
            "/api/tasks/assign",
            &json!({"taskId": "t", "requiredCapabilities": ["x:y"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

// Retention ---------------------------------------------------------------------

fn count_rows(app: &TestApp, table: &str) -> i64 {
    rusqlite::Connection::open(&app.db_path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn retention_prunes_old_records_in_the_background_and_keeps_tallies_and_the_audit_log() {
    use regent_host::domain::retention::{Period, RetentionPolicy};
    let short = Period::millis(300);
    let app = TestApp::spawn_with(&[], true, |c| {
        c.retention = RetentionPolicy {
            decisions: short,
            evaluations: short,
            assessments: short,
            commands: short,
            events: short,
            auto_actions: short,
            webhook_attempts: short,
            sessions: short,
            every: Period::millis(100),
            // Several batches per pass.
            batch_rows: 2,
        };
    })
    .await;
    let agent = app.token("fleet", &["reporter"]).await;
    for _ in 0..5 {
        authorize(&app, &agent, json!({"commandType": "SET_FAN"})).await;
    }
    // Commands and events older than any window that reads them go;
    // young ones stay, whatever the period, while a window reads them.
    let commands = json!([
        {"id": "old", "commandType": "SET_FAN", "status": "failed", "requiredApproval": false,
         "autonomous": true, "createdAt": ago(40 * DAY_MS)},
        {"id": "young", "commandType": "SET_FAN", "status": "succeeded", "requiredApproval": false,
         "autonomous": true, "createdAt": ago(1_000)},
    ]);
    let (s, b) = app.post_as(&agent, "/api/commands", &commands).await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, json!({"accepted": 2, "duplicates": 0}))
    );
    for (at, severity) in [(ago(40 * DAY_MS), "CRITICAL"), (ago(1_000), "LOW")] {
        let (s, b) = app
            .post_as(&agent, "/api/governance/event", &json!({"engine": "maos", "eventType": "x", "severity": severity, "occurredAt": at}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    for _ in 0..3 {
        let (s, b) = app.get("/api/readiness/current").await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let audit_before = app.get("/api/audit?limit=1000").await.1;

    eventually("old rows pruned", async || {
        count_rows(&app, "decisions") == 0
            && count_rows(&app, "commands") == 1
            && count_rows(&app, "engine_events") == 1
            && count_rows(&app, "actions") == 0
            && count_rows(&app, "readiness_assessments") == 1
    })
    .await;

    // The young command and event stay: the readiness window (7 d) and
    // the event stats (30 d) still read them.
    let (_, events) = app.get("/api/governance/events").await;
    assert_eq!(events[0]["severity"], "low", "{events}");
    // Tallies and totals are untouched.
    let (_, metrics) = app.text("/metrics").await;
    assert!(
        metrics.contains("regent_authorize_decisions_total{decision=\"requires_approval\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("regent_retention_deleted_total{table=\"decisions\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("regent_governance_events_total{engine=\"maos\",severity=\"critical\"} 1"),
        "{metrics}"
    );
    let window = format!(
        "/api/metrics/current?start={}&end={}",
        ago(41 * DAY_MS),
        ago(-60_000)
    );
    let (_, m) = app.get(&window).await;
    assert_eq!(m["commandsTotal"], 2, "{m}");
    // The newest assessment is still served.
    let (s, _) = app.get("/api/readiness/latest").await;
    assert_eq!(s, StatusCode::OK);
    // A pruned command sent again is not counted again.
    let (s, b) = app.post_as(&agent, "/api/commands", &commands).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"accepted": 0, "duplicates": 1, "expired": 1})
        )
    );
    let (_, m) = app.get(&window).await;
    assert_eq!(m["commandsTotal"], 2, "{m}");
    // The audit log is never pruned.
    assert_eq!(app.get("/api/audit?limit=1000").await.1, audit_before);
}

#[tokio::test]
async fn a_cost_that_would_overflow_an_agents_totals_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/agents",
            &json!({"id": "big", "capabilities": ["ops:fix"], "costPerHour": 1, "reputation": 0.5, "budget": 1e308}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let cost = json!({"operation": "huge", "cost": 1.5e308});
    let (s, b) = app.post_as(ADMIN, "/api/agents/big/costs", &cost).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post_as(ADMIN, "/api/agents/big/costs", &cost).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(error_message(&b).contains("largest number"), "{b}");
    let (_, agent) = app.get("/api/agents/big").await;
    assert_eq!(
        agent["totalCost"], 1.5e308,
        "a finite total, as before: {agent}"
    );
}
