//! Stores on S3-compatible object storage, against moto's S3 server (from PyPI) on loopback:
//! - a data directory's files uploaded with boto3 as `aws s3 sync` would, and the reading
//!   commands over `s3://BUCKET/PREFIX` answering exactly as they do over the directory;
//! - a collector keeping its Parquet files in a bucket (`--parquet-store`), its directory
//!   remembering it, and queries over either answering as an import into a plain directory does.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    COLLECT_ON_FREE_PORTS, RunningCollector, faasobs, faasobs_at, first_line, http_client, python,
    root, sample_store, store_importing,
};
use crate::tui::{Tmux, invocations_shown};

/// Starts moto's S3 server on a free loopback port, creates the bucket, uploads every file
/// under the directory (argument 1) to the bucket (2) under the prefix (3), prints the endpoint
/// and serves until its standard input closes. Each line read meanwhile, `delete-bucket NAME`,
/// `create-bucket NAME` or `rename KEY NEW_KEY` (in the bucket, a copy then a delete, as S3
/// renames), is done and answered `done` (a bucket is emptied before it is deleted). `requests`
/// is answered with the requests served since the last `requests` or `sequence`, counted by kind
/// (`LIST`, else the HTTP method) from the server's request log, as a JSON object; `sequence`
/// with the same requests in the order they were served, each as `KIND STATUS`, as a JSON array.
const S3_SERVER: &str = r#"
import collections, json, logging, os, re, sys
import boto3
from moto.server import ThreadedMotoServer

root, bucket, prefix = sys.argv[1:4]
served = collections.Counter()
sequence = []

class CountRequests(logging.Handler):
    def emit(self, record):
        line = re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage())  # its colours
        request = re.search(r'"(GET|HEAD|PUT|POST|DELETE) (\S+)[^"]*" (\d{3})', line)
        if request:
            kind = "LIST" if "list-type=" in request[2] else request[1]
            served[kind] += 1
            sequence.append(f"{kind} {request[3]}")

requests_log = logging.getLogger("werkzeug")
requests_log.setLevel(logging.INFO)
requests_log.addHandler(CountRequests())
requests_log.propagate = False
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
endpoint = f"http://{host}:{port}"
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
)
s3.create_bucket(Bucket=bucket)
for folder, _, names in os.walk(root):
    for name in names:
        path = os.path.join(folder, name)
        relative = os.path.relpath(path, root).replace(os.sep, "/")
        s3.upload_file(path, bucket, f"{prefix}/{relative}" if prefix else relative)
print(endpoint, flush=True)
for line in sys.stdin:
    action, *name = line.split()
    if action in ("requests", "sequence"):
        print(json.dumps(served if action == "requests" else sequence), flush=True)
        served.clear()
        sequence.clear()
        continue
    if action == "rename":
        s3.copy_object(Bucket=bucket, CopySource={"Bucket": bucket, "Key": name[0]}, Key=name[1])
        s3.delete_object(Bucket=bucket, Key=name[0])
    elif action == "delete-bucket":
        for listed in s3.list_objects_v2(Bucket=name[0]).get("Contents", []):
            s3.delete_object(Bucket=name[0], Key=listed["Key"])
        s3.delete_bucket(Bucket=name[0])
    else:
        s3.create_bucket(Bucket=name[0])
    print("done", flush=True)
server.stop()
"#;

/// moto's S3 server, with a bucket holding a copy of a directory; stopped when dropped.
struct S3Server {
    server: Child,
    answers: BufReader<ChildStdout>,
    endpoint: String,
}

