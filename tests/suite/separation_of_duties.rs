//! Separation of duties, attacked over HTTP: the governed system can never
//! govern itself. People sign in with the identity provider's JWTs; each
//! required role needs a different person; reporters and agents never
//! attest; the admin cannot raise the phase; a bound agent cannot step
//! around a pause or a tripped breaker by leaving out or changing ids.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use regent_host::api::auth::hash_token;
use regent_host::domain::auth::{PrincipalKind, Role, TokenRequest};
use regent_host::domain::Timestamp;
use regent_host::oidc::OidcConfig;
use regent_host::storage::prelude::*;
use regent_host::storage::AttestationRecord;
use regent_tests::app::{error_code, error_message, start_at, TestApp, ADMIN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;
const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "regent";

/// A signing key made for this test run, and its public half as a JWK.
struct IdpKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl IdpKey {
    fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing.to_pkcs8_der().unwrap();
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }),
        }
    }

    /// A JWT for `sub` with `roles`, signed by this key under `kid`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

fn now_s() -> i64 {
    Timestamp::now().millis() / 1000
}

fn person(sub: &str, roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": roles,
           "iat": now_s(), "exp": now_s() + 600})
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

/// A server whose people sign in with JWTs checked against `key`'s JWKS
/// file, adopted at `phase` 30 days ago.
async fn spawn_with_idp(key: &IdpKey, phase: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let oidc = oidc_config(&jwks);
    let phase = phase.to_string();
    TestApp::spawn_with(&[], false, move |c| {
        c.auth.oidc = Some(oidc);
        start_at(c, &phase, 30 * DAY_MS);
    })
    .await
}

fn oidc_config(jwks: &Path) -> OidcConfig {
    toml::from_str(&format!(
        "issuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\nleeway_s = 5\n",
        jwks.display()
    ))
    .unwrap()
}

fn expect_401(reply: &(StatusCode, Value), why: &str) {
    assert_eq!(reply.0, StatusCode::UNAUTHORIZED, "{why}: {}", reply.1);
    assert_eq!(error_code(&reply.1), "unauthorized", "{why}");
}

// 1 ---------------------------------------------------------------------------

