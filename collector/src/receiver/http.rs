//! The HTTP receiver: OTLP/HTTP, Lambda logs, CloudWatch Logs subscriptions, health and metrics.
//!
//! | route | body | what |
//! |---|---|---|
//! | `POST /v1/traces`, `/v1/logs`, `/v1/metrics` | OTLP protobuf or JSON, gzip optional | OTLP/HTTP |
//! | `POST /lambda/logs?function=NAME[&instance=STREAM][&region=R][&account=A][&architecture=ARCH]` | JSON array of Telemetry API / Logs API events | what a Lambda extension forwards |
//! | `POST /cloudwatch` | a subscription payload, decoded or in the `awslogs` envelope | CloudWatch Logs |
//! | `GET /healthz` | — | liveness and the store's queue (no token needed) |
//! | `GET /metrics` | — | Prometheus text format |
//!
//! OTLP responses use the request's encoding; errors carry a `google.rpc.Status` (protobuf) or
//! `{"code", "message"}` (JSON). Status codes follow the OTLP/HTTP specification: 400 for what
//! cannot be read (not retried), 413 over the size limits, 415 for an unknown content type or
//! encoding, 401 without the token, 503 with `Retry-After` when overloaded (retried).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde::Deserialize;
use serde_json::Value;

use super::body::{BodyError, decode_content};
use super::otlp_grpc::metric_points;
use super::tls::{TlsError, TlsFiles, server_config};
use super::{Intake, IntakeError, Signal, logs_partial_success, traces_partial_success};
use crate::model::Records;
use crate::normalize::Normalized;
use crate::normalize::cloudwatch::normalize_subscription;
use crate::normalize::otlp_json;
use crate::normalize::otlp_logs::normalize_logs;
use crate::normalize::otlp_trace::{architecture_name, normalize_trace_bytes, normalize_traces};
use crate::normalize::report_line::LambdaLogStream;

/// How an OTLP body (and its response) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A refused request: the HTTP status, the gRPC code its body carries, and why.
#[derive(Debug)]
struct HttpError {
    status: StatusCode,
    message: String,
    encoding: Encoding,
}

impl HttpError {
    fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
            encoding: Encoding::Json,
        }
    }

    fn encoded(mut self, encoding: Encoding) -> HttpError {
        self.encoding = encoding;
        self
    }

    fn rpc_code(&self) -> i32 {
        match self.status {
            StatusCode::BAD_REQUEST => 3,          // INVALID_ARGUMENT
            StatusCode::PAYLOAD_TOO_LARGE => 8,    // RESOURCE_EXHAUSTED
            StatusCode::UNAUTHORIZED => 16,        // UNAUTHENTICATED
            StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
            StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => 12, // UNIMPLEMENTED
            _ => 13,                                                      // INTERNAL
        }
    }
}

impl From<BodyError> for HttpError {
    fn from(e: BodyError) -> HttpError {
        let status = match e {
            BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            BodyError::BadCompression { .. } => StatusCode::BAD_REQUEST,
            BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        HttpError::new(status, e.to_string())
    }
}

impl From<IntakeError> for HttpError {
    fn from(e: IntakeError) -> HttpError {
        if let IntakeError::AllRejected(_) = e {
            HttpError::new(StatusCode::BAD_REQUEST, e.to_string())
        } else if e.is_retryable() {
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("collector overloaded or unable to store, retry later: {e}"),
            )
        } else {
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = RpcStatus {
            code: self.rpc_code(),
            message: self.message.clone(),
        };
        let body = match self.encoding {
            Encoding::Protobuf => status.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(
                &serde_json::json!({"code": status.code, "message": status.message}),
            )
            .unwrap_or_default(),
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.encoding.content_type())],
            body,
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, HttpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {content_type:?}: send application/x-protobuf or application/json"
            ),
        )),
    }
}

/// Reads a body within the size limit and decodes its `Content-Encoding` within the inflated limit.
async fn read_body(intake: &Intake, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, HttpError> {
    let limit = intake.config().max_request_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit }.into());
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpError::from(BodyError::TooLarge { limit })
            } else {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("could not read the body: {e}"),
                )
            }
        })?
        .to_bytes();
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    Ok(decode_content(
        encoding,
        &bytes,
        intake.config().max_decompressed_bytes,
    )?)
}

fn decode<M>(encoding: Encoding, bytes: &[u8], what: &str) -> Result<M, HttpError>
where
    M: Message + Default + PartialEq + serde::de::DeserializeOwned,
{
    let decoded = match encoding {
        Encoding::Protobuf => M::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => otlp_json::from_slice(bytes).map_err(|e| e.to_string()),
    };
    decoded.map_err(|why| malformed(encoding, what, why))
}

