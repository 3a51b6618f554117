//! The durable store: a data directory with a write-ahead log and hourly Parquet partitions.
//!
//! ```text
//!  receivers ──write()──▶ [bounded queue] ──▶ WAL writer thread ──rotate──▶ flusher thread
//!                 ▲                             append + fsync              segment → Parquet
//!                 └──────── ack after fsync ◀───┘                           compaction, retention
//! ```
//!
//! - [`StoreHandle::write`] resolves only when the records are synced to the WAL. Writes that
//!   arrive while a sync is running share the next one (group commit).
//! - The queue in front of the WAL writer is bounded: [`StoreHandle::try_write`] answers
//!   [`StoreError::Overloaded`] when it is full, so receivers can tell senders to retry; and the
//!   writer waits for the flusher when closed segments pile up, so memory and disk stay bounded.
//! - The active segment is closed when it reaches `segment_max_bytes` or is older than
//!   `flush_interval`; the flusher writes it to Parquet, then deletes it.
//! - At open, leftover temporary files are deleted, every segment on disk is replayed into Parquet
//!   (a torn last write is dropped: it was never acknowledged), and compaction finishes any
//!   compaction a crash interrupted.
//! - Files a compaction replaced stay, superseded, for `replaced_files_kept` (5 minutes) while
//!   the store is open, so that a query that listed them still reads them; a closing store
//!   deletes them at once ([`ReplacedFiles`]).
//! - One process at a time writes a data directory: `DATA/LOCK` is locked while a store is open.
//! - The Parquet files may be kept in a bucket of S3-compatible object storage instead of the
//!   directory, which keeps the WAL and remembers the bucket ([`object_storage`]). Such a store
//!   reserves its segment ids ahead in the WAL folder ([`wal::RESERVED_IDS_FILE`]), so that a
//!   collector opens while the bucket does not answer (`opens_while_bucket_is_down`). It claims
//!   the bucket prefix before it lists or writes anything there, and checks the claim before each
//!   write, so that one data directory writes a prefix ([`claim`]).
//! - An import opens its store with [`WalMode::InMemory`]: segments are gathered in memory and
//!   handed to the flusher as batches, and a write is acknowledged once appended. A crash loses
//!   the rows not yet in Parquet; the input can be imported again.

pub mod claim;
pub mod compaction;
pub mod flush;
pub mod hour_merge;
pub mod instances;
pub mod layout;
pub mod object_storage;
pub mod retention;
pub mod row_group_copy;
pub mod writer;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use instances::InstancesSeen;
use object_store::local::LocalFileSystem;
use tokio::sync::{mpsc, oneshot};

use crate::model::{Records, Table};
use crate::wal::{self, MemorySegment, SegmentWriter, WalError, encode_frame};
use claim::ClaimState;
pub use compaction::{CompactionLevel, CompactionOutcome, ReplacedFiles};
pub use layout::{Partition, WAL_DIR};
pub use writer::Objects;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Where the Parquet files are kept is unclear or contradicts what the directory holds.
    #[error("{0}")]
    ParquetStore(String),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Schema(#[from] crate::model::invocation::SchemaMismatch),
    #[error("the store is overloaded: its write queue is full, retry later")]
    Overloaded,
    #[error("the store is closed")]
    Closed,
    /// The bucket prefix is claimed by another data directory ([`claim`]).
    #[error("{0}")]
    Claimed(String),
    #[error("data directory {path} is in use by another faasobs process (its LOCK file is held)")]
    Locked { path: PathBuf },
    #[error(
        "rows of in-memory segment {segment} could not be written to Parquet and are lost: {reason}"
    )]
    LostInMemory { segment: u64, reason: String },
}

impl StoreError {
    /// True when the same write may succeed later (overload, a full disk, an I/O error).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            StoreError::Schema(_) | StoreError::Locked { .. } | StoreError::Claimed(_)
        )
    }
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// A WAL segment is closed and flushed when it grows past this many bytes.
    pub segment_max_bytes: u64,
    /// A WAL segment with records is closed and flushed when it is this old.
    pub flush_interval: Duration,
    /// Writes waiting for the WAL writer before `try_write` answers `Overloaded`.
    pub queue_depth: usize,
    /// Closed segments waiting for the flusher before the writer stops taking writes.
    pub max_pending_segments: usize,
    /// A partition is compacted once it has this many files.
    pub compact_after_files: usize,
    /// Partitions whose hour ended longer ago than this are deleted; `None` keeps everything.
    pub retention: Option<Duration>,
    /// How long the files a compaction replaced are kept (superseded, skipped by readers that
    /// list after it) while the store is open, for the queries that listed them before it
    /// ([`compaction::ReplacedFiles`]). A closing store deletes them.
    pub replaced_files_kept: Duration,
    /// Hour merges that run together, a thread each, when the store closes. Each holds a merge's
    /// memory; the collector keeps one, a batch command (an import) one per core.
    pub closing_merges_at_once: usize,
    /// Threads a flush encodes a segment's files on at once (one per table and hour). The
    /// collector keeps one: its flusher then leaves the other cores to the receivers (on two
    /// cores, a flush on both took the ingest benchmark from 9.1 to 9.9 CPU-s per million spans
    /// and its peak from 238 to 315 MiB). An import, which nothing else waits on, uses one per
    /// core: its reading finishes long before the flushes do.
    pub flush_encoding_threads: usize,
    /// Where acknowledged writes wait for their flush.
    pub wal: WalMode,
    /// A bucket to keep the Parquet files in (`s3://BUCKET/PREFIX`) instead of the data
    /// directory, which then remembers it ([`object_storage`]). `None`: where the directory
    /// keeps them already, itself unless it names a bucket.
    pub parquet_store: Option<url::Url>,
    /// Opens even when the bucket the directory remembers does not answer (a collector's store:
    /// what it acknowledges waits in the WAL, and is flushed once the bucket answers). Otherwise
    /// that refuses the open, as a bucket that a first `--parquet-store` names always does.
    pub opens_while_bucket_is_down: bool,
    /// Claims the bucket prefix even when another data directory's claim names it: that
    /// directory is gone for good ([`claim`]). Otherwise such a claim refuses the open.
    pub take_over_prefix: bool,
}

/// Where a store keeps acknowledged writes until they are in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalMode {
    /// In WAL segments on disk, synced before a write is acknowledged, and replayed after a
    /// crash: the collector's, whose senders are told their data is stored.
    OnDisk,
    /// In segments in memory, handed to the flusher as batches: an import's, whose input can be
    /// read again. A crash loses what was not in Parquet yet. Writing, syncing and reading back
    /// the segments was about a tenth of an import's CPU.
    InMemory,
}

