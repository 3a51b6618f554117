//! Storage: bytes on disk per invocation row, per span and per log line, against the same rows
//! rewritten by DuckDB with ZSTD.

use std::time::Instant;

use faasobs_collector::model::Table;
use serde_json::json;

use super::data::Dataset;
use super::duckdb::DuckDb;
use super::progress;
use super::results::{Measurement, Results, Section, Target};

pub fn run(
    dataset: &Dataset,
    duckdb: &DuckDb,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(started, "storage: DuckDB rewrites each table with ZSTD");
    let out = dataset.data.with_file_name("storage-duckdb");
    let theirs = duckdb.run(json!({
        "mode": "rewrite",
        "data": dataset.data,
        "tables": Table::ALL.map(|t| t.name()),
        "out": out,
    }))?;
    let mut section = Section::new("Storage: bytes on disk", "DuckDB ZSTD");
    for table in Table::ALL {
        let rows = dataset.rows(table);
        let their = &theirs[table.name()];
        let their_rows = their["rows"].as_u64().unwrap_or(0);
        anyhow::ensure!(
            their_rows == rows,
            "DuckDB read {their_rows} rows of {} where faasobs has {rows}",
            table.name()
        );
        let per_row = dataset.bytes(table) as f64 / rows.max(1) as f64;
        let mut m = Measurement::new(format!("bytes per {} row", table.name()), per_row, "B")
            .against(their["bytes"].as_f64().unwrap_or(f64::NAN) / rows.max(1) as f64)
            .target(Target::RatioAtMost(1.0));
        section.rows.push(m.clone());
        if table == Table::Invocations {
            m.name = "bytes per invocation row (absolute)".into();
            section.rows.push(m.target(Target::AtMost(40.0)));
        }
    }
    section.notes.push(format!(
        "faasobs: every Parquet file of the table as the collector left it (hourly partitions, \
         compacted). DuckDB: `COPY (SELECT * FROM read_parquet(...)) TO ... (FORMAT parquet, \
         COMPRESSION zstd)` of the same rows into one file. Total faasobs bytes: {} invocations, \
         {} spans, {} logs.",
        dataset.bytes(Table::Invocations),
        dataset.bytes(Table::Spans),
        dataset.bytes(Table::Logs)
    ));
    results.sections.push(section);
    Ok(())
}
