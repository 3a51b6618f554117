//! The collector fed by OpenTelemetry SDK exporters nobody here wrote: Python's
//! `opentelemetry-exporter-otlp` (gRPC and HTTP/protobuf, traces and logs, from PyPI) and the
//! Rust `opentelemetry-otlp` exporter (through `faasobs demo`); the cold starts of spans that
//! say nothing of them, received from the Python exporter or imported; and the architecture an
//! SDK's environment says, which prices its function's invocations.

use crate::support::{
    RunningCollector, faasobs, faasobs_ok, query_json, root, run_python, sample_store,
};

/// Sends five invocation spans per function through each Python exporter, and a `REPORT` line per
/// transport through the Python logs exporters. Times are fixed so durations are exact.
const PYTHON_EXPORTERS: &str = r#"
import grpc, logging, sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
BASE = 1_795_428_000 * 10**9  # 2026-11-23T10:00:00Z

def resource(function):
    return Resource.create({
        "service.name": function, "faas.name": function, "cloud.provider": "aws",
        "cloud.platform": "aws_lambda", "cloud.region": "eu-west-1",
        "faas.max_memory": 268435456,  # bytes, per the semantic conventions
    })

def spans(function, exporter):
    provider = TracerProvider(resource=resource(function))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("faasobs-interop-test")
    for k in range(5):
        start = BASE + k * 1_000_000_000
        if k == 4:  # the obsolete name of the request id
            attributes = {"faas.execution": f"{function}-{k}", "faas.coldstart": False}
        else:
            attributes = {"faas.invocation_id": f"{function}-{k}", "faas.trigger": "http",
                          "faas.coldstart": k == 0}
        span = tracer.start_span("handler", kind=SpanKind.SERVER, start_time=start,
                                 attributes=attributes)
        if k == 3:
            span.record_exception(ValueError("bad input 42"))
            span.set_status(Status(StatusCode.ERROR, "bad input 42"))
        span.end(end_time=start + (k + 1) * 10_000_000)
    provider.shutdown()

def report(function, exporter, line):
    provider = LoggerProvider(resource=resource(function))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = logging.getLogger(function)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    # Stamped like the platform's: at the end of invocation 0 (its span ends 10 ms after BASE),
    # so the REPORT's own start (end minus its 12.5 ms) falls in the hour before the span's.
    record = logger.makeRecord(function, logging.INFO, "report.py", 0, line, None, None)
    record.created = (BASE + 10_000_000) / 1e9
    logger.handle(record)
    provider.shutdown()

# Compressed, as exporters are often configured (OTEL_EXPORTER_OTLP_COMPRESSION): the collector
# inflates the request before reading it. The exporters offer gzip and deflate; deflate was
# refused (HTTP 415, gRPC UNIMPLEMENTED) before.
spans("py-grpc", GrpcSpans(endpoint=grpc_endpoint, insecure=True, compression=grpc.Compression.Deflate))
spans("py-http", HttpSpans(endpoint=http_endpoint + "/v1/traces", compression=HttpCompression.Deflate))
report("py-grpc", GrpcLogs(endpoint=grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip),
       "REPORT RequestId: py-grpc-0\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 250.00 ms\t")
report("py-http", HttpLogs(endpoint=http_endpoint + "/v1/logs", compression=HttpCompression.Gzip),
       "REPORT RequestId: py-http-0\tDuration: 15.25 ms\tBilled Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 61 MB\tInit Duration: 300.00 ms\t")
print("sent")
"#;