/// How long a running store keeps the files a compaction replaced: longer than a query takes
/// from listing the files to reading the last of them (a dashboard over a bucket reuses a listing
/// for 10 s; the benchmark's slowest query over 100M invocations takes under a minute).
pub const REPLACED_FILES_KEPT: Duration = Duration::from_secs(300);

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            data_dir: data_dir.into(),
            // Larger segments mean fewer, larger flush files and fewer compactions. Ingest
            // benchmark, CPU-s per million spans and peak memory: 32 MiB 24.7 and 354 MiB,
            // 64 MiB 21.4 and 395 MiB, 96 MiB 18.6-19.3 and 393-434 MiB, 128 MiB 19.2 and
            // 516 MiB (over the collector's 512 MiB target, for no gain).
            segment_max_bytes: 96 * 1024 * 1024,
            flush_interval: Duration::from_secs(10),
            queue_depth: 256,
            max_pending_segments: 4,
            compact_after_files: 16,
            retention: None,
            replaced_files_kept: REPLACED_FILES_KEPT,
            closing_merges_at_once: 1,
            flush_encoding_threads: 1,
            wal: WalMode::OnDisk,
            parquet_store: None,
            opens_while_bucket_is_down: false,
            take_over_prefix: false,
        }
    }

    /// The config of a batch command (an import, `compact`): as [`StoreConfig::new`], with the
    /// closing hour merges and each flush's encoding on [`batch_threads`].
    pub fn for_batch(data_dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            closing_merges_at_once: batch_threads(),
            flush_encoding_threads: batch_threads(),
            ..StoreConfig::new(data_dir)
        }
    }
}

/// The threads a batch command (an import, `compact`) works on: one per core, at most four.
pub fn batch_threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The object store of a local data directory, creating the directory if needed.
pub fn local_objects(data_dir: &Path) -> Result<Objects, StoreError> {
    fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let root = fs::canonicalize(data_dir).map_err(|source| StoreError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    Ok(Objects {
        store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
        local_root: Some(root),
        scratch: None,
    })
}

/// The folder in a data directory where a store whose files are in a bucket writes an hour
/// merge's scratch pieces.
pub const SCRATCH_DIR: &str = "scratch";

/// The scratch folder of the data directory `data_dir` ([`SCRATCH_DIR`]), emptied of what a
/// crash left there (nothing else writes it while the store is open).
fn scratch_folder(data_dir: &Path) -> Result<Arc<dyn object_store::ObjectStore>, StoreError> {
    let dir = data_dir.join(SCRATCH_DIR);
    let io = |source| StoreError::Io {
        path: dir.clone(),
        source,
    };
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    fs::create_dir_all(&dir).map_err(io)?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
}

/// The bucket the store in `data_dir` keeps its Parquet files in: the one it remembers, else
/// `wanted` (checked to answer; the store remembers it once it has claimed it), with whether it
/// is new to the directory; `None` keeps them in the directory. A directory with Parquet files of
/// its own does not move them to a bucket, which would hide them.
async fn open_parquet_store(
    data_dir: &Path,
    local: &Objects,
    wanted: Option<&url::Url>,
    opens_while_down: bool,
) -> Result<Option<(object_storage::Bucket, url::Url, bool)>, StoreError> {
    let remembered = object_storage::remembered(data_dir)?;
    let was_remembered = remembered.is_some();
    let url = match (wanted, remembered) {
        (None, None) => return Ok(None),
        (Some(wanted), Some(remembered)) if *wanted != remembered => {
            return Err(StoreError::ParquetStore(format!(
                "{} keeps its Parquet files in {}, not {}: give that --parquet-store, or another \
                 --data",
                data_dir.display(),
                object_storage::display_url(&remembered),
                object_storage::display_url(wanted),
            )));
        }
        (_, Some(remembered)) => remembered,
        (Some(wanted), None) => {
            for table in Table::ALL {
                let listing = layout::list_table(local.store.as_ref(), table).await?;
                if !listing.live.is_empty() {
                    return Err(StoreError::ParquetStore(format!(
                        "{} keeps Parquet files of its own ({}/ and maybe others), which \
                         keeping new ones in {} would hide: give another --data, or move its \
                         table folders there first",
                        data_dir.display(),
                        table.name(),
                        object_storage::display_url(wanted),
                    )));
                }
            }
            wanted.clone()
        }
    };
    let bucket = object_storage::Bucket::open(&url)?;
    // Before a first flush: a mistyped bucket or refused credentials fail now, and are not
    // remembered. A remembered one has answered before: a collector opens without it.
    if let Err(e) = bucket.objects().store.list(None).try_next().await {
        let why = format!(
            "{}: {e} ({})",
            object_storage::display_url(&url),
            object_storage::CONFIGURED_BY
        );
        if !(was_remembered && opens_while_down) {
            return Err(StoreError::ParquetStore(why));
        }
        tracing::warn!(
            "the bucket does not answer ({why}); receiving anyway: what is acknowledged waits \
             in the WAL until it answers"
        );
    }
    Ok(Some((bucket, url, !was_remembered)))
}

/// What [`Store::close`] and [`StoreHandle::flush`] report.
#[derive(Debug, Default, Clone)]
pub struct FlushReport {
    pub segments: usize,
    pub rows: std::collections::BTreeMap<Table, usize>,
    /// Partitions compacted since the last report (at a close, the final compaction's too), and
    /// the files they were made of.
    pub partitions_compacted: usize,
    pub files_compacted: usize,
}

/// What happened when the store was opened.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub segments_replayed: usize,
    pub rows_replayed: usize,
    pub temporary_files_removed: usize,
    pub partitions_expired: usize,
}

enum Command {
    Write {
        rows: Encoded,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    Flush {
        ack: oneshot::Sender<Result<FlushReport, StoreError>>,
    },
    Close {
        ack: oneshot::Sender<Result<FlushReport, StoreError>>,
    },
    Tick,
}

enum FlushJob {
    Segment(u64),
    /// An in-memory segment's id and batches.
    InMemory(u64, Vec<(Table, RecordBatch)>),
    /// Answered once every segment sent before it is flushed; `final_compaction` compacts all.
    Barrier {
        final_compaction: bool,
        ack: oneshot::Sender<Result<FlushReport, StoreError>>,
    },
}

/// The first in-memory segment whose flush failed, and why: its rows are lost, and the store
/// takes no more writes, so an import stops at its next write instead of reading the rest of its
/// input for nothing.
#[derive(Debug, Default)]
struct LostRows(OnceLock<(u64, String)>);

impl LostRows {
    fn error(&self) -> Option<StoreError> {
        self.0
            .get()
            .map(|(segment, reason)| StoreError::LostInMemory {
                segment: *segment,
                reason: reason.clone(),
            })
    }
}

/// Counters the flusher keeps, read by the collector's `/metrics`.
#[derive(Debug, Default)]
struct FlushCounters {
    segments: AtomicU64,
    micros_total: AtomicU64,
    last_micros: AtomicU64,
    /// Flushes of a WAL segment that failed (each retry that fails again counts).
    failures: AtomicU64,
}

/// A snapshot of the store's state, for health and metrics.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Writes waiting for the WAL writer.
    pub queue_depth: usize,
    /// The most writes that can wait before writes are refused as overloaded.
    pub queue_capacity: usize,
    /// Bytes in WAL segments not yet written to Parquet.
    pub wal_bytes: u64,
    /// WAL segments written to Parquet since the store opened.
    pub segments_flushed: u64,
    /// Total and last time spent writing a segment to Parquet.
    pub flush_seconds_total: f64,
    pub last_flush_seconds: f64,
    /// Flushes of a WAL segment that failed since the store opened, retries included: the
    /// segment waits in the WAL meanwhile (a full disk, a bucket that cannot be reached).
    pub flush_failures: u64,
}

