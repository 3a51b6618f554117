//! OTLP over gRPC: the trace, logs and metrics services of `opentelemetry-proto`, served with tonic.
//!
//! Traces and logs are normalized and stored; metrics are accepted and counted (faasobs keeps no
//! metrics table). The trace service is served here rather than by `opentelemetry-proto`'s
//! generated server, which decodes every request into owned messages first: [`TraceServer`]
//! takes the request's bytes and reads them in place ([`crate::normalize::otlp_wire`]).
//!
//! Status codes follow the OTLP specification: `INVALID_ARGUMENT` for a request that cannot be
//! read (not retried by exporters), `UNAVAILABLE` when the collector is overloaded (retried with
//! backoff), `UNAUTHENTICATED` without the configured token, and a partial success with counts
//! when some records of a request were rejected.

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
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings};
use tonic::codegen::{Body, BoxFuture, Bytes, Context, Poll, Service, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::tls::{TlsError, TlsFiles, read_pem};
use super::{Intake, IntakeError, Signal, logs_partial_success, traces_partial_success};
use crate::normalize::otlp_logs::normalize_logs;
use crate::normalize::otlp_trace::normalize_trace_bytes;
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

impl OtlpGrpcReceiver {
    /// Normalizes and stores one trace export request from its protobuf bytes.
    async fn export_traces(&self, request: Bytes) -> Result<ExportTraceServiceResponse, Status> {
        let _permit = self.intake.admit().map_err(status_of)?;
        let mut normalized =
            normalize_trace_bytes(&request, self.intake.resource_rows()).map_err(|e| {
                Status::invalid_argument(format!("failed to decode the OTLP trace request: {e}"))
            })?;
        self.intake
            .store(Signal::Traces, &mut normalized)
            .await
            .map_err(status_of)?;
        Ok(ExportTraceServiceResponse {
            partial_success: traces_partial_success(&normalized),
        })
    }
}

/// The path of the trace service's one method.
const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP trace service: `Export` requests are handed over as their bytes, answered with
/// `UNIMPLEMENTED` for any other method, as a generated server does.
#[derive(Clone)]
pub struct TraceServer {
    receiver: OtlpGrpcReceiver,
    /// Accepted in requests and used in replies when the sender accepts it.
    compression: EnabledCompressionEncodings,
    /// Largest request, inflated.
    max_decoding_message_size: usize,
}

impl NamedService for TraceServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for TraceServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            if request.uri().path() != TRACE_EXPORT_PATH {
                return Ok(Status::unimplemented("").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RequestBytesCodec)
                .apply_compression_config(server.compression, server.compression)
                .apply_max_message_size_config(Some(server.max_decoding_message_size), None);
            Ok(grpc.unary(ExportTraces(server.receiver), request).await)
        })
    }
}

/// The `Export` method of [`TraceServer`].
struct ExportTraces(OtlpGrpcReceiver);

impl UnaryService<Bytes> for ExportTraces {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let receiver = self.0.clone();
        Box::pin(async move {
            let response = receiver.export_traces(request.into_inner()).await?;
            Ok(Response::new(response))
        })
    }
}

/// Takes a request message as its bytes (decompressed, within the size limit) and encodes the
/// response with prost.
struct RequestBytesCodec;

impl Codec for RequestBytesCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = RequestBytes;

    fn encoder(&mut self) -> Self::Encoder {
        Default::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestBytes
    }
}

/// The decoder of [`RequestBytesCodec`].
struct RequestBytes;

impl Decoder for RequestBytes {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, message: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        use bytes::Buf;
        Ok(Some(message.copy_to_bytes(message.remaining())))
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpcReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let _permit = self.intake.admit().map_err(status_of)?;
        let mut normalized = normalize_logs(request.into_inner());
        self.intake
            .store(Signal::Logs, &mut normalized)
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
    // The encodings the OpenTelemetry exporters offer (Python's: gzip and deflate).
    let mut compression = EnabledCompressionEncodings::default();
    let mut logs = LogsServiceServer::new(receiver.clone()).max_decoding_message_size(limit);
    let mut metrics = MetricsServiceServer::new(receiver.clone()).max_decoding_message_size(limit);
    for encoding in [
        CompressionEncoding::Gzip,
        CompressionEncoding::Deflate,
        CompressionEncoding::Zstd,
    ] {
        compression.enable(encoding);
        logs = logs.accept_compressed(encoding).send_compressed(encoding);
        metrics = metrics
            .accept_compressed(encoding)
            .send_compressed(encoding);
    }
    let traces = TraceServer {
        receiver,
        compression,
        max_decoding_message_size: limit,
    };
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
        let status = receiver.export_traces(Bytes::new()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        drop(held);
        receiver
            .export_traces(Bytes::new())
            .await
            .expect("room again");
        assert_eq!(
            status_of(IntakeError::Store(StoreError::Overloaded)).code(),
            tonic::Code::Unavailable
        );
        store.close().await.unwrap();
    }

    /// A resource sent again in a later request (an exporter's next batch) is written to the WAL
    /// once for its hour; the spans of both requests are.
    #[tokio::test]
    async fn a_resource_already_stored_is_not_written_again() {
        use crate::model::Table;
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let dir = tempfile::tempdir().unwrap();
        let (store, intake) = crate::receiver::test_intake(dir.path(), 1).await;
        let receiver = OtlpGrpcReceiver { intake };
        let request = |span: u8| {
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![KeyValue {
                            key: "faas.name".into(),
                            value: Some(AnyValue {
                                value: Some(Value::StringValue("orders".into())),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            trace_id: vec![1; 16],
                            span_id: vec![span; 8],
                            start_time_unix_nano: 1_000,
                            end_time_unix_nano: 2_000,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        };
        for span in [1, 2] {
            receiver
                .export_traces(Bytes::from(request(span)))
                .await
                .unwrap();
        }
        let segments = crate::wal::list_segments(&dir.path().join(crate::store::WAL_DIR)).unwrap();
        let mut rows: std::collections::BTreeMap<Table, usize> = Default::default();
        for (_, path) in segments {
            for (table, batch) in crate::wal::read_segment(&path).unwrap().records {
                *rows.entry(table).or_default() += batch.num_rows();
            }
        }
        assert_eq!(rows[&Table::Spans], 2);
        assert_eq!(rows[&Table::Resources], 1);
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
