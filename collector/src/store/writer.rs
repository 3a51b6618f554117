//! Parquet files: encoding a table's rows, and putting the file in place durably.
//!
//! Every file is ZSTD-compressed (times delta-encoded; no dictionary for measurements, ids and
//! the text values of attribute maps), holds row groups of at most [`ROW_GROUP_ROWS`] rows,
//! keeps page-level statistics (for DataFusion's page index pruning; `resources` files, of one
//! page per column, keep only a row group's) and, for spans, a bloom filter
//! of `trace_id` per row group (for trace lookups), records its sort order (`function_name`, then
//! time) as Parquet sorting columns (except the output of an hour merge, sorted only within its
//! buckets, which carries [`HOUR_MERGED_KEY`] instead; a compaction that copies row groups leaves
//! each row group sorted on its own), and carries the key/value metadata
//! `faasobs.table` and `faasobs.schema_version`. The Arrow schema is embedded (except in the small
//! `resources` files, whose Parquet types give the same Arrow types back), so readers get the
//! exact column types back (timestamps with their UTC zone, fixed-size binary ids).
//!
//! A file is first written under `NAME.tmp`, synced, then renamed to `NAME`, and the folder is
//! synced: a reader never sees a half-written file, and after a crash a file is either whole or
//! absent (leftover `.tmp` files are deleted at start).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BinaryArray, BooleanArray, BooleanBufferBuilder,
    FixedSizeBinaryArray, ListArray, MapArray, PrimitiveArray, RecordBatchOptions, StringArray,
    StructArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer};
use arrow::compute::take;
use arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    KeyValue, PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
    SortingColumn,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::{ColumnPath, SchemaDescriptor};

use super::StoreError;
use super::layout::TEMP_SUFFIX;
use crate::model::{SCHEMA_VERSION, Table};

/// Rows per row group: small enough that a query for one function skips most of a file, large
/// enough that columns compress well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows copied into sorted order at a time while a file is encoded ([`encode_in_order`]).
/// Copying a whole segment's rows into order at once wrote them into fresh pages (the page
/// faults were about a quarter of the sort in `perf`) and held the sorted copy beside the file
/// being encoded; a chunk's buffers are reused by the allocator from one chunk to the next.
pub const SORTED_CHUNK_ROWS: usize = 8 * 1024;

/// One row among several batches of a table: (batch, row), as arrow's `interleave` takes them.
/// The flusher and compaction order and copy the rows of a segment's (or files') batches where
/// they are, without concatenating them first.
pub type RowOf = (usize, usize);

/// Sorts a batch of `table` by the table's sort columns (`function_name`, then time; rows equal
/// in both keep their order, so sorting the same rows always gives the same file).
pub fn sort_batch(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    let batches = std::slice::from_ref(batch);
    interleave_rows(
        table,
        batches,
        &sorted_order(table, batches, &all_rows(batches))?,
    )
}

/// Every row of `batches`, in order.
pub fn all_rows(batches: &[RecordBatch]) -> Vec<RowOf> {
    batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |row| (b, row)))
        .collect()
}

/// The rows `rows` of `batches` in the order [`sort_batch`] sorts them: the positions only, for
/// [`encode_in_order`] or [`interleave_rows`] to copy the rows a chunk at a time.
pub fn sorted_order(
    table: Table,
    batches: &[RecordBatch],
    rows: &[RowOf],
) -> Result<Vec<RowOf>, StoreError> {
    let columns = batches
        .iter()
        .map(|batch| sort_columns(table, batch))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sorted_by_name_then_time(&columns, rows))
}

/// The columns `batch` of `table` is sorted by: its function's name and its time.
pub(super) fn sort_columns(
    table: Table,
    batch: &RecordBatch,
) -> Result<(&StringArray, &PrimitiveArray<TimestampNanosecondType>), StoreError> {
    let [names, times] = table.sort_columns().map(|name| batch.column_by_name(name));
    // Every table stores its function as text and its time in nanoseconds (batches read back
    // from the WAL or from stored files have the table's schema, which they were written with).
    match (
        names.and_then(|c| c.as_string_opt::<i32>()),
        times.and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>()),
    ) {
        (Some(names), Some(times)) => Ok((names, times)),
        _ => Err(ArrowError::SchemaError(format!(
            "{}: the sort columns are not text and nanosecond time",
            table.name()
        ))
        .into()),
    }
}

/// `rows` in order of name, then time (nulls first in both), then position. Each distinct name
/// is compared only while the names are ranked; the rows are then sorted by (rank, time) as
/// integers, or, when they already come in time order, only grouped by rank. arrow's `lexsort_to_indices` compared the names' bytes in every comparison of the
/// sort (`memcmp` through a comparator per column), about 6 % of a log import's CPU.
fn sorted_by_name_then_time(
    columns: &[(&StringArray, &PrimitiveArray<TimestampNanosecondType>)],
    rows: &[RowOf],
) -> Vec<RowOf> {
    let mut first_seen: HashMap<&str, u32> = HashMap::new();
    let mut previous: Option<(&str, u32)> = None;
    // Rank 0 is the null name; the others are numbered as first seen, then renumbered in order.
    let seen: Vec<u32> = rows
        .iter()
        .map(|&(batch, row)| {
            let names = columns[batch].0;
            if names.is_null(row) {
                return 0;
            }
            let name = names.value(row);
            // Rows come in runs of one function: the last name is checked before hashing.
            if let Some((last, id)) = previous
                && last == name
            {
                return id;
            }
            let next = first_seen.len() as u32 + 1;
            let id = *first_seen.entry(name).or_insert(next);
            previous = Some((name, id));
            id
        })
        .collect();
    let mut distinct: Vec<(&str, u32)> = first_seen.into_iter().collect();
    distinct.sort_unstable();
    let mut rank_of = vec![0u32; distinct.len() + 1];
    for (rank, (_, id)) in distinct.iter().enumerate() {
        rank_of[*id as usize] = rank as u32 + 1;
    }
    let time_of = |&(batch, row): &RowOf| {
        let times = columns[batch].1;
        times.is_valid(row).then(|| times.value(row))
    };
    // Rows already in time order (an import's piece of a log file, whatever its functions) need
    // only be grouped by name, keeping their order: a counting sort by rank, rather than sorting
    // every row's key (a quarter of the sort and copy of a Powertools import's batches).
    if rows
        .windows(2)
        .all(|pair| time_of(&pair[0]) <= time_of(&pair[1]))
    {
        let mut starts = vec![0usize; distinct.len() + 2];
        for id in &seen {
            starts[rank_of[*id as usize] as usize + 1] += 1;
        }
        for rank in 1..starts.len() {
            starts[rank] += starts[rank - 1];
        }
        let mut sorted = vec![(0, 0); rows.len()];
        for (row, id) in rows.iter().zip(&seen) {
            let start = &mut starts[rank_of[*id as usize] as usize];
            sorted[*start] = *row;
            *start += 1;
        }
        return sorted;
    }
    // (rank, time, position in `rows`): the position last, so equal keys keep their order.
    let mut keys: Vec<(u32, Option<i64>, u32)> = rows
        .iter()
        .zip(&seen)
        .enumerate()
        .map(|(position, (row, id))| (rank_of[*id as usize], time_of(row), position as u32))
        .collect();
    keys.sort_unstable();
    keys.into_iter()
        .map(|(.., position)| rows[position as usize])
        .collect()
}

