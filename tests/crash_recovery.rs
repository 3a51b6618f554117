//! A collector killed with SIGKILL in the middle of a stream of acknowledged writes loses
//! nothing it acknowledged and stores nothing twice.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};

use crate::support::{RunningCollector, faasobs, query_json};

fn start_collector(data: &std::path::Path) -> (Child, String) {
    let mut collector = RunningCollector::start(data, &[]);
    let endpoint = collector.grpc.clone();
    // The test kills the process itself; take it out of the guard that would kill it on drop.
    let child = std::mem::replace(
        &mut collector.child,
        Command::new("true").spawn().expect("true runs"),
    );
    (child, endpoint)
}

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A request of `n` invocation spans whose request ids start with `prefix`.
pub(crate) fn request(
    prefix: &str,
    n: usize,
    seq: u64,
) -> (ExportTraceServiceRequest, Vec<String>) {
    let base = 1_795_424_400_000_000_000u64 + seq * 1_000_000;
    let mut ids = Vec::new();
    let spans = (0..n)
        .map(|k| {
            let id = format!("{prefix}-{k}");
            ids.push(id.clone());
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&seq.to_be_bytes());
            trace_id[8..].copy_from_slice(&(k as u64 + 1).to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (seq * 1000 + k as u64 + 1).to_be_bytes().to_vec(),
                name: "handler".into(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: base,
                end_time_unix_nano: base + 5_000_000,
                attributes: vec![attr("faas.invocation_id", &id)],
                ..Default::default()
            }
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr("faas.name", "crashy")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (request, ids)
}

/// A request with one log line for each of `ids`, carrying the id as `faas.invocation_id`.
fn log_request(ids: &[String], seq: u64) -> ExportLogsServiceRequest {
    let time = 1_795_424_400_000_000_000u64 + seq * 1_000_000;
    let log_records = ids
        .iter()
        .map(|id| LogRecord {
            time_unix_nano: time,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(format!("handled {id}"))),
            }),
            attributes: vec![attr("faas.invocation_id", id)],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![attr("faas.name", "crashy")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn every_acknowledged_record_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut acknowledged_logs: Vec<String> = Vec::new();
    let mut seq = 0u64;
    for round in 0..3u64 {
        let (mut child, endpoint) = start_collector(&data);
        // Kill at a different moment each round, while writes are in flight.
        let kill_after = Duration::from_millis(400 + 350 * round);
        let started = Instant::now();
        let mut killed = false;
        runtime.block_on(async {
            let mut client = TraceServiceClient::connect(endpoint.clone())
                .await
                .expect("connects");
            let mut logs = LogsServiceClient::connect(endpoint)
                .await
                .expect("connects");
            loop {
                if !killed && started.elapsed() >= kill_after {
                    child.kill().expect("SIGKILL");
                    killed = true;
                }
                seq += 1;
                let (req, ids) = request(&format!("r{round}-{seq}"), 25, seq);
                match client.export(req).await {
                    Ok(_) => acknowledged.extend(ids.iter().cloned()),
                    Err(_) if killed => break,
                    Err(e) => panic!("the collector refused a write before the kill: {e}"),
                }
                match logs.export(log_request(&ids, seq)).await {
                    Ok(_) => acknowledged_logs.extend(ids),
                    Err(_) if killed => break,
                    Err(e) => panic!("the collector refused logs before the kill: {e}"),
                }
            }
        });
        child.wait().unwrap();
    }
    assert!(
        acknowledged.len() > 100,
        "the stream was too short to test anything"
    );

    // What a crash in the middle of a write leaves behind, on top: a newest WAL segment whose only
    // frame is torn (the segment header, then a frame header announcing 1000 bytes and 10 of
    // them), and a half-written Parquet temp file.
    let newest = data.join("wal/00000000000099999999.wal");
    let mut torn = b"FAASWAL\n".to_vec();
    torn.extend_from_slice(&1u32.to_le_bytes());
    torn.extend_from_slice(&0xFAA5_0B5Eu32.to_le_bytes());
    torn.extend_from_slice(&[1, 1, 0, 0]);
    torn.extend_from_slice(&1000u32.to_le_bytes());
    torn.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    torn.extend_from_slice(&[7; 10]);
    std::fs::write(&newest, &torn).unwrap();
    let partition = data.join("invocations/2026-11-23/09");
    std::fs::create_dir_all(&partition).unwrap();
    let temp = partition.join("00000000000000000099-00000000000000000099.parquet.tmp");
    std::fs::write(&temp, b"PAR1\x15\x04half a file").unwrap();

    // Open the store again (replaying the WAL), then read what it holds.
    let compact = faasobs()
        .arg("--data")
        .arg(&data)
        .arg("compact")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        compact.status.success(),
        "{}",
        String::from_utf8_lossy(&compact.stderr)
    );
    let log = String::from_utf8_lossy(&compact.stderr);
    assert!(log.contains("dropped a torn last write"), "{log}");
    // The summary counts the partitions whose files were merged, and then each holds one file.
    let summary = String::from_utf8_lossy(&compact.stdout);
    let compacted: usize = summary
        .split(", compacted ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of partitions compacted: {summary}"));
    assert!(compacted >= 1, "{summary}");
    let mut files_per_partition: HashMap<std::path::PathBuf, usize> = HashMap::new();
    for file in walk(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
    {
        *files_per_partition
            .entry(file.parent().unwrap().to_path_buf())
            .or_default() += 1;
    }
    assert!(
        files_per_partition.values().all(|&n| n == 1),
        "{summary}: {files_per_partition:?}"
    );
    assert!(
        !temp.exists(),
        "the half-written temp file is removed at start"
    );
    assert!(
        !walk(&data)
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".damaged")),
        "a torn last write is not damage"
    );
    let rows = query_json(
        &data,
        "SELECT request_id, count(*) AS n FROM invocation_fragments GROUP BY request_id",
    );
    let counts: HashMap<String, i64> = rows
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let spans = query_json(
        &data,
        "SELECT request_id, count(*) AS n FROM spans GROUP BY request_id",
    );
    let span_counts: HashMap<String, i64> = spans
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(unique.len(), acknowledged.len());
    for id in &acknowledged {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "invocation {id} was acknowledged but is stored {:?} times",
            counts.get(id)
        );
        assert_eq!(span_counts.get(id), Some(&1), "span of {id}");
    }
    let logs = query_json(
        &data,
        "SELECT request_id, count(*) AS n FROM logs GROUP BY request_id",
    );
    let log_counts: HashMap<&str, i64> = logs
        .iter()
        .map(|r| (r["request_id"].as_str().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    assert!(
        acknowledged_logs.len() > 100,
        "too few logs to test anything"
    );
    for id in &acknowledged_logs {
        assert_eq!(log_counts.get(id.as_str()), Some(&1), "log line of {id}");
    }
}

#[test]
fn a_request_retried_by_its_exporter_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let collector = RunningCollector::start(&data, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(collector.grpc.clone())
            .await
            .unwrap();
        let (request, _) = request("retried", 3, 7);
        for _ in 0..2 {
            client.export(request.clone()).await.unwrap();
        }
    });
    collector.stop();
    let rows = query_json(
        &data,
        "SELECT (SELECT count(*) FROM invocations) AS invocations, (SELECT count(*) FROM spans) AS spans",
    );
    assert_eq!(rows[0]["invocations"], 3);
    assert_eq!(rows[0]["spans"], 3);
}

#[test]
fn acknowledged_rows_still_in_the_wal_are_visible_to_queries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A flush interval of an hour: everything stays in the WAL while the collector runs.
    let collector = RunningCollector::start(&data, &["--flush-interval", "1h"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (request, ids) = request("in-wal", 4, 9);
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(collector.grpc.clone())
            .await
            .unwrap();
        client.export(request).await.unwrap();
    });
    let parquet_files = walk(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(parquet_files, 0, "nothing is flushed yet");
    let rows = query_json(
        &data,
        "SELECT request_id FROM invocations ORDER BY request_id",
    );
    let seen: Vec<_> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids);
    // Each span with its resource's attributes, whose row is in the WAL too.
    let by_resource = "SELECT resource_attributes['faas.name']['string'] AS function, \
                       count(*) AS n FROM spans GROUP BY 1";
    let expected = serde_json::json!([{"function": "crashy", "n": 4}]);
    let spans = query_json(&data, by_resource);
    assert_eq!(serde_json::Value::from(spans), expected);
    collector.stop();
    // After the flush the same rows come from Parquet, once.
    let spans = query_json(&data, by_resource);
    assert_eq!(serde_json::Value::from(spans), expected);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
