//! The console's back end, attacked over HTTP: its session cookie, the CSRF
//! token every state change of a cookie session needs, sign-out and
//! revocation ending a session on the server, the live stream an open
//! overview follows, and the embedded pages with their security headers.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use regent_host::api::auth::hash_token;
use regent_host::domain::Timestamp;
use regent_host::storage::prelude::*;
use regent_tests::app::{error_message, TestApp, ADMIN};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// A console session: the cookie a browser would send, and its CSRF token.
struct Console {
    cookie: String,
    csrf: String,
    reply: Value,
}

/// `POST /api/session` with `body`; the status, the `Set-Cookie` header
/// and the reply.
async fn post_session(
    app: &TestApp,
    body: &str,
    origin: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/session", app.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    (status, cookie, response.json().await.unwrap_or(Value::Null))
}

async fn sign_in(app: &TestApp, token: &str) -> Console {
    let (status, set_cookie, reply) =
        post_session(app, &json!({ "token": token }).to_string(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let set_cookie = set_cookie.expect("a session cookie");
    let cookie = set_cookie.split(';').next().unwrap().trim().to_string();
    assert!(cookie.starts_with("regent_session=rgs_"), "{set_cookie}");
    Console {
        cookie,
        csrf: reply["csrfToken"].as_str().unwrap().to_string(),
        reply,
    }
}

/// A request authenticated by the session cookie alone, with `csrf` in
/// `X-CSRF-Token` when given.
async fn as_console(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header(header::COOKIE, cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stop_active(app: &TestApp) -> bool {
    let (status, body) = app.get("/api/emergency-stop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["active"].as_bool().unwrap()
}

/// A person's token holding `roles` (a viewer alone is a system principal
/// by default; the console takes it all the same).
async fn person(app: &TestApp, name: &str, roles: &[&str]) -> (String, i64) {
    let (status, body) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": name, "roles": roles, "kind": "person"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["token"].as_str().unwrap().to_string(),
        body["id"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_cookie_session_changes_nothing_without_its_csrf_token() {
    let app = TestApp::spawn().await;
    let (ops_token, _) = person(&app, "ops", &["operator"]).await;
    let (viewer_token, _) = person(&app, "vera", &["viewer"]).await;
    let ops = sign_in(&app, &ops_token).await;
    let viewer = sign_in(&app, &viewer_token).await;
    let stop = || Some(json!({"reason": "forged from another site"}));

    // What a forged form post from another site would send: the cookie,
    // and no CSRF token.
    let (status, body) = as_console(
        &app,
        Method::POST,
        "/api/emergency-stop",
        &ops.cookie,
        None,
        stop(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        error_message(&body),
        "a request authenticated by the console's session cookie must carry the X-CSRF-Token header from GET /api/session"
    );
    assert!(!stop_active(&app).await, "the forged stop was applied");

    // A guessed token, or another session's, is as good as none.
    for wrong in ["0".repeat(64), viewer.csrf.clone()] {
        let (status, body) = as_console(
            &app,
            Method::POST,
            "/api/emergency-stop",
            &ops.cookie,
            Some(&wrong),
            stop(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(!stop_active(&app).await);
    }

    // The right token does not lift the roles: a viewer cannot stop.
    let (status, body) = as_console(
        &app,
        Method::POST,
        "/api/emergency-stop",
        &viewer.cookie,
        Some(&viewer.csrf),
        stop(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error_message(&body).contains("`operator`"), "{body}");
    assert!(!stop_active(&app).await);

    // Reading needs no CSRF token.
    let (status, body) = as_console(
        &app,
        Method::GET,
        "/api/emergency-stop",
        &viewer.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The operator's own page, with its token: stopped, by the operator.
    let (status, body) = as_console(
        &app,
        Method::POST,
        "/api/emergency-stop",
        &ops.cookie,
        Some(&ops.csrf),
        Some(json!({"reason": "pressed in the console"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(stop_active(&app).await);
    assert_eq!(body["by"], "ops");
}

#[tokio::test]
async fn sign_out_and_revocation_end_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let (token, token_id) = person(&app, "olga", &["operator"]).await;
    let console = sign_in(&app, &token).await;

    let (status, body) = as_console(
        &app,
        Method::GET,
        "/api/session",
        &console.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["principal"], "olga");
    assert_eq!(body["credential"], "token");
    assert_eq!(body["roles"], json!(["operator"]));
    assert_eq!(body["csrfToken"], console.reply["csrfToken"]);

    // Signing out needs the CSRF token too, like every change.
    let (status, _) = as_console(
        &app,
        Method::DELETE,
        "/api/session",
        &console.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = app
        .client
        .delete(format!("{}/api/session", app.base))
        .header(header::COOKIE, &console.cookie)
        .header("x-csrf-token", &console.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("regent_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The old cookie, replayed, is worth nothing: the session ended on
    // the server, not only in the browser.
    for (method, csrf) in [(Method::GET, None), (Method::DELETE, Some(&console.csrf))] {
        let (status, body) = as_console(
            &app,
            method,
            "/api/session",
            &console.cookie,
            csrf.map(String::as_str),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }

    // Revoking the token ends the sessions signed in with it.
    let again = sign_in(&app, &token).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/tokens/{token_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_console(
        &app,
        Method::GET,
        "/api/governance/state",
        &again.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Each start and the end are in the audit log, by the person.
    let (_, audit) = app.get("/api/audit?limit=20").await;
    let sessions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("session."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sessions
            .iter()
            .filter(|s| **s == ("session.start", "olga"))
            .count(),
        2,
        "{sessions:?}"
    );
    assert!(sessions.contains(&("session.end", "olga")), "{sessions:?}");
    assert!(
        !audit
            .to_string()
            .contains(console.cookie.trim_start_matches("regent_session=")),
        "the session secret reached the audit log"
    );
}

#[tokio::test]
async fn sign_in_sets_a_strict_cookie_only_for_a_person_with_a_valid_token() {
    let app = TestApp::spawn().await;
    let (ops, _) = person(&app, "oscar", &["operator"]).await;

    let (status, cookie, body) =
        post_session(&app, &json!({"token": "rgt_not-a-token"}).to_string(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(cookie, None, "a refused sign-in set a cookie");

    let reporter = app.token("ingest", &["reporter"]).await;
    let (status, cookie, body) =
        post_session(&app, &json!({"token": reporter}).to_string(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error_message(&body).contains("`reporter`"), "{body}");
    assert_eq!(cookie, None);

    for malformed in [
        "",
        "{",
        "[]",
        r#"{"token": 1}"#,
        r#"{"token": "x", "extra": 1}"#,
    ] {
        let (status, cookie, body) = post_session(&app, malformed, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}: {body}");
        assert_eq!(cookie, None);
    }

    // A page of another site cannot sign the browser in as anyone.
    let (status, cookie, body) = post_session(
        &app,
        &json!({"token": ops}).to_string(),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(cookie, None);
    // The console's own page may.
    let own = app.base.clone();
    let (status, _, body) =
        post_session(&app, &json!({"token": ops}).to_string(), Some(own.as_str())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, set_cookie, body) =
        post_session(&app, &json!({"token": ops}).to_string(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let set_cookie = set_cookie.unwrap();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(attributes.contains(&wanted), "{wanted}: {set_cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "no TLS here: {set_cookie}");
    assert_eq!(body["principal"], "oscar");
    assert_eq!(body["kind"], "person");
    assert_eq!(body["credential"], "token");
    let expires: Timestamp = serde_json::from_value(body["expiresAt"].clone()).unwrap();
    let in_8h = Timestamp::now().millis() + 8 * 3_600_000;
    assert!((expires.millis() - in_8h).abs() < 60_000, "{body}");
    assert_eq!(body["csrfToken"].as_str().unwrap().len(), 64);

    // A bearer token has no console session to show.
    let (status, body) = app.get("/api/session").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("no console session"),
        "{body}"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_server_speaks_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert = regent_tests::tls::TestCert::generate(dir.path(), "server");
    let app = TestApp::spawn_with(&[], false, |c| c.tls = Some(cert.settings())).await;
    let (ops, _) = person(&app, "sol", &["operator"]).await;
    let (status, set_cookie, body) =
        post_session(&app, &json!({"token": ops}).to_string(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let set_cookie = set_cookie.unwrap();
    assert!(
        set_cookie.split(';').any(|a| a.trim() == "Secure"),
        "{set_cookie}"
    );
}

/// Reads server-sent events from `response` until one satisfies `wanted`
/// or `within` passes; returns the matching event's data.
async fn next_control_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut name = None;
            let mut data = String::new();
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if name.as_deref() == Some("control") {
                let view: Value = serde_json::from_str(&data).unwrap();
                if wanted(&view) {
                    return Some(view);
                }
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn a_stop_made_through_the_api_reaches_an_open_stream_within_2s() {
    let app = TestApp::spawn().await;
    let (viewer, _) = person(&app, "wendy", &["viewer"]).await;
    let console = sign_in(&app, &viewer).await;
    let mut stream = app
        .client
        .get(format!("{}/api/stream", app.base))
        .header(header::COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buffer = String::new();
    let first = next_control_event(&mut stream, &mut buffer, Duration::from_secs(5), |_| true)
        .await
        .expect("a control event at once");
    assert_eq!(first["phase"], "L3");
    assert_eq!(first["emergencyStop"]["active"], false);
    assert_eq!(first["pausedWorkflows"], 0);
    assert_eq!(first["unresolvedBreakerEvents"], 0);
    assert_eq!(first["fault"], Value::Null);
    assert!(first["phaseStartedAt"].is_string(), "{first}");

    let seen = stop_and_follow(&app, &mut stream, &mut buffer, "from the CLI")
        .await
        .expect("the stop reached the stream within 2 s");
    assert_eq!(seen["emergencyStop"]["by"], "test-admin");
    assert_eq!(seen["emergencyStop"]["reason"], "from the CLI");
    assert!(seen["emergencyStop"]["at"].is_string(), "{seen}");

    // No token, no stream.
    let (status, _) = app.call(Method::GET, "/api/stream", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn on_postgres_a_stop_through_one_replica_reaches_a_stream_on_another() {
    let database = regent_tests::cluster::TestDatabase::create();
    let url = database.url.clone();
    // The admin token exists in the shared database before either starts.
    let seed = url.clone();
    tokio::task::spawn_blocking(move || {
        let store = regent_host::storage::PostgresStore::connect(
            &seed,
            regent_host::storage::PostgresOptions::default(),
        )
        .unwrap();
        store
            .ensure_admin_token("test-admin", &hash_token(ADMIN), Timestamp::now())
            .unwrap();
    })
    .await
    .unwrap();
    let on_postgres = |url: String| {
        move |c: &mut regent_host::config::ServeConfig| {
            c.database_url = Some(url);
        }
    };
    let first = TestApp::spawn_with(&[], false, on_postgres(url.clone())).await;
    let second = TestApp::spawn_with(&[], false, on_postgres(url)).await;

    let (viewer, _) = person(&first, "pat", &["viewer"]).await;
    // Signed in on the first, followed on the second: one shared store.
    let console = sign_in(&first, &viewer).await;
    let mut stream = second
        .client
        .get(format!("{}/api/stream", second.base))
        .header(header::COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut buffer = String::new();
    let open = next_control_event(&mut stream, &mut buffer, Duration::from_secs(5), |_| true)
        .await
        .expect("a control event at once");
    assert_eq!(open["emergencyStop"]["active"], false);

    let seen = stop_and_follow(&first, &mut stream, &mut buffer, "replica one").await;
    assert!(
        seen.is_some(),
        "the stop did not reach the other replica's stream within 2 s"
    );
}

/// Stops through `app` with the admin token, and returns the stream's
/// first control event showing the stop if it came within 2 s of the call.
async fn stop_and_follow(
    app: &TestApp,
    stream: &mut reqwest::Response,
    buffer: &mut String,
    reason: &str,
) -> Option<Value> {
    let stopped_at = Instant::now();
    let (status, body) = app
        .post_as(ADMIN, "/api/emergency-stop", &json!({"reason": reason}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = next_control_event(stream, buffer, Duration::from_secs(2), |v| {
        v["emergencyStop"]["active"] == true
    })
    .await?;
    (stopped_at.elapsed() < Duration::from_secs(2)).then_some(seen)
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_its_security_headers() {
    let app = TestApp::spawn().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()[header::LOCATION], "/console/");

    let response = app
        .client
        .get(format!("{}/console/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();

    // No inline script the policy would have to allow: every script
    // element loads a file.
    let lower = html.to_ascii_lowercase();
    let scripts: Vec<&str> = lower.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "index.html loads no script");
    for script in &scripts {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
        let body = &script[script.find('>').unwrap() + 1..];
        assert!(
            body.trim_start().starts_with("</script"),
            "a script with a src and a body"
        );
    }
    // Nor an inline event handler (`onclick=`), which would need it too.
    let handler = regex::Regex::new(r"<[^>]*\son[a-z]+\s*=").unwrap();
    assert!(!handler.is_match(&lower), "an inline event handler");
    // Nothing from another origin: no CDN, no external font. (An XML
    // namespace, as inline SVG names, is an identifier, never fetched.)
    let urls = regex::Regex::new(r"https?://[^\s\x22'<>)]*").unwrap();
    let foreign: Vec<&str> = urls
        .find_iter(&lower)
        .map(|m| m.as_str())
        .filter(|u| !u.starts_with("http://www.w3.org/"))
        .collect();
    assert!(
        foreign.is_empty(),
        "index.html names another origin: {foreign:?}"
    );

    // Every file the page loads is there, with its type and the headers.
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            let path = &part[..part.find('"').unwrap()];
            if !path.starts_with("/console/") {
                continue;
            }
            let response = app
                .client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
            for (extension, wanted) in [(".js", "text/javascript"), (".css", "text/css")] {
                if path.ends_with(extension) {
                    assert!(content_type.starts_with(wanted), "{path}: {content_type}");
                }
            }
            assert!(response.headers().contains_key("content-security-policy"));
        }
    }
    let response = app
        .client
        .get(format!("{}/console/app.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );

    let (status, _) = app.text("/console/no-such-file.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.text("/console/../Cargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The console's pages are not API routes.
    let (_, doc) = app.get("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.starts_with("/console")),
        "{:?}",
        paths.keys()
    );
    for route in ["/api/session", "/api/stream"] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
}

// ---- signing in with the identity provider --------------------------------

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "regent";

/// A signing key made for this run, and its key set.
struct Idp {
    encoding: EncodingKey,
    jwks: Value,
}

impl Idp {
    fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing.to_pkcs8_der().unwrap();
        Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwks: json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "k1",
                "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }]}),
        }
    }

    fn jwt(&self, sub: &str, roles: &[&str], expires_in_s: i64) -> String {
        let now = Timestamp::now().millis() / 1000;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": roles,
                            "iat": now, "exp": now + expires_in_s});
        encode(&header, &claims, &self.encoding).unwrap()
    }
}

#[tokio::test]
async fn a_person_signs_in_with_the_identity_providers_jwt_until_it_expires() {
    let idp = Idp::generate();
    let dir = tempfile::tempdir().unwrap().keep();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, idp.jwks.to_string()).unwrap();
    let oidc: regent_host::oidc::OidcConfig = toml::from_str(&format!(
        "issuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\nleeway_s = 5\n",
        jwks.display()
    ))
    .unwrap();
    let app = TestApp::spawn_with(&[], false, move |c| c.auth.oidc = Some(oidc)).await;

    // The session ends with the JWT, not 8 hours later.
    let jwt = idp.jwt("tess", &["tech_lead", "viewer"], 120);
    let console = sign_in(&app, &jwt).await;
    assert_eq!(console.reply["principal"], "tess");
    assert_eq!(console.reply["credential"], "oidc");
    assert_eq!(console.reply["roles"], json!(["viewer", "tech_lead"]));
    let expires: Timestamp = serde_json::from_value(console.reply["expiresAt"].clone()).unwrap();
    assert!(
        expires.millis() <= Timestamp::now().millis() + 121_000,
        "{}",
        console.reply
    );
    let (status, body) = as_console(
        &app,
        Method::GET,
        "/api/session",
        &console.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["viewer", "tech_lead"]));

    // A tampered JWT is 401; the monitoring system's role gets no session.
    let mut forged = idp.jwt("tess", &["admin"], 120);
    forged.push('x');
    let (status, cookie, body) =
        post_session(&app, &json!({"token": forged}).to_string(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(cookie, None);
    let scraper = idp.jwt("prom", &["scraper"], 120);
    let (status, cookie, body) =
        post_session(&app, &json!({"token": scraper}).to_string(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(cookie, None);

    // A local approver token signs in, but approves nothing with OIDC on.
    let store = regent_host::storage::SqliteStore::open(&app.db_path).unwrap();
    let request = regent_host::domain::auth::TokenRequest {
        name: "legacy".into(),
        roles: vec![
            regent_host::domain::auth::Role::Viewer,
            regent_host::domain::auth::Role::OpsLead,
        ],
        principal: "legacy".into(),
        principal_named: true,
        kind: regent_host::domain::auth::PrincipalKind::Person,
        agent: None,
    };
    store
        .create_token(
            &request,
            &hash_token("rgt_legacy"),
            "test",
            Timestamp::now(),
        )
        .unwrap();
    let legacy = sign_in(&app, "rgt_legacy").await;
    assert_eq!(legacy.reply["roles"], json!(["viewer"]));
}