/// The rows of `batches` (of `table`) at `order`, in that order. One batch is copied with
/// [`take_rows`]. Rows of several batches are copied in runs: consecutive rows of one batch are
/// one run, and a run of list or map rows is one run of their entries (a contiguous range), so
/// each column is copied a range at a time, even where the rows come one at a time (a span's
/// attributes are one range). Gathering every value and map entry one at a time (arrow's
/// `interleave`) took twice as long as `take` of the batches concatenated; copying runs, a third
/// as long as concatenating and `take` (102,400 spans of 200 batches in runs of up to 13 rows,
/// 20 attributes each). See docs/benchmarks-history.md.
pub fn interleave_rows(
    table: Table,
    batches: &[RecordBatch],
    order: &[RowOf],
) -> Result<RecordBatch, StoreError> {
    if let [batch] = batches {
        let indices = order.iter().map(|&(_, row)| row as u32).collect();
        return take_rows(batch, &UInt32Array::new(indices, None));
    }
    let mut runs: Vec<Run> = Vec::new();
    for &(batch, row) in order {
        match runs.last_mut() {
            Some(run) if run.batch == batch && run.rows.end == row => run.rows.end += 1,
            _ => runs.push(Run {
                batch,
                rows: row..row + 1,
            }),
        }
    }
    let schema = table.schema();
    let columns = (0..schema.fields().len())
        .map(|i| {
            let sources: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            gather_runs(&sources, &runs, order.len())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// Consecutive rows of one batch.
#[derive(Debug, Clone)]
struct Run {
    batch: usize,
    rows: Range<usize>,
}

/// One column of several batches, the rows of `runs` (`len` in all) one run after another.
fn gather_runs(sources: &[&dyn Array], runs: &[Run], len: usize) -> Result<ArrayRef, ArrowError> {
    let nulls = gather_nulls(sources, runs, len);
    Ok(match sources[0].data_type() {
        DataType::List(field) => {
            let lists: Vec<&ListArray> = sources.iter().map(|a| a.as_list::<i32>()).collect();
            let offsets: Vec<&[i32]> = lists.iter().map(|l| l.value_offsets()).collect();
            let (offsets, entry_runs, entries) = entry_runs(&offsets, runs)?;
            let values: Vec<&dyn Array> = lists.iter().map(|l| l.values().as_ref()).collect();
            Arc::new(ListArray::try_new(
                field.clone(),
                offsets,
                gather_runs(&values, &entry_runs, entries)?,
                nulls,
            )?)
        }
        DataType::Map(field, ordered) => {
            let maps: Vec<&MapArray> = sources.iter().map(|a| a.as_map()).collect();
            let offsets: Vec<&[i32]> = maps.iter().map(|m| m.value_offsets()).collect();
            let (offsets, entry_runs, entries) = entry_runs(&offsets, runs)?;
            let structs: Vec<&dyn Array> = maps.iter().map(|m| m.entries() as &dyn Array).collect();
            let entries = gather_runs(&structs, &entry_runs, entries)?;
            Arc::new(MapArray::try_new(
                field.clone(),
                offsets,
                entries.as_struct().clone(),
                nulls,
                *ordered,
            )?)
        }
        DataType::Struct(fields) => {
            let structs: Vec<&StructArray> = sources.iter().map(|a| a.as_struct()).collect();
            let children = (0..fields.len())
                .map(|i| {
                    let columns: Vec<&dyn Array> =
                        structs.iter().map(|s| s.column(i).as_ref()).collect();
                    gather_runs(&columns, runs, len)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new_with_length(
                fields.clone(),
                children,
                nulls,
                len,
            )?)
        }
        DataType::Utf8 => {
            let (offsets, values) = gather_bytes(sources, runs, len, |a| {
                let a = a.as_string::<i32>();
                (a.value_offsets(), a.values().as_slice())
            })?;
            // SAFETY: each value's bytes are copied whole from a valid UTF-8 array.
            Arc::new(unsafe { StringArray::new_unchecked(offsets, values, nulls) })
        }
        DataType::Binary => {
            let (offsets, values) = gather_bytes(sources, runs, len, |a| {
                let a = a.as_binary::<i32>();
                (a.value_offsets(), a.values().as_slice())
            })?;
            Arc::new(BinaryArray::try_new(offsets, values, nulls)?)
        }
        DataType::FixedSizeBinary(size) => {
            let width = *size as usize;
            let arrays: Vec<&[u8]> = sources
                .iter()
                .map(|a| a.as_fixed_size_binary().value_data())
                .collect();
            let mut values = Vec::with_capacity(len * width);
            for (i, run) in runs.iter().enumerate() {
                prefetch_run_ahead(runs, i, |ahead| {
                    (arrays[ahead.batch], ahead.rows.start * width)
                });
                values.extend_from_slice(
                    &arrays[run.batch][run.rows.start * width..run.rows.end * width],
                );
            }
            Arc::new(FixedSizeBinaryArray::try_new(*size, values.into(), nulls)?)
        }
        DataType::Boolean => {
            let arrays: Vec<&BooleanBuffer> =
                sources.iter().map(|a| a.as_boolean().values()).collect();
            let mut values = BooleanBufferBuilder::new(len);
            for run in runs {
                append_bits(&mut values, arrays[run.batch], &run.rows);
            }
            Arc::new(BooleanArray::new(values.finish(), nulls))
        }
        DataType::Int32 => gather_primitive::<Int32Type>(sources, runs, len, nulls),
        DataType::Int64 => gather_primitive::<Int64Type>(sources, runs, len, nulls),
        DataType::Float64 => gather_primitive::<Float64Type>(sources, runs, len, nulls),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            gather_primitive::<TimestampNanosecondType>(sources, runs, len, nulls)
        }
        _ => {
            let order: Vec<RowOf> = runs
                .iter()
                .flat_map(|run| run.rows.clone().map(|row| (run.batch, row)))
                .collect();
            arrow::compute::interleave(sources, &order)?
        }
    })
}

/// For the lists of `runs` (each batch's list offsets in `offsets`): the new offsets, the runs of
/// their entries (each run of lists is one range of entries) and the number of entries.
fn entry_runs(
    offsets: &[&[i32]],
    runs: &[Run],
) -> Result<(OffsetBuffer<i32>, Vec<Run>, usize), ArrowError> {
    let mut new_offsets = Vec::with_capacity(runs.iter().map(|r| r.rows.len()).sum::<usize>() + 1);
    new_offsets.push(0i32);
    let mut entry_runs = Vec::with_capacity(runs.len());
    let mut entries = 0usize;
    for run in runs {
        let offsets = &offsets[run.batch][run.rows.start..=run.rows.end];
        let base = offsets[0];
        for &offset in &offsets[1..] {
            let end = i32::try_from(entries + (offset - base) as usize)
                .map_err(|_| ArrowError::ComputeError("list entries overflow i32".into()))?;
            new_offsets.push(end);
        }
        let (start, end) = (base as usize, offsets[offsets.len() - 1] as usize);
        entries += end - start;
        if start < end {
            entry_runs.push(Run {
                batch: run.batch,
                rows: start..end,
            });
        }
    }
    Ok((OffsetBuffer::new(new_offsets.into()), entry_runs, entries))
}

/// The offsets and value bytes of a text or binary column's rows in `runs`: each run's bytes are
/// one contiguous copy.
fn gather_bytes<'a>(
    sources: &[&'a dyn Array],
    runs: &[Run],
    len: usize,
    parts: impl Fn(&'a dyn Array) -> (&'a [i32], &'a [u8]),
) -> Result<(OffsetBuffer<i32>, Buffer), ArrowError> {
    let parts: Vec<(&[i32], &[u8])> = sources.iter().map(|a| parts(*a)).collect();
    let mut offsets = Vec::with_capacity(len + 1);
    offsets.push(0i32);
    // The exact size up front: grown by doubling, the buffer was copied again at every step
    // (`realloc`, 4 % of an import's flusher in `perf`).
    let bytes_of = |run: &Run| {
        let source_offsets = parts[run.batch].0;
        (source_offsets[run.rows.end] - source_offsets[run.rows.start]) as usize
    };
    let mut values: Vec<u8> = Vec::with_capacity(runs.iter().map(bytes_of).sum());
    for (i, run) in runs.iter().enumerate() {
        prefetch_run_ahead(runs, i, |ahead| {
            let (source_offsets, bytes) = parts[ahead.batch];
            (bytes, source_offsets[ahead.rows.start] as usize)
        });
        let (source_offsets, bytes) = parts[run.batch];
        let source_offsets = &source_offsets[run.rows.start..=run.rows.end];
        let (start, end) = (source_offsets[0], source_offsets[source_offsets.len() - 1]);
        let shift = i32::try_from(values.len())
            .map_err(|_| ArrowError::ComputeError("text column over 2 GiB".into()))?
            - start;
        offsets.extend(source_offsets[1..].iter().map(|offset| offset + shift));
        values.extend_from_slice(&bytes[start as usize..end as usize]);
    }
    Ok((OffsetBuffer::new(offsets.into()), Buffer::from_vec(values)))
}

/// How many runs ahead [`gather_runs`] asks for a run's values. Rows sorted by function come from
/// all over a segment's batches, one or two at a time: each copy waited for its bytes to come
/// from memory (the copies were a fifth of an import's flusher in `perf`, at 40 ns each).
const PREFETCH_RUNS_AHEAD: usize = 8;

/// Asks for the first value of the run [`PREFETCH_RUNS_AHEAD`] after `runs[i]`, if there is one;
/// `first_value` says where a run's first value is (its source's values and the index in them).
#[inline(always)]
fn prefetch_run_ahead<'a, T: 'a>(
    runs: &[Run],
    i: usize,
    first_value: impl FnOnce(&Run) -> (&'a [T], usize),
) {
    if let Some(ahead) = runs.get(i + PREFETCH_RUNS_AHEAD) {
        let (values, at) = first_value(ahead);
        prefetch(values, at);
    }
}

/// Asks the processor to bring the cache line of `values[at]` closer (a hint: nothing happens
/// where it has no such instruction, or `at` is past the end).
#[inline(always)]
fn prefetch<T>(values: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = values.get(at) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and cannot fault; the address is in `values`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, at);
}

fn gather_primitive<T: ArrowPrimitiveType>(
    sources: &[&dyn Array],
    runs: &[Run],
    len: usize,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let arrays: Vec<&[T::Native]> = sources
        .iter()
        .map(|a| a.as_primitive::<T>().values().as_ref())
        .collect();
    let mut values = Vec::with_capacity(len);
    for (i, run) in runs.iter().enumerate() {
        prefetch_run_ahead(runs, i, |ahead| (arrays[ahead.batch], ahead.rows.start));
        let source = arrays[run.batch];
        if run.rows.len() == 1 {
            values.push(source[run.rows.start]);
        } else {
            values.extend_from_slice(&source[run.rows.clone()]);
        }
    }
    Arc::new(
        PrimitiveArray::<T>::new(values.into(), nulls)
            .with_data_type(sources[0].data_type().clone()),
    )
}

/// The validity of the rows in `runs`: none if no source has a null.
fn gather_nulls(sources: &[&dyn Array], runs: &[Run], len: usize) -> Option<NullBuffer> {
    if sources.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    let nulls: Vec<Option<&BooleanBuffer>> = sources
        .iter()
        .map(|a| a.nulls().map(|n| n.inner()))
        .collect();
    let mut validity = BooleanBufferBuilder::new(len);
    for run in runs {
        match nulls[run.batch] {
            Some(valid) => append_bits(&mut validity, valid, &run.rows),
            None => validity.append_n(run.rows.len(), true),
        }
    }
    Some(NullBuffer::new(validity.finish())).filter(|nulls| nulls.null_count() > 0)
}

/// Appends the bits of `rows` of `bits` (a run of one row, the most common in the ingest
/// benchmark's spans, as one bit).
fn append_bits(builder: &mut BooleanBufferBuilder, bits: &BooleanBuffer, rows: &Range<usize>) {
    if rows.len() == 1 {
        builder.append(bits.value(rows.start));
    } else {
        let offset = bits.offset();
        builder.append_packed_range(offset + rows.start..offset + rows.end, bits.values());
    }
}

/// The rows of `batch` at `indices`, in that order: arrow's `take`, except that lists and maps
/// (attributes, events) gather their entries with one `take` of the entries instead of copying
/// each row's slice through `MutableArrayData`, which made sorting spans the largest cost of a
/// flush (see docs/benchmarks-history.md).
pub fn take_rows(batch: &RecordBatch, indices: &UInt32Array) -> Result<RecordBatch, StoreError> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| take_column(column, indices))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(indices.len()));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &options,
    )?)
}

