//! Where things live in the data directory, and which Parquet files are current.
//!
//! ```text
//! DATA/
//!   wal/{id:020}.wal                                   write-ahead-log segments
//!   {table}/{YYYY-MM-DD}/{HH}/{lo:020}-{hi:020}.parquet one table's rows of one UTC hour
//! ```
//!
//! A Parquet file is named by the range `lo..=hi` of WAL segment ids whose rows it holds. A flush
//! of segment `n` writes `{n}-{n}`; compaction of a partition writes `{min lo}-{max hi}` in place
//! of its inputs. A file whose range lies inside another file's range in the same partition is
//! superseded: readers skip it, and a later compaction pass deletes it
//! (`compaction::ReplacedFiles`). This makes every step idempotent: a crash after a compacted file
//! is in place but before its inputs are gone never shows a row twice, and replaying segment `n`
//! after a crash rewrites `{n}-{n}` under the same name.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectMeta;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::model::{NANOS_PER_HOUR, Table};

/// The folder of the write-ahead log inside the data directory.
pub const WAL_DIR: &str = "wal";

/// The suffix of a Parquet file that is still being written.
pub const TEMP_SUFFIX: &str = ".tmp";

/// One hour of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub table: Table,
    /// Hours since the Unix epoch.
    pub hour: i64,
}

impl Partition {
    /// The partition that holds a row of `table` at time `ns` (ns since the epoch, UTC).
    pub fn of(table: Table, ns: i64) -> Partition {
        Partition {
            table,
            hour: ns.div_euclid(NANOS_PER_HOUR),
        }
    }

    /// The partition's folder, e.g. `invocations/2026-11-24/13`.
    pub fn prefix(&self) -> ObjectPath {
        let start = self.start();
        ObjectPath::from(format!(
            "{}/{}/{}",
            self.table.name(),
            start.format("%Y-%m-%d"),
            start.format("%H")
        ))
    }

    /// The first instant of the partition's hour.
    pub fn start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.hour * 3600, 0).unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The first instant after the partition's hour, in ns since the epoch.
    pub fn end_ns(&self) -> i64 {
        (self.hour + 1).saturating_mul(NANOS_PER_HOUR)
    }

    /// The path of the file that holds rows of segments `lo..=hi`.
    pub fn file(&self, range: SegmentRange) -> ObjectPath {
        self.prefix().join(range.file_name())
    }
}

/// A range of WAL segment ids, the name of a Parquet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentRange {
    pub lo: u64,
    pub hi: u64,
}

impl SegmentRange {
    pub fn single(id: u64) -> SegmentRange {
        SegmentRange { lo: id, hi: id }
    }

    pub fn file_name(&self) -> String {
        format!("{:020}-{:020}.parquet", self.lo, self.hi)
    }

    pub fn parse(file_name: &str) -> Option<SegmentRange> {
        let stem = file_name.strip_suffix(".parquet")?;
        let (lo, hi) = stem.split_once('-')?;
        let range = SegmentRange {
            lo: lo.parse().ok()?,
            hi: hi.parse().ok()?,
        };
        (range.lo <= range.hi).then_some(range)
    }

    /// True when `self` lies inside `other` and is not `other` itself.
    pub fn superseded_by(&self, other: &SegmentRange) -> bool {
        self != other && other.lo <= self.lo && self.hi <= other.hi
    }

    pub fn union(&self, other: &SegmentRange) -> SegmentRange {
        SegmentRange {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// A Parquet file of the store, as listed.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub partition: Partition,
    pub range: SegmentRange,
    pub meta: ObjectMeta,
}

impl DataFile {
    /// The smallest range that covers every one of `files`: the name of the file that replaces
    /// them. Panics when there is no file.
    pub fn covering_range(files: &[DataFile]) -> SegmentRange {
        files
            .iter()
            .map(|f| f.range)
            .reduce(|a, b| a.union(&b))
            .expect("a range covers at least one file")
    }
}

/// Everything that listing a table's folder found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Current files, by partition then range.
    pub live: Vec<DataFile>,
    /// Files superseded by a compacted file; safe to delete.
    pub superseded: Vec<DataFile>,
    /// Leftover temporary files of interrupted writes; safe to delete.
    pub temporary: Vec<ObjectPath>,
}

impl Listing {
    /// The highest segment id in the listed files' names, superseded ones too (0 when none).
    pub fn highest_id(&self) -> u64 {
        self.live
            .iter()
            .chain(&self.superseded)
            .map(|file| file.range.hi)
            .max()
            .unwrap_or(0)
    }