#[test]
fn python_otlp_exporters_over_grpc_and_http_become_exact_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &[]);
    let out = run_python(
        PYTHON_EXPORTERS,
        &[collector.grpc_host_port(), &collector.http],
    );
    assert_eq!(out.trim(), "sent");
    collector.stop();

    let rows = query_json(
        dir.path(),
        "SELECT function_name, request_id, duration_ms, cold_start, status, memory_size_mb, \
         billed_duration_ms, init_duration_ms, max_memory_used_mb, \"trigger\", provider, region, \
         error_type, sources FROM invocations ORDER BY request_id",
    );
    assert_eq!(rows.len(), 10, "{rows:#?}");
    for (i, row) in rows.iter().enumerate() {
        let function = if i < 5 { "py-grpc" } else { "py-http" };
        let k = i % 5;
        assert_eq!(row["function_name"], function);
        assert_eq!(row["request_id"], format!("{function}-{k}"));
        assert_eq!(row["cold_start"], k == 0, "{row:?}");
        assert_eq!(
            row["status"],
            if k == 3 { "error" } else { "success" },
            "{row:?}"
        );
        assert_eq!(row["provider"], "aws");
        assert_eq!(row["region"], "eu-west-1");
        if k == 0 {
            // The REPORT line sent as an OTLP log merged into the span's invocation; the
            // platform's figures win.
            let (duration, billed, init, used) = if i < 5 {
                (12.5, 13, 250.0, 60)
            } else {
                (15.25, 16, 300.0, 61)
            };
            assert_eq!(row["duration_ms"], duration);
            assert_eq!(row["billed_duration_ms"], billed);
            assert_eq!(row["init_duration_ms"], init);
            assert_eq!(row["max_memory_used_mb"], used);
            assert_eq!(row["memory_size_mb"], 128);
            assert_eq!(row["sources"], "otlp_span,platform_report");
        } else {
            assert_eq!(row["duration_ms"], (k + 1) as f64 * 10.0, "{row:?}");
            assert_eq!(row["memory_size_mb"], 256, "faas.max_memory in bytes");
            assert_eq!(row["sources"], "otlp_span");
        }
        if k == 3 {
            assert_eq!(row["error_type"], "ValueError");
        }
        if k < 4 {
            assert_eq!(row["trigger"], "http");
        }
    }
    let counts = query_json(
        dir.path(),
        "SELECT (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM logs) AS logs, \
         (SELECT count(*) FROM logs WHERE source = 'otlp' AND body LIKE 'REPORT%') AS reports",
    );
    assert_eq!(counts[0]["spans"], 10);
    assert_eq!(counts[0]["logs"], 2);
    assert_eq!(counts[0]["reports"], 2);
    // Each span and log record shows its resource's attributes, kept once in `resources`: the
    // SDK's own (`telemetry.sdk.language`) and those it was given: one row per function, as its
    // spans and log record fall in one hour.
    let resourced = query_json(
        dir.path(),
        "SELECT function_name, \
         resource_attributes['telemetry.sdk.language']['string'] AS language, \
         resource_attributes['faas.max_memory']['int'] AS memory, count(*) AS n \
         FROM (SELECT function_name, resource_attributes FROM spans \
               UNION ALL SELECT function_name, resource_attributes FROM logs) \
         GROUP BY 1, 2, 3 ORDER BY 1",
    );
    let expected = |function: &str| {
        serde_json::json!({"function_name": function, "language": "python",
                           "memory": 268435456, "n": 6})
    };
    assert_eq!(
        serde_json::Value::from(resourced.clone()),
        serde_json::json!([expected("py-grpc"), expected("py-http")]),
        "{resourced:#?}"
    );
    let resources = query_json(
        dir.path(),
        "SELECT function_name, count(*) AS rows, count(DISTINCT resource_id) AS ids \
         FROM resources GROUP BY 1 ORDER BY 1",
    );
    let expected =
        |function: &str| serde_json::json!({"function_name": function, "rows": 1, "ids": 1});
    assert_eq!(
        serde_json::Value::from(resources),
        serde_json::json!([expected("py-grpc"), expected("py-http")])
    );
}

/// Spans of a function whose resource names its instance (`faas.instance`, as OpenTelemetry's
/// resource detectors for Cloud Functions and Cloud Run do) but whose instrumentation sets no
/// `faas.coldstart`, each exported as it ends: instance env-a serves a-0 and a-1, env-b b-0,
/// env-a again a-2 (a second exporter), a span without an instance n-0; env-c c-0, whose
/// REPORT line (an OTLP log record) has no `Init Duration`: a warm start.
const PYTHON_SPANS_WITHOUT_COLD_STARTS: &str = r#"
import logging, sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

endpoint = sys.argv[1]
BASE = 1_795_428_000 * 10**9  # 2026-11-23T10:00:00Z

def resource(instance):
    attributes = {"service.name": "thumbs", "faas.name": "thumbs", "cloud.provider": "gcp",
                  "cloud.platform": "gcp_cloud_functions", "cloud.region": "europe-west1"}
    if instance:
        attributes["faas.instance"] = instance
    return Resource.create(attributes)

