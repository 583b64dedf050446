//! The console's sign-in: a session started with a token, kept in an
//! HttpOnly cookie, and ended on the server; and the live control view the
//! console's overview follows (`GET /api/stream`).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::{CookieSession, SESSION_COOKIE};
use crate::api::extract::{blocking, json_body};
use crate::api::{ApiError, AppState, SessionCookie};
use crate::domain::auth::{PrincipalKind, Role};
use crate::domain::Timestamp;
use crate::service::live::{ControlView, LiveSubscription};
use crate::service::sessions::Session;
use crate::storage::SessionCredential;

// What `POST /api/session` is given. (No doc comment: it would become the
// schema's description.)
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A local token (`rgt_…`) or, with `[auth.oidc]` configured, the
    /// identity provider's JWT.
    #[schema(min_length = 1, max_length = 16384)]
    token: String,
}

/// The signed-in person, and the CSRF token every state-changing request
/// of the session must carry in `X-CSRF-Token`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionReply {
    principal: String,
    kind: PrincipalKind,
    /// The roles the session acts with now.
    roles: Vec<Role>,
    credential: SessionCredential,
    expires_at: Timestamp,
    csrf_token: String,
}

impl From<&Session> for SessionReply {
    fn from(s: &Session) -> Self {
        Self {
            principal: s.principal.id.clone(),
            kind: s.principal.kind,
            roles: s.principal.roles.clone(),
            credential: s.credential,
            expires_at: s.expires_at,
            csrf_token: s.csrf_token.clone(),
        }
    }
}

/// The console session the guard authenticated the request by, if any.
pub struct MaybeSession(Option<CookieSession>);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.remove::<CookieSession>()))
    }
}

impl MaybeSession {
    fn required(self) -> Result<CookieSession, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::BadRequest(
                "there is no console session: this request was authenticated by a bearer token, not by the session cookie POST /api/session sets".into(),
            )
        })
    }
}

/// `Set-Cookie` for the session: readable by no script, sent only to this
/// site and only with its own requests.
fn session_cookie(
    value: &str,
    max_age_s: i64,
    config: SessionCookie,
) -> Result<HeaderValue, ApiError> {
    let secure = if config.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
    ))
    .map_err(|e| ApiError::fault("cannot write the session cookie", e))
}

/// Refuses a sign-in posted by a page of another site (`Origin` not this
/// server): it would sign the browser in as someone the attacker chose.
/// Clients other than browsers send no `Origin`.
fn same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority.trim_end_matches('/'));
    // HTTP/2 names the host in the URI's authority, not in `Host`.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "a console sign-in must come from the console's own pages (the request's Origin is another site)".into(),
        )),
    }
}

/// Signs a person in with a local token or, with `[auth.oidc]`, the
/// identity provider's JWT, and sets the console's session cookie. The
/// governed system's tokens (reporter, scraper, bound to an agent) are
/// refused: the console is for people.
#[utoipa::path(post, path = "/api/session", tag = "console", request_body = SignIn,
    responses(
        (status = 201, body = SessionReply, headers(("set-cookie" = String, description = "`regent_session=<secret>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<seconds>` (and `Secure` with `[tls]`)"))),
        (status = 400, body = crate::api::ErrorBody),
        (status = 401, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    same_origin(&headers, &uri)?;
    let req: SignIn = json_body(body)?;
    let now = Timestamp::now();
    let signed = state
        .services
        .sessions
        .clone()
        .sign_in(&req.token, now)
        .await?;
    // Rounded up: a cookie kept a moment past its session is refused by
    // the server anyway, one dropped a moment early would sign out early.
    let left_ms = (signed.session.expires_at.millis() - now.millis()).max(0);
    let cookie = session_cookie(&signed.secret, (left_ms + 999) / 1000, state.session_cookie)?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(SessionReply::from(&signed.session)),
    )
        .into_response())
}

/// The current console session, by its cookie: the page asks on load who
/// is signed in and which CSRF token to send. A bearer token has no
/// session: 400.
#[utoipa::path(get, path = "/api/session", tag = "console", security(("bearer" = [])),
    responses((status = 200, body = SessionReply), (status = 400, body = crate::api::ErrorBody)))]
pub async fn current(session: MaybeSession) -> Result<Json<SessionReply>, ApiError> {
    Ok(Json(SessionReply::from(&session.required()?.session)))
}

/// Signs out: ends the session on the server (audited), so its cookie is
/// worthless even if kept, and clears the cookie.
#[utoipa::path(delete, path = "/api/session", tag = "console", security(("bearer" = [])),
    responses(
        (status = 204, description = "signed out", headers(("set-cookie" = String, description = "`regent_session=; … Max-Age=0`: the cookie cleared"))),
        (status = 400, body = crate::api::ErrorBody),
        (status = 403, body = crate::api::ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    session: MaybeSession,
) -> Result<Response, ApiError> {
    let secret = session.required()?.secret;
    let sessions = state.services.sessions.clone();
    blocking(move || Ok(sessions.sign_out(&secret, Timestamp::now())?)).await?;
    let cleared = session_cookie("", 0, state.session_cookie)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// Keep-alive comments this often, so that proxies do not close an idle
/// stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The control plane, live, as server-sent events: an `event: control`
/// with the current view at once, then one each time it changes (checked
/// every 250 ms), and a keep-alive comment every 15 s. 503 when the server
/// already serves its most streams.
#[utoipa::path(get, path = "/api/stream", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "`text/event-stream`: `event: control`, `data:` the view as JSON", content_type = "text/event-stream", body = ControlView),
        (status = 503, body = crate::api::ErrorBody)))]
pub async fn stream(State(state): State<AppState>) -> Result<Response, ApiError> {
    let live = state.services.live.clone();
    let subscription = live.subscribe()?;
    let first = blocking(move || Ok(live.view())).await?;
    let events = futures_util::stream::unfold(
        Some(Follow {
            subscription,
            first: Some(first),
            last: None,
        }),
        next_event,
    );
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    // A buffering proxy (nginx) would hold the events back.
    Ok(([("x-accel-buffering", "no")], sse).into_response())
}

/// One open stream: what it has sent, and the feed it follows.
struct Follow {
    subscription: LiveSubscription,
    first: Option<ControlView>,
    last: Option<ControlView>,
}

/// The stream's next event: the first view, then each view unlike the
/// last one sent; the stream ends when the server shuts down.
async fn next_event(follow: Option<Follow>) -> Option<(Result<Event, Infallible>, Option<Follow>)> {
    let mut follow = follow?;
    if let Some(view) = follow.first.take() {
        let event = control_event(&view);
        follow.last = Some(view);
        return Some((Ok(event), Some(follow)));
    }
    loop {
        tokio::select! {
            changed = follow.subscription.updates.changed() => {
                if changed.is_err() {
                    return None;
                }
                let latest = follow.subscription.updates.borrow_and_update().clone();
                if let Some(view) = latest {
                    if follow.last.as_ref() != Some(&*view) {
                        let event = control_event(&view);
                        follow.last = Some((*view).clone());
                        return Some((Ok(event), Some(follow)));
                    }
                }
            }
            _ = follow.subscription.closing.changed() => return None,
        }
    }
}

fn control_event(view: &ControlView) -> Event {
    Event::default()
        .event("control")
        .json_data(view)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot encode the live control view");
            Event::default()
                .event("error")
                .data("cannot encode the control view")
        })
}
