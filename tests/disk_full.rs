//! A full disk: the collector's data directory is a small tmpfs (mounted in a user and mount
//! namespace of its own, so no privileges are needed) that a filler file fills up while spans
//! arrive. Writes are refused with a retryable status, nothing acknowledged is damaged, and
//! ingestion resumes when space returns.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;

use crate::crash_recovery::request;
use crate::support::http_client;

/// The collector's life inside the namespace, stepped by files the test creates in `$CTRL`.
const SCRIPT: &str = r#"
set -eu
mount -t tmpfs -o size=8m tmpfs "$MNT"
"$FAASOBS" --data "$MNT/data" collect --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --flush-interval 200ms &
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
    let mut line = String::new();
    BufReader::new(namespace.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
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
