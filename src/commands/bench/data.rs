//! The benchmark's data set: the sample generator at scale (200 functions with skewed
//! popularity by default), rendered as the real inputs (OTLP protobuf and JSON, Lambda logs),
//! normalized by the collector and stored through its WAL into compacted Parquet: the same
//! files a running collector would leave. Built once per size and reused by later runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use faasobs_collector::ingest::ingest_bytes;
use faasobs_collector::model::{Records, Table};
use faasobs_collector::store::{Store, StoreConfig};
use faasobs_sample_traces::output::render_files;
use faasobs_sample_traces::{Workload, simulate};
use serde_json::json;

use super::{BenchConfig, progress};

const HOUR_NS: i64 = 3_600_000_000_000;
const SEED: u64 = 2026;
/// Records gathered before they are written to the store.
const BATCH_RECORDS: usize = 200_000;

/// A built data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The data directory (WAL and Parquet files).
    pub data: PathBuf,
    pub functions: usize,
    pub invocations: u64,
    pub rows: [(Table, u64); Table::ALL.len()],
    pub bytes: [(Table, u64); Table::ALL.len()],
    pub build_seconds: f64,
}

impl Dataset {
    pub fn rows(&self, table: Table) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |r| r.1)
    }

    pub fn bytes(&self, table: Table) -> u64 {
        self.bytes
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |r| r.1)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} invocations of {} functions (Zipf-skewed popularity), {} invocation rows, {} spans, \
             {} log lines, {} resource rows in {}; built from the generated OTLP and Lambda-log inputs through the \
             collector's normalizers, WAL and compaction in {:.0} s",
            self.invocations,
            self.functions,
            self.rows(Table::Invocations),
            self.rows(Table::Spans),
            self.rows(Table::Logs),
            self.rows(Table::Resources),
            self.data.file_name().unwrap_or_default().to_string_lossy(),
            self.build_seconds
        )
    }
}

/// Every Parquet file of `table` in the data directory.
pub fn table_files(data: &Path, table: Table) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![data.join(table.name())];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Rows and bytes of a table's Parquet files (rows from the files' footers).
pub fn table_size(data: &Path, table: Table) -> anyhow::Result<(u64, u64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let (mut rows, mut bytes) = (0u64, 0u64);
    for path in table_files(data, table)? {
        let file = std::fs::File::open(&path)?;
        bytes += file.metadata()?.len();
        let reader = SerializedFileReader::new(file)
            .with_context(|| format!("reading the footer of {}", path.display()))?;
        rows += reader.metadata().file_metadata().num_rows() as u64;
    }
    Ok((rows, bytes))
}

/// The data set for `config`'s sizes: reused when a complete one exists, built otherwise.
pub async fn ensure(dir: &Path, config: &BenchConfig, started: Instant) -> anyhow::Result<Dataset> {
    let window_ns = i64::try_from(config.window.as_nanos()).context("--window too long")?;
    anyhow::ensure!(
        window_ns >= 60_000_000_000,
        "--window must be at least a minute"
    );
    let data = dir.join(format!(
        "data-{}inv-{}fn-{}h",
        config.invocations,
        config.functions,
        (window_ns + HOUR_NS - 1) / HOUR_NS
    ));
    let marker = data.join("dataset.json");
    let build_seconds = match std::fs::read_to_string(&marker) {
        Ok(text) => {
            progress(started, format!("data: reusing {}", data.display()));
            let saved: serde_json::Value = serde_json::from_str(&text)?;
            saved["build_seconds"].as_f64().unwrap_or(0.0)
        }
        Err(_) => {
            if data.exists() {
                std::fs::remove_dir_all(&data)
                    .with_context(|| format!("removing the incomplete {}", data.display()))?;
            }
            let seconds = build(&data, config, window_ns, started).await?;
            std::fs::write(
                &marker,
                serde_json::to_string_pretty(&json!({
                    "invocations": config.invocations,
                    "functions": config.functions,
                    "window_ns": window_ns,
                    "seed": SEED,
                    "build_seconds": seconds,
                }))?,
            )?;
            seconds
        }
    };
    let mut rows = Table::ALL.map(|table| (table, 0));
    let mut bytes = rows;
    for (i, table) in Table::ALL.into_iter().enumerate() {
        let (r, b) = table_size(&data, table)?;
        rows[i] = (table, r);
        bytes[i] = (table, b);
    }
    Ok(Dataset {
        data,
        functions: config.functions,
        invocations: config.invocations,
        rows,
        bytes,
        build_seconds,
    })
}

async fn build(
    data: &Path,
    config: &BenchConfig,
    window_ns: i64,
    started: Instant,
) -> anyhow::Result<f64> {
    let building = Instant::now();
    let workload = Workload::bench(SEED, config.functions, config.invocations, window_ns);
    let store = Store::open(StoreConfig::for_batch(data))
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let handle = store.handle();
    let slices = (window_ns + HOUR_NS - 1) / HOUR_NS;
    let mut simulated = 0usize;
    let mut pending = Records::default();
    // One hour at a time, so memory stays bounded at any size (execution environments start
    // afresh each hour: a few more cold starts than one long simulation would give).
    for slice in 0..slices {
        let mut hour = workload.clone();
        hour.seed = SEED + slice as u64;
        hour.start_ns = workload.start_ns + slice * HOUR_NS;
        hour.duration_ns = HOUR_NS.min(window_ns - slice * HOUR_NS);
        let invocations = simulate(&hour);
        simulated += invocations.len();
        for (path, bytes) in render_files(&hour, &invocations) {
            let function = path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let stream = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let file = ingest_bytes(&bytes, function.as_deref(), stream)
                .with_context(|| format!("normalizing the generated {}", path.display()))?;
            pending.append(file.records);
            if pending.len() >= BATCH_RECORDS {
                crate::commands::ingest::store_records(&handle, std::mem::take(&mut pending))
                    .await?;
            }
        }
        progress(
            started,
            format!(
                "data: hour {}/{slices} generated and stored, {simulated} invocations so far",
                slice + 1
            ),
        );
    }
    crate::commands::ingest::store_records(&handle, pending).await?;
    drop(handle);
    progress(started, "data: flushing and compacting");
    // Closing flushes the WAL and compacts every partition, as a collector does when it stops.
    store.close().await.context("flushing the data set")?;
    Ok(building.elapsed().as_secs_f64())
}