impl S3Server {
    fn holding(data: &Path, bucket: &str, prefix: &str) -> S3Server {
        let mut server = Command::new(python())
            .arg("-c")
            .arg(S3_SERVER)
            .arg(data)
            .args([bucket, prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut answers = BufReader::new(server.stdout.take().expect("piped"));
        let mut endpoint = String::new();
        answers
            .read_line(&mut endpoint)
            .expect("the server says its endpoint");
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "moto's S3 server did not start: {endpoint:?}"
        );
        S3Server {
            server,
            answers,
            endpoint: endpoint.trim().to_string(),
        }
    }

    /// Sends the helper one command line; its answer, a line.
    fn ask(&mut self, command: &str) -> String {
        let stdin = self.server.stdin.as_mut().expect("piped");
        writeln!(stdin, "{command}").expect("the server reads");
        let mut answer = String::new();
        self.answers
            .read_line(&mut answer)
            .expect("the server answers");
        answer
    }

    /// Deletes (`delete-bucket`) or creates (`create-bucket`) the bucket `name`, or renames an
    /// object of the bucket (`rename`, `name` then being `KEY NEW_KEY`).
    fn bucket(&mut self, action: &str, name: &str) {
        let answer = self.ask(&format!("{action} {name}"));
        assert_eq!(answer.trim(), "done", "{action} {name}");
    }

    /// The requests served since the last call (or the start), by kind: `LIST`, else the HTTP
    /// method.
    fn requests(&mut self) -> std::collections::BTreeMap<String, u64> {
        serde_json::from_str(&self.ask("requests")).expect("counts as JSON")
    }

    /// The requests served since the last call or [`S3Server::requests`], in their order, each
    /// as `KIND STATUS` (`LIST 200`, `GET 404`).
    fn sequence(&mut self) -> Vec<String> {
        serde_json::from_str(&self.ask("sequence")).expect("a JSON array")
    }

    /// The environment that points faasobs at this server, as a user would set it.
    fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// `faasobs --data URL` with [`S3Server::environment`].
    fn faasobs(&self, url: &str) -> assert_cmd::Command {
        let mut cmd = faasobs_at(Path::new(url));
        cmd.envs(self.environment());
        cmd
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.server.stdin.take());
        let _ = self.server.wait();
    }
}