fn take_column(column: &ArrayRef, indices: &UInt32Array) -> Result<ArrayRef, ArrowError> {
    match column.data_type() {
        DataType::List(field) => {
            let list = column.as_list::<i32>();
            let (offsets, entries) = entry_indices(list.value_offsets(), indices)?;
            let values = take_column(list.values(), &entries)?;
            let nulls = take_nulls(list.nulls(), indices);
            Ok(Arc::new(ListArray::try_new(
                field.clone(),
                offsets,
                values,
                nulls,
            )?))
        }
        DataType::Map(field, ordered) => {
            let map = column.as_map();
            let (offsets, entries) = entry_indices(map.value_offsets(), indices)?;
            Ok(Arc::new(MapArray::try_new(
                field.clone(),
                offsets,
                take_struct(map.entries(), &entries)?,
                take_nulls(map.nulls(), indices),
                *ordered,
            )?))
        }
        DataType::Struct(_) => Ok(Arc::new(take_struct(column.as_struct(), indices)?)),
        _ => take(column.as_ref(), indices, None),
    }
}

fn take_struct(array: &StructArray, indices: &UInt32Array) -> Result<StructArray, ArrowError> {
    let children = array
        .columns()
        .iter()
        .map(|child| take_column(child, indices))
        .collect::<Result<Vec<_>, _>>()?;
    StructArray::try_new_with_length(
        array.fields().clone(),
        children,
        take_nulls(array.nulls(), indices),
        indices.len(),
    )
}

/// For the lists at `indices`: the new offsets and the indices of their entries, in order.
fn entry_indices(
    offsets: &[i32],
    indices: &UInt32Array,
) -> Result<(OffsetBuffer<i32>, UInt32Array), ArrowError> {
    let mut new_offsets = Vec::with_capacity(indices.len() + 1);
    new_offsets.push(0i32);
    let mut entries = Vec::new();
    for &row in indices.values() {
        let (start, end) = (offsets[row as usize], offsets[row as usize + 1]);
        entries.extend(start as u32..end as u32);
        let length = i32::try_from(entries.len())
            .map_err(|_| ArrowError::ComputeError("list entries overflow i32".into()))?;
        new_offsets.push(length);
    }
    Ok((
        OffsetBuffer::new(new_offsets.into()),
        UInt32Array::from(entries),
    ))
}

fn take_nulls(nulls: Option<&NullBuffer>, indices: &UInt32Array) -> Option<NullBuffer> {
    let nulls = nulls.filter(|n| n.null_count() > 0)?;
    Some(NullBuffer::from_iter(
        indices
            .values()
            .iter()
            .map(|&row| nulls.is_valid(row as usize)),
    ))
}

/// The ZSTD level of the stored files but `resources` ([`RESOURCES_ZSTD_LEVEL`]). Pages are
/// compressed one at a time after dictionary and delta encoding, which leave little for a
/// stronger level to find: on one WAL segment of the ingest benchmark's spans, level 1 encoded
/// spans 11 % and invocation fragments 28 % faster than level 3, and the files came out no larger
/// (see docs/benchmarks-history.md).
const ZSTD_LEVEL: i32 = 1;

/// The ZSTD level of `resources` files. A resource's row is written once an hour, so the table
/// is a few hundred rows an hour (a tenth of a percent of the store) and its files are small
/// enough that their metadata and per-column overhead are a tenth of their bytes: the strong
/// level, whose match finder looks further, costs milliseconds there. Levels 3 to 12 came out
/// larger than level 1 on the benchmark's resources, 15 and above 3 % smaller.
const RESOURCES_ZSTD_LEVEL: i32 = 15;

/// Columns of random identifiers: nothing repeats, so a dictionary only costs time.
const RANDOM_ID_COLUMNS: [&str; 4] = ["request_id", "trace_id", "span_id", "parent_span_id"];

/// The random identifier kept as text, in every table that has it. Written plain, each id's
/// length (4 bytes) came before its 36 characters, and ZSTD coded those lengths among the
/// characters; with the lengths delta-encoded apart, a UUID request id took 18.5 B instead of
/// 19.8 B, and half the time to encode (docs/benchmarks-history.md, twenty-fourth session).
const TEXT_ID_COLUMN: &str = "request_id";

/// The false-positive rate of the spans' `trace_id` bloom filters: a trace lookup reads about
/// this share of the row groups that do not hold the trace.
const TRACE_ID_BLOOM_FPP: f64 = 0.05;

/// The key/value metadata that marks the output of an hour merge (see `hour_merge`). Its value is
/// the JSON array of the file's request ids that other files of the same or a neighbouring hour
/// also held when it was written: every other request id of the file is in no other hour-merged
/// file, so its row is final unless a file not yet hour-merged holds the id too. (Files written
/// before this list was kept say `true`, and are read as not hour-merged.)
pub const HOUR_MERGED_KEY: &str = "faasobs.hour_merged";

/// The Parquet schema of the files of `table`.
pub fn parquet_schema(table: Table) -> SchemaDescriptor {
    ArrowSchemaConverter::new()
        .convert(&table.schema())
        .expect("the store's schemas convert to Parquet")
}

