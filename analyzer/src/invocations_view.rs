//! The `invocations` view: one row per request id, from stored rows that are either final or
//! fragments still to merge.
//!
//! The store holds two kinds of invocation rows (see the collector's `store::hour_merge`):
//!
//! - rows of hour-merged files ([`HOUR_MERGED_TABLE`]): each is every fragment of its request id
//!   that the hour merge saw, and no other hour-merged file holds the id, except the few ids the
//!   file's footer lists as shared with its own or a neighbouring hour ([`SHARED_IDS_TABLE`]);
//! - fragments ([`UNMERGED_TABLE`]): rows of files not hour-merged yet (the current hour, rows that
//!   arrived late) and rows still only in the collector's write-ahead log.
//!
//! A row of an hour-merged file is final unless its request id is listed as shared or also has a
//! fragment. Final rows pass through as they are; the others are merged with the fragments by
//! request id (`views/invocations.sql`, the rules of the collector's `Invocation::merge`, which
//! gives the same row again for a row already merged). So a query over a store whose hours are all
//! merged groups nothing, and one over a live store groups only the current hour and what touches
//! it. The SQL is generated for the kinds of rows present, in faasobs' dialect or in portable SQL
//! that DuckDB runs over the same files (the benchmarks).

/// The SQL that merges fragments by request id, over a table named `invocation_fragments`.
pub const MERGING_VIEW: &str = include_str!("views/invocations.sql");

/// The schema of the view's inputs, apart from the tables a user queries.
pub const STORE_SCHEMA: &str = "store";
/// The rows of hour-merged files.
pub const HOUR_MERGED_TABLE: &str = "store.hour_merged_invocations";
/// The fragments: rows of files not hour-merged yet and unflushed WAL rows.
pub const UNMERGED_TABLE: &str = "store.unmerged_invocation_fragments";
/// One column, `request_id`: the ids hour-merged files list as shared with other files.
pub const SHARED_IDS_TABLE: &str = "store.shared_request_ids";

/// Which kinds of invocation rows are present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewInputs {
    /// Rows of hour-merged files.
    pub hour_merged: bool,
    /// Fragments (files not hour-merged yet, WAL rows).
    pub unmerged: bool,
    /// Request ids listed as shared by hour-merged files.
    pub shared_ids: bool,
}

impl ViewInputs {
    /// Whether the view gives every row as it is stored, merging none: only hour-merged files,
    /// none of whose request ids is shared.
    pub fn passes_every_row_through(&self) -> bool {
        self.hour_merged && !self.unmerged && !self.shared_ids
    }
}

/// The SQL dialect of the generated view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// With faasobs' `max_text` aggregate (registered by the session).
    Faasobs,
    /// Standard aggregates only, for DuckDB and other engines: `max_text` is `max` without a
    /// copy per group, so they run it as `max`.
    Portable,
}

/// [`MERGING_VIEW`] in `dialect`, over `from` in place of `invocation_fragments`.
pub fn merging_view(from: &str, dialect: Dialect) -> String {
    let sql = match dialect {
        Dialect::Faasobs => MERGING_VIEW.to_string(),
        Dialect::Portable => MERGING_VIEW.replace("max_text(", "max("),
    };
    const FROM: &str = "FROM invocation_fragments\n";
    debug_assert_eq!(sql.matches(FROM).count(), 1);
    sql.replace(FROM, &format!("FROM {from}\n"))
}

