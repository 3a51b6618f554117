//! Flushing: turning one closed WAL segment into Parquet files, one per table and hour.
//!
//! Invocation fragments in the segment are merged by request id before they are written; spans
//! and logs are written as they came. Each file is sorted by function and time and named by the
//! segment's id (`{id}-{id}.parquet`), so flushing the same segment twice writes the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{AsArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::TimestampNanosecondType;
use arrow::record_batch::RecordBatch;

use super::StoreError;
use super::layout::{Partition, SegmentRange};
use super::writer::{Objects, encode_parquet, sort_batch};
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
            take_record_batch(batch, &UInt32Array::from(rows))?
        };
        out.push((partition, sort_batch(table, &part)?));
    }
    Ok(out)
}

/// Merges invocation fragments that share a request id; other tables pass through.
pub fn merge_rows(table: Table, batch: RecordBatch) -> Result<RecordBatch, StoreError> {
    if table != Table::Invocations {
        return Ok(batch);
    }
    let merged = invocation::merge_fragments(invocation::from_batch(&batch)?);
    Ok(invocation::to_batch(&merged))
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
