//! The benchmark harness at a tiny size: every part runs end to end (OTLP/gRPC into a real
//! collector, `faasobs ingest`, DuckDB from PyPI, the dashboard in tmux) and reports every
//! measurement. Nothing here depends on the machine's speed: the numbers are checked for being
//! measured and consistent, never against a time.

use crate::support::{faasobs, python};

/// Runs `faasobs bench --dir DIR/bench ARGS…` in a new folder and expects success; returns the
/// folder (deleted when dropped), the standard output and `results.json`.
fn run_bench(args: &[&str]) -> (tempfile::TempDir, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let out = faasobs()
        .env("FAASOBS_PYTHON", python())
        .args(["bench", "--dir"])
        .arg(&work)
        .args(args)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let results =
        serde_json::from_slice(&std::fs::read(work.join("results.json")).unwrap()).unwrap();
    (dir, stdout, results)
}

#[test]
fn the_harness_measures_every_part_against_its_reference() {
    let (dir, stdout, results) = run_bench(&[
        "--invocations",
        "20000",
        "--functions",
        "20",
        "--window",
        "2h",
        "--spans",
        "5120",
        "--log-lines",
        "3000",
        "--dashboard-functions",
        "300",
        // Long enough for a refresh to land in the window: after each load the tui's 3 % refresh
        // budget keeps it quiet for 32 times the load's CPU, which in the debug build outlasted
        // a 5 s window (its CPU read as zero, twice, once in CI).
        "--dashboard-seconds",
        "20s",
        // First runs only, as the scale run does (the default best of 3 is the same code).
        "--repeat",
        "0",
    ]);
    let work = dir.path().join("bench");
    assert!(stdout.contains("## Machine and versions"), "{stdout}");
    assert!(
        results["machine"]["DuckDB"]
            .as_str()
            .unwrap()
            .starts_with("1.")
    );
    let sections = results["sections"].as_array().unwrap();
    let titles: Vec<&str> = sections
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    for part in ["Ingest", "Logs", "Storage", "Queries", "Dashboard"] {
        assert!(
            titles.iter().any(|t| t.starts_with(part)),
            "{part} missing from {titles:?}"
        );
    }
    let measurement = |section: &str, name: &str| -> serde_json::Value {
        sections
            .iter()
            .find(|s| s["title"].as_str().unwrap().starts_with(section))
            .and_then(|s| {
                s["measurements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["name"].as_str().unwrap().starts_with(name))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no {section} / {name}"))
    };
    // Every acknowledged span was found in Parquet.
    assert_eq!(measurement("Ingest", "spans stored / sent")["faasobs"], 1.0);
    // The collector's pipeline was measured stage by stage, and the stages add up.
    let ingest = sections
        .iter()
        .find(|s| s["title"].as_str().unwrap().starts_with("Ingest"))
        .unwrap();
    let stages: Vec<f64> = ingest["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"].as_str().unwrap().starts_with("stage: "))
        .map(|m| m["faasobs"].as_f64().unwrap())
        .collect();
    assert_eq!(stages.len(), 8, "{ingest}");
    assert!(stages.iter().all(|cpu| *cpu > 0.0), "{stages:?}");
    let total = measurement("Ingest", "stages in all")["faasobs"]
        .as_f64()
        .unwrap();
    let sum: f64 = stages.iter().sum();
    assert!((total - sum).abs() <= 0.01 * total, "{total} vs {stages:?}");
    // The collector's kernel time is part of its CPU, and a process that stores spans touches
    // pages it has not touched before.
    let value = |name: &str| measurement("Ingest", name)["faasobs"].as_f64().unwrap();
    let (cpu, system) = (
        value("CPU per million spans"),
        value("system CPU per million"),
    );
    assert!(system > 0.0 && system <= cpu, "system {system} of {cpu}");
    assert!(value("page faults per million spans") >= 1.0);
    // Every measurement was taken, and every comparison has its reference.
    for s in sections {
        for m in s["measurements"].as_array().unwrap() {
            let v = m["faasobs"].as_f64().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{m}");
            if m["target"].as_str().is_some_and(|t| t.contains("ref")) {
                assert!(m["ratio"].as_f64().is_some_and(f64::is_finite), "{m}");
                assert!(m["met"].is_boolean(), "{m}");
            }
        }
    }
    // Both engines answered every query with the same number of rows.
    let queries = sections
        .iter()
        .find(|s| s["title"].as_str().unwrap().starts_with("Queries"))
        .unwrap();
    assert!(
        !queries["notes"].to_string().contains("rows, DuckDB"),
        "{}",
        queries["notes"]
    );
    assert!(
        queries["title"]
            .as_str()
            .unwrap()
            .ends_with("first run only"),
        "{}",
        queries["title"]
    );
    assert!(
        !queries["notes"].to_string().contains("failed"),
        "{}",
        queries["notes"]
    );
    assert!(measurement("Queries", "one trace by id (fresh process)")["reference"].is_number());
    // At `--repeat 0` each engine's fresh processes get one measured round after the warming one.
    assert!(
        queries["notes"]
            .to_string()
            .contains("then 1 measured round(s), of which each engine's median counts"),
        "{}",
        queries["notes"]
    );
    // Both engines' peak memory is measured, in process and in fresh processes.
    for name in ["peak memory, in process", "peak memory, fresh processes"] {
        let m = measurement("Queries", name);
        assert!(m["faasobs"].as_f64().is_some_and(|v| v > 0.0), "{m}");
        assert!(m["reference"].as_f64().is_some_and(|v| v > 0.0), "{m}");
    }
    assert!(
        measurement("Dashboard", "CPU of `faasobs tui`")["faasobs"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // The results are also written for people.
    let markdown = std::fs::read_to_string(work.join("results.md")).unwrap();
    assert!(
        markdown.contains("| bytes per invocations row |"),
        "{markdown}"
    );
    the_scale_runs_queries_can_skip_fresh_processes();
}

/// The scale run's `--in-process-only`: no fresh-process rows, and a note that says so. Called
/// after the full run above rather than as a test of its own, so that it adds no load beside it.
fn the_scale_runs_queries_can_skip_fresh_processes() {
    let (_dir, _, results) = run_bench(&[
        "--invocations",
        "5000",
        "--functions",
        "5",
        "--window",
        "1h",
        "--only",
        "queries",
        "--repeat",
        "0",
        "--in-process-only",
    ]);
    let queries = &results["sections"][0];
    assert!(
        queries["title"].as_str().unwrap().starts_with("Queries"),
        "{queries}"
    );
    let names: Vec<&str> = queries["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"one trace by id"), "{names:?}");
    assert!(
        names.contains(&"peak memory, in process (all queries)"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("fresh process")),
        "{names:?}"
    );
    assert!(
        queries["notes"].to_string().contains("--in-process-only"),
        "{}",
        queries["notes"]
    );
}
