//! Queries: each report's queries and the set, on the same Parquet files, faasobs
//! (DataFusion, in this process and in a fresh `faasobs query` process) against DuckDB (in one
//! Python process, and in a fresh one), both limited to the same number of threads.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use faasobs_analyzer::invocations_view::portable_view_inputs;
use faasobs_analyzer::reports::{ReportKind, ReportOptions};
use faasobs_analyzer::session::AnalyzerConfig;
use faasobs_analyzer::{Analyzer, AnalyzerError};
use serde_json::{Value, json};

use super::data::Dataset;
use super::duckdb::DuckDb;
use super::process::{mebibytes, own_peak_memory_bytes, reset_own_peak_memory, run_measured};
use super::results::{Measurement, Results, Section, Target};
use super::{BenchConfig, progress};

/// The memory faasobs' queries may use, in process and in a fresh process alike. DuckDB keeps its
/// default (most of the machine; with `memory_limit` at this value DuckDB 1.4.2 crashed).
const QUERY_MEMORY_MB: usize = 8192;

/// What faasobs runs for one benchmark query.
enum Ours {
    Sql(String),
    Report(ReportKind),
}

struct Query {
    name: &'static str,
    ours: Ours,
    duckdb: String,
    /// The ratio to DuckDB's time this query must stay under.
    target: f64,
    /// Also timed as the first query of a fresh process.
    fresh: bool,
}

/// Peak concurrency per function in DuckDB: a running sum over start (+1) and end (-1) events,
/// ends first at equal times (an invocation that ends as another starts does not overlap it).
const DUCKDB_PEAK: &str = "SELECT function_name, max(running) AS peak_concurrency FROM (
  SELECT function_name, sum(delta) OVER (PARTITION BY function_name ORDER BY t, delta
                                         ROWS UNBOUNDED PRECEDING) AS running
  FROM (SELECT function_name, start_time AS t, 1 AS delta FROM invocations WHERE end_time IS NOT NULL
        UNION ALL
        SELECT function_name, end_time, -1 FROM invocations WHERE end_time IS NOT NULL))
GROUP BY function_name";

const DUCKDB_SUMMARY: &str = "SELECT i.*, p.peak_concurrency FROM (
  SELECT function_name, count(*) AS invocations,
       sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS errors,
       round(avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END), 4) AS error_rate,
       sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
       round(avg(CASE WHEN cold_start THEN 1.0 WHEN status <> 'throttled' THEN 0.0 END), 4) AS cold_start_rate,
       round(quantile_cont(duration_ms, 0.5), 3) AS p50_ms,
       round(quantile_cont(duration_ms, 0.95), 3) AS p95_ms,
       round(quantile_cont(duration_ms, 0.99), 3) AS p99_ms,
       round(avg(max_memory_used_mb), 1) AS mean_memory_used_mb,
       max(max_memory_used_mb) AS max_memory_used_mb,
       max(memory_size_mb) AS memory_size_mb
  FROM invocations GROUP BY function_name) i
JOIN (PEAK) p USING (function_name)
ORDER BY invocations DESC, function_name";

const DUCKDB_COLDSTART_COLUMNS: &str = "count(*) AS invocations,
       sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
       round(avg(CASE WHEN cold_start THEN 1.0 WHEN status <> 'throttled' THEN 0.0 END), 4) AS cold_start_rate,
       sum(CASE WHEN cold_start AND cold_start_inferred THEN 1 ELSE 0 END) AS inferred_cold_starts,
       round(quantile_cont(CASE WHEN cold_start THEN init_duration_ms END, 0.5), 3) AS init_p50_ms,
       round(quantile_cont(CASE WHEN cold_start THEN init_duration_ms END, 0.95), 3) AS init_p95_ms,
       round(quantile_cont(CASE WHEN cold_start THEN init_duration_ms END, 0.99), 3) AS init_p99_ms,
       max(init_duration_ms) AS init_max_ms,
       round(coalesce(sum(init_duration_ms), 0) / nullif(coalesce(sum(duration_ms), 0) + coalesce(sum(init_duration_ms), 0), 0), 4) AS init_latency_share";

const DUCKDB_ERROR_GROUPS: &str = "SELECT function_name, status AS class, coalesce(error_type, '') AS error_type,
  regexp_replace(regexp_replace(regexp_replace(coalesce(error_message, ''),
    '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'),
    '\\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\\b|\\b(0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\\b', '<hex>', 'g'),
    '[0-9]+(\\.[0-9]+)?', '<n>', 'g') AS message,
  count(*) AS count, min(start_time) AS first_seen, max(start_time) AS last_seen,
  first(request_id ORDER BY start_time, request_id) AS sample_request_id,
  first(lower(hex(trace_id)) ORDER BY start_time, request_id) AS sample_trace_id
