//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::Command;

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

/// The real captured Lambda logs beside the project.
pub fn real_fixture(name: &str) -> PathBuf {
    let path = root().join("../shared/fixtures/real").join(name);
    assert!(path.exists(), "missing real fixture {}", path.display());
    path
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
