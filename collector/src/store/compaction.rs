//! Compaction: rewriting the many small files of a partition as fewer, larger ones.
//!
//! The live files of a partition, in segment order, are cut into runs of neighbouring files that
//! together hold at most [`COMPACTION_INPUT_BUDGET_BYTES`] of Parquet; a file that large on its own
//! is done and never read again. A run stops early once what it has read decodes to more than
//! [`COMPACTION_DECODED_BUDGET_BYTES`]. Each run of two or more files is read, invocation fragments that
//! landed in different files are merged by request id, the rows are sorted again and written as
//! one file named by the union of the run's segment ranges, which supersedes the inputs. A run
//! that needs no merging (logs; invocation files that share no request id) and whose row groups
//! are not small is written by copying its files' row groups as they are encoded instead, each
//! still one sorted run (see [`MIN_COPIED_ROW_GROUP_ROWS`]). Runs are neighbours in segment
//! order, so that union covers no file outside the run; the store runs no compaction while a
//! segment whose flush failed waits in the WAL, whose id the union could cover. Until the inputs are
//! deleted, the new file's range supersedes theirs (see `layout`), so no reader ever counts a row
//! twice and a crash at any point leaves a correct store. A running store deletes them only some
//! minutes later ([`ReplacedFiles`]), so that a query that listed them still reads them. Query
//! results are identical before and after (the `invocations` view merges fragments left in
//! different files).
//!
//! The budget bounds a compaction's memory and the bytes it rewrites, whatever the size of the
//! partition: a busy hour grows as files of about the budget's size, not one file rewritten over
//! and over. Once the hour is over, [`CompactionLevel::WholeHour`] merges its invocation files as
//! a whole (see `hour_merge`), so that fragments of one invocation in files far apart become one
//! row. Within a run, a leading file larger than all the files after it together is
//! left out (size-tiered): a large earlier output is rewritten only once the small files behind
//! it add up to its size, so each row is rewritten a logarithmic number of times, not once per
//! pass. Found by the ingest benchmark: a partition's first invocations file was read, merged and
//! written again on every pass to absorb one more segment, which made compaction most of the
//! collector's CPU and its peak memory.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path as ObjectPath;

use super::StoreError;
use super::flush::merge_rows;
use super::hour_merge::{RepeatedIds, copyable_inputs, merge_hour};
use super::layout::{DataFile, Listing, Partition, list_partition_files, list_table};
use super::row_group_copy::copy_row_groups;
use super::writer::{Objects, decode_parquet_batches, encode_sorted, writer_properties};
use crate::model::Table;

/// The most Parquet bytes one compaction reads, and the size at which a file is done. Rows
/// decode to six to twelve times their compressed size (attributes, merged invocation structs),
/// so 8 MiB of Parquet is about the decoded budget below; with 32 MiB, single files decoded to
/// several hundred MiB and held the collector's peak memory above a gigabyte (ingest benchmark).
pub const COMPACTION_INPUT_BUDGET_BYTES: u64 = 8 << 20;

/// The most decoded (Arrow) bytes one compaction holds before it stops reading more files; its
/// peak memory is a small multiple of this (merging and sorting copy the rows).
pub const COMPACTION_DECODED_BUDGET_BYTES: usize = 64 << 20;

/// Cuts a partition's files into runs of neighbours (in segment order) within `budget` bytes,
/// each without leading files larger than the rest of their run together; only runs of two or
/// more files are returned.
fn runs_within_budget(mut files: Vec<DataFile>, budget: u64) -> Vec<Vec<DataFile>> {
    files.sort_by_key(|f| f.range.lo);
    let mut runs = Vec::new();
    let mut run: Vec<DataFile> = Vec::new();
    let mut bytes = 0u64;
    for file in files {
        let size = file.meta.size;
        if bytes + size > budget && !run.is_empty() {
            runs.push(std::mem::take(&mut run));
            bytes = 0;
        }
        if size >= budget {
            // Done: on its own it is as large as a compaction makes files.
            continue;
        }
        bytes += size;
        run.push(file);
    }
    runs.push(run);
    for run in &mut runs {
        let leading_done = (0..run.len())
            .find(|&i| {
                let rest: u64 = run[i + 1..].iter().map(|f| f.meta.size).sum();
                run[i].meta.size <= rest
            })
            .unwrap_or(run.len());
        run.drain(..leading_done);
    }
    runs.retain(|r| r.len() >= 2);
    runs
}