/// Standard output of a command that must succeed.
fn stdout_of(cmd: &mut assert_cmd::Command, args: &[&str]) -> String {
    let out = cmd.args(args).output().expect("faasobs runs");
    assert!(
        out.status.success(),
        "faasobs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn a_copy_on_s3_answers_every_reading_command_as_the_directory_does() {
    let data = sample_store();
    let mut s3 = S3Server::holding(data.path(), "telemetry", "teams/checkout/faasobs");
    let url = "s3://telemetry/teams/checkout/faasobs";
    let commands: &[&[&str]] = &[
        &[
            "query",
            "--format",
            "json",
            "SELECT function_name, count(*) AS invocations, sum(billed_duration_ms) AS billed, \
             count(*) FILTER (WHERE cold_start) AS cold FROM invocations \
             GROUP BY function_name ORDER BY function_name",
        ],
        &[
            "query",
            "--format",
            "csv",
            "SELECT function_name, count(*) AS spans, count(resource_attributes) AS with_resource \
             FROM spans GROUP BY function_name ORDER BY function_name",
        ],
        &[
            "query",
            "--format",
            "ndjson",
            "SELECT function_name, count(*) AS logs FROM logs \
             GROUP BY function_name ORDER BY function_name",
        ],
        &["report", "coldstarts", "--format", "json"],
        &["summary", "--format", "json"],
        &["cost", "report", "--format", "json"],
    ];
    for args in commands {
        let local = stdout_of(&mut faasobs_at(data.path()), args);
        let remote = stdout_of(&mut s3.faasobs(url), args);
        assert!(
            local.contains("checkout-api"),
            "{args:?} answered nothing: {local}"
        );
        assert_eq!(remote, local, "{args:?} over {url}");
    }
    // A trailing slash names the same prefix; the shell reads its script from the pipe.
    let counted = stdout_of(
        s3.faasobs(&format!("{url}/"))
            .write_stdin("SELECT count(*) AS spans FROM spans;\n"),
        &["sql"],
    );
    let local = stdout_of(
        faasobs_at(data.path()).args(["query", "SELECT count(*) AS spans FROM spans"]),
        &[],
    );
    assert_eq!(counted.trim(), format!("{}\n(1 row)", local.trim()));

    // A query lists each table's folder once and reads the files it needs, with no HEAD of
    // each file (DataFusion's scans send one per file, answered from the listing).
    s3.requests();
    stdout_of(&mut s3.faasobs(url), commands[0]);
    let served = s3.requests();
    assert_eq!(served.get("LIST"), Some(&4), "{served:?}");
    assert!(
        served.get("GET").is_some_and(|&gets| gets > 0),
        "{served:?}"
    );
    assert_eq!(served.get("HEAD"), None, "{served:?}");
}

#[test]
fn an_empty_prefix_is_said_a_missing_bucket_fails_and_writers_refuse_object_storage() {
    let data = sample_store();
    let s3 = S3Server::holding(data.path(), "telemetry", "");
    // The bucket's root holds the copy.
    let count = "SELECT count(*) AS n FROM invocations";
    let root = stdout_of(&mut s3.faasobs("s3://telemetry"), &["query", count]);
    let local = stdout_of(&mut faasobs_at(data.path()), &["query", count]);
    assert_eq!(root, local);

    let empty = s3
        .faasobs("s3://telemetry/nothing-here")
        .args(["query", count])
        .output()
        .unwrap();
    assert!(empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stdout).contains("| 0 |"));
    assert!(
        String::from_utf8_lossy(&empty.stderr)
            .contains("note: s3://telemetry/nothing-here holds no faasobs files"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );

    let missing = s3
        .faasobs("s3://no-such-bucket/x")
        .args(["query", count])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("opening s3://no-such-bucket/x (object storage is configured by")
            && said.contains("NoSuchBucket"),
        "{said}"
    );

    // Nothing is created in the working directory for a URL (no `s3:` folder).
    let cwd = tempfile::tempdir().unwrap();
    for writer in [
        vec!["ingest", "-"],
        vec!["collect"],
        vec!["compact"],
        vec!["demo"],
        vec!["tui"],
    ] {
        let refused = s3
            .faasobs("s3://telemetry/x")
            .current_dir(cwd.path())
            .args(&writer)
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{writer:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("local data directory, not s3://telemetry/x"),
            "{writer:?}: {said}"
        );
    }
    let unsupported = faasobs()
        .current_dir(cwd.path())
        .args(["--data", "gs://bucket/x", "query", count])
        .output()
        .unwrap();
    assert!(!unsupported.status.success());
    assert!(String::from_utf8_lossy(&unsupported.stderr).contains("s3://BUCKET/PREFIX"));
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

/// The dashboard views a copy on S3. Its refreshes answer from one listing of the bucket for
/// `BUCKET_LISTING_REUSE` (10 s); an invocations file replaced meanwhile, as a compaction
/// replaces files, makes the refresh that misses it list again at once instead of showing an
/// error.
#[test]
fn the_dashboard_views_a_copy_on_s3() {
    let data = sample_store();
    let mut s3 = S3Server::holding(data.path(), "telemetry", "faasobs");
    let url = Path::new("s3://telemetry/faasobs");
    let tmux = Tmux::start_with_env(
        "s3",
        &s3.environment(),
        url,
        "--no-listen --concurrency-limit 20 --refresh 300ms",
    );
    tmux.wait_for("the sample, viewed on S3", |s| {
        s.contains("viewing s3://telemetry/faasobs") && invocations_shown(s) == Some(2415)
    });
    let hour = "faasobs/invocations/2026-11-23/09";
    let file = std::fs::read_dir(data.path().join("invocations/2026-11-23/09"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .find(|name| name.ends_with(".parquet"))
        .expect("the sample's invocations file");
    // The same rows under a name whose segment range covers the old one's.
    let (first, _) = file.split_once('-').unwrap();
    let replacement = format!("{first}-{:020}.parquet", 99_999_999);
    s3.bucket("rename", &format!("{hour}/{file} {hour}/{replacement}"));
    s3.requests();
    // Watched until the dashboard has listed the four table folders again (a minute at most:
    // how soon depends on this machine's speed, since the dashboard spaces its loads by the CPU
    // they take), showing no error meanwhile.
    let mut sequence = Vec::new();
    let watched = Instant::now();
    while sequence
        .iter()
        .filter(|r: &&String| r.starts_with("LIST"))
        .count()
        < 4
    {
        assert!(
            watched.elapsed() < Duration::from_secs(60),
            "no new listing: {sequence:?}"
        );
        let screen = tmux.screen();
        assert!(!screen.contains(" error: "), "{screen}");
        std::thread::sleep(Duration::from_millis(100));
        sequence.extend(s3.sequence());
    }
    // It listed again because a listed file was gone, not because its listing had aged (10 s):
    // the read of the file's old name was refused before the first new LIST. A listing that aged
    // lists first, and then reads only the new name.
    let first_list = sequence.iter().position(|r| r.starts_with("LIST")).unwrap();
    assert!(
        sequence[..first_list].iter().any(|r| r == "GET 404"),
        "{sequence:?}"
    );
    assert_eq!(invocations_shown(&tmux.screen()), Some(2415));
    tmux.quit_cleanly();
}

/// Checks that the directory `data` keeps no Parquet files of its own.
fn assert_no_table_folders(data: &Path) {
    for table in ["invocations", "spans", "logs", "resources"] {
        assert!(!data.join(table).exists(), "{table}/ in {}", data.display());
    }
}

/// POSTs one span of function `late-fn`, its id ending in `last_byte`, to the collector's
/// `/v1/traces`.
fn send_one_span(collector: &RunningCollector, last_byte: u8) {
    let span = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"faas.name","value":{{"stringValue":"late-fn"}}}}]}},
        "scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"01020304050607{last_byte:02x}","name":"handler",
        "kind":2,"startTimeUnixNano":"1795428000000000000","endTimeUnixNano":"1795428000030000000"}}]}}]}}]}}"#
    );
    let response = http_client()
        .post(format!("{}/v1/traces", collector.http))
        .header("Content-Type", "application/json")
        .send(&span)
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// POSTs every OTLP file of the checked-in sample to the collector's `/v1/traces`.
fn send_sample_spans(collector: &RunningCollector) {
    let http = http_client();
    let folder = root().join("sample-traces/data/otlp");
    let mut sent = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("pb") => "application/x-protobuf",
            _ => "application/json",
        };
        let response = http
            .post(format!("{}/v1/traces", collector.http))
            .header("Content-Type", content_type)
            .send(std::fs::read(&path).unwrap())
            .unwrap();
        assert_eq!(response.status(), 200, "{}", path.display());
        sent += 1;
    }
    assert!(sent >= 5, "the sample has its OTLP files");
}