def serve(instance, requests):
    provider = TracerProvider(resource=resource(instance))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = provider.get_tracer("faasobs-interop-test")
    for request, second in requests:
        start = BASE + second * 1_000_000_000
        span = tracer.start_span("handler", kind=SpanKind.SERVER, start_time=start,
                                 attributes={"faas.invocation_id": request, "faas.trigger": "http"})
        span.end(end_time=start + 20_000_000)
    provider.shutdown()

serve("env-a", [("a-0", 0), ("a-1", 1)])
serve("env-b", [("b-0", 2)])
serve("env-a", [("a-2", 3)])
serve(None, [("n-0", 4)])
serve("env-c", [("c-0", 5)])

provider = LoggerProvider(resource=resource("env-c"))
provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
logger = logging.getLogger("thumbs")
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(LoggingHandler(logger_provider=provider))
record = logger.makeRecord("thumbs", logging.INFO, "report.py", 0,
    "REPORT RequestId: c-0\tDuration: 19.00 ms\tBilled Duration: 19 ms\tMemory Size: 256 MB\tMax Memory Used: 70 MB\t",
    None, None)
record.created = (BASE + 5_020_000_000) / 1e9
logger.handle(record)
provider.shutdown()
print("sent")
"#;

#[test]
fn spans_that_say_nothing_of_cold_starts_get_one_per_instance_unless_a_report_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &[]);
    let out = run_python(
        PYTHON_SPANS_WITHOUT_COLD_STARTS,
        &[collector.grpc_host_port()],
    );
    assert_eq!(out.trim(), "sent");
    collector.stop();

    let rows = query_json(
        dir.path(),
        "SELECT request_id, instance_id, cold_start, cold_start_inferred, sources \
         FROM invocations ORDER BY request_id",
    );
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap(),
                r["cold_start"].as_bool().unwrap(),
                r["cold_start_inferred"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a-0", true, true),
            ("a-1", false, true),
            ("a-2", false, true),
            ("b-0", true, true),
            // The first span of env-c, but its REPORT says warm.
            ("c-0", false, false),
            // No instance: nothing tells.
            ("n-0", false, true),
        ],
        "{rows:#?}"
    );
    assert_eq!(rows[4]["sources"], "otlp_span,platform_report");
    assert_eq!(rows[0]["instance_id"], "env-a");
    // The cold-start report tells the inferred ones apart.
    let (report, _) = faasobs_ok(dir.path(), &["report", "coldstarts", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let thumbs = &report["by_function"][0];
    assert_eq!(thumbs["function_name"], "thumbs", "{report:#}");
    assert_eq!(thumbs["cold_starts"], 2, "{report:#}");
    assert_eq!(thumbs["inferred_cold_starts"], 2, "{report:#}");

    // Restarted, the collector still knows env-a and env-b (in its newest hours of files); a
    // new instance's first span is still a cold start.
    let collector = RunningCollector::start(dir.path(), &[]);
    let out = run_python(
        r#"
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
BASE = 1_795_428_000 * 10**9
for instance, request, second in [("env-a", "a-3", 6), ("env-b", "b-1", 7), ("env-d", "d-0", 8)]:
    provider = TracerProvider(resource=Resource.create({"faas.name": "thumbs", "faas.instance": instance}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True)))
    start = BASE + second * 1_000_000_000
    span = provider.get_tracer("t").start_span("handler", kind=SpanKind.SERVER, start_time=start,
                                               attributes={"faas.invocation_id": request})
    span.end(end_time=start + 20_000_000)
    provider.shutdown()
print("sent")
"#,
        &[collector.grpc_host_port()],
    );
    assert_eq!(out.trim(), "sent");
    collector.stop();
    let rows = query_json(
        dir.path(),
        "SELECT request_id, cold_start FROM invocations \
         WHERE request_id IN ('a-3', 'b-1', 'd-0') ORDER BY request_id",
    );
    assert_eq!(
        serde_json::Value::from(rows),
        serde_json::json!([
            {"request_id": "a-3", "cold_start": false},
            {"request_id": "b-1", "cold_start": false},
            {"request_id": "d-0", "cold_start": true},
        ])
    );
}

