//! The HTTP API end to end: a real server on an ephemeral port, per test.

use regent_tests::app::{error_code, TestApp, ADMIN};
use regent_tests::built_plugins;
use regent_tests::tls::{client_trusting, TestCert};
use reqwest::StatusCode;
use serde_json::{json, Value};

const STANDALONE_ITEMS: [&str; 2] = ["success-rate", "time-at-phase"];

/// The built-in plugins plus the named hostile fixtures. Two items run as
/// plugins of their own (`success-rate`, `time-at-phase`), taking them over
/// from the bundle, so both paths are served.
async fn spawn(hostile: &[&str]) -> TestApp {
    let items = built_plugins().join("plugins/items");
    let fixtures = built_plugins().join("fixtures");
    let mut extra: Vec<(&std::path::Path, &str)> = STANDALONE_ITEMS
        .iter()
        .map(|n| (items.as_path(), *n))
        .collect();
    extra.extend(hostile.iter().map(|n| (fixtures.as_path(), *n)));
    TestApp::spawn_with(&extra, false, |_| {}).await
}

#[tokio::test]
async fn health_and_the_plugin_listing() {
    let app = spawn(&[]).await;
    assert_eq!(
        app.get("/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );

    let (status, plugins) = app.get("/api/plugins").await;
    assert_eq!(status, StatusCode::OK);
    let plugins = plugins.as_array().unwrap();
    // The bundle, the two standalone items, a breaker, a scorer, a matcher.
    assert_eq!(plugins.len(), 6);
    let bundle = plugins
        .iter()
        .find(|p| p["name"] == "readiness-checklist")
        .unwrap();
    assert_eq!(bundle["kind"], "checklist_bundle");
    assert_eq!(bundle["items"].as_array().unwrap().len(), 22);
    let ops = bundle["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"]["id"] == "ops-approval")
        .unwrap();
    assert_eq!(ops["item"]["points"], 4);
    assert_eq!(ops["reads"]["attestationKeys"], json!(["ops_approval"]));
    let expression = plugins.iter().find(|p| p["name"] == "expression").unwrap();
    assert_eq!(expression["kind"], "breaker_condition");
    assert_eq!(expression["version"], "0.2.0");
    assert_eq!(expression["sha256"].as_str().unwrap().len(), 64);
    assert!(expression["loadedAt"].as_str().unwrap().ends_with('Z'));
    let item = &plugins
        .iter()
        .find(|p| p["name"] == "success-rate")
        .unwrap()["item"];
    assert_eq!(item["points"], 5);
    assert_eq!(item["category"], "technical");
}

#[tokio::test]
async fn evaluating_a_plugin_returns_output_version_and_time_and_is_recorded() {
    let app = spawn(&[]).await;
    let input = json!({"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.999}});
    let (status, body) = app
        .post("/api/plugins/success-rate/evaluate", input.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["plugin"], "success-rate");
    assert_eq!(body["version"], "0.1.0");
    assert_eq!(body["output"]["passed"], true);
    assert_eq!(body["output"]["observed"], 0.999);
    assert!(body["elapsedUs"].as_u64().is_some());

    let (status, records) = app.get("/api/evaluations?plugin=success-rate").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(records.as_array().unwrap().len(), 1);
    assert_eq!(records[0]["input"], input);
    assert_eq!(records[0]["output"]["passed"], true);

    let (status, body) = app.get("/api/evaluations?limit=0").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
}

#[tokio::test]
async fn every_kind_evaluates_over_http() {
    let app = spawn(&[]).await;
    let window = json!({"now": "2026-11-01T00:00:00Z", "metrics": {"errorRate": 0.08}});
    let (status, body) = app
        .post("/api/plugins/expression/evaluate", window.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["tripped"], true);

    let events = json!({"events": [{"engine": "billing", "eventType": "sync_failure", "severity": "CRITICAL", "occurredAt": "2026-11-01T00:00:00Z"}]});
    let (_, body) = app
        .post(
            "/api/plugins/severity-weighted/evaluate",
            events.to_string(),
        )
        .await;
    assert_eq!(
        body["output"]["categories"][1],
        json!({"category": "billing_risk", "score": 25})
    );
    assert_eq!(
        body["output"]["recommendations"],
        json!(["Address 1 critical events immediately"])
    );

    let request = json!({
        "task": {"id": "t1", "requiredCapabilities": ["code-analysis:python"], "maxCostPerHour": 100.0},
        "candidates": [
            {"id": "sonnet", "capabilities": ["code-analysis:python"], "costPerHour": 15.0, "reputation": 0.95, "budgetRemaining": 25.0},
            {"id": "haiku", "capabilities": ["code-analysis:python"], "costPerHour": 1.5, "reputation": 0.90, "budgetRemaining": 25.0},
            {"id": "ndi", "capabilities": ["integration:ndi"], "costPerHour": 2.0, "reputation": 0.9, "budgetRemaining": 25.0}
        ]
    });
    let (_, body) = app
        .post(
            "/api/plugins/capability-match/evaluate",
            request.to_string(),
        )
        .await;
    assert_eq!(body["output"]["ranked"][0]["id"], "haiku");
    assert_eq!(
        body["output"]["excluded"][0]["reason"],
        "insufficient_capability"
    );
}

#[tokio::test]
async fn the_whole_checklist_assesses_to_80_points() {
    let app = spawn(&[]).await;
    let (status, body) = app
        .post(
            "/api/readiness/evaluate",
            json!({"now": "2026-11-01T00:00:00Z"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["maxScore"], 80);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 22);
    assert!(items[0]["pluginVersion"].is_string());
    let decided_by = |id: &str| {
        items.iter().find(|i| i["id"] == id).unwrap()["plugin"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(decided_by("success-rate"), "success-rate");
    assert_eq!(decided_by("time-at-phase"), "time-at-phase");
    assert_eq!(decided_by("runbooks"), "readiness-checklist");
}

#[tokio::test]
async fn a_bundle_evaluates_to_its_items_by_id() {
    let app = spawn(&[]).await;
    let input = json!({"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.9},
        "attestations": [{"key": "runbooks", "attestedBy": "ana", "role": "ops_lead",
                          "attestedAt": "2026-10-01T00:00:00Z"}]});
    let (status, body) = app
        .post(
            "/api/plugins/readiness-checklist/evaluate",
            input.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "checklist_bundle");
    let output = body["output"].as_object().unwrap();
    assert_eq!(output.len(), 22);
    assert_eq!(output["runbooks"]["passed"], true);
    assert_eq!(output["success-rate"]["passed"], false);
    assert_eq!(output["success-rate"]["observed"], 0.9);
}

#[tokio::test]
async fn bad_requests_say_exactly_what_was_wrong() {
    let app = spawn(&[]).await;
    let (status, body) = app
        .post("/api/plugins/success-rate/evaluate", "{not json")
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON: key must be a string at line 1 column 2"),
        "{body}"
    );

    let wrong_shape = json!({"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": "high"}});
    let (status, body) = app
        .post(
            "/api/plugins/success-rate/evaluate",
            wrong_shape.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "invalid input for a checklist-item plugin: at `metrics.successRate`: invalid type"
        ),
        "{message}"
    );

    let (status, body) = app
        .post(
            "/api/plugins/success-rate/evaluate",
            json!({"now": "soon"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`soon` is not an RFC 3339 time"),
        "{body}"
    );

    let (status, body) = app.post("/api/plugins/no-such-rule/evaluate", "{}").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        body["error"]["message"],
        "no plugin named `no-such-rule` (GET /api/plugins lists them)"
    );

    let (status, body) = app.post("/api/plugins/success-rate/evaluate", "").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    let huge = vec![b' '; (8 << 20) + 1];
    let (status, body) = app.post("/api/plugins/success-rate/evaluate", huge).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    let bad_match = json!({"task": {"id": "t", "requiredCapabilities": []}, "candidates": [{"id": "a", "capabilities": [], "costPerHour": 0, "reputation": 0.5, "budgetRemaining": 1}]});
    let (status, body) = app
        .post(
            "/api/plugins/capability-match/evaluate",
            bad_match.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "invalid input for a task-matcher plugin: candidates[0] (`a`): costPerHour must be a positive number");

    let (status, body) = app.get("/api/nowhere").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );

    // None of that was recorded: bad input never reached a plugin.
    let (_, records) = app.get("/api/evaluations").await;
    assert_eq!(records, json!([]));
}

#[tokio::test]
async fn a_failing_plugin_is_a_422_naming_it_and_the_server_keeps_serving() {
    let app = spawn(&["hostile-loop", "hostile-memory"]).await;
    let input = json!({"now": "2026-11-01T00:00:00Z"}).to_string();
    let (status, body) = app
        .post("/api/plugins/hostile-loop/evaluate", input.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"],
        json!({"code": "plugin_failed", "cause": "timeout", "plugin": "hostile-loop", "version": "0.1.0",
               "message": "plugin `hostile-loop` 0.1.0: timeout: still running after 50 ms"})
    );
    let (status, body) = app
        .post("/api/plugins/hostile-memory/evaluate", input.clone())
        .await;
    assert_eq!(
        (status, body["error"]["cause"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("out_of_memory"))
    );

    let (status, body) = app.post("/api/plugins/time-at-phase/evaluate", input).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, records) = app.get("/api/evaluations?plugin=hostile-loop").await;
    assert_eq!(records[0]["errorCode"], "timeout");
}

#[tokio::test]
async fn with_tls_the_api_answers_only_over_https_with_its_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(certs.path(), "server");
    let app = TestApp::spawn_with(&[], false, |c| c.tls = Some(cert.settings())).await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    // A client trusting the certificate (and nothing else) is answered.
    assert_eq!(
        app.get("/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );

    // Plain HTTP to the same port gets no HTTP answer.
    let plain = app.base.replacen("https://", "http://", 1);
    let err = reqwest::get(format!("{plain}/health")).await.unwrap_err();
    assert!(!err.is_status(), "{err}");
    // A client that does not trust the certificate refuses the server.
    let stranger = TestCert::generate(certs.path(), "stranger");
    let err = client_trusting(&stranger.cert_file)
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("UnknownIssuer") || format!("{err:?}").contains("BadSignature"),
        "{err:?}"
    );
    // Failed handshakes cost the server nothing: it keeps serving.
    assert_eq!(app.get("/health").await.0, StatusCode::OK);
}

#[test]
fn a_certificate_and_a_key_that_do_not_belong_together_are_refused() {
    let certs = tempfile::tempdir().unwrap();
    let one = TestCert::generate(certs.path(), "one");
    let other = TestCert::generate(certs.path(), "other");
    let mixed = regent_host::config::TlsSettings {
        cert_file: one.cert_file.clone(),
        key_file: other.key_file.clone(),
    };
    let err = regent_host::tls::acceptor(&mixed)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot serve together"), "{err}");
    let missing = regent_host::config::TlsSettings {
        cert_file: certs.path().join("absent.pem"),
        key_file: one.key_file.clone(),
    };
    let err = regent_host::tls::acceptor(&missing)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("absent.pem"), "{err}");
    // A key file is not a certificate chain.
    let swapped = regent_host::config::TlsSettings {
        cert_file: one.key_file.clone(),
        key_file: one.key_file.clone(),
    };
    let err = regent_host::tls::acceptor(&swapped)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("holds no certificate"), "{err}");
}

/// The OpenAPI document served, and every operation in it as
/// (method, path, operation).
async fn openapi_operations(app: &TestApp) -> Vec<(String, String, serde_json::Value)> {
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    assert!(operations.len() > 70, "every route is documented");
    operations
}

/// Schemathesis found 81 statuses the document did not list: no operation
/// listed 401, those with input no 400, those with a path id no 404. Each
/// operation now lists the shared errors its shape can give.
#[tokio::test]
async fn every_operation_documents_the_errors_its_shape_can_give() {
    let app = spawn(&[]).await;
    for (method, path, op) in openapi_operations(&app).await {
        let responses = op["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            assert!(has("401"), "{method} {path} lists no 401");
            assert!(has("403"), "{method} {path} lists no 403");
        }
        if !params.is_empty() || op.get("requestBody").is_some() {
            assert!(has("400"), "{method} {path} lists no 400");
        }
        if params.iter().any(|p| p["in"] == "path") {
            assert!(has("404"), "{method} {path} lists no 404");
        }
        if op.get("requestBody").is_some() {
            assert!(has("413"), "{method} {path} lists no 413");
        }
        // A query struct documented as path parameters made every listing
        // "require" a `limit` segment its route does not have.
        for p in &params {
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap();
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: `{name}` is not in the path"
                );
            }
        }
    }
    // The 401 the document promises is the one the server gives.
    let (status, body) = app
        .call(reqwest::Method::GET, "/api/audit", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
}