/// The answer to a request body that is not the OTLP request it should be.
fn malformed(encoding: Encoding, what: &str, why: impl std::fmt::Display) -> HttpError {
    HttpError::new(
        StatusCode::BAD_REQUEST,
        format!("malformed OTLP {what} request: {why}"),
    )
    .encoded(encoding)
}

fn respond<M: Message + serde::Serialize>(encoding: Encoding, message: &M) -> Response {
    let body = match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// Admits and reads an OTLP request, decodes and normalizes it with `normalize`, and stores it.
async fn otlp_export(
    intake: &Intake,
    headers: &HeaderMap,
    body: Body,
    signal: Signal,
    normalize: impl FnOnce(Encoding, &[u8]) -> Result<Normalized, HttpError>,
) -> Result<(Encoding, Normalized), HttpError> {
    let encoding = encoding_of(headers)?;
    let _permit = intake
        .admit()
        .map_err(|e| HttpError::from(e).encoded(encoding))?;
    let bytes = read_body(intake, headers, body)
        .await
        .map_err(|e| e.encoded(encoding))?;
    let mut normalized = normalize(encoding, &bytes)?;
    intake
        .store(signal, &mut normalized)
        .await
        .map_err(|e| HttpError::from(e).encoded(encoding))?;
    Ok((encoding, normalized))
}

async fn traces(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let (encoding, n) = otlp_export(
        &intake,
        &headers,
        body,
        Signal::Traces,
        |encoding, bytes| match encoding {
            // Protobuf is read in place; JSON is decoded first.
            Encoding::Protobuf => normalize_trace_bytes(bytes, intake.resource_rows())
                .map_err(|e| malformed(encoding, "traces", e)),
            Encoding::Json => {
                let request = decode::<ExportTraceServiceRequest>(encoding, bytes, "traces")?;
                normalize_traces(request, intake.resource_rows())
                    .map_err(|e| malformed(encoding, "traces", e))
            }
        },
    )
    .await?;
    Ok(respond(
        encoding,
        &ExportTraceServiceResponse {
            partial_success: traces_partial_success(&n),
        },
    ))
}

async fn logs(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let (encoding, n) = otlp_export(&intake, &headers, body, Signal::Logs, |encoding, bytes| {
        decode::<ExportLogsServiceRequest>(encoding, bytes, "logs").map(normalize_logs)
    })
    .await?;
    Ok(respond(
        encoding,
        &ExportLogsServiceResponse {
            partial_success: logs_partial_success(&n),
        },
    ))
}

async fn metrics_export(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let encoding = encoding_of(&headers)?;
    let bytes = read_body(&intake, &headers, body)
        .await
        .map_err(|e| e.encoded(encoding))?;
    let request: ExportMetricsServiceRequest = decode(encoding, &bytes, "metrics")?;
    intake.metrics().metric_points(metric_points(&request));
    Ok(respond(
        encoding,
        &ExportMetricsServiceResponse {
            partial_success: None,
        },
    ))
}

/// Query parameters of `/lambda/logs`: the function and execution environment the batch is from
/// (a Lambda extension knows them from its environment; the events do not all carry them).
#[derive(Debug, Deserialize)]
struct LambdaLogsTarget {
    function: Option<String>,
    instance: Option<String>,
    region: Option<String>,
    account: Option<String>,
    /// `x86_64` or `arm64` (or `host.arch`'s `amd64`, `aarch64`): no event says it.
    architecture: Option<String>,
}

fn json_response(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What the Lambda and CloudWatch endpoints answer.
fn stored(records: &Records, rejected: usize) -> Response {
    let body = serde_json::json!({
        "invocations": records.invocation_count(),
        "logs": records.log_count(),
        "rejected": rejected,
    });
    json_response(&body)
}

async fn lambda_logs(
    State(intake): State<Intake>,
    Query(target): Query<LambdaLogsTarget>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let architecture = match target.architecture.as_deref() {
        None => None,
        Some(raw) => Some(architecture_name(raw).ok_or_else(|| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown architecture {raw:?} in the query: expected x86_64 or arm64"),
            )
        })?),
    };
    let _permit = intake.admit()?;
    let bytes = read_body(&intake, &headers, body).await?;
    let events: Value = serde_json::from_slice(&bytes).map_err(|e| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed Lambda logs batch (expected a JSON array of events): {e}"),
        )
    })?;
    let events = match events {
        Value::Array(events) => events,
        one @ Value::Object(_) => vec![one],
        _ => {
            return Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                "malformed Lambda logs batch: expected a JSON array of events",
            ));
        }
    };
    let mut stream = LambdaLogStream::new(target.function.as_deref(), target.instance.clone())
        .running_in(target.region.clone(), target.account.clone())
        .on_architecture(architecture);
    let mut normalized = Normalized::default();
    for event in events {
        let why = if !event.is_object() {
            "not a JSON object"
        } else if !stream.push_value(None, event) {
            "no readable time (an RFC 3339 `time`) on it or on any event before it"
        } else {
            continue;
        };
        normalized.reject(crate::normalize::NormalizeError::Format {
            what: "Lambda logs event",
            why: why.into(),
        });
    }
    normalized.records = stream.finish();
    intake.store(Signal::LambdaLogs, &mut normalized).await?;
    Ok(stored(&normalized.records, normalized.rejected as usize))
}

