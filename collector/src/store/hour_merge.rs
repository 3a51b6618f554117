//! Merging an hour that is over: every invocation fragment of the hour's files combined, in one
//! file, in bounded memory.
//!
//! Compaction during the hour works on runs of neighbouring files within a budget, so the two
//! fragments of one invocation (its span and its REPORT line) that landed in files far apart stay
//! two rows, and the `invocations` view merges them again in every query: the benchmark's data set
//! held 1.76 stored rows per invocation. Once the hour is over, its invocation files are merged as
//! a whole, in three passes:
//!
//! 1. the inputs' request ids are read, and the ids that more than one row holds are noted (by
//!    hash): in an import nearly every id is in one file alone, since the fragments of a request
//!    meet in one piece of the input;
//! 2. every input is streamed a row group at a time; a row whose id no other row holds is copied
//!    to the output as it is, and the others are routed by a hash of their request id into one of
//!    `ceil(their share of the input bytes / budget)` buckets; what the buckets gather is written
//!    out as scratch pieces (`.tmp`, in [`Objects::scratch`]: the data directory's scratch
//!    folder for a store whose files are in a bucket) whenever it outgrows the decoded budget;
//! 3. each bucket, about a compaction run's size at most, is read back, merged by request id,
//!    sorted by function and time, and appended to the output.
//!
//! When no request id repeats among the inputs (an import of one source, a collector that
//! receives spans only), there is nothing to merge: the file is the inputs' row groups one after
//! another, their column chunks copied as they are encoded (`row_group_copy`), and no row is
//! decoded or encoded.
//!
//! All the fragments of a request id share its bucket, so each request id of the inputs ends as
//! one row. The output is named by the union of the inputs' segment ranges, like a compaction's:
//! once it is in place it supersedes them, and until then it and the pieces are `.tmp` files, so a
//! crash at any point leaves either the inputs or the merged file, plus leftovers that the next
//! open deletes. Each of the output's row groups is one sorted run (the rows copied through keep
//! their input's order; a row group ends where the next rows do not continue it), but the file is
//! not sorted as a whole, so it records no Parquet sorting columns; its footer carries the key
//! `faasobs.hour_merged`.
//!
//! Rows that arrive after the merge are tiered like compaction runs: a merged file larger than all
//! the files after it together is left out, so late rows do not rewrite the hour every minute; they
//! are merged among themselves until they add up to it. Only merged files are tiered so: a large
//! file of the hour's own fragments is always merged with the rest. When the store closes (the end
//! of an import, which may have merged an hour while half of it was in), nothing is tiered.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use arrow::array::{Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::concat_batches;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::metadata::ParquetMetaData;

use super::StoreError;
use super::compaction::COMPACTION_DECODED_BUDGET_BYTES;
use super::flush::{merge_rows, request_ids};
use super::layout::{DataFile, Partition, SegmentRange, list_partition};
use super::row_group_copy::{copy_row_groups, copyable};
use super::writer::{
    Objects, SORTED_CHUNK_ROWS, all_rows, decode_scratch, encode_scratch, hour_merged_entry,
    interleave_rows, is_hour_merged, sort_columns, sorted_order, take_rows, temporary_path,
    writer_properties,
};
use crate::model::Table;

/// Merges the live invocation files of `partition` (an hour that is over) into one file whose
/// request ids are unique, merging the rows of repeated ids in buckets of about `bucket_bytes` of
/// Parquet input each; `tiered`
/// leaves out a leading merged file larger than the files after it together. A lone file that is
/// not hour-merged yet is rewritten as one. The inputs are left in place, superseded by the
/// output, for the compaction pass to delete ([`super::compaction::ReplacedFiles`]). Returns the
/// number of files merged and of rows written, or `None` when there was nothing to merge.
pub async fn merge_hour(
    objects: &Objects,
    partition: Partition,
    mut files: Vec<DataFile>,
    bucket_bytes: u64,
    tiered: bool,
) -> Result<Option<(usize, usize)>, StoreError> {
    debug_assert_eq!(partition.table, Table::Invocations);
    files.sort_by_key(|f| f.range.lo);
    if files.len() == 1 && is_hour_merged(&objects.read_metadata(&files[0].meta).await?) {
        return Ok(None);
    }
    // Size tiering against earlier merges: a merged file larger than all the files after it
    // together waits for them to add up to its size. Only merged files: a large file of the
    // hour's own fragments is merged with the rest, or its fragments would stay apart.
    let mut left_out = Vec::new();
    while tiered && files.len() >= 2 {
        let rest: u64 = files[1..].iter().map(|f| f.meta.size).sum();
        if files[0].meta.size <= rest
            || !is_hour_merged(&objects.read_metadata(&files[0].meta).await?)
        {
            break;
        }
        left_out.push(files.remove(0));
    }
    if files.is_empty() || (!left_out.is_empty() && files.len() < 2) {
        return Ok(None);
    }
    let range = DataFile::covering_range(&files);
    let output = partition.file(range);
    // Every other file that may hold the same request ids: fragments of one invocation sit in
    // neighbouring hours when their sources disagree a little on its start.
    let mut others = left_out;
    for hour in [partition.hour - 1, partition.hour + 1] {
        others
            .extend(list_partition(objects.store.as_ref(), Partition { hour, ..partition }).await?);
    }
    let repeated = RepeatedIds::of(objects, &files).await?;
    let rows = if repeated.hashes.is_empty()
        && let Some(inputs) = copyable_inputs(objects, &files).await?
    {
        copy_hour(objects, partition, &inputs, &others, &output).await?
    } else {
        merge_in_buckets(
            objects,
            partition,
            range,
            &files,
            &others,
            repeated,
            bucket_bytes,
        )
        .await?
    };
    // The inputs are superseded by the output (a lone file rewritten in place is the output),
    // and deleted when the compaction's `ReplacedFiles` says.
    Ok(Some((files.len(), rows)))
}

/// The inputs with their footers (and page indexes) when every one can be copied into the
/// merged file as it is ([`copyable`]): then, with no request id repeated among them, the merged
/// file is their row groups one after another, each still one sorted run, and no row is decoded.
/// `None` when one cannot (a file of an earlier schema).
pub(super) async fn copyable_inputs(
    objects: &Objects,
    files: &[DataFile],
) -> Result<Option<Vec<(DataFile, ParquetMetaData)>>, StoreError> {
    let mut inputs = Vec::with_capacity(files.len());
    for file in files {
        let metadata = objects.read_metadata_with_page_index(&file.meta).await?;
        if !copyable(file.partition.table, &metadata) {
            return Ok(None);
        }
        inputs.push((file.clone(), metadata));
    }
    Ok(Some(inputs))
}