/// The properties of a file of `table`, which records Parquet sorting columns when `sorted`. A
/// file written by an hour merge is sorted only within each of its buckets (its writer adds
/// [`HOUR_MERGED_KEY`] once it knows the shared request ids), and a flush file of spans is in
/// arrival order ([`Table::flushed_in_arrival_order`]): neither is `sorted`.
pub fn writer_properties(table: Table, sorted: bool) -> WriterProperties {
    let schema = table.schema();
    let sorting = sorted.then(|| {
        table
            .sort_columns()
            .iter()
            .map(|name| SortingColumn {
                column_idx: schema.index_of(name).expect("sort column exists") as i32,
                descending: false,
                nulls_first: true,
            })
            .collect()
    });
    let metadata = vec![
        KeyValue::new("faasobs.table".into(), table.name().to_string()),
        KeyValue::new("faasobs.schema_version".into(), SCHEMA_VERSION.to_string()),
    ];
    let mut builder = WriterProperties::builder();
    // Per-column encodings: times as deltas (files are sorted by time within a function), and
    // measurements and random ids without a dictionary, which none of them gains from and which
    // arrow-rs would otherwise fill and abandon for every page (measured: the deltas save a third
    // of the times' bytes; byte-stream-split made the durations larger under ZSTD). Request ids
    // are text: their lengths go apart from their characters (`DELTA_LENGTH_BYTE_ARRAY`), so ZSTD
    // sees only the ids' characters (see [`TEXT_ID_COLUMN`]).
    for field in schema.fields() {
        let column = ColumnPath::from(field.name().as_str());
        let encoding = match field.data_type() {
            DataType::Timestamp(..) => Some(Encoding::DELTA_BINARY_PACKED),
            DataType::Float64 => Some(Encoding::PLAIN),
            DataType::Utf8 if field.name() == TEXT_ID_COLUMN => {
                Some(Encoding::DELTA_LENGTH_BYTE_ARRAY)
            }
            _ if RANDOM_ID_COLUMNS.contains(&field.name().as_str()) => Some(Encoding::PLAIN),
            _ => None,
        };
        if let Some(encoding) = encoding {
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, encoding);
        }
    }
    // Statistics only where a reader can use them. Min/max of random ids prune nothing (a page
    // of random ids spans nearly their whole range; a trace is found by its bloom filter below),
    // nor do those of log bodies (a function's lines say anything, in any order, and are
    // searched with `LIKE '%...%'`), and no query predicate reaches inside the attribute maps and
    // event lists; computing them compared every value of those columns on every write.
    for leaf in parquet_schema(table).columns() {
        let path = leaf.path();
        let root = path.parts()[0].as_str();
        let log_body = table == Table::Logs && root == "body";
        if path.parts().len() > 1 || RANDOM_ID_COLUMNS.contains(&root) || log_body {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        }
        // Attribute values that are text mix a few repeated values (regions, routes) with many
        // unique ones (paths, request ids, ARNs); a dictionary over them hashed every value and
        // then outgrew its page limit and was abandoned, where ZSTD alone finds the repeats. Log
        // bodies are alike (templates filled with ids and numbers): without a dictionary a 1M-line
        // import's logs came out 1.5 % smaller, and the flusher no longer hashed every body.
        if path
            .parts()
            .ends_with(&["value".to_string(), "string".to_string()])
            || log_body
        {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
        }
    }
    // A trace is looked up by id (`faasobs` trace view, `WHERE trace_id = ...`): a bloom filter
    // per row group lets the reader skip every row group that cannot hold it, where min/max
    // statistics of random ids prune nothing. parquet-rs folds each filter down to the row
    // group's distinct ids at this false-positive rate, about a byte per span.
    if table == Table::Spans {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
            .set_column_bloom_filter_fpp(ColumnPath::from("trace_id"), TRACE_ID_BLOOM_FPP);
    }
    // A `resources` file holds one page per column: its page index would only repeat the row
    // group's statistics, and the index is a sixtieth of such a file.
    let (level, statistics) = match table {
        Table::Resources => (RESOURCES_ZSTD_LEVEL, EnabledStatistics::Chunk),
        _ => (ZSTD_LEVEL, EnabledStatistics::Page),
    };
    builder
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(level).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(statistics)
        .set_offset_index_disabled(table == Table::Resources)
        .set_sorting_columns(sorting)
        .set_key_value_metadata(Some(metadata))
        .build()
}

/// Encodes all rows of `batches` as a Parquet file of `table` in memory, sorted as
/// [`sort_batch`] sorts them (a compaction's file).
pub fn encode_sorted(table: Table, batches: &[RecordBatch]) -> Result<Bytes, StoreError> {
    encode_in_order(
        table,
        batches,
        &sorted_order(table, batches, &all_rows(batches))?,
    )
}

/// Encodes the rows of `batches` at `order` (from [`sorted_order`]) as a Parquet file of
/// `table`, in that order, copying them into order one chunk of [`SORTED_CHUNK_ROWS`] at a time,
/// each encoded before the next is copied.
pub fn encode_in_order(
    table: Table,
    batches: &[RecordBatch],
    order: &[RowOf],
) -> Result<Bytes, StoreError> {
    encode_in_chunks(table, batches, order, SORTED_CHUNK_ROWS)
}

/// The order a flush writes the rows `rows` of `batches` in: sorted ([`sorted_order`]), or as
/// they arrived for a table [`Table::flushed_in_arrival_order`].
pub fn flush_order(
    table: Table,
    batches: &[RecordBatch],
    rows: Vec<RowOf>,
) -> Result<Vec<RowOf>, StoreError> {
    if table.flushed_in_arrival_order() {
        Ok(rows)
    } else {
        sorted_order(table, batches, &rows)
    }
}

/// Encodes a flush file: the rows of `batches` at `order` (from [`flush_order`]). Rows in
/// arrival order are written a run of neighbours at a time, straight from their batch (a slice,
/// not a copy), and the file records no sorting columns.
pub fn encode_flush_file(
    table: Table,
    batches: &[RecordBatch],
    order: &[RowOf],
) -> Result<Bytes, StoreError> {
    if !table.flushed_in_arrival_order() {
        return encode_in_order(table, batches, order);
    }
    let mut buffer = Vec::new();
    let mut writer = file_writer(&mut buffer, table, false)?;
    let mut rest = order;
    while let Some(&(batch, start)) = rest.first() {
        let run = rest
            .iter()
            .enumerate()
            .take_while(|&(i, &row)| row == (batch, start + i))
            .count();
        writer.write(&batches[batch].slice(start, run))?;
        rest = &rest[run..];
    }
    writer.close()?;
    Ok(Bytes::from(buffer))
}

/// True when the files of `table` embed their Arrow schema (`ARROW:schema`). The Parquet types
/// of `resources` already give its exact Arrow types back (a test checks it), and in its small
/// files the embedded schema was a twentieth of the bytes; the other tables keep it.
pub fn embeds_arrow_schema(table: Table) -> bool {
    table != Table::Resources
}

/// A Parquet writer of a file of `table` into `buffer` (see [`writer_properties`]).
fn file_writer(
    buffer: &mut Vec<u8>,
    table: Table,
    sorted: bool,
) -> Result<ArrowWriter<&mut Vec<u8>>, StoreError> {
    Ok(ArrowWriter::try_new_with_options(
        buffer,
        table.schema(),
        ArrowWriterOptions::new()
            .with_properties(writer_properties(table, sorted))
            .with_skip_arrow_metadata(!embeds_arrow_schema(table)),
    )?)
}

fn encode_in_chunks(
    table: Table,
    batches: &[RecordBatch],
    order: &[RowOf],
    rows_per_chunk: usize,
) -> Result<Bytes, StoreError> {
    let mut buffer = Vec::new();
    let mut writer = file_writer(&mut buffer, table, true)?;
    for chunk in order.chunks(rows_per_chunk) {
        writer.write(&interleave_rows(table, batches, chunk)?)?;
    }
    writer.close()?;
    Ok(Bytes::from(buffer))
}

/// Encodes rows as a scratch file that only faasobs reads back soon after (the pieces of an hour
/// merge): one Arrow IPC stream, the rows' own buffers written out as they are. The pieces were
/// ZSTD Parquet before; encoding them and decoding them again was a fifth of an import's closing
/// hour merges (`perf`, 5M log lines), for files deleted a moment later. They are about as large
/// on disk as the rows are in memory.
pub fn encode_scratch(batch: &RecordBatch) -> Result<Bytes, StoreError> {
    let mut buffer = Vec::with_capacity(batch.get_array_memory_size() + 4096);
    let mut writer = StreamWriter::try_new(&mut buffer, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(Bytes::from(buffer))
}

/// Reads back a scratch file written by [`encode_scratch`], as one batch of `table` (decoded as
/// a WAL record's payload is).
pub fn decode_scratch(table: Table, bytes: Bytes) -> Result<RecordBatch, StoreError> {
    let batches = crate::wal::decode_payload(Buffer::from(bytes))?;
    Ok(arrow::compute::concat_batches(&table.schema(), &batches)?)
}

/// The footer entry of an hour-merged file that lists `shared_request_ids`.
pub fn hour_merged_entry(shared_request_ids: &[String]) -> KeyValue {
    KeyValue::new(
        HOUR_MERGED_KEY.into(),
        serde_json::to_string(shared_request_ids).expect("strings serialize"),
    )
}

/// The request ids an hour-merged file shares with other files ([`HOUR_MERGED_KEY`]), or `None`
/// when the footer does not mark the file as the output of an hour merge.
pub fn shared_request_ids(metadata: &ParquetMetaData) -> Option<Vec<String>> {
    let entries = metadata.file_metadata().key_value_metadata()?;
    let entry = entries.iter().find(|e| e.key == HOUR_MERGED_KEY)?;
    serde_json::from_str(entry.value.as_deref()?).ok()
}

/// True when a file's footer marks it as the output of an hour merge ([`HOUR_MERGED_KEY`]).
pub fn is_hour_merged(metadata: &ParquetMetaData) -> bool {
    shared_request_ids(metadata).is_some()
}

/// Decodes a whole Parquet file of the store into one batch (of the table's schema, when the
/// file's is an earlier one that can be upgraded: see [`decode_parquet_batches`]).
pub fn decode_parquet(table: Table, bytes: Bytes) -> Result<RecordBatch, StoreError> {
    let batches = decode_parquet_batches(table, bytes)?;
    Ok(arrow::compute::concat_batches(&table.schema(), &batches)?)
}

/// Decodes a whole Parquet file of `table` as the reader's batches, for a caller that
/// concatenates several files' batches once. A file of an earlier schema version that can be
/// upgraded gives batches of the current schema ([`Table::upgrade`]); one that cannot (spans of
/// version 1) gives its own.
pub fn decode_parquet_batches(table: Table, bytes: Bytes) -> Result<Vec<RecordBatch>, StoreError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(64 * 1024)
        .build()?;
    reader.map(|batch| Ok(table.upgrade(batch?))).collect()
}

