//! What the dashboard shows, loaded with SQL through the analyzer, off the UI thread.
//!
//! A [`Snapshot`] is the overview (one row per function, with sparklines); a [`Detail`] is one
//! function's screen. Both are plain data: loading them is the only I/O, and `view` only reads
//! them. Costs come from the `invocation_costs` view; when the pricing catalog cannot price the
//! data (a region it does not list) the numbers are still shown, without cost, and the reason is
//! kept in `notice`, as are the function names whose rows add up several regions or accounts.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::concurrency::Events;
use faasobs_analyzer::cost::report::{CopiedPrices, DedicatedElsewhere, PricingCoverage};
use faasobs_analyzer::reports::{FunctionPlaces, Places, ReportOptions, sql_string};

use crate::model::{Column, Window};

/// Buckets in a sparkline or a series.
pub const SERIES_BUCKETS: i64 = 60;

/// One function in the overview.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRow {
    pub name: String,
    pub invocations: i64,
    pub per_minute: f64,
    pub error_rate: f64,
    pub cold_rate: f64,
    /// How many of its cold starts are inferred (no source said whether those invocations were
    /// cold: each instance's first invocation received counts), so its cold rate is a guess.
    pub inferred_cold_starts: i64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub peak_concurrency: i64,
    pub memory_used_mb: Option<f64>,
    pub memory_size_mb: Option<f64>,
    pub usd_per_million: Option<f64>,
    pub usd_per_hour: Option<f64>,
    /// Invocations and errors per bucket of the window.
    pub invocations_series: Vec<u64>,
    pub errors_series: Vec<u64>,
}

impl FunctionRow {
    /// The value a column sorts by (not used for the name column).
    pub fn sort_key(&self, column: Column) -> f64 {
        match column {
            Column::Function => 0.0,
            Column::PerMinute => self.per_minute,
            Column::ErrorRate => self.error_rate,
            Column::ColdRate => self.cold_rate,
            Column::P50 => self.p50_ms,
            Column::P95 => self.p95_ms,
            Column::P99 => self.p99_ms,
            Column::Concurrency => self.peak_concurrency as f64,
            Column::Memory => self.memory_used_mb.unwrap_or(-1.0),
            Column::UsdPerMillion => self.usd_per_million.unwrap_or(-1.0),
            Column::UsdPerHour => self.usd_per_hour.unwrap_or(-1.0),
        }
    }
}

/// The overview.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub window: Window,
    /// The span the numbers cover (ns since the epoch).
    pub from_ns: i64,
    pub to_ns: i64,
    pub functions: Vec<FunctionRow>,
    pub invocations: i64,
    pub errors: i64,
    pub cold_starts: i64,
    /// Of `cold_starts`, those inferred (see [`FunctionRow::inferred_cold_starts`]).
    pub inferred_cold_starts: i64,
    pub cost_usd: Option<f64>,
    /// Why something is missing (e.g. costs), or which function names' rows add up several
    /// regions or accounts, shown in the footer.
    pub notice: Option<String>,
}

/// One function's screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub function: String,
    pub window: Window,
    pub from_ns: i64,
    pub to_ns: i64,
    /// (label, invocations) per power-of-two duration bucket.
    pub histogram: Vec<(String, u64)>,
    /// Cold starts per bucket of the window, and their mean INIT duration (ms).
    pub cold_series: Vec<u64>,
    /// Of the cold starts in the window, those inferred (see
    /// [`FunctionRow::inferred_cold_starts`]).
    pub inferred_cold_starts: u64,
    pub init_mean_ms: Option<f64>,
    pub init_p95_ms: Option<f64>,
    /// Peak concurrency per bucket of the window.
    pub concurrency_series: Vec<u64>,
    pub memory_used_mean_mb: Option<f64>,
    pub memory_used_max_mb: Option<f64>,
    pub memory_size_mb: Option<f64>,
    /// (error type, count, an example message).
    pub errors: Vec<(String, i64, String)>,
    /// The latest invocations: (start RFC 3339, request id, duration ms, status, cold).
    pub recent: Vec<(String, String, Option<f64>, String, bool)>,
    /// The regions and accounts its invocations in the window say: with several, the numbers
    /// of the screen add them together.
    pub places: FunctionPlaces,
}

