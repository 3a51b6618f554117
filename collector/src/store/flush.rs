//! Flushing: turning one closed WAL segment into Parquet files, one per table and hour.
//!
//! Invocation fragments in the segment are merged by request id before they are written, a span
//! sent twice (same trace and span id) is kept once, and logs are written as they came. Each file is sorted by function and time and named by the
//! segment's id (`{id}-{id}.parquet`), so flushing the same segment twice writes the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{AsArray, UInt32Array};
use arrow::compute::concat_batches;
use arrow::datatypes::TimestampNanosecondType;
use arrow::record_batch::RecordBatch;

use super::StoreError;
use super::layout::{Partition, SegmentRange};
use super::writer::{Objects, encode_parquet, sort_batch, take_rows};
use crate::model::{Table, invocation};
use crate::wal::read_segment;

/// What flushing a segment wrote.
#[derive(Debug, Default, Clone)]
pub struct FlushOutcome {
    /// Rows written per table (invocations after merging).
    pub rows: BTreeMap<Table, usize>,
    /// The partitions that received a file.
    pub partitions: BTreeSet<Partition>,
    /// Bytes after the last whole record that were not flushed, with the reason.
    pub trailing: Option<(u64, String)>,
}

/// Splits `batch` of `table` into one sorted batch per hourly partition.
pub fn split_by_partition(
    table: Table,
    batch: &RecordBatch,
) -> Result<Vec<(Partition, RecordBatch)>, StoreError> {
    let times = batch
        .column_by_name(table.time_column())
        .expect("time column is part of the schema")
        .as_primitive::<TimestampNanosecondType>();
    let mut rows_of: BTreeMap<Partition, Vec<u32>> = BTreeMap::new();
    for (i, ns) in times.values().iter().enumerate() {
        rows_of
            .entry(Partition::of(table, *ns))
            .or_default()
            .push(i as u32);
    }
    let mut out = Vec::with_capacity(rows_of.len());
    for (partition, rows) in rows_of {
        let part = if rows.len() == batch.num_rows() {
            batch.clone()
        } else {
            take_rows(batch, &UInt32Array::from(rows))?
        };
        out.push((partition, sort_batch(table, &part)?));
    }
    Ok(out)
}

/// Merges invocation fragments that share a request id, and drops spans sent twice (an exporter
/// retrying a request whose answer it did not see): a span is identified by trace and span id.
/// Logs pass through.
pub fn merge_rows(table: Table, batch: RecordBatch) -> Result<RecordBatch, StoreError> {
    match table {
        Table::Invocations => {
            let merged = invocation::merge_fragments(invocation::from_batch(&batch)?);
            Ok(invocation::to_batch(&merged))
        }
        Table::Spans => drop_repeated_spans(batch),
        Table::Logs => Ok(batch),
    }
}

fn drop_repeated_spans(batch: RecordBatch) -> Result<RecordBatch, StoreError> {
    use arrow::array::BooleanArray;
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_fixed_size_binary().clone())
            .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("spans has no {name}")))
    };
    let (trace_ids, span_ids) = (column("trace_id")?, column("span_id")?);
    let mut seen = std::collections::HashSet::with_capacity(batch.num_rows());
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|i| Some(seen.insert((trace_ids.value(i), span_ids.value(i)))))
        .collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    Ok(arrow::compute::filter_record_batch(&batch, &keep)?)
}

/// Writes the records of segment `id` at `path` to Parquet. The caller deletes the segment after.
pub async fn flush_segment(
    objects: &Objects,
    id: u64,
    path: &Path,
) -> Result<FlushOutcome, StoreError> {
    let contents = read_segment(path)?;
    let mut by_table: BTreeMap<Table, Vec<RecordBatch>> = BTreeMap::new();
    for (table, batch) in contents.records {
        by_table.entry(table).or_default().push(batch);
    }
    let mut outcome = FlushOutcome {
        trailing: contents.trailing,
        ..Default::default()
    };
    for (table, batches) in by_table {
        let batch = merge_rows(table, concat_batches(&table.schema(), &batches)?)?;
        *outcome.rows.entry(table).or_default() += batch.num_rows();
        for (partition, part) in split_by_partition(table, &batch)? {
            let bytes = encode_parquet(table, &part)?;
            objects
                .put_durably(&partition.file(SegmentRange::single(id)), bytes)
                .await?;
            outcome.partitions.insert(partition);
        }
    }
    Ok(outcome)
}