FROM invocations WHERE status <> 'success'
GROUP BY 1, 2, 3, 4 ORDER BY count DESC, 1, 2, 3, 4";

/// The price per GB-second by architecture and per request (us-east-1, the catalog's first
/// tier), written out for DuckDB, which has no pricing catalog.
const DUCKDB_COST: &str = "SELECT function_name,
  sum(CASE WHEN status = 'throttled' THEN 0 ELSE
      0.0000002 + coalesce(billed_duration_ms, 0) / 1000.0 * coalesce(memory_size_mb, 128) / 1024.0
      * CASE architecture WHEN 'arm64' THEN 0.0000133334 ELSE 0.0000166667 END END) AS cost_usd
FROM invocations GROUP BY function_name ORDER BY cost_usd DESC";

fn queries(trace_id: &str) -> Vec<Query> {
    let hourly = "SELECT date_trunc('hour', start_time) AS hour, function_name, \
                  avg(CASE WHEN cold_start THEN 1.0 ELSE 0.0 END) AS cold_start_rate, \
                  avg(init_duration_ms) AS mean_init_ms \
                  FROM invocations GROUP BY 1, 2 ORDER BY 1, 2";
    let slowest = "SELECT * FROM invocations WHERE status <> 'success' \
                   ORDER BY duration_ms DESC, request_id LIMIT 20";
    let duckdb_coldstarts = format!(
        "SELECT function_name, {DUCKDB_COLDSTART_COLUMNS} FROM invocations \
         GROUP BY function_name ORDER BY cold_starts DESC, function_name;"
    );
    vec![
        Query {
            name: "report summary",
            ours: Ours::Report(ReportKind::Summary),
            duckdb: DUCKDB_SUMMARY.replace("PEAK", DUCKDB_PEAK),
            target: 1.0,
            fresh: false,
        },
        Query {
            name: "report coldstarts (by function, by configuration, hourly)",
            ours: Ours::Report(ReportKind::Coldstarts),
            duckdb: format!(
                "{duckdb_coldstarts} SELECT runtime, memory_size_mb, architecture, {DUCKDB_COLDSTART_COLUMNS} \
                 FROM invocations GROUP BY ALL ORDER BY ALL; \
                 SELECT date_trunc('hour', start_time) AS time, function_name, count(*) AS invocations, \
                 sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts FROM invocations \
                 GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            target: 1.0,
            fresh: false,
        },
        Query {
            name: "report errors (hourly, groups)",
            ours: Ours::Report(ReportKind::Errors),
            duckdb: format!(
                "SELECT date_trunc('hour', start_time) AS time, function_name, count(*) AS invocations, \
                 sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS errors, \
                 round(avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END), 4) AS error_rate \
                 FROM invocations GROUP BY 1, 2 ORDER BY 1, 2; {DUCKDB_ERROR_GROUPS}"
            ),
            target: 1.0,
            fresh: false,
        },
        Query {
            name: "exact p50/p95/p99 duration per function",
            ours: Ours::Sql(
                "SELECT function_name, percentile_cont(duration_ms, 0.5) AS p50, \
                 percentile_cont(duration_ms, 0.95) AS p95, percentile_cont(duration_ms, 0.99) AS p99 \
                 FROM invocations GROUP BY function_name ORDER BY function_name"
                    .into(),
            ),
            duckdb: "SELECT function_name, quantile_cont(duration_ms, 0.5) AS p50, \
                     quantile_cont(duration_ms, 0.95) AS p95, quantile_cont(duration_ms, 0.99) AS p99 \
                     FROM invocations GROUP BY function_name ORDER BY function_name"
                .into(),
            target: 1.0,
            fresh: true,
        },
        Query {
            name: "hourly cold-start rate and mean init per function",
            ours: Ours::Sql(hourly.into()),
            duckdb: hourly.into(),
            target: 1.0,
            fresh: true,
        },
        Query {
            name: "peak concurrency per function",
            ours: Ours::Sql(
                "SELECT function_name, peak_concurrency(start_time, end_time) AS peak_concurrency \
                 FROM invocations WHERE end_time IS NOT NULL GROUP BY function_name"
                    .into(),
            ),
            duckdb: DUCKDB_PEAK.into(),
            target: 0.3,
            fresh: true,
        },
        Query {
            name: "cost per function",
            ours: Ours::Sql(
                "SELECT function_name, sum(cost_usd) AS cost_usd FROM invocation_costs \
                 GROUP BY function_name ORDER BY cost_usd DESC"
                    .into(),
            ),
            duckdb: DUCKDB_COST.into(),
            target: 1.0,
            fresh: true,
        },
        // The same work on both sides: DuckDB's written-out first-tier formula over 5 columns, where
        // faasobs' own query above prices each invocation with its catalog from 12 merged columns.
        Query {
            name: "cost per function, the reference's formula on both",
            ours: Ours::Sql(DUCKDB_COST.into()),
            duckdb: DUCKDB_COST.into(),
            target: 1.0,
            fresh: false,
        },
        Query {
            name: "the 20 slowest errors, all columns",
            ours: Ours::Sql(slowest.into()),
            duckdb: slowest.into(),
            target: 1.0,
            fresh: true,
        },
        Query {
            name: "one trace by id",
            ours: Ours::Sql(format!(
                "SELECT * FROM spans WHERE trace_id = arrow_cast(decode('{trace_id}', 'hex'), 'FixedSizeBinary(16)') \
                 ORDER BY start_time"
            )),
            duckdb: format!("SELECT * FROM spans WHERE trace_id = unhex('{trace_id}') ORDER BY start_time"),
            target: 1.0,
            fresh: true,
        },
    ]
}

/// Runs one of our queries; returns the rows of its result (all sections of a report).
async fn run_ours(analyzer: &Analyzer, query: &Ours) -> Result<usize, AnalyzerError> {
    Ok(match query {
        Ours::Sql(sql) => analyzer
            .query(sql)
            .await?
            .iter()
            .map(|b| b.num_rows())
            .sum(),
        Ours::Report(kind) => analyzer
            .report(*kind, &ReportOptions::default())
            .await?
            .iter()
            .flat_map(|s| &s.batches)
            .map(|b| b.num_rows())
            .sum(),
    })
}

/// The first run's time, the best of `repeat` runs after it (the first run's when `repeat` is 0),
/// and the rows returned.
async fn time_ours(
    analyzer: &Analyzer,
    query: &Ours,
    repeat: usize,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let start = Instant::now();
    let rows = run_ours(analyzer, query).await?;
    let first = start.elapsed();
    let mut best = if repeat == 0 { first } else { Duration::MAX };
    for _ in 0..repeat {
        let start = Instant::now();
        run_ours(analyzer, query).await?;
        best = best.min(start.elapsed());
    }
    Ok((first, best, rows))
}

/// A trace id from the middle of the data, for the lookup query.
async fn some_trace_id(analyzer: &Analyzer) -> anyhow::Result<String> {
    let batches = analyzer
        .query(
            "SELECT encode(trace_id, 'hex') FROM invocations \
             WHERE trace_id IS NOT NULL AND function_name LIKE 'orders-worker%' \
             ORDER BY request_id LIMIT 1",
        )
        .await?;
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| -> anyhow::Result<String> {
            Ok(faasobs_analyzer::query::text_column(b.column(0))?
                .value(0)
                .to_string())
        })
        .transpose()?
        .context("the data set has no traced invocation")
}

