//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `faasobs` binary under test.
pub fn faasobs() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("faasobs").expect("the faasobs binary is built");
    cmd.env_remove("FAASOBS_DATA").env("RUST_LOG", "warn");
    cmd
}

/// [`faasobs`] over the data directory `data`.
pub fn faasobs_at(data: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = faasobs();
    cmd.arg("--data").arg(data);
    cmd
}

/// The Python with DuckDB and the OpenTelemetry SDK installed: `FAASOBS_PYTHON`, else the
/// project's `.venv` that `tests/run-all.sh` creates. A missing one fails the test: it is never
/// skipped.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FAASOBS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python environment for the interop tests: run `bash tests/run-all.sh` (it creates .venv), \
         or set FAASOBS_PYTHON to a python with the packages in tests/requirements.txt"
    );
    venv
}

/// Runs a Python script and returns its standard output.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Waits (two minutes at most) until `ready` holds while `child` runs, then sends it `signal`
/// (`-INT`, `-TERM`). `awaited` says what `ready` checks, for the failures.
pub fn signal_once(child: &mut Child, signal: &str, awaited: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{signal}: the process ended before {awaited}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{signal}: never {awaited}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// The real captured Lambda logs beside the project.
pub fn real_fixture(name: &str) -> PathBuf {
    let path = root().join("../shared/fixtures/real").join(name);
    assert!(path.exists(), "missing real fixture {}", path.display());
    path
}

/// Runs `faasobs --data DATA ARGS…`, expects success and parses its standard output as JSON.
pub fn faasobs_json(data: &std::path::Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&faasobs_ok(data, args).0).expect("JSON on standard output")
}

/// Writes `json` (what `aws lambda list-functions` printed) at `listed` and returns what
/// `faasobs cost catalog --lambda-functions LISTED` prints: the catalog, and its notes.
pub fn catalog_listing(
    data: &std::path::Path,
    listed: &std::path::Path,
    json: &str,
) -> (String, String) {
    std::fs::write(listed, json).unwrap();
    faasobs_ok(
        data,
        &[
            "cost",
            "catalog",
            "--lambda-functions",
            listed.to_str().unwrap(),
        ],
    )
}

