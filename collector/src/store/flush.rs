//! Flushing: turning one closed WAL segment into Parquet files, one per table and hour.
//!
//! Invocation fragments in the segment are merged by request id before they are written, a span
//! sent twice (same trace and span id) is kept once, and logs are written as they came. Each file
//! is sorted by function and time, except a spans file, whose rows stay in the order they arrived
//! (`Table::flushed_in_arrival_order`). Files are named by the segment's id (`{id}-{id}.parquet`),
//! so flushing the same segment twice writes the same files.

use std::collections::hash_map::Entry;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{AsArray, StringArray, UInt32Array};
use arrow::compute::concat_batches;
use arrow::datatypes::TimestampNanosecondType;
use arrow::record_batch::RecordBatch;

use super::StoreError;
use super::layout::{Partition, SegmentRange};
use super::writer::{Objects, RowOf, encode_flush_file, flush_order, take_rows};
use crate::model::{Table, invocation, resource};
use crate::wal::read_closed_segment;

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

/// The rows of `batches` of `table` in each hourly partition, in the batches' order.
pub fn rows_by_partition(table: Table, batches: &[RecordBatch]) -> BTreeMap<Partition, Vec<RowOf>> {
    let mut rows_of: BTreeMap<Partition, Vec<RowOf>> = BTreeMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column_by_name(table.time_column())
            .expect("time column is part of the schema")
            .as_primitive::<TimestampNanosecondType>();
        for (row, ns) in times.values().iter().enumerate() {
            rows_of
                .entry(Partition::of(table, *ns))
                .or_default()
                .push((b, row));
        }
    }
    rows_of
}

/// Merges invocation fragments that share a request id, and drops spans sent twice (an exporter
/// retrying a request whose answer it did not see): a span is identified by trace and span id.
/// A resource is kept once per hour. Logs pass through. Rows stay in the batches they came in,
/// which the flush and compaction copy into order from where they are: concatenating a
/// segment's spans first was about a twentieth of the flusher's CPU (`perf`), and its memory a
/// copy of the segment; concatenating its invocation fragments, a twentieth of a log import's
/// flusher. Only fragments that share a request id with another are copied, to be merged.
pub fn merge_rows(table: Table, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    match table {
        Table::Invocations => merge_invocation_fragments(batches),
        Table::Spans => drop_repeated_spans(batches),
        Table::Logs => Ok(batches),
        Table::Resources => drop_repeated_resources(batches),
    }
}

/// The `request_id` column of a batch of invocation rows.
pub(super) fn request_ids(batch: &RecordBatch) -> Result<&StringArray, StoreError> {
    Ok(batch
        .column_by_name("request_id")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError("invocations has no request_id".into())
        })?)
}

/// Merges the invocation rows of `batches` that share a request id; rows whose id is unique
/// pass through as they are (the merge leaves a lone fragment unchanged), so only the repeated
/// ones make the trip through row structs, and a batch without any comes back whole. Row order
/// is not kept: callers sort afterwards. The round trip of every row was about a sixth of a log
/// import's CPU in `perf`.
fn merge_invocation_fragments(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    let ids = batches
        .iter()
        .map(request_ids)
        .collect::<Result<Vec<_>, _>>()?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let mut first_row_of: HashMap<&str, RowOf> = HashMap::with_capacity(rows);
    let mut repeated: Vec<Vec<bool>> = batches.iter().map(|b| vec![false; b.num_rows()]).collect();
    for (batch, ids) in ids.iter().enumerate() {
        for (row, id) in ids.iter().enumerate() {
            match first_row_of.entry(id.unwrap_or_default()) {
                Entry::Vacant(slot) => {
                    slot.insert((batch, row));
                }
                Entry::Occupied(first) => {
                    let (first_batch, first_row) = *first.get();
                    repeated[first_batch][first_row] = true;
                    repeated[batch][row] = true;
                }
            }
        }
    }
    drop(first_row_of);
    let mut kept = Vec::with_capacity(batches.len() + 1);
    let mut shared = Vec::new();
    for (batch, repeated) in batches.iter().zip(&repeated) {
        if !repeated.contains(&true) {
            kept.push(batch.clone());
            continue;
        }
        let (lone, repeats): (Vec<u32>, Vec<u32>) =
            (0..batch.num_rows() as u32).partition(|&row| !repeated[row as usize]);
        shared.push(take_rows(batch, &UInt32Array::from(repeats))?);
        if !lone.is_empty() {
            kept.push(take_rows(batch, &UInt32Array::from(lone))?);
        }
    }
    if !shared.is_empty() {
        let shared = concat_batches(&Table::Invocations.schema(), &shared)?;
        let merged = invocation::merge_fragments(invocation::from_batch(&shared)?);
        kept.push(invocation::to_batch(&merged));
    }
    Ok(kept)
}

