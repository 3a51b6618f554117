//! Overload: more concurrent senders than a collector with a tiny queue and one request in flight
//! can take. The collector answers "retry later" (gRPC UNAVAILABLE, HTTP 503), the Python SDK
//! exporters retry, its memory stays under the documented bound, and every export the exporters
//! saw succeed is stored exactly once.

use std::collections::HashMap;

use crate::support::{RunningCollector, query_json, run_python};

/// The peak resident memory the collector may reach under this overload (docs/operations.md).
const PEAK_RSS_BOUND_KIB: u64 = 512 * 1024;

/// Eight threads, each with its own exporter (gRPC or HTTP/protobuf), export six batches of 200
/// spans of about 500 bytes, starting together; prints the ids of the exports that succeeded.
const SENDERS: &str = r#"
import json, sys, threading
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
THREADS, BATCHES, SPANS = 8, 6, 200
BASE = 1_795_428_000 * 10**9  # 2026-11-23T10:00:00Z

class Keep(SpanProcessor):
    def __init__(self):
        self.spans = []
    def on_end(self, span):
        self.spans.append(span)

def batch(function, b):
    keep = Keep()
    provider = TracerProvider(resource=Resource.create({"faas.name": function, "cloud.provider": "aws"}))
    provider.add_span_processor(keep)
    tracer = provider.get_tracer("faasobs-overload-test")
    ids = []
    for k in range(SPANS):
        rid = f"{function}-{b}-{k}"
        start = BASE + (b * SPANS + k) * 1_000_000
        span = tracer.start_span("handler", kind=SpanKind.SERVER, start_time=start,
                                 attributes={"faas.invocation_id": rid, "faas.trigger": "http",
                                             "padding": "x" * 300})
        span.end(end_time=start + 5_000_000)
        ids.append(rid)
    return keep.spans, ids

acknowledged, failed = [], []
lock = threading.Lock()
start_together = threading.Barrier(THREADS)

def sender(t):
    if t % 2 == 0:
        exporter = GrpcSpans(endpoint=grpc_endpoint, insecure=True, timeout=120)
    else:
        exporter = HttpSpans(endpoint=http_endpoint + "/v1/traces", timeout=120)
    batches = [batch(f"load-{t}", b) for b in range(BATCHES)]
    start_together.wait()
    for spans, ids in batches:
        result = exporter.export(spans)
        with lock:
            (acknowledged if result == SpanExportResult.SUCCESS else failed).extend(ids)

threads = [threading.Thread(target=sender, args=(t,)) for t in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"acknowledged": acknowledged, "failed": len(failed)}))
"#;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn overloaded_collector_slows_sdk_exporters_without_losing_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let collector =
        RunningCollector::start(dir.path(), &["--max-in-flight", "1", "--queue-depth", "1"]);
    let out = run_python(SENDERS, &[collector.grpc_host_port(), &collector.http]);
    let result: serde_json::Value = serde_json::from_str(out.trim()).expect("the senders' JSON");
    let acknowledged: Vec<&str> = result["acknowledged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    let metrics = collector.metrics();
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("faasobs_requests_refused_overload_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refusal counter in {metrics}"));
    eprintln!(
        "refused {refused} requests; peak RSS {} KiB",
        peak_rss_kib(collector.child.id())
    );
    assert!(refused > 0.0, "the senders never overloaded the collector");
    let peak = peak_rss_kib(collector.child.id());
    assert!(
        peak <= PEAK_RSS_BOUND_KIB,
        "peak RSS {peak} KiB under overload"
    );
    collector.stop();

    // The exporters' retries got every batch through.
    assert_eq!(result["failed"], 0, "exports failed after their retries");
    assert_eq!(acknowledged.len(), 8 * 6 * 200);
    let rows = query_json(
        dir.path(),
        "SELECT request_id, count(*) AS n FROM invocation_fragments GROUP BY request_id",
    );
    let stored: HashMap<&str, i64> = rows
        .iter()
        .map(|r| (r["request_id"].as_str().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    for id in acknowledged {
        assert_eq!(
            stored.get(id),
            Some(&1),
            "{id} acknowledged, stored {:?}",
            stored.get(id)
        );
    }
}