/// The merged file of `inputs` that share no request id: their row groups one after another,
/// copied as they are encoded, with the request ids that `others` also hold in the footer.
/// Returns the number of rows.
async fn copy_hour(
    objects: &Objects,
    partition: Partition,
    inputs: &[(DataFile, ParquetMetaData)],
    others: &[DataFile],
    output: &ObjectPath,
) -> Result<usize, StoreError> {
    let others = request_id_hashes(objects, others).await?;
    let mut shared = Vec::new();
    if !others.is_empty() {
        for (file, _) in inputs {
            let mut batches = objects.read_columns(&file.meta, &["request_id"]).await?;
            while let Some(batch) = batches.try_next().await? {
                shared.extend(ids_hashed_into(request_ids(&batch)?, &others));
            }
        }
    }
    shared.sort_unstable();
    copy_row_groups(
        objects,
        partition.table,
        inputs,
        writer_properties(partition.table, false),
        Some(hour_merged_entry(&shared)),
        output,
    )
    .await
}

/// The merge of `files` when some request ids repeat among them: the rows of those ids are
/// merged in buckets, the others copied through. Returns the number of rows written.
async fn merge_in_buckets(
    objects: &Objects,
    partition: Partition,
    range: SegmentRange,
    files: &[DataFile],
    others: &[DataFile],
    repeated: RepeatedIds,
    bucket_bytes: u64,
) -> Result<usize, StoreError> {
    let input_bytes: u64 = files.iter().map(|f| f.meta.size).sum();
    let buckets = repeated
        .share_of(input_bytes)
        .div_ceil(bucket_bytes.max(1))
        .max(1) as usize;
    let mut merge = HourMerge::new(partition, range, buckets, repeated.hashes);
    let outcome = merge.run(objects, files, others).await;
    // Scratch pieces are deleted as they are used; after a failure, whatever is left. (What a
    // crash leaves is `.tmp` and deleted at the next open.)
    let leftovers: Vec<ObjectPath> = merge.pieces.into_iter().flatten().collect();
    objects.scratch().delete_all(leftovers.iter()).await?;
    outcome
}

/// The hash of a request id throughout an hour merge (a null id is hashed as empty, as the
/// merge of fragments keys it): fixed, so that the same id lands in the same bucket, and the
/// hashes of the inputs, the buckets and the neighbours' ids compare.
fn request_id_hash(id: &str) -> u64 {
    const HASH: FixedState = FixedState::with_seed(0);
    HASH.hash_one(id)
}

/// The hash of the request id of every row of `files`, in their order (the column alone is read).
async fn hashed_request_ids(objects: &Objects, files: &[DataFile]) -> Result<Vec<u64>, StoreError> {
    let mut hashes = Vec::new();
    for file in files {
        let mut batches = objects.read_columns(&file.meta, &["request_id"]).await?;
        while let Some(batch) = batches.try_next().await? {
            hashes.extend(
                request_ids(&batch)?
                    .iter()
                    .map(|id| request_id_hash(id.unwrap_or_default())),
            );
        }
    }
    Ok(hashes)
}

/// The hashes of the request ids in `files`, sorted and without repeats, for
/// [`MergeOutput::write_sorted`] to look up.
async fn request_id_hashes(objects: &Objects, files: &[DataFile]) -> Result<Vec<u64>, StoreError> {
    let mut hashes = hashed_request_ids(objects, files).await?;
    hashes.sort_unstable();
    hashes.dedup();
    Ok(hashes)
}

/// The ids in `ids` whose hash is in `others` (sorted, without repeats), found by walking both
/// in hash order. A binary search of `others` per id missed the cache at nearly every step: with
/// the neighbouring hours' million ids each, it was a fifth of an import's closing hour merges
/// (`perf`, 5M log lines).
fn ids_hashed_into(ids: &StringArray, others: &[u64]) -> impl Iterator<Item = String> {
    let mut hashed: Vec<(u64, u32)> = ids
        .iter()
        .enumerate()
        .filter_map(|(row, id)| Some((request_id_hash(id?), row as u32)))
        .collect();
    hashed.sort_unstable();
    let mut others = others.iter().peekable();
    hashed.into_iter().filter_map(move |(hash, row)| {
        while others.next_if(|other| **other < hash).is_some() {}
        (others.peek() == Some(&&hash)).then(|| ids.value(row as usize).to_string())
    })
}

/// The request ids that more than one row of an hour merge's inputs holds, by hash: only their
/// rows need merging. In an import nearly every id is in one file alone, since the fragments of a
/// request meet in one piece of the input, and rows of such ids are copied to the output as they
/// are, without the round trip through buckets, scratch pieces, merging and sorting.
pub(super) struct RepeatedIds {
    /// Hashes held by two rows or more, sorted.
    pub(super) hashes: Vec<u64>,
    rows_repeated: u64,
    rows: u64,
}

impl RepeatedIds {
    /// Reads the request ids of `files`: the first pass of an hour merge.
    pub(super) async fn of(
        objects: &Objects,
        files: &[DataFile],
    ) -> Result<RepeatedIds, StoreError> {
        let mut hashes = hashed_request_ids(objects, files).await?;
        let rows = hashes.len() as u64;
        hashes.sort_unstable();
        let mut repeated: Vec<u64> = Vec::new();
        let mut rows_repeated = 0;
        for pair in hashes.windows(2) {
            if pair[0] == pair[1] {
                rows_repeated += 1;
                if repeated.last() != Some(&pair[0]) {
                    rows_repeated += 1;
                    repeated.push(pair[0]);
                }
            }
        }
        Ok(RepeatedIds {
            hashes: repeated,
            rows_repeated,
            rows,
        })
    }

    /// The part of `bytes` of input that the repeated ids' rows are, in proportion to their count.
    fn share_of(&self, bytes: u64) -> u64 {
        if self.rows == 0 {
            return 0;
        }
        (bytes as u128 * self.rows_repeated as u128 / self.rows as u128) as u64
    }
}

/// The merged file being written: rows copied through as they came and then the merged buckets,
/// each in row groups of one sorted run.
struct MergeOutput {
    writer: AsyncArrowWriter<BufWriter>,
    temp: ObjectPath,
    /// Request ids written that other files also hold (see [`ids_hashed_into`]).
    shared: Vec<String>,
    /// The hashes of the request ids in the other files that may share ids, sorted.
    others: Vec<u64>,
    /// The sort key of the last row written, while its row group is open.
    last_key: Option<SortKey>,
    rows: usize,
}

/// A row's place in the tables' order: function name, then time, nulls first.
type SortKey = (Option<String>, Option<i64>);

impl MergeOutput {
    fn create(
        objects: &Objects,
        output: &ObjectPath,
        others: Vec<u64>,
    ) -> Result<Self, StoreError> {
        let table = Table::Invocations;
        let temp = objects.staging_path(output);
        Ok(MergeOutput {
            writer: AsyncArrowWriter::try_new(
                BufWriter::new(objects.store.clone(), temp.clone()),
                table.schema(),
                Some(writer_properties(table, false)),
            )?,
            temp,
            shared: Vec::new(),
            others,
            last_key: None,
            rows: 0,
        })
    }

