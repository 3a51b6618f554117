//! A store whose WAL is in memory (an import's) stores exactly what a store with its WAL on disk
//! stores, writes no WAL segment, and still replays the segments a crashed collector left.

use std::path::Path;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::query::{OutputFormat, render};
use faasobs_analyzer::session::AnalyzerConfig;
use faasobs_collector::model::invocation::Sources;
use faasobs_collector::model::{AttributeValue, Invocation, LogRecord, Records, Source};
use faasobs_collector::store::{EncodedRows, RowEncoder, Store, StoreConfig, WAL_DIR, WalMode};
use faasobs_collector::wal::list_segments;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const START: i64 = 1_795_424_400_000_000_000;

fn invocations(ids: std::ops::Range<usize>, source: Source) -> Records {
    let report = source == Source::PlatformReport;
    Records {
        invocations: ids
            .map(|id| Invocation {
                function_name: format!("fn-{}", id % 3),
                request_id: format!("req-{id}"),
                start_time: START + id as i64 * 1_000_000,
                duration_ms: Some(if report { 19.5 } else { 20.0 }),
                memory_size_mb: report.then_some(512),
                trace_id: (!report).then_some([id as u8; 16]),
                sources: Sources::of(source),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A store whose segments close at 16 KiB, so that a few hundred rows fill several.
fn config(data: &Path, wal: WalMode) -> StoreConfig {
    StoreConfig {
        segment_max_bytes: 16 * 1024,
        flush_interval: Duration::from_secs(3600),
        wal,
        ..StoreConfig::new(data)
    }
}

async fn open(data: &Path, wal: WalMode) -> Store {
    Store::open(config(data, wal)).await.unwrap()
}

/// The spans of `ids`, encoded for a store whose WAL is `wal`.
fn spans_encoded_for(wal: WalMode, ids: std::ops::Range<usize>) -> EncodedRows {
    RowEncoder::new(wal)
        .encode(&invocations(ids, Source::OtlpSpan))
        .unwrap()
}

fn wal_segments(data: &Path) -> usize {
    list_segments(&data.join(WAL_DIR)).unwrap().len()
}

async fn all_invocations(data: &Path) -> String {
    let analyzer = Analyzer::open(data, AnalyzerConfig::default())
        .await
        .unwrap();
    let rows = analyzer
        .query("SELECT * FROM invocations ORDER BY request_id")
        .await
        .unwrap();
    render(&rows, OutputFormat::Csv).unwrap()
}

/// Spans of 0..300, their reports, then reports of 300..500 (written whole and pre-encoded);
/// returns the WAL segments on disk once everything is acknowledged.
async fn write_the_same_rows(store: &Store, wal: WalMode, data: &Path) -> usize {
    let handle = store.handle();
    handle
        .write(&invocations(0..300, Source::OtlpSpan))
        .await
        .unwrap();
    handle
        .write(&invocations(0..300, Source::PlatformReport))
        .await
        .unwrap();
    let encoded = RowEncoder::new(wal)
        .encode(&invocations(300..500, Source::PlatformReport))
        .unwrap();
    handle.write_encoded(encoded).await.unwrap();
    wal_segments(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_its_wal_in_memory_stores_what_one_on_disk_stores_and_writes_no_segment() {
    let on_disk = tempfile::tempdir().unwrap();
    let in_memory = tempfile::tempdir().unwrap();

    let store = open(on_disk.path(), WalMode::OnDisk).await;
    let segments = write_the_same_rows(&store, WalMode::OnDisk, on_disk.path()).await;
    assert!(segments >= 1, "acknowledged rows are in WAL segments");
    let report_on_disk = store.close().await.unwrap();

    let store = open(in_memory.path(), WalMode::InMemory).await;
    let segments = write_the_same_rows(&store, WalMode::InMemory, in_memory.path()).await;
    assert_eq!(segments, 0, "a WAL in memory writes no segment");
    let report_in_memory = store.close().await.unwrap();

    assert!(
        report_in_memory.segments >= 3,
        "the rows filled several in-memory segments: {report_in_memory:?}"
    );
    assert_eq!(report_in_memory.rows, report_on_disk.rows);
    let stored = all_invocations(in_memory.path()).await;
    assert_eq!(stored.lines().count(), 1 + 500, "one row per request id");
    assert_eq!(stored, all_invocations(on_disk.path()).await);
    assert_eq!(wal_segments(in_memory.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_encoded_for_a_wal_in_memory_are_framed_by_a_store_with_its_wal_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), WalMode::OnDisk).await;
    let encoded = spans_encoded_for(WalMode::InMemory, 0..10);
    store.handle().write_encoded(encoded).await.unwrap();
    let segments = list_segments(&dir.path().join(WAL_DIR)).unwrap();
    let bytes: u64 = segments
        .iter()
        .map(|(_, path)| std::fs::metadata(path).unwrap().len())
        .sum();
    // More than the 12-byte header of the segment opened with the store.
    assert!(
        bytes > 1000,
        "the rows are not in the WAL on disk: {bytes} bytes"
    );
    store.close().await.unwrap();
    assert_eq!(all_invocations(dir.path()).await.lines().count(), 1 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_encoded_for_a_wal_on_disk_are_refused_by_one_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), WalMode::InMemory).await;
    let encoded = spans_encoded_for(WalMode::OnDisk, 0..10);
    let error = store.handle().write_encoded(encoded).await.unwrap_err();
    assert!(
        error.to_string().contains("whose WAL is in memory"),
        "{error}"
    );
    store
        .handle()
        .write(&invocations(10..20, Source::OtlpSpan))
        .await
        .unwrap();
    store.close().await.unwrap();
    let stored = all_invocations(dir.path()).await;
    assert!(stored.contains("req-10") && !stored.contains("req-0,"));
    assert_eq!(stored.lines().count(), 1 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_for_an_import_replays_the_wal_a_collector_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), WalMode::OnDisk).await;
    store
        .handle()
        .write(&invocations(0..50, Source::OtlpSpan))
        .await
        .unwrap();
    // Dropped without closing, as a crash leaves it: the acknowledged rows are only in the WAL.
    drop(store);
    assert!(wal_segments(dir.path()) >= 1);

    let store = open(dir.path(), WalMode::InMemory).await;
    assert!(store.recovery().segments_replayed >= 1);
    assert_eq!(store.recovery().rows_replayed, 50);
    store
        .handle()
        .write(&invocations(50..60, Source::OtlpSpan))
        .await
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(wal_segments(dir.path()), 0);
    assert_eq!(all_invocations(dir.path()).await.lines().count(), 1 + 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_an_in_memory_segment_could_not_flush_fail_every_later_write_and_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), WalMode::InMemory).await;
    // A file where the invocations table's folder goes: flushing its rows fails.
    let table = dir.path().join("invocations");
    if table.is_dir() {
        std::fs::remove_dir_all(&table).unwrap();
    }
    std::fs::write(&table, b"in the way").unwrap();
    let handle = store.handle();
    handle
        .write(&invocations(0..300, Source::OtlpSpan))
        .await
        .unwrap();
    // The barrier comes after the segment those rows closed: its flush has failed by then.
    let error = handle.flush().await.unwrap_err().to_string();
    assert!(
        error.contains("could not be written to Parquet and are lost"),
        "{error}"
    );
    let error = handle
        .write(&invocations(300..310, Source::OtlpSpan))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("are lost"), "a write was taken: {error}");
    let error = store.close().await.unwrap_err().to_string();
    assert!(error.contains("are lost"), "{error}");
}

/// Log rows of three functions interleaved, two rows of each function at each time.
fn interleaved_logs(ids: std::ops::Range<usize>) -> Records {
    Records {
        logs: ids
            .map(|id| LogRecord {
                time: START + (id / 6) as i64 * 1_000_000,
                severity_text: Some("INFO".into()),
                body: Some(format!("line {id}")),
                function_name: Some(format!("fn-{}", id % 3)),
                request_id: Some(format!("req-{}", id / 5)),
                source: "powertools",
                attributes: vec![("n".into(), AttributeValue::Int(id as i64))],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every stored log row, file after file in path order, each file's rows as stored.
fn logs_as_stored(data: &Path) -> RecordBatch {
    let mut files: Vec<_> = walk(&data.join("logs"));
    files.sort();
    let mut batches = Vec::new();
    for file in files {
        let file = std::fs::File::open(file).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .filter(|path| path.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

/// An import sorts each batch as it encodes it; the files stored are the same, row for row and
/// in the same order, as those of the same batches not sorted (rows of one function at one time
/// keep the order they came in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_sorted_as_they_are_encoded_are_stored_as_rows_that_are_not() {
    let mut stored = Vec::new();
    for encoder in [
        RowEncoder::new(WalMode::InMemory),
        RowEncoder::sorting_rows(WalMode::InMemory),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), WalMode::InMemory).await;
        for ids in [0..300, 300..600] {
            let encoded = encoder.encode(&interleaved_logs(ids)).unwrap();
            store.handle().write_encoded(encoded).await.unwrap();
        }
        store.close().await.unwrap();
        stored.push(logs_as_stored(dir.path()));
    }
    assert_eq!(stored[0].num_rows(), 600);
    assert_eq!(stored[0], stored[1]);
}
