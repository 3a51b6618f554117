//! The collector's own metrics, in the Prometheus text format at `GET /metrics`.
//!
//! Records accepted per table and rejected per signal, requests refused for overload, metric data
//! points received, and the store's queue depth, WAL bytes and flush latency (read from the store
//! at each scrape).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::model::{Records, Table};
use crate::store::StoreHandle;

/// The kind of telemetry a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
    LambdaLogs,
    CloudWatch,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::LambdaLogs => "lambda_logs",
            Signal::CloudWatch => "cloudwatch",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabel {
    signal: String,
}

/// The counters every receiver updates.
pub struct ReceiverMetrics {
    registry: Registry,
    store: StoreHandle,
    accepted: Family<TableLabel, Counter>,
    rejected: Family<SignalLabel, Counter>,
    refused: Counter,
    metric_points: Counter,
}

/// The store's queue, WAL and flush figures, read from it at each scrape.
struct StoreFigures(StoreHandle);

impl std::fmt::Debug for StoreFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreFigures")
    }
}

impl Collector for StoreFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let mut encode = |name: &str, help: &str, metric: &dyn EncodeMetric| {
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        encode(
            "queue_depth",
            "Writes waiting for the WAL writer",
            &ConstGauge::new(stats.queue_depth as i64),
        )?;
        encode(
            "queue_capacity",
            "Writes that can wait before senders are told to retry",
            &ConstGauge::new(stats.queue_capacity as i64),
        )?;
        encode(
            "wal_bytes",
            "Bytes in WAL segments not yet written to Parquet",
            &ConstGauge::new(stats.wal_bytes as i64),
        )?;
        encode(
            "segments_flushed",
            "WAL segments written to Parquet since start",
            &ConstCounter::new(stats.segments_flushed),
        )?;
        encode(
            "flush_seconds_last",
            "Seconds the last WAL segment took to write to Parquet",
            &ConstGauge::new(stats.last_flush_seconds),
        )?;
        encode(
            "flush_seconds",
            "Seconds spent writing WAL segments to Parquet since start",
            &ConstCounter::new(stats.flush_seconds_total),
        )?;
        encode(
            "flush_failures",
            "Writes of a WAL segment to Parquet that failed and will be retried (a full disk, an \
             unreachable bucket); the segment waits in the WAL",
            &ConstCounter::new(stats.flush_failures),
        )
    }
}

impl ReceiverMetrics {
    pub fn new(store: StoreHandle) -> ReceiverMetrics {
        let mut registry = Registry::with_prefix("faasobs");
        let accepted = Family::<TableLabel, Counter>::default();
        let rejected = Family::<SignalLabel, Counter>::default();
        let refused = Counter::default();
        let metric_points = Counter::default();
        registry.register(
            "records_accepted",
            "Records stored durably, per table",
            accepted.clone(),
        );
        registry.register(
            "records_rejected",
            "Records refused as malformed (the rest of their request was kept), per signal",
            rejected.clone(),
        );
        registry.register(
            "requests_refused_overload",
            "Requests answered 'retry later' because a queue was full",
            refused.clone(),
        );
        registry.register(
            "metric_points_received",
            "OTLP metric data points received and counted (not stored)",
            metric_points.clone(),
        );
        registry.register_collector(Box::new(StoreFigures(store.clone())));
        ReceiverMetrics {
            registry,
            store,
            accepted,
            rejected,
            refused,
            metric_points,
        }
    }

    pub fn accepted(&self, records: &Records) {
        for (table, rows) in [
            (Table::Invocations, records.invocation_count()),
            (Table::Spans, records.span_count()),
            (Table::Logs, records.log_count()),
        ] {
            if rows > 0 {
                self.accepted
                    .get_or_create(&TableLabel {
                        table: table.name().to_string(),
                    })
                    .inc_by(rows as u64);
            }
        }
    }

    pub fn rejected(&self, signal: Signal, count: u64) {
        self.rejected
            .get_or_create(&SignalLabel {
                signal: signal.as_str().to_string(),
            })
            .inc_by(count);
    }

    pub fn overloaded(&self) {
        self.refused.inc();
    }

    pub fn metric_points(&self, count: u64) {
        self.metric_points.inc_by(count);
    }

    /// The store's queue, WAL and flush figures right now.
    pub fn store_stats(&self) -> crate::store::StoreStats {
        self.store.stats()
    }

    /// The Prometheus text exposition of every metric, with the store's figures as of now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