/// Rows encoded for a store's WAL by a [`RowEncoder`].
pub struct EncodedRows(Encoded);

enum Encoded {
    /// WAL frames, one per table ([`WalMode::OnDisk`]).
    Frames(Vec<Vec<u8>>),
    /// Arrow batches, one per table ([`WalMode::InMemory`]).
    Batches(Vec<(Table, RecordBatch)>),
}

impl Encoded {
    fn is_empty(&self) -> bool {
        match self {
            Encoded::Frames(frames) => frames.is_empty(),
            Encoded::Batches(batches) => batches.is_empty(),
        }
    }
}

/// Encodes rows as a store's WAL takes them, for [`StoreHandle::write_encoded`], on the thread
/// that made them, which then frees them itself: freed on another thread, their memory went back
/// to the making thread's allocator arena the slow way.
#[derive(Debug, Clone, Copy)]
pub struct RowEncoder {
    wal: WalMode,
    sort_rows: bool,
}

impl RowEncoder {
    /// For a store opened with `wal`.
    pub fn new(wal: WalMode) -> RowEncoder {
        RowEncoder {
            wal,
            sort_rows: false,
        }
    }

    /// A [`Self::new`] that also sorts each batch's rows as the store's files are sorted
    /// (function, then time), for a writer of large batches of many functions' rows: an import.
    /// A flush copies the rows of a segment into that order, and rows of one function that lie
    /// together in a batch are copied as one run. A batch of interleaved functions made a run of
    /// each row, each copy from a random place in the segment (a third of an import's flusher in
    /// `perf`); a batch sorted here, on the thread that made it, is sorted where it is still in
    /// the cache.
    pub fn sorting_rows(wal: WalMode) -> RowEncoder {
        RowEncoder {
            wal,
            sort_rows: true,
        }
    }

    /// `records` encoded for the WAL. Encoded as batches (a WAL in memory), their inferred cold
    /// starts are set when the store takes them ([`StoreHandle::write_encoded`]), in the order it
    /// takes them; encoded as frames here, they stay unset (the store's own [`StoreHandle::write`]
    /// sets them before it makes the frames).
    pub fn encode(&self, records: &Records) -> Result<EncodedRows, StoreError> {
        self.encode_inferring(records, None)
    }

    /// [`Self::encode`], with the inferred cold starts set from `instances` first.
    fn encode_inferring(
        &self,
        records: &Records,
        instances: Option<&InstancesSeen>,
    ) -> Result<EncodedRows, StoreError> {
        if records.is_empty() {
            return Ok(EncodedRows(Encoded::Frames(Vec::new())));
        }
        let mut batches = records.to_batches();
        for (table, batch) in &mut batches {
            // Spans are flushed in the order they came, so sorting them would be wasted.
            if self.sort_rows && batch.num_rows() > 1 && !table.flushed_in_arrival_order() {
                *batch = writer::sort_batch(*table, batch)?;
            }
            if let Some(instances) = instances {
                infer_cold_starts(instances, *table, batch);
            }
        }
        Ok(EncodedRows(match self.wal {
            WalMode::OnDisk => Encoded::Frames(frames_of(&batches)?),
            WalMode::InMemory => Encoded::Batches(batches),
        }))
    }
}

/// Remembers the instances of the store's newest inferred rows ([`InstancesSeen::remember_stored`]);
/// one that cannot is told, and opens all the same: only the inference of cold starts suffers.
async fn remember_stored_instances(instances: &InstancesSeen, objects: &Objects) {
    if let Err(e) = instances.remember_stored(objects).await {
        tracing::warn!(
            "could not read the instances of the newest stored invocations ({e}): the next \
             invocation of each running instance that reports no cold start is taken as one"
        );
    }
}

/// Sets the inferred cold starts of `batch` if it holds invocation rows.
fn infer_cold_starts(instances: &InstancesSeen, table: Table, batch: &mut RecordBatch) {
    if table == Table::Invocations
        && let Some(inferred) = instances.infer_cold_starts(batch)
    {
        *batch = inferred;
    }
}

/// `records` as WAL frames, one per table, as [`crate::wal::SegmentWriter::append`] takes them.
pub fn wal_frames(records: &Records) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(frames_of(&records.to_batches())?)
}

/// A WAL frame for each of `batches`.
fn frames_of(batches: &[(Table, RecordBatch)]) -> Result<Vec<Vec<u8>>, WalError> {
    batches
        .iter()
        .map(|(table, batch)| encode_frame(*table, batch))
        .collect()
}

/// A cheap, cloneable handle for writing to an open store.
#[derive(Clone)]
pub struct StoreHandle {
    commands: mpsc::Sender<Command>,
    wal_dir: Arc<PathBuf>,
    flushes: Arc<FlushCounters>,
    encoder: RowEncoder,
    /// The instances written so far, for the cold starts no source told ([`instances`]).
    instances: Arc<InstancesSeen>,
}

impl StoreHandle {
    /// Stores `records`, waiting for room in the queue; resolves once they are durable in the WAL
    /// (appended, for a store whose WAL is in memory).
    pub async fn write(&self, records: &Records) -> Result<(), StoreError> {
        self.send(self.encode(records)?).await
    }

    /// `records` encoded by the store's encoder, their inferred cold starts set.
    fn encode(&self, records: &Records) -> Result<EncodedRows, StoreError> {
        self.encoder
            .encode_inferring(records, Some(&self.instances))
    }

    /// [`Self::write`] of rows encoded already, by a [`RowEncoder`] of this store's [`WalMode`].
    /// Rows encoded as batches (a WAL in memory: an import's) get their inferred cold starts
    /// here, in the order they are written.
    pub async fn write_encoded(&self, mut rows: EncodedRows) -> Result<(), StoreError> {
        if let Encoded::Batches(batches) = &mut rows.0 {
            for (table, batch) in batches {
                infer_cold_starts(&self.instances, *table, batch);
            }
        }
        self.send(rows).await
    }