/// `batches` without the rows whose key (`key_of` gives a batch's keys, a row at a time) an
/// earlier row had.
fn drop_repeated<K: std::hash::Hash + Eq>(
    batches: Vec<RecordBatch>,
    key_of: impl Fn(&RecordBatch) -> Result<Vec<K>, StoreError>,
) -> Result<Vec<RecordBatch>, StoreError> {
    use arrow::array::BooleanArray;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let mut seen = HashSet::with_capacity(rows);
    let mut kept = Vec::with_capacity(batches.len());
    for batch in &batches {
        let keep: BooleanArray = key_of(batch)?
            .into_iter()
            .map(|key| Some(seen.insert(key)))
            .collect();
        kept.push(keep);
    }
    Ok(batches
        .into_iter()
        .zip(kept)
        .map(|(batch, keep)| {
            if keep.true_count() == batch.num_rows() {
                Ok(batch)
            } else {
                arrow::compute::filter_record_batch(&batch, &keep)
            }
        })
        .collect::<Result<Vec<_>, _>>()?)
}

/// The ids of the `FixedSizeBinary(N)` column `name` of `batch`, a row at a time.
fn ids<const N: usize>(
    table: Table,
    batch: &RecordBatch,
    name: &str,
) -> Result<impl Iterator<Item = [u8; N]>, StoreError> {
    let column = batch
        .column_by_name(name)
        .and_then(|c| c.as_fixed_size_binary_opt())
        .filter(|c| c.value_length() as usize == N)
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!("{} has no {name}", table.name()))
        })?;
    Ok((0..batch.num_rows())
        .map(|row| <[u8; N]>::try_from(column.value(row)).expect("values have the column's width")))
}

/// Spans without the repeats of a span (same trace and span id).
fn drop_repeated_spans(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    drop_repeated(batches, |batch| {
        let traces = ids::<16>(Table::Spans, batch, "trace_id")?;
        Ok(traces
            .zip(ids::<8>(Table::Spans, batch, "span_id")?)
            .collect())
    })
}