#[test]
fn a_collector_keeps_its_parquet_in_a_bucket_that_its_directory_remembers() {
    let nothing = tempfile::tempdir().unwrap();
    let s3 = S3Server::holding(nothing.path(), "telemetry", "");
    let data = tempfile::tempdir().unwrap();
    let bucket = "s3://telemetry/live";

    let collector = RunningCollector::start_with_env(
        data.path(),
        &["--parquet-store", bucket],
        &s3.environment(),
    );
    send_sample_spans(&collector);
    collector.stop();
    // The directory keeps the WAL and names the bucket; no table folder of its own.
    assert_eq!(
        std::fs::read_to_string(data.path().join("parquet-store")).unwrap(),
        "s3://telemetry/live\n"
    );
    assert_no_table_folders(data.path());

    // The directory (reading the bucket) and the bucket answer as an import of the same files.
    let plain = store_importing(&root().join("sample-traces/data/otlp"));
    let queries: &[&[&str]] = &[
        &[
            "query",
            "--format",
            "csv",
            "SELECT function_name, count(*) AS spans, count(resource_attributes) AS with_resource \
             FROM spans GROUP BY function_name ORDER BY function_name",
        ],
        &["summary", "--format", "json"],
    ];
    for args in queries {
        let imported = stdout_of(&mut faasobs_at(plain.path()), args);
        assert!(imported.contains("checkout-api"), "{imported}");
        let through_directory = stdout_of(faasobs_at(data.path()).envs(s3.environment()), args);
        assert_eq!(through_directory, imported, "{args:?} over the directory");
        assert_eq!(
            stdout_of(&mut s3.faasobs(bucket), args),
            imported,
            "{args:?} over {bucket}"
        );
    }

    // Started again without the flag, it keeps to the bucket. A span acknowledged but not yet
    // flushed is in the directory's WAL: queries of the directory see it, the bucket not yet.
    let count = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM spans",
    ];
    let before = stdout_of(&mut s3.faasobs(bucket), &count);
    let collector = RunningCollector::start_with_env(
        data.path(),
        &["--flush-interval", "1h"],
        &s3.environment(),
    );
    send_one_span(&collector, 1);
    let n = |csv: &str| csv.lines().nth(1).unwrap().parse::<u64>().unwrap();
    let through_directory = stdout_of(faasobs_at(data.path()).envs(s3.environment()), &count);
    assert_eq!(n(&through_directory), n(&before) + 1);
    assert_eq!(stdout_of(&mut s3.faasobs(bucket), &count), before);
    collector.stop();
    assert_eq!(
        n(&stdout_of(&mut s3.faasobs(bucket), &count)),
        n(&before) + 1
    );

    // A new directory takes the prefix over (a rebuilt machine): its files are numbered on from
    // the bucket's, so none there is overwritten or hidden.
    let successor = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start_with_env(
        successor.path(),
        &["--parquet-store", bucket],
        &s3.environment(),
    );
    send_one_span(&collector, 2);
    collector.stop();
    assert_eq!(
        n(&stdout_of(&mut s3.faasobs(bucket), &count)),
        n(&before) + 2
    );

    // An import into the directory goes to the bucket too; `compact`'s retention deletes there.
    let logs = ["query", "--format", "csv", "SELECT count(*) AS n FROM logs"];
    assert_eq!(n(&stdout_of(&mut s3.faasobs(bucket), &logs)), 0);
    faasobs_at(data.path())
        .envs(s3.environment())
        .arg("ingest")
        .arg(root().join("sample-traces/data/lambda-logs"))
        .assert()
        .success();
    assert!(n(&stdout_of(&mut s3.faasobs(bucket), &logs)) > 1000);
    assert_no_table_folders(data.path());
    // The sample's hours ended days ago.
    faasobs_at(data.path())
        .envs(s3.environment())
        .args(["compact", "--retention", "1d"])
        .assert()
        .success();
    assert_eq!(n(&stdout_of(&mut s3.faasobs(bucket), &count)), 0);
    assert_eq!(n(&stdout_of(&mut s3.faasobs(bucket), &logs)), 0);

    // Another bucket for this directory, a bucket for a directory with Parquet files of its
    // own, and a bucket that does not exist are refused, and nothing is remembered.
    let refusal = |data: &Path, url: &str| {
        let out = faasobs_at(data)
            .envs(s3.environment())
            .args(COLLECT_ON_FREE_PORTS)
            .args(["--parquet-store", url])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url} was taken");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // With the bucket's settings wrong (an http:// endpoint not allowed), a query of the
    // directory names the settings to check.
    let unconfigured = faasobs_at(data.path())
        .envs(s3.environment())
        .env_remove("AWS_ALLOW_HTTP")
        .args(["query", "SELECT 1"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unconfigured.stderr);
    assert!(!unconfigured.status.success());
    assert!(
        said.contains("object storage is configured by AWS_ENDPOINT_URL"),
        "{said}"
    );
    let said = refusal(data.path(), "s3://telemetry/other");
    assert!(
        said.contains("keeps its Parquet files in s3://telemetry/live, not s3://telemetry/other"),
        "{said}"
    );
    let said = refusal(plain.path(), bucket);
    assert!(said.contains("keeps Parquet files of its own"), "{said}");
    assert!(!plain.path().join("parquet-store").exists());
    let fresh = tempfile::tempdir().unwrap();
    let said = refusal(fresh.path(), "s3://no-such-bucket/live");
    assert!(
        said.contains("NoSuchBucket") && said.contains("AWS_ALLOW_HTTP"),
        "{said}"
    );
    assert!(!fresh.path().join("parquet-store").exists());
    let said = refusal(fresh.path(), "/var/tmp/x");
    assert!(said.contains("is not on object storage"), "{said}");
}