    /// Queues `rows` for the WAL and waits until they are durable there.
    async fn send(&self, rows: EncodedRows) -> Result<(), StoreError> {
        if rows.0.is_empty() {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.commands
            .send(Command::Write { rows: rows.0, ack })
            .await
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores `records` if the queue has room, else fails at once with [`StoreError::Overloaded`];
    /// resolves once they are durable in the WAL.
    pub async fn try_write(&self, records: &Records) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let permit = self.commands.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(()) => StoreError::Closed,
        })?;
        let rows = self.encode(records)?.0;
        let (ack, done) = oneshot::channel();
        permit.send(Command::Write { rows, ack });
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// The queue, WAL and flush figures right now.
    pub fn stats(&self) -> StoreStats {
        let wal_bytes = fs::read_dir(self.wal_dir.as_path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        StoreStats {
            queue_depth: self.commands.max_capacity() - self.commands.capacity(),
            queue_capacity: self.commands.max_capacity(),
            wal_bytes,
            segments_flushed: self.flushes.segments.load(Ordering::Relaxed),
            flush_seconds_total: self.flushes.micros_total.load(Ordering::Relaxed) as f64 / 1e6,
            last_flush_seconds: self.flushes.last_micros.load(Ordering::Relaxed) as f64 / 1e6,
            flush_failures: self.flushes.failures.load(Ordering::Relaxed),
        }
    }

    /// Writes everything acknowledged so far to Parquet.
    pub async fn flush(&self) -> Result<FlushReport, StoreError> {
        let (ack, done) = oneshot::channel();
        self.commands
            .send(Command::Flush { ack })
            .await
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }
}

/// An open store. Dropping it without [`Store::close`] is safe: what was acknowledged is in the
/// WAL and is replayed at the next open.
pub struct Store {
    handle: StoreHandle,
    objects: Objects,
    data_dir: PathBuf,
    /// The bucket the Parquet files are kept in (none: the data directory).
    parquet_store: Option<url::Url>,
    recovery: RecoveryReport,
    threads: Vec<thread::JoinHandle<()>>,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `config.data_dir`, replaying its WAL.
    pub async fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let local = local_objects(&config.data_dir)?;
        let data_dir = local.local_root.clone().expect("local store");
        let lock_path = data_dir.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked { path: data_dir });
        }
        let bucket = open_parquet_store(
            &data_dir,
            &local,
            config.parquet_store.as_ref(),
            config.opens_while_bucket_is_down,
        )
        .await?;
        let in_bucket = bucket.is_some();
        let (objects, parquet_store, to_remember) = match bucket {
            None => (local, None, false),
            Some((bucket, url, new)) => (
                Objects {
                    scratch: Some(scratch_folder(&data_dir)?),
                    ..bucket.objects()
                },
                Some(url),
                new,
            ),
        };
        let wal_dir = data_dir.join(WAL_DIR);
        fs::create_dir_all(&wal_dir).map_err(|source| StoreError::Io {
            path: wal_dir.clone(),
            source,
        })?;

        let (jobs, job_queue) = std_mpsc::sync_channel::<FlushJob>(config.max_pending_segments);
        let (opened, on_open) = oneshot::channel();
        let flushes = Arc::new(FlushCounters::default());
        let lost = Arc::new(LostRows::default());
        let claiming = match &parquet_store {
            None => Claiming::NotNeeded,
            Some(url) => Claiming::Pending {
                prefix: object_storage::display_url(url).to_string(),
                data_dir: data_dir.clone(),
            },
        };
        let flusher = {
            let objects = objects.clone();
            let wal_dir = wal_dir.clone();
            let config = config.clone();
            let flushes = flushes.clone();
            let lost = lost.clone();
            thread::Builder::new()
                .name("faasobs-flusher".into())
                .spawn(move || {
                    let setup = FlusherSetup {
                        objects,
                        wal_dir,
                        config,
                        counters: flushes,
                        lost,
                        claiming,
                    };
                    run_flusher(setup, job_queue, opened)
                })
                .map_err(|source| StoreError::Io {
                    path: data_dir.clone(),
                    source,
                })?
        };
        let (next_segment, recovery) = on_open.await.map_err(|_| StoreError::Closed)??;
        // Claimed (a prefix another directory writes refuses the open before this): remembered.
        if let Some(url) = parquet_store.as_ref().filter(|_| to_remember) {
            object_storage::remember(&data_dir, url)?;
        }
        let instances = InstancesSeen::new();
        if in_bucket {
            // A bucket that does not answer must not hold the open up (`opens_while_bucket_is_down`):
            // rows written before this is done are inferred without the instances stored.
            let (instances, objects) = (instances.clone(), objects.clone());
            tokio::spawn(async move { remember_stored_instances(&instances, &objects).await });
        } else {
            remember_stored_instances(&instances, &objects).await;
        }
        let mut reserved = ReservedIds {
            bound: in_bucket.then_some(0),
        };
        reserved.cover(&wal_dir, next_segment)?;

        let active = match config.wal {
            WalMode::OnDisk => {
                ActiveSegment::OnDisk(SegmentWriter::create(&wal_dir, next_segment)?)
            }
            WalMode::InMemory => ActiveSegment::InMemory(MemorySegment::new(next_segment)),
        };
        let (commands, command_queue) = mpsc::channel(config.queue_depth.max(1));
        let writer = {
            let config = config.clone();
            let wal_dir = wal_dir.clone();
            thread::Builder::new()
                .name("faasobs-wal".into())
                .spawn(move || {
                    run_wal_writer(active, reserved, wal_dir, config, lost, command_queue, jobs)
                })
                .map_err(|source| StoreError::Io {
                    path: data_dir.clone(),
                    source,
                })?
        };
        let ticker = {
            let commands = commands.downgrade();
            thread::Builder::new()
                .name("faasobs-tick".into())
                .spawn(move || {
                    // Ends when every handle is gone, or when the writer has stopped (closed)
                    // even though some handles are still held.
                    while let Some(commands) = commands.upgrade() {
                        if let Err(mpsc::error::TrySendError::Closed(_)) =
                            commands.try_send(Command::Tick)
                        {
                            break;
                        }
                        drop(commands);
                        thread::sleep(Duration::from_millis(250));
                    }
                })
                .map_err(|source| StoreError::Io {
                    path: data_dir.clone(),
                    source,
                })?
        };
        Ok(Store {
            handle: StoreHandle {
                commands,
                wal_dir: Arc::new(wal_dir),
                flushes,
                encoder: RowEncoder::new(config.wal),
                instances,
            },
            objects,
            data_dir,
            parquet_store,
            recovery,
            threads: vec![writer, flusher, ticker],
            _lock: lock,
        })
    }

    /// A handle for writing.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// The store's objects (for readers in the same process).
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// The data directory, canonicalized.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The bucket the Parquet files are kept in, when not in the data directory.
    pub fn parquet_store(&self) -> Option<&url::Url> {
        self.parquet_store.as_ref()
    }

    /// What replay found at open.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Flushes everything to Parquet, compacts every partition with more than one file and stops.
    pub async fn close(self) -> Result<FlushReport, StoreError> {
        let (ack, done) = oneshot::channel();
        let sent = self.handle.commands.send(Command::Close { ack }).await;
        let Store {
            handle, threads, ..
        } = self;
        drop(handle);
        let report = match sent {
            Ok(()) => done.await.map_err(|_| StoreError::Closed)?,
            Err(_) => Err(StoreError::Closed),
        };
        tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        report
    }
}