/// Where the file for `path` is written before it is moved into place.
pub fn temporary_path(path: &ObjectPath) -> ObjectPath {
    ObjectPath::from(format!("{path}{TEMP_SUFFIX}"))
}

/// The file under the local directory `root` that holds the object `path`.
pub fn local_path(root: &std::path::Path, path: &ObjectPath) -> PathBuf {
    path.parts()
        .fold(root.to_path_buf(), |acc, part| acc.join(part.as_ref()))
}

/// The object store of a data directory, and its local root when it is a local filesystem (where
/// faasobs syncs files and folders itself, since object_store does not).
#[derive(Debug, Clone)]
pub struct Objects {
    pub store: Arc<dyn ObjectStore>,
    pub local_root: Option<PathBuf>,
    /// Where an hour merge writes its scratch pieces when not in `store`: the data directory's
    /// scratch folder, for a store whose files are in a bucket.
    pub scratch: Option<Arc<dyn ObjectStore>>,
}

impl Objects {
    /// The objects an hour merge writes its scratch pieces to and reads them back from: the
    /// data directory's scratch folder for a store whose files are in a bucket (a piece is read
    /// back within the merge, so it need not cross the network twice, nor be paid for as
    /// requests), else the store itself.
    pub fn scratch(&self) -> Objects {
        match &self.scratch {
            Some(store) => Objects {
                store: Arc::clone(store),
                local_root: None,
                scratch: None,
            },
            None => self.clone(),
        }
    }

    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| local_path(root, path))
    }

    fn sync_local(&self, path: &ObjectPath, with_parents: usize) -> Result<(), StoreError> {
        let Some(file) = self.local_path(path) else {
            return Ok(());
        };
        let sync = |p: &std::path::Path| {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|source| StoreError::Io {
                    path: p.to_path_buf(),
                    source,
                })
        };
        sync(&file)?;
        let mut dir = file.parent();
        for _ in 0..with_parents {
            let Some(d) = dir else { break };
            sync(d)?;
            dir = d.parent();
        }
        Ok(())
    }

    /// Where a file for `path` is written before [`Objects::commit_durably`] puts it in place:
    /// a temporary file in a local directory, `path` itself in object storage. There an object
    /// is seen only once its upload is whole, and is durable once that is answered, while a
    /// rename is a copy and a delete: two more requests, and a copy is limited to 5 GB on S3.
    pub fn staging_path(&self, path: &ObjectPath) -> ObjectPath {
        match self.local_root {
            Some(_) => temporary_path(path),
            None => path.clone(),
        }
    }

    /// Puts `bytes` at `path` so that it is whole and durable once this returns: in object
    /// storage one PUT, in a local directory a temporary file synced and renamed into place.
    pub async fn put_durably(&self, path: &ObjectPath, bytes: Bytes) -> Result<(), StoreError> {
        let staged = self.staging_path(path);
        self.store
            .put(&staged, PutPayload::from_bytes(bytes))
            .await?;
        self.commit_durably(&staged, path).await
    }

    /// Moves the whole file written at `staged` (its [`Objects::staging_path`]) to `path`,
    /// durably.
    pub async fn commit_durably(
        &self,
        staged: &ObjectPath,
        path: &ObjectPath,
    ) -> Result<(), StoreError> {
        if staged == path {
            // Object storage: the upload was whole and durable when it was answered.
            return Ok(());
        }
        self.sync_local(staged, 0)?;
        self.store.rename(staged, path).await?;
        // The file, its hour folder and the date folder above it may all be new.
        self.sync_local(path, 3)?;
        Ok(())
    }

    fn reader(&self, file: &ObjectMeta) -> StoredFileReader {
        StoredFileReader {
            store: self.store.clone(),
            file: file.clone(),
        }
    }

    /// Reads the footer of a Parquet file of the store.
    pub async fn read_metadata(&self, file: &ObjectMeta) -> Result<ParquetMetaData, StoreError> {
        Ok(ParquetMetaDataReader::new()
            .load_and_finish(&mut self.reader(file), file.size)
            .await?)
    }

    /// Reads the footer of a Parquet file of the store with its page index (the column and offset
    /// indexes), for a copy of its column chunks to carry them.
    pub async fn read_metadata_with_page_index(
        &self,
        file: &ObjectMeta,
    ) -> Result<ParquetMetaData, StoreError> {
        Ok(ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .load_and_finish(&mut self.reader(file), file.size)
            .await?)
    }

    /// Reads the bytes `range` of an object.
    pub async fn get_range(
        &self,
        path: &ObjectPath,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, StoreError> {
        Ok(self.store.get_range(path, range).await?)
    }

    /// Streams a Parquet file of the store as batches, reading one row group at a time.
    pub async fn read_batches(
        &self,
        file: &ObjectMeta,
    ) -> Result<ParquetRecordBatchStream<StoredFileReader>, StoreError> {
        Ok(ParquetRecordBatchStreamBuilder::new(self.reader(file))
            .await?
            .with_batch_size(64 * 1024)
            .build()?)
    }

    /// Streams some columns of a Parquet file of the store, one row group at a time.
    pub async fn read_columns(
        &self,
        file: &ObjectMeta,
        columns: &[&str],
    ) -> Result<ParquetRecordBatchStream<StoredFileReader>, StoreError> {
        let builder = ParquetRecordBatchStreamBuilder::new(self.reader(file)).await?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        Ok(builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()?)
    }

    /// [`Self::read_columns`] of the rows that `keep_row` selects, from a batch of the columns
    /// `row_columns` (those the file has), in the row groups whose footer `keep_row_group`
    /// accepts: the other row groups are not read, and the other columns are decoded only for
    /// the rows selected.
    pub async fn read_rows_where(
        &self,
        file: &ObjectMeta,
        columns: &[&str],
        keep_row_group: impl Fn(&RowGroupMetaData) -> bool,
        row_columns: &[&str],
        keep_row: impl FnMut(RecordBatch) -> Result<BooleanArray, ArrowError> + Send + 'static,
    ) -> Result<ParquetRecordBatchStream<StoredFileReader>, StoreError> {
        let builder = ParquetRecordBatchStreamBuilder::new(self.reader(file)).await?;
        let schema = builder.parquet_schema();
        let mask = ProjectionMask::columns(schema, columns.iter().copied());
        let filter_mask = ProjectionMask::columns(schema, row_columns.iter().copied());
        let row_filter =
            RowFilter::new(vec![Box::new(ArrowPredicateFn::new(filter_mask, keep_row))]);
        let row_groups = (0..builder.metadata().num_row_groups())
            .filter(|&i| keep_row_group(builder.metadata().row_group(i)))
            .collect();
        Ok(builder
            .with_projection(mask)
            .with_row_groups(row_groups)
            .with_row_filter(row_filter)
            .with_batch_size(64 * 1024)
            .build()?)
    }

    /// Reads a whole object.
    pub async fn get(&self, path: &ObjectPath) -> Result<Bytes, StoreError> {
        Ok(self.store.get(path).await?.bytes().await?)
    }

    /// Deletes objects; ones already gone are fine.
    pub async fn delete_all(
        &self,
        paths: impl IntoIterator<Item = &ObjectPath>,
    ) -> Result<(), StoreError> {
        for path in paths {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Reads byte ranges of a listed file through the object store, for parquet's async reader
/// (which asks callers to implement this since `ParquetObjectReader` was deprecated).
pub struct StoredFileReader {
    store: Arc<dyn ObjectStore>,
    file: ObjectMeta,
}

fn parquet_error(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoredFileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.file.location, range)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.file.location, &ranges)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.file.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

#[cfg(test)]
pub(in crate::store) mod tests {
    use super::*;
    use crate::model::{AttributeRef, AttributeValue, SpanBuilder, SpanEventRow, SpanRow};
    use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;

    proptest::proptest! {
        /// The ranked sort gives arrow's lexicographic order of (name, time), nulls first, and
        /// keeps rows equal in both in the order they came.
        #[test]
        fn sorting_by_ranked_names_matches_arrows_lexsort_and_keeps_ties_in_order(
            rows in proptest::collection::vec(
                (
                    proptest::option::weighted(0.9, proptest::sample::select(vec![
                        "b", "a", "checkout-api-007", "checkout-api-07", "", "é", "z"
                    ])),
                    proptest::option::weighted(0.9, -3i64..3),
                ),
                0..200,
            )
        ) {
            let names: StringArray = rows.iter().map(|(n, _)| *n).collect();
            let times: PrimitiveArray<TimestampNanosecondType> =
                rows.iter().map(|(_, t)| *t).collect();
            let sorted = |rows: &[u32]| -> Vec<u32> {
                let rows: Vec<RowOf> = rows.iter().map(|&row| (0, row as usize)).collect();
                sorted_by_name_then_time(&[(&names, &times)], &rows)
                    .into_iter()
                    .map(|(_, row)| row as u32)
                    .collect()
            };
            let all: Vec<u32> = (0..rows.len() as u32).collect();
            let ours = sorted(&all);
            let options = Some(SortOptions { descending: false, nulls_first: true });
            let theirs = lexsort_to_indices(
                &[
                    SortColumn { values: Arc::new(names.clone()), options },
                    SortColumn { values: Arc::new(times.clone()), options },
                ],
                None,
            )
            .unwrap();
            let key = |row: u32| rows[row as usize];
            proptest::prop_assert_eq!(
                ours.iter().map(|r| key(*r)).collect::<Vec<_>>(),
                theirs.values().iter().map(|r| key(*r)).collect::<Vec<_>>()
            );
            for pair in ours.windows(2) {
                if key(pair[0]) == key(pair[1]) {
                    proptest::prop_assert!(pair[0] < pair[1], "ties out of order: {pair:?}");
                }
            }
            // Rows already in time order are only grouped by name (a counting sort): the same
            // order, ties kept as they came.
            let mut by_time = all.clone();
            by_time.sort_by_key(|r| key(*r).1);
            let mut expected = by_time.clone();
            expected.sort_by_key(|r| key(*r));
            proptest::prop_assert_eq!(sorted(&by_time), expected);
            // A part of the rows (as a flush takes one hour's rows): the same order among them,
            // which is a stable sort by (name, time) with None first.
            let part: Vec<u32> = (0..rows.len() as u32).filter(|r| r % 3 != 1).collect();
            let mut expected = part.clone();
            expected.sort_by_key(|r| key(*r));
            proptest::prop_assert_eq!(
                sorted(&part),
                expected
            );
        }
    }

    /// A server span of function `orders` whose ids are `trace` repeated.
    pub(in crate::store) fn span(trace: u8) -> SpanRow<'static> {
        SpanRow {
            trace_id: [trace; 16],
            span_id: [trace; 8],
            parent_span_id: None,
            trace_state: None,
            name: "handler",
            kind: "server",
            start_time: i64::from(trace) * 1_000,
            end_time: i64::from(trace) * 1_000 + 500,
            status_code: "unset",
            status_message: None,
            service_name: Some("orders".into()),
            function_name: Some("orders".into()),
            request_id: None,
            scope_name: None,
            attributes: &[],
            resource_attributes: &[],
            resource_id: [trace % 3; 8],
            events: &[],
        }
    }

    /// Attribute sets borrowed, as a span row holds them.
    fn borrowed(sets: &[Vec<(String, AttributeValue)>]) -> Vec<Vec<(&str, AttributeRef<'_>)>> {
        sets.iter()
            .map(|set| {
                set.iter()
                    .map(|(k, v)| (k.as_str(), v.borrowed()))
                    .collect()
            })
            .collect()
    }

    /// A spans batch of one row per trace, with the attributes `attributes(trace)` gives.
    fn spans_batch(
        traces: std::ops::Range<u8>,
        attributes: impl Fn(u8) -> Vec<(String, AttributeValue)>,
    ) -> RecordBatch {
        let owned: Vec<_> = traces.clone().map(attributes).collect();
        let borrowed = borrowed(&owned);
        let mut builder = SpanBuilder::default();
        for (trace, attributes) in traces.zip(&borrowed) {
            builder.append(&SpanRow {
                attributes,
                ..span(trace)
            });
        }
        builder.finish()
    }

    /// `count` spans as a batch whose rows vary in what they hold: a parent or none, zero to five
    /// attributes of text and numbers, zero to two events with an attribute each.
    fn spans_with_nulls_maps_and_lists(count: u8) -> RecordBatch {
        let attributes: Vec<Vec<(String, AttributeValue)>> = (0..count)
            .map(|n| {
                let mut attributes: Vec<_> = (0..n % 5)
                    .map(|k| {
                        (
                            format!("key.{k}"),
                            AttributeValue::String(format!("v{n}.{k}")),
                        )
                    })
                    .collect();
                if n % 4 == 1 {
                    attributes.push(("n".into(), AttributeValue::Int(i64::from(n))));
                }
                if n % 6 == 2 {
                    attributes.extend([
                        ("d".into(), AttributeValue::Double(f64::from(n) / 4.0)),
                        (
                            "b".into(),
                            AttributeValue::Bytes(vec![n; usize::from(n % 5)]),
                        ),
                        ("j".into(), AttributeValue::Json(format!("[{n}]"))),
                        ("t".into(), AttributeValue::Bool(n % 4 == 0)),
                    ]);
                }
                attributes
            })
            .collect();
        let attributes = borrowed(&attributes);
        let event_names = ["event 0", "event 1"];
        let event_attributes = [false, true].map(|set| [("e", AttributeRef::Bool(set))]);
        let events: Vec<Vec<SpanEventRow>> = (0..count)
            .map(|n| {
                (0..n % 3)
                    .map(|k| SpanEventRow {
                        time: i64::from(k),
                        name: event_names[usize::from(k)],
                        attributes: &event_attributes[usize::from(k)],
                    })
                    .collect()
            })
            .collect();
        let mut builder = SpanBuilder::default();
        for n in 0..count {
            builder.append(&SpanRow {
                parent_span_id: (n % 3 == 0).then_some([n; 8]),
                attributes: &attributes[usize::from(n)],
                events: &events[usize::from(n)],
                ..span(n)
            });
        }
        builder.finish()
    }

    #[test]
    fn taking_rows_matches_arrows_take_for_lists_maps_and_nulls() {
        let batch = spans_with_nulls_maps_and_lists(40);
        // Rows one by one, repeated, and in runs of consecutive rows (copied a run at a time).
        for indices in [
            vec![39, 0, 7, 7, 12, 1, 38, 25, 3],
            vec![3, 4, 5, 6, 20, 21, 0, 1, 2, 39, 38, 10, 11],
            (0..40).collect(),
            vec![],
        ] {
            let indices = UInt32Array::from(indices);
            let ours = take_rows(&batch, &indices).unwrap();
            let arrows = arrow::compute::take_record_batch(&batch, &indices).unwrap();
            assert_eq!(ours, arrows, "{indices:?}");
        }
        let sliced = batch.slice(5, 20);
        let indices = UInt32Array::from(vec![19, 0, 4, 4, 10, 11, 12, 1]);
        assert_eq!(
            take_rows(&sliced, &indices).unwrap(),
            arrow::compute::take_record_batch(&sliced, &indices).unwrap()
        );
    }

    #[test]
    fn encoding_in_order_a_chunk_at_a_time_gives_the_sorted_rows() {
        let batch = spans_with_nulls_maps_and_lists(40);
        // The rows out of order (every seventh first); sorted by time they are `batch` again.
        let shuffled: Vec<u32> = (0..40).map(|row| row * 7 % 40).collect();
        let shuffled = take_rows(&batch, &UInt32Array::from(shuffled)).unwrap();
        let sorted = sort_batch(Table::Spans, &shuffled).unwrap();
        assert_eq!(sorted, batch);
        // The same rows as one batch, and as three slices of it (as a segment's frames are):
        // shuffled, they come one row at a time from each slice; in order, in runs.
        let one = [shuffled.clone()];
        let three = [
            shuffled.slice(0, 13),
            shuffled.slice(13, 1),
            shuffled.slice(14, 26),
        ];
        let three_in_runs = [batch.slice(0, 13), batch.slice(13, 1), batch.slice(14, 26)];
        for batches in [&one[..], &three[..], &three_in_runs[..]] {
            let order = sorted_order(Table::Spans, batches, &all_rows(batches)).unwrap();
            for rows_per_chunk in [1, 7, 40, 1000] {
                let bytes =
                    encode_in_chunks(Table::Spans, batches, &order, rows_per_chunk).unwrap();
                let read = decode_parquet(Table::Spans, bytes).unwrap();
                assert_eq!(
                    read.columns(),
                    sorted.columns(),
                    "{} batches, {rows_per_chunk} rows a chunk",
                    batches.len()
                );
            }
        }
        // Some of the rows (as a flush takes one hour's): those rows, sorted.
        let part: Vec<u32> = (0..40).filter(|row| row % 3 != 1).collect();
        let expected = sort_batch(
            Table::Spans,
            &take_rows(&shuffled, &UInt32Array::from(part.clone())).unwrap(),
        )
        .unwrap();
        let in_one: Vec<RowOf> = part.iter().map(|&row| (0, row as usize)).collect();
        let in_three: Vec<RowOf> = all_rows(&three)
            .into_iter()
            .enumerate()
            .filter(|(row, _)| row % 3 != 1)
            .map(|(_, at)| at)
            .collect();
        for (batches, rows) in [(&one[..], in_one), (&three[..], in_three)] {
            let order = sorted_order(Table::Spans, batches, &rows).unwrap();
            let bytes = encode_in_chunks(Table::Spans, batches, &order, 7).unwrap();
            let read = decode_parquet(Table::Spans, bytes).unwrap();
            assert_eq!(read.columns(), expected.columns());
            assert_eq!(read.num_rows(), 27);
        }
    }

    /// Rows gathered from several batches are arrow's `take` of the batches concatenated, for
    /// every column type a table has (lists, maps and structs of them, booleans, fixed-size ids,
    /// nulls), also from slices (arrays whose offset is not zero).
    #[test]
    fn interleaving_rows_of_several_batches_matches_take_of_their_concatenation() {
        let batch = spans_with_nulls_maps_and_lists(40);
        let batches = [batch.slice(0, 9), batch.slice(9, 20), batch.slice(29, 11)];
        let starts = [0, 9, 29];
        for order in [
            vec![
                (2, 10),
                (0, 0),
                (1, 5),
                (1, 5),
                (0, 8),
                (2, 0),
                (1, 19),
                (0, 3),
            ],
            // Runs of consecutive rows of one batch (one to a batch's last row), single rows
            // between them.
            vec![
                (1, 2),
                (1, 3),
                (1, 4),
                (0, 7),
                (0, 8),
                (1, 0),
                (2, 9),
                (2, 10),
                (0, 1),
            ],
            all_rows(&batches),
            vec![(1, 0)],
        ] {
            let global: Vec<u32> = order
                .iter()
                .map(|&(b, row)| (starts[b] + row) as u32)
                .collect();
            let expected =
                arrow::compute::take_record_batch(&batch, &UInt32Array::from(global)).unwrap();
            let ours = interleave_rows(Table::Spans, &batches, &order).unwrap();
            assert_eq!(ours, expected, "{order:?}");
        }
    }

    /// Columns null in every row of every batch, and one null in every row of some batches only,
    /// are gathered as arrow's `take` gives them (an import's log rows leave most columns null).
    #[test]
    fn columns_null_in_whole_batches_are_taken_and_interleaved_as_arrow_takes_them() {
        let batch = |from: i64, observed: bool| {
            let logs: Vec<crate::model::LogRecord> = (from..from + 6)
                .map(|n| crate::model::LogRecord {
                    time: n,
                    observed_time: observed.then_some(n * 10),
                    body: Some(format!("line {n}")),
                    function_name: Some("f".into()),
                    source: "powertools",
                    ..Default::default()
                })
                .collect();
            crate::model::log::to_batch(&logs)
        };
        let batches = [batch(0, false), batch(6, true), batch(12, false)];
        let whole = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        for order in [
            vec![(2, 5), (0, 0), (1, 3), (1, 4), (0, 2)],
            vec![(0, 1), (2, 2), (0, 3)],
            all_rows(&batches),
        ] {
            let global: Vec<u32> = order.iter().map(|&(b, row)| (b * 6 + row) as u32).collect();
            let expected =
                arrow::compute::take_record_batch(&whole, &UInt32Array::from(global)).unwrap();
            let ours = interleave_rows(Table::Logs, &batches, &order).unwrap();
            assert_eq!(ours, expected, "{order:?}");
            for (column, theirs) in ours.columns().iter().zip(expected.columns()) {
                assert_eq!(column.null_count(), theirs.null_count());
            }
        }
        let indices = UInt32Array::from(vec![5, 0, 3, 3]);
        assert_eq!(
            take_rows(&batches[0], &indices).unwrap(),
            arrow::compute::take_record_batch(&batches[0], &indices).unwrap()
        );
    }

    /// A gathered text column's bytes are allocated once, at their size, not grown by doubling
    /// (every step of which copied the bytes gathered so far).
    #[test]
    fn gathered_text_is_allocated_at_its_size() {
        let batch = spans_with_nulls_maps_and_lists(40);
        let batches = [batch.slice(0, 9), batch.slice(9, 20), batch.slice(29, 11)];
        let order: Vec<RowOf> = (0..11)
            .flat_map(|row| [(1, row + 3), (0, row % 9), (2, row)])
            .collect();
        let ours = interleave_rows(Table::Spans, &batches, &order).unwrap();
        let mut texts = 0;
        for column in ours.columns() {
            if let Some(text) = column.as_string_opt::<i32>() {
                texts += 1;
                assert_eq!(text.values().capacity(), text.values().len());
            }
        }
        assert!(texts >= 3, "{texts} text columns");
    }

    #[test]
    fn scratch_files_give_back_the_rows_with_their_nulls_maps_and_lists() {
        let batch = spans_with_nulls_maps_and_lists(30);
        for rows in [batch.clone(), batch.slice(7, 11)] {
            let bytes = encode_scratch(&rows).unwrap();
            assert_eq!(decode_scratch(Table::Spans, bytes).unwrap(), rows);
        }
        let error = decode_scratch(Table::Spans, Bytes::from_static(b"not arrow")).unwrap_err();
        assert!(matches!(error, StoreError::Arrow(_)), "{error}");
    }

    /// A spans file as the store writes it, of one span in each of traces 0 to 199.
    fn span_file_of_200_traces() -> Bytes {
        let batch = spans_batch(0..200, |_| Vec::new());
        encode_sorted(Table::Spans, std::slice::from_ref(&batch)).unwrap()
    }

    /// The position of the column at `path` (dotted) in a row group.
    fn column_position(row_group: &parquet::file::metadata::RowGroupMetaData, path: &str) -> usize {
        row_group
            .columns()
            .iter()
            .position(|c| c.column_path().string() == path)
            .unwrap_or_else(|| panic!("no column {path}"))
    }

    #[test]
    fn span_files_carry_a_trace_id_bloom_filter_that_knows_their_traces() {
        let bytes = span_file_of_200_traces();
        let options = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let reader = SerializedFileReader::new_with_options(bytes, options).unwrap();
        let row_group = reader.get_row_group(0).unwrap();
        let column_index = |name: &str| column_position(row_group.metadata(), name);
        let bloom = row_group
            .get_column_bloom_filter(column_index("trace_id"))
            .expect("a bloom filter for trace_id");
        for trace in 0..200u8 {
            assert!(
                bloom.check(&[trace; 16][..]),
                "trace {trace} is in the file"
            );
        }
        let absent = (200..=255u8).filter(|t| bloom.check(&[*t; 16][..])).count();
        assert!(absent < 20, "{absent} of 56 absent traces pass the filter");
        // Other columns carry none: the bytes go where lookups need them.
        assert!(
            row_group
                .get_column_bloom_filter(column_index("span_id"))
                .is_none()
        );
    }

    #[test]
    fn text_attribute_values_have_no_dictionary_and_attribute_keys_do() {
        let batch = spans_batch(0..50, |n| {
            vec![
                (
                    "url.path".into(),
                    AttributeValue::String(format!("/items/{n}")),
                ),
                (
                    "http.route".into(),
                    AttributeValue::String("/items/{id}".into()),
                ),
            ]
        });
        let sorted = sort_batch(Table::Spans, &batch).unwrap();
        let bytes = encode_sorted(Table::Spans, std::slice::from_ref(&batch)).unwrap();
        let reader = SerializedFileReader::new(bytes.clone()).unwrap();
        let row_group = reader.get_row_group(0).unwrap();
        let has_dictionary = |name: &str| {
            let metadata = row_group.metadata();
            metadata
                .column(column_position(metadata, name))
                .dictionary_page_offset()
                .is_some()
        };
        assert!(!has_dictionary("attributes.entries.value.string"));
        assert!(has_dictionary("attributes.entries.key"));
        assert!(has_dictionary("function_name"));
        // The values read back as they were written.
        let read = decode_parquet(Table::Spans, bytes).unwrap();
        assert_eq!(
            read.column_by_name("attributes").unwrap(),
            sorted.column_by_name("attributes").unwrap()
        );
    }

    /// Log bodies are kept plain, without a dictionary or statistics; short repeated texts have
    /// both.
    #[test]
    fn log_bodies_have_no_dictionary_or_statistics() {
        let logs: Vec<crate::model::LogRecord> = (0..50)
            .map(|n| crate::model::LogRecord {
                time: n,
                severity_text: Some("INFO".into()),
                body: Some(format!("processed order {n}")),
                function_name: Some("checkout".into()),
                source: "powertools",
                ..Default::default()
            })
            .collect();
        let batch = crate::model::log::to_batch(&logs);
        let bytes = encode_sorted(Table::Logs, std::slice::from_ref(&batch)).unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        let metadata = reader.get_row_group(0).unwrap().metadata().clone();
        let column = |name: &str| metadata.column(column_position(&metadata, name));
        assert!(column("body").dictionary_page_offset().is_none());
        assert!(column("body").statistics().is_none());
        for text in ["severity_text", "function_name"] {
            assert!(column(text).dictionary_page_offset().is_some(), "{text}");
            assert!(column(text).statistics().is_some(), "{text}");
        }
    }

    /// Request ids, in every table that has them, are written with their lengths apart from their
    /// characters and without a dictionary, and read back as they were written, nulls included.
    #[test]
    fn request_ids_are_delta_length_encoded_in_every_table() {
        use parquet::basic::Encoding;
        let id = |n: usize| format!("{n:08x}-7d0e-41a5-264e-f3f17d0a{n:04x}");
        let invocations: Vec<crate::model::Invocation> = (0..60)
            .map(|n| crate::model::Invocation {
                function_name: format!("f-{}", n % 3),
                request_id: id(n),
                start_time: n as i64,
                ..Default::default()
            })
            .collect();
        let logs: Vec<crate::model::LogRecord> = (0..60)
            .map(|n| crate::model::LogRecord {
                time: n as i64,
                request_id: (n % 4 != 0).then(|| id(n)),
                function_name: Some("checkout".into()),
                source: "powertools",
                ..Default::default()
            })
            .collect();
        let batches = [
            (
                Table::Invocations,
                crate::model::invocation::to_batch(&invocations),
            ),
            (Table::Logs, crate::model::log::to_batch(&logs)),
            (Table::Spans, {
                let ids: Vec<String> = (0..60).map(id).collect();
                let mut builder = SpanBuilder::default();
                for (n, id) in (0..60u8).zip(&ids) {
                    builder.append(&SpanRow {
                        request_id: (n % 4 != 0).then(|| id.as_str().into()),
                        ..span(n)
                    });
                }
                builder.finish()
            }),
        ];
        for (table, batch) in batches {
            let bytes = encode_sorted(table, std::slice::from_ref(&batch)).unwrap();
            let reader = SerializedFileReader::new(bytes.clone()).unwrap();
            let metadata = reader.get_row_group(0).unwrap().metadata().clone();
            let column = metadata.column(column_position(&metadata, "request_id"));
            assert!(
                column
                    .encodings()
                    .any(|e| e == Encoding::DELTA_LENGTH_BYTE_ARRAY),
                "{table:?}: {:?}",
                column.encodings().collect::<Vec<_>>()
            );
            assert!(column.dictionary_page_offset().is_none(), "{table:?}");
            let read = decode_parquet(table, bytes).unwrap();
            let sorted = sort_batch(table, &batch).unwrap();
            assert_eq!(
                read.column_by_name("request_id").unwrap(),
                sorted.column_by_name("request_id").unwrap(),
                "{table:?}"
            );
        }
    }

    #[test]
    fn resources_files_give_their_arrow_types_back_without_the_embedded_schema_or_page_index() {
        use crate::model::{AttributeValue, NANOS_PER_HOUR, ResourceRows};
        let mut rows = ResourceRows::default();
        for n in 0..40u8 {
            let attributes = vec![
                (
                    "faas.name".to_string(),
                    AttributeValue::String(format!("f-{n}")),
                ),
                (
                    "faas.max_memory".to_string(),
                    AttributeValue::Int(i64::from(n)),
                ),
                ("ratio".to_string(), AttributeValue::Double(0.5)),
                ("cold".to_string(), AttributeValue::Bool(n % 2 == 0)),
                ("raw".to_string(), AttributeValue::Bytes(vec![n])),
                ("tags".to_string(), AttributeValue::Json("[1]".into())),
            ];
            rows.add([n; 8], i64::from(n) * NANOS_PER_HOUR, &attributes);
        }
        let batch = rows.finish().unwrap();
        let embedded = |table: Table, batch: &RecordBatch| {
            let bytes = encode_sorted(table, std::slice::from_ref(batch)).unwrap();
            let reader = SerializedFileReader::new(bytes.clone()).unwrap();
            let keys = reader
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .unwrap();
            (bytes, keys.iter().any(|entry| entry.key == "ARROW:schema"))
        };
        let (bytes, with_schema) = embedded(Table::Resources, &batch);
        assert!(!with_schema);
        let read = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
        assert_eq!(read.schema().fields(), Table::Resources.schema().fields());
        let read_back: Vec<RecordBatch> = read.build().unwrap().map(Result::unwrap).collect();
        let read_back = arrow::compute::concat_batches(&read_back[0].schema(), &read_back).unwrap();
        assert_eq!(
            read_back.columns(),
            sort_batch(Table::Resources, &batch).unwrap().columns()
        );
        let reader = SerializedFileReader::new_with_options(
            bytes,
            ReadOptionsBuilder::new().with_page_index().build(),
        )
        .unwrap();
        assert!(reader.metadata().offset_index().is_none());
        assert!(reader.metadata().column_index().is_none());
        let hour = reader.metadata().row_group(0).column(2);
        assert!(hour.statistics().is_some(), "row group statistics are kept");
        // The other tables' files, of many pages, keep the embedded schema and the page index.
        let logs = crate::model::log::to_batch(&[crate::model::LogRecord {
            source: "powertools",
            ..Default::default()
        }]);
        assert!(embedded(Table::Logs, &logs).1);
    }

    #[test]
    fn statistics_are_kept_only_where_a_reader_can_prune_with_them() {
        let bytes = span_file_of_200_traces();
        let reader = SerializedFileReader::new(bytes).unwrap();
        let row_group = reader.get_row_group(0).unwrap();
        let mut with = Vec::new();
        let mut without = Vec::new();
        for column in row_group.metadata().columns() {
            let path = column.column_path().string();
            match column.statistics() {
                Some(_) => with.push(path),
                None => without.push(path),
            }
        }
        for name in ["function_name", "start_time", "duration_ms"] {
            assert!(with.contains(&name.to_string()), "{name}: {with:?}");
        }
        for name in ["trace_id", "span_id", "parent_span_id"] {
            assert!(without.contains(&name.to_string()), "{name}: {without:?}");
        }
        assert!(
            without.iter().any(|p| p.starts_with("attributes."))
                && with.iter().all(|p| !p.contains('.')),
            "nested columns with statistics: {with:?}"
        );
    }

    /// An object store that remembers, in order, the paths written (`put`), copied to
    /// (`copy`), renamed to (`rename`) and deleted in the store it wraps.
    #[derive(Debug)]
    struct OperationLog<S> {
        inner: S,
        operations: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl<S> OperationLog<S> {
        fn over(inner: S) -> Arc<Self> {
            Arc::new(OperationLog {
                inner,
                operations: Arc::default(),
            })
        }

        fn note(&self, operation: &str, path: &ObjectPath) {
            let mut operations = self.operations.lock().unwrap();
            operations.push(format!("{operation} {path}"));
        }

        fn operations(&self) -> Vec<String> {
            self.operations.lock().unwrap().clone()
        }
    }

    impl<S: std::fmt::Display> std::fmt::Display for OperationLog<S> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "OperationLog({})", self.inner)
        }
    }

    #[async_trait::async_trait]
    impl<S: ObjectStore> ObjectStore for OperationLog<S> {
        async fn put_opts(
            &self,
            location: &ObjectPath,
            payload: PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.note("put", location);
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &ObjectPath,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.note("put", location);
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &ObjectPath,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.inner.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectPath>> {
            use futures::{StreamExt, TryStreamExt};
            let operations = self.operations.clone();
            let noted = locations.inspect_ok(move |path| {
                operations.lock().unwrap().push(format!("delete {path}"));
            });
            self.inner.delete_stream(noted.boxed())
        }

        fn list(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.note("copy", to);
            self.inner.copy_opts(from, to, options).await
        }

        async fn rename_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: object_store::RenameOptions,
        ) -> object_store::Result<()> {
            self.note("rename", to);
            self.inner.rename_opts(from, to, options).await
        }
    }

    /// In object storage a file is put where it belongs in one request: no temporary object,
    /// and no rename, which there is a copy and a delete. In a local directory it goes through
    /// a temporary file, synced, then renamed into place.
    #[tokio::test]
    async fn a_file_is_put_in_place_in_object_storage_and_through_a_temporary_file_on_disk() {
        let path = ObjectPath::from("invocations/date=2026-11-23/hour=09/000001.parquet");
        let read = |objects: &Objects| {
            let (store, path) = (objects.store.clone(), path.clone());
            async move { store.get(&path).await.unwrap().bytes().await.unwrap() }
        };

        let log = OperationLog::over(object_store::memory::InMemory::new());
        let bucket = Objects {
            store: log.clone(),
            local_root: None,
            scratch: None,
        };
        bucket
            .put_durably(&path, Bytes::from_static(b"PAR1"))
            .await
            .unwrap();
        assert_eq!(log.operations(), [format!("put {path}")]);
        assert_eq!(&read(&bucket).await[..], b"PAR1");
        // The files streamed as they are written (an hour merge, a row group copy) too.
        assert_eq!(bucket.staging_path(&path), path);

        let dir = tempfile::tempdir().unwrap();
        let log = OperationLog::over(
            object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
        );
        let local = Objects {
            store: log.clone(),
            local_root: Some(dir.path().to_path_buf()),
            scratch: None,
        };
        local
            .put_durably(&path, Bytes::from_static(b"PAR1"))
            .await
            .unwrap();
        assert_eq!(
            log.operations(),
            [
                format!("put {}", temporary_path(&path)),
                format!("rename {path}")
            ]
        );
        assert_eq!(&read(&local).await[..], b"PAR1");
        assert_eq!(local.staging_path(&path), temporary_path(&path));
    }
}
