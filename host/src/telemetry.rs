//! Logs, request spans, and their optional export over OTLP.
//!
//! Logs go to stderr. `RUST_LOG` (a full filter) wins; otherwise the level
//! from `LOG_LEVEL` or the config file; otherwise `info`.
//!
//! Every HTTP request runs in a `request` span carrying its method, matched
//! route, request id (`x-request-id`, taken from the caller or generated,
//! and returned in the reply), status and latency; log lines written while
//! serving it carry those fields. With `[tracing] otlp_endpoint` (or
//! `REGENT_OTLP_ENDPOINT`) the spans are also sent to an OpenTelemetry
//! collector over OTLP/HTTP (protobuf), from a background thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request, Response};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing::Span;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::TracingSettings;

/// The header a request id is read from and returned in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long the exporter waits for the collector per batch.
const OTLP_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once spans are exported: only then are the OpenTelemetry-specific
/// span fields (`otel.name`...) filled in, so plain logs do not repeat them.
static OTLP_ON: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("`{endpoint}` is not an http:// or https:// URL with a host")]
    Endpoint { endpoint: String },
    #[error("cannot build the OTLP span exporter for {endpoint}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("logging was already set up in this process, so spans cannot be exported")]
    AlreadyInitialized(#[source] tracing_subscriber::util::TryInitError),
}

/// Keeps the span exporter alive; dropping it sends the spans still
/// buffered.
#[must_use = "dropping the guard stops the span export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("regent: spans not all exported at exit: {e}");
            }
        }
    }
}

fn filter(level: Option<&str>) -> EnvFilter {
    let level = level.unwrap_or("info");
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!("{level},wasmtime=warn,cranelift=warn"))
            .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"))
    })
}

/// Logs only: the CLI's commands other than `serve`. A second call (tests
/// build many servers in one process) keeps the first subscriber.
pub fn init(level: Option<&str>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs, and spans exported over OTLP when `settings` name a collector.
pub fn init_serve(
    level: Option<&str>,
    settings: &TracingSettings,
) -> Result<Telemetry, TelemetryError> {
    let Some(endpoint) = settings.otlp_endpoint.as_deref() else {
        init(level);
        return Ok(Telemetry { provider: None });
    };
    let provider = otlp_provider(endpoint)?;
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("regent"));
    tracing_subscriber::registry()
        .with(filter(level))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(otel)
        .try_init()
        .map_err(TelemetryError::AlreadyInitialized)?;
    OTLP_ON.store(true, Ordering::Relaxed);
    tracing::info!(endpoint = %traces_url(endpoint), "request spans are exported over OTLP");
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// An OTLP endpoint must be a URL the exporter can reach; checked when the
/// configuration is read, so a typo fails the start, not every export.
pub fn check_otlp_endpoint(endpoint: &str) -> Result<(), TelemetryError> {
    let refused = || TelemetryError::Endpoint {
        endpoint: endpoint.to_string(),
    };
    let uri: axum::http::Uri = endpoint.parse().map_err(|_| refused())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(refused()),
    }
}

/// The collector's base address, as `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// written, with the traces path added (unless already given).
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

fn otlp_provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    check_otlp_endpoint(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .with_timeout(OTLP_TIMEOUT)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: endpoint.to_string(),
            source,
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("regent")
                .build(),
        )
        .build())
}

/// The `request` span of one HTTP request. Made inside the router, so the
/// matched route is known; its status and latency are recorded at the end.
fn request_span<B>(request: &Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        status = Empty,
        latency_ms = Empty,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
    );
    if OTLP_ON.load(Ordering::Relaxed) {
        // A trace viewer lists spans by name: name it by its route.
        span.record(
            "otel.name",
            tracing::field::display(format_args!("{} {route}", request.method())),
        );
        span.record("otel.kind", "server");
    }
    span
}

fn record_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if status.is_server_error() && OTLP_ON.load(Ordering::Relaxed) {
        span.record("otel.status_code", "ERROR");
    }
    tracing::debug!(status = status.as_u16(), "replied");
}

type MakeRequestSpan = fn(&Request<Body>) -> Span;
type RecordResponse = fn(&Response<Body>, Duration, &Span);

/// [`trace_layer`]'s type: nothing logged at a request's start, its body's
/// chunks or a failure; the response recorded on the span.
pub type RequestTraceLayer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    MakeRequestSpan,
    (),
    RecordResponse,
    (),
    (),
    (),
>;

/// The trace layer: one `request` span per request, everything the handler
/// does (and the blocking work it hands off) inside it. Failures are logged
/// where they are understood (the API's errors), not again here.
pub fn trace_layer() -> RequestTraceLayer {
    TraceLayer::new_for_http()
        .make_span_with(request_span::<Body> as MakeRequestSpan)
        .on_request(())
        .on_response(record_response::<Body> as RecordResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// Gives each request an id (the caller's `x-request-id`, or a new UUID):
/// put it outside [`trace_layer`], so the span records it.
pub fn set_request_id_layer() -> SetRequestIdLayer<MakeRequestUuid> {
    SetRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER), MakeRequestUuid)
}

/// Returns the request's id in the reply's `x-request-id`.
pub fn propagate_request_id_layer() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER))
}

/// The id of the request being served, for a log line or an error body.
pub fn request_id<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoints_are_checked_and_get_the_traces_path() {
        assert!(check_otlp_endpoint("http://collector:4318").is_ok());
        assert!(check_otlp_endpoint("https://otel.example.com").is_ok());
        for bad in ["collector:4318", "ftp://collector", "", "http://"] {
            assert!(check_otlp_endpoint(bad).is_err(), "{bad}");
        }
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
    }

    /// Spans reach a collector: a stand-in one here, counting the OTLP
    /// protobuf posts it is sent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_are_exported_over_otlp_http() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;

        let posts = Arc::new(AtomicUsize::new(0));
        let seen = posts.clone();
        let collector = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    async move {
                        let protobuf = headers
                            .get("content-type")
                            .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
                        if protobuf && !body.is_empty() {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, collector).await });

        let provider = otlp_provider(&format!("http://{addr}")).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("regent-test")));
        tracing::subscriber::with_default(subscriber, || {
            let request = Request::get("/health")
                .header(REQUEST_ID_HEADER, "abc")
                .body(())
                .unwrap();
            request_span(&request).in_scope(|| tracing::info!("inside"));
        });
        tokio::task::spawn_blocking(move || provider.force_flush())
            .await
            .unwrap()
            .unwrap();
        assert!(
            posts.load(Ordering::SeqCst) >= 1,
            "no span reached the collector"
        );
    }
}