/// Runs `faasobs --data DATA ARGS…`, expects success and returns its standard output and error.
pub fn faasobs_ok<S: AsRef<std::ffi::OsStr>>(
    data: &std::path::Path,
    args: &[S],
) -> (String, String) {
    let out = faasobs_at(data).args(args).output().expect("faasobs runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(out.status.success(), "faasobs {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// Runs a query through the binary and returns its rows as JSON objects.
pub fn query_json(
    data: &std::path::Path,
    sql: &str,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let out = faasobs()
        .arg("--data")
        .arg(data)
        .args(["query", "--format", "json", sql])
        .output()
        .expect("faasobs runs");
    assert!(
        out.status.success(),
        "query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(text).expect("JSON rows")
}

/// `collect` on loopback ports the system chooses.
pub const COLLECT_ON_FREE_PORTS: [&str; 5] = [
    "collect",
    "--grpc-addr",
    "127.0.0.1:0",
    "--http-addr",
    "127.0.0.1:0",
];

/// The first line a child process started with a piped standard output writes there (what it says
/// once it is ready: its address, say); the rest of its output is not read.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("standard output piped"))
        .read_line(&mut line)
        .expect("its standard output reads");
    line
}

/// A `faasobs collect` process on loopback ports chosen by the system.
pub struct RunningCollector {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT` of the OTLP/gRPC receiver.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` (or `https://…` with TLS) of the HTTP receiver.
    pub http: String,
}

impl RunningCollector {
    /// Starts a collector on `data` with extra `collect` arguments, once its ports are bound.
    pub fn start(data: &std::path::Path, extra: &[&str]) -> RunningCollector {
        RunningCollector::start_with_env(data, extra, &[])
    }

    /// [`RunningCollector::start`] with the variables `env` set.
    pub fn start_with_env(
        data: &std::path::Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> RunningCollector {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("faasobs"))
            .arg("--data")
            .arg(data)
            .args(COLLECT_ON_FREE_PORTS)
            // Flush often unless the test chooses.
            .args(if extra.contains(&"--flush-interval") {
                &[][..]
            } else {
                &["--flush-interval", "200ms"][..]
            })
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("FAASOBS_AUTH_TOKEN")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("collector starts");
        let line = first_line(&mut child);
        // "listening for OTLP/gRPC on ADDR and HTTP on SCHEME://ADDR, storing into DIR"
        let words: Vec<&str> = line.split_whitespace().collect();
        let grpc_addr = words
            .iter()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no gRPC address in {line:?}"));
        let http = words
            .iter()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no HTTP address in {line:?}"))
            .trim_end_matches(',');
        RunningCollector {
            child,
            grpc: format!("http://{grpc_addr}"),
            http: http.to_string(),
        }
    }

    /// The Prometheus text of its `/metrics`.
    pub fn metrics(&self) -> String {
        http_client()
            .get(format!("{}/metrics", self.http))
            .call()
            .expect("/metrics answers")
            .body_mut()
            .read_to_string()
            .expect("/metrics is text")
    }

    /// The gRPC address without the scheme (what the Python gRPC exporter takes).
    pub fn grpc_host_port(&self) -> &str {
        self.grpc.trim_start_matches("http://")
    }

    /// Stops the collector as a service manager would (SIGTERM) and waits until it has flushed.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("collector exits");
        assert!(exit.success(), "collector exited with {exit}");
    }
}

impl Drop for RunningCollector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP client that returns error statuses as responses (tests look at them).
pub fn http_client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}

/// A fresh store holding the checked-in sample (`sample-traces/data`), imported with `ingest`.
pub fn sample_store() -> tempfile::TempDir {
    store_importing(&root().join("sample-traces/data"))
}

/// A fresh store holding `input` (a file or folder), imported with `ingest`.
pub fn store_importing(input: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    faasobs()
        .arg("--data")
        .arg(dir.path())
        .arg("ingest")
        .arg(input)
        .assert()
        .success();
    dir
}

/// Where one deployment of a function runs, and how it runs there.
pub struct Deployment {
    pub region: &'static str,
    pub account: &'static str,
    pub memory_mb: i64,
    pub duration_ms: i64,
}

/// A fresh store holding 30 invocations of `orders-api` in each of `deployments`, one a minute
/// from 2026-11-23T09:00:00Z (the same minutes in each): OTLP JSON spans whose resource says the
/// deployment's region, account, x86_64 and memory, imported with `ingest`.
pub fn store_of_one_function_deployed(deployments: &[Deployment]) -> tempfile::TempDir {
    let start_ns: i64 = 1_795_424_400_000_000_000; // 2026-11-23T09:00:00Z
    let resource_spans: Vec<String> = deployments
        .iter()
        .enumerate()
        .map(|(d, deployment)| {
            let tag = d + 1;
            let spans: Vec<String> = (0..30_i64)
                .map(|i| {
                    let start = start_ns + i * 60_000_000_000;
                    invocation_span_json(tag, i, start, deployment.duration_ms)
                })
                .collect();
            format!(
                r#"{{"resource":{{"attributes":[
                  {{"key":"cloud.provider","value":{{"stringValue":"aws"}}}},
                  {{"key":"cloud.region","value":{{"stringValue":"{}"}}}},
                  {{"key":"cloud.account.id","value":{{"stringValue":"{}"}}}},
                  {{"key":"host.arch","value":{{"stringValue":"amd64"}}}},
                  {{"key":"faas.name","value":{{"stringValue":"orders-api"}}}},
                  {{"key":"faas.max_memory","value":{{"intValue":"{}"}}}}]}},
                 "scopeSpans":[{{"spans":[{}]}}]}}"#,
                deployment.region,
                deployment.account,
                deployment.memory_mb << 20,
                spans.join(",")
            )
        })
        .collect();
    store_of_resource_spans(&resource_spans)
}

/// One OTLP JSON server span of the invocation `{tag}-{i}`, `duration_ms` long from `start_ns`
/// (`tag` and `i` make its trace and span ids too).
pub fn invocation_span_json(tag: usize, i: i64, start_ns: i64, duration_ms: i64) -> String {
    format!(
        r#"{{"traceId":"{tag:02x}{i:030x}","spanId":"{tag:02x}{i:014x}","name":"handler","kind":2,
           "startTimeUnixNano":"{start_ns}","endTimeUnixNano":"{}",
           "attributes":[{{"key":"faas.invocation_id","value":{{"stringValue":"{tag}-{i}"}}}}]}}"#,
        start_ns + duration_ms * 1_000_000
    )
}

/// A fresh store holding one OTLP JSON file of `resource_spans` (each a `{"resource": …,
/// "scopeSpans": …}` object), imported with `ingest`.
pub fn store_of_resource_spans(resource_spans: &[String]) -> tempfile::TempDir {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("spans.json");
    std::fs::write(
        &file,
        format!(r#"{{"resourceSpans":[{}]}}"#, resource_spans.join(",")),
    )
    .unwrap();
    store_importing(&file)
}
