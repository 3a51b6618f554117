//! OTLP over gRPC: the trace service of `opentelemetry-proto`, served with tonic.

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::normalize::otlp_trace::normalize_traces;
use crate::store::{StoreError, StoreHandle};

/// The largest request accepted, after decompression.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The gRPC status a store failure is answered with.
pub fn status_of(error: StoreError) -> Status {
    match error {
        StoreError::Overloaded => {
            Status::unavailable("collector overloaded: write queue full, retry later")
        }
        e if e.is_retryable() => Status::unavailable(format!(
            "collector could not store the data, retry later: {e}"
        )),
        e => Status::internal(e.to_string()),
    }
}

/// The OTLP trace service, writing into a store.
pub struct OtlpTraceReceiver {
    store: StoreHandle,
}

impl OtlpTraceReceiver {
    pub fn new(store: StoreHandle) -> OtlpTraceReceiver {
        OtlpTraceReceiver { store }
    }
}

#[tonic::async_trait]
impl TraceService for OtlpTraceReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let records = normalize_traces(request.get_ref())
            .map_err(|e| Status::invalid_argument(format!("rejected the whole request: {e}")))?;
        self.store.try_write(&records).await.map_err(status_of)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Serves OTLP/gRPC on an already bound listener (lets callers bind port 0 and learn the port).
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: StoreHandle,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let traces = TraceServiceServer::new(OtlpTraceReceiver::new(store))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    tonic::transport::Server::builder()
        .add_service(traces)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