    /// Appends sorted rows, in the open row group when they continue its order, else in a new
    /// one, so that each row group's statistics span one sorted run.
    async fn write_sorted(&mut self, rows: &RecordBatch) -> Result<(), StoreError> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        let (first, last) = (sort_key(rows, 0)?, sort_key(rows, rows.num_rows() - 1)?);
        if self.last_key.as_ref().is_some_and(|key| first < *key) {
            self.writer.flush().await?;
        }
        if !self.others.is_empty() {
            let shared = ids_hashed_into(request_ids(rows)?, &self.others);
            self.shared.extend(shared);
        }
        self.writer.write(rows).await?;
        self.last_key = Some(last);
        self.rows += rows.num_rows();
        Ok(())
    }

    /// Closes the file with its shared request ids in the footer and moves it into place.
    async fn commit(mut self, objects: &Objects, output: &ObjectPath) -> Result<usize, StoreError> {
        self.shared.sort_unstable();
        self.writer
            .append_key_value_metadata(hour_merged_entry(&self.shared));
        self.writer.close().await?;
        objects.commit_durably(&self.temp, output).await?;
        Ok(self.rows)
    }
}

/// The sort key of `row` of invocation rows.
fn sort_key(rows: &RecordBatch, row: usize) -> Result<SortKey, StoreError> {
    let (names, times) = sort_columns(Table::Invocations, rows)?;
    Ok((
        names.is_valid(row).then(|| names.value(row).to_string()),
        times.is_valid(row).then(|| times.value(row)),
    ))
}

/// The state of one hour merge: the rows of repeated request ids routed to buckets, still in
/// memory or in pieces on disk.
struct HourMerge {
    partition: Partition,
    range: SegmentRange,
    /// See [`RepeatedIds::hashes`].
    repeated: Vec<u64>,
    /// Rows routed to each bucket and not yet written as a piece.
    pending: Vec<Vec<RecordBatch>>,
    pending_bytes: usize,
    /// The scratch pieces written for each bucket.
    pieces: Vec<Vec<ObjectPath>>,
    piece_rounds: usize,
}

impl HourMerge {
    fn new(partition: Partition, range: SegmentRange, buckets: usize, repeated: Vec<u64>) -> Self {
        HourMerge {
            partition,
            range,
            repeated,
            pending: vec![Vec::new(); buckets],
            pending_bytes: 0,
            pieces: vec![Vec::new(); buckets],
            piece_rounds: 0,
        }
    }

    async fn run(
        &mut self,
        objects: &Objects,
        files: &[DataFile],
        others: &[DataFile],
    ) -> Result<usize, StoreError> {
        let output_path = self.partition.file(self.range);
        let others = request_id_hashes(objects, others).await?;
        let mut output = MergeOutput::create(objects, &output_path, others)?;
        for file in files {
            let mut batches = objects.read_batches(&file.meta).await?;
            while let Some(batch) = batches.try_next().await? {
                // A file of an earlier schema version gets the columns added since.
                let batch = Table::Invocations.upgrade(batch);
                // Stored rows are sorted within each batch read (a row group holds one sorted
                // run), so the rows that are copied through stay sorted.
                let lone = self.route(&batch)?;
                output.write_sorted(&lone).await?;
                if self.pending_bytes > COMPACTION_DECODED_BUDGET_BYTES {
                    self.write_pieces(objects).await?;
                }
            }
        }
        if self.piece_rounds > 0 {
            // Everything goes through pieces once anything did, so the second pass holds one
            // bucket at a time.
            self.write_pieces(objects).await?;
        }
        self.write_buckets(objects, &mut output).await?;
        output.commit(objects, &output_path).await
    }