/// How many measured rounds of fresh processes each query gets: as many as its timed runs in
/// process, and one when those are skipped (`--repeat 0`, the scale run).
fn fresh_rounds(repeat: usize) -> usize {
    repeat.max(1)
}

/// The middle of `values` (the mean of the two middle ones when their number is even); NaN when
/// there are none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn seconds(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

pub async fn run(
    dir: &Path,
    dataset: &Dataset,
    config: &BenchConfig,
    duckdb: &DuckDb,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    // The harness built the data set in this process; only the queries' memory counts here.
    super::process::return_freed_memory();
    reset_own_peak_memory()?;
    let analyzer = Analyzer::open(
        &dataset.data,
        AnalyzerConfig {
            target_partitions: config.threads,
            memory_limit_bytes: QUERY_MEMORY_MB << 20,
            ..Default::default()
        },
    )
    .await?;
    let trace_id = some_trace_id(&analyzer).await?;
    let queries = queries(&trace_id);
    let invocation_files = analyzer.invocation_files().clone();
    let duckdb_invocations = portable_view_inputs(&invocation_files);
    // A query that fails (out of memory or disk at the scale run) is recorded, and the rest run.
    let mut ours = Vec::new();
    let mut failures = Vec::new();
    for q in &queries {
        progress(started, format!("queries: faasobs: {}", q.name));
        match time_ours(&analyzer, &q.ours, config.repeat).await {
            Ok(timed) => ours.push(Some(timed)),
            Err(e) => {
                progress(
                    started,
                    format!("queries: faasobs: {} failed: {e:#}", q.name),
                );
                failures.push(format!("**faasobs: {} failed**: {e:#}", q.name));
                ours.push(None);
            }
        }
    }
    drop(analyzer);
    let our_peak = own_peak_memory_bytes().unwrap_or(0);
    super::process::return_freed_memory();
    // faasobs' numbers are written before DuckDB runs, which takes as long again at the scale
    // run: a run stopped then keeps them. The finished section replaces these.
    let mut so_far = Section::new(
        format!(
            "Queries: {} invocations, faasobs only (DuckDB's side did not finish)",
            dataset.invocations
        ),
        "DuckDB",
    );
    // Each query's best and first run, as measured; DuckDB's times are added below.
    let our_rows: Vec<Option<(Measurement, Measurement)>> = queries
        .iter()
        .zip(&ours)
        .map(|(q, timed)| {
            timed.map(|(first, best, _)| {
                (
                    Measurement::new(q.name, best.as_secs_f64() * 1e3, "ms"),
                    Measurement::new(
                        format!("{} (first run)", q.name),
                        first.as_secs_f64() * 1e3,
                        "ms",
                    ),
                )
            })
        })
        .collect();
    let our_peak_row = Measurement::new(
        "peak memory, in process (all queries)",
        mebibytes(our_peak),
        "MiB",
    );
    so_far.notes.extend(failures.iter().cloned());
    for (best, first) in our_rows.iter().flatten() {
        so_far.rows.extend([best.clone(), first.clone()]);
    }
    so_far.rows.push(our_peak_row.clone());
    results.sections.push(so_far);
    super::write_results(dir, results)?;
    results.sections.pop();
    progress(started, "queries: DuckDB");
    let repeat = config.repeat;
    let mut section = Section::new(
        if repeat == 0 {
            format!(
                "Queries: {} invocations, first run only",
                dataset.invocations
            )
        } else {
            format!(
                "Queries: {} invocations, best of {repeat} after the first run",
                dataset.invocations
            )
        },
        "DuckDB",
    );
    section.notes.extend(failures);
    // DuckDB failing (at the scale run, say) must not take faasobs' finished numbers with it.
    let (theirs, their_usage) = match duckdb.run_measured(json!({
        "mode": "queries",
        "data": dataset.data,
        "invocations": duckdb_invocations,
        "repeat": repeat,
        "queries": queries.iter().map(|q| (q.name, &q.duckdb)).collect::<Vec<_>>(),
    })) {
        Ok((answer, usage)) => (answer, Some(usage)),
        Err(e) => {
            progress(started, format!("queries: DuckDB failed: {e:#}"));
            section
                .notes
                .push(format!("**DuckDB's query run failed**: {e:#}"));
            (Value::Null, None)
        }
    };
    let mut first_runs = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let (Some((_, _, rows)), Some((measured, mut first_run))) = (ours[i], our_rows[i].clone())
        else {
            continue;
        };
        let their = &theirs[i];
        let mut measured = measured.target(Target::RatioAtMost(q.target));
        if !their.is_null() {
            measured = measured.against(seconds(&their["best_s"]) * 1e3);
            first_run = first_run.against(seconds(&their["first_s"]) * 1e3);
            let their_rows = their["rows"].as_u64().unwrap_or(0) as usize;
            if matches!(q.ours, Ours::Sql(_)) && their_rows != rows {
                section.notes.push(format!(
                    "**{}: faasobs returned {rows} rows, DuckDB {their_rows}.**",
                    q.name
                ));
            }
        }
        section.rows.push(measured);
        first_runs.push(first_run);
    }
    section.rows.extend(first_runs);
    let mut fresh_peaks = (0u64, 0u64);
    let exe = std::env::current_exe()?;
    let fresh_rounds = fresh_rounds(config.repeat);
    for q in queries
        .iter()
        .filter(|q| q.fresh && !config.in_process_only)
    {
        let Ours::Sql(sql) = &q.ours else { continue };
        progress(started, format!("queries: fresh processes: {}", q.name));
        // Each engine in turn, round after round. The first round only puts the files in the
        // operating system's cache for both: with one round, whichever engine ran second found
        // the files the first had just read (a fresh trace lookup measured 0.82 s against 0.34 s
        // that way, and about 0.22 s against 0.27 s with both warm). Of the measured rounds,
        // each engine's median counts: one fresh process is one sample of the machine, and a
        // single sample of each engine swung the cost query's ratio by a tenth.
        let run_ours = || {
            run_measured(
                Command::new(&exe)
                    .arg("--data")
                    .arg(&dataset.data)
                    .args(["query", "--format", "ndjson", "--memory-limit-mb"])
                    .arg(QUERY_MEMORY_MB.to_string())
                    .arg(sql),
            )
        };
        let run_theirs = || {
            duckdb.run_measured(json!({
                "mode": "fresh",
                "data": dataset.data,
                "invocations": duckdb_invocations,
                "sql": q.duckdb,
            }))
        };
        // The warming round; a failure shows again in the measured ones.
        let _ = (run_ours(), run_theirs());
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..fresh_rounds {
            ours.push(run_ours());
            theirs.push(run_theirs());
        }
        let ours = match ours.into_iter().collect::<anyhow::Result<Vec<_>>>() {
            Ok(usages) => usages,
            Err(e) => {
                section.notes.push(format!(
                    "**faasobs: {} (fresh process) failed**: {e:#}",
                    q.name
                ));
                continue;
            }
        };
        fresh_peaks.0 = ours
            .iter()
            .fold(fresh_peaks.0, |peak, u| peak.max(u.max_rss_bytes));
        let our_walls: Vec<f64> = ours.iter().map(|u| u.wall.as_secs_f64() * 1e3).collect();
        let mut measured = Measurement::new(
            format!("{} (fresh process)", q.name),
            median(our_walls),
            "ms",
        )
        .target(Target::RatioAtMost(1.0));
        match theirs.into_iter().collect::<anyhow::Result<Vec<_>>>() {
            Ok(runs) => {
                fresh_peaks.1 = runs
                    .iter()
                    .fold(fresh_peaks.1, |peak, (_, u)| peak.max(u.max_rss_bytes));
                let their_walls = runs
                    .iter()
                    .map(|(their, _)| seconds(&their["seconds"]) * 1e3)
                    .collect();
                measured = measured.against(median(their_walls));
            }
            Err(e) => section.notes.push(format!(
                "**{} (fresh process), DuckDB failed**: {e:#}",
                q.name
            )),
        }
        section.rows.push(measured);
    }
    // The scale run's memory target: it completes within the machine's 24 GiB, spilling.
    let within_machine = Target::AtMost(24.0 * 1024.0);
    let mut peak = our_peak_row.target(within_machine);
    if let Some(usage) = their_usage {
        peak = peak.against(mebibytes(usage.max_rss_bytes));
    }
    section.rows.push(peak);
    if config.in_process_only {
        section
            .notes
            .push("Fresh-process runs skipped (`--in-process-only`).".into());
    } else {
        let mut fresh_peak = Measurement::new(
            "peak memory, fresh processes (largest)",
            mebibytes(fresh_peaks.0),
            "MiB",
        )
        .target(within_machine);
        if fresh_peaks.1 > 0 {
            fresh_peak = fresh_peak.against(mebibytes(fresh_peaks.1));
        }
        section.rows.push(fresh_peak);
    }
    section.notes.push(format!(
        "Same Parquet files for both, and the same `invocations` view, which DuckDB runs in its \
         portable SQL: rows of hour-merged files pass through unless their request id is shared \
         with another file or also a fragment's, and the rest are merged by request id (GROUP BY). \
         This data set: {} hour-merged files listing {} shared request ids, {} files not \
         hour-merged. Reports: faasobs runs `Analyzer::report` (every section), DuckDB the same \
         statements in its dialect (the summary's peak concurrency as a window query). Fresh \
         process: the whole `faasobs query` process (start, listing, footers, planning, query, \
         NDJSON out) against DuckDB's connect-register-query inside a started Python, given the \
         file lists; the engines run in turn, a first round that warms the operating system's file \
         cache for both, then {fresh_rounds} measured round(s), of which each engine's median \
         counts.",
        invocation_files.hour_merged.len(),
        invocation_files.shared_request_ids.len(),
        invocation_files.unmerged.len(),
    ));
    results.sections.push(section);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_run_whatever_their_order() {
        assert_eq!(median(vec![310.0, 250.0, 900.0]), 310.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.0]), 7.0);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn fresh_processes_get_as_many_measured_rounds_as_timed_runs_and_at_least_one() {
        assert_eq!(fresh_rounds(3), 3);
        assert_eq!(fresh_rounds(0), 1);
    }
}