/// An import takes the first request of an instance in its input as the cold start, as the
/// collector does with what it receives: the file's order, whatever the pieces it is read in.
#[test]
fn an_import_infers_the_cold_starts_no_span_reports_in_the_order_of_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let request = |instance: &str, request: &str, second: u64| {
        let start = 1_795_428_000_000_000_000u64 + second * 1_000_000_000;
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[
            {{"key":"faas.name","value":{{"stringValue":"thumbs"}}}},
            {{"key":"faas.instance","value":{{"stringValue":"{instance}"}}}}]}},
            "scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10",
            "spanId":"{second:016x}","name":"handler","kind":2,
            "startTimeUnixNano":"{start}","endTimeUnixNano":"{}",
            "attributes":[{{"key":"faas.invocation_id","value":{{"stringValue":"{request}"}}}}]}}]}}]}}]}}"#,
            start + 20_000_000
        )
        .replace('\n', "")
    };
    let lines = [
        request("env-a", "a-0", 0),
        request("env-a", "a-1", 1),
        request("env-b", "b-0", 2),
        request("env-a", "a-2", 3),
    ];
    let input = dir.path().join("traces.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let data = dir.path().join("data");
    faasobs_ok(&data, &["ingest".as_ref(), input.as_os_str()]);
    let rows = query_json(
        &data,
        "SELECT request_id, cold_start FROM invocations ORDER BY request_id",
    );
    assert_eq!(
        serde_json::Value::from(rows),
        serde_json::json!([
            {"request_id": "a-0", "cold_start": true},
            {"request_id": "a-1", "cold_start": false},
            {"request_id": "a-2", "cold_start": false},
            {"request_id": "b-0", "cold_start": true},
        ])
    );
    // The cold-start report says those are guesses, and what head sampling does to them; over
    // the sample, whose sources say every cold start, it says nothing of it.
    let (_, stderr) = faasobs_ok(&data, &["report", "coldstarts"]);
    assert!(
        stderr.contains(
            "note: 2 of 2 cold starts are inferred: no source said whether those invocations \
             were cold, so each instance's first invocation received counts (with head \
             sampling, its first sampled one)"
        ),
        "{stderr}"
    );
    let sample = sample_store();
    let (_, stderr) = faasobs_ok(sample.path(), &["report", "coldstarts"]);
    assert!(!stderr.contains("inferred"), "{stderr}");
}

/// The architecture an arm64 function's SDK says through `OTEL_RESOURCE_ATTRIBUTES` (the AWS
/// Lambda resource detectors leave `host.arch` out) reaches its spans' invocations and, through
/// the logs exporter's resource, an invocation only its `REPORT` line tells of: both are priced
/// as arm64, not at the pricing catalog's default architecture.
#[test]
fn an_architecture_set_in_the_sdks_environment_prices_spans_and_report_lines_as_arm64() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &[]);
    let out = run_python(
        r#"
import logging, os, sys
os.environ["OTEL_RESOURCE_ATTRIBUTES"] = "host.arch=aarch64"  # as set on the function
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
BASE = 1_795_428_000 * 10**9
resource = Resource.create({"faas.name": "resize", "cloud.provider": "aws",
                            "cloud.region": "us-east-1", "faas.max_memory": 1 << 30})
traces = TracerProvider(resource=resource)
traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True)))
span = traces.get_tracer("t").start_span("handler", kind=SpanKind.SERVER, start_time=BASE,
                                         attributes={"faas.invocation_id": "traced-1"})
span.end(end_time=BASE + 100_000_000)
traces.shutdown()
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=sys.argv[1], insecure=True)))
logger = logging.getLogger("resize")
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(LoggingHandler(logger_provider=logs))
logger.info("REPORT RequestId: untraced-1\tDuration: 100.00 ms\tBilled Duration: 100 ms\tMemory Size: 1024 MB\tMax Memory Used: 60 MB\t")
logs.shutdown()
print("sent")
"#,
        &[collector.grpc_host_port()],
    );
    assert_eq!(out.trim(), "sent");
    collector.stop();
    let rows = query_json(
        dir.path(),
        "SELECT request_id, architecture, pricing_architecture, pricing_defaulted \
         FROM invocation_costs ORDER BY request_id",
    );
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap(),
                r["architecture"].as_str().unwrap(),
                r["pricing_architecture"].as_str().unwrap(),
                r["pricing_defaulted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("traced-1", "arm64", "arm64", false),
            ("untraced-1", "arm64", "arm64", false),
        ],
        "{rows:#?}"
    );
}

/// The whole table but trace ids (the SDK makes its own), for comparing two stores.
fn invocations(data: &std::path::Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    query_json(
        data,
        "SELECT function_name, request_id, start_time, end_time, duration_ms, billed_duration_ms, \
         init_duration_ms, cold_start, status, memory_size_mb, error_type, sources \
         FROM invocations ORDER BY request_id",
    )
}

