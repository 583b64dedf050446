//! Plugins: evaluations, the active set, and the registry's swaps and
//! refusals.

use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::store::family::{gauge, gauges};
use super::{seconds_histogram, GovernanceFigures, SeriesIndex};
use crate::domain::registry::Gate;
use crate::domain::PluginKind;

/// One active plugin version, for the info metric.
#[derive(Debug, Clone, Default)]
pub struct ActivePluginFigure {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    kind: &'static str,
}

/// One plugin's series, held so that an evaluation touches only atomics
/// and its own histogram.
struct PluginSeries {
    evaluations: Counter,
    errors: Counter,
    duration: Histogram,
}

pub(super) struct PluginMetrics {
    evaluations: Family<PluginLabels, Counter>,
    errors: Family<PluginLabels, Counter>,
    duration: Family<PluginLabels, Histogram, fn() -> Histogram>,
    series: SeriesIndex<PluginKind, PluginSeries>,
}

impl PluginMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let evaluations = Family::<PluginLabels, Counter>::default();
        let errors = Family::<PluginLabels, Counter>::default();
        let duration: Family<PluginLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "regent_plugin_evaluations",
            "Plugin evaluations, by plugin and kind.",
            evaluations.clone(),
        );
        registry.register(
            "regent_plugin_evaluation_errors",
            "Plugin evaluations that failed (error, trap, timeout, memory).",
            errors.clone(),
        );
        registry.register(
            "regent_plugin_evaluation_duration_seconds",
            "Plugin evaluation time, instantiation included.",
            duration.clone(),
        );
        Self {
            evaluations,
            errors,
            duration,
            series: SeriesIndex::default(),
        }
    }

    pub(super) fn evaluated(
        &self,
        plugin: &str,
        kind: PluginKind,
        elapsed: Duration,
        failed: bool,
    ) {
        self.series.with(
            &kind,
            plugin,
            || {
                let labels = PluginLabels {
                    plugin: plugin.to_string(),
                    kind: kind.world(),
                };
                PluginSeries {
                    evaluations: self.evaluations.get_or_create_owned(&labels),
                    // Created with the others: a plugin that never failed shows 0.
                    errors: self.errors.get_or_create_owned(&labels),
                    duration: self.duration.get_or_create_owned(&labels),
                }
            },
            |s| {
                s.evaluations.inc();
                if failed {
                    s.errors.inc();
                }
                s.duration.observe(elapsed.as_secs_f64());
            },
        );
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SwapLabels {
    plugin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GateLabels {
    gate: &'static str,
}

/// Versions made active and refused since start.
pub(super) struct SwapMetrics {
    swaps: Family<SwapLabels, Counter>,
    rejections: Family<GateLabels, Counter>,
    activation: Histogram,
}

impl SwapMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let swaps = Family::<SwapLabels, Counter>::default();
        let rejections = Family::<GateLabels, Counter>::default();
        // Every gate from zero, so an alert on a rate sees the series.
        for gate in Gate::ALL {
            rejections.get_or_create_owned(&GateLabels {
                gate: gate.as_str(),
            });
        }
        let activation = seconds_histogram();
        registry.register(
            "regent_plugin_swaps",
            "Versions made active since start, by plugin.",
            swaps.clone(),
        );
        registry.register(
            "regent_plugin_rejections",
            "Candidate versions refused since start, by the gate that refused them.",
            rejections.clone(),
        );
        registry.register(
            "regent_plugin_activation_duration_seconds",
            "From an activation's request to the new version serving.",
            activation.clone(),
        );
        Self {
            swaps,
            rejections,
            activation,
        }
    }

    /// Swaps are rare (an operator's action): the label is built each time.
    pub(super) fn swapped(&self, plugin: &str, elapsed: Duration) {
        self.swaps
            .get_or_create(&SwapLabels {
                plugin: plugin.to_string(),
            })
            .inc();
        self.activation.observe(elapsed.as_secs_f64());
    }

    pub(super) fn rejected(&self, gate: &'static str) {
        self.rejections.get_or_create(&GateLabels { gate }).inc();
    }
}

/// The active set, from the registry at scrape time.
pub(super) fn encode_active(
    e: &mut DescriptorEncoder,
    g: &GovernanceFigures,
) -> Result<(), std::fmt::Error> {
    gauges(
        e,
        "regent_plugin_active_info",
        "The active version of each plugin (always 1).",
        g.active_plugins.iter().map(|p| {
            (
                [
                    ("plugin", p.name.as_str()),
                    ("kind", p.kind.as_str()),
                    ("version", p.version.as_str()),
                    ("sha256", p.sha256.as_str()),
                ],
                1u32,
            )
        }),
    )?;
    gauge(
        e,
        "regent_plugin_set_generation",
        "The active plugin set's generation; it goes up by one per swap.",
        Some(g.plugin_generation),
    )
}
