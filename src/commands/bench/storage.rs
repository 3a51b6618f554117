//! Storage: bytes on disk per invocation row, per span and per log line, against the same rows
//! rewritten by DuckDB with ZSTD.
//!
//! DuckDB has no nanosecond timestamp with a time zone: it reads our UTC nanosecond times as
//! microseconds, and the rows it would write are not the same rows (they lose three digits of
//! every time, about a byte and a quarter each). So DuckDB is given a copy whose times are plain
//! nanosecond timestamps (the same values, without the UTC annotation), which it keeps as
//! `TIMESTAMP_NS`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use faasobs_collector::model::Table;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

use super::data::{Dataset, table_files};
use super::duckdb::DuckDb;
use super::progress;
use super::results::{Measurement, Results, Section, Target};

pub fn run(
    dataset: &Dataset,
    duckdb: &DuckDb,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(
        started,
        "storage: copying the tables with zone-less nanosecond times for DuckDB",
    );
    let input = dataset.data.with_file_name("storage-duckdb-input");
    for table in Table::ALL {
        copy_with_plain_times(&dataset.data, &input, table)?;
    }
    progress(started, "storage: DuckDB rewrites each table with ZSTD");
    let out = dataset.data.with_file_name("storage-duckdb");
    let theirs = duckdb.run(json!({
        "mode": "rewrite",
        "data": input,
        "tables": Table::ALL.map(|t| t.name()),
        "out": out,
    }));
    std::fs::remove_dir_all(&input)?;
    let theirs = theirs?;
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
            // Per invocation simulated: what the stored rows cost, whatever fragments of an
            // invocation were left unmerged (the same for both, which store the same rows).
            let invocations = dataset.invocations.max(1) as f64;
            section.rows.push(
                Measurement::new(
                    "invocations table bytes per invocation",
                    dataset.bytes(table) as f64 / invocations,
                    "B",
                )
                .against(their["bytes"].as_f64().unwrap_or(f64::NAN) / invocations),
            );
        }
    }
    section.notes.push(format!(
        "faasobs: every Parquet file of the table as the collector left it (hourly partitions, \
         compacted). DuckDB: `COPY (SELECT * FROM read_parquet(...)) TO ... (FORMAT parquet, \
         COMPRESSION zstd)` of the same rows into one file, read from a copy whose UTC \
         nanosecond times are zone-less nanosecond times (DuckDB reads zoned ones as \
         microseconds, dropping digits). Total faasobs bytes: {} invocations, \
         {} spans, {} logs, {} resources (the attributes of the resources spans and logs \
         refer to, once per resource and hour).",
        dataset.bytes(Table::Invocations),
        dataset.bytes(Table::Spans),
        dataset.bytes(Table::Logs),
        dataset.bytes(Table::Resources)
    ));
    results.sections.push(section);
    Ok(())
}

/// `data_type` with every timestamp's time zone removed, nested ones included.
fn without_time_zones(data_type: &DataType) -> DataType {
    let field = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(without_time_zones(f.data_type())),
        )
    };
    match data_type {
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, None),
        DataType::List(item) => DataType::List(field(item)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect::<Fields>()),
        DataType::Map(entries, sorted) => DataType::Map(field(entries), *sorted),
        other => other.clone(),
    }
}

/// Copies every Parquet file of `table` under `data` into `out/TABLE/`, with the same values and
/// zone-less timestamps, one file at a time (bounded memory).
fn copy_with_plain_times(data: &Path, out: &Path, table: Table) -> anyhow::Result<()> {
    let source_schema = table.schema();
    let schema = Arc::new(Schema::new(
        source_schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(without_time_zones(f.data_type()))
            })
            .collect::<Fields>(),
    ));
    let folder = out.join(table.name());
    std::fs::create_dir_all(&folder)?;
    for (n, path) in table_files(data, table)?.into_iter().enumerate() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)?.build()?;
        let target = File::create(folder.join(format!("{n:06}.parquet")))?;
        let mut writer = ArrowWriter::try_new(target, schema.clone(), None)?;
        for batch in reader {
            let batch = batch?;
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| cast(column, field.data_type()))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        }
        writer.close()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_removed_at_every_depth_and_nothing_else_changes() {
        for table in Table::ALL {
            for field in table.schema().fields() {
                let plain = without_time_zones(field.data_type());
                let text = format!("{plain:?}");
                assert!(!text.contains("UTC"), "{}: {text}", field.name());
                if !format!("{:?}", field.data_type()).contains("Timestamp") {
                    assert_eq!(&plain, field.data_type());
                }
            }
        }
    }
}