/// How far a compaction pass goes in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionLevel {
    /// Runs of neighbouring files within the budget: for an hour that still receives rows.
    Runs,
    /// For an hour that is over: invocation files are merged as a whole (see `hour_merge`), so
    /// every request id is one row; spans and logs are compacted in runs. A merged file larger
    /// than the files after it together waits for them (size tiering against late rows).
    WholeHour,
    /// As `WholeHour`, with earlier merges included whatever their size: when the store closes
    /// (the end of an import, which may have seen an hour merged while half of it was in).
    WholeHourFully,
}

/// When the files a compaction replaced (superseded by its output) are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacedFiles {
    /// As soon as each partition is compacted: a closing store's last pass.
    DeletedAtOnce,
    /// By the first pass at least this long after they were replaced. A query lists the files
    /// when it starts and reads them as its scan reaches them; deleted with the compaction, the
    /// files of a query that listed them before it were skipped (a directory's) or failed the
    /// query (a bucket's), and a count over the hour came out short. Kept, they are read, and a
    /// query that lists after the compaction skips them as superseded.
    KeptFor(Duration),
}

impl ReplacedFiles {
    /// Deletes the superseded files of `listing` whose time has come.
    async fn delete_due(self, objects: &Objects, listing: &Listing) -> Result<(), StoreError> {
        let due_before = match self {
            ReplacedFiles::DeletedAtOnce => None,
            ReplacedFiles::KeptFor(kept) => Some(
                Utc::now() - chrono::Duration::from_std(kept).unwrap_or(chrono::TimeDelta::MAX),
            ),
        };
        let due = listing.superseded.iter().filter(|file| match due_before {
            None => true,
            // Replaced by no listed file: what replaced it is gone (retention), so is the reason.
            Some(cutoff) => listing.replaced_at(file).is_none_or(|at| at <= cutoff),
        });
        objects.delete_all(due.map(|f| &f.meta.location)).await
    }

    /// After `partition` is compacted: deletes the files that compaction replaced, if that is
    /// due at once.
    async fn after_compacting(
        self,
        objects: &Objects,
        partition: Partition,
    ) -> Result<(), StoreError> {
        if self != ReplacedFiles::DeletedAtOnce {
            return Ok(());
        }
        let listing = list_partition_files(objects.store.as_ref(), partition).await?;
        self.delete_due(objects, &listing).await
    }
}

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionOutcome {
    pub partitions: usize,
    pub files_in: usize,
    pub rows_out: usize,
}

impl CompactionOutcome {
    /// Counts what [`merge_hour`] did; `lone` is the key of the hour's file when it was the only
    /// one, remembered as hour-merged when there was nothing to merge.
    fn count_hour_merge(
        &mut self,
        merged: Option<(usize, usize)>,
        lone: Option<LoneFileKey>,
        known: &mut KnownHourMerged,
    ) {
        match merged {
            Some((files_in, rows_out)) => {
                self.partitions += 1;
                self.files_in += files_in;
                self.rows_out += rows_out;
            }
            // Nothing to merge in a lone file: it is hour-merged already.
            None => known.0.extend(lone),
        }
    }
}

/// A lone file by its location, size and modification time.
type LoneFileKey = (ObjectPath, u64, DateTime<Utc>);

/// Over hours whose one invocation file is known to be hour-merged, by the file's location, size
/// and modification time: the minute pass looks at every hour that is over, and would otherwise
/// read each such file's footer again every minute (about 4 ms a file at 4M invocations an
/// hour, so seconds a minute on the flusher's thread for a month of hours).
#[derive(Debug, Default)]
pub struct KnownHourMerged(HashSet<LoneFileKey>);

/// Lone invocation files (an over hour's one file, not hour-merged yet) a tiered pass rewrites at
/// most; the next are left to the next pass. A store written by an older build has one in every
/// hour: rewritten all at once, they held the flusher for minutes (7.6 at 100M invocations), and
/// with it the collector's writes once four WAL segments were waiting. One per pass is one hour
/// merge's time, as an ordinary hour's, and keeps up with quiet hours (one file each);
/// `faasobs compact` rewrites them all at once.
pub const LONE_FILES_REWRITTEN_PER_PASS: usize = 1;

