//! Compaction keeps query results identical; retention drops exactly the expired partitions; the
//! `invocations` view merges fragments in different files into rows of the stored schema.

use std::time::Duration;

use faasobs_analyzer::Analyzer;
use faasobs_analyzer::query::{OutputFormat, render};
use faasobs_analyzer::session::{AnalyzerConfig, query_schema};
use faasobs_collector::model::invocation::Sources;
use faasobs_collector::model::{
    Invocation, InvocationStatus, NANOS_PER_HOUR, Records, Source, Table,
};
use faasobs_collector::store::layout::{SegmentRange, list_table};
use faasobs_collector::store::writer::is_hour_merged;
use faasobs_collector::store::{Partition, Store, StoreConfig};

fn fragment(id: usize, start: i64, source: Source) -> Invocation {
    let report = source == Source::PlatformReport;
    Invocation {
        function_name: format!("fn-{}", id % 3),
        request_id: format!("req-{id}"),
        region: Some("us-east-1".into()),
        memory_size_mb: report.then_some(512),
        trace_id: (!report).then_some([id as u8; 16]),
        trigger: (!report).then(|| "http".into()),
        start_time: start + id as i64 * 1_000_000,
        end_time: Some(start + id as i64 * 1_000_000 + 20_000_000),
        duration_ms: Some(if report { 19.5 } else { 20.0 }),
        billed_duration_ms: report.then_some(20),
        init_duration_ms: (report && id.is_multiple_of(7)).then_some(150.0),
        cold_start: report && id.is_multiple_of(7),
        max_memory_used_mb: report.then_some(90),
        status: if id.is_multiple_of(11) {
            InvocationStatus::Error
        } else {
            InvocationStatus::Success
        },
        error_type: (id.is_multiple_of(11) && !report).then(|| "TypeError".into()),
        sources: Sources::of(source),
        ..Default::default()
    }
}

async fn snapshot(data: &std::path::Path) -> String {
    let analyzer = Analyzer::open(data, AnalyzerConfig::default())
        .await
        .unwrap();
    let batches = analyzer
        .query("SELECT * FROM invocations ORDER BY request_id")
        .await
        .unwrap();
    let summary = analyzer.summary().await.unwrap();
    format!(
        "{}\n{}",
        render(&batches, OutputFormat::Csv).unwrap(),
        render(&summary, OutputFormat::Csv).unwrap()
    )
}

async fn file_count(data: &std::path::Path) -> usize {
    let objects = faasobs_collector::store::local_objects(data).unwrap();
    list_table(objects.store.as_ref(), Table::Invocations)
        .await
        .unwrap()
        .live
        .len()
}

/// True when every live invocations file was written by an hour merge (its footer says so).
async fn hour_merged(data: &std::path::Path) -> bool {
    let objects = faasobs_collector::store::local_objects(data).unwrap();
    let files = list_table(objects.store.as_ref(), Table::Invocations)
        .await
        .unwrap()
        .live;
    for file in files {
        if !is_hour_merged(&objects.read_metadata(&file.meta).await.unwrap()) {
            return false;
        }
    }
    true
}

