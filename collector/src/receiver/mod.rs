//! Receivers: the network front of the collector.
//!
//! - [`otlp_grpc`]: OTLP/gRPC (traces, logs, metrics) with tonic.
//! - [`http`]: OTLP/HTTP (`/v1/traces`, `/v1/logs`, `/v1/metrics`), the Lambda Telemetry/Logs API
//!   endpoint, the CloudWatch Logs subscription endpoint, `/healthz` and Prometheus `/metrics`.
//! - [`body`]: request limits and bounded gzip inflation, shared by both.
//! - [`tls`]: certificates for TLS on either receiver.
//!
//! Every receiver writes through one [`Intake`]: it holds the store handle, the limits, the token
//! and the counters, and bounds the requests in flight so that memory stays bounded under load.
//! A request is acknowledged only after its records are durable in the WAL; when the store's queue
//! or the in-flight bound is full, the sender is told to retry (gRPC `UNAVAILABLE`, HTTP 503 with
//! `Retry-After`), so overload slows senders and never drops acknowledged data.

pub mod body;
pub mod http;
pub mod metrics;
pub mod otlp_grpc;
pub mod tls;

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::{ResourceRows, SharedStoredResources};
use crate::normalize::Normalized;
use crate::store::{StoreError, StoreHandle};
pub use metrics::{ReceiverMetrics, Signal};

/// Limits and access settings shared by every receiver.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The largest request body accepted as sent (compressed, if it is).
    pub max_request_bytes: usize,
    /// The largest request body accepted once decompressed: a gzip bomb stops here.
    pub max_decompressed_bytes: usize,
    /// Requests being decoded and stored at once; more are told to retry.
    pub max_in_flight: usize,
    /// When set, every request must carry `Authorization: Bearer TOKEN`.
    pub auth_token: Option<String>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_request_bytes: 4 * 1024 * 1024,
            max_decompressed_bytes: 32 * 1024 * 1024,
            max_in_flight: 64,
            auth_token: None,
        }
    }
}

/// Why a request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("too many requests in flight; retry later")]
    Busy,
    /// Every record of the request was malformed: nothing to store, and retrying cannot help.
    #[error("every record was rejected: {0}")]
    AllRejected(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl IntakeError {
    /// True when the sender should retry the same request later.
    pub fn is_retryable(&self) -> bool {
        match self {
            IntakeError::Busy => true,
            IntakeError::AllRejected(_) => false,
            IntakeError::Store(e) => e.is_retryable(),
        }
    }
}

/// The one path from every receiver into the store.
#[derive(Clone)]
pub struct Intake {
    store: StoreHandle,
    config: Arc<ReceiverConfig>,
    in_flight: Arc<Semaphore>,
    metrics: Arc<ReceiverMetrics>,
    /// The resources this intake has stored, so requests do not write their rows again.
    stored_resources: SharedStoredResources,
}

impl Intake {
    pub fn new(store: StoreHandle, config: ReceiverConfig) -> Intake {
        Intake {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config: Arc::new(config),
            metrics: Arc::new(ReceiverMetrics::new(store.clone())),
            stored_resources: Arc::default(),
            store,
        }
    }

    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.metrics
    }

    /// A place among the requests in flight, or [`IntakeError::Busy`] at once when there is none.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, IntakeError> {
        self.in_flight.clone().try_acquire_owned().map_err(|_| {
            self.metrics.overloaded();
            IntakeError::Busy
        })
    }

    /// True when `header` (an `Authorization` value) carries the configured token, or when no
    /// token is configured.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        let Some(token) = &self.config.auth_token else {
            return true;
        };
        let presented = header.and_then(|h| {
            let (scheme, value) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
        });
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
    }

    /// The `resources` rows of a request this intake normalizes: those it has stored are left
    /// out.
    pub fn resource_rows(&self) -> ResourceRows {
        ResourceRows::leaving_out(self.stored_resources.clone())
    }

    /// Stores what a request normalized to; resolves once it is durable. Counts accepted and
    /// rejected records; a request whose every record was rejected is refused as a whole. The
    /// request's resources rows that this intake stored before (for the same hour) are left out.
    pub async fn store(
        &self,
        signal: Signal,
        normalized: &mut Normalized,
    ) -> Result<(), IntakeError> {
        if normalized.rejected > 0 {
            self.metrics.rejected(signal, normalized.rejected);
            if normalized.records.is_empty() {
                return Err(IntakeError::AllRejected(
                    normalized.first_error.clone().unwrap_or_default(),
                ));
            }
        }
        let stored_resources = || self.stored_resources.lock().expect("not poisoned");
        stored_resources().drop_stored(&mut normalized.records.resource_batches);
        match self.store.try_write(&normalized.records).await {
            Ok(()) => {
                stored_resources().remember(&normalized.records.resource_batches);
                self.metrics.accepted(&normalized.records);
                Ok(())
            }
            Err(e) => {
                if matches!(e, StoreError::Overloaded) {
                    self.metrics.overloaded();
                }
                Err(e.into())
            }
        }
    }
}

/// The OTLP partial success of a traces request, when some spans were rejected.
pub fn traces_partial_success(normalized: &Normalized) -> Option<ExportTracePartialSuccess> {
    (normalized.rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: normalized.rejected as i64,
        error_message: normalized.first_error.clone().unwrap_or_default(),
    })
}

/// The OTLP partial success of a logs request, when some log records were rejected.
pub fn logs_partial_success(normalized: &Normalized) -> Option<ExportLogsPartialSuccess> {
    (normalized.rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: normalized.rejected as i64,
        error_message: normalized.first_error.clone().unwrap_or_default(),
    })
}

/// Compares secrets without an early exit that would leak how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A store in `dir` and an intake over it that admits `max_in_flight` requests (for tests).
#[cfg(test)]
pub(crate) async fn test_intake(
    dir: &std::path::Path,
    max_in_flight: usize,
) -> (crate::store::Store, Intake) {
    let store = crate::store::Store::open(crate::store::StoreConfig::new(dir))
        .await
        .unwrap();
    let intake = Intake::new(
        store.handle(),
        ReceiverConfig {
            max_in_flight,
            ..Default::default()
        },
    );
    (store, intake)
}