    /// Routes the rows of `batch` whose request id is repeated to their buckets by a hash of the
    /// id, and returns the others, in their order.
    fn route(&mut self, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
        if self.repeated.is_empty() {
            return Ok(batch.clone());
        }
        let buckets = self.pending.len();
        let request_ids = request_ids(batch)?;
        let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); buckets];
        let mut lone = Vec::with_capacity(batch.num_rows());
        for (row, id) in request_ids.iter().enumerate() {
            let hash = request_id_hash(id.unwrap_or_default());
            if self.repeated.binary_search(&hash).is_ok() {
                rows_of[(hash % buckets as u64) as usize].push(row as u32);
            } else {
                lone.push(row as u32);
            }
        }
        for (bucket, rows) in rows_of.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let part = take_rows(batch, &UInt32Array::from(rows))?;
            self.pending_bytes += part.get_array_memory_size();
            self.pending[bucket].push(part);
        }
        if lone.len() == batch.num_rows() {
            return Ok(batch.clone());
        }
        take_rows(batch, &UInt32Array::from(lone))
    }

    /// Writes each bucket's pending rows as a scratch piece ([`Objects::scratch`]) and frees
    /// them.
    async fn write_pieces(&mut self, objects: &Objects) -> Result<(), StoreError> {
        let scratch = objects.scratch();
        let table = self.partition.table;
        let output = self.partition.file(self.range);
        for (bucket, pending) in self.pending.iter_mut().enumerate() {
            if pending.is_empty() {
                continue;
            }
            let rows = concat_batches(&table.schema(), pending.iter())?;
            pending.clear();
            let piece = temporary_path(&ObjectPath::from(format!(
                "{output}.bucket{bucket}.piece{}",
                self.piece_rounds
            )));
            scratch
                .store
                .put(&piece, encode_scratch(&rows)?.into())
                .await?;
            self.pieces[bucket].push(piece);
        }
        self.pending_bytes = 0;
        self.piece_rounds += 1;
        Ok(())
    }

    /// The second pass: merges and sorts each bucket and appends it to `output`.
    async fn write_buckets(
        &mut self,
        objects: &Objects,
        output: &mut MergeOutput,
    ) -> Result<(), StoreError> {
        let scratch = objects.scratch();
        let table = self.partition.table;
        for bucket in 0..self.pending.len() {
            let mut batches = std::mem::take(&mut self.pending[bucket]);
            for piece in &self.pieces[bucket] {
                batches.push(decode_scratch(table, scratch.get(piece).await?)?);
            }
            if batches.is_empty() {
                continue;
            }
            let rows = merge_rows(table, batches)?;
            let order = sorted_order(table, &rows, &all_rows(&rows))?;
            for chunk in order.chunks(SORTED_CHUNK_ROWS) {
                output
                    .write_sorted(&interleave_rows(table, &rows, chunk)?)
                    .await?;
            }
            let pieces = std::mem::take(&mut self.pieces[bucket]);
            scratch.delete_all(pieces.iter()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::model::invocation::{self, Sources};
    use crate::model::{Invocation, Source};
    use crate::store::layout::list_table;
    use crate::store::local_objects;
    use crate::store::writer::{decode_parquet, encode_sorted, shared_request_ids, sort_batch};

    const HOUR: i64 = 490_000;

    fn fragment(id: usize, source: Source) -> Invocation {
        let report = source == Source::PlatformReport;
        Invocation {
            function_name: format!("fn-{}", id % 5),
            request_id: format!("req-{id}"),
            start_time: HOUR * crate::model::NANOS_PER_HOUR + id as i64 * 1_000_000,
            duration_ms: Some(if report { 19.5 } else { 20.0 }),
            memory_size_mb: report.then_some(512),
            trace_id: (!report).then_some([id as u8; 16]),
            sources: Sources::of(source),
            ..Default::default()
        }
    }

    async fn put_file(objects: &Objects, id: u64, invocations: &[Invocation]) {
        put_file_in(objects, HOUR, id, invocations).await;
    }

    async fn put_file_in(objects: &Objects, hour: i64, id: u64, invocations: &[Invocation]) {
        let partition = Partition {
            table: Table::Invocations,
            hour,
        };
        let batch = invocation::to_batch(invocations);
        objects
            .put_durably(
                &partition.file(SegmentRange::single(id)),
                encode_sorted(Table::Invocations, std::slice::from_ref(&batch)).unwrap(),
            )
            .await
            .unwrap();
    }

    /// A compaction pass in runs over every partition, as a closing store's.
    async fn compact_in_runs(objects: &Objects) -> crate::store::compaction::CompactionOutcome {
        use crate::store::compaction::{CompactionLevel, KnownHourMerged, ReplacedFiles, compact};
        let runs = |_: &Partition, _: usize| Some(CompactionLevel::Runs);
        let mut known = KnownHourMerged::default();
        compact(objects, runs, &mut known, 1, ReplacedFiles::DeletedAtOnce)
            .await
            .unwrap()
    }

    async fn live_files(objects: &Objects) -> Vec<DataFile> {
        list_table(objects.store.as_ref(), Table::Invocations)
            .await
            .unwrap()
            .live
    }

    /// The shared request ids in a file's footer; `None` when it is not hour-merged.
    async fn shared_ids(objects: &Objects, file: &DataFile) -> Option<Vec<String>> {
        shared_request_ids(&objects.read_metadata(&file.meta).await.unwrap())
    }

    async fn stored_rows(objects: &Objects) -> Vec<Invocation> {
        let mut rows = Vec::new();
        for file in live_files(objects).await {
            let batch = decode_parquet(
                Table::Invocations,
                objects.get(&file.meta.location).await.unwrap(),
            )
            .unwrap();
            rows.extend(invocation::from_batch(&batch).unwrap());
        }
        rows.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        rows
    }

    /// Spans of invocations 0..600 in three files, their reports in three later files, and 200
    /// invocations with only a report: what a compaction in runs leaves as separate fragments.
    async fn fragmented_hour(objects: &Objects) -> Vec<Invocation> {
        let mut all = Vec::new();
        for (file, ids) in [(1, 0..200), (2, 200..400), (3, 400..600)] {
            let spans: Vec<_> = ids.map(|i| fragment(i, Source::OtlpSpan)).collect();
            put_file(objects, file, &spans).await;
            all.extend(spans);
        }
        for (file, ids) in [(4, 0..300), (5, 300..600), (6, 600..800)] {
            let reports: Vec<_> = ids.map(|i| fragment(i, Source::PlatformReport)).collect();
            put_file(objects, file, &reports).await;
            all.extend(reports);
        }
        let mut expected = invocation::merge_fragments(all);
        expected.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        expected
    }

    /// A store upgraded in the middle of an hour holds files of schema version 2, without
    /// `cold_start_inferred`, beside files of the current version: the hour merge and a
    /// compaction read the older ones as the current schema (the column null), and lose no row.
    #[tokio::test]
    async fn files_of_the_previous_schema_version_are_merged_with_the_current_ones() {
        let spans: Vec<_> = (0..300).map(|i| fragment(i, Source::OtlpSpan)).collect();
        let reports: Vec<_> = (0..300)
            .map(|i| Invocation {
                cold_start: true,
                cold_start_inferred: i % 2 == 0,
                ..fragment(i, Source::PlatformReport)
            })
            .collect();
        let mut expected = invocation::merge_fragments(spans.iter().chain(&reports).cloned());
        expected.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        let partition = Partition {
            table: Table::Invocations,
            hour: HOUR,
        };
        // The reports in a file of the current version, then the spans in one of schema version
        // 2 (uncompressed: the larger, so that the compaction's size tiering takes both).
        let upgraded_mid_hour = |objects: Objects| {
            let (spans, reports) = (spans.clone(), reports.clone());
            async move {
                put_file(&objects, 1, &reports).await;
                objects
                    .put_durably(
                        &partition.file(SegmentRange::single(2)),
                        invocation::version_2_file(&spans),
                    )
                    .await
                    .unwrap();
                objects
            }
        };

        let dir = tempfile::tempdir().unwrap();
        let objects = upgraded_mid_hour(local_objects(dir.path()).unwrap()).await;
        let files = live_files(&objects).await;
        let merged = merge_hour(&objects, partition, files, 1 << 20, true).await;
        assert_eq!(merged.unwrap(), Some((2, 300)));
        assert_eq!(stored_rows(&objects).await, expected);

        let dir = tempfile::tempdir().unwrap();
        let objects = upgraded_mid_hour(local_objects(dir.path()).unwrap()).await;
        compact_in_runs(&objects).await;
        assert_eq!(
            live_files(&objects).await.len(),
            1,
            "compacted into one file"
        );
        assert_eq!(stored_rows(&objects).await, expected);
    }

    #[tokio::test]
    async fn an_hour_merged_in_buckets_holds_each_request_id_once_with_the_merged_values() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let expected = fragmented_hour(&objects).await;
        let files = live_files(&objects).await;
        let partition = files[0].partition;
        let input_bytes: u64 = files.iter().map(|f| f.meta.size).sum();
        // A budget of a seventh of the input: seven buckets.
        let (files_in, rows_out) =
            merge_hour(&objects, partition, files, input_bytes / 7 + 1, true)
                .await
                .unwrap()
                .expect("six files are merged");
        assert_eq!((files_in, rows_out), (6, 800));

        let listing = list_table(objects.store.as_ref(), Table::Invocations)
            .await
            .unwrap();
        assert_eq!(listing.live.len(), 1, "one merged file");
        assert_eq!(listing.live[0].range, SegmentRange { lo: 1, hi: 6 });
        assert_eq!(
            listing.superseded.len(),
            6,
            "the inputs are left, superseded, for the compaction pass"
        );
        assert!(listing.temporary.is_empty(), "no scratch piece is left");
        let stored = stored_rows(&objects).await;
        let ids: HashSet<_> = stored.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids.len(), stored.len(), "a request id repeats");
        assert_eq!(stored, expected);
    }

    #[tokio::test]
    async fn an_hour_without_repeated_ids_is_its_files_row_groups_copied_as_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // Three files of spans of distinct invocations, and in the next hour a REPORT of one of
        // them (invocation 7, whose start it places there).
        // The second file is not compressed (as no file of the store is), which only a copy
        // keeps.
        let mut all = Vec::new();
        for (file, ids) in [(1, 0..150), (2, 150..200), (3, 200..420)] {
            let spans: Vec<_> = ids.map(|i| fragment(i, Source::OtlpSpan)).collect();
            if file == 2 {
                let batch = sort_batch(Table::Invocations, &invocation::to_batch(&spans)).unwrap();
                let properties = writer_properties(Table::Invocations, true)
                    .into_builder()
                    .set_compression(parquet::basic::Compression::UNCOMPRESSED)
                    .build();
                let mut bytes = Vec::new();
                let mut writer = parquet::arrow::ArrowWriter::try_new(
                    &mut bytes,
                    Table::Invocations.schema(),
                    Some(properties),
                )
                .unwrap();
                writer.write(&batch).unwrap();
                writer.close().unwrap();
                let path = Partition {
                    table: Table::Invocations,
                    hour: HOUR,
                }
                .file(SegmentRange::single(file));
                objects.put_durably(&path, bytes.into()).await.unwrap();
            } else {
                put_file(&objects, file, &spans).await;
            }
            all.extend(spans);
        }
        all.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        let mut late_start = fragment(7, Source::PlatformReport);
        late_start.start_time = (HOUR + 1) * crate::model::NANOS_PER_HOUR + 5;
        put_file_in(&objects, HOUR + 1, 4, &[late_start]).await;
        let files: Vec<DataFile> = live_files(&objects)
            .await
            .into_iter()
            .filter(|f| f.partition.hour == HOUR)
            .collect();
        let mut inputs = Vec::new();
        for file in &files {
            inputs.push(objects.read_metadata(&file.meta).await.unwrap());
        }

        let merged = merge_hour(&objects, files[0].partition, files, 1 << 20, true)
            .await
            .unwrap();
        assert_eq!(merged, Some((3, 420)));
        let live = live_files(&objects).await;
        let hour: Vec<_> = live.iter().filter(|f| f.partition.hour == HOUR).collect();
        assert_eq!(hour.len(), 1);
        assert_eq!(hour[0].range, SegmentRange { lo: 1, hi: 3 });
        assert_eq!(
            shared_ids(&objects, hour[0]).await,
            Some(vec!["req-7".to_string()])
        );
        let mut stored: Vec<_> = stored_rows(&objects).await;
        stored.retain(|r| r.start_time < (HOUR + 1) * crate::model::NANOS_PER_HOUR);
        assert_eq!(stored, all);

        // The inputs' row groups, one after another, each column chunk the same bytes: copied,
        // not encoded again. The page index was moved with them.
        let output = objects
            .read_metadata_with_page_index(&hour[0].meta)
            .await
            .unwrap();
        let input_groups: Vec<_> = inputs.iter().flat_map(|m| m.row_groups()).collect();
        assert_eq!(output.row_groups().len(), input_groups.len());
        let offsets = output.offset_index().expect("an offset index");
        for (index, (copied, input)) in output.row_groups().iter().zip(&input_groups).enumerate() {
            assert_eq!(copied.num_rows(), input.num_rows());
            assert!(copied.sorting_columns().is_none(), "only sorted runs");
            for (column, (ours, theirs)) in copied.columns().iter().zip(input.columns()).enumerate()
            {
                assert_eq!(ours.compression(), theirs.compression());
                assert_eq!(ours.compressed_size(), theirs.compressed_size());
                assert_eq!(ours.statistics(), theirs.statistics());
                let first_page = offsets[index][column].page_locations[0].offset;
                assert_eq!(
                    first_page,
                    ours.data_page_offset(),
                    "{}",
                    ours.column_path()
                );
            }
        }
        assert_eq!(
            output.file_metadata().schema_descr().root_schema(),
            inputs[0].file_metadata().schema_descr().root_schema()
        );
        // Read with the page index, a selection skipping pages gives the rows it selects.
        use parquet::arrow::arrow_reader::{
            ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
        };
        let bytes = objects.get(&hour[0].meta.location).await.unwrap();
        let selection = RowSelection::from(vec![RowSelector::skip(160), RowSelector::select(30)]);
        let options = ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes.clone(), options)
            .unwrap()
            .with_row_selection(selection)
            .build()
            .unwrap();
        let selected: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let whole = decode_parquet(Table::Invocations, bytes).unwrap();
        assert_eq!(
            concat_batches(&Table::Invocations.schema(), &selected).unwrap(),
            whole.slice(160, 30)
        );
    }

    /// Decoded rows far over the budget go through pieces; the result is the same. The pieces go
    /// to the store's scratch objects: the store itself for a directory, the data directory's
    /// scratch folder for a bucket, which then sees none of them.
    #[tokio::test]
    async fn scratch_pieces_keep_memory_bounded_and_give_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let scratch_dir = tempfile::tempdir().unwrap();
        let bucket = Objects {
            store: std::sync::Arc::new(object_store::memory::InMemory::new()),
            local_root: None,
            scratch: Some(std::sync::Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(scratch_dir.path()).unwrap(),
            )),
        };
        for objects in [local_objects(dir.path()).unwrap(), bucket] {
            let in_bucket = objects.scratch.is_some();
            scratch_pieces_through(&objects).await;
            let in_scratch_folder = std::fs::read_dir(scratch_dir.path()).unwrap().count();
            assert_eq!(in_scratch_folder > 0, in_bucket, "{objects:?}");
        }
    }

    /// Merges a fragmented hour of `objects` through scratch pieces, a round per input batch.
    /// The budget is a constant, so the pieces are forced by a merge of many small buckets whose
    /// pending rows are written out every batch.
    async fn scratch_pieces_through(objects: &Objects) {
        let expected = fragmented_hour(objects).await;
        let files = live_files(objects).await;
        let partition = files[0].partition;
        let range = SegmentRange { lo: 1, hi: 6 };
        let repeated = RepeatedIds::of(objects, &files).await.unwrap();
        let mut merge = HourMerge::new(partition, range, 3, repeated.hashes);
        let output_path = partition.file(range);
        let mut output = MergeOutput::create(objects, &output_path, Vec::new()).unwrap();
        for file in &files {
            let mut batches = objects.read_batches(&file.meta).await.unwrap();
            while let Some(batch) = batches.try_next().await.unwrap() {
                let lone = merge.route(&batch).unwrap();
                output.write_sorted(&lone).await.unwrap();
                merge.write_pieces(objects).await.unwrap();
            }
        }
        assert_eq!(merge.piece_rounds, 6);
        let scratch = objects.scratch();
        let pieces_in = |objects: Objects| async move {
            list_table(objects.store.as_ref(), Table::Invocations)
                .await
                .unwrap()
                .temporary
                .into_iter()
                .filter(|path| path.as_ref().contains(".piece"))
                .count()
        };
        // Every id of the first five files is repeated; the sixth's reports are lone and copied
        // through, so its round writes no piece.
        assert_eq!(
            pieces_in(scratch.clone()).await,
            3 * 5,
            "a piece per bucket and round"
        );
        if objects.scratch.is_some() {
            assert_eq!(
                pieces_in(objects.clone()).await,
                0,
                "no piece in the bucket"
            );
        }
        merge.write_buckets(objects, &mut output).await.unwrap();
        assert_eq!(output.commit(objects, &output_path).await.unwrap(), 800);
        objects
            .delete_all(files.iter().map(|f| &f.meta.location))
            .await
            .unwrap();
        assert_eq!(pieces_in(scratch).await, 0, "every piece deleted once used");
        assert!(
            list_table(objects.store.as_ref(), Table::Invocations)
                .await
                .unwrap()
                .temporary
                .is_empty()
        );
        assert_eq!(stored_rows(objects).await, expected);
    }

    /// The sort keys of each row group of `file`, in order.
    async fn row_group_keys(objects: &Objects, file: &DataFile) -> Vec<Vec<SortKey>> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let bytes = objects.get(&file.meta.location).await.unwrap();
        let groups = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .unwrap()
            .metadata()
            .num_row_groups();
        (0..groups)
            .map(|group| {
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                    .unwrap()
                    .with_row_groups(vec![group])
                    .build()
                    .unwrap();
                let mut keys = Vec::new();
                for batch in reader {
                    let batch = batch.unwrap();
                    keys.extend((0..batch.num_rows()).map(|row| sort_key(&batch, row).unwrap()));
                }
                keys
            })
            .collect()
    }

    #[tokio::test]
    async fn only_the_rows_of_repeated_request_ids_are_routed_to_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        fragmented_hour(&objects).await;
        let files = live_files(&objects).await;
        let repeated = RepeatedIds::of(&objects, &files).await.unwrap();
        // Ids 0..600 have a span and a report each; 600..800 a report only.
        assert_eq!(
            (repeated.hashes.len(), repeated.rows_repeated, repeated.rows),
            (600, 1200, 1400)
        );
        assert_eq!(repeated.share_of(1400), 1200);
        let mut merge = HourMerge::new(files[0].partition, files[0].range, 4, repeated.hashes);
        let mut lone_ids = HashSet::new();
        let mut routed = 0;
        for file in &files {
            let mut batches = objects.read_batches(&file.meta).await.unwrap();
            while let Some(batch) = batches.try_next().await.unwrap() {
                let lone = merge.route(&batch).unwrap();
                lone_ids.extend(
                    request_ids(&lone)
                        .unwrap()
                        .iter()
                        .flatten()
                        .map(String::from),
                );
                routed += batch.num_rows() - lone.num_rows();
            }
        }
        let expected: HashSet<_> = (600..800).map(|i| format!("req-{i}")).collect();
        assert_eq!(lone_ids, expected);
        assert_eq!(routed, 1200);
        let pending: usize = merge.pending.iter().flatten().map(|b| b.num_rows()).sum();
        assert_eq!(pending, 1200);
    }

    #[tokio::test]
    async fn rows_copied_through_keep_each_row_group_one_sorted_run() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // Two files of lone reports over the same functions and times (each file sorted, the
        // second starting before the first ends), and a third whose spans meet some of their
        // reports.
        let mut all = Vec::new();
        for (file, ids) in [(1, (0..300).step_by(2)), (2, (1..300).step_by(2))] {
            let reports: Vec<_> = ids.map(|i| fragment(i, Source::PlatformReport)).collect();
            put_file(&objects, file, &reports).await;
            all.extend(reports);
        }
        let spans: Vec<_> = (250..350).map(|i| fragment(i, Source::OtlpSpan)).collect();
        put_file(&objects, 3, &spans).await;
        all.extend(spans);
        let mut expected = invocation::merge_fragments(all);
        expected.sort_by(|a, b| a.request_id.cmp(&b.request_id));

        let files = live_files(&objects).await;
        let partition = files[0].partition;
        merge_hour(&objects, partition, files, 1 << 20, false)
            .await
            .unwrap()
            .expect("three files are merged");
        assert_eq!(stored_rows(&objects).await, expected);
        let merged = live_files(&objects).await;
        assert_eq!(merged.len(), 1);
        let groups = row_group_keys(&objects, &merged[0]).await;
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 350);
        // Each file's lone rows, then the third file's lone spans, then the merged bucket: runs
        // that do not continue one another.
        assert_eq!(groups.len(), 4);
        for keys in &groups {
            assert!(keys.is_sorted(), "a row group is not one sorted run");
        }
    }

    #[tokio::test]
    async fn late_files_are_tiered_against_the_merged_hour() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // An hour large enough that its merged file outweighs a few one-row files (a Parquet
        // file's footer alone is a few kilobytes).
        let spans: Vec<_> = (0..5000).map(|i| fragment(i, Source::OtlpSpan)).collect();
        let reports: Vec<_> = (0..5000)
            .map(|i| fragment(i, Source::PlatformReport))
            .collect();
        put_file(&objects, 1, &spans).await;
        put_file(&objects, 6, &reports).await;
        let files = live_files(&objects).await;
        let partition = files[0].partition;
        assert_eq!(
            merge_hour(&objects, partition, files, 1 << 20, true)
                .await
                .unwrap(),
            Some((2, 5000))
        );
        // One late report: smaller than the merged hour, which is left alone.
        put_file(&objects, 7, &[fragment(5, Source::PlatformReport)]).await;
        let files = live_files(&objects).await;
        assert_eq!(files.len(), 2);
        assert_eq!(
            merge_hour(&objects, partition, files, 1 << 20, true)
                .await
                .unwrap(),
            None
        );
        assert_eq!(live_files(&objects).await.len(), 2);
        // A second late file: the two late ones are merged between themselves.
        put_file(&objects, 8, &[fragment(5, Source::OtlpSpan)]).await;
        let files = live_files(&objects).await;
        assert_eq!(
            merge_hour(&objects, partition, files, 1 << 20, true)
                .await
                .unwrap(),
            Some((2, 1))
        );
        let files = live_files(&objects).await;
        let ranges: Vec<_> = files.iter().map(|f| f.range).collect();
        assert_eq!(
            ranges,
            [SegmentRange { lo: 1, hi: 6 }, SegmentRange { lo: 7, hi: 8 }]
        );
        // Both files are hour-merged, and invocation 5 has a row in each: the later one says so.
        assert_eq!(shared_ids(&objects, &files[0]).await, Some(vec![]));
        assert_eq!(
            shared_ids(&objects, &files[1]).await,
            Some(vec!["req-5".to_string()])
        );
        // When the store closes, nothing waits: both fragments of invocation 5 become one row.
        assert_eq!(
            merge_hour(&objects, partition, files, 1 << 20, false)
                .await
                .unwrap(),
            Some((2, 5000))
        );
        let files = live_files(&objects).await;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].range, SegmentRange { lo: 1, hi: 8 });
        assert_eq!(shared_ids(&objects, &files[0]).await, Some(vec![]));
    }

    /// Opening a store leaves an over hour's lone file that is not hour-merged to the store's
    /// maintenance (a store from an older build has one in every hour, and rewriting them all at
    /// open kept a collector from serving for minutes); here the store's close merges it.
    #[tokio::test]
    async fn opening_a_store_leaves_lone_files_to_maintenance() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let spans: Vec<_> = (0..20).map(|i| fragment(i, Source::OtlpSpan)).collect();
        put_file(&objects, 1, &spans).await;
        let store = crate::store::Store::open(crate::store::StoreConfig::new(dir.path()))
            .await
            .unwrap();
        let files = live_files(&objects).await;
        assert_eq!(files.len(), 1);
        assert_eq!(
            shared_ids(&objects, &files[0]).await,
            None,
            "merged at open"
        );
        store.close().await.unwrap();
        let files = live_files(&objects).await;
        assert_eq!(files.len(), 1);
        assert_eq!(shared_ids(&objects, &files[0]).await, Some(Vec::new()));
    }

    /// A maintenance pass rewrites one lone file that is not hour-merged; the next pass the next.
    #[tokio::test]
    async fn a_maintenance_pass_rewrites_one_lone_file() {
        use crate::store::compaction::{CompactionLevel, KnownHourMerged, ReplacedFiles, compact};
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (hour, id) in [(HOUR, 1), (HOUR + 2, 2)] {
            let spans: Vec<_> = (0..20)
                .map(|i| {
                    let mut row = fragment(i + 100 * id as usize, Source::OtlpSpan);
                    row.start_time = hour * crate::model::NANOS_PER_HOUR + i as i64;
                    row
                })
                .collect();
            put_file_in(&objects, hour, id, &spans).await;
        }
        let mut known = KnownHourMerged::default();
        let mut merged_after_each_pass = Vec::new();
        for _ in 0..2 {
            compact(
                &objects,
                |_, _| Some(CompactionLevel::WholeHour),
                &mut known,
                1,
                ReplacedFiles::DeletedAtOnce,
            )
            .await
            .unwrap();
            let mut merged = 0;
            for file in live_files(&objects).await {
                merged += usize::from(shared_ids(&objects, &file).await.is_some());
            }
            merged_after_each_pass.push(merged);
        }
        assert_eq!(merged_after_each_pass, [1, 2]);
    }

    #[test]
    fn ids_whose_hash_is_among_the_others_are_found_by_the_sorted_walk() {
        let ids: StringArray = (0..2000)
            .map(|i| (i % 97 != 0).then(|| format!("req-{i}")))
            .collect();
        // Every third id of 1000..3000 is also elsewhere, with hashes of ids not in `ids` between.
        let mut others: Vec<u64> = (1000..3000)
            .step_by(3)
            .chain(5000..6000)
            .map(|i| request_id_hash(&format!("req-{i}")))
            .collect();
        others.sort_unstable();
        others.dedup();

        let mut found: Vec<String> = ids_hashed_into(&ids, &others).collect();
        found.sort_unstable();
        let mut expected: Vec<String> = ids
            .iter()
            .flatten()
            .filter(|id| others.binary_search(&request_id_hash(id)).is_ok())
            .map(str::to_string)
            .collect();
        expected.sort_unstable();
        assert_eq!(
            expected.len(),
            (1000..2000).step_by(3).filter(|i| i % 97 != 0).count()
        );
        assert_eq!(found, expected);
        assert_eq!(ids_hashed_into(&ids, &[]).count(), 0);
    }

    #[tokio::test]
    async fn request_ids_also_in_a_neighbouring_hour_are_listed_and_a_lone_file_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let spans: Vec<_> = (0..100).map(|i| fragment(i, Source::OtlpSpan)).collect();
        let reports: Vec<_> = (0..100)
            .map(|i| fragment(i, Source::PlatformReport))
            .collect();
        put_file(&objects, 1, &spans).await;
        put_file(&objects, 2, &reports).await;
        // Invocation 7's REPORT says it started a little later, in the next hour; invocation 500
        // is only in the next hour.
        let mut late_start = fragment(7, Source::PlatformReport);
        late_start.start_time = (HOUR + 1) * crate::model::NANOS_PER_HOUR + 5;
        let mut next_hour_only = fragment(500, Source::OtlpSpan);
        next_hour_only.start_time = (HOUR + 1) * crate::model::NANOS_PER_HOUR + 9;
        put_file_in(&objects, HOUR + 1, 3, &[late_start, next_hour_only]).await;
        let of_hour = |hour: i64| Partition {
            table: Table::Invocations,
            hour,
        };
        let hour_files = |files: Vec<DataFile>, hour: i64| -> Vec<DataFile> {
            files
                .into_iter()
                .filter(|f| f.partition.hour == hour)
                .collect()
        };

        let files = hour_files(live_files(&objects).await, HOUR);
        assert_eq!(
            merge_hour(&objects, of_hour(HOUR), files, 1 << 20, true)
                .await
                .unwrap(),
            Some((2, 100))
        );
        let merged = hour_files(live_files(&objects).await, HOUR);
        assert_eq!(
            shared_ids(&objects, &merged[0]).await,
            Some(vec!["req-7".to_string()])
        );

        // The next hour's one file, not hour-merged yet, is rewritten in place as one.
        let next = hour_files(live_files(&objects).await, HOUR + 1);
        assert_eq!(next.len(), 1);
        assert_eq!(shared_ids(&objects, &next[0]).await, None);
        assert_eq!(
            merge_hour(&objects, of_hour(HOUR + 1), next.clone(), 1 << 20, true)
                .await
                .unwrap(),
            Some((1, 2))
        );
        let rewritten = hour_files(live_files(&objects).await, HOUR + 1);
        assert_eq!(rewritten.len(), 1);
        assert_eq!(rewritten[0].range, next[0].range);
        assert_eq!(
            shared_ids(&objects, &rewritten[0]).await,
            Some(vec!["req-7".to_string()])
        );
        // Once hour-merged, a lone file is left alone.
        assert_eq!(
            merge_hour(&objects, of_hour(HOUR + 1), rewritten, 1 << 20, true)
                .await
                .unwrap(),
            None
        );
        assert_eq!(stored_rows(&objects).await.len(), 102);
    }

    #[tokio::test]
    async fn a_lone_hour_merged_file_is_remembered_and_its_footer_not_read_every_pass() {
        use crate::store::compaction::{CompactionLevel, KnownHourMerged, ReplacedFiles, compact};

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let spans: Vec<_> = (0..50).map(|i| fragment(i, Source::OtlpSpan)).collect();
        let reports: Vec<_> = (0..50)
            .map(|i| fragment(i, Source::PlatformReport))
            .collect();
        put_file(&objects, 1, &spans).await;
        put_file(&objects, 2, &reports).await;
        let over = |_: &Partition, _: usize| Some(CompactionLevel::WholeHour);
        let mut known = KnownHourMerged::default();
        let merged = compact(&objects, over, &mut known, 1, ReplacedFiles::DeletedAtOnce)
            .await
            .unwrap();
        assert_eq!((merged.files_in, merged.rows_out), (2, 50));
        // The next pass finds the hour's one file merged already, and remembers it.
        assert_eq!(
            compact(&objects, over, &mut known, 1, ReplacedFiles::DeletedAtOnce)
                .await
                .unwrap()
                .files_in,
            0
        );

        // Garbage in its place, with the same size and modification time: a pass that read the
        // footer again would fail.
        let file = live_files(&objects).await.remove(0);
        let path = dir.path().join(file.meta.location.as_ref());
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, vec![0u8; file.meta.size as usize]).unwrap();
        let set_modified = |time| {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(time)
                .unwrap()
        };
        set_modified(modified);
        compact(&objects, over, &mut known, 1, ReplacedFiles::DeletedAtOnce)
            .await
            .unwrap();
        // A file that changed is read again.
        set_modified(modified + std::time::Duration::from_secs(1));
        assert!(
            compact(&objects, over, &mut known, 1, ReplacedFiles::DeletedAtOnce)
                .await
                .is_err()
        );
    }

    /// What a compaction in runs leaves of invocation files holding `files` (each file's
    /// fragments): the rows, and the row groups of each file left.
    async fn compacted_in_runs(files: &[Vec<Invocation>]) -> (Vec<Invocation>, Vec<usize>) {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (id, rows) in files.iter().enumerate() {
            put_file(&objects, id as u64 + 1, rows).await;
        }
        let outcome = compact_in_runs(&objects).await;
        assert_eq!(outcome.files_in, files.len());
        let mut row_groups = Vec::new();
        for file in live_files(&objects).await {
            let metadata = objects.read_metadata(&file.meta).await.unwrap();
            assert!(!is_hour_merged(&metadata));
            // Each row group is one sorted run, as recorded.
            for row_group in metadata.row_groups() {
                assert!(row_group.sorting_columns().is_some());
            }
            row_groups.push(metadata.num_row_groups());
        }
        (stored_rows(&objects).await, row_groups)
    }

    #[tokio::test]
    async fn a_run_of_invocation_files_sharing_no_request_id_is_compacted_by_copying_row_groups() {
        use crate::store::compaction::MIN_COPIED_ROW_GROUP_ROWS;

        let n = MIN_COPIED_ROW_GROUP_ROWS;
        let spans = |ids: std::ops::Range<usize>| -> Vec<Invocation> {
            ids.map(|i| fragment(i, Source::OtlpSpan)).collect()
        };
        // No id in common: the three files' row groups, copied. (Three files of about one size,
        // so that size tiering leaves none out of the run.)
        let files = [spans(0..n), spans(n..2 * n), spans(2 * n..3 * n)];
        let (rows, row_groups) = compacted_in_runs(&files).await;
        assert_eq!(row_groups, vec![3]);
        let mut expected = files.concat();
        expected.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        assert_eq!(rows, expected);

        // A report of invocation 7 in the second file: the run is merged and written again.
        let mut second = spans(n..2 * n);
        second.push(fragment(7, Source::PlatformReport));
        let (rows, row_groups) =
            compacted_in_runs(&[spans(0..n), second, spans(2 * n..3 * n)]).await;
        assert_eq!(row_groups, vec![1]);
        assert_eq!(rows.len(), 3 * n);
        let seventh = rows.iter().find(|r| r.request_id == "req-7").unwrap();
        assert_eq!(seventh.memory_size_mb, Some(512));

        // Row groups smaller than the least copied: written again as one.
        let (rows, row_groups) =
            compacted_in_runs(&[spans(0..10), spans(10..20), spans(20..30)]).await;
        assert_eq!((rows.len(), row_groups), (30, vec![1]));
    }

    #[tokio::test]
    async fn a_run_of_log_files_is_compacted_by_copying_row_groups() {
        use crate::model::{LogRecord, Records};
        use crate::store::compaction::MIN_COPIED_ROW_GROUP_ROWS;

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let partition = Partition {
            table: Table::Logs,
            hour: HOUR,
        };
        let n = MIN_COPIED_ROW_GROUP_ROWS;
        let mut written = Vec::new();
        for (id, lines) in [(1, 0..n), (2, n..2 * n)] {
            let logs = lines
                .map(|i| LogRecord {
                    time: HOUR * crate::model::NANOS_PER_HOUR + i as i64,
                    function_name: Some(format!("fn-{}", i % 3)),
                    body: Some(format!("line {i}")),
                    source: "lambda",
                    ..Default::default()
                })
                .collect();
            let (_, batch) = Records {
                logs,
                ..Default::default()
            }
            .to_batches()
            .pop()
            .unwrap();
            let batch = sort_batch(Table::Logs, &batch).unwrap();
            objects
                .put_durably(
                    &partition.file(SegmentRange::single(id)),
                    encode_sorted(Table::Logs, std::slice::from_ref(&batch)).unwrap(),
                )
                .await
                .unwrap();
            written.push(batch);
        }
        let outcome = compact_in_runs(&objects).await;
        assert_eq!((outcome.files_in, outcome.rows_out), (2, 2 * n));
        let files = list_table(objects.store.as_ref(), Table::Logs)
            .await
            .unwrap()
            .live;
        assert_eq!(files.len(), 1);
        let bytes = objects.get(&files[0].meta.location).await.unwrap();
        let metadata = objects.read_metadata(&files[0].meta).await.unwrap();
        assert_eq!(metadata.num_row_groups(), 2);
        // The rows are the two files', each file's in its order.
        assert_eq!(
            decode_parquet(Table::Logs, bytes).unwrap(),
            arrow::compute::concat_batches(&Table::Logs.schema(), &written).unwrap()
        );
    }

    #[tokio::test]
    async fn closing_merges_run_together_store_what_one_at_a_time_stores() {
        use crate::store::compaction::{CompactionLevel, KnownHourMerged, ReplacedFiles, compact};

        // Five hours of invocations, each split in a span file and a report file; every tenth
        // invocation's report falls in the next hour, so neighbours share request ids.
        async fn five_fragmented_hours(objects: &Objects) {
            let mut segment = 1;
            for hour in 0..5i64 {
                let ids = (hour as usize * 100)..(hour as usize * 100 + 100);
                let moved = |f: Invocation, to: i64| Invocation {
                    start_time: f.start_time + to * crate::model::NANOS_PER_HOUR,
                    ..f
                };
                let spans: Vec<_> = ids
                    .clone()
                    .map(|i| moved(fragment(i, Source::OtlpSpan), hour))
                    .collect();
                put_file_in(objects, HOUR + hour, segment, &spans).await;
                let (late, on_time): (Vec<_>, Vec<_>) = ids
                    .map(|i| fragment(i, Source::PlatformReport))
                    .partition(|f| f.request_id.ends_with('7'));
                let on_time: Vec<_> = on_time.into_iter().map(|f| moved(f, hour)).collect();
                let late: Vec<_> = late.into_iter().map(|f| moved(f, hour + 1)).collect();
                put_file_in(objects, HOUR + hour, segment + 1, &on_time).await;
                put_file_in(objects, HOUR + hour + 1, segment + 2, &late).await;
                segment += 3;
            }
        }
        let mut stores = Vec::new();
        for at_once in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let objects = local_objects(dir.path()).unwrap();
            five_fragmented_hours(&objects).await;
            let outcome = compact(
                &objects,
                |_, _| Some(CompactionLevel::WholeHourFully),
                &mut KnownHourMerged::default(),
                at_once,
                ReplacedFiles::DeletedAtOnce,
            )
            .await
            .unwrap();
            assert_eq!(
                outcome.partitions, 6,
                "five hours and the late reports' hour"
            );
            let mut files = Vec::new();
            for file in live_files(&objects).await {
                files.push((file.range, shared_ids(&objects, &file).await));
            }
            stores.push((outcome, files, stored_rows(&objects).await, dir));
        }
        let (one, together) = (&stores[0], &stores[1]);
        assert_eq!(one.0, together.0);
        assert_eq!(one.1, together.1);
        assert_eq!(one.2, together.2);
        // Each request id is one row within its hour; a late report stays in its own hour (the
        // `invocations` view merges it, by the ids the footers list).
        assert_eq!(one.2.len(), 500 + 50);
        // Hour 0's late reports are in hour 1: hour 0's merged file names their ids.
        let first_hour_shared = one.1[0].1.clone().expect("hour-merged");
        assert_eq!(first_hour_shared.len(), 10);
    }
}