    /// When `file` (one of `superseded`) was replaced: the earliest modification time of the
    /// listed files whose range covers its own.
    pub fn replaced_at(&self, file: &DataFile) -> Option<DateTime<Utc>> {
        self.live
            .iter()
            .chain(&self.superseded)
            .filter(|o| o.partition == file.partition && file.range.superseded_by(&o.range))
            .map(|o| o.meta.last_modified)
            .min()
    }
}

fn parse_partition(table: Table, location: &ObjectPath) -> Option<(Partition, String)> {
    let parts: Vec<_> = location.parts().collect();
    let [t, date, hour, file] = parts.as_slice() else {
        return None;
    };
    if t.as_ref() != table.name() {
        return None;
    }
    let date = chrono::NaiveDate::parse_from_str(date.as_ref(), "%Y-%m-%d").ok()?;
    let hour: u32 = hour.as_ref().parse().ok().filter(|h| *h < 24)?;
    let start = date.and_hms_opt(hour, 0, 0)?.and_utc().timestamp();
    Some((
        Partition {
            table,
            hour: start.div_euclid(3600),
        },
        file.as_ref().to_string(),
    ))
}

/// Lists a table's files and sorts them into live, superseded and temporary ones.
pub async fn list_table(
    objects: &dyn ObjectStore,
    table: Table,
) -> Result<Listing, object_store::Error> {
    list_under(objects, table, &ObjectPath::from(table.name())).await
}

/// The live files of one partition, as they are now.
pub async fn list_partition(
    objects: &dyn ObjectStore,
    partition: Partition,
) -> Result<Vec<DataFile>, object_store::Error> {
    Ok(list_partition_files(objects, partition).await?.live)
}

/// Lists one partition's files and sorts them into live, superseded and temporary ones.
pub async fn list_partition_files(
    objects: &dyn ObjectStore,
    partition: Partition,
) -> Result<Listing, object_store::Error> {
    list_under(objects, partition.table, &partition.prefix()).await
}

async fn list_under(
    objects: &dyn ObjectStore,
    table: Table,
    prefix: &ObjectPath,
) -> Result<Listing, object_store::Error> {
    let metas: Vec<ObjectMeta> = objects.list(Some(prefix)).try_collect().await?;
    let mut listing = Listing::default();
    let mut files: Vec<DataFile> = Vec::new();
    for meta in metas {
        if meta.location.as_ref().ends_with(TEMP_SUFFIX) {
            listing.temporary.push(meta.location);
            continue;
        }
        let Some((partition, name)) = parse_partition(table, &meta.location) else {
            continue;
        };
        let Some(range) = SegmentRange::parse(&name) else {
            continue;
        };
        files.push(DataFile {
            partition,
            range,
            meta,
        });
    }
    files.sort_by_key(|f| (f.partition, f.range));
    let mut start = 0;
    while start < files.len() {
        let end = files[start..]
            .iter()
            .position(|f| f.partition != files[start].partition)
            .map_or(files.len(), |p| start + p);
        let group = &files[start..end];
        for file in group {
            if group.iter().any(|o| file.range.superseded_by(&o.range)) {
                listing.superseded.push(file.clone());
            } else {
                listing.live.push(file.clone());
            }
        }
        start = end;
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_are_utc_date_and_hour() {
        // 2026-11-24T13:45:00Z
        let ns = 1_795_527_900_000_000_000;
        let p = Partition::of(Table::Invocations, ns);
        assert_eq!(p.prefix().as_ref(), "invocations/2026-11-24/13");
        assert!(p.end_ns() > ns && p.end_ns() - NANOS_PER_HOUR <= ns);
        let (parsed, _) =
            parse_partition(Table::Invocations, &p.file(SegmentRange::single(3))).unwrap();
        assert_eq!(parsed, p);
    }

    #[test]
    fn file_names_round_trip_and_ranges_supersede() {
        let r = SegmentRange { lo: 3, hi: 9 };
        assert_eq!(SegmentRange::parse(&r.file_name()), Some(r));
        assert!(SegmentRange::single(5).superseded_by(&r));
        assert!(!r.superseded_by(&r));
        assert!(!SegmentRange::single(10).superseded_by(&r));
        assert_eq!(SegmentRange::parse("x.parquet"), None);
        assert_eq!(SegmentRange::parse("9-3.parquet"), None);
    }

    /// A file replaced twice (`1-1` by `1-2`, then `1-2` by `1-3`) was replaced when the first of
    /// those was written; a file of another hour with the same range replaces nothing here.
    #[tokio::test]
    async fn a_superseded_file_was_replaced_when_its_first_replacement_was_written() {
        let store = object_store::memory::InMemory::new();
        let hour = Partition::of(Table::Logs, 0);
        let next_hour = Partition { hour: 1, ..hour };
        let put = |partition: Partition, lo: u64, hi: u64| {
            let path = partition.file(SegmentRange { lo, hi });
            let store = &store;
            async move {
                object_store::ObjectStoreExt::put(store, &path, vec![0u8].into())
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        put(hour, 1, 1).await;
        put(next_hour, 1, 3).await;
        put(hour, 1, 2).await;
        put(hour, 1, 3).await;
        let listing = list_table(&store, Table::Logs).await.unwrap();
        let written = |partition: Partition, lo: u64, hi: u64| {
            listing
                .live
                .iter()
                .chain(&listing.superseded)
                .find(|f| f.partition == partition && f.range == SegmentRange { lo, hi })
                .unwrap()
                .meta
                .last_modified
        };
        let ranges: Vec<_> = listing.superseded.iter().map(|f| f.range).collect();
        assert_eq!(
            ranges,
            [SegmentRange { lo: 1, hi: 1 }, SegmentRange { lo: 1, hi: 2 }]
        );
        assert_eq!(
            listing.replaced_at(&listing.superseded[0]),
            Some(written(hour, 1, 2))
        );
        assert_eq!(
            listing.replaced_at(&listing.superseded[1]),
            Some(written(hour, 1, 3))
        );
        assert!(written(hour, 1, 2) < written(hour, 1, 3));
        assert!(written(next_hour, 1, 3) < written(hour, 1, 2));
        assert_eq!(listing.replaced_at(&listing.live[0]), None);
    }
}