fn float(batch: &RecordBatch, column: usize, row: usize) -> Option<f64> {
    let a =
        arrow::compute::cast(batch.column(column), &arrow::datatypes::DataType::Float64).ok()?;
    let a = a.as_primitive::<Float64Type>();
    a.is_valid(row).then(|| a.value(row))
}

fn int(batch: &RecordBatch, column: usize, row: usize) -> Option<i64> {
    let a = arrow::compute::cast(batch.column(column), &arrow::datatypes::DataType::Int64).ok()?;
    let a = a.as_primitive::<Int64Type>();
    a.is_valid(row).then(|| a.value(row))
}

fn text(batch: &RecordBatch, column: usize, row: usize) -> Option<String> {
    let a = arrow::compute::cast(batch.column(column), &arrow::datatypes::DataType::Utf8).ok()?;
    let a = a.as_string::<i32>();
    a.is_valid(row).then(|| a.value(row).to_string())
}

fn rows(batches: &[RecordBatch]) -> impl Iterator<Item = (&RecordBatch, usize)> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| (b, r)))
}

/// The span a window covers: the last `length` before `now_ns`, or all the data.
async fn span(analyzer: &Analyzer, window: Window, now_ns: i64) -> Result<(i64, i64), String> {
    if let Some(length) = window.length_ns() {
        return Ok((now_ns - length, now_ns));
    }
    let batches = analyzer
        .query(
            "SELECT CAST(min(start_time) AS BIGINT), \
             CAST(max(coalesce(end_time, start_time)) AS BIGINT) FROM invocations",
        )
        .await
        .map_err(|e| e.to_string())?;
    let (from, to) = rows(&batches)
        .next()
        .map(|(b, r)| (int(b, 0, r), int(b, 1, r)))
        .unwrap_or((None, None));
    let to = to.unwrap_or(now_ns);
    Ok((from.unwrap_or(to - 60_000_000_000), to))
}

/// The time buckets of a series over `[from, to]`: whole seconds wide, [`SERIES_BUCKETS`] at most.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    from: i64,
    to: i64,
    /// Width (ns).
    step: i64,
    count: usize,
}

impl Buckets {
    fn over(from: i64, to: i64) -> Buckets {
        let raw = ((to - from).max(1) + SERIES_BUCKETS - 1) / SERIES_BUCKETS;
        let step = ((raw + 999_999_999) / 1_000_000_000).max(1) * 1_000_000_000;
        let count = ((to - from) / step + 1).min(SERIES_BUCKETS) as usize;
        Buckets {
            from,
            to,
            step,
            count,
        }
    }

    /// SQL for the bucket of an invocation's start.
    fn sql(&self) -> String {
        format!(
            "CAST((CAST(start_time AS BIGINT) - {}) / {} AS BIGINT)",
            self.from, self.step
        )
    }

    /// The slot of a bucket number from [`Buckets::sql`].
    fn slot(&self, bucket: i64) -> usize {
        (bucket.max(0) as usize).min(self.count - 1)
    }

    /// The peak concurrency of `(start, end)` intervals in each bucket.
    fn concurrency(&self, intervals: &[(i64, i64)]) -> Vec<u64> {
        let mut series: Vec<u64> = Events::of(intervals)
            .series(self.from, self.to + 1, self.step)
            .into_iter()
            .map(|(_, n)| n.max(0) as u64)
            .collect();
        series.truncate(self.count);
        series
    }
}

fn condition(from: i64, to: i64) -> String {
    format!("start_time >= to_timestamp_nanos({from}) AND start_time <= to_timestamp_nanos({to})")
}