async fn write_invocations(store: &Store, invocations: Vec<Invocation>) {
    store
        .handle()
        .write(&Records {
            invocations,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A store in `dir` that flushes only when asked (no flush interval within a test) and compacts
/// only when closed, so each flush makes files of its own.
async fn store_flushed_only_when_asked(dir: &std::path::Path) -> Store {
    let mut config = StoreConfig::new(dir);
    config.compact_after_files = usize::MAX;
    config.flush_interval = Duration::from_secs(3600);
    Store::open(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_files_without_changing_any_query_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_flushed_only_when_asked(dir.path()).await;
    let start = 1_795_424_400_000_000_000;
    // Spans first, their reports in a later file, then new invocations: three files per partition.
    let batches = [
        (0..300)
            .map(|i| fragment(i, start, Source::OtlpSpan))
            .collect::<Vec<_>>(),
        (0..300)
            .map(|i| fragment(i, start, Source::PlatformReport))
            .collect(),
        (300..500)
            .map(|i| fragment(i, start, Source::PlatformReport))
            .collect(),
    ];
    for invocations in batches {
        write_invocations(&store, invocations).await;
        store.handle().flush().await.unwrap();
    }
    let files_before = file_count(dir.path()).await;
    assert_eq!(files_before, 3);
    let before = snapshot(dir.path()).await;
    assert!(before.contains("req-299"));

    store.close().await.unwrap(); // compacts every partition with more than one file
    assert_eq!(file_count(dir.path()).await, 1);
    assert!(
        hour_merged(dir.path()).await,
        "closing merges each hour's invocations as a whole"
    );
    let after = snapshot(dir.path()).await;
    assert_eq!(before, after, "compaction changed a query result");

    // And the merged rows are what the merge rules say.
    let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
        .await
        .unwrap();
    let rows = analyzer
        .query("SELECT count(*) AS n, sum(CASE WHEN sources = 'otlp_span,platform_report' THEN 1 ELSE 0 END) AS both, \
                max(duration_ms) AS d FROM invocation_fragments")
        .await
        .unwrap();
    let text = render(&rows, OutputFormat::Csv).unwrap();
    assert_eq!(text.lines().nth(1), Some("500,300,19.5"), "{text}");
}

/// Every stored file of `table` on disk, superseded ones too.
async fn files_on_disk(data: &std::path::Path, table: Table) -> usize {
    let objects = faasobs_collector::store::local_objects(data).unwrap();
    let listing = list_table(objects.store.as_ref(), table).await.unwrap();
    listing.live.len() + listing.superseded.len()
}

async fn invocation_count(analyzer: &Analyzer) -> String {
    let rows = analyzer
        .query("SELECT count(*) AS n FROM invocations")
        .await
        .unwrap();
    render(&rows, OutputFormat::Csv).unwrap()
}

/// A query that listed the store before a running collector compacted it still reads every file
/// it listed: the files a compaction replaced stay, superseded (listings after it skip them), for
/// `replaced_files_kept`, and a later pass deletes them; a closing store deletes them at once.
/// Deleted with the compaction, they were skipped by such a query, which answered fewer rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_listed_files_before_a_compaction_still_reads_them() {
    for kept in [Duration::from_secs(3600), Duration::ZERO] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path());
        config.compact_after_files = 3;
        config.flush_interval = Duration::from_secs(3600);
        config.replaced_files_kept = kept;
        let store = Store::open(config).await.unwrap();
        let start = 1_795_424_400_000_000_000;
        let flush_reports = |from: usize| {
            (from..from + 100)
                .map(|i| fragment(i, start, Source::PlatformReport))
                .collect::<Vec<_>>()
        };
        for from in [0, 100] {
            write_invocations(&store, flush_reports(from)).await;
            store.handle().flush().await.unwrap();
        }
        let listed_before = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        // The third file makes the flusher compact the three into one.
        write_invocations(&store, flush_reports(200)).await;
        store.handle().flush().await.unwrap();
        assert_eq!(
            file_count(dir.path()).await,
            1,
            "the partition is compacted"
        );
        assert_eq!(files_on_disk(dir.path(), Table::Invocations).await, 4);

        assert_eq!(invocation_count(&listed_before).await, "n\n200\n");
        let listed_after = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        assert_eq!(invocation_count(&listed_after).await, "n\n300\n");

        // The next pass (after the next flush) deletes them once they have been kept long enough.
        write_invocations(&store, flush_reports(300)).await;
        store.handle().flush().await.unwrap();
        let on_disk = files_on_disk(dir.path(), Table::Invocations).await;
        if kept.is_zero() {
            assert_eq!(on_disk, 2, "the replaced files are deleted");
        } else {
            assert_eq!(on_disk, 5, "the replaced files are kept for {kept:?}");
        }
        store.close().await.unwrap();
        assert_eq!(files_on_disk(dir.path(), Table::Invocations).await, 1);
        let closed = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        assert_eq!(invocation_count(&closed).await, "n\n400\n");
    }
}

/// A segment whose flush failed waits in the WAL and is flushed again later. Compaction meanwhile
/// must not write a file whose range covers its id: that file would supersede the segment's own
/// file once it is flushed, and its rows would be skipped by readers and deleted. Found by
/// reading the flusher: a flush of segment 2 failed, segment 3's flush compacted files 1 and 3
/// into `1-3`, and the 100 rows of segment 2, acknowledged, were gone once it was flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_waits_for_a_segment_whose_flush_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.segment_max_bytes = 1; // every write is a segment of its own, flushed at once
    config.compact_after_files = 2;
    config.flush_interval = Duration::from_secs(3600);
    config.replaced_files_kept = Duration::ZERO;
    let store = Store::open(config).await.unwrap();
    let start = 1_795_424_400_000_000_000;
    let reports = |ids: std::ops::Range<usize>| {
        ids.map(|i| fragment(i, start, Source::PlatformReport))
            .collect::<Vec<_>>()
    };
    write_invocations(&store, reports(0..100)).await;
    store.handle().flush().await.unwrap();
    assert_eq!(file_count(dir.path()).await, 1);

    // Segment 2's file cannot be put in place while a directory holds its name.
    let blocked = Partition::of(Table::Invocations, start).file(SegmentRange::single(2));
    let blocked = dir.path().join(blocked.as_ref());
    std::fs::create_dir_all(&blocked).unwrap();
    write_invocations(&store, reports(100..200)).await;
    let waited = std::time::Instant::now();
    while store.handle().stats().flush_failures == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "segment 2 never failed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::remove_dir(&blocked).unwrap();

    // Segment 3 is flushed (a second file in the partition) before segment 2 is retried.
    write_invocations(&store, reports(200..400)).await;
    store.handle().flush().await.unwrap();
    let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
        .await
        .unwrap();
    assert_eq!(invocation_count(&analyzer).await, "n\n400\n");
    store.close().await.unwrap();
    assert_eq!(file_count(dir.path()).await, 1, "the close compacts them");
    let closed = Analyzer::open(dir.path(), AnalyzerConfig::default())
        .await
        .unwrap();
    assert_eq!(invocation_count(&closed).await, "n\n400\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invocations_view_merges_ids_across_files_into_the_tables_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.compact_after_files = usize::MAX;
    let store = Store::open(config).await.unwrap();
    let start = 1_795_424_400_000_000_000;
    let spans = (0..20)
        .map(|i| Invocation {
            span_id: Some([i as u8 + 100; 8]),
            ..fragment(i, start, Source::OtlpSpan)
        })
        .collect();
    let reports = (0..20)
        .map(|i| fragment(i, start, Source::PlatformReport))
        .collect();
    for invocations in [spans, reports] {
        write_invocations(&store, invocations).await;
        store.handle().flush().await.unwrap();
    }
    drop(store); // no compaction: the two fragments of each invocation stay in two files
    assert_eq!(file_count(dir.path()).await, 2);

    let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
        .await
        .unwrap();
    let view = analyzer.context().table("invocations").await.unwrap();
    let types = |fields: &arrow::datatypes::Fields| {
        fields
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        types(view.schema().as_arrow().fields()),
        types(query_schema(Table::Invocations).fields())
    );
    // Text is read as views into the Parquet dictionaries, not copied into `Utf8`.
    let function_name = view
        .schema()
        .as_arrow()
        .field_with_name("function_name")
        .unwrap()
        .clone();
    assert_eq!(
        function_name.data_type(),
        &arrow::datatypes::DataType::Utf8View
    );
    let rows = analyzer
        .query(
            "SELECT request_id, encode(trace_id, 'hex') AS trace, encode(span_id, 'hex') AS span, \
             memory_size_mb, sources FROM invocations WHERE request_id = 'req-5'",
        )
        .await
        .unwrap();
    let text = render(&rows, OutputFormat::Csv).unwrap();
    assert_eq!(
        text.lines().nth(1),
        Some(
            "req-5,05050505050505050505050505050505,6969696969696969,512,\"otlp_span,platform_report\""
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_partitions_that_ended_before_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let old = now - 40 * 24 * NANOS_PER_HOUR;
    let recent = now - 2 * NANOS_PER_HOUR;
    {
        let store = Store::open(StoreConfig::new(dir.path())).await.unwrap();
        let invocations = (0..50)
            .map(|i| fragment(i, old, Source::PlatformReport))
            .chain((50..120).map(|i| fragment(i, recent, Source::PlatformReport)))
            .collect();
        write_invocations(&store, invocations).await;
        store.close().await.unwrap();
    }
    let count = |sql: &'static str| {
        let data = dir.path().to_path_buf();
        async move {
            let analyzer = Analyzer::open(&data, AnalyzerConfig::default())
                .await
                .unwrap();
            render(&analyzer.query(sql).await.unwrap(), OutputFormat::Csv).unwrap()
        }
    };
    let recent_before =
        count("SELECT * FROM invocations WHERE CAST(substr(request_id, 5) AS INT) >= 50 ORDER BY request_id").await;
    assert!(
        count("SELECT count(*) FROM invocations")
            .await
            .contains("\n120")
    );

    let mut config = StoreConfig::new(dir.path());
    config.retention = Some(Duration::from_secs(30 * 24 * 3600));
    let store = Store::open(config).await.unwrap();
    assert!(store.recovery().partitions_expired >= 1);
    store.close().await.unwrap();

    assert!(
        count("SELECT count(*) FROM invocations")
            .await
            .contains("\n70")
    );
    let recent_after =
        count("SELECT * FROM invocations WHERE CAST(substr(request_id, 5) AS INT) >= 50 ORDER BY request_id").await;
    assert_eq!(
        recent_before, recent_after,
        "retention touched a partition inside the window"
    );
}

/// `faasobs compact` of a directory that does not exist refuses, rather than making an empty
/// store where a mistyped `--data` points.
#[test]
fn compacting_a_missing_directory_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let out = crate::support::faasobs()
        .arg("--data")
        .arg(&missing)
        .arg("compact")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist: there is nothing to compact"),
        "{stderr}"
    );
    assert!(!missing.exists());
}