/// Compacts every partition that has at least two live files (and merges an over hour's lone
/// invocation file that is not hour-merged yet, [`LONE_FILES_REWRITTEN_PER_PASS`] of them at the
/// tiered level), at the level `wanted(partition, live_file_count)` says (`None`: not at all).
/// Superseded files (replaced by an earlier pass, or left by an interrupted one) are deleted
/// when `replaced` says they are due, and so are the files this pass replaces. `known` remembers
/// the lone files found hour-merged, between passes.
///
/// Hour merges at the untiered level (a closing store's) run up to `merges_at_once` together,
/// each on a thread of its own (see `merge_hours`).
pub async fn compact(
    objects: &Objects,
    wanted: impl Fn(&Partition, usize) -> Option<CompactionLevel>,
    known: &mut KnownHourMerged,
    merges_at_once: usize,
    replaced: ReplacedFiles,
) -> Result<CompactionOutcome, StoreError> {
    let mut outcome = CompactionOutcome::default();
    let mut lone_files_seen = HashSet::new();
    let mut lone_files_rewritten = 0;
    for table in Table::ALL {
        let listing = list_table(objects.store.as_ref(), table).await?;
        replaced.delete_due(objects, &listing).await?;
        let mut by_partition: BTreeMap<Partition, Vec<DataFile>> = BTreeMap::new();
        for file in listing.live {
            by_partition.entry(file.partition).or_default().push(file);
        }
        // Untiered hour merges wait until the table's other work is done, and then run together.
        let mut untiered_merges = Vec::new();
        for (partition, files) in by_partition {
            let Some(level) = wanted(&partition, files.len()) else {
                continue;
            };
            // An hour merge also rewrites a lone file that is not hour-merged yet.
            if level != CompactionLevel::Runs && table == Table::Invocations {
                let lone = (files.len() == 1).then(|| {
                    let meta = &files[0].meta;
                    (meta.location.clone(), meta.size, meta.last_modified)
                });
                let tiered = level == CompactionLevel::WholeHour;
                if let Some(key) = &lone {
                    lone_files_seen.insert(key.clone());
                    if known.0.contains(key)
                        || (tiered && lone_files_rewritten >= LONE_FILES_REWRITTEN_PER_PASS)
                    {
                        continue;
                    }
                }
                if !tiered {
                    untiered_merges.push((partition, files, lone));
                    continue;
                }
                let merged = merge_hour(
                    objects,
                    partition,
                    files,
                    COMPACTION_INPUT_BUDGET_BYTES,
                    true,
                )
                .await?;
                lone_files_rewritten += usize::from(merged.is_some() && lone.is_some());
                if merged.is_some() {
                    replaced.after_compacting(objects, partition).await?;
                }
                outcome.count_hour_merge(merged, lone, known);
                continue;
            }
            if files.len() < 2 {
                continue;
            }
            let runs = runs_within_budget(files, COMPACTION_INPUT_BUDGET_BYTES);
            if runs.is_empty() {
                continue;
            }
            outcome.partitions += 1;
            for run in runs {
                let (files_in, rows_out) = compact_run(objects, partition, &run).await?;
                outcome.files_in += files_in;
                outcome.rows_out += rows_out;
            }
            replaced.after_compacting(objects, partition).await?;
        }
        let (jobs, lone): (Vec<_>, Vec<_>) = untiered_merges
            .into_iter()
            .map(|(partition, files, lone)| ((partition, files), lone))
            .unzip();
        let partitions: Vec<_> = jobs.iter().map(|(partition, _)| *partition).collect();
        let merged = merge_hours(objects, jobs, merges_at_once).await?;
        for ((merged, lone), partition) in merged.into_iter().zip(lone).zip(partitions) {
            if merged.is_some() {
                replaced.after_compacting(objects, partition).await?;
            }
            outcome.count_hour_merge(merged, lone, known);
        }
    }
    // Forget the files that are gone or no longer alone.
    known.0.retain(|key| lone_files_seen.contains(key));
    Ok(outcome)
}

