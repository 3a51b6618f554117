//! The collector's receivers against bad input, tokens, TLS, and the Lambda and CloudWatch
//! endpoints: each bad-input class gets its documented error, and the collector keeps serving.

use std::io::Write;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use prost::Message;

use crate::support::{RunningCollector, http_client, query_json, real_fixture, run_python};

/// `google.rpc.Status`, as OTLP/HTTP error bodies carry it in protobuf.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = http_client().post(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.send(body).expect("the collector answers");
    Reply {
        status: response.status().as_u16(),
        body: response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap(),
    }
}

fn get(url: &str, token: Option<&str>) -> Reply {
    let mut request = http_client().get(url);
    if let Some(t) = token {
        request = request.header("authorization", &format!("Bearer {t}"));
    }
    let mut response = request.call().expect("the collector answers");
    Reply {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_vec().unwrap(),
    }
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An invocation span; `trace_id_len` other than 16 makes it invalid.
fn span(request_id: &str, trace_id_len: usize, extra: Vec<KeyValue>) -> Span {
    let mut attributes = vec![
        string_attr("faas.invocation_id", request_id),
        string_attr("faas.name", "limits-fn"),
    ];
    attributes.extend(extra);
    Span {
        trace_id: vec![7; trace_id_len],
        span_id: request_id.len().to_be_bytes().to_vec(),
        name: "handler".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_795_428_000_000_000_000,
        end_time_unix_nano: 1_795_428_000_020_000_000,
        attributes,
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One `resourceSpans` element in OTLP JSON as the specification writes it: hex ids, int64 as
/// strings, enum ints.
fn resource_spans_json(request_id: &str, trace_id_hex: &str) -> String {
    format!(
        r#"{{"resource":{{"attributes":[{{"key":"faas.name","value":{{"stringValue":"limits-fn"}}}}]}},
        "scopeSpans":[{{"spans":[{{"traceId":"{trace_id_hex}","spanId":"0102030405060708","name":"handler",
        "kind":2,"startTimeUnixNano":"1795428000000000000","endTimeUnixNano":"1795428000030000000",
        "attributes":[{{"key":"faas.invocation_id","value":{{"stringValue":"{request_id}"}}}},
                      {{"key":"faas.max_memory","value":{{"intValue":"536870912"}}}}],
        "status":{{"code":2,"message":"boom"}}}}]}}]}}"#
    )
}

fn otlp_json_request(resource_spans: &[String]) -> String {
    format!("{{\"resourceSpans\":[{}]}}", resource_spans.join(","))
}

#[test]
fn http_bad_inputs_get_their_documented_errors_and_the_collector_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(
        dir.path(),
        &[
            "--max-request-size",
            "64KiB",
            "--max-decompressed-size",
            "1MiB",
        ],
    );
    let traces_url = format!("{}/v1/traces", collector.http);

    // Malformed protobuf: 400, with a google.rpc.Status in protobuf.
    let reply = post(&traces_url, &[PROTOBUF], b"\xff\xff\xff\xff\x0f");
    assert_eq!(reply.status, 400);
    let status = RpcStatus::decode(reply.body.as_slice()).expect("a protobuf Status");
    assert_eq!(status.code, 3);
    assert!(
        status.message.contains("malformed OTLP traces"),
        "{status:?}"
    );

    // Malformed JSON: 400, with the Status as JSON.
    let reply = post(&traces_url, &[JSON], b"{\"resourceSpans\": [");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], 3);

    // Over the request size: 413.
    let reply = post(&traces_url, &[PROTOBUF], &vec![0u8; 100 * 1024]);
    assert_eq!(reply.status, 413, "{}", reply.text());

    // A gzip bomb: 20 KiB that would inflate to 20 MiB is refused, not inflated.
    let bomb = gzip(&vec![0u8; 20 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let reply = post(
        &traces_url,
        &[PROTOBUF, ("content-encoding", "gzip")],
        &bomb,
    );
    assert_eq!(reply.status, 413);
    assert!(
        RpcStatus::decode(reply.body.as_slice())
            .unwrap()
            .message
            .contains("inflates past the limit")
    );

    // Not gzip although it says so: 400. An unknown encoding or content type: 415.
    let reply = post(
        &traces_url,
        &[PROTOBUF, ("content-encoding", "gzip")],
        b"plain",
    );
    assert_eq!(reply.status, 400);
    let reply = post(&traces_url, &[PROTOBUF, ("content-encoding", "br")], b"x");
    assert_eq!(reply.status, 415);
    let reply = post(&traces_url, &[("content-type", "text/plain")], b"x");
    assert_eq!(reply.status, 415);

    // One bad span beside a good one: the good one is kept, a partial success counts the other.
    let request = traces(vec![
        span("http-good-1", 16, vec![]),
        span("http-bad", 3, vec![]),
    ]);
    let reply = post(&traces_url, &[PROTOBUF], &request.encode_to_vec());
    assert_eq!(reply.status, 200);
    let response =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            reply.body.as_slice(),
        )
        .unwrap();
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace_id"));

    // The same over JSON, gzipped, answered in JSON.
    let body = otlp_json_request(&[
        resource_spans_json("http-good-2", "5b8efff798038103d269b633813fc60c"),
        resource_spans_json("http-bad-2", "abcd"),
    ]);
    let reply = post(
        &traces_url,
        &[JSON, ("content-encoding", "gzip")],
        &gzip(body.as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let partial = &reply.json()["partialSuccess"];
    assert!(
        partial["rejectedSpans"] == 1 || partial["rejectedSpans"] == "1",
        "{partial}"
    );

    // Metrics are accepted and answered.
    let reply = post(
        &format!("{}/v1/metrics", collector.http),
        &[PROTOBUF],
        &ExportMetricsServiceRequest::default().encode_to_vec(),
    );
    assert_eq!(reply.status, 200);

    // A mistyped path, and a path asked with the wrong method: 404 and 405, each saying what
    // the receiver serves.
    let reply = post(&format!("{}/v1/trace", collector.http), &[JSON], b"{}");
    assert_eq!(reply.status, 404);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("no endpoint /v1/trace: this receiver serves POST /v1/traces"),
        "{message}"
    );
    let reply = get(&traces_url, None);
    assert_eq!(reply.status, 405);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("GET /v1/traces is not served"),
        "{message}"
    );

    // Still serving; enum names read as their numbers, as the OpenTelemetry Collector reads them
    // (before, `"kind":"SPAN_KIND_SERVER"` was refused as malformed).
    let named = resource_spans_json("http-good-3", "5b8efff798038103d269b633813fc60d")
        .replace(r#""kind":2"#, r#""kind":"SPAN_KIND_SERVER""#)
        .replace(r#""code":2"#, r#""code":"STATUS_CODE_ERROR""#);
    assert!(named.contains("SPAN_KIND_SERVER") && named.contains("STATUS_CODE_ERROR"));
    // zstd, as the OpenTelemetry Collector's exporters may send it.
    let body = zstd::encode_all(otlp_json_request(&[named]).as_bytes(), 3).unwrap();
    let reply = post(&traces_url, &[JSON, ("content-encoding", "zstd")], &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Field names as the .proto files write them, as protobuf's printers keep them: before, the
    // request was read as empty, answered 200 and nothing was stored.
    let mut snake = otlp_json_request(&[resource_spans_json(
        "http-good-4",
        "5b8efff798038103d269b633813fc60e",
    )]);
    for (camel, snake_case) in [
        ("resourceSpans", "resource_spans"),
        ("scopeSpans", "scope_spans"),
        ("traceId", "trace_id"),
        ("spanId", "span_id"),
        ("startTimeUnixNano", "start_time_unix_nano"),
        ("endTimeUnixNano", "end_time_unix_nano"),
        ("stringValue", "string_value"),
        ("intValue", "int_value"),
    ] {
        snake = snake.replace(camel, snake_case);
    }
    let reply = post(&traces_url, &[JSON], snake.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A request of no OTLP field is refused, naming what it holds.
    let reply = post(&traces_url, &[JSON], br#"{"spans":[{"name":"x"}]}"#);
    assert_eq!(reply.status, 400);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains(r#"only "spans""#), "{message}");
    assert_eq!(
        get(&format!("{}/healthz", collector.http), None).status,
        200
    );
    let metrics = get(&format!("{}/metrics", collector.http), None).text();
    assert!(
        metrics.contains("faasobs_records_rejected_total{signal=\"traces\"} 2"),
        "{metrics}"
    );
    // Running totals are counters, which Prometheus' rate() reads across restarts.
    for counter in ["segments_flushed", "flush_seconds"] {
        assert!(
            metrics.contains(&format!(
                "# TYPE faasobs_{counter} counter\nfaasobs_{counter}_total "
            )),
            "{counter}: {metrics}"
        );
    }
    collector.stop();

    let rows = query_json(
        dir.path(),
        "SELECT request_id, status, memory_size_mb, duration_ms FROM invocations ORDER BY request_id",
    );
    let ids: Vec<_> = rows.iter().map(|r| r["request_id"].clone()).collect();
    assert_eq!(
        ids,
        ["http-good-1", "http-good-2", "http-good-3", "http-good-4"]
    );
    assert_eq!(rows[1]["status"], "error");
    assert_eq!(rows[1]["memory_size_mb"], 512);
    assert_eq!(rows[1]["duration_ms"], 30.0);
    assert_eq!(rows[2]["status"], "error", "STATUS_CODE_ERROR read as 2");
    assert_eq!(rows[3]["memory_size_mb"], 512, "int_value read");
}

#[test]
fn grpc_bad_inputs_get_their_documented_errors_and_the_collector_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &["--max-decompressed-size", "1MiB"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = collector.grpc.clone();
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint.clone()).await.unwrap();
        // Over the size limit.
        let huge = span(
            "grpc-huge",
            16,
            vec![string_attr("blob", &"x".repeat(2 * 1024 * 1024))],
        );
        let err = client.export(traces(vec![huge])).await.unwrap_err();
        assert!(
            matches!(
                err.code(),
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
            ),
            "{err:?}"
        );
        // A partial success.
        let response = client
            .export(traces(vec![
                span("grpc-good-1", 16, vec![]),
                span("grpc-bad", 5, vec![]),
            ]))
            .await
            .unwrap()
            .into_inner();
        let partial = response.partial_success.expect("a partial success");
        assert_eq!(partial.rejected_spans, 1);
        // Only bad spans: INVALID_ARGUMENT.
        let err = client
            .export(traces(vec![span("grpc-bad-2", 1, vec![])]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        // Metrics are accepted and counted.
        let mut metrics = MetricsServiceClient::connect(endpoint.clone())
            .await
            .unwrap();
        let point = NumberDataPoint {
            time_unix_nano: 1_795_428_000_000_000_000,
            ..Default::default()
        };
        metrics
            .export(ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "queue.depth".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![point.clone(), point],
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
            .await
            .unwrap();
    });
    // Raw bytes to a trace service method, from grpcio; the answer's status code.
    let call = |method: &str, body_hex: &str| {
        run_python(
            r#"
import grpc, sys
channel = grpc.insecure_channel(sys.argv[1])
call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/" + sys.argv[2])
try:
    call(bytes.fromhex(sys.argv[3]), timeout=30)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name)
"#,
            &[collector.grpc_host_port(), method, body_hex],
        )
    };
    // Bytes that are not protobuf at all: INVALID_ARGUMENT.
    assert_eq!(call("Export", "ffffffff0f").trim(), "INVALID_ARGUMENT");
    // A method the trace service does not have: UNIMPLEMENTED.
    assert_eq!(call("Import", "").trim(), "UNIMPLEMENTED");
    runtime.block_on(async {
        // zstd, as the OpenTelemetry Collector's exporters may send it (gzip and deflate are
        // the Python SDK's, in tests/sdk_exporters.rs).
        let mut client = TraceServiceClient::connect(endpoint)
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Zstd);
        client
            .export(traces(vec![span("grpc-good-2", 16, vec![])]))
            .await
            .expect("still serving, zstd read");
    });
    let metrics = get(&format!("{}/metrics", collector.http), None).text();
    assert!(
        metrics.contains("faasobs_metric_points_received_total 2"),
        "{metrics}"
    );
    collector.stop();
    let rows = query_json(
        dir.path(),
        "SELECT request_id FROM invocations ORDER BY request_id",
    );
    let ids: Vec<_> = rows.iter().map(|r| r["request_id"].clone()).collect();
    assert_eq!(ids, ["grpc-good-1", "grpc-good-2"]);
}

#[test]
fn a_bearer_token_guards_every_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &["--auth-token", "s3cret"]);
    let traces_url = format!("{}/v1/traces", collector.http);
    let body = traces(vec![span("auth-1", 16, vec![])]).encode_to_vec();
    assert_eq!(post(&traces_url, &[PROTOBUF], &body).status, 401);
    assert_eq!(
        post(
            &traces_url,
            &[PROTOBUF, ("authorization", "Bearer wrong")],
            &body
        )
        .status,
        401
    );
    assert_eq!(
        post(
            &traces_url,
            &[PROTOBUF, ("authorization", "Bearer s3cret")],
            &body
        )
        .status,
        200
    );
    assert_eq!(
        post(&format!("{}/cloudwatch", collector.http), &[JSON], b"{}").status,
        401
    );
    assert_eq!(
        get(&format!("{}/metrics", collector.http), None).status,
        401
    );
    assert_eq!(
        get(&format!("{}/metrics", collector.http), Some("s3cret")).status,
        200
    );
    assert_eq!(
        get(&format!("{}/healthz", collector.http), None).status,
        200
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(collector.grpc.clone())
            .await
            .unwrap();
        let err = client
            .export(traces(vec![span("auth-2", 16, vec![])]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let mut request = tonic::Request::new(traces(vec![span("auth-3", 16, vec![])]));
        request
            .metadata_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        client.export(request).await.expect("the token lets it in");
    });
    collector.stop();
    let rows = query_json(
        dir.path(),
        "SELECT request_id FROM invocations ORDER BY request_id",
    );
    let ids: Vec<_> = rows.iter().map(|r| r["request_id"].clone()).collect();
    assert_eq!(ids, ["auth-1", "auth-3"]);
}

#[test]
fn both_receivers_serve_tls_to_the_python_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let collector = RunningCollector::start(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(collector.http.starts_with("https://"));
    let out = run_python(
        r#"
import sys, grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

grpc_endpoint, http_endpoint, cert = sys.argv[1], sys.argv[2], sys.argv[3]
credentials = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
for name, exporter in [
    ("tls-grpc", GrpcSpans(endpoint=grpc_endpoint, insecure=False, credentials=credentials)),
    ("tls-http", HttpSpans(endpoint=http_endpoint + "/v1/traces", certificate_file=cert)),
]:
    provider = TracerProvider(resource=Resource.create({"faas.name": name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span("handler", kind=SpanKind.SERVER,
        attributes={"faas.invocation_id": name + "-1"})
    span.end()
    provider.shutdown()
print("sent")
"#,
        &[
            collector.grpc_host_port(),
            &collector.http,
            cert.to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "sent");
    collector.stop();
    let rows = query_json(
        &data,
        "SELECT function_name, request_id FROM invocations ORDER BY request_id",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["request_id"], "tls-grpc-1");
    assert_eq!(rows[1]["request_id"], "tls-http-1");
}

#[test]
fn lambda_telemetry_batches_and_cloudwatch_payloads_are_received() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &[]);
    let batch = serde_json::json!([
        {"time": "2026-11-23T10:00:00.000Z", "type": "platform.initStart",
         "record": {"initializationType": "on-demand", "phase": "init",
                    "runtimeVersion": "python:3.12.v25", "functionName": "telemetry-fn",
                    "functionVersion": "$LATEST"}},
        {"time": "2026-11-23T10:00:00.300Z", "type": "platform.initReport",
         "record": {"initializationType": "on-demand", "phase": "init", "status": "success",
                    "metrics": {"durationMs": 300.5}}},
        {"time": "2026-11-23T10:00:00.301Z", "type": "platform.start",
         "record": {"requestId": "tel-1", "version": "$LATEST"}},
        {"time": "2026-11-23T10:00:00.302Z", "type": "function",
         "record": "2026-11-23T10:00:00.302Z\ttel-1\tINFO\thandling\n"},
        {"time": "2026-11-23T10:00:03.301Z", "type": "platform.runtimeDone",
         "record": {"requestId": "tel-1", "status": "timeout"}},
        {"time": "2026-11-23T10:00:03.302Z", "type": "platform.report",
         "record": {"requestId": "tel-1", "status": "timeout",
                    "metrics": {"durationMs": 3000.0, "billedDurationMs": 3000,
                                "memorySizeMB": 512, "maxMemoryUsedMB": 80,
                                "initDurationMs": 300.5}}},
        {"time": "2026-11-23T10:00:04.000Z", "type": "platform.start",
         "record": {"requestId": "tel-2", "version": "$LATEST"}},
        {"time": "2026-11-23T10:00:04.500Z", "type": "platform.report",
         "record": {"requestId": "tel-2", "status": "error", "errorType": "Runtime.OutOfMemory",
                    "metrics": {"durationMs": 500.0, "billedDurationMs": 500,
                                "memorySizeMB": 512, "maxMemoryUsedMB": 512}}}
    ]);
    let reply = post(
        &format!(
            "{}/lambda/logs?function=telemetry-fn&instance=env-1&region=eu-west-1&account=123456789012&architecture=aarch64",
            collector.http
        ),
        &[JSON],
        batch.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["invocations"], 2);
    // A region the built-in catalog prices, so that the cost view shows the architecture at work.
    let arm = serde_json::json!([
        {"time": "2026-11-23T10:00:05.000Z", "type": "platform.start",
         "record": {"requestId": "arm-1", "version": "$LATEST"}},
        {"time": "2026-11-23T10:00:05.100Z", "type": "platform.report",
         "record": {"requestId": "arm-1", "status": "success",
                    "metrics": {"durationMs": 100.0, "billedDurationMs": 100,
                                "memorySizeMB": 1024, "maxMemoryUsedMB": 60}}}
    ]);
    let with_architecture = |architecture: &str| {
        post(
            &format!(
                "{}/lambda/logs?function=arm-fn&region=us-east-1&architecture={architecture}",
                collector.http
            ),
            &[JSON],
            arm.to_string().as_bytes(),
        )
    };
    let reply = with_architecture("s390x");
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        "unknown architecture \"s390x\" in the query: expected x86_64 or arm64"
    );
    assert_eq!(with_architecture("arm64").status, 200);
    let reply = post(
        &format!("{}/lambda/logs?function=telemetry-fn", collector.http),
        &[JSON],
        b"[{\"time\": 1, \"type\":",
    );
    assert_eq!(reply.status, 400);
    // Events that parse but cannot be placed in time say why.
    for (events, why) in [
        (
            r#"[{"time": "x", "type": "platform.report"}]"#,
            "no readable time (an RFC 3339 `time`) on it or on any event before it",
        ),
        ("[7]", "not a JSON object"),
    ] {
        let reply = post(
            &format!("{}/lambda/logs?function=telemetry-fn", collector.http),
            &[JSON],
            events.as_bytes(),
        );
        assert_eq!(reply.status, 400);
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(message.ends_with(why), "{message}");
    }

    // Every real CloudWatch capture, decoded or enveloped, through the HTTP endpoint.
    for name in [
        "datadog-cloudwatch-log-coldstart.json",
        "datadog-cloudwatch-log-timeout.json",
        "datadog-cloudwatch-logs-node.json",
        "awslambda-rust-runtime-cloudwatch-logs-event.json",
    ] {
        let body = std::fs::read(real_fixture(name)).unwrap();
        let reply = post(&format!("{}/cloudwatch", collector.http), &[JSON], &body);
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
    }
    let reply = post(
        &format!("{}/cloudwatch", collector.http),
        &[JSON],
        b"{\"awslogs\": {\"data\": \"not base64!\"}}",
    );
    assert_eq!(reply.status, 400);
    collector.stop();

    let rows = query_json(
        dir.path(),
        "SELECT function_name, request_id, status, cold_start, init_duration_ms, \
         billed_duration_ms, memory_size_mb, instance_id, error_type, region, account_id, \
         architecture FROM invocations ORDER BY request_id",
    );
    let by_id = |id: &str| {
        rows.iter()
            .find(|r| r["request_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {rows:#?}"))
    };
    let timeout = by_id("tel-1");
    assert_eq!(timeout["function_name"], "telemetry-fn");
    assert_eq!(timeout["status"], "timeout");
    assert_eq!(timeout["cold_start"], true);
    assert_eq!(timeout["init_duration_ms"], 300.5);
    assert_eq!(timeout["memory_size_mb"], 512);
    assert_eq!(timeout["instance_id"], "env-1");
    // Where the extension said the function runs.
    assert_eq!(timeout["region"], "eu-west-1");
    assert_eq!(timeout["account_id"], "123456789012");
    assert_eq!(timeout["architecture"], "arm64");
    let oom = by_id("tel-2");
    assert_eq!(oom["status"], "out_of_memory");
    assert_eq!(oom["cold_start"], false);
    let cold = by_id("db275f87-a934-471a-8980-b63bf4dc1beb");
    assert_eq!(cold["init_duration_ms"], 120.96);
    assert_eq!(cold["billed_duration_ms"], 100);
    assert_eq!(cold["memory_size_mb"], 128);
    assert_eq!(cold["cold_start"], true);
    // A subscription says its account (`owner`), not its region.
    assert_eq!(cold["account_id"], "601427279990");
    assert!(cold.get("region").is_none(), "{cold:?}");
    assert!(cold.get("architecture").is_none(), "{cold:?}");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    // Priced at arm64's price, not the catalog's default architecture: 1 GB for 0.1 s.
    let priced = query_json(
        dir.path(),
        "SELECT pricing_architecture, pricing_defaulted, duration_usd FROM invocation_costs \
         WHERE request_id = 'arm-1'",
    );
    assert_eq!(priced[0]["pricing_architecture"], "arm64", "{priced:?}");
    assert_eq!(priced[0]["pricing_defaulted"], false, "{priced:?}");
    let duration_usd = priced[0]["duration_usd"].as_f64().unwrap();
    assert!(
        (duration_usd - 0.1 * 0.0000133334).abs() < 1e-15,
        "{priced:?}"
    );
    let timeouts = rows.iter().filter(|r| r["status"] == "timeout").count();
    assert_eq!(timeouts, 2);
}

fn double_attr(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

#[test]
fn hostile_named_cases_get_clear_answers_and_the_collector_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &[]);
    let url = format!("{}/v1/traces", collector.http);
    let send =
        |request: &ExportTraceServiceRequest| post(&url, &[PROTOBUF], &request.encode_to_vec());

    // Deeply nested JSON: refused, not a stack overflow.
    let nested = format!("{{\"resourceSpans\":{}", "[".repeat(200_000));
    assert_eq!(post(&url, &[JSON], nested.as_bytes()).status, 400);

    // Invalid UTF-8 inside a protobuf string.
    let mut named = span("hostile-utf8", 16, vec![]);
    named.name = "QQQQ".into();
    let mut bytes = traces(vec![named]).encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"QQQQ").unwrap();
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
    let reply = post(&url, &[PROTOBUF], &bytes);
    assert_eq!(reply.status, 400);
    assert!(
        RpcStatus::decode(reply.body.as_slice())
            .unwrap()
            .message
            .contains("UTF-8")
    );

    // A time in the year 9999 is out of the store's range: that span is rejected, not the others.
    let mut far = span("hostile-9999", 16, vec![]);
    far.start_time_unix_nano = 253_402_300_799_000_000_000u128.min(u64::MAX as u128) as u64;
    far.end_time_unix_nano = u64::MAX;
    let reply = send(&traces(vec![far, span("hostile-ok-1", 16, vec![])]));
    assert_eq!(reply.status, 200);

    // Time 0, a negative duration, NaN and infinity: stored, sanitized where needed.
    let mut epoch = span("hostile-epoch", 16, vec![double_attr("x", f64::NAN)]);
    epoch.start_time_unix_nano = 0;
    epoch.end_time_unix_nano = 0;
    let mut backwards = span(
        "hostile-backwards",
        16,
        vec![double_attr("y", f64::INFINITY)],
    );
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 5_000_000;
    assert_eq!(send(&traces(vec![epoch, backwards])).status, 200);

    // 100k attributes on one span.
    let many: Vec<KeyValue> = (0..100_000)
        .map(|i| string_attr(&format!("k{i}"), "v"))
        .collect();
    assert_eq!(
        send(&traces(vec![span("hostile-many-attrs", 16, many)])).status,
        200
    );

    // A 10 MB attribute value: over the request limit. The collector answers 413 from the
    // declared length without reading the body, so a client still writing may see the
    // connection closed instead of the answer; either way nothing is stored.
    let big = span(
        "hostile-big",
        16,
        vec![string_attr("blob", &"x".repeat(10 << 20))],
    );
    match http_client()
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .send(&traces(vec![big]).encode_to_vec()[..])
    {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(other) => panic!("{other}"),
    }

    // A huge batch: 20k spans in one request.
    let batch: Vec<Span> = (0..20_000)
        .map(|i| {
            let mut s = span(&format!("hostile-batch-{i}"), 16, vec![]);
            s.span_id = (i as u64 + 1_000_000).to_be_bytes().to_vec();
            s
        })
        .collect();
    assert_eq!(send(&traces(batch)).status, 200);

    assert_eq!(
        get(&format!("{}/healthz", collector.http), None).status,
        200
    );
    assert_eq!(
        send(&traces(vec![span("hostile-ok-2", 16, vec![])])).status,
        200
    );
    collector.stop();

    let rows = query_json(
        dir.path(),
        "SELECT count(*) AS n, \
         sum(CASE WHEN request_id LIKE 'hostile-batch-%' THEN 1 ELSE 0 END) AS batch, \
         max(CASE WHEN request_id = 'hostile-backwards' THEN duration_ms END) AS backwards_ms, \
         max(CASE WHEN request_id = 'hostile-epoch' THEN arrow_cast(start_time, 'Int64') END) AS epoch \
         FROM invocations",
    );
    // ok-1, epoch, backwards, many-attrs, 20k batch, ok-2.
    assert_eq!(rows[0]["n"], 20_005);
    assert_eq!(rows[0]["batch"], 20_000);
    assert_eq!(
        rows[0]["backwards_ms"], 0.0,
        "an end before the start is clamped"
    );
    assert_eq!(rows[0]["epoch"], 0);
}

#[test]
fn the_receivers_listen_only_on_loopback_unless_told_otherwise() {
    let help = crate::support::faasobs()
        .env_remove("FAASOBS_GRPC_ADDR")
        .env_remove("FAASOBS_HTTP_ADDR")
        .args(["collect", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("[default: 127.0.0.1:4317]"), "{help}");
    assert!(help.contains("[default: 127.0.0.1:4318]"), "{help}");
    assert!(!help.contains("0.0.0.0"), "{help}");
}

/// A collector whose address is taken says so and what to do, and leaves no store behind.
#[test]
fn an_address_in_use_is_refused_before_the_store_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = crate::support::faasobs_at(&data)
        .args([
            "collect",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            &port,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("binding the HTTP receiver to {port}"))
            && stderr.contains("give --http-addr another port, or port 0 for a free one"),
        "{stderr}"
    );
    assert!(!data.exists(), "a store was created");
}