/// Spans are flushed in the order they came (`Table::flushed_in_arrival_order`), but the file a
/// compaction writes of them is sorted by function and time, and says so in its footer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_spans_are_sorted_though_flushed_as_they_came() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampNanosecondType;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let store = store_flushed_only_when_asked(dir.path()).await;
    let otlp = crate::support::root().join("sample-traces/data/otlp");
    // The frontend's client spans name several functions, in the order they were sent.
    for name in [
        "frontend-0000.json",
        "image-resize-0000.json",
        "search-suggest-0000.json",
    ] {
        let bytes = std::fs::read(otlp.join(name)).unwrap();
        let file = faasobs_collector::ingest::ingest_bytes(&bytes, None, None).unwrap();
        store.handle().write(&file.records).await.unwrap();
        store.handle().flush().await.unwrap();
    }
    let objects = faasobs_collector::store::local_objects(dir.path()).unwrap();
    let spans_files = || async {
        let mut files = Vec::new();
        for file in list_table(objects.store.as_ref(), Table::Spans)
            .await
            .unwrap()
            .live
        {
            files.push(dir.path().join(file.meta.location.as_ref()));
        }
        files
    };
    // (function, start time) of each row, in the file's order.
    let keys = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap().into();
        let batch = faasobs_collector::store::writer::decode_parquet(Table::Spans, bytes).unwrap();
        let functions = arrow::compute::cast(
            batch.column_by_name("function_name").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let functions = functions.as_string::<i32>();
        let starts = batch
            .column_by_name("start_time")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        (0..batch.num_rows())
            .map(|i| {
                let function = (!functions.is_null(i)).then(|| functions.value(i).to_string());
                (function, starts.value(i))
            })
            .collect::<Vec<_>>()
    };
    let is_sorted = |keys: &[(Option<String>, i64)]| keys.windows(2).all(|w| w[0] <= w[1]);

    let flushed = spans_files().await;
    assert!(flushed.len() > 1, "{} files", flushed.len());
    let mut any_unsorted = false;
    for path in flushed {
        let file = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert!(file.metadata().row_group(0).sorting_columns().is_none());
        any_unsorted |= !is_sorted(&keys(&path));
    }
    assert!(
        any_unsorted,
        "the sample's spans came sorted; the test shows nothing"
    );

    store.close().await.unwrap(); // compacts every partition with more than one file
    let compacted = spans_files().await;
    assert_eq!(compacted.len(), 1);
    for path in compacted {
        let file = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert!(file.metadata().row_group(0).sorting_columns().is_some());
        assert!(is_sorted(&keys(&path)));
    }
}