/// Runs the untiered hour merges of `jobs` (partition and live files), `at_once` together on
/// threads of their own, and returns what each did, in the order of `jobs`. Hours merged together
/// are never neighbours: a merge reads the request ids of the hours on either side, which a merge
/// of one of those would be replacing. So even hours go first, then odd ones. The threads hold a
/// merge's memory each; a closing import's merges were otherwise the one busy core of its last
/// seconds (5M log lines: 11 of 36 s).
async fn merge_hours(
    objects: &Objects,
    jobs: Vec<(Partition, Vec<DataFile>)>,
    at_once: usize,
) -> Result<Vec<Option<(usize, usize)>>, StoreError> {
    let mut results = vec![None; jobs.len()];
    let untiered_merge = |partition: Partition, files: Vec<DataFile>| {
        merge_hour(
            objects,
            partition,
            files,
            COMPACTION_INPUT_BUDGET_BYTES,
            false,
        )
    };
    if at_once <= 1 || jobs.len() <= 1 {
        for (i, (partition, files)) in jobs.into_iter().enumerate() {
            results[i] = untiered_merge(partition, files).await?;
        }
        return Ok(results);
    }
    let (even, odd): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .enumerate()
        .partition(|(_, (partition, _))| partition.hour.rem_euclid(2) == 0);
    for parity in [even, odd] {
        let mut parity = parity.into_iter().peekable();
        while parity.peek().is_some() {
            let wave: Vec<_> = parity.by_ref().take(at_once).collect();
            let merged = std::thread::scope(|scope| {
                let threads: Vec<_> = wave
                    .into_iter()
                    .map(|(i, (partition, files))| {
                        let thread = scope.spawn(move || {
                            tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .map_err(|source| StoreError::Io {
                                    path: objects.local_root.clone().unwrap_or_default(),
                                    source,
                                })?
                                .block_on(untiered_merge(partition, files))
                        });
                        (i, thread)
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|(i, thread)| {
                        let merged = thread
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        merged.map(|m| (i, m))
                    })
                    .collect::<Vec<_>>()
            });
            for result in merged {
                let (i, merged) = result?;
                results[i] = merged;
            }
        }
    }
    Ok(results)
}

async fn compact_run(
    objects: &Objects,
    partition: Partition,
    files: &[DataFile],
) -> Result<(usize, usize), StoreError> {
    if let Some(copied) = copy_run(objects, partition, files).await? {
        return Ok(copied);
    }
    let table = partition.table;
    let mut batches = Vec::new();
    let mut files_read = 0;
    let mut decoded_bytes = 0;
    for file in files {
        let file_batches = decode_parquet_batches(table, objects.get(&file.meta.location).await?)?;
        if file_batches
            .first()
            .is_some_and(|b| b.schema().fields() != table.schema().fields())
        {
            // A file of an earlier schema version that cannot be upgraded (spans and logs with
            // their resources' attributes on every row) stays as it is; the analyzer reads both.
            break;
        }
        decoded_bytes += file_batches
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum::<usize>();
        batches.extend(file_batches);
        files_read += 1;
        if decoded_bytes > COMPACTION_DECODED_BUDGET_BYTES && files_read >= 2 {
            // Well-compressed files can decode far larger than their size: stop at the memory
            // budget and compact the files read so far (still neighbours).
            break;
        }
    }
    if files_read < 2 {
        return Ok((0, 0));
    }
    let files = &files[..files_read];
    // Each step's input is dropped as soon as its output exists: holding the decoded files,
    // their concatenation, the sorted copy and the encoded file at once was the collector's
    // peak memory under the ingest benchmark (heaptrack: 145 + 116 + 115 + 67 MiB). The rows
    // are copied into order a chunk at a time as they are encoded, from the decoded batches
    // (only invocation fragments that share a request id are copied, to merge them), with no
    // sorted copy.
    let merged = merge_rows(table, batches)?;
    let rows = merged.iter().map(|b| b.num_rows()).sum();
    let encoded = encode_sorted(table, &merged)?;
    drop(merged);
    let range = DataFile::covering_range(files);
    objects.put_durably(&partition.file(range), encoded).await?;
    Ok((files.len(), rows))
}

/// The fewest rows a row group may hold for a compaction to copy it as it is. Smaller ones (the
/// files of a collector that receives little) are rewritten, so that a busy hour's files do not
/// end as hundreds of tiny row groups.
pub const MIN_COPIED_ROW_GROUP_ROWS: usize = 16 * 1024;

/// Compacts a run whose rows need no merging by copying its files' row groups into the new file
/// as they are encoded (`row_group_copy`): no row is decoded, sorted or encoded again, and each
/// row group stays one sorted run. Logs never merge; invocation files merge only where a request
/// id repeats among them, which their `request_id` columns, read first, tell. Spans are always
/// rewritten, to drop a span sent twice. `None` when the run must be rewritten: spans or resources,
/// a repeated request id, a file of an earlier schema, or a row group of fewer than
/// [`MIN_COPIED_ROW_GROUP_ROWS`] rows.
///
/// Found by the ingest benchmark: rewriting runs of invocation files, each of whose ids came in
/// one span, was about a tenth of the flusher's CPU, most of it encoding Parquet again.
async fn copy_run(
    objects: &Objects,
    partition: Partition,
    files: &[DataFile],
) -> Result<Option<(usize, usize)>, StoreError> {
    let table = partition.table;
    if !matches!(table, Table::Invocations | Table::Logs) {
        return Ok(None);
    }
    let Some(inputs) = copyable_inputs(objects, files).await? else {
        return Ok(None);
    };
    let small_row_group = inputs.iter().any(|(_, metadata)| {
        metadata
            .row_groups()
            .iter()
            .any(|row_group| (row_group.num_rows() as usize) < MIN_COPIED_ROW_GROUP_ROWS)
    });
    if small_row_group
        || (table == Table::Invocations
            && !RepeatedIds::of(objects, files).await?.hashes.is_empty())
    {
        return Ok(None);
    }
    let range = DataFile::covering_range(files);
    let rows = copy_row_groups(
        objects,
        table,
        &inputs,
        writer_properties(table, true),
        None,
        &partition.file(range),
    )
    .await?;
    Ok(Some((files.len(), rows)))
}

#[cfg(test)]
mod tests {
    use object_store::ObjectMeta;

    use super::*;
    use crate::store::layout::SegmentRange;

    fn file(lo: u64, hi: u64, size: u64) -> DataFile {
        let partition = Partition {
            table: Table::Spans,
            hour: 0,
        };
        let range = SegmentRange { lo, hi };
        DataFile {
            partition,
            range,
            meta: ObjectMeta {
                location: partition.file(range),
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size,
                e_tag: None,
                version: None,
            },
        }
    }

    fn ranges(runs: &[Vec<DataFile>]) -> Vec<Vec<(u64, u64)>> {
        runs.iter()
            .map(|r| r.iter().map(|f| (f.range.lo, f.range.hi)).collect())
            .collect()
    }

    #[test]
    fn a_leading_file_waits_until_the_files_behind_it_add_up_to_its_size() {
        // An earlier output of 40 and three new segments of 5: not worth rewriting 40 yet.
        let files = vec![
            file(1, 8, 40),
            file(9, 9, 5),
            file(10, 10, 5),
            file(11, 11, 5),
        ];
        assert_eq!(
            ranges(&runs_within_budget(files, 100)),
            vec![vec![(9, 9), (10, 10), (11, 11)]]
        );
        // The 15 they became and five more segments of 5 (40 together): now 40 joins them.
        let files = vec![
            file(1, 8, 40),
            file(9, 11, 15),
            file(12, 12, 5),
            file(13, 13, 5),
            file(14, 14, 5),
            file(15, 15, 5),
            file(16, 16, 5),
        ];
        assert_eq!(ranges(&runs_within_budget(files, 100))[0][0], (1, 8));
        // Tiers all the way down: 20 > 8 + 4 and 8 > 4 leave one file, which is no run.
        let files = vec![file(1, 1, 20), file(2, 2, 8), file(3, 3, 4)];
        assert!(runs_within_budget(files, 100).is_empty());
    }

    #[test]
    fn runs_are_neighbours_within_the_budget_and_skip_files_already_that_large() {
        // A done file (1-10) between small ones, out of order as listed.
        let files = vec![
            file(12, 12, 30),
            file(1, 10, 100),
            file(11, 11, 30),
            file(13, 13, 30),
            file(14, 14, 30),
            file(15, 15, 30),
            file(0, 0, 5),
        ];
        let runs = runs_within_budget(files, 100);
        // 0-0 alone before the done file is no run; 11..13 fill the budget (90), 14 and 15 follow.
        assert_eq!(
            ranges(&runs),
            vec![vec![(11, 11), (12, 12), (13, 13)], vec![(14, 14), (15, 15)]]
        );
        // No run's union covers a file outside it.
        for run in &runs {
            let union = DataFile::covering_range(run);
            assert!(!SegmentRange { lo: 1, hi: 10 }.superseded_by(&union));
        }
    }
}