#[tokio::test]
async fn people_sign_in_with_the_identity_providers_jwts_and_bad_ones_get_401() {
    let key = IdpKey::generate("k1");
    let app = spawn_with_idp(&key, "L3").await;

    let alice = key.sign(&person("alice", &["tech_lead", "reporter", "no_such_role"]));
    let (s, state) = app.get_as(&alice, "/api/governance/state").await;
    assert_eq!(s, StatusCode::OK, "{state}");
    let (s, a) = app
        .post_as(
            &alice,
            "/api/attestations",
            &json!({"key": "architecture_docs"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["attestedBy"], "alice", "the principal is the `sub` claim");
    assert_eq!(a["role"], "tech_lead");
    // `reporter` is the governed system's role: never granted through OIDC.
    let (s, b) = app
        .post_as(
            &alice,
            "/api/authorize",
            &json!({"commandType": "SET_POWER"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    let expired = key.sign(&with(
        person("alice", &["tech_lead"]),
        json!({"exp": now_s() - 3600}),
    ));
    let not_yet = key.sign(&with(
        person("alice", &["tech_lead"]),
        json!({"nbf": now_s() + 3600}),
    ));
    let wrong_aud = key.sign(&with(
        person("alice", &["tech_lead"]),
        json!({"aud": "other"}),
    ));
    let wrong_iss = key.sign(&with(
        person("alice", &["tech_lead"]),
        json!({"iss": "https://evil.example"}),
    ));
    let unknown_kid = key.sign_as("k-unknown", &person("alice", &["tech_lead"]));
    // Signed by another key under the known kid: the signature fails.
    let forged = IdpKey::generate("k1").sign(&person("mallory", &["exec_sponsor"]));
    for (token, why, says) in [
        (&expired, "expired", "expired"),
        (&not_yet, "not valid yet", "not valid"),
        (&wrong_aud, "wrong audience", "audience"),
        (&wrong_iss, "wrong issuer", "issuer"),
        (&unknown_kid, "unknown kid", "k-unknown"),
        (&forged, "bad signature", "signature"),
    ] {
        let reply = app.get_as(token, "/api/governance/state").await;
        expect_401(&reply, why);
        let msg = error_message(&reply.1).to_lowercase();
        assert!(msg.contains(says), "{why}: {msg}");
    }

    // Approver roles now come only from the identity provider.
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "fake-sponsor", "roles": ["exec_sponsor"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        error_message(&b).contains("approver roles come from the identity provider"),
        "{b}"
    );
    // A local approver token minted before OIDC was configured approves and
    // attests nothing now.
    let legacy = "rgt_minted-before-oidc";
    mint_behind_the_rules(
        &app,
        legacy,
        "old-sponsor",
        &[Role::ExecSponsor, Role::Viewer],
        PrincipalKind::Person,
    );
    let (s, _) = app.get_as(legacy, "/api/governance/state").await;
    assert_eq!(s, StatusCode::OK, "its viewer role still reads");
    let (s, b) = app
        .post_as(
            legacy,
            "/api/attestations",
            &json!({"key": "stakeholder_signoff"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // Machines keep local tokens, each naming its principal.
    let (s, t) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "scraper", "roles": ["viewer"], "principal": "prometheus"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["principal"].as_str(), t["kind"].as_str()),
        (Some("prometheus"), Some("system"))
    );
}

/// A token written straight to the store, past today's token rules, as an
/// older release or a hand-edited database could have left it.
fn mint_behind_the_rules(
    app: &TestApp,
    secret: &str,
    name: &str,
    roles: &[Role],
    kind: PrincipalKind,
) {
    regent_host::storage::SqliteStore::open(&app.db_path)
        .unwrap()
        .create_token(
            &TokenRequest {
                name: name.into(),
                roles: roles.to_vec(),
                principal: name.into(),
                principal_named: true,
                kind,
                agent: None,
            },
            &hash_token(secret),
            "test",
            Timestamp::now(),
        )
        .unwrap();
}

async fn register_agent(app: &TestApp, id: &str) {
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/agents",
            &json!({"id": id, "capabilities": ["ops:fix"], "costPerHour": 1.0, "reputation": 0.9, "budget": 100.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

// 2 ---------------------------------------------------------------------------

#[tokio::test]
async fn each_required_role_is_approved_by_a_different_person() {
    let key = IdpKey::generate("k1");
    let app = spawn_with_idp(&key, "L3+").await;
    let id = app.propose("L3+", "L4", &["tech_lead", "ops_lead"]);
    let path = format!("/api/governance/proposals/{id}/approve");
    let lee = key.sign(&person("lee", &["tech_lead", "ops_lead"]));
    let omar = key.sign(&person("omar", &["ops_lead"]));

    let (s, p) = app
        .post_as(&lee, &path, &json!({"role": "tech_lead"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // The attack: the same person approving under the second role.
    let (s, b) = app.post_as(&lee, &path, &json!({"role": "ops_lead"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        error_message(&b).contains("`lee` has already approved proposal")
            && error_message(&b).contains("as `tech_lead`"),
        "{b}"
    );
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L3+", "one person moved nothing");
    // Nor can the admin stand in for a missing approver.
    let (s, _) = app
        .post_as(ADMIN, &path, &json!({"role": "ops_lead"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, p) = app
        .post_as(&omar, &path, &json!({"role": "ops_lead"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "approved");
    let (_, p) = app.get(&format!("/api/governance/proposals/{id}")).await;
    let approvals: Vec<(&str, &str)> = p["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a["at"].is_string(), "{a}");
            (a["by"].as_str().unwrap(), a["role"].as_str().unwrap())
        })
        .collect();
    assert_eq!(approvals, [("lee", "tech_lead"), ("omar", "ops_lead")]);
    let (_, state) = app.get("/api/governance/state").await;
    assert_eq!(state["phase"], "L4");

    // A reject by any required role still rejects, even after approvals.
    let id = app.propose("L4", "L4+", &["tech_lead", "ops_lead", "product_lead"]);
    let (s, _) = app
        .post_as(
            &lee,
            &format!("/api/governance/proposals/{id}/approve"),
            &json!({"role": "tech_lead"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app
        .post_as(
            &omar,
            &format!("/api/governance/proposals/{id}/reject"),
            &json!({"role": "ops_lead", "reason": "on-call is thin this month"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "rejected");
    assert_eq!(p["rejection"]["by"], "omar");
    // The audit log names the people, not the tokens.
    let (_, audit) = app.get("/api/audit?limit=100").await;
    let approvers: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "proposal.approve")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["lee", "omar", "lee"]);
}

#[tokio::test]
async fn two_local_tokens_of_one_principal_count_once() {
    let app = TestApp::spawn_at("L3+", 30 * DAY_MS).await;
    let id = app.propose("L3+", "L4", &["tech_lead", "ops_lead"]);
    let path = format!("/api/governance/proposals/{id}/approve");
    let mut tokens = vec![];
    for (name, role) in [("lee-desk", "tech_lead"), ("lee-laptop", "ops_lead")] {
        let (s, t) = app
            .post_as(
                ADMIN,
                "/api/tokens",
                &json!({"name": name, "roles": [role], "principal": "lee"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        assert_eq!(
            (t["principal"].as_str(), t["kind"].as_str()),
            (Some("lee"), Some("person"))
        );
        tokens.push(t["token"].as_str().unwrap().to_string());
    }
    let (s, _) = app
        .post_as(&tokens[0], &path, &json!({"role": "tech_lead"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .post_as(&tokens[1], &path, &json!({"role": "ops_lead"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // A token from before the token rules, holding `reporter` beside an
    // approver role, still cannot decide on the system's own expansion.
    let legacy = "rgt_reporter-and-ops-lead";
    mint_behind_the_rules(
        &app,
        legacy,
        "command-service",
        &[Role::Reporter, Role::OpsLead],
        PrincipalKind::System,
    );
    for (verb, body) in [
        ("approve", json!({"role": "ops_lead"})),
        ("reject", json!({"role": "ops_lead", "reason": "mine"})),
    ] {
        let (s, b) = app
            .post_as(
                legacy,
                &format!("/api/governance/proposals/{id}/{verb}"),
                &body,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{verb}: {b}");
        assert!(error_message(&b).contains("governed system"), "{b}");
    }
}

// 3 ---------------------------------------------------------------------------

async fn item(app: &TestApp, id: &str) -> Value {
    let (s, r) = app.get("/api/readiness/current").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {r}"))
        .clone()
}

#[tokio::test]
async fn the_governed_system_cannot_vouch_for_its_own_readiness() {
    let app = TestApp::spawn().await;
    register_agent(&app, "a1").await;
    let reporter = app.token("command-service", &["reporter"]).await;
    let agent = bound_token(&app, "a1").await;
    let operator = app.token("olga", &["operator"]).await;
    for (token, who) in [
        (&reporter, "reporter"),
        (&agent, "agent"),
        (&operator, "operator"),
        (&ADMIN.to_string(), "admin"),
    ] {
        let (s, b) = app
            .post_as(token, "/api/attestations", &json!({"key": "runbooks"}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who}: {b}");
    }
    assert_eq!(item(&app, "runbooks").await["passed"], false);
    // Nor can one token be both the governed system and a governor.
    let (s, b) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": "two-faced", "roles": ["reporter", "ops_lead"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(error_message(&b).contains("cannot govern itself"), "{b}");

    // A reporter's attestation from before roles were enforced, still in
    // the store, never reaches the checklist.
    regent_host::storage::SqliteStore::open(&app.db_path)
        .unwrap()
        .create_attestation(&AttestationRecord {
            id: 0,
            key: "runbooks".into(),
            attested_by: "command-service".into(),
            token_id: 0,
            role: Role::Reporter,
            attested_at: Timestamp::now(),
            expires_at: None,
            evidence_url: None,
            accepted_by: vec![],
        })
        .unwrap();
    assert_eq!(item(&app, "runbooks").await["passed"], false);

    // An attestation by a role the item does not accept does not count,
    // and the item says whose is needed.
    let tech = app.token("tess", &["tech_lead"]).await;
    let (s, a) = app
        .post_as(&tech, "/api/attestations", &json!({"key": "runbooks"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["acceptedBy"], json!([]), "{a}");
    let runbooks = item(&app, "runbooks").await;
    assert_eq!(runbooks["passed"], false, "{runbooks}");
    assert!(
        runbooks["detail"].as_str().unwrap().contains("ops_lead"),
        "{runbooks}"
    );
    let ops = app.token("omar", &["ops_lead"]).await;
    let (s, a) = app
        .post_as(&ops, "/api/attestations", &json!({"key": "runbooks"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["acceptedBy"], json!(["runbooks"]), "{a}");
    assert_eq!(item(&app, "runbooks").await["passed"], true);
    let (_, list) = app.get_as(&reporter, "/api/attestations").await;
    let by: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attestedBy"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("command-service", "reporter"),
            ("tess", "tech_lead"),
            ("omar", "ops_lead")
        ]
    );
}

// 4 ---------------------------------------------------------------------------

async fn bound_token(app: &TestApp, agent: &str) -> String {
    let (s, t) = app
        .post_as(
            ADMIN,
            "/api/tokens",
            &json!({"name": format!("{agent}-token"), "roles": ["reporter"], "agentId": agent}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["agentId"], agent);
    assert_eq!(t["kind"], "system");
    t["token"].as_str().unwrap().to_string()
}

async fn authorize(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post_as(token, "/api/authorize", &body).await
}

#[tokio::test]
async fn a_bound_agent_cannot_escape_a_pause_or_a_tripped_breaker() {
    let app = TestApp::spawn_at("L4", DAY_MS).await;
    for id in ["a1", "a2"] {
        register_agent(&app, id).await;
    }
    // Binding checks: an agent that exists, and only machine roles.
    for (body, says) in [
        (
            json!({"name": "x", "roles": ["reporter"], "agentId": "ghost"}),
            "no agent `ghost`",
        ),
        (
            json!({"name": "x", "roles": ["reporter", "operator"], "agentId": "a1"}),
            "cannot govern itself",
        ),
        (
            json!({"name": "x", "roles": ["viewer"], "agentId": "a1"}),
            "needs the `reporter` role",
        ),
    ] {
        let (s, b) = app.post_as(ADMIN, "/api/tokens", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(error_message(&b).contains(says), "{b}");
    }
    let a1 = bound_token(&app, "a1").await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let operator = app.token("olga", &["operator"]).await;

    // Workflows: a body naming no agent is the bound one; another is 403.
    let (s, w) = app
        .post_as(
            &a1,
            "/api/workflows",
            &json!({"id": "w1", "name": "fix drums"}),
        )
        .await;
    assert_eq!(
        (s, w["agentId"].as_str()),
        (StatusCode::CREATED, Some("a1")),
        "{w}"
    );
    let (s, b) = app
        .post_as(
            &a1,
            "/api/workflows",
            &json!({"id": "w2", "name": "x", "agentId": "a2"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = app
        .post_as(
            &fleet,
            "/api/workflows",
            &json!({"id": "w9", "name": "theirs", "agentId": "a2"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post_as(
            &a1,
            "/api/workflows",
            &json!({"id": "w3", "name": "other work"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app
        .post_as(
            &a1,
            "/api/workflows/w9/steps",
            &json!({"name": "meddle", "status": "started"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = app
        .post_as(
            &a1,
            "/api/agents/a2/costs",
            &json!({"operation": "x", "cost": 1.0}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = app
        .post_as(&a1, "/api/agents/a2/failures", &json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    let (s, _) = app
        .post_as(
            &operator,
            "/api/workflows/w1/pause",
            &json!({"reason": "drum alarms"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The attacks on the pause: say nothing, name a made-up workflow.
    for body in [
        json!({"commandType": "SET_POWER"}),
        json!({"commandType": "SET_POWER", "workflowId": "made-up"}),
    ] {
        let (s, r) = authorize(&app, &a1, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["decision"], "denied", "{body}: {r}");
        assert!(
            r["reasons"][0]
                .as_str()
                .unwrap()
                .contains("paused workflow(s) `w1`"),
            "{r}"
        );
    }
    // Name another agent, or its workflow: refused outright.
    for body in [
        json!({"commandType": "SET_POWER", "agentId": "a2"}),
        json!({"commandType": "SET_POWER", "workflowId": "w9"}),
    ] {
        let (s, b) = authorize(&app, &a1, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}: {b}");
    }
    // Its own running workflow goes on.
    let (_, r) = authorize(
        &app,
        &a1,
        json!({"commandType": "SET_POWER", "workflowId": "w3"}),
    )
    .await;
    assert_eq!(r["decision"], "autonomous", "{r}");
    // The same silent call from an unbound token is braked only by what it
    // names, and the log marks it unbound.
    let (_, r) = authorize(
        &app,
        &fleet,
        json!({"commandType": "SET_POWER", "agentId": "a1"}),
    )
    .await;
    assert_eq!(r["decision"], "autonomous", "{r}");

    let (_, log) = app.get("/api/decisions?limit=10").await;
    let log = log.as_array().unwrap();
    assert_eq!(log[0]["unbound"], true, "{:?}", log[0]);
    assert_eq!(log[0]["caller"], "fleet");
    assert_eq!(log[1]["unbound"], false);
    assert_eq!(log[1]["agentId"], "a1", "a bound call is the agent's");
    assert_eq!(log[1]["caller"], "a1-token");
    assert_eq!(
        log[2]["agentId"], "a1",
        "attributed though the body named none"
    );
    let (_, text) = app.text("/metrics").await;
    assert!(
        text.contains("regent_authorize_unbound_decisions_total{decision=\"autonomous\"} 1"),
        "{text}"
    );
    regent_tests::promtool_check_metrics(&text);

    // A tripped breaker holds whatever the call names or leaves out.
    let (s, _) = app
        .post_as(
            &operator,
            "/api/workflows/w1/resume",
            &json!({"reason": "fixed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post_as(
            &operator,
            "/api/agents/a1/breaker/trip",
            &json!({"reason": "runaway"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for body in [
        json!({"commandType": "SET_POWER"}),
        json!({"commandType": "SET_POWER", "workflowId": "w3"}),
    ] {
        let (_, r) = authorize(&app, &a1, body).await;
        assert_eq!(r["decision"], "denied", "{r}");
        assert!(
            r["reasons"].to_string().contains("breaker is tripped"),
            "{r}"
        );
    }
}

#[tokio::test]
async fn require_bound_agents_refuses_unbound_authorize_calls() {
    let app = TestApp::spawn_with(&[], false, |c| c.auth.require_bound_agents = true).await;
    register_agent(&app, "a1").await;
    let fleet = app.token("fleet", &["reporter"]).await;
    let (s, b) = authorize(
        &app,
        &fleet,
        json!({"commandType": "SET_POWER", "agentId": "a1"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(error_message(&b).contains("require_bound_agents"), "{b}");
    let a1 = bound_token(&app, "a1").await;
    let (s, r) = authorize(&app, &a1, json!({"commandType": "SET_POWER"})).await;
    assert_eq!(
        (s, r["decision"].as_str()),
        (StatusCode::OK, Some("requires_approval")),
        "{r}"
    );
    let (_, log) = app.get("/api/decisions").await;
    assert_eq!(
        log.as_array().unwrap().len(),
        1,
        "the refused call decided nothing"
    );
}
