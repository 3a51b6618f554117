//! `faasobs bench`: the benchmark harness. One command measures ingest, logs, storage, queries
//! and the dashboard side by side with DuckDB and with the physical limit (a decode-only loop),
//! and writes the results, with the machine and versions, to `DIR/results.md` and
//! `DIR/results.json` (see docs/benchmarks.md).
//!
//! Parts: [`data`] (the sample generator at scale, through the collector's normalizers and store),
//! [`ingest`] (an OTLP/gRPC load generator against `faasobs collect`, and [`stages`], the
//! collector's pipeline stage by stage in the harness's process), [`logs`] (NDJSON through
//! `faasobs ingest` vs DuckDB's COPY), [`storage`] (bytes per row vs DuckDB's ZSTD rewrite),
//! [`queries`] (each report's query and the set vs DuckDB) and [`dashboard`] (frame
//! render time and the CPU of a running dashboard). Nothing here is a test: the numbers depend
//! on the machine, so targets are reported as met or missed, never asserted.

mod dashboard;
mod data;
mod duckdb;
mod ingest;
mod logs;
mod process;
mod queries;
mod results;
mod stages;
mod storage;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use results::Results;

/// One part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Ingest,
    Logs,
    Storage,
    Queries,
    Dashboard,
}

#[derive(Debug, clap::Args)]
pub struct BenchConfig {
    /// Working folder: the generated data set and inputs (reused by later runs with the same
    /// sizes) and the results.
    #[arg(long, default_value = "faasobs-bench")]
    pub dir: PathBuf,
    /// Invocations in the data set that storage, queries and the dashboard run on.
    #[arg(long, default_value_t = 10_000_000)]
    pub invocations: u64,
    /// Functions in the data set (popularity is Zipf-skewed).
    #[arg(long, default_value_t = 200)]
    pub functions: usize,
    /// The data set's window of time.
    #[arg(long, default_value = "24h", value_parser = super::parse_duration)]
    pub window: Duration,
    /// Spans the ingest load generator sends, in OTLP/gRPC requests of 512.
    #[arg(long, default_value_t = 2_000_000)]
    pub spans: usize,
    /// Requests the load generator keeps in flight.
    #[arg(long, default_value_t = 8)]
    pub senders: usize,
    /// NDJSON log lines for the logs benchmark.
    #[arg(long, default_value_t = 5_000_000)]
    pub log_lines: usize,
    /// Functions in the dashboard's frame benchmark.
    #[arg(long, default_value_t = 2000)]
    pub dashboard_functions: usize,
    /// How long the running dashboard's CPU is sampled (needs tmux).
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    pub dashboard_seconds: Duration,
    /// Threads each engine may use (DataFusion's partitions, DuckDB's threads).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// A Python with the `duckdb` package (tests/run-all.sh makes `.venv`).
    #[arg(long, env = "FAASOBS_PYTHON", default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Timed runs of each query after its first, of which the best counts (0: the first run
    /// only, for the scale run); also the measured rounds of fresh processes (at least one), of
    /// which the median counts.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Skip the queries' fresh-process runs (for the scale run, where each takes as long as
    /// its first run in process).
    #[arg(long)]
    pub in_process_only: bool,
    /// Run only these parts (comma-separated); default all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Part>,
}

impl BenchConfig {
    fn runs(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// Prints a progress line on standard error, with the time since the run began.
fn progress(started: Instant, message: impl std::fmt::Display) {
    eprintln!("[{:>7.1}s] {message}", started.elapsed().as_secs_f64());
}

pub async fn run(config: BenchConfig) -> anyhow::Result<()> {
    anyhow::ensure!(config.threads > 0, "--threads must be at least 1");
    anyhow::ensure!(config.functions > 0, "--functions must be at least 1");
    std::fs::create_dir_all(&config.dir)
        .with_context(|| format!("creating {}", config.dir.display()))?;
    let dir = std::fs::canonicalize(&config.dir)?;
    let started = Instant::now();
    let duckdb = duckdb::DuckDb::new(&config.python, &dir, config.threads)?;
    let mut results = Results::new(&config, duckdb.version()?);
    let needs_dataset = [Part::Storage, Part::Queries]
        .iter()
        .any(|p| config.runs(*p));
    let dataset = if needs_dataset {
        Some(data::ensure(&dir, &config, started).await?)
    } else {
        None
    };
    if let Some(dataset) = &dataset {
        results.dataset = Some(dataset.summary());
    }
    // The results so far are written after every part, so a part that fails (or a process the
    // kernel kills) does not take the finished parts' numbers with it.
    if config.runs(Part::Ingest) {
        ingest::run(&dir, &config, started, &mut results).await?;
        write_results(&dir, &results)?;
    }
    if config.runs(Part::Logs) {
        logs::run(&dir, &config, &duckdb, started, &mut results)?;
        write_results(&dir, &results)?;
    }
    if let Some(dataset) = &dataset {
        if config.runs(Part::Storage) {
            storage::run(dataset, &duckdb, started, &mut results)?;
            write_results(&dir, &results)?;
        }
        if config.runs(Part::Queries) {
            queries::run(&dir, dataset, &config, &duckdb, started, &mut results).await?;
            write_results(&dir, &results)?;
        }
    }
    if config.runs(Part::Dashboard) {
        dashboard::run(&config, started, &mut results).await?;
    }
    let markdown = write_results(&dir, &results)?;
    println!("{markdown}");
    progress(
        started,
        format!(
            "done; results in {} and results.json",
            dir.join("results.md").display()
        ),
    );
    Ok(())
}

/// Writes `DIR/results.md` and `DIR/results.json` with the sections measured so far; returns the
/// Markdown.
fn write_results(dir: &std::path::Path, results: &Results) -> anyhow::Result<String> {
    let (markdown, json) = (results.to_markdown(), results.to_json());
    std::fs::write(dir.join("results.md"), &markdown)?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    Ok(markdown)
}