/// Loads the overview over `window`, as of `now_ns`.
pub async fn load_snapshot(
    analyzer: &Analyzer,
    window: Window,
    now_ns: i64,
) -> Result<Snapshot, String> {
    let (from, to) = span(analyzer, window, now_ns).await?;
    let filter = condition(from, to);
    let per_function = |table: &str, cost: &str| {
        format!(
            "SELECT function_name, count(*), \
             sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END), \
             sum(CASE WHEN cold_start THEN 1 ELSE 0 END), \
             percentile_cont(duration_ms, 0.5), percentile_cont(duration_ms, 0.95), \
             percentile_cont(duration_ms, 0.99), peak_concurrency(start_time, end_time), \
             max(max_memory_used_mb), max(memory_size_mb), {cost}, \
             sum(CASE WHEN status <> 'throttled' THEN 1 ELSE 0 END), \
             sum(CASE WHEN cold_start AND cold_start_inferred THEN 1 ELSE 0 END) \
             FROM {table} WHERE {filter} AND function_name IS NOT NULL GROUP BY function_name"
        )
    };
    let (batches, notice) = match analyzer
        .query(&per_function(
            "invocation_costs",
            // Per million invocations that ran: a throttle costs nothing and would dilute it.
            "sum(cost_usd), \
             sum(CASE WHEN cost_usd IS NOT NULL AND status <> 'throttled' THEN 1 ELSE 0 END)",
        ))
        .await
    {
        Ok(b) => (b, None),
        Err(e) => (
            analyzer
                .query(&per_function("invocations", "NULL, 0"))
                .await
                .map_err(|e| e.to_string())?,
            Some(format!("no costs: {e}")),
        ),
    };
    let minutes = ((to - from) as f64 / 60e9).max(1.0 / 60.0);
    let hours = minutes / 60.0;
    let buckets = Buckets::over(from, to);
    let series = analyzer
        .query(&format!(
            "SELECT function_name, {}, \
             count(*), sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) \
             FROM invocations WHERE {filter} AND function_name IS NOT NULL GROUP BY 1, 2",
            buckets.sql()
        ))
        .await
        .map_err(|e| e.to_string())?;
    let mut by_function: BTreeMap<String, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for (b, r) in rows(&series) {
        let (Some(name), Some(bucket)) = (text(b, 0, r), int(b, 1, r)) else {
            continue;
        };
        let entry = by_function
            .entry(name)
            .or_insert_with(|| (vec![0; buckets.count], vec![0; buckets.count]));
        let i = buckets.slot(bucket);
        entry.0[i] += int(b, 2, r).unwrap_or(0) as u64;
        entry.1[i] += int(b, 3, r).unwrap_or(0) as u64;
    }

    let places = places_in(analyzer, None, from, to).await?;
    let notices: Vec<String> = notice.into_iter().chain(places_notice(&places)).collect();

    let mut snapshot = Snapshot {
        window,
        from_ns: from,
        to_ns: to,
        functions: Vec::new(),
        invocations: 0,
        errors: 0,
        cold_starts: 0,
        inferred_cold_starts: 0,
        cost_usd: None,
        notice: (!notices.is_empty()).then(|| notices.join("; ")),
    };
    for (b, r) in rows(&batches) {
        let name = text(b, 0, r).unwrap_or_default();
        let invocations = int(b, 1, r).unwrap_or(0);
        let errors = int(b, 2, r).unwrap_or(0);
        let cold = int(b, 3, r).unwrap_or(0);
        let cost = float(b, 10, r);
        let priced = int(b, 11, r).unwrap_or(0);
        let ran = int(b, 12, r).unwrap_or(0);
        let inferred_cold_starts = int(b, 13, r).unwrap_or(0);
        let (invocations_series, errors_series) = by_function
            .remove(&name)
            .unwrap_or_else(|| (vec![0; buckets.count], vec![0; buckets.count]));
        snapshot.invocations += invocations;
        snapshot.errors += errors;
        snapshot.cold_starts += cold;
        snapshot.inferred_cold_starts += inferred_cold_starts;
        if let Some(c) = cost {
            *snapshot.cost_usd.get_or_insert(0.0) += c;
        }
        let share = |n: i64| {
            if invocations > 0 {
                n as f64 / invocations as f64
            } else {
                0.0
            }
        };
        snapshot.functions.push(FunctionRow {
            name,
            invocations,
            per_minute: invocations as f64 / minutes,
            error_rate: share(errors),
            // Of the invocations that ran: a throttle is neither cold nor warm.
            cold_rate: if ran > 0 {
                cold as f64 / ran as f64
            } else {
                0.0
            },
            inferred_cold_starts,
            p50_ms: float(b, 4, r).unwrap_or(0.0),
            p95_ms: float(b, 5, r).unwrap_or(0.0),
            p99_ms: float(b, 6, r).unwrap_or(0.0),
            peak_concurrency: int(b, 7, r).unwrap_or(0),
            memory_used_mb: float(b, 8, r),
            memory_size_mb: float(b, 9, r),
            usd_per_million: cost.filter(|_| priced > 0).map(|c| c / priced as f64 * 1e6),
            usd_per_hour: cost.map(|c| c / hours),
            invocations_series,
            errors_series,
        });
    }
    snapshot.functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(snapshot)
}

