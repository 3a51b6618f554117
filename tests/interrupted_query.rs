//! A query stopped by Ctrl-C or SIGTERM in the middle of spilling ends with a clear message and
//! leaves no spill files behind (the benchmarks found gigabytes left by killed queries).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::faasobs;

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

#[test]
fn a_stopped_query_deletes_its_spill_files() {
    for signal in ["-INT", "-TERM"] {
        let temp = tempfile::tempdir().unwrap();
        let spill = temp.path().join("tmp");
        std::fs::create_dir(&spill).unwrap();
        // A grouping that never ends on its own and spills at once in a 16 MiB pool.
        let mut child = Command::new(faasobs().get_program())
            .env("TMPDIR", &spill)
            .env("RUST_LOG", "warn")
            .arg("--data")
            .arg(temp.path().join("data"))
            .args(["query", "--memory-limit-mb", "16"])
            .arg(
                "SELECT count(*) FROM (SELECT x % 1000000000 AS k, count(*) AS n \
                 FROM generate_series(1, 100000000000) AS t(x) GROUP BY k)",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("faasobs starts");
        let started = Instant::now();
        while files_under(&spill) == 0 {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the query ended before it spilled"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no spill file appeared"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
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
        let left: Vec<_> = std::fs::read_dir(&spill).unwrap().flatten().collect();
        assert!(left.is_empty(), "{signal}: spill files left: {left:?}");
    }
}