async fn cloudwatch(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let _permit = intake.admit()?;
    let bytes = read_body(&intake, &headers, body).await?;
    let records = normalize_subscription(&bytes).map_err(|e| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed CloudWatch Logs subscription payload: {e}"),
        )
    })?;
    let mut normalized = Normalized {
        records,
        ..Default::default()
    };
    intake.store(Signal::CloudWatch, &mut normalized).await?;
    Ok(stored(&normalized.records, 0))
}

async fn healthz(State(intake): State<Intake>) -> Response {
    let stats = intake.metrics().store_stats();
    let body = serde_json::json!({
        "status": "ok",
        "queue_depth": stats.queue_depth,
        "queue_capacity": stats.queue_capacity,
        "wal_bytes": stats.wal_bytes,
    });
    json_response(&body)
}

async fn prometheus(State(intake): State<Intake>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        intake.metrics().render(),
    )
        .into_response()
}

async fn require_token(State(intake): State<Intake>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if intake.authorized(header) {
        return next.run(request).await;
    }
    let encoding = encoding_of(request.headers()).unwrap_or(Encoding::Json);
    let mut response = HttpError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (send `Authorization: Bearer TOKEN`)",
    )
    .encoded(encoding)
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// What the HTTP receiver serves, as its answer to a request for anything else says.
const ENDPOINTS: &str = "POST /v1/traces, /v1/logs and /v1/metrics (OTLP), /lambda/logs \
     (Lambda Telemetry and Logs API), /cloudwatch (CloudWatch Logs subscriptions); GET /healthz \
     and /metrics";

/// A request for a path the receiver does not serve: 404, saying what it serves.
async fn unknown_endpoint(uri: axum::http::Uri) -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {}: this receiver serves {ENDPOINTS}",
            uri.path()
        ),
    )
}

/// A request with a method its path does not serve: 405 (axum adds the `Allow` header).
async fn method_not_served(method: axum::http::Method, uri: axum::http::Uri) -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} {} is not served: this receiver serves {ENDPOINTS}",
            uri.path()
        ),
    )
}

/// The HTTP routes, writing through `intake`.
pub fn router(intake: Intake) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics_export))
        .route("/lambda/logs", post(lambda_logs))
        .route("/cloudwatch", post(cloudwatch))
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .method_not_allowed_fallback(method_not_served)
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn_with_state(
            intake.clone(),
            require_token,
        ))
        .with_state(intake)
}

/// Serves the HTTP receiver on an already bound listener, with TLS when `tls` is given, until
/// `shutdown` resolves; then lets requests in progress finish (for up to 10 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    intake: Intake,
    tls: Option<TlsFiles>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError> {
    let app = router(intake);
    let acceptor = match &tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(server_config(files)?)),
        None => None,
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!("HTTP receiver could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    Err(e) => {
                        tracing::debug!("TLS handshake with {peer} failed: {e}");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!("HTTP connection from {peer} ended: {e}");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("HTTP connections still open after 10 s; closing them");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use tower::ServiceExt;

    fn export_request() -> axum::http::Request<Body> {
        axum::http::Request::post("/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(Body::from(
                ExportTraceServiceRequest::default().encode_to_vec(),
            ))
            .unwrap()
    }

    #[tokio::test]
    async fn a_full_intake_asks_senders_to_retry_and_takes_them_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let (store, intake) = crate::receiver::test_intake(dir.path(), 1).await;
        let held = intake.admit().unwrap();
        let response = router(intake.clone())
            .oneshot(export_request())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(RpcStatus::decode(body).unwrap().code, 14);
        assert!(
            intake
                .metrics()
                .render()
                .contains("faasobs_requests_refused_overload_total 1")
        );
        drop(held);
        let response = router(intake).oneshot(export_request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        store.close().await.unwrap();
    }

    #[test]
    fn a_full_store_queue_is_a_503_and_a_broken_store_a_500() {
        let overloaded = HttpError::from(IntakeError::Store(StoreError::Overloaded));
        assert_eq!(overloaded.status, StatusCode::SERVICE_UNAVAILABLE);
        let response = overloaded.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let broken = HttpError::from(IntakeError::Store(StoreError::Locked {
            path: std::path::PathBuf::from("data"),
        }));
        assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
