//! A full disk: the collector's data directory is a small tmpfs (mounted in a user and mount
//! namespace of its own, so no privileges are needed) that a filler file fills up while spans
//! arrive. Writes are refused with a retryable status, nothing acknowledged is damaged, and
//! ingestion resumes when space returns.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;

use crate::crash_recovery::request;
use crate::support::first_line;
use crate::support::http_client;

/// The collector's life inside the namespace, stepped by files the test creates in `$CTRL`.
const SCRIPT: &str = r#"
set -eu
mount -t tmpfs -o size=8m tmpfs "$MNT"
"$FAASOBS" --data "$MNT/data" collect --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --flush-interval 2s &
pid=$!
step() { while [ ! -e "$CTRL/$1" ]; do sleep 0.05; done; }
step fill
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
touch "$CTRL/filled"
step free
rm -f "$MNT/filler"
touch "$CTRL/freed"
step stop
kill -TERM "$pid"
wait "$pid"
ls "$MNT/data/wal" > "$CTRL/wal.txt"
"$FAASOBS" --data "$MNT/data" query --format json \
  "SELECT request_id, count(*) AS n FROM invocation_fragments GROUP BY request_id" > "$CTRL/rows.json"
touch "$CTRL/done"
"#;

fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Posts one request of 20 invocation spans; returns the HTTP status and the request ids.
fn send(http: &str, prefix: &str, seq: u64) -> (u16, Vec<String>, Option<String>) {
    let (body, ids) = request(prefix, 20, seq);
    let response = http_client()
        .post(format!("{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .send(&body.encode_to_vec()[..])
        .expect("the collector answers");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (response.status().as_u16(), ids, retry_after)
}

#[test]
fn a_full_disk_refuses_writes_retryably_and_ingestion_resumes_when_space_returns() {
    let control = tempfile::tempdir().unwrap();
    let ctrl = control.path();
    let mount = ctrl.join("mnt");
    std::fs::create_dir(&mount).unwrap();
    let mut namespace = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "bash", "-c", SCRIPT])
        .env("MNT", &mount)
        .env("CTRL", ctrl)
        .env("FAASOBS", assert_cmd::cargo::cargo_bin("faasobs"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs");
    let line = first_line(&mut namespace);
    // The collector's first segment opened before this line was printed.
    let started = Instant::now();
    let http = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the collector did not start in the namespace: {line:?}"))
        .trim_end_matches(',')
        .to_string();

    let mut acknowledged: Vec<String> = Vec::new();
    let mut seq = 0;
    for _ in 0..5 {
        seq += 1;
        let (status, ids, _) = send(&http, &format!("before-{seq}"), seq);
        assert_eq!(status, 200);
        acknowledged.extend(ids);
    }

    std::fs::write(ctrl.join("fill"), b"").unwrap();
    wait_for(&ctrl.join("filled"));
    let mut refused = Vec::new();
    for _ in 0..40 {
        seq += 1;
        let (status, ids, retry_after) = send(&http, &format!("full-{seq}"), seq);
        match status {
            200 => acknowledged.extend(ids),
            503 => {
                assert!(retry_after.is_some(), "503 without Retry-After");
                refused.push(seq);
            }
            other => panic!("a full disk answered {other}, not a retryable 503"),
        }
    }
    assert!(
        refused.len() > 30,
        "only {} of 40 writes were refused on a full disk",
        refused.len()
    );
    // The segment holding the writes from before is closed once it is 2 s old, which is while
    // the disk is still full: the next segment cannot be created then.
    if let Some(rest) = Duration::from_secs(3).checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }

    std::fs::write(ctrl.join("free"), b"").unwrap();
    wait_for(&ctrl.join("freed"));
    // The refused requests, retried as an exporter would, and new ones: all accepted in time.
    for &s in &refused {
        let started = Instant::now();
        loop {
            let (status, ids, _) = send(&http, &format!("full-{s}"), s);
            if status == 200 {
                acknowledged.extend(ids);
                break;
            }
            assert_eq!(status, 503);
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ingestion did not resume after space returned"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for _ in 0..5 {
        seq += 1;
        let (status, ids, _) = send(&http, &format!("after-{seq}"), seq);
        assert_eq!(status, 200);
        acknowledged.extend(ids);
    }

    std::fs::write(ctrl.join("stop"), b"").unwrap();
    let exit = namespace.wait().unwrap();
    assert!(
        exit.success(),
        "the collector or the final query failed: {exit}"
    );
    // A segment whose creation the full disk cut short must not keep the WAL from moving on:
    // once space returned, everything was flushed by the time the collector stopped.
    let wal = std::fs::read_to_string(ctrl.join("wal.txt")).unwrap();
    assert!(
        wal.trim().is_empty(),
        "the WAL still holds segments after a clean stop: {wal}"
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(ctrl.join("rows.json")).unwrap()).unwrap();
    let stored: HashMap<&str, i64> = rows
        .iter()
        .map(|r| (r["request_id"].as_str().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    for id in &acknowledged {
        assert_eq!(
            stored.get(id.as_str()),
            Some(&1),
            "{id} was acknowledged but is stored {:?} times",
            stored.get(id.as_str())
        );
    }
}

/// An import into a tmpfs of 1 MiB: a first small import fits, then one far larger than the
/// space left. The import's WAL is in memory, so the rows it could not write are lost with a
/// clear error and a non-zero exit, and what was stored before is all still there.
const IMPORT_SCRIPT: &str = r#"
set -u
mount -t tmpfs -o size=1m tmpfs "$MNT"
"$FAASOBS" --data "$MNT/data" ingest --function kept "$CTRL/small.ndjson" > /dev/null 2> "$CTRL/small.err"
echo $? > "$CTRL/small.status"
"$FAASOBS" --data "$MNT/data" ingest --function big "$CTRL/large.ndjson" > /dev/null 2> "$CTRL/large.err"
echo $? > "$CTRL/large.status"
"$FAASOBS" --data "$MNT/data" query --format json \
  "SELECT function_name, count(*) AS n FROM logs GROUP BY function_name" > "$CTRL/rows.json" 2> "$CTRL/query.err"
"#;

/// `count` Powertools lines of `function`, each with a message of 256 random hex digits, which
/// compress to about half.
fn random_lines(function: &str, count: usize, seed: u64) -> String {
    let mut state = seed | 1;
    let mut text = String::new();
    for i in 0..count {
        let message: String = (0..16)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                format!("{state:016x}")
            })
            .collect();
        let line = serde_json::json!({
            "level": "INFO",
            "message": message,
            "timestamp": format!("2026-11-23T09:{:02}:{:02}.000Z", (i / 60) % 60, i % 60),
            "function_name": function,
            "function_request_id": format!("{function}-{i}"),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

#[test]
fn an_import_onto_a_full_disk_fails_clearly_and_keeps_what_was_stored_before() {
    let control = tempfile::tempdir().unwrap();
    let ctrl = control.path();
    let mount = ctrl.join("mnt");
    std::fs::create_dir(&mount).unwrap();
    std::fs::write(ctrl.join("small.ndjson"), random_lines("kept", 20, 7)).unwrap();
    std::fs::write(ctrl.join("large.ndjson"), random_lines("big", 20_000, 11)).unwrap();
    let status = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "bash",
            "-c",
            IMPORT_SCRIPT,
        ])
        .env("MNT", &mount)
        .env("CTRL", ctrl)
        .env("FAASOBS", assert_cmd::cargo::cargo_bin("faasobs"))
        .env("RUST_LOG", "warn")
        .status()
        .expect("unshare (util-linux) runs");
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(ctrl.join(name)).unwrap();

    assert_eq!(read("small.status").trim(), "0", "{}", read("small.err"));
    assert_ne!(
        read("large.status").trim(),
        "0",
        "the import into a full disk succeeded"
    );
    let error = read("large.err");
    assert!(
        error.contains("could not be written to Parquet and are lost"),
        "{error}"
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&read("rows.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", read("query.err")));
    let count = |function: &str| {
        rows.iter()
            .find(|r| r["function_name"] == function)
            .and_then(|r| r["n"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(count("kept"), 20, "a stored row was lost: {rows:?}");
    assert!(
        count("big") < 20_000,
        "the full disk held everything: {rows:?}"
    );
}