/// Schemathesis found `limit` outside the documented range accepted (the
/// document said 0..=2^31-1 and "in path"); now each listing documents
/// the range it enforces, and the server refuses anything else with 400.
#[tokio::test]
async fn every_limit_means_what_the_document_says() {
    let app = spawn(&[]).await;
    let mut checked = 0;
    for (method, path, op) in openapi_operations(&app).await {
        let Some(limit) = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        else {
            continue;
        };
        assert_eq!(method, "get");
        assert_eq!(limit["in"], "query", "{path}: `limit` is a query parameter");
        assert_ne!(limit["required"], true, "{path}: `limit` is optional");
        let min = limit["schema"]["minimum"].as_u64().unwrap();
        let max = limit["schema"]["maximum"].as_u64().unwrap();
        assert_eq!(min, 1, "{path}");
        for ok in [min, max] {
            let (status, body) = app.get(&format!("{path}?limit={ok}")).await;
            assert_eq!(status, StatusCode::OK, "{path}?limit={ok}: {body}");
        }
        for bad in [
            "0".to_string(),
            (max + 1).to_string(),
            "-1".into(),
            "1.5".into(),
            "ten".into(),
            u64::MAX.to_string(),
        ] {
            let (status, body) = app.get(&format!("{path}?limit={bad}")).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path}?limit={bad}: {body}"
            );
            assert_eq!(error_code(&body), "bad_request");
        }
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} listings take a limit");
}