/// The regions and accounts the invocations started from `from` to `to` (ns, both included)
/// say, of `function` or of every function.
async fn places_in(
    analyzer: &Analyzer,
    function: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Places, String> {
    analyzer
        .places(&ReportOptions {
            function: function.map(String::from),
            since: Some(from),
            until: Some(to.saturating_add(1)),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())
}

/// How many function names the notice of functions in several places lists.
const SEVERAL_PLACES_LISTED: usize = 3;

/// The overview's notice of the function names whose rows add up more than one region or
/// account, if any.
fn places_notice(places: &Places) -> Option<String> {
    let several: Vec<(&str, &FunctionPlaces)> = places.functions_in_several().collect();
    match several[..] {
        [] => None,
        [(one, its_places)] => Some(format!(
            "{one} runs in {}: its row adds them together",
            its_places.describe()
        )),
        ref many => {
            let names: Vec<&str> = many.iter().map(|(name, _)| *name).collect();
            let mut listed = names[..names.len().min(SEVERAL_PLACES_LISTED)].join(", ");
            if many.len() > SEVERAL_PLACES_LISTED {
                listed.push_str(", …");
            }
            Some(format!(
                "{} functions run in several regions or accounts ({listed}): their rows add \
                 them together",
                many.len()
            ))
        }
    }
}

/// Loads one function's screen over `window`, as of `now_ns`.
pub async fn load_detail(
    analyzer: &Analyzer,
    function: &str,
    window: Window,
    now_ns: i64,
) -> Result<Detail, String> {
    let (from, to) = span(analyzer, window, now_ns).await?;
    let filter = format!(
        "{} AND function_name = {}",
        condition(from, to),
        sql_string(function)
    );
    let q = |sql: String| async move { analyzer.query(&sql).await.map_err(|e| e.to_string()) };

    let histogram = q(format!(
        "SELECT CAST(floor(log2(greatest(duration_ms, 1))) AS BIGINT) AS b, count(*) \
         FROM invocations WHERE {filter} AND duration_ms IS NOT NULL GROUP BY 1 ORDER BY 1"
    ))
    .await?;
    let counts: BTreeMap<i64, u64> = rows(&histogram)
        .filter_map(|(b, r)| Some((int(b, 0, r)?.clamp(0, 40), int(b, 1, r).unwrap_or(0) as u64)))
        .collect();
    // Every bucket from the fastest to the slowest, empty ones included, so the shape is true.
    let histogram = match (counts.keys().next(), counts.keys().next_back()) {
        (Some(&lo), Some(&hi)) => (lo..=hi)
            .map(|k| {
                let upper = 1i64 << (k + 1);
                let label = if upper < 1000 {
                    format!("<{upper}ms")
                } else {
                    format!("<{:.0}s", upper as f64 / 1000.0)
                };
                (label, counts.get(&k).copied().unwrap_or(0))
            })
            .collect(),
        _ => Vec::new(),
    };

    let buckets = Buckets::over(from, to);
    let cold = q(format!(
        "SELECT {}, count(*), sum(CASE WHEN cold_start_inferred THEN 1 ELSE 0 END) \
         FROM invocations WHERE {filter} AND cold_start GROUP BY 1",
        buckets.sql()
    ))
    .await?;
    let mut cold_series = vec![0u64; buckets.count];
    let mut inferred_cold_starts = 0;
    for (b, r) in rows(&cold) {
        let i = buckets.slot(int(b, 0, r).unwrap_or(0));
        cold_series[i] += int(b, 1, r).unwrap_or(0) as u64;
        inferred_cold_starts += int(b, 2, r).unwrap_or(0) as u64;
    }

    let stats = q(format!(
        "SELECT avg(init_duration_ms), percentile_cont(init_duration_ms, 0.95), \
         avg(max_memory_used_mb), max(max_memory_used_mb), max(memory_size_mb) \
         FROM invocations WHERE {filter}"
    ))
    .await?;
    let stat = |c: usize| rows(&stats).next().and_then(|(b, r)| float(b, c, r));

    let intervals = q(format!(
        "SELECT CAST(start_time AS BIGINT), CAST(end_time AS BIGINT) FROM invocations \
         WHERE {filter} AND end_time IS NOT NULL"
    ))
    .await?;
    let pairs: Vec<(i64, i64)> = rows(&intervals)
        .filter_map(|(b, r)| Some((int(b, 0, r)?, int(b, 1, r)?)))
        .collect();
    let concurrency_series = buckets.concurrency(&pairs);

    let errors = q(format!(
        "SELECT coalesce(error_type, status), count(*), max(coalesce(error_message, '')) \
         FROM invocations WHERE {filter} AND status <> 'success' GROUP BY 1 \
         ORDER BY 2 DESC, 1 LIMIT 8"
    ))
    .await?;
    let errors = rows(&errors)
        .map(|(b, r)| {
            (
                text(b, 0, r).unwrap_or_default(),
                int(b, 1, r).unwrap_or(0),
                text(b, 2, r).unwrap_or_default(),
            )
        })
        .collect();

    let recent = q(format!(
        "SELECT to_char(start_time, '%Y-%m-%dT%H:%M:%S%.3fZ'), request_id, duration_ms, status, \
         coalesce(cold_start, false) FROM invocations WHERE {filter} \
         ORDER BY start_time DESC, request_id LIMIT 50"
    ))
    .await?;
    let recent = rows(&recent)
        .map(|(b, r)| {
            let cold = b.column(4).as_boolean();
            (
                text(b, 0, r).unwrap_or_default(),
                text(b, 1, r).unwrap_or_default(),
                float(b, 2, r),
                text(b, 3, r).unwrap_or_default(),
                cold.is_valid(r) && cold.value(r),
            )
        })
        .collect();

    let places = places_in(analyzer, Some(function), from, to)
        .await?
        .of(function);

    Ok(Detail {
        function: function.to_string(),
        window,
        from_ns: from,
        to_ns: to,
        histogram,
        cold_series,
        inferred_cold_starts,
        init_mean_ms: stat(0),
        init_p95_ms: stat(1),
        concurrency_series,
        memory_used_mean_mb: stat(2),
        memory_used_max_mb: stat(3),
        memory_size_mb: stat(4),
        errors,
        recent,
        places,
    })
}

/// The concurrency screen: account-wide and per function over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyView {
    pub window: Window,
    pub from_ns: i64,
    pub to_ns: i64,
    /// Width of a bucket (ns).
    pub step_ns: i64,
    /// The account's peak concurrency per bucket.
    pub account: Vec<u64>,
    /// Per function (busiest first): name, peak, peak per bucket.
    pub functions: Vec<(String, u64, Vec<u64>)>,
}

/// Loads the concurrency screen over `window`, as of `now_ns`.
pub async fn load_concurrency(
    analyzer: &Analyzer,
    window: Window,
    now_ns: i64,
) -> Result<ConcurrencyView, String> {
    let (from, to) = span(analyzer, window, now_ns).await?;
    let buckets = Buckets::over(from, to);
    let batches = analyzer
        .query(&format!(
            "SELECT function_name, CAST(start_time AS BIGINT), CAST(end_time AS BIGINT) \
             FROM invocations WHERE {} AND end_time IS NOT NULL AND function_name IS NOT NULL",
            condition(from, to)
        ))
        .await
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    let mut by_function: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (b, r) in rows(&batches) {
        let (Some(name), Some(start), Some(end)) = (text(b, 0, r), int(b, 1, r), int(b, 2, r))
        else {
            continue;
        };
        all.push((start, end));
        by_function.entry(name).or_default().push((start, end));
    }
    let mut functions: Vec<(String, u64, Vec<u64>)> = by_function
        .into_iter()
        .map(|(name, intervals)| {
            let peak = Events::of(&intervals).peak().concurrency.max(0) as u64;
            (name, peak, buckets.concurrency(&intervals))
        })
        .collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ConcurrencyView {
        window,
        from_ns: from,
        to_ns: to,
        step_ns: buckets.step,
        account: buckets.concurrency(&all),
        functions,
    })
}

