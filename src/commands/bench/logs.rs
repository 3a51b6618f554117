//! Logs: NDJSON function logs (Powertools' structured format, ~330 B a line) through
//! `faasobs ingest` into Parquet, against DuckDB's `COPY (SELECT * FROM read_json(...)) TO ...
//! (FORMAT parquet, COMPRESSION zstd)` on the same file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faasobs_collector::model::Table;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::duckdb::DuckDb;
use super::process::{mebibytes, run_measured};
use super::results::{Measurement, Results, Section, Target};
use super::{BenchConfig, progress};

const LEVELS: [&str; 4] = ["INFO", "INFO", "DEBUG", "WARN"];
const MESSAGES: [&str; 4] = [
    "processed order {n} for customer c-{m}",
    "cache miss for key product:{n}, loading from table",
    "retrying call to payments after {m} ms",
    "validated payload of {n} bytes",
];

/// Writes `lines` NDJSON log lines (deterministic) unless the file is already there.
fn ensure_input(dir: &Path, lines: usize, functions: usize) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("inputs/logs-{lines}.ndjson"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir.join("inputs"))?;
    let partial = path.with_extension("ndjson.partial");
    let mut out = BufWriter::new(std::fs::File::create(&partial)?);
    let mut rng = StdRng::seed_from_u64(5);
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")?.timestamp_millis();
    for i in 0..lines {
        let function = format!("checkout-api-{:03}", rng.random_range(0..functions.max(1)));
        let at = chrono::DateTime::from_timestamp_millis(start + (i as i64) * 3)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let request: u128 = rng.random();
        let request = format!("{request:032x}");
        let message = MESSAGES[i % MESSAGES.len()]
            .replace("{n}", &rng.random_range(1000..999_999).to_string())
            .replace("{m}", &rng.random_range(10..99_999).to_string());
        let line = json!({
            "level": LEVELS[i % LEVELS.len()],
            "location": format!("handler:{}", 20 + i % 80),
            "message": message,
            "timestamp": at.to_string(),
            "service": "checkout",
            "cold_start": i % 97 == 0,
            "function_name": function,
            "function_memory_size": 1024,
            "function_request_id": format!(
                "{}-{}-{}-{}-{}",
                &request[0..8], &request[8..12], &request[12..16], &request[16..20], &request[20..32]
            ),
            "xray_trace_id": format!("1-{:08x}-{}", start / 1000, &request[8..32]),
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

pub fn run(
    dir: &Path,
    config: &BenchConfig,
    duckdb: &DuckDb,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(started, format!("logs: {} NDJSON lines", config.log_lines));
    let input = ensure_input(dir, config.log_lines, config.functions)?;
    let input_bytes = std::fs::metadata(&input)?.len() as f64;
    let store = dir.join("logs-store");
    if store.exists() {
        std::fs::remove_dir_all(&store)?;
    }
    progress(started, "logs: faasobs ingest");
    let ours = run_measured(
        Command::new(std::env::current_exe()?)
            .arg("--data")
            .arg(&store)
            .arg("ingest")
            .arg(&input),
    )?;
    let (rows, bytes) = super::data::table_size(&store, Table::Logs)?;
    anyhow::ensure!(
        rows as usize == config.log_lines,
        "faasobs stored {rows} of {} log lines",
        config.log_lines
    );
    progress(started, "logs: DuckDB COPY read_json");
    let output = dir.join("logs-duckdb.parquet");
    let theirs = duckdb.run(json!({
        "mode": "copy_json",
        "input": input,
        "output": output,
    }))?;
    let their_seconds = theirs["seconds"].as_f64().unwrap_or(f64::NAN);
    let their_bytes = theirs["bytes"].as_f64().unwrap_or(f64::NAN);
    let mb = input_bytes / 1e6;
    let mut section = Section::new("Logs: NDJSON to Parquet", "DuckDB");
    section.rows = vec![
        Measurement::new("throughput", mb / ours.wall.as_secs_f64(), "MB/s")
            .against(mb / their_seconds)
            .target(Target::RatioAtLeast(1.0)),
        Measurement::new("Parquet bytes per line", bytes as f64 / rows as f64, "B")
            .against(their_bytes / config.log_lines as f64),
        Measurement::new("peak RSS", mebibytes(ours.max_rss_bytes), "MiB"),
        Measurement::new("CPU", ours.cpu_seconds, "CPU-s"),
    ];
    section.notes.push(format!(
        "{} lines, {:.0} B each on average ({mb:.0} MB). faasobs: the whole `faasobs ingest` \
         process (start, parse, normalize, WAL, Parquet, compaction), wall time. DuckDB: the COPY \
         statement inside an already started process.",
        config.log_lines,
        input_bytes / config.log_lines as f64
    ));
    results.sections.push(section);
    Ok(())
}
