//! A query stopped by Ctrl-C or SIGTERM in the middle of spilling ends with a clear message and
//! leaves no spill files behind (the benchmarks found gigabytes left by killed queries); in the
//! SQL shell, Ctrl-C cancels the statement and the shell goes on.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::{faasobs, signal_once};

/// A grouping that never ends on its own and spills at once in a 16 MiB pool.
const ENDLESS_SPILLING_QUERY: &str = "SELECT count(*) FROM (SELECT x % 1000000000 AS k, \
     count(*) AS n FROM generate_series(1, 100000000000) AS t(x) GROUP BY k)";

/// Files anywhere under `dir`.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Starts `faasobs --data DIR/data ARGS…` with its temporary folder in `DIR/tmp`.
fn start(dir: &Path, args: &[&str]) -> Child {
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    Command::new(faasobs().get_program())
        .env("TMPDIR", dir.join("tmp"))
        .env("RUST_LOG", "warn")
        .arg("--data")
        .arg(dir.join("data"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faasobs starts")
}

/// Waits until the process has written a spill file, then sends it `signal` (`-INT`, `-TERM`).
fn signal_once_spilling(child: &mut Child, dir: &Path, signal: &str) {
    signal_once(child, signal, "it spilled", || {
        files_under(&dir.join("tmp")) > 0
    });
}

fn left_in(dir: &Path) -> Vec<std::fs::DirEntry> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .flatten()
        .collect()
}

#[test]
fn a_stopped_query_deletes_its_spill_files() {
    for signal in ["-INT", "-TERM"] {
        let temp = tempfile::tempdir().unwrap();
        let mut child = start(
            temp.path(),
            &["query", "--memory-limit-mb", "16", ENDLESS_SPILLING_QUERY],
        );
        signal_once_spilling(&mut child, temp.path(), signal);
        let out = child.wait_with_output().expect("faasobs exits");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{signal}: exited with {}",
            out.status
        );
        assert!(
            stderr.contains("stopped before the end"),
            "{signal}: unexpected message: {stderr}"
        );
        let left = left_in(temp.path());
        assert!(left.is_empty(), "{signal}: spill files left: {left:?}");
    }
}

#[test]
fn ctrl_c_in_the_sql_shell_cancels_the_statement_and_the_shell_goes_on() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = start(temp.path(), &["sql", "--memory-limit-mb", "16"]);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{ENDLESS_SPILLING_QUERY};").unwrap();
    stdin.flush().unwrap();
    signal_once_spilling(&mut child, temp.path(), "-INT");
    writeln!(stdin, "SELECT 6 * 7 AS answer;").unwrap();
    drop(stdin);
    let out = child.wait_with_output().expect("faasobs exits");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stdout.contains("42"), "{stdout}");
    // Read from a pipe, a cancelled statement is one that did not run: the script fails.
    assert!(
        stderr.ends_with("error: 1 of 2 statements failed\n"),
        "exited with {}: {stderr}",
        out.status
    );
    assert_eq!(out.status.code(), Some(1));
    let left = left_in(temp.path());
    assert!(left.is_empty(), "spill files left: {left:?}");
}