/// The columns of an invocation row, in the order of the stored schema and the view.
fn columns() -> Vec<String> {
    faasobs_collector::model::Table::Invocations
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// The `invocations` view over the tables of `inputs` (an absent kind's table is never named).
/// Ids come out as the merge gives them (`BYTEA`) unless every row passes through.
pub fn invocations_view(inputs: ViewInputs, dialect: Dialect) -> String {
    if !inputs.hour_merged {
        return merging_view(UNMERGED_TABLE, dialect);
    }
    if inputs.passes_every_row_through() {
        return format!("SELECT * FROM {HOUR_MERGED_TABLE}");
    }
    let mut regrouped = Vec::new();
    if inputs.unmerged {
        regrouped.push(format!("SELECT request_id FROM {UNMERGED_TABLE}"));
    }
    if inputs.shared_ids {
        regrouped.push(format!("SELECT request_id FROM {SHARED_IDS_TABLE}"));
    }
    let passed_through = columns()
        .iter()
        .map(|c| match c.as_str() {
            "trace_id" | "span_id" => format!("CAST({c} AS BYTEA) AS {c}"),
            "trigger" => "\"trigger\"".to_string(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut fragments = Vec::new();
    if inputs.unmerged {
        fragments.push(format!("SELECT * FROM {UNMERGED_TABLE}"));
    }
    fragments.push(format!(
        "SELECT * FROM {HOUR_MERGED_TABLE} WHERE request_id IN (SELECT request_id FROM regrouped)"
    ));
    format!(
        "WITH regrouped AS ({regrouped})\n\
         SELECT {passed_through} FROM {HOUR_MERGED_TABLE}\n\
         WHERE request_id NOT IN (SELECT request_id FROM regrouped)\n\
         UNION ALL\n{merged}",
        regrouped = regrouped.join(" UNION ALL "),
        merged = merging_view(
            &format!("({}) AS fragments", fragments.join(" UNION ALL ")),
            dialect
        ),
    )
}

/// What another engine needs to build the same `invocations` view over the same files, as JSON
/// (the benchmark's DuckDB side reads it): the portable SQL, the schema and files of each input
/// table, and the shared request ids.
pub fn portable_view_inputs(files: &crate::session::InvocationFiles) -> serde_json::Value {
    // Local paths for a local store, URLs for one on object storage.
    let paths = |urls: &[datafusion::datasource::listing::ListingTableUrl]| -> Vec<String> {
        urls.iter()
            .map(|url| match url.get_url().to_file_path() {
                Ok(path) => path.display().to_string(),
                Err(()) => url.as_str().to_string(),
            })
            .collect()
    };
    serde_json::json!({
        "view": invocations_view(files.inputs, Dialect::Portable),
        "schema": STORE_SCHEMA,
        "file_tables": [
            [HOUR_MERGED_TABLE, paths(&files.hour_merged)],
            [UNMERGED_TABLE, paths(&files.unmerged)],
        ],
        "shared_ids_table": SHARED_IDS_TABLE,
        "shared_request_ids": files.shared_request_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{AnalyzerConfig, FRAGMENTS_TABLE};
    use crate::{Analyzer, query};
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    use faasobs_collector::model::invocation::{Invocation, Source, Sources, to_batch};
    use faasobs_collector::model::{NANOS_PER_HOUR, Table};
    use faasobs_collector::store::hour_merge::merge_hour;
    use faasobs_collector::store::layout::{SegmentRange, list_table};
    use faasobs_collector::store::writer::{Objects, encode_sorted};
    use faasobs_collector::store::{Partition, local_objects};

    const HOUR: i64 = 490_000;

    fn partition(hour: i64) -> Partition {
        Partition {
            table: Table::Invocations,
            hour,
        }
    }

    /// A fragment of invocation `id` from `source`, `offset_ns` into `hour`; the two sources
    /// disagree on the duration and only the report knows the memory. The reports of every
    /// fifth invocation come from log lines that named no function.
    fn fragment(id: usize, source: Source, hour: i64, offset_ns: i64) -> Invocation {
        let report = source == Source::PlatformReport;
        let unnamed = report && id.is_multiple_of(5);
        Invocation {
            function_name: if unnamed {
                faasobs_collector::model::UNKNOWN_FUNCTION.to_string()
            } else {
                format!("fn-{}", id % 3)
            },
            request_id: format!("req-{id}"),
            start_time: hour * NANOS_PER_HOUR + offset_ns,
            duration_ms: Some(if report { 19.5 } else { 20.0 }),
            billed_duration_ms: report.then_some(20),
            memory_size_mb: report.then_some(512),
            trace_id: (!report).then_some([id as u8; 16]),
            // Spans of every fourth invocation say nothing of cold starts: half of those are
            // inferred cold, which the report's evidence overrides (the view must merge them
            // as the collector's hour merge does).
            cold_start: if report {
                id.is_multiple_of(7)
            } else {
                id.is_multiple_of(8)
            },
            cold_start_inferred: !report && id.is_multiple_of(4),
            sources: Sources::of(source),
            ..Default::default()
        }
    }

    async fn put(objects: &Objects, hour: i64, segment: u64, rows: &[Invocation]) {
        objects
            .put_durably(
                &partition(hour).file(SegmentRange::single(segment)),
                encode_sorted(Table::Invocations, &[to_batch(rows)]).unwrap(),
            )
            .await
            .unwrap();
    }

    async fn merge(objects: &Objects, hour: i64, tiered: bool) {
        let files = list_table(objects.store.as_ref(), Table::Invocations)
            .await
            .unwrap()
            .live
            .into_iter()
            .filter(|f| f.partition.hour == hour)
            .collect();
        merge_hour(objects, partition(hour), files, 1 << 20, tiered)
            .await
            .unwrap()
            .expect("files to merge");
    }

    /// Asserts that `invocations` over `data` reads `inputs` and answers, row for row, what the
    /// merging view over every stored row as it is answers (the reference): `rows` invocations.
    async fn assert_answers_as_the_merge_of_every_row(
        data: &std::path::Path,
        inputs: ViewInputs,
        rows: usize,
    ) {
        assert_answers_with_prices_as_the_merge_of_every_row(
            data,
            inputs,
            rows,
            AnalyzerConfig::default(),
        )
        .await;
    }

    /// [`assert_answers_as_the_merge_of_every_row`] with the analyzer of `config`.
    async fn assert_answers_with_prices_as_the_merge_of_every_row(
        data: &std::path::Path,
        inputs: ViewInputs,
        rows: usize,
        config: AnalyzerConfig,
    ) {
        let analyzer = Analyzer::open(data, config).await.unwrap();
        assert_eq!(analyzer.invocation_files().inputs, inputs);
        let ctx = analyzer.context();
        let reference = ctx
            .sql(&merging_view(FRAGMENTS_TABLE, Dialect::Faasobs))
            .await
            .unwrap()
            .into_view();
        ctx.register_table("reference", reference).unwrap();
        let mut answers = Vec::new();
        for table in ["invocations", "reference"] {
            let sql = format!(
                "SELECT * EXCLUDE (trace_id, span_id), encode(CAST(trace_id AS BYTEA), 'hex') AS trace, \
                 encode(CAST(span_id AS BYTEA), 'hex') AS span FROM {table} ORDER BY request_id"
            );
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            answers.push(query::render(&batches, query::OutputFormat::Csv).unwrap());
        }
        assert_eq!(answers[0].lines().count(), 1 + rows);
        assert_eq!(answers[0], answers[1]);

        // `invocation_costs` prices each row as the pricing functions do from all its columns,
        // whether it reads rows as stored (in two branches) or merged ones.
        let arguments = crate::cost::sql::cost_arguments(analyzer.catalog());
        let mut costs = Vec::new();
        for sql in [
            "SELECT request_id, cost_usd, billed_ms FROM invocation_costs ORDER BY request_id"
                .to_string(),
            format!(
                "SELECT request_id, invocation_cost_usd({arguments}) AS cost_usd, \
                 invocation_cost({arguments})['billed_ms'] AS billed_ms \
                 FROM invocations ORDER BY request_id"
            ),
        ] {
            let batches = match ctx.sql(&sql).await {
                Ok(frame) => frame.collect().await,
                Err(e) => Err(e),
            }
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
            costs.push(query::render(&batches, query::OutputFormat::Csv).unwrap());
        }
        assert_eq!(costs[0].lines().count(), 1 + rows);
        assert_eq!(costs[0], costs[1]);
    }

    fn inputs(hour_merged: bool, unmerged: bool, shared_ids: bool) -> ViewInputs {
        ViewInputs {
            hour_merged,
            unmerged,
            shared_ids,
        }
    }

    #[tokio::test]
    async fn final_rows_pass_through_and_shared_or_unmerged_ids_are_merged_again() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // Hour H: spans of 0..300 and reports of 0..300, in two files; invocations 0..10 have
        // their report in the next hour (sources disagree on the start), and 300..310 only
        // there.
        let spans: Vec<_> = (0..300)
            .map(|i| fragment(i, Source::OtlpSpan, HOUR, i as i64 * 1000))
            .collect();
        let reports: Vec<_> = (10..300)
            .map(|i| fragment(i, Source::PlatformReport, HOUR, i as i64 * 1000 + 7))
            .collect();
        put(&objects, HOUR, 1, &spans).await;
        put(&objects, HOUR, 2, &reports).await;
        let next_hour: Vec<_> = (0..10)
            .chain(300..310)
            .map(|i| fragment(i, Source::PlatformReport, HOUR + 1, i as i64))
            .collect();
        put(&objects, HOUR + 1, 3, &next_hour).await;
        merge(&objects, HOUR, true).await;
        // Late rows for hour H, after its merge: another report of invocation 50 and a new one.
        put(
            &objects,
            HOUR,
            4,
            &[
                fragment(50, Source::FunctionLog, HOUR, 50_000),
                fragment(400, Source::OtlpSpan, HOUR, 400_000),
            ],
        )
        .await;

        // The merged hour H lists 0..10 as shared; the late file and hour H+1 are fragments.
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, true, true), 311).await;
        assert_only_report_only_rows_are_unnamed(dir.path()).await;

        // Every hour merged, late rows included: H+1 lists 0..10 too, nothing is a fragment.
        merge(&objects, HOUR, false).await;
        merge(&objects, HOUR + 1, false).await;
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, false, true), 311).await;
        assert_only_report_only_rows_are_unnamed(dir.path()).await;
    }

    /// A span names its invocation's function, so only invocations 300 and 305, which have a
    /// report of unnamed log lines and no span, are left under the placeholder name.
    async fn assert_only_report_only_rows_are_unnamed(data: &std::path::Path) {
        let analyzer = Analyzer::open(data, AnalyzerConfig::default())
            .await
            .unwrap();
        let sql = "SELECT request_id FROM invocations WHERE function_name = 'unknown' \
                   ORDER BY request_id";
        let batches = analyzer.query(sql).await.unwrap();
        let text = query::render(&batches, query::OutputFormat::Csv).unwrap();
        assert_eq!(text, "request_id\nreq-300\nreq-305\n");
    }

    #[tokio::test]
    async fn a_store_of_hour_merged_files_sharing_no_id_passes_every_row_through() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (hour, ids) in [(HOUR, 0..200), (HOUR + 1, 200..400)] {
            let spans: Vec<_> = ids
                .clone()
                .map(|i| fragment(i, Source::OtlpSpan, hour, i as i64))
                .collect();
            let reports: Vec<_> = ids
                .map(|i| fragment(i, Source::PlatformReport, hour, i as i64 + 3))
                .collect();
            put(&objects, hour, hour as u64 * 10, &spans).await;
            put(&objects, hour, hour as u64 * 10 + 1, &reports).await;
            merge(&objects, hour, true).await;
        }
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, false, false), 400).await;
    }

    #[tokio::test]
    async fn rows_as_stored_with_a_reported_duration_are_priced_without_the_other_durations() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // Every fourth invocation has no report, so no billed duration: it is priced from its
        // span's duration and memory.
        let spans: Vec<_> = (0..100usize)
            .map(|i| Invocation {
                memory_size_mb: i.is_multiple_of(4).then_some(256),
                ..fragment(i, Source::OtlpSpan, HOUR, i as i64)
            })
            .collect();
        let reports: Vec<_> = (0..100usize)
            .filter(|i| !i.is_multiple_of(4))
            .map(|i| fragment(i, Source::PlatformReport, HOUR, i as i64 + 3))
            .collect();
        put(&objects, HOUR, 1, &spans).await;
        put(&objects, HOUR, 2, &reports).await;
        merge(&objects, HOUR, false).await;
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, false, false), 100).await;

        let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        // Both kinds of rows were priced.
        for (rows, expected) in [
            ("billed_duration_ms IS NULL AND cost_usd > 0", 25),
            ("billed_duration_ms IS NOT NULL AND cost_usd > 0", 75),
        ] {
            let sql = format!("SELECT count(*) FROM invocation_costs WHERE {rows}");
            let batches = analyzer.query(&sql).await.unwrap();
            let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
            assert_eq!(count, expected, "{rows}");
        }
        // Summing the cost reads the rows with a reported duration without their measured and
        // init durations, cold starts and messages, and the others with them.
        let scans = scans_summing_the_cost(&analyzer).await;
        assert_eq!(scans.len(), 2, "{scans:?}");
        for column in [
            "duration_ms",
            "init_duration_ms",
            "cold_start",
            "error_message",
        ] {
            assert_eq!(
                scans.iter().filter(|scan| reads(scan, column)).count(),
                1,
                "{column} in {scans:?}"
            );
        }
    }

    /// The scans of the plan of a query that sums `cost_usd` by function, each from its
    /// projection to its end.
    async fn scans_summing_the_cost(analyzer: &Analyzer) -> Vec<String> {
        let plan = analyzer
            .query("EXPLAIN SELECT function_name, sum(cost_usd) FROM invocation_costs GROUP BY 1")
            .await
            .unwrap();
        let plan = query::render(&plan, query::OutputFormat::Csv).unwrap();
        plan.split("DataSourceExec")
            .skip(1)
            .map(|scan| {
                let projection = &scan[scan.find("projection=[").unwrap()..];
                projection[..projection.find('\n').unwrap_or(projection.len())].to_string()
            })
            .collect()
    }

    /// Whether the projection of `scan` (from [`scans_summing_the_cost`]) reads `column`, itself or as an
    /// argument.
    fn reads(scan: &str, column: &str) -> bool {
        let columns = &scan[scan.find('[').unwrap() + 1..scan.find("file_type=").unwrap()];
        columns
            .split([',', '(', ')', ' ', ']'])
            .any(|c| c == column || c.split('@').next() == Some(column))
    }

    /// An hour of invocations `ids`, each with a span and, where `reported`, a platform report,
    /// of `provider` in `region`, hour-merged.
    async fn merged_hour(
        objects: &Objects,
        hour: i64,
        ids: std::ops::Range<usize>,
        provider: &str,
        region: &str,
        reported: impl Fn(usize) -> bool,
    ) {
        let located = |invocation: Invocation| Invocation {
            provider: Some(provider.into()),
            region: Some(region.into()),
            max_memory_used_mb: invocation.memory_size_mb.map(|_| 200),
            ..invocation
        };
        // A span without a report says its memory, so that its invocation is priced (from the
        // span's duration).
        let spans: Vec<_> = ids
            .clone()
            .map(|i| {
                located(Invocation {
                    memory_size_mb: (!reported(i)).then_some(256),
                    ..fragment(i, Source::OtlpSpan, hour, i as i64)
                })
            })
            .collect();
        let reports: Vec<_> = ids
            .filter(|i| reported(*i))
            .map(|i| located(fragment(i, Source::PlatformReport, hour, i as i64 + 3)))
            .collect();
        put(objects, hour, hour as u64 * 10, &spans).await;
        put(objects, hour, hour as u64 * 10 + 1, &reports).await;
        merge(objects, hour, false).await;
    }

    #[tokio::test]
    async fn files_whose_footers_prove_every_row_reported_are_priced_without_the_memory_used_or_the_start()
     {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        // Two hours of AWS invocations that all have a report; an hour of Azure ones, which
        // bill the memory used; an hour of AWS ones of which every fifth has no report.
        merged_hour(&objects, HOUR, 0..100, "aws", "us-east-1", |_| true).await;
        merged_hour(&objects, HOUR + 1, 100..200, "aws", "us-east-1", |_| true).await;
        merged_hour(&objects, HOUR + 2, 200..300, "azure", "eastus", |_| true).await;
        merged_hour(&objects, HOUR + 3, 300..400, "aws", "us-east-1", |i| {
            !i.is_multiple_of(5)
        })
        .await;
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, false, false), 400).await;

        let analyzer = Analyzer::open(dir.path(), AnalyzerConfig::default())
            .await
            .unwrap();
        let reported = &analyzer.invocation_files().reported;
        assert_eq!(reported.files.len(), 2, "{reported:?}");
        let prefix = |hour: i64| dir.path().join(partition(hour).prefix().as_ref());
        let hours = [prefix(HOUR), prefix(HOUR + 1)];
        assert!(
            reported
                .files
                .iter()
                .filter_map(|f| f.get_url().to_file_path().ok())
                .all(|f| hours.iter().any(|h| f.starts_with(h))),
            "{reported:?}"
        );
        assert_eq!(reported.priced_at_ns, Some(HOUR * NANOS_PER_HOUR));
        // Summing the cost reads the two reported hours with no filter, memory used or start
        // time; the other two hours in the two branches that filter on the billed duration.
        let scans = scans_summing_the_cost(&analyzer).await;
        assert_eq!(scans.len(), 3, "{scans:?}");
        let unfiltered: Vec<_> = scans.iter().filter(|s| !s.contains("predicate=")).collect();
        assert_eq!(unfiltered.len(), 1, "{scans:?}");
        for column in ["max_memory_used_mb", "start_time"] {
            assert!(!reads(unfiltered[0], column), "{column} in {unfiltered:?}");
            assert_eq!(
                scans.iter().filter(|scan| reads(scan, column)).count(),
                2,
                "{column} in {scans:?}"
            );
        }
    }

    #[tokio::test]
    async fn reported_files_over_a_change_of_prices_are_priced_at_their_own_start_times() {
        // Hour H + 8 starts 2025-11-25, when this region's price changes.
        assert_eq!((HOUR + 8) * NANOS_PER_HOUR, 1_764_028_800_000_000_000);
        let catalog = crate::cost::catalog::with_a_price_change("2025-11-25");
        let config = || AnalyzerConfig {
            catalog: std::sync::Arc::new(catalog.clone()),
            ..AnalyzerConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (hour, ids) in [(HOUR + 7, 0..100), (HOUR + 8, 100..200)] {
            merged_hour(&objects, hour, ids, "aws", "ap-southeast-1", |_| true).await;
        }
        let (inputs, rows) = (inputs(true, false, false), 200);
        assert_answers_with_prices_as_the_merge_of_every_row(dir.path(), inputs, rows, config())
            .await;

        let analyzer = Analyzer::open(dir.path(), config()).await.unwrap();
        let reported = &analyzer.invocation_files().reported;
        assert_eq!((reported.files.len(), reported.priced_at_ns), (2, None));
        let scans = scans_summing_the_cost(&analyzer).await;
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert!(reads(&scans[0], "start_time"), "{scans:?}");
        assert!(!reads(&scans[0], "max_memory_used_mb"), "{scans:?}");
    }

    /// A footer the analyzer read is remembered for the next analyzer of the process while its
    /// file's size and modification time stay the same: a file replaced by zeros of the same size
    /// and time still counts as hour-merged (its footer was not read again), and counts as
    /// fragments (its footer unreadable) once the time changes. DataFusion's footer cache is one
    /// for every analyzer too.
    #[tokio::test]
    async fn footers_are_read_once_per_version_of_a_file_across_analyzers() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (segment, source) in [(1, Source::OtlpSpan), (2, Source::PlatformReport)] {
            let rows: Vec<_> = (0..50)
                .map(|i| fragment(i, source, HOUR, i as i64))
                .collect();
            put(&objects, HOUR, segment, &rows).await;
        }
        merge(&objects, HOUR, false).await;
        let open = || Analyzer::open(dir.path(), AnalyzerConfig::default());
        let first = open().await.unwrap();
        let merged = first.invocation_files().hour_merged.clone();
        assert_eq!(merged.len(), 1);
        let file = &merged[0].get_url().to_file_path().unwrap();
        let metadata = std::fs::metadata(file).unwrap();
        std::fs::write(file, vec![0u8; metadata.len() as usize]).unwrap();
        let set_modified = |time| {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(time)
                .unwrap()
        };
        set_modified(metadata.modified().unwrap());
        let second = open().await.unwrap();
        assert_eq!(second.invocation_files().hour_merged, merged);
        let footers = |a: &Analyzer| {
            a.context()
                .runtime_env()
                .cache_manager
                .get_file_metadata_cache()
        };
        assert!(std::sync::Arc::ptr_eq(&footers(&first), &footers(&second)));
        set_modified(metadata.modified().unwrap() + std::time::Duration::from_secs(1));
        let third = open().await.unwrap();
        assert!(third.invocation_files().hour_merged.is_empty());
        assert_eq!(third.invocation_files().unmerged, merged);
    }

    #[tokio::test]
    async fn rows_still_only_in_the_wal_are_merged_with_the_final_rows_they_touch() {
        use faasobs_collector::model::invocation::InvocationStatus;
        use faasobs_collector::store::WAL_DIR;
        use faasobs_collector::wal::{SegmentWriter, encode_frame};

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let spans: Vec<_> = (0..50)
            .map(|i| fragment(i, Source::OtlpSpan, HOUR, i as i64 * 1000))
            .collect();
        let reports: Vec<_> = (0..50)
            .map(|i| fragment(i, Source::PlatformReport, HOUR, i as i64 * 1000 + 7))
            .collect();
        put(&objects, HOUR, 1, &spans).await;
        put(&objects, HOUR, 2, &reports).await;
        merge(&objects, HOUR, true).await;
        // Acknowledged by a collector and not flushed yet: invocation 5 failed after all, and a
        // new invocation.
        let late_failure = Invocation {
            status: InvocationStatus::Error,
            ..fragment(5, Source::FunctionLog, HOUR, 5000)
        };
        let rows = to_batch(&[late_failure, fragment(77, Source::OtlpSpan, HOUR, 77_000)]);
        let wal = dir.path().join(WAL_DIR);
        std::fs::create_dir_all(&wal).unwrap();
        let mut segment = SegmentWriter::create(&wal, 100).unwrap();
        segment
            .append(&[encode_frame(Table::Invocations, &rows).unwrap()])
            .unwrap();
        segment.sync().unwrap();
        assert_answers_as_the_merge_of_every_row(dir.path(), inputs(true, true, false), 51).await;
    }
}