/// Schemathesis found ids at the int64 extremes refused: every integer id
/// the document accepts is looked up, and one that names nothing is a 404.
#[tokio::test]
async fn integer_ids_at_the_int64_extremes_are_looked_up() {
    let app = spawn(&[]).await;
    let lead = app.token("lead", &["tech_lead"]).await;
    let mut checked = 0;
    for (method, path, op) in openapi_operations(&app).await {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let Some(id) = params
            .iter()
            .find(|p| p["in"] == "path" && p["schema"]["format"] == "int64")
        else {
            continue;
        };
        // A valid body, and a caller the route lets through to the lookup.
        let (body, token) = match op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
        {
            Some(r) if r.ends_with("/ResolveBody") => (json!({"resolution": "fixed"}), ADMIN),
            Some(r) if r.ends_with("/RejectBody") => {
                (json!({"role": "tech_lead", "reason": "no"}), lead.as_str())
            }
            Some(r) if r.ends_with("/ApproveBody") => (json!({"role": "tech_lead"}), lead.as_str()),
            _ => (serde_json::Value::Null, ADMIN),
        };
        for extreme in [i64::MAX, i64::MIN, 0] {
            let url = path.replace(
                &format!("{{{}}}", id["name"].as_str().unwrap()),
                &extreme.to_string(),
            );
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (!body.is_null()).then(|| body.to_string().into());
            let (status, reply) = app.call(method.clone(), &url, Some(token), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {reply}");
            assert_eq!(error_code(&reply), "not_found");
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} operations take an integer id");
}

/// A body schema's property from the served document, `$ref`s followed.
async fn property(app: &TestApp, schema: &str, field: &str) -> Value {
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let prop = doc["components"]["schemas"][schema]["properties"][field].clone();
    assert!(prop.is_object(), "{schema}.{field} is not documented");
    prop
}

/// Whether the document's `pattern` for a property matches `value`, as a
/// JSON Schema validator reads it (a search, not a full match).
fn pattern_matches(prop: &Value, value: &str) -> bool {
    let pattern = prop["pattern"].as_str().expect("a pattern");
    regex::Regex::new(pattern).unwrap().is_match(value)
}

/// Schemathesis sent blank reasons the document allowed and the server
/// refused. The document now says "not blank" (minLength and a pattern),
/// and the server refuses exactly that, changing nothing.
#[tokio::test]
async fn a_blank_reason_is_refused_and_the_document_says_so() {
    let app = spawn(&[]).await;
    let reason = property(&app, "ReasonBody", "reason").await;
    assert_eq!(reason["minLength"], 1);
    assert_eq!(reason["maxLength"], 1000);
    for blank in ["", " ", "\t\n ", "\u{3000}\u{a0}"] {
        assert!(
            !pattern_matches(&reason, blank),
            "{blank:?} fits the document"
        );
        let (status, body) = app
            .post(
                "/api/emergency-stop",
                json!({ "reason": blank }).to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{blank:?}: {body}");
    }
    let (_, stop) = app.get("/api/emergency-stop").await;
    assert_eq!(stop["active"], false, "a refused stop changed nothing");
    // 1000 characters is the documented limit, counted as characters.
    let long = "é".repeat(1000);
    assert!(pattern_matches(&reason, &long));
    let (status, body) = app
        .post("/api/emergency-stop", json!({ "reason": long }).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Schemathesis sent ids within the document's limits that the server
/// refused: it counted bytes where JSON Schema counts characters, and the
/// document said nothing of blanks or control characters.
#[tokio::test]
async fn ids_are_limited_in_characters_as_the_document_says() {
    let app = spawn(&[]).await;
    let id = property(&app, "NewAgent", "id").await;
    assert_eq!(id["minLength"], 1);
    assert_eq!(id["maxLength"], 128);
    let agent = |id: &str| {
        json!({"id": id, "capabilities": ["integration:sip"], "costPerHour": 1.0,
               "reputation": 0.5, "budget": 10.0})
        .to_string()
    };
    // 128 two-byte characters: 256 bytes, within the documented length.
    let wide = "é".repeat(128);
    assert!(pattern_matches(&id, &wide));
    let (status, body) = app.post("/api/agents", agent(&wide)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for bad in [
        "é".repeat(129),
        "bell\u{7}".into(),
        "line\n".into(),
        "   ".into(),
    ] {
        let too_long = bad.chars().count() > 128;
        assert!(
            too_long || !pattern_matches(&id, &bad),
            "{bad:?} fits the document"
        );
        let (status, body) = app.post("/api/agents", agent(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
    }
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(agents.as_array().unwrap().len(), 1, "only the valid agent");
    // Positive amounts are documented as such.
    assert_eq!(
        property(&app, "NewAgent", "budget").await["exclusiveMinimum"],
        0
    );
}

/// Schemathesis saw a 400 for setting the phase already held: the request
/// is well formed, the state just already is what it asks for. It is a
/// 409, and the document lists it.
#[tokio::test]
async fn setting_the_phase_already_held_is_a_documented_conflict() {
    let app = spawn(&[]).await;
    let (_, state) = app.get("/api/governance/state").await;
    let phase = state["phase"].clone();
    let (status, body) = app
        .send_as(
            reqwest::Method::PUT,
            ADMIN,
            "/api/governance/state/phase",
            &json!({ "phase": phase }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "conflict");
    let op = openapi_operations(&app)
        .await
        .into_iter()
        .find(|(m, p, _)| m == "put" && p == "/api/governance/state/phase")
        .unwrap()
        .2;
    assert!(op["responses"]["409"].is_object());
}

/// Schemathesis sent `start` equal to `end`, which no schema can forbid,
/// and got a 400. `[t, t)` is an empty window: every count is zero. An
/// inverted range is still refused.
#[tokio::test]
async fn an_empty_metrics_window_is_answered_with_zeros() {
    let app = spawn(&[]).await;
    let at = "2000-01-01T00:00:00Z";
    let (status, body) = app
        .get(&format!("/api/metrics/current?start={at}&end={at}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["commandsTotal"], 0);
    let (status, body) = app
        .get(&format!(
            "/api/metrics/current?start=2000-01-02T00:00:00Z&end={at}"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Schemathesis found schema-violating bodies accepted: serde reads a
/// struct from an array of its fields, and a whole number written `5.0`
/// (an integer to JSON Schema) was refused while 2^63 was stored.
#[tokio::test]
async fn bodies_mean_what_the_document_says() {
    let app = spawn(&[]).await;
    let reporter = app.token("reporter", &["reporter"]).await;
    // An array where the document says object.
    let (status, body) = app
        .post("/api/emergency-stop", json!(["an array"]).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("expected a JSON object"),
        "{body}"
    );
    let record = |id: &str, duration: Value| {
        json!({"id": id, "commandType": "deploy", "status": "succeeded",
               "requiredApproval": false, "autonomous": false, "durationMs": duration})
    };
    let (status, body) = app
        .post_as(&reporter, "/api/commands", &json!([["c0", "deploy"]]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .post_as(&reporter, "/api/commands", &record("c1", json!(5.0)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_as(&reporter, "/api/commands", &record("c2", json!(1u64 << 63)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A step's detail is an object, as documented.
    let (status, body) = app
        .post(
            "/api/workflows",
            json!({"id": "w1", "name": "w", "agentId": "a1"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/api/workflows/w1/steps",
            json!({"name": "s", "status": "started", "detail": [1, 2]}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Every reply carries the request's id: the caller's own `x-request-id`
/// echoed, or one made up for it, different for each request (errors and
/// unknown routes included).
#[tokio::test]
async fn every_reply_carries_a_request_id() {
    let app = spawn(&[]).await;
    let id_of = |resp: &reqwest::Response| {
        resp.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let resp = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(id_of(&resp).as_deref(), Some("trace-me-42"), "echoed");

    let mut made = std::collections::BTreeSet::new();
    for path in [
        "/health",
        "/health",
        "/api/nowhere",
        "/api/plugins/nothing-here",
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let id = id_of(&resp).unwrap_or_else(|| panic!("{path}: no x-request-id"));
        assert!(!id.is_empty(), "{path}");
        made.insert(id);
    }
    assert_eq!(made.len(), 4, "one new id per request: {made:?}");
}
