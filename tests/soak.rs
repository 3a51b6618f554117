//! Soak: a steady stream over gRPC and HTTP for a bounded time (30 s here; set
//! `FAASOBS_SOAK_SECONDS` for the long form) while the collector's resident memory and open file
//! handles are sampled every second. Neither may trend upward, and everything acknowledged is
//! stored. Meanwhile queries run one after another, and each must count every invocation
//! acknowledged before it started, however the collector's flushes and compactions fall.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;

use crate::crash_recovery::request;
use crate::support::{RunningCollector, http_client, query_json};

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn open_files(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// The highest value in the first and in the last third of the samples after the first fifth
/// (warm-up: allocator pools, the first Parquet files, the gRPC connection).
fn first_and_last_third(samples: &[u64]) -> (u64, u64) {
    let steady = &samples[samples.len() / 5..];
    let third = (steady.len() / 3).max(1);
    let first = *steady[..third].iter().max().unwrap();
    let last = *steady[steady.len() - third..].iter().max().unwrap();
    (first, last)
}

#[test]
fn a_steady_stream_does_not_grow_memory_or_file_handles() {
    let seconds: u64 = std::env::var("FAASOBS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(dir.path(), &["--flush-interval", "1s"]);
    let pid = collector.child.id();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut client = runtime
        .block_on(TraceServiceClient::connect(collector.grpc.clone()))
        .expect("connects");
    let http = http_client();

    let (mut memory, mut files) = (Vec::new(), Vec::new());
    let mut acknowledged = 0usize;
    let acknowledged_so_far = AtomicUsize::new(0);
    let sending = AtomicBool::new(true);
    let counted = "SELECT count(DISTINCT request_id) AS n FROM invocation_fragments";
    let started = Instant::now();
    let mut next_sample = started;
    let mut seq = 0u64;
    // Each query's count against what was acknowledged when it started.
    let answers = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut answers = Vec::new();
            while sending.load(Ordering::Relaxed) {
                let before = acknowledged_so_far.load(Ordering::Relaxed);
                let n = query_json(dir.path(), counted)[0]["n"].as_i64().unwrap() as usize;
                answers.push((before, n));
            }
            answers
        });
        while started.elapsed() < Duration::from_secs(seconds) {
            // About 1,000 spans a second: 50 per request, a request every 50 ms, gRPC and HTTP in
            // turn.
            seq += 1;
            let (req, ids) = request(&format!("soak-{seq}"), 50, seq);
            if seq.is_multiple_of(2) {
                runtime
                    .block_on(client.export(req))
                    .expect("a steady stream is accepted");
            } else {
                let response = http
                    .post(format!("{}/v1/traces", collector.http))
                    .header("content-type", "application/x-protobuf")
                    .send(&req.encode_to_vec()[..])
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
            }
            acknowledged += ids.len();
            acknowledged_so_far.store(acknowledged, Ordering::Relaxed);
            if Instant::now() >= next_sample {
                memory.push(resident_kib(pid));
                files.push(open_files(pid));
                next_sample += Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        sending.store(false, Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(memory.len() >= 10, "too few samples: {memory:?}");
    assert!(!answers.is_empty());
    for pair in answers.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "a later query counted fewer: {answers:?}"
        );
    }
    for (before, n) in &answers {
        assert!(
            n >= before,
            "acknowledged {before} before a query that counted {n}"
        );
    }
    eprintln!("{} queries while sending", answers.len());
    eprintln!("resident KiB {memory:?}; open files {files:?}");

    let (memory_first, memory_last) = first_and_last_third(&memory);
    assert!(
        memory_last <= memory_first + memory_first / 4 + 16 * 1024,
        "resident memory grew from {memory_first} KiB to {memory_last} KiB: {memory:?}"
    );
    let (files_first, files_last) = first_and_last_third(&files);
    assert!(
        files_last <= files_first + 8,
        "open files grew from {files_first} to {files_last}: {files:?}"
    );
    collector.stop();
    let stored = query_json(
        dir.path(),
        "SELECT count(DISTINCT request_id) AS n FROM invocation_fragments",
    );
    assert_eq!(stored[0]["n"], acknowledged as i64);
}
