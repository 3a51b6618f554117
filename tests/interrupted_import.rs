//! An import stopped by Ctrl-C or SIGTERM stores what it read before the stop, says which
//! inputs that was, and ends with an error; it does not wait for an input that never ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{faasobs, faasobs_ok, query_json, signal_once};

const LINES: usize = 50;

/// `LINES` Powertools log lines of one function, each of its own request: each is stored as a
/// log line and an invocation.
fn write_log_lines(path: &Path) {
    let lines: Vec<String> = (0..LINES)
        .map(|i| {
            serde_json::json!({
                "level": "INFO",
                "message": format!("step {i}"),
                "timestamp": format!("2026-11-23T09:00:{:02}.000Z", i % 60),
                "function_name": "checkout",
                "function_request_id": format!("request-{i}"),
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Whether a thread of process `pid` is reading its standard input (Linux: the `read` system
/// call, number 0 on x86-64 and 63 on arm64, on file descriptor 0).
fn reads_standard_input(pid: u32) -> bool {
    let read = if cfg!(target_arch = "aarch64") {
        "63"
    } else {
        "0"
    };
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("syscall")).ok())
        .any(|call| {
            let mut fields = call.split_whitespace();
            fields.next() == Some(read) && fields.next() == Some("0x0")
        })
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            panic!("the import did not end within {limit:?} of the stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stopped_import_stores_what_it_read_and_says_which_inputs() {
    for signal in ["-INT", "-TERM"] {
        let temp = tempfile::tempdir().unwrap();
        let (input, data) = (
            temp.path().join("checkout.ndjson"),
            temp.path().join("data"),
        );
        write_log_lines(&input);
        // The file, then standard input, which is kept open and never ends.
        let mut child = Command::new(faasobs().get_program())
            .env("RUST_LOG", "warn")
            .arg("--data")
            .arg(&data)
            .arg("ingest")
            .arg(&input)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("faasobs starts");
        let stdin = child.stdin.take();
        // Once the import reads standard input, the file before it has been handed on whole
        // (and half a second later, on any usual machine, stored).
        let pid = child.id();
        signal_once(&mut child, signal, "it read standard input", || {
            reads_standard_input(pid) && {
                std::thread::sleep(Duration::from_millis(500));
                true
            }
        });
        let status = wait_with_timeout(&mut child, Duration::from_secs(120));
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!status.success(), "{signal}: exited with {status}");

        // What it says it stored is what the store holds.
        let count = |table: &str| {
            query_json(&data, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
                .as_u64()
                .unwrap() as usize
        };
        let stored = count("logs") + count("invocations");
        let stored_line = format!("stored {stored} records");
        assert!(stdout.contains(&stored_line), "{signal}: {stdout}");
        let ledger = std::fs::read_to_string(data.join("imported.ndjson")).unwrap_or_default();
        let file_name = input.file_name().unwrap().to_str().unwrap();
        if stderr.contains("error: interrupted: 1 of 2 inputs were read to their end and stored") {
            assert_eq!(stored, 2 * LINES, "{signal}: {stderr}");
            // The file read to its end is in the ledger, so the same import run again skips it.
            assert!(ledger.contains(file_name), "{signal}: {ledger}");
            let (again_stdout, _) =
                faasobs_ok(&data, &[std::ffi::OsStr::new("ingest"), input.as_os_str()]);
            assert!(
                again_stdout.contains("nothing to import"),
                "{signal}: {again_stdout}"
            );
            assert_eq!(count("logs") + count("invocations"), stored, "{signal}");
        } else {
            assert!(!ledger.contains(file_name), "{signal}: {ledger}");
            // The stop came before the file's last piece was taken: the message says how much
            // of it is stored.
            assert!(
                stderr.contains("error: interrupted: 0 of 2 inputs were read to their end"),
                "{signal}: unexpected message: {stderr}"
            );
            assert!(
                stored == 0
                    || stderr.contains(&format!(
                        "the first {stored} records of {}",
                        input.display()
                    )),
                "{signal}: {stderr}"
            );
        }
    }
}
