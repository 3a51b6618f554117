//! The collector's own metrics, in the Prometheus text format at `GET /metrics`.
//!
//! Records accepted per table and rejected per signal, requests refused for overload, metric data
//! points received, and the store's queue depth, WAL bytes and flush latency (read from the store
//! at each scrape).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
    queue_depth: Gauge,
    queue_capacity: Gauge,
    wal_bytes: Gauge,
    segments_flushed: Counter,
    flush_seconds_last: Gauge<f64, AtomicU64>,
    flush_seconds: Counter<f64, AtomicU64>,
    flush_failures: Counter,
    /// Renders one at a time: the store's running totals are carried into the counters by how
    /// much they grew since the render before.
    render_lock: std::sync::Mutex<()>,
}

impl ReceiverMetrics {
    pub fn new(store: StoreHandle) -> ReceiverMetrics {
        let mut registry = Registry::with_prefix("faasobs");
        let accepted = Family::<TableLabel, Counter>::default();
        let rejected = Family::<SignalLabel, Counter>::default();
        let refused = Counter::default();
        let metric_points = Counter::default();
        let queue_depth = Gauge::default();
        let queue_capacity = Gauge::default();
        let wal_bytes = Gauge::default();
        let segments_flushed = Counter::default();
        let flush_seconds_last = Gauge::<f64, AtomicU64>::default();
        let flush_seconds = Counter::<f64, AtomicU64>::default();
        let flush_failures = Counter::default();
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
        registry.register(
            "queue_depth",
            "Writes waiting for the WAL writer",
            queue_depth.clone(),
        );
        registry.register(
            "queue_capacity",
            "Writes that can wait before senders are told to retry",
            queue_capacity.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes in WAL segments not yet written to Parquet",
            wal_bytes.clone(),
        );
        registry.register(
            "segments_flushed",
            "WAL segments written to Parquet since start",
            segments_flushed.clone(),
        );
        registry.register(
            "flush_seconds_last",
            "Seconds the last WAL segment took to write to Parquet",
            flush_seconds_last.clone(),
        );
        registry.register(
            "flush_seconds",
            "Seconds spent writing WAL segments to Parquet since start",
            flush_seconds.clone(),
        );
        registry.register(
            "flush_failures",
            "Writes of a WAL segment to Parquet that failed and will be retried (a full disk, an \
             unreachable bucket); the segment waits in the WAL",
            flush_failures.clone(),
        );
        ReceiverMetrics {
            registry,
            store,
            accepted,
            rejected,
            refused,
            metric_points,
            queue_depth,
            queue_capacity,
            wal_bytes,
            segments_flushed,
            flush_seconds_last,
            flush_seconds,
            flush_failures,
            render_lock: std::sync::Mutex::new(()),
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
        let _one_at_a_time = self
            .render_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stats = self.store.stats();
        self.queue_depth.set(stats.queue_depth as i64);
        self.queue_capacity.set(stats.queue_capacity as i64);
        self.wal_bytes.set(stats.wal_bytes as i64);
        self.segments_flushed.inc_by(
            stats
                .segments_flushed
                .saturating_sub(self.segments_flushed.get()),
        );
        self.flush_seconds_last.set(stats.last_flush_seconds);
        let seconds = stats.flush_seconds_total - self.flush_seconds.get();
        if seconds > 0.0 {
            self.flush_seconds.inc_by(seconds);
        }
        self.flush_failures.inc_by(
            stats
                .flush_failures
                .saturating_sub(self.flush_failures.get()),
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