/// Resources rows without the repeats of a resource in an hour (every request that sent the
/// resource added one).
fn drop_repeated_resources(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StoreError> {
    drop_repeated(batches, |batch| Ok(resource::keys_of(batch)?.collect()))
}

/// Writes the records of segment `id` at `path` to Parquet, encoding on up to `threads` threads
/// (see [`flush_records`]). The caller deletes the segment after.
pub async fn flush_segment(
    objects: &Objects,
    id: u64,
    path: &Path,
    threads: usize,
) -> Result<FlushOutcome, StoreError> {
    let contents = read_closed_segment(path)?;
    Ok(FlushOutcome {
        trailing: contents.trailing,
        ..flush_records(objects, id, contents.records, threads).await?
    })
}

/// Writes the records of segment `id` (read back from disk, or kept in memory) to Parquet: its
/// files (one per table and hour) encoded on up to `threads` threads at once
/// (`StoreConfig::flush_encoding_threads`), then written one after another.
pub async fn flush_records(
    objects: &Objects,
    id: u64,
    records: Vec<(Table, RecordBatch)>,
    threads: usize,
) -> Result<FlushOutcome, StoreError> {
    let mut by_table: BTreeMap<Table, Vec<RecordBatch>> = BTreeMap::new();
    for (table, batch) in records {
        by_table.entry(table).or_default().push(batch);
    }
    let mut outcome = FlushOutcome::default();
    // Each step's input is dropped as soon as its output exists: with compaction's copies gone,
    // the segment's decoded records, their concatenation, the sorted copy and the file being
    // encoded, all held at once, were the collector's peak (heaptrack: 89 + 87 + 87 + 58 MiB
    // at 96 MiB segments). The rows are now copied into order a chunk at a time as they are
    // encoded, straight from the segment's batches (spans and logs are not concatenated), so
    // there is no sorted copy of the whole segment and no concatenated one. Each table's merged
    // rows are kept until all of the segment's files are encoded, since they are encoded at once.
    let mut tables = Vec::with_capacity(by_table.len());
    let mut files = Vec::new();
    for (table, batches) in by_table {
        let batches = merge_rows(table, batches)?;
        *outcome.rows.entry(table).or_default() +=
            batches.iter().map(|b| b.num_rows()).sum::<usize>();
        for (partition, rows) in rows_by_partition(table, &batches) {
            let order = flush_order(table, &batches, rows)?;
            files.push(FileToEncode {
                table_index: tables.len(),
                partition,
                order,
            });
        }
        tables.push((table, batches));
    }
    let encoded = encode_files(&tables, &files, threads)?;
    drop(tables);
    for (file, bytes) in files.into_iter().zip(encoded) {
        objects
            .put_durably(&file.partition.file(SegmentRange::single(id)), bytes)
            .await?;
        outcome.partitions.insert(file.partition);
    }
    Ok(outcome)
}

/// One file a flush writes: the rows of `tables[table_index]` in `partition`, in `order`.
struct FileToEncode {
    table_index: usize,
    partition: Partition,
    order: Vec<RowOf>,
}

/// Encodes `files` as Parquet on up to `threads` threads (at most one a file), and returns their
/// bytes in `files`' order, or the first file's error. A segment's files (each table's, each
/// hour's) are independent; encoded one after another, a flush used one core, and an import
/// whose reading had finished waited on that one thread (the flusher ran alone for about half of
/// a 1M-line import).
fn encode_files(
    tables: &[(Table, Vec<RecordBatch>)],
    files: &[FileToEncode],
    threads: usize,
) -> Result<Vec<bytes::Bytes>, StoreError> {
    let threads = threads.min(files.len());
    let encode = |file: &FileToEncode| {
        let (table, batches) = &tables[file.table_index];
        encode_flush_file(*table, batches, &file.order)
    };
    if threads <= 1 {
        return files.iter().map(encode).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut encoded: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else {
                            return done;
                        };
                        done.push((i, encode(file)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    encoded.sort_unstable_by_key(|(i, _)| *i);
    encoded.into_iter().map(|(_, bytes)| bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invocation::{Invocation, Sources, from_batch, merge_fragments, to_batch};
    use crate::model::{InvocationStatus, Source};

    fn fragment(request: &str, source: Source, at: i64) -> Invocation {
        let report = source == Source::PlatformReport;
        Invocation {
            function_name: "checkout".into(),
            request_id: request.into(),
            start_time: at,
            trace_id: (!report).then_some([at as u8; 16]),
            duration_ms: Some(if report { 10.5 } else { 11.0 }),
            billed_duration_ms: report.then_some(11),
            status: if report {
                InvocationStatus::Timeout
            } else {
                InvocationStatus::Success
            },
            sources: Sources::of(source),
            ..Default::default()
        }
    }

    fn by_request_id(mut rows: Vec<Invocation>) -> Vec<Invocation> {
        rows.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        rows
    }

    #[test]
    fn only_repeated_request_ids_are_merged_and_the_result_is_the_full_merge() {
        let rows = vec![
            fragment("a", Source::OtlpSpan, 1),
            fragment("b", Source::PlatformReport, 2),
            fragment("c", Source::OtlpSpan, 3),
            fragment("a", Source::PlatformReport, 4),
            fragment("d", Source::PlatformReport, 5),
            fragment("b", Source::OtlpSpan, 6),
            fragment("a", Source::FunctionLog, 7),
        ];
        let expected = by_request_id(merge_fragments(rows.clone()));
        // In one batch, and in two (as in two WAL frames): the same rows either way.
        for batches in [
            vec![to_batch(&rows)],
            vec![to_batch(&rows[..3]), to_batch(&rows[3..])],
        ] {
            let merged = merge_rows(Table::Invocations, batches).unwrap();
            let rows: Vec<Invocation> = merged
                .iter()
                .flat_map(|batch| from_batch(batch).unwrap())
                .collect();
            assert_eq!(rows.len(), 4);
            assert_eq!(by_request_id(rows), expected);
        }

        // All ids unique, in one batch or several: the batches come back as they were.
        let lone = to_batch(&expected);
        assert_eq!(
            merge_rows(Table::Invocations, vec![lone.clone()]).unwrap(),
            vec![lone]
        );
        let lone = vec![to_batch(&expected[..1]), to_batch(&expected[1..])];
        assert_eq!(merge_rows(Table::Invocations, lone.clone()).unwrap(), lone);
    }

    /// A span sent again in a later batch (a retried request in a later WAL frame) is kept once;
    /// batches without a repeat come back as they were.
    #[test]
    fn a_span_repeated_in_another_batch_is_kept_once() {
        use crate::model::span::{SpanBuilder, SpanRow};
        let span = |trace: u8, id: u8| SpanRow {
            span_id: [id; 8],
            ..crate::store::writer::tests::span(trace)
        };
        let spans_batch = |rows: &[SpanRow]| {
            let mut builder = SpanBuilder::default();
            rows.iter().for_each(|row| builder.append(row));
            builder.finish()
        };
        let first = spans_batch(&[span(1, 1), span(1, 2), span(2, 1)]);
        let second = spans_batch(&[span(3, 1), span(1, 2), span(2, 2), span(3, 1)]);
        let kept = merge_rows(Table::Spans, vec![first.clone(), second]).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], first);
        assert_eq!(kept[1], spans_batch(&[span(3, 1), span(2, 2)]));
    }

    /// A flush writes spans in the order they came, a request's run of rows after another's,
    /// and says nothing of sorting; other tables' files are sorted and say by what.
    #[test]
    fn spans_are_flushed_as_they_came_and_other_tables_sorted() {
        use crate::model::span::{SpanBuilder, SpanRow};
        use crate::store::writer::decode_parquet;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // Two requests' spans, each mixing two functions and times out of order.
        let span = |trace: u8, function: &'static str, at: i64| SpanRow {
            start_time: at,
            function_name: Some(function.into()),
            ..crate::store::writer::tests::span(trace)
        };
        let batch = |rows: &[SpanRow]| {
            let mut builder = SpanBuilder::default();
            rows.iter().for_each(|row| builder.append(row));
            builder.finish()
        };
        let batches = vec![
            batch(&[span(1, "zeta", 30), span(2, "alpha", 20)]),
            batch(&[span(3, "zeta", 10), span(4, "alpha", 40)]),
        ];
        let rows = rows_by_partition(Table::Spans, &batches)
            .into_values()
            .next()
            .unwrap();
        let order = flush_order(Table::Spans, &batches, rows).unwrap();
        assert_eq!(order, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        let bytes = encode_flush_file(Table::Spans, &batches, &order).unwrap();
        let stored = decode_parquet(Table::Spans, bytes.clone()).unwrap();
        let trace_ids = stored
            .column_by_name("trace_id")
            .unwrap()
            .as_fixed_size_binary();
        let traces: Vec<u8> = (0..4).map(|i| trace_ids.value(i)[0]).collect();
        assert_eq!(traces, [1, 2, 3, 4]);
        let file = SerializedFileReader::new(bytes).unwrap();
        assert!(file.metadata().row_group(0).sorting_columns().is_none());

        let invocations = vec![crate::model::invocation::to_batch(&[
            fragment("b", Source::OtlpSpan, 20),
            fragment("a", Source::OtlpSpan, 10),
        ])];
        let rows = rows_by_partition(Table::Invocations, &invocations)
            .into_values()
            .next()
            .unwrap();
        let order = flush_order(Table::Invocations, &invocations, rows).unwrap();
        assert_eq!(order, vec![(0, 1), (0, 0)]);
        let bytes = encode_flush_file(Table::Invocations, &invocations, &order).unwrap();
        let file = SerializedFileReader::new(bytes).unwrap();
        assert!(file.metadata().row_group(0).sorting_columns().is_some());
    }

    /// Every request that sent a resource added a row for it: a flush or compaction keeps one
    /// per resource and hour, and writes each hour's into that hour's file.
    #[test]
    fn a_resource_is_kept_once_per_hour() {
        use crate::model::{AttributeRef, NANOS_PER_HOUR, ResourceRows};
        let request = |times: &[i64]| {
            let mut rows = ResourceRows::default();
            for (id, time) in [[1; 8], [2; 8]].into_iter().zip(times) {
                let attributes = [("faas.name", AttributeRef::String("orders"))];
                let hour = rows.needs_row(id, *time).unwrap();
                rows.add_borrowed(id, hour, &attributes);
            }
            rows.finish().unwrap()
        };
        let batches = vec![
            request(&[5, 6]),
            request(&[7, NANOS_PER_HOUR + 1]),
            request(&[NANOS_PER_HOUR + 2, NANOS_PER_HOUR + 3]),
        ];
        let kept = merge_rows(Table::Resources, batches).unwrap();
        let rows: usize = kept.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 4, "resources 1 and 2, each in hours 0 and 1");
        let hours: Vec<(i64, usize)> = rows_by_partition(Table::Resources, &kept)
            .into_iter()
            .map(|(partition, rows)| (partition.hour, rows.len()))
            .collect();
        assert_eq!(hours, [(0, 2), (1, 2)]);
    }

    /// A segment's files encoded on several threads are the files encoded one after another,
    /// each returned in its place: resources and invocations of three hours, six files.
    #[test]
    fn files_encoded_at_once_are_the_files_encoded_in_turn() {
        use crate::model::{AttributeRef, NANOS_PER_HOUR, ResourceRows};
        let mut resources = ResourceRows::default();
        let mut invocations = Vec::new();
        for hour in 0..3 {
            let at = hour * NANOS_PER_HOUR + 5;
            let id = [hour as u8 + 1; 8];
            let name = format!("orders-{hour}");
            let attributes = [("faas.name", AttributeRef::String(&name))];
            let row = resources.needs_row(id, at).unwrap();
            resources.add_borrowed(id, row, &attributes);
            for n in 0..=hour {
                invocations.push(fragment(&format!("r{hour}-{n}"), Source::OtlpSpan, at + n));
            }
        }
        let tables = vec![
            (Table::Resources, vec![resources.finish().unwrap()]),
            (Table::Invocations, vec![to_batch(&invocations)]),
        ];
        let mut files = Vec::new();
        for (table_index, (table, batches)) in tables.iter().enumerate() {
            for (partition, rows) in rows_by_partition(*table, batches) {
                let order = flush_order(*table, batches, rows).unwrap();
                files.push(FileToEncode {
                    table_index,
                    partition,
                    order,
                });
            }
        }
        assert_eq!(files.len(), 6);
        let in_turn = encode_files(&tables, &files, 1).unwrap();
        let at_once = encode_files(&tables, &files, 3).unwrap();
        assert_eq!(at_once, in_turn);
        // Each file holds its own hour's rows: the files differ from one another.
        let distinct: BTreeSet<_> = in_turn.iter().collect();
        assert_eq!(distinct.len(), 6);
    }
}
