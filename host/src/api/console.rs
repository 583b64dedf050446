//! The console's files (`host/console/`), embedded in the binary: the
//! console works with no internet access and no files on disk. These are
//! not API routes: they are in no router table and not in `/openapi.json`,
//! and need no token, since the page itself signs in through the API.
//!
//! Every reply carries a Content-Security-Policy that allows only this
//! origin's own scripts, styles and connections: no inline script, no
//! third-party anything, no framing.

use std::borrow::Cow;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, AppState};

#[derive(rust_embed::RustEmbed)]
#[folder = "console/"]
struct Assets;

/// What a console page may load and do: its own scripts, styles, images
/// and API, nothing inline, nothing from elsewhere, never in a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes: `/console` redirects to `/console/`, which is
/// `index.html`; `/console/<file>` is that file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { asset("index.html") }))
        .route(
            "/console/{*file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
        .layer(middleware::map_response(protect))
}

fn asset(name: &str) -> Response {
    match Assets::get(name) {
        Some(file) => {
            let body: Cow<'static, [u8]> = file.data;
            ([(header::CONTENT_TYPE, content_type(name))], body).into_response()
        }
        None => ApiError::NotFound(format!("the console has no file `{name}`")).into_response(),
    }
}

/// The type of a console file, by its extension.
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The headers every console reply carries, whatever its status.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Revalidated on every load, so a new build's console is never
        // mixed with an old one's cached script.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_file_is_served_with_a_known_type() {
        let names: Vec<_> = Assets::iter().collect();
        assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
        for name in names {
            let response = asset(&name);
            assert_eq!(response.status(), axum::http::StatusCode::OK, "{name}");
            assert_ne!(
                content_type(&name),
                "application/octet-stream",
                "{name}: add its type to content_type"
            );
        }
    }

    #[test]
    fn an_unknown_or_escaping_path_is_not_found() {
        for name in [
            "nope.js",
            "../Cargo.toml",
            "../src/main.rs",
            "/etc/passwd",
            "",
        ] {
            assert_eq!(
                asset(name).status(),
                axum::http::StatusCode::NOT_FOUND,
                "{name}"
            );
        }
    }
}
