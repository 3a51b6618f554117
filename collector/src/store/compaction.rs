//! Compaction: rewriting the many small files of a partition as one.
//!
//! All live files of a partition are read, invocation fragments that landed in different files
//! are merged by request id, the rows are sorted again and written as one file named by the union
//! of the inputs' segment ranges; then the inputs are deleted. Until they are, the new file's
//! range supersedes theirs (see `layout`), so no reader ever counts a row twice and a crash at any
//! point leaves a correct store. Query results are identical before and after.

use std::collections::BTreeMap;

use arrow::compute::concat_batches;

use super::StoreError;
use super::flush::merge_rows;
use super::layout::{DataFile, Partition, list_table};
use super::writer::{Objects, decode_parquet, encode_parquet, sort_batch};
use crate::model::Table;

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionOutcome {
    pub partitions: usize,
    pub files_in: usize,
    pub rows_out: usize,
}

/// Compacts every partition for which `wanted(partition, live_file_count)` is true and which has
/// at least two live files. Superseded files left by an interrupted compaction are deleted too.
pub async fn compact(
    objects: &Objects,
    wanted: impl Fn(&Partition, usize) -> bool,
) -> Result<CompactionOutcome, StoreError> {
    let mut outcome = CompactionOutcome::default();
    for table in Table::ALL {
        let listing = list_table(objects.store.as_ref(), table).await?;
        objects
            .delete_all(listing.superseded.iter().map(|f| &f.meta.location))
            .await?;
        let mut by_partition: BTreeMap<Partition, Vec<DataFile>> = BTreeMap::new();
        for file in listing.live {
            by_partition.entry(file.partition).or_default().push(file);
        }
        for (partition, files) in by_partition {
            if files.len() < 2 || !wanted(&partition, files.len()) {
                continue;
            }
            outcome.rows_out += compact_partition(objects, partition, &files).await?;
            outcome.partitions += 1;
            outcome.files_in += files.len();
        }
    }
    Ok(outcome)
}

async fn compact_partition(
    objects: &Objects,
    partition: Partition,
    files: &[DataFile],
) -> Result<usize, StoreError> {
    let table = partition.table;
    let mut batches = Vec::with_capacity(files.len());
    for file in files {
        batches.push(decode_parquet(
            table,
            objects.get(&file.meta.location).await?,
        )?);
    }
    let merged = merge_rows(table, concat_batches(&table.schema(), &batches)?)?;
    let sorted = sort_batch(table, &merged)?;
    let range = files
        .iter()
        .map(|f| f.range)
        .reduce(|a, b| a.union(&b))
        .expect("at least two files");
    objects
        .put_durably(&partition.file(range), encode_parquet(table, &sorted)?)
        .await?;
    objects
        .delete_all(files.iter().map(|f| &f.meta.location))
        .await?;
    Ok(sorted.num_rows())
}
