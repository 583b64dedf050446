//! The store's figures: cached between scrapes, and encoded by each area.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::GovernanceFigures;

/// One read of the store's figures, reused for `ttl`.
pub(super) struct FiguresCache {
    ttl: Duration,
    last: Mutex<Option<(Instant, Arc<GovernanceFigures>)>>,
}

impl FiguresCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: Mutex::new(None),
        }
    }

    /// The lock is held while reading, so scrapes that arrive together
    /// share one read. A failed read leaves the previous figures in place
    /// but returns the error: a scrape never shows figures past their
    /// interval.
    pub(super) fn get_or_read<E>(
        &self,
        now: Instant,
        read: impl FnOnce() -> Result<GovernanceFigures, E>,
    ) -> Result<Arc<GovernanceFigures>, E> {
        // A panic while reading left nothing half-written: the slot is only
        // assigned a finished read.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, figures)) = last.as_ref() {
            if now.saturating_duration_since(*at) < self.ttl {
                return Ok(figures.clone());
            }
        }
        let figures = Arc::new(read()?);
        *last = Some((now, figures.clone()));
        Ok(figures)
    }
}

/// One scrape's store figures, encoded family by family.
#[derive(Debug)]
pub(super) struct StoreFigures(pub(super) Arc<GovernanceFigures>);

impl Collector for StoreFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = &self.0;
        super::governance::encode(&mut encoder, figures)?;
        super::breakers::encode(&mut encoder, figures)?;
        super::budgets::encode(&mut encoder, figures)?;
        super::plugins::encode_active(&mut encoder, figures)?;
        super::control::encode(&mut encoder, &figures.control)?;
        super::fleet::encode(&mut encoder, &figures.control)?;
        super::scopes::encode(&mut encoder, &figures.scopes)?;
        Ok(())
    }
}

/// Families of the store's figures: each written with its HELP and TYPE
/// even when it has no sample, as before prometheus-client.
pub(super) mod family {
    use prometheus_client::encoding::{
        DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
    };
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::metrics::MetricType;

    type Result = std::result::Result<(), std::fmt::Error>;

    pub(in crate::metrics) fn gauge<V: EncodeGaugeValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: Option<V>,
    ) -> Result {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        match value {
            Some(v) => ConstGauge::new(v).encode(metric),
            None => Ok(()),
        }
    }

    pub(in crate::metrics) fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, V)>,
    ) -> Result {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, v) in series {
            ConstGauge::new(v).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// `name` without `_total`: the encoder adds it to the samples.
    pub(in crate::metrics) fn counter<V: EncodeCounterValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: V,
    ) -> Result {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(metric)
    }

    /// `name` without `_total`: the encoder adds it to the samples.
    pub(in crate::metrics) fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, V)>,
    ) -> Result {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, v) in series {
            ConstCounter::new(v).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