#[test]
fn an_import_keeps_its_parquet_in_a_bucket_and_one_that_stores_nothing_leaves_nothing() {
    let nothing = tempfile::tempdir().unwrap();
    let s3 = S3Server::holding(nothing.path(), "telemetry", "");
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("imports");
    let bucket = "s3://telemetry/imported";
    faasobs_at(&data)
        .envs(s3.environment())
        .args(["ingest", "--parquet-store", bucket])
        .arg(root().join("sample-traces/data"))
        .assert()
        .success();
    assert_no_table_folders(&data);
    let local = sample_store();
    for args in [
        &["summary", "--format", "json"][..],
        &["cost", "report", "--format", "json"][..],
    ] {
        let imported = stdout_of(&mut faasobs_at(local.path()), args);
        assert!(imported.contains("checkout-api"), "{imported}");
        assert_eq!(
            stdout_of(&mut s3.faasobs(bucket), args),
            imported,
            "{args:?}"
        );
    }

    // A first import that stores nothing removes its directory, with the bucket it named.
    let unreadable = parent.path().join("notes.txt");
    std::fs::write(&unreadable, "not telemetry\n").unwrap();
    let empty = parent.path().join("empty");
    let out = faasobs_at(&empty)
        .envs(s3.environment())
        .args(["ingest", "--parquet-store", "s3://telemetry/empty"])
        .arg(&unreadable)
        .output()
        .unwrap();
    assert!(!empty.exists(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The value of the counter `name` in the collector's `/metrics`.
fn counter(collector: &RunningCollector, name: &str) -> u64 {
    let metrics = collector.metrics();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// Waits (a minute at most) until the collector has counted a flush that failed.
fn await_a_failed_flush(collector: &RunningCollector) {
    await_counter(collector, "faasobs_flush_failures_total", 1);
}

/// Waits (a minute at most) until the counter `name` reaches `at_least`.
fn await_counter(collector: &RunningCollector, name: &str, at_least: u64) {
    let started = Instant::now();
    while counter(collector, name) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} never reached {at_least}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn spans_acknowledged_while_the_bucket_is_gone_wait_in_the_wal_and_reach_it_when_it_returns() {
    let nothing = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::holding(nothing.path(), "outage", "");
    let data = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start_with_env(
        data.path(),
        &["--parquet-store", "s3://outage/faasobs"],
        &s3.environment(),
    );
    s3.bucket("delete-bucket", "outage");
    send_one_span(&collector, 1);
    send_one_span(&collector, 2);
    // The flush fails (the bucket is gone) and is retried; the spans stay in the WAL, where
    // queries of the directory still see them.
    await_a_failed_flush(&collector);
    assert_eq!(counter(&collector, "faasobs_segments_flushed_total"), 0);
    let count = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM spans",
    ];
    let wal_only = faasobs_at(data.path())
        .envs(s3.environment())
        .args(count)
        .output()
        .unwrap();
    // The directory's bucket is gone too, so the query cannot list its files.
    assert!(!wal_only.status.success());
    assert!(String::from_utf8_lossy(&wal_only.stderr).contains("NoSuchBucket"));
    // Back, and the collector's stop flushes the segments that waited.
    s3.bucket("create-bucket", "outage");
    collector.stop();
    assert_eq!(
        stdout_of(&mut s3.faasobs("s3://outage/faasobs"), &count),
        "n\n2\n"
    );
}

/// A TCP forwarder from a port of its own to `to` (`http://127.0.0.1:PORT`), started later
/// than the port is named: until then, whatever connects there finds nothing.
const FORWARDER: &str = r#"
import asyncio, sys
listen, target = int(sys.argv[1]), int(sys.argv[2])
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
async def forward(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
async def main():
    server = await asyncio.start_server(forward, "127.0.0.1", listen)
    print("forwarding", flush=True)
    await server.serve_forever()
asyncio.run(main())
"#;

/// A collector whose remembered bucket does not answer when it starts (here: its endpoint has
/// no server yet) starts anyway: what it acknowledges waits in the WAL and reaches the bucket once
/// the bucket answers. Its segment ids go on from the ones it reserved on disk, so its files do
/// not take the names of the files stored before. Before, the collector refused to start.
#[test]
fn a_collector_starts_while_its_bucket_does_not_answer_and_flushes_once_it_does() {
    let nothing = tempfile::tempdir().unwrap();
    let s3 = S3Server::holding(nothing.path(), "outage", "");
    let data = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start_with_env(
        data.path(),
        &["--parquet-store", "s3://outage/faasobs"],
        &s3.environment(),
    );
    send_one_span(&collector, 1);
    collector.stop();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unanswered = s3.environment();
    unanswered[0].1 = format!("http://127.0.0.1:{port}");
    let collector =
        RunningCollector::start_with_env(data.path(), &["--flush-interval", "200ms"], &unanswered);
    send_one_span(&collector, 2);
    await_a_failed_flush(&collector);
    // The bucket answers again; the collector's stop flushes the segment that waited.
    let moto_port = s3.endpoint.rsplit(':').next().unwrap().to_string();
    let mut forwarder = Command::new(python())
        .args(["-c", FORWARDER, &port.to_string(), &moto_port])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    assert_eq!(first_line(&mut forwarder).trim(), "forwarding");
    collector.stop();
    forwarder.kill().unwrap();
    forwarder.wait().unwrap();

    let spans = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT span_id) AS spans FROM spans",
    ];
    let mut query = s3.faasobs("s3://outage/faasobs");
    assert_eq!(stdout_of(&mut query, &spans), "n,spans\n2,2\n");
}

/// One data directory writes a bucket prefix at a time: files are named by each directory's own
/// segment ids. A second directory is refused, naming the first, and leaves nothing; with
/// `--take-over` it writes the prefix, numbering its segments far above the files there. The
/// first, taken over, stores nothing more there; what it acknowledged meanwhile waits in its
/// WAL, and is stored when it starts again, after the other's files. Every span is then stored
/// once. Before the claim, the second directory's first segment took the id the first directory
/// used next: the span of one overwrote the other's file, and a compaction named a file across
/// the waiting segment's id, which hid it.
#[test]
fn a_second_directory_is_refused_a_prefix_and_one_that_takes_it_over_loses_nothing() {
    let nothing = tempfile::tempdir().unwrap();
    let s3 = S3Server::holding(nothing.path(), "shared", "");
    let prefix = "s3://shared/faasobs";
    let first = tempfile::tempdir().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let second = parent.path().join("second");
    let collector = RunningCollector::start_with_env(
        first.path(),
        &["--parquet-store", prefix],
        &s3.environment(),
    );
    send_one_span(&collector, 1);
    await_counter(&collector, "faasobs_segments_flushed_total", 1);

    let refused = faasobs_at(&second)
        .envs(s3.environment())
        .args(COLLECT_ON_FREE_PORTS)
        .args(["--parquet-store", prefix])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    let first_dir = std::fs::canonicalize(first.path()).unwrap();
    assert!(
        said.contains(&format!(
            "{prefix} is written by data directory {}",
            first_dir.display()
        )) && said.contains("--take-over"),
        "{said}"
    );
    assert!(!second.exists(), "the refused directory is not left behind");

    let taker = RunningCollector::start_with_env(
        &second,
        &["--parquet-store", prefix, "--take-over"],
        &s3.environment(),
    );
    send_one_span(&taker, 2);
    await_counter(&taker, "faasobs_segments_flushed_total", 1);
    // Taken over: the first directory's next flush fails, and its span waits in its WAL.
    send_one_span(&collector, 3);
    await_a_failed_flush(&collector);
    drop(collector); // killed: a machine the other directory was told was gone
    send_one_span(&taker, 4);
    taker.stop(); // compacts the hour: the first directory's file and its own, one file

    let again = RunningCollector::start_with_env(first.path(), &[], &s3.environment());
    again.stop();
    let spans = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT span_id) AS spans FROM spans",
    ];
    assert_eq!(stdout_of(&mut s3.faasobs(prefix), &spans), "n,spans\n4,4\n");
    assert_eq!(
        std::fs::read_dir(first.path().join("wal"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wal"))
            .count(),
        0,
        "nothing left waiting"
    );
}