/// The segment writes are appended to, on disk or in memory ([`WalMode`]).
enum ActiveSegment {
    OnDisk(SegmentWriter),
    InMemory(MemorySegment),
}

impl ActiveSegment {
    fn id(&self) -> u64 {
        match self {
            ActiveSegment::OnDisk(segment) => segment.id(),
            ActiveSegment::InMemory(segment) => segment.id(),
        }
    }

    fn len(&self) -> u64 {
        match self {
            ActiveSegment::OnDisk(segment) => segment.len(),
            ActiveSegment::InMemory(segment) => segment.len(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            ActiveSegment::OnDisk(segment) => segment.is_empty(),
            ActiveSegment::InMemory(segment) => segment.is_empty(),
        }
    }

    fn opened(&self) -> Instant {
        match self {
            ActiveSegment::OnDisk(segment) => segment.opened(),
            ActiveSegment::InMemory(segment) => segment.opened(),
        }
    }

    /// Appends one write's rows, whole or not at all.
    fn append(&mut self, rows: Encoded) -> Result<(), StoreError> {
        match (self, rows) {
            (ActiveSegment::OnDisk(segment), Encoded::Frames(frames)) => segment.append(&frames)?,
            (ActiveSegment::OnDisk(segment), Encoded::Batches(batches)) => {
                segment.append(&frames_of(&batches)?)?
            }
            (ActiveSegment::InMemory(segment), Encoded::Batches(batches)) => {
                segment.append(batches)
            }
            (ActiveSegment::InMemory(_), Encoded::Frames(_)) => {
                return Err(WalError::Encode(arrow::error::ArrowError::InvalidArgumentError(
                    "rows encoded for a WAL on disk were written to a store whose WAL is in memory"
                        .into(),
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Makes what was appended durable (on disk; nothing to do in memory).
    fn sync(&mut self) -> Result<(), StoreError> {
        match self {
            ActiveSegment::OnDisk(segment) => Ok(segment.sync()?),
            ActiveSegment::InMemory(_) => Ok(()),
        }
    }

    /// Closes this segment for the flusher and opens the next one in its place.
    fn rotate(&mut self, wal_dir: &Path) -> Result<FlushJob, StoreError> {
        let next = self.id() + 1;
        Ok(match self {
            ActiveSegment::OnDisk(segment) => {
                segment.sync()?;
                let next = SegmentWriter::create(wal_dir, next)?;
                FlushJob::Segment(std::mem::replace(segment, next).id())
            }
            ActiveSegment::InMemory(segment) => {
                let closed = std::mem::replace(segment, MemorySegment::new(next));
                FlushJob::InMemory(closed.id(), closed.into_records())
            }
        })
    }
}

/// The segment ids reserved on disk ahead of their use, for a store whose Parquet files are in a
/// bucket ([`wal::RESERVED_IDS_FILE`]); `bound: None` reserves nothing.
struct ReservedIds {
    bound: Option<u64>,
}

impl ReservedIds {
    /// Makes sure segment `id` is reserved before it is used.
    fn cover(&mut self, wal_dir: &Path, id: u64) -> Result<(), StoreError> {
        if let Some(bound) = &mut self.bound
            && id >= *bound
        {
            *bound = id + wal::IDS_RESERVED_AHEAD;
            wal::reserve_ids(wal_dir, *bound)?;
        }
        Ok(())
    }
}

fn run_wal_writer(
    mut active: ActiveSegment,
    mut reserved: ReservedIds,
    wal_dir: PathBuf,
    config: StoreConfig,
    lost: Arc<LostRows>,
    mut commands: mpsc::Receiver<Command>,
    jobs: std_mpsc::SyncSender<FlushJob>,
) {
    const MAX_GROUP: usize = 1024;
    let mut rotate = |active: &mut ActiveSegment| -> Result<(), StoreError> {
        if active.is_empty() {
            return Ok(());
        }
        reserved.cover(&wal_dir, active.id() + 1)?;
        let job = active.rotate(&wal_dir)?;
        // Blocks while the flusher is `max_pending_segments` behind: backpressure.
        jobs.send(job).map_err(|_| StoreError::Closed)
    };
    while let Some(first) = commands.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match commands.try_recv() {
                Ok(c) => group.push(c),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        let mut barriers = Vec::new();
        let mut closing = None;
        for command in group {
            match command {
                Command::Write { rows, ack } => {
                    match lost.error().map_or_else(|| active.append(rows), Err) {
                        Ok(()) => acks.push(ack),
                        Err(e) => {
                            let _ = ack.send(Err(e));
                        }
                    }
                }
                Command::Flush { ack } => barriers.push(ack),
                Command::Close { ack } => closing = Some(ack),
                Command::Tick => {}
            }
        }
        if !acks.is_empty() {
            match active.sync() {
                Ok(()) => acks.into_iter().for_each(|a| {
                    let _ = a.send(Ok(()));
                }),
                Err(e) => {
                    let message = e.to_string();
                    tracing::error!("WAL sync failed: {message}");
                    for a in acks {
                        let _ = a.send(Err(StoreError::Io {
                            path: wal_dir.clone(),
                            source: std::io::Error::other(message.clone()),
                        }));
                    }
                }
            }
        }
        let due = active.len() >= config.segment_max_bytes
            || (!active.is_empty() && active.opened().elapsed() >= config.flush_interval);
        if (due || !barriers.is_empty() || closing.is_some())
            && let Err(e) = rotate(&mut active)
        {
            tracing::error!("could not close WAL segment {}: {e}", active.id());
        }
        for ack in barriers {
            let _ = jobs.send(FlushJob::Barrier {
                final_compaction: false,
                ack,
            });
        }
        if let Some(ack) = closing {
            let _ = jobs.send(FlushJob::Barrier {
                final_compaction: true,
                ack,
            });
            break;
        }
    }
    // The active segment is empty or synced; an empty one is removed so it is not replayed.
    if let ActiveSegment::OnDisk(segment) = &active
        && segment.is_empty()
    {
        let _ = wal::remove_segment(&wal_dir, segment.id());
    }
}

/// What a flusher is started with.
struct FlusherSetup {
    objects: Objects,
    wal_dir: PathBuf,
    config: StoreConfig,
    counters: Arc<FlushCounters>,
    lost: Arc<LostRows>,
    claiming: Claiming,
}

/// Where a flusher stands with the claim on its bucket prefix ([`claim`]).
enum Claiming {
    /// Its files are in the data directory, whose `LOCK` is the claim.
    NotNeeded,
    /// Not claimed yet: the store is opening, or opened while the bucket did not answer.
    Pending { prefix: String, data_dir: PathBuf },
    /// Claimed.
    Held {
        claim: claim::Claim,
        prefix: String,
        data_dir: PathBuf,
    },
    /// Taken over by another data directory, or found unsafe to write: why. Nothing more is
    /// written to the prefix; segments wait in the WAL until the store is opened again.
    Lost(String),
}

struct Flusher {
    objects: Objects,
    wal_dir: PathBuf,
    config: StoreConfig,
    counters: Arc<FlushCounters>,
    runtime: tokio::runtime::Runtime,
    /// Segments whose flush failed (a full disk, say), retried on every tick.
    failed: BTreeSet<u64>,
    /// The newest segment at open, when it is among `failed` (its bucket did not answer): a
    /// torn last write at its end was never acknowledged, and is dropped when it is flushed.
    newest_at_open: Option<u64>,
    /// Set when an in-memory segment fails to flush: later writes and barriers fail.
    lost: Arc<LostRows>,
    report: FlushReport,
    known_hour_merged: compaction::KnownHourMerged,
    claiming: Claiming,
}

impl Flusher {
    fn flush(&mut self, id: u64, newest_at_open: bool) -> Result<BTreeSet<Partition>, StoreError> {
        self.ensure_claim()?;
        let path = self.wal_dir.join(wal::segment_file_name(id));
        let started = Instant::now();
        let outcome = self.runtime.block_on(flush::flush_segment(
            &self.objects,
            id,
            &path,
            self.config.flush_encoding_threads,
        ))?;
        self.count_flush(started);
        match &outcome.trailing {
            Some((bytes, why)) if !newest_at_open => {
                let aside = wal::set_aside_damaged(&path)?;
                tracing::error!(
                    "WAL segment {id} is damaged ({why}, {bytes} bytes after the last whole record); \
                     its whole records are stored and the file is kept as {}",
                    aside.display()
                );
            }
            other => {
                if let Some((bytes, why)) = other {
                    tracing::warn!(
                        "WAL segment {id}: dropped a torn last write ({why}, {bytes} bytes) that was never acknowledged"
                    );
                }
                wal::remove_segment(&self.wal_dir, id)?;
            }
        }
        Ok(self.count_rows(outcome))
    }

    /// Writes an in-memory segment's batches to Parquet. They are gone afterwards: when this
    /// fails, they are lost, and later writes and barriers (an import's close) fail with the
    /// reason.
    fn flush_in_memory(
        &mut self,
        id: u64,
        records: Vec<(Table, RecordBatch)>,
    ) -> Option<BTreeSet<Partition>> {
        let started = Instant::now();
        let flushed = match self.ensure_claim() {
            Ok(()) => self.runtime.block_on(flush::flush_records(
                &self.objects,
                id,
                records,
                self.config.flush_encoding_threads,
            )),
            Err(e) => Err(e),
        };
        match flushed {
            Ok(outcome) => {
                self.count_flush(started);
                Some(self.count_rows(outcome))
            }
            Err(e) => {
                tracing::error!("flushing in-memory segment {id} failed; its rows are lost: {e}");
                let _ = self.lost.0.set((id, e.to_string()));
                None
            }
        }
    }

    fn count_flush(&self, started: Instant) {
        let micros = started.elapsed().as_micros() as u64;
        self.counters.segments.fetch_add(1, Ordering::Relaxed);
        self.counters
            .micros_total
            .fetch_add(micros, Ordering::Relaxed);
        self.counters.last_micros.store(micros, Ordering::Relaxed);
    }

    /// Adds a flush's rows to the report; returns the partitions it wrote.
    fn count_rows(&mut self, outcome: flush::FlushOutcome) -> BTreeSet<Partition> {
        self.report.segments += 1;
        for (table, rows) in outcome.rows {
            *self.report.rows.entry(table).or_default() += rows;
        }
        outcome.partitions
    }

    /// Compacts the partitions a flush just wrote that have gathered enough files.
    fn compact_after_flush(&mut self, partitions: &BTreeSet<Partition>) {
        let threshold = self.config.compact_after_files;
        self.compact_if(|p, files| {
            (partitions.contains(p) && files >= threshold).then_some(CompactionLevel::Runs)
        });
    }

    /// Compacts with one hour merge at a time, as a running store does, keeping the files it
    /// replaces for the queries that listed them.
    fn compact_if(&mut self, wanted: impl Fn(&Partition, usize) -> Option<CompactionLevel>) {
        let kept = ReplacedFiles::KeptFor(self.config.replaced_files_kept);
        self.compact_with(wanted, 1, kept);
    }

    /// Compacts the partitions `wanted` names, unless a segment waits to be flushed again.
    /// A compaction names its file by the union of its inputs' segment ranges, which would cover
    /// a waiting segment's id between them: its own file, flushed later, would then be superseded
    /// at once, and its rows skipped by readers and deleted.
    fn compact_with(
        &mut self,
        wanted: impl Fn(&Partition, usize) -> Option<CompactionLevel>,
        merges_at_once: usize,
        replaced: ReplacedFiles,
    ) {
        if let Some(waiting) = self.failed.first() {
            tracing::debug!("compaction waits until WAL segment {waiting} is flushed");
            return;
        }
        if let Err(e) = self.ensure_claim() {
            tracing::debug!("no compaction: {e}");
            return;
        }
        match self.runtime.block_on(compaction::compact(
            &self.objects,
            wanted,
            &mut self.known_hour_merged,
            merges_at_once,
            replaced,
        )) {
            Ok(o) if o.partitions > 0 => {
                self.report.partitions_compacted += o.partitions;
                self.report.files_compacted += o.files_in;
                tracing::debug!(
                    "compacted {} partitions: {} files into {} rows",
                    o.partitions,
                    o.files_in,
                    o.rows_out
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!("compaction failed (will retry): {e}"),
        }
    }

    fn retention(&mut self) -> Result<usize, StoreError> {
        let Some(keep) = self.config.retention else {
            return Ok(0);
        };
        self.ensure_claim()?;
        let cutoff = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
            - i64::try_from(keep.as_nanos()).unwrap_or(i64::MAX);
        let deleted = self
            .runtime
            .block_on(retention::apply_retention(&self.objects, cutoff))?;
        if !deleted.is_empty() {
            tracing::info!("retention deleted {} expired partitions", deleted.len());
        }
        Ok(deleted.len())
    }

    /// Makes sure the store may write to its bucket prefix: claims it if it is not claimed yet
    /// (the bucket did not answer when the store opened) or its claim is gone, or checks that
    /// the claim is still this store's (one `HEAD`, before each flush, compaction pass and
    /// retention pass). A claim found taken over is lost for good: nothing more is written there.
    fn ensure_claim(&mut self) -> Result<(), StoreError> {
        match &self.claiming {
            Claiming::NotNeeded => Ok(()),
            Claiming::Lost(why) => Err(StoreError::Claimed(why.clone())),
            Claiming::Held {
                claim,
                prefix,
                data_dir,
            } => match self.runtime.block_on(claim.state(&self.objects))? {
                ClaimState::Held => Ok(()),
                ClaimState::Missing => {
                    tracing::warn!("the claim on {prefix} is gone: claiming it again");
                    self.claiming = Claiming::Pending {
                        prefix: prefix.clone(),
                        data_dir: data_dir.clone(),
                    };
                    self.ensure_claim()
                }
                ClaimState::Replaced => {
                    let why = format!(
                        "{prefix} was taken over by another data directory: this one writes \
                         nothing more there, and what it acknowledged waits in its WAL ({}). \
                         Stop the other directory's writer and start this one again: its waiting \
                         segments are then stored after the other's files",
                        self.wal_dir.display()
                    );
                    tracing::error!("{why}");
                    self.claiming = Claiming::Lost(why.clone());
                    Err(StoreError::Claimed(why))
                }
            },
            Claiming::Pending { prefix, data_dir } => {
                // Segment ids went on from the ones reserved (or from the files listed at open).
                // Files above those mean another directory wrote the prefix meanwhile; the
                // waiting segments are numbered after them only by an open.
                let (prefix, data_dir) = (prefix.clone(), data_dir.clone());
                let claim = self.runtime.block_on(claim::claim(
                    &self.objects,
                    &data_dir,
                    &prefix,
                    false,
                ))?;
                let highest = self.runtime.block_on(highest_stored_id(&self.objects))?;
                let reserved = wal::reserved_ids(&self.wal_dir)?;
                if reserved.is_some_and(|bound| highest >= bound) {
                    let why = format!(
                        "{prefix} holds files another data directory wrote while this one did not \
                         hold it: start this one again, so that its waiting segments are stored \
                         after them"
                    );
                    tracing::error!("{why}");
                    self.claiming = Claiming::Lost(why.clone());
                    self.runtime.block_on(claim.release(&self.objects))?;
                    return Err(StoreError::Claimed(why));
                }
                self.claiming = Claiming::Held {
                    claim,
                    prefix,
                    data_dir,
                };
                Ok(())
            }
        }
    }

    /// Deletes the claim on the bucket prefix, when the store closes with nothing waiting.
    fn release_claim(&mut self) {
        if let Claiming::Held { claim, .. } = &self.claiming
            && let Err(e) = self.runtime.block_on(claim.release(&self.objects))
        {
            tracing::warn!("could not delete the claim on the bucket prefix: {e}");
        }
    }

    fn retry_failed(&mut self) {
        for id in std::mem::take(&mut self.failed) {
            if let Err(e) = self.flush(id, self.newest_at_open == Some(id)) {
                tracing::error!("flushing WAL segment {id} failed again (will retry): {e}");
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                self.failed.insert(id);
            }
        }
    }

    /// Replays the segments on disk; returns the next segment id and what was done. A store
    /// that may open while its bucket is down, and whose bucket does not answer, takes the next
    /// id from the ids it reserved, and leaves its segments to be flushed once the bucket
    /// answers.
    fn recover(&mut self) -> Result<(u64, RecoveryReport), StoreError> {
        let mut report = RecoveryReport::default();
        let mut max_seen = 0u64;
        let mut bucket_down = false;
        // A bucket prefix is claimed before anything in it is listed or deleted. A bucket that
        // does not answer is met again by the listing below.
        let mut took_over = false;
        let mut unanswered = None;
        if let Claiming::Pending { prefix, data_dir } = &self.claiming {
            let (prefix, data_dir) = (prefix.clone(), data_dir.clone());
            match self.runtime.block_on(claim::claim(
                &self.objects,
                &data_dir,
                &prefix,
                self.config.take_over_prefix,
            )) {
                Ok(claim) => {
                    took_over = claim.took_over;
                    self.claiming = Claiming::Held {
                        claim,
                        prefix,
                        data_dir,
                    };
                }
                Err(e @ StoreError::Claimed(_)) => return Err(e),
                Err(e) => unanswered = Some(e),
            }
        }
        for table in Table::ALL {
            let listed = match unanswered.take() {
                Some(e) => Err(e),
                None => self
                    .runtime
                    .block_on(layout::list_table(self.objects.store.as_ref(), table))
                    .map_err(StoreError::from),
            };
            let listing = match listed {
                Ok(listing) => listing,
                Err(e) if self.config.opens_while_bucket_is_down => {
                    // Without the files' names, only the reserved ids tell which are free.
                    let Some(reserved) = wal::reserved_ids(&self.wal_dir)? else {
                        return Err(e);
                    };
                    tracing::warn!(
                        "the bucket does not answer ({e}); segment ids go on from {reserved}, \
                         below which they were reserved"
                    );
                    max_seen = reserved.saturating_sub(1);
                    bucket_down = true;
                    break;
                }
                Err(e) => return Err(e),
            };
            report.temporary_files_removed += listing.temporary.len();
            self.runtime
                .block_on(self.objects.delete_all(listing.temporary.iter()))?;
            max_seen = max_seen.max(listing.highest_id());
        }
        let stored_max = max_seen;
        if took_over {
            max_seen = max_seen.saturating_add(claim::TAKEOVER_ID_GAP);
        }
        let mut segments = wal::list_segments(&self.wal_dir)?;
        // Files at or above the ids this directory reserved were written by another directory
        // that took the prefix over: the segments waiting here are numbered after them, or their
        // files would take the names of that directory's files or be superseded by them.
        if !bucket_down
            && !segments.is_empty()
            && wal::reserved_ids(&self.wal_dir)?.is_some_and(|bound| stored_max >= bound)
        {
            let local_max = segments.last().map_or(0, |(id, _)| *id);
            let from = max_seen.max(local_max) + 1;
            tracing::warn!(
                "another data directory has written this store's bucket prefix since this one \
                 last did: this one's {} waiting WAL segments are numbered from {from}, after \
                 that directory's files",
                segments.len()
            );
            segments = wal::renumber_segments(&self.wal_dir, &segments, from)?;
        }
        let newest = segments.last().map(|(id, _)| *id);
        for (id, _) in &segments {
            max_seen = max_seen.max(*id);
            if bucket_down {
                self.failed.insert(*id);
                continue;
            }
            self.flush(*id, Some(*id) == newest)?;
            report.segments_replayed += 1;
        }
        report.rows_replayed = self.report.rows.values().sum();
        self.report = FlushReport::default();
        if bucket_down {
            self.newest_at_open = newest;
            return Ok((max_seen + 1, report));
        }
        // Finish compactions a crash interrupted, and merge what replay wrote. An over hour's
        // lone file that is not hour-merged yet is left to the maintenance passes, one a minute
        // (see `compaction::LONE_FILES_REWRITTEN_PER_PASS`): a store from an older build has one
        // in every hour, and rewriting them all here kept a collector from serving for minutes
        // (7.6 at 100M invocations).
        let now = now_ns();
        self.compact_if(|p, files| {
            if !hour_is_over(p, now) {
                Some(CompactionLevel::Runs)
            } else {
                (files > 1).then_some(CompactionLevel::WholeHour)
            }
        });
        report.partitions_expired = self.retention()?;
        Ok((max_seen + 1, report))
    }
}

/// The highest segment id in the names of the stored files (0 when there are none).
async fn highest_stored_id(objects: &Objects) -> Result<u64, StoreError> {
    let mut highest = 0;
    for table in Table::ALL {
        let listing = layout::list_table(objects.store.as_ref(), table).await?;
        highest = highest.max(listing.highest_id());
    }
    Ok(highest)
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// True when `partition`'s hour ended more than a minute before `now` (ns): rows still arriving
/// for it are late, and it is merged as a whole.
fn hour_is_over(partition: &Partition, now: i64) -> bool {
    partition.end_ns().saturating_add(60_000_000_000) < now
}

fn run_flusher(
    setup: FlusherSetup,
    jobs: std_mpsc::Receiver<FlushJob>,
    opened: oneshot::Sender<Result<(u64, RecoveryReport), StoreError>>,
) {
    let FlusherSetup {
        objects,
        wal_dir,
        config,
        counters,
        lost,
        claiming,
    } = setup;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(source) => {
            let _ = opened.send(Err(StoreError::Io {
                path: wal_dir,
                source,
            }));
            return;
        }
    };
    let mut flusher = Flusher {
        objects,
        wal_dir,
        config,
        counters,
        runtime,
        failed: BTreeSet::new(),
        newest_at_open: None,
        lost,
        report: FlushReport::default(),
        known_hour_merged: compaction::KnownHourMerged::default(),
        claiming,
    };
    match flusher.recover() {
        Ok(next) => {
            let _ = opened.send(Ok(next));
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    }
    let mut last_maintenance = Instant::now();
    loop {
        match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(FlushJob::Segment(id)) => match flusher.flush(id, false) {
                Ok(partitions) => flusher.compact_after_flush(&partitions),
                Err(e) => {
                    tracing::error!("flushing WAL segment {id} failed (will retry): {e}");
                    flusher.counters.failures.fetch_add(1, Ordering::Relaxed);
                    flusher.failed.insert(id);
                }
            },
            Ok(FlushJob::InMemory(id, records)) => {
                if let Some(partitions) = flusher.flush_in_memory(id, records) {
                    flusher.compact_after_flush(&partitions);
                }
            }
            Ok(FlushJob::Barrier {
                final_compaction,
                ack,
            }) => {
                flusher.retry_failed();
                let result = match flusher.failed.first() {
                    Some(id) => Err(StoreError::Io {
                        path: flusher.wal_dir.join(wal::segment_file_name(*id)),
                        source: std::io::Error::other("segment could not be flushed yet"),
                    }),
                    None => {
                        if final_compaction {
                            let at_once = flusher.config.closing_merges_at_once;
                            flusher.compact_with(
                                |_, _| Some(CompactionLevel::WholeHourFully),
                                at_once,
                                ReplacedFiles::DeletedAtOnce,
                            );
                            flusher.release_claim();
                        }
                        // Rows lost from memory fail the barrier, after what was stored is
                        // compacted.
                        match flusher.lost.error() {
                            Some(lost) => Err(lost),
                            None => Ok(std::mem::take(&mut flusher.report)),
                        }
                    }
                };
                let _ = ack.send(result);
                if final_compaction {
                    return;
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if last_maintenance.elapsed() >= Duration::from_secs(60) {
            last_maintenance = Instant::now();
            flusher.retry_failed();
            // Partitions whose hour is over get no more files in the normal course: merge them.
            let now = now_ns();
            flusher.compact_if(|p, _| hour_is_over(p, now).then_some(CompactionLevel::WholeHour));
            if let Err(e) = flusher.retention() {
                tracing::error!("retention failed (will retry): {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LogRecord, Records};
    use arrow::array::AsArray;

    /// A store with a bucket reserves segment ids a thousand ahead, on disk, and writes the bound
    /// again only when an id reaches it; one without reserves nothing.
    #[test]
    fn segment_ids_are_reserved_ahead_and_the_bound_moves_only_when_reached() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(wal::reserved_ids(dir.path()).unwrap(), None);
        let mut reserved = ReservedIds { bound: Some(0) };
        reserved.cover(dir.path(), 5).unwrap();
        let ahead = wal::IDS_RESERVED_AHEAD;
        assert_eq!(wal::reserved_ids(dir.path()).unwrap(), Some(5 + ahead));
        reserved.cover(dir.path(), 5 + ahead - 1).unwrap();
        assert_eq!(wal::reserved_ids(dir.path()).unwrap(), Some(5 + ahead));
        reserved.cover(dir.path(), 5 + ahead).unwrap();
        assert_eq!(wal::reserved_ids(dir.path()).unwrap(), Some(5 + 2 * ahead));
        assert_eq!(wal::list_segments(dir.path()).unwrap(), []);

        let local = tempfile::tempdir().unwrap();
        ReservedIds { bound: None }.cover(local.path(), 5).unwrap();
        assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0);
    }

    /// An encoder for an import sorts each batch by function, then time; rows of one function
    /// at one time keep their order.
    #[test]
    fn an_encoder_sorting_rows_sorts_each_batch_as_files_are_sorted() {
        let logs = (0..9)
            .map(|i| LogRecord {
                time: 100 - (i / 6) as i64,
                body: Some(format!("{i}")),
                function_name: Some(["b", "a", "c"][i % 3].into()),
                source: "test",
                ..Default::default()
            })
            .collect();
        let records = Records {
            logs,
            ..Default::default()
        };
        let bodies = |encoder: RowEncoder| match encoder.encode(&records).unwrap().0 {
            Encoded::Batches(batches) => {
                let (table, batch) = &batches[0];
                assert_eq!(*table, Table::Logs);
                let bodies = batch.column_by_name("body").unwrap().as_string::<i32>();
                bodies
                    .iter()
                    .map(|b| b.unwrap().to_string())
                    .collect::<Vec<_>>()
            }
            Encoded::Frames(_) => panic!("a WAL in memory takes batches"),
        };
        let unsorted = bodies(RowEncoder::new(WalMode::InMemory));
        assert_eq!(unsorted, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
        let sorted = bodies(RowEncoder::sorting_rows(WalMode::InMemory));
        assert_eq!(sorted, ["7", "1", "4", "6", "0", "3", "8", "2", "5"]);
    }
}