/// The cost screen: spend by function and the scenarios of `faasobs cost compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct CostView {
    pub window: Window,
    /// Function, invocations, total $ over the window, $ per 1M invocations.
    pub spend: Vec<(String, i64, f64, Option<f64>)>,
    /// Scenario, projected $ per month.
    pub scenarios: Vec<(String, f64)>,
    /// Option, monthly requests at break-even (if any), note.
    pub break_even: Vec<(String, Option<f64>, String)>,
    /// Monthly requests the window projects to.
    pub monthly_requests: Option<String>,
    /// How the window's invocations were priced.
    pub pricing: PricingCoverage,
    /// The catalog's default provider, region and architecture, which priced those that said
    /// none.
    pub defaults: String,
    /// The places priced with prices copied from another region.
    pub copied_prices: Vec<CopiedPrices>,
    /// The region the dedicated alternatives are priced in, when AWS functions of the window run
    /// in others: the break-even volumes compare prices of different places.
    pub dedicated_elsewhere: Option<DedicatedElsewhere>,
}

fn section<'a>(
    sections: &'a [faasobs_analyzer::reports::Section],
    name: &str,
) -> &'a [RecordBatch] {
    sections
        .iter()
        .find(|s| s.name == name)
        .map(|s| &s.batches[..])
        .unwrap_or(&[])
}