/// A retention of zero, which would delete every partition, a receiver size or count of zero,
/// which would accept no request, a flush interval of zero (a Parquet file per request) and a
/// dashboard refresh of zero (tokio's interval panics on it, and the dashboard would never
/// refresh) are refused before anything is opened; the store is left as it was.
#[test]
fn a_retention_or_a_request_size_of_zero_is_refused() {
    let store = crate::support::sample_store();
    let count =
        || crate::support::query_json(store.path(), "SELECT count(*) AS n FROM invocations");
    let before = count();
    for (args, error) in [
        (
            &["compact", "--retention", "0s"][..],
            "a retention of 0 would delete every partition",
        ),
        (
            &["collect", "--retention", "0d"][..],
            "a retention of 0 would delete every partition",
        ),
        (
            &["collect", "--max-request-size", "0KiB"][..],
            "a size of 0 accepts no request",
        ),
        (
            &["collect", "--max-in-flight", "0"][..],
            "\"0\" is not a whole number of at least 1",
        ),
        (
            &["collect", "--flush-interval", "0s"][..],
            "a flush interval of 0 would write a Parquet file for every request",
        ),
        (
            &["tui", "--no-listen", "--refresh", "0ms"][..],
            "a refresh of 0 would never let the dashboard refresh",
        ),
    ] {
        let out = crate::support::faasobs_at(store.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{args:?}: {stderr}");
    }
    assert_eq!(count(), before);
}
