//! HTTP request durations, by method and route template (never the raw
//! path, which would make a series per id).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{seconds_histogram, SeriesIndex};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
}

pub(super) struct HttpMetrics {
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// By method, then route: a request finds its series without allocating.
    series: SeriesIndex<String, Histogram>,
}

impl HttpMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let duration: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "regent_http_request_duration_seconds",
            "HTTP request time, by method and route.",
            duration.clone(),
        );
        Self {
            duration,
            series: SeriesIndex::default(),
        }
    }

    pub(super) fn request(&self, method: &str, route: &str, elapsed: Duration) {
        self.series.with(
            method,
            route,
            || {
                self.duration.get_or_create_owned(&RequestLabels {
                    method: method.to_string(),
                    route: route.to_string(),
                })
            },
            |h| h.observe(elapsed.as_secs_f64()),
        );
    }
}
