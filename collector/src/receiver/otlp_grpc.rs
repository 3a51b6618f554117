//! OTLP over gRPC: the trace, logs and metrics services of `opentelemetry-proto`, served with tonic.
//!
//! Traces and logs are normalized and stored; metrics are accepted and counted (faasobs keeps no
//! metrics table). Status codes follow the OTLP specification: `INVALID_ARGUMENT` for a request
//! that cannot be read (not retried by exporters), `UNAVAILABLE` when the collector is overloaded
//! (retried with backoff), `UNAUTHENTICATED` without the configured token, and a partial success
//! with counts when some records of a request were rejected.

use std::future::Future;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::tls::{TlsError, TlsFiles, read_pem};
use super::{Intake, IntakeError, Signal, logs_partial_success, traces_partial_success};
use crate::normalize::otlp_logs::normalize_logs;
use crate::normalize::otlp_trace::normalize_traces;
use crate::store::StoreError;

/// The gRPC status an intake failure is answered with.
pub fn status_of(error: IntakeError) -> Status {
    match error {
        IntakeError::AllRejected(_) => Status::invalid_argument(error.to_string()),
        IntakeError::Busy | IntakeError::Store(StoreError::Overloaded) => {
            Status::unavailable("collector overloaded: write queue full, retry later")
        }
        e if e.is_retryable() => Status::unavailable(format!(
            "collector could not store the data, retry later: {e}"
        )),
        e => Status::internal(e.to_string()),
    }
}

/// Counts the data points of a metrics request (faasobs counts metrics; it does not store them).
pub fn metric_points(request: &ExportMetricsServiceRequest) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
}

/// The OTLP services, writing through one [`Intake`].
#[derive(Clone)]
pub struct OtlpGrpcReceiver {
    intake: Intake,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _permit = self.intake.admit().map_err(status_of)?;
        let normalized = normalize_traces(request.into_inner());
        self.intake
            .store(Signal::Traces, &normalized)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: traces_partial_success(&normalized),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let _permit = self.intake.admit().map_err(status_of)?;
        let normalized = normalize_logs(request.into_inner());
        self.intake
            .store(Signal::Logs, &normalized)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: logs_partial_success(&normalized),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.intake
            .metrics()
            .metric_points(metric_points(request.get_ref()));
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// Checks the bearer token of every call (when one is configured).
#[derive(Clone)]
pub struct BearerAuth {
    intake: Intake,
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if self.intake.authorized(header) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong bearer token (send `authorization: Bearer TOKEN`)",
            ))
        }
    }
}

/// tonic answers a request body that is not valid protobuf with `INTERNAL`; OTLP asks for
/// `INVALID_ARGUMENT` (exporters must not retry a request that can never be read).
fn invalid_argument_for_undecodable<B>(
    mut response: tonic::codegen::http::Response<B>,
) -> tonic::codegen::http::Response<B> {
    let headers = response.headers_mut();
    let undecodable = headers.get("grpc-status").is_some_and(|s| s == "13")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.starts_with("failed%20to%20decode") || m.starts_with("failed to decode")
            });
    if undecodable {
        headers.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from_static("3"),
        );
    }
    response
}

/// Why the gRPC receiver stopped.
#[derive(Debug, thiserror::Error)]
pub enum GrpcServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("OTLP/gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves OTLP/gRPC on an already bound listener (lets callers bind port 0 and learn the port),
/// with TLS when `tls` names a certificate and key.
pub async fn serve(
    listener: tokio::net::TcpListener,
    intake: Intake,
    tls: Option<TlsFiles>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GrpcServeError> {
    let limit = intake.config().max_decompressed_bytes;
    let receiver = OtlpGrpcReceiver {
        intake: intake.clone(),
    };
    let auth = BearerAuth { intake };
    let traces = TraceServiceServer::new(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let logs = LogsServiceServer::new(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let metrics = MetricsServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let mut builder = tonic::transport::Server::builder();
    if let Some(files) = &tls {
        let (cert, key) = read_pem(files)?;
        builder =
            builder.tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))?;
    }
    builder
        .layer(tower::util::MapResponseLayer::new(
            invalid_argument_for_undecodable,
        ))
        .add_service(InterceptedService::new(traces, auth.clone()))
        .add_service(InterceptedService::new(logs, auth.clone()))
        .add_service(InterceptedService::new(metrics, auth))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_intake_answers_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let (store, intake) = crate::receiver::test_intake(dir.path(), 1).await;
        let receiver = OtlpGrpcReceiver {
            intake: intake.clone(),
        };
        let held = intake.admit().unwrap();
        let status = TraceService::export(
            &receiver,
            Request::new(ExportTraceServiceRequest::default()),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        drop(held);
        TraceService::export(
            &receiver,
            Request::new(ExportTraceServiceRequest::default()),
        )
        .await
        .expect("room again");
        assert_eq!(
            status_of(IntakeError::Store(StoreError::Overloaded)).code(),
            tonic::Code::Unavailable
        );
        store.close().await.unwrap();
    }

    #[test]
    fn undecodable_bodies_are_invalid_arguments() {
        let response = tonic::codegen::http::Response::builder()
            .header("grpc-status", "13")
            .header("grpc-message", "failed%20to%20decode%20Protobuf%20message")
            .body(())
            .unwrap();
        let response = invalid_argument_for_undecodable(response);
        assert_eq!(response.headers()["grpc-status"], "3");
        let other = tonic::codegen::http::Response::builder()
            .header("grpc-status", "13")
            .header("grpc-message", "disk%20full")
            .body(())
            .unwrap();
        assert_eq!(
            invalid_argument_for_undecodable(other).headers()["grpc-status"],
            "13"
        );
    }
}