/// The index of a column by name in a batch.
fn column(batch: &RecordBatch, name: &str) -> Option<usize> {
    batch.schema().index_of(name).ok()
}

/// Loads the cost screen over `window`, as of `now_ns`.
pub async fn load_cost(
    analyzer: &Analyzer,
    window: Window,
    now_ns: i64,
) -> Result<CostView, String> {
    use faasobs_analyzer::cost::report::{CostReportOptions, SpendGrouping};
    use faasobs_analyzer::cost::scenarios::CompareOptions;
    use faasobs_analyzer::reports::ReportOptions;
    let (from, to) = span(analyzer, window, now_ns).await?;
    let filter = ReportOptions {
        since: Some(from),
        until: Some(to + 1),
        ..Default::default()
    };
    let report = analyzer
        .cost_report(&CostReportOptions {
            by: SpendGrouping::Function,
            filter: filter.clone(),
            free_tier: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut spend = Vec::new();
    for (b, r) in rows(section(&report.sections, "spend")) {
        let get = |name: &str| column(b, name);
        spend.push((
            get("function_name")
                .and_then(|c| text(b, c, r))
                .unwrap_or_default(),
            get("invocations").and_then(|c| int(b, c, r)).unwrap_or(0),
            get("total_usd").and_then(|c| float(b, c, r)).unwrap_or(0.0),
            get("usd_per_million_invocations").and_then(|c| float(b, c, r)),
        ));
    }
    let compare = analyzer
        .cost_compare(&CompareOptions {
            filter,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let scenarios = rows(section(&compare.sections, "scenarios"))
        .map(|(b, r)| {
            (
                column(b, "scenario")
                    .and_then(|c| text(b, c, r))
                    .unwrap_or_default(),
                column(b, "monthly_usd")
                    .and_then(|c| float(b, c, r))
                    .unwrap_or(0.0),
            )
        })
        .collect();
    let break_even = rows(section(&compare.sections, "break_even"))
        .map(|(b, r)| {
            (
                column(b, "option")
                    .and_then(|c| text(b, c, r))
                    .unwrap_or_default(),
                column(b, "break_even_monthly_requests").and_then(|c| float(b, c, r)),
                column(b, "note")
                    .and_then(|c| text(b, c, r))
                    .unwrap_or_default(),
            )
        })
        .collect();
    let monthly_requests = assumption(&compare.sections, "monthly requests (projected)");
    let d = &analyzer.catalog().defaults;
    let defaults = format!("{} {} {}", d.provider, d.region, d.architecture);
    Ok(CostView {
        window,
        spend,
        scenarios,
        break_even,
        monthly_requests,
        pricing: report.coverage,
        defaults,
        copied_prices: report.copied_prices,
        dedicated_elsewhere: compare.dedicated_elsewhere,
    })
}

/// The value of a report's assumption `name`.
fn assumption(sections: &[faasobs_analyzer::reports::Section], name: &str) -> Option<String> {
    rows(section(sections, "assumptions"))
        .find(|(b, r)| text(b, 0, *r).as_deref() == Some(name))
        .and_then(|(b, r)| text(b, 1, r))
}

/// The result of a query typed on the SQL screen, as text cells.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    pub query: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows beyond those kept.
    pub more: usize,
}

/// Rows of a SQL result the screen keeps.
pub const SQL_MAX_ROWS: usize = 1000;

/// Runs a read-only query (the same checks as `faasobs query`).
/// Only the rows kept are held: the rest are counted as they stream past.
pub async fn run_sql(analyzer: &Analyzer, query: &str) -> Result<SqlResult, String> {
    let stream = analyzer
        .query_stream(query)
        .await
        .map_err(|e| e.to_string())?;
    let schema = stream.schema();
    let first = faasobs_analyzer::query::first_rows(stream, Some(SQL_MAX_ROWS))
        .await
        .map_err(|e| e.to_string())?;
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let options = arrow::util::display::FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    let more = first.total - first.shown();
    for batch in &first.batches {
        let batch =
            faasobs_analyzer::query::attribute_values_as_text(batch).map_err(|e| e.to_string())?;
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        for r in 0..batch.num_rows() {
            out.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Ok(SqlResult {
        query: query.to_string(),
        columns,
        rows: out,
        more,
    })
}

/// One span of a trace, placed for a waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallSpan {
    pub name: String,
    pub kind: String,
    pub status: String,
    /// Nesting under its parent (0: a root, or a span whose parent is not stored).
    pub depth: usize,
    /// Start after the trace's first span, and length (ms).
    pub offset_ms: f64,
    pub duration_ms: f64,
}

/// An invocation's trace as a waterfall, with its log lines.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceView {
    pub request_id: String,
    pub trace_id: Option<String>,
    pub total_ms: f64,
    pub spans: Vec<WaterfallSpan>,
    /// Offset from the first span (ms; negative when before it), severity, body.
    pub logs: Vec<(f64, String, String)>,
}

/// Loads an invocation's trace (every span of its trace id, else the spans naming its request id)
/// and its log lines.
pub async fn load_trace(analyzer: &Analyzer, request_id: &str) -> Result<TraceView, String> {
    let id = sql_string(request_id);
    let q = |sql: String| async move { analyzer.query(&sql).await.map_err(|e| e.to_string()) };
    let trace = q(format!(
        "SELECT encode(trace_id, 'hex') FROM invocations WHERE request_id = {id} \
         AND trace_id IS NOT NULL LIMIT 1"
    ))
    .await?;
    let trace_id = rows(&trace).next().and_then(|(b, r)| text(b, 0, r));
    let which = match &trace_id {
        Some(t) => format!("encode(trace_id, 'hex') = {}", sql_string(t)),
        None => format!("request_id = {id}"),
    };
    let spans = q(format!(
        "SELECT encode(span_id, 'hex'), encode(parent_span_id, 'hex'), name, kind, status_code, \
         CAST(start_time AS BIGINT) AS start_ns, duration_ms FROM spans WHERE {which} \
         ORDER BY start_time, name LIMIT 500"
    ))
    .await?;
    struct Raw {
        id: String,
        parent: Option<String>,
        name: String,
        kind: String,
        status: String,
        start: i64,
        duration: f64,
    }
    let raw: Vec<Raw> = rows(&spans)
        .map(|(b, r)| Raw {
            id: text(b, 0, r).unwrap_or_default(),
            parent: text(b, 1, r),
            name: text(b, 2, r).unwrap_or_default(),
            kind: text(b, 3, r).unwrap_or_default(),
            status: text(b, 4, r).unwrap_or_default(),
            start: int(b, 5, r).unwrap_or(0),
            duration: float(b, 6, r).unwrap_or(0.0),
        })
        .collect();
    let first = raw.iter().map(|s| s.start).min().unwrap_or(0);
    let end = raw
        .iter()
        .map(|s| (s.start - first) as f64 / 1e6 + s.duration)
        .fold(0.0, f64::max);
    // Depth by walking up the parents that are stored (a cycle or a missing parent stops it).
    let parent_of: BTreeMap<&str, Option<&str>> = raw
        .iter()
        .map(|s| (s.id.as_str(), s.parent.as_deref()))
        .collect();
    let depth = |id: &str| {
        let mut depth = 0;
        let mut at = id;
        while let Some(Some(parent)) = parent_of.get(at) {
            if !parent_of.contains_key(parent) || depth > 32 {
                break;
            }
            depth += 1;
            at = parent;
        }
        depth
    };
    let spans = raw
        .iter()
        .map(|s| WaterfallSpan {
            name: s.name.clone(),
            kind: s.kind.clone(),
            status: s.status.clone(),
            depth: depth(&s.id),
            offset_ms: (s.start - first) as f64 / 1e6,
            duration_ms: s.duration,
        })
        .collect();
    let logs = q(format!(
        "SELECT CAST(time AS BIGINT) AS t, coalesce(severity_text, ''), coalesce(body, '') FROM logs \
         WHERE request_id = {id} ORDER BY time LIMIT 200"
    ))
    .await?;
    let logs = rows(&logs)
        .map(|(b, r)| {
            (
                (int(b, 0, r).unwrap_or(first) - first) as f64 / 1e6,
                text(b, 1, r).unwrap_or_default(),
                text(b, 2, r).unwrap_or_default(),
            )
        })
        .collect();
    Ok(TraceView {
        request_id: request_id.to_string(),
        trace_id,
        total_ms: end,
        spans,
        logs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_of_places_names_one_function_or_counts_several() {
        let mut places = Places::default();
        assert_eq!(places_notice(&places), None);
        places.add("api", Some("us-east-1"), Some("111111111111"));
        assert_eq!(places_notice(&places), None);
        places.add("api", Some("eu-west-1"), Some("111111111111"));
        assert_eq!(
            places_notice(&places).unwrap(),
            "api runs in 2 regions (eu-west-1, us-east-1): its row adds them together"
        );
        for name in ["b", "c", "d"] {
            places.add(name, None, Some("111111111111"));
            places.add(name, None, Some("222222222222"));
        }
        assert_eq!(
            places_notice(&places).unwrap(),
            "4 functions run in several regions or accounts (api, b, c, …): their rows add them \
             together"
        );
    }
}