#[test]
fn the_demo_sends_the_sample_through_the_rust_otlp_exporter_without_loss() {
    // `faasobs demo` sends the sample's spans through the `opentelemetry-otlp` SDK exporter to a
    // loopback collector and imports its Lambda logs; importing the checked-in files of the same
    // sample must give the very same tables.
    let via_sdk = tempfile::tempdir().unwrap();
    let out = faasobs()
        .arg("--data")
        .arg(via_sdk.path())
        .arg("demo")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("checkout-api"), "{summary}");

    // Run again into the same folder, it prints the summary and stores nothing twice.
    let count_all =
        "SELECT (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM logs) AS logs";
    let before = query_json(via_sdk.path(), count_all);
    let (again, stderr) = faasobs_ok(via_sdk.path(), &["demo"]);
    assert_eq!(again, summary);
    assert!(
        stderr.contains("already holds the sample workload of seed 42"),
        "{stderr}"
    );
    assert_eq!(query_json(via_sdk.path(), count_all), before);

    let via_files = sample_store();

    let sdk_rows = invocations(via_sdk.path());
    assert_eq!(sdk_rows.len(), 2415);
    assert_eq!(sdk_rows, invocations(via_files.path()));
    // The files also hold each caller's client span; the replay sends the functions' own spans
    // (and the callers' spans of throttled calls, which are in the invocations compared above).
    let count_spans = "SELECT count(*) AS n FROM spans WHERE kind = 'server'";
    assert_eq!(
        query_json(via_sdk.path(), count_spans),
        query_json(via_files.path(), count_spans)
    );
    let statuses = query_json(
        via_sdk.path(),
        "SELECT status, count(*) AS n FROM invocations GROUP BY status ORDER BY status",
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("sample-traces/data/manifest.json")).unwrap(),
    )
    .unwrap();
    for row in statuses {
        let status = row["status"].as_str().unwrap();
        assert_eq!(row["n"], manifest["by_status"][status], "{status}");
    }
}

/// `faasobs ingest` without files imports the built-in sample; run again, followed by the demo of
/// the same seed, or by an import of the same workload's files, it stores nothing twice and says
/// why.
#[test]
fn the_built_in_sample_is_stored_once_by_ingest_and_demo() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| faasobs_ok(data.path(), args);
    let counts = || {
        query_json(
            data.path(),
            "SELECT (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM logs) AS logs, \
             (SELECT count(*) FROM invocations) AS invocations",
        )
    };
    let (stdout, stderr) = run(&["ingest"]);
    assert!(stderr.contains("importing the built-in sample workload (seed 42)"));
    assert!(stdout.contains("stored "), "{stdout}");
    let stored = counts();
    assert_eq!(stored[0]["invocations"], 2415);

    let (stdout, _) = run(&["ingest"]);
    assert!(
        stdout.contains("already holds the built-in sample workload"),
        "{stdout}"
    );
    let (stdout, stderr) = run(&["demo"]);
    assert!(
        stderr.contains("already holds the sample workload of seed 42"),
        "{stderr}"
    );
    assert!(stdout.contains("checkout-api"), "{stdout}");
    assert_eq!(counts(), stored);

    // The same workload as files `faasobs gen` wrote is skipped too; another seed's is not.
    let files = tempfile::tempdir().unwrap();
    for seed in ["42", "7"] {
        faasobs()
            .args(["gen", "--seed", seed, "--out"])
            .arg(files.path().join(seed))
            .assert()
            .success();
    }
    let (stdout, stderr) = run(&["ingest", files.path().join("42").to_str().unwrap()]);
    assert!(
        stderr.contains("it holds the sample workload (seed 42, 2026-11-23T09:00:00.000Z to"),
        "{stderr}"
    );
    assert!(stdout.contains("nothing to import"), "{stdout}");
    assert_eq!(counts(), stored);
    let (stdout, _) = run(&["ingest", files.path().join("7").to_str().unwrap()]);
    assert!(!stdout.contains("nothing to import"), "{stdout}");
    assert_ne!(counts(), stored);
    // Stored once wholly, that folder is a sample of the ledger too: the demo of seed 7 skips.
    let (_, stderr) = run(&["demo", "--seed", "7"]);
    assert!(
        stderr.contains("already holds the sample workload of seed 7"),
        "{stderr}"
    );
}
