//! Built-in reports: `summary`, `coldstarts`, `errors` and `concurrency`.
//!
//! A report is a list of named [`Section`]s, each a table. The SQL reports run over the
//! `invocations` view with the report's filters (function, time window); the concurrency report
//! reads each invocation's interval once and runs the sweep of [`crate::concurrency`]. Column
//! names are stable and documented in `docs/reports.md`. Percentiles are exact unless
//! [`ReportOptions::approximate`] asks for the t-digest estimate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use crate::concurrency::{Events, MAX_BUCKETS};
use crate::session::{Analyzer, AnalyzerError, FRAGMENTS_TABLE};

/// The reports `faasobs report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Summary,
    Coldstarts,
    Errors,
    Concurrency,
}

/// What a report covers and how it is computed.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Only this function.
    pub function: Option<String>,
    /// Only invocations that say they ran in this region.
    pub region: Option<String>,
    /// Only invocations that say they ran in this account.
    pub account: Option<String>,
    /// Invocations that started at or after this instant (ns since the epoch).
    pub since: Option<i64>,
    /// Invocations that started before this instant (ns since the epoch).
    pub until: Option<i64>,
    /// The width of the time buckets of series, in ns (default: 1 h, 1 min for concurrency).
    pub step: Option<i64>,
    /// The concurrency limit headroom is measured against.
    pub limit: i64,
    /// Approximate percentiles (t-digest) instead of exact ones.
    pub approximate: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            function: None,
            region: None,
            account: None,
            since: None,
            until: None,
            step: None,
            limit: 1000,
            approximate: false,
        }
    }
}

/// One table of a report.
#[derive(Debug)]
pub struct Section {
    pub name: &'static str,
    pub batches: Vec<RecordBatch>,
}

/// The name the account-wide rows of the concurrency report carry as `function_name`.
pub const ALL_FUNCTIONS: &str = "(all)";

const HOUR_NS: i64 = 3_600_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

/// Parses a time bound: an RFC 3339 time; a date, or a date and time without an offset
/// (`2026-11-23`, `2026-11-23 09:30`, `2026-11-23T09:30:00`), in UTC; or a duration before
/// `now` such as `1h` or `7d`.
pub fn parse_time_bound(text: &str, now_ns: i64) -> Result<i64, String> {
    let trimmed = text.trim();
    let out_of_range = || format!("{text:?} is out of range");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(trimmed) {
        return t.timestamp_nanos_opt().ok_or_else(out_of_range);
    }
    let utc = |t: chrono::NaiveDateTime| t.and_utc().timestamp_nanos_opt();
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(trimmed, format) {
            return utc(t).ok_or_else(out_of_range);
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        return utc(day.and_time(chrono::NaiveTime::MIN)).ok_or_else(out_of_range);
    }
    match humantime::parse_duration(trimmed) {
        Ok(d) => Ok(now_ns - i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        Err(_) => Err(format!(
            "{text:?} is neither a time (2026-11-23T09:00:00Z, or 2026-11-23 09:00 and \
             2026-11-23 in UTC) nor a duration ago (1h, 7d)"
        )),
    }
}

/// A SQL string literal of `text`, quotes doubled.
pub fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl ReportOptions {
    /// The SQL condition selecting the report's invocations.
    pub(crate) fn filter(&self) -> String {
        let mut conditions = vec!["true".to_string()];
        for (column, value) in [
            ("function_name", &self.function),
            ("region", &self.region),
            ("account_id", &self.account),
        ] {
            if let Some(v) = value {
                conditions.push(format!("{column} = {}", sql_string(v)));
            }
        }
        if let Some(t) = self.since {
            conditions.push(format!("start_time >= to_timestamp_nanos({t})"));
        }
        if let Some(t) = self.until {
            conditions.push(format!("start_time < to_timestamp_nanos({t})"));
        }
        conditions.join(" AND ")
    }

    fn percentile(&self, column: &str, p: f64) -> String {
        if self.approximate {
            format!("approx_percentile_cont({column}, {p})")
        } else {
            format!("percentile_cont({column}, {p})")
        }
    }

    fn step_interval(&self, default: i64) -> String {
        format!("INTERVAL '{} nanoseconds'", self.step.unwrap_or(default))
    }
}

fn summary_sql(o: &ReportOptions) -> String {
    format!(
        "SELECT function_name,
       count(*) AS invocations,
       sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS errors,
       round(avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END), 4) AS error_rate,
       sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
       round(avg(CASE WHEN cold_start THEN 1.0 WHEN status <> 'throttled' THEN 0.0 END), 4) AS cold_start_rate,
       round({p50}, 3) AS p50_ms,
       round({p95}, 3) AS p95_ms,
       round({p99}, 3) AS p99_ms,
       peak_concurrency(start_time, end_time) AS peak_concurrency,
       round(avg(max_memory_used_mb), 1) AS mean_memory_used_mb,
       max(max_memory_used_mb) AS max_memory_used_mb,
       max(memory_size_mb) AS memory_size_mb
FROM invocations WHERE {filter}
GROUP BY function_name
ORDER BY invocations DESC, function_name",
        p50 = o.percentile("duration_ms", 0.5),
        p95 = o.percentile("duration_ms", 0.95),
        p99 = o.percentile("duration_ms", 0.99),
        filter = o.filter(),
    )
}

fn coldstart_columns(o: &ReportOptions) -> String {
    format!(
        "count(*) AS invocations,
       sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
       round(avg(CASE WHEN cold_start THEN 1.0 WHEN status <> 'throttled' THEN 0.0 END), 4) AS cold_start_rate,
       sum(CASE WHEN cold_start AND cold_start_inferred THEN 1 ELSE 0 END) AS inferred_cold_starts,
       round({p50}, 3) AS init_p50_ms,
       round({p95}, 3) AS init_p95_ms,
       round({p99}, 3) AS init_p99_ms,
       max(init_duration_ms) AS init_max_ms,
       round(coalesce(sum(init_duration_ms), 0) / nullif(coalesce(sum(duration_ms), 0) + coalesce(sum(init_duration_ms), 0), 0), 4) AS init_latency_share",
        p50 = o.percentile("CASE WHEN cold_start THEN init_duration_ms END", 0.5),
        p95 = o.percentile("CASE WHEN cold_start THEN init_duration_ms END", 0.95),
        p99 = o.percentile("CASE WHEN cold_start THEN init_duration_ms END", 0.99),
    )
}

fn coldstarts_sql(o: &ReportOptions) -> Vec<(&'static str, String)> {
    let filter = o.filter();
    let columns = coldstart_columns(o);
    vec![
        (
            "by_function",
            format!(
                "SELECT function_name, {columns} FROM invocations WHERE {filter} \
                 GROUP BY function_name ORDER BY cold_starts DESC, function_name"
            ),
        ),
        (
            "by_configuration",
            format!(
                "SELECT runtime, memory_size_mb, architecture, {columns} FROM invocations \
                 WHERE {filter} GROUP BY runtime, memory_size_mb, architecture \
                 ORDER BY runtime, memory_size_mb, architecture"
            ),
        ),
        (
            "over_time",
            format!(
                "SELECT date_bin({step}, start_time, TIMESTAMP '1970-01-01T00:00:00Z') AS time, \
                 function_name, count(*) AS invocations, \
                 sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts \
                 FROM invocations WHERE {filter} GROUP BY 1, 2 ORDER BY 1, 2",
                step = o.step_interval(HOUR_NS)
            ),
        ),
    ]
}

/// The error message with what varies between occurrences taken out: ids, hex, numbers.
const NORMALIZED_MESSAGE: &str = "regexp_replace(regexp_replace(regexp_replace(\
coalesce(error_message, ''), \
'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'), \
'\\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\\b|\\b(0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\\b', '<hex>', 'g'), \
'[0-9]+(\\.[0-9]+)?', '<n>', 'g')";

fn errors_sql(o: &ReportOptions) -> Vec<(&'static str, String)> {
    let filter = o.filter();
    vec![
        (
            "over_time",
            format!(
                "SELECT date_bin({step}, start_time, TIMESTAMP '1970-01-01T00:00:00Z') AS time, \
                 function_name, count(*) AS invocations, \
                 sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS errors, \
                 round(avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END), 4) AS error_rate \
                 FROM invocations WHERE {filter} GROUP BY 1, 2 ORDER BY 1, 2",
                step = o.step_interval(HOUR_NS)
            ),
        ),
        (
            "groups",
            format!(
                "SELECT function_name, status AS class, coalesce(error_type, '') AS error_type, \
                 {NORMALIZED_MESSAGE} AS message, count(*) AS count, \
                 min(start_time) AS first_seen, max(start_time) AS last_seen, \
                 first_value(request_id ORDER BY start_time, request_id) AS sample_request_id, \
                 first_value(encode(trace_id, 'hex') ORDER BY start_time, request_id) AS sample_trace_id \
                 FROM invocations WHERE {filter} AND status <> 'success' \
                 GROUP BY 1, 2, 3, 4 ORDER BY count DESC, 1, 2, 3, 4"
            ),
        ),
    ]
}

impl Analyzer {
    /// The summary report with default options (all functions, all time, exact percentiles).
    pub async fn summary(&self) -> Result<Vec<RecordBatch>, AnalyzerError> {
        self.query(&summary_sql(&ReportOptions::default())).await
    }

    /// Runs a report.
    pub async fn report(
        &self,
        kind: ReportKind,
        options: &ReportOptions,
    ) -> Result<Vec<Section>, AnalyzerError> {
        let queries = match kind {
            ReportKind::Summary => vec![("by_function", summary_sql(options))],
            ReportKind::Coldstarts => coldstarts_sql(options),
            ReportKind::Errors => errors_sql(options),
            ReportKind::Concurrency => return self.concurrency(options).await,
        };
        let mut sections = Vec::new();
        for (name, sql) in queries {
            sections.push(Section {
                name,
                batches: self.query(&sql).await?,
            });
        }
        Ok(sections)
    }

    async fn concurrency(&self, o: &ReportOptions) -> Result<Vec<Section>, AnalyzerError> {
        let sql = format!(
            "SELECT function_name, arrow_cast(start_time, 'Int64') AS s, arrow_cast(end_time, 'Int64') AS e \
             FROM invocations WHERE {} AND end_time IS NOT NULL",
            o.filter()
        );
        let mut by_function: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for batch in self.query(&sql).await? {
            let names = crate::query::text_column(batch.column(0))?;
            let starts = batch.column(1).as_primitive::<Int64Type>();
            let ends = batch.column(2).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                by_function
                    .entry(names.value(i).to_string())
                    .or_default()
                    .push((starts.value(i), ends.value(i)));
            }
        }
        let all: Vec<(i64, i64)> = by_function.values().flatten().copied().collect();
        let step = o.step.unwrap_or(MINUTE_NS).max(1);
        let from = o
            .since
            .or_else(|| all.iter().map(|i| i.0).min())
            .map(|t| t.div_euclid(step) * step);
        let to = o.until.or_else(|| all.iter().map(|i| i.1).max());
        if let (Some(from), Some(to)) = (from, to)
            && (to - from) / step > MAX_BUCKETS
        {
            return Err(AnalyzerError::InvalidReport(format!(
                "a step of {} over {} gives more than {MAX_BUCKETS} buckets; choose a larger \
                 --step or a shorter window (--since, --until)",
                humantime::format_duration(std::time::Duration::from_nanos(step as u64)),
                humantime::format_duration(std::time::Duration::from_secs(
                    ((to - from) / 1_000_000_000) as u64
                )),
            )));
        }
        let mut groups: Vec<(String, Vec<(i64, i64)>)> = by_function.into_iter().collect();
        if groups.len() > 1 || o.function.is_none() {
            groups.push((ALL_FUNCTIONS.to_string(), all));
        }
        let (mut names, mut peaks, mut times, mut limits, mut headrooms) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut series_names, mut series_times, mut series_values) = (vec![], vec![], vec![]);
        for (name, intervals) in &groups {
            let events = Events::of(intervals);
            let p = events.peak();
            names.push(name.clone());
            peaks.push(p.concurrency);
            times.push(p.at);
            limits.push(o.limit);
            headrooms.push(o.limit - p.concurrency);
            if let (Some(from), Some(to)) = (from, to) {
                for (t, v) in events.series(from, to, step) {
                    series_names.push(name.clone());
                    series_times.push(t);
                    series_values.push(v);
                }
            }
        }
        let timestamp = |values: Vec<Option<i64>>| -> ArrayRef {
            Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"))
        };
        let ts_type =
            DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into()));
        let peaks_batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("function_name", DataType::Utf8, false),
                Field::new("peak_concurrency", DataType::Int64, false),
                Field::new("peak_time", ts_type.clone(), true),
                Field::new("limit", DataType::Int64, false),
                Field::new("headroom", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(names)),
                Arc::new(Int64Array::from(peaks)),
                timestamp(times),
                Arc::new(Int64Array::from(limits)),
                Arc::new(Int64Array::from(headrooms)),
            ],
        )?;
        let series_batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("function_name", DataType::Utf8, false),
                Field::new("time", ts_type, false),
                Field::new("concurrency", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(series_names)),
                timestamp(series_times.into_iter().map(Some).collect()),
                Arc::new(Int64Array::from(series_values)),
            ],
        )?;
        Ok(vec![
            Section {
                name: "peaks",
                batches: vec![peaks_batch],
            },
            Section {
                name: "series",
                batches: vec![series_batch],
            },
        ])
    }
}

/// The regions and accounts each function name of a selection ran in, as its invocations say.
///
/// Reports group by `function_name` alone, so a name deployed in two regions or accounts (a
/// multi-region API, or staging and production accounts) is one row that adds them together,
/// although Lambda's concurrency limit is per account and region. This tells the reader when
/// that happened. An invocation that does not say its region or account (Lambda logs without
/// one) adds no place: only values that some source gave are counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Places {
    by_function: BTreeMap<String, FunctionPlaces>,
}

/// The regions and accounts one function name ran in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FunctionPlaces {
    pub regions: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
}

impl FunctionPlaces {
    /// More than one region or more than one account.
    pub fn several(&self) -> bool {
        self.regions.len() > 1 || self.accounts.len() > 1
    }

    /// What differs when there are several places ("2 regions (eu-west-1, us-east-1)", "2
    /// accounts (…)", or both), else the one place said ("us-east-1, account 111111111111", or
    /// "no region or account said").
    pub fn describe(&self) -> String {
        let list = |kind: &str, values: &BTreeSet<String>| {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            format!("{} {kind}s ({})", values.len(), values.join(", "))
        };
        match (self.regions.len() > 1, self.accounts.len() > 1) {
            (true, true) => format!(
                "{} and {}",
                list("region", &self.regions),
                list("account", &self.accounts)
            ),
            (true, false) => list("region", &self.regions),
            (false, true) => list("account", &self.accounts),
            (false, false) => {
                let region = self.regions.first().cloned();
                let account = self.accounts.first().map(|a| format!("account {a}"));
                let said: Vec<String> = region.into_iter().chain(account).collect();
                if said.is_empty() {
                    "no region or account said".to_string()
                } else {
                    said.join(", ")
                }
            }
        }
    }
}

impl Places {
    /// Counts an invocation of `function` that said `region` and `account` (either may be
    /// unknown).
    pub fn add(&mut self, function: &str, region: Option<&str>, account: Option<&str>) {
        let places = self.by_function.entry(function.to_owned()).or_default();
        places.regions.extend(region.map(String::from));
        places.accounts.extend(account.map(String::from));
    }

    /// The function names that ran in more than one region or account, in name order.
    pub fn functions_in_several(&self) -> impl Iterator<Item = (&str, &FunctionPlaces)> {
        self.by_function
            .iter()
            .filter(|(_, places)| places.several())
            .map(|(name, places)| (name.as_str(), places))
    }

    /// The regions and accounts `function` ran in (none when it has no invocations that say
    /// them).
    pub fn of(&self, function: &str) -> FunctionPlaces {
        self.by_function.get(function).cloned().unwrap_or_default()
    }

    /// Every region and account of the selection, whichever function ran there.
    pub fn all(&self) -> FunctionPlaces {
        let mut all = FunctionPlaces::default();
        for places in self.by_function.values() {
            all.regions.extend(places.regions.iter().cloned());
            all.accounts.extend(places.accounts.iter().cloned());
        }
        all
    }
}

/// The text at `i` of `texts`, `None` when null.
fn text_at(texts: &StringArray, i: usize) -> Option<&str> {
    texts.is_valid(i).then(|| texts.value(i))
}

impl Analyzer {
    /// Where the functions of a report's selection ran. Reads the stored fragments, not the
    /// merged `invocations`: a region or account is the same whichever fragment of an
    /// invocation says it, and the three columns are a small part of the rows.
    pub async fn places(&self, o: &ReportOptions) -> Result<Places, AnalyzerError> {
        let sql = format!(
            "SELECT function_name, region, account_id FROM {FRAGMENTS_TABLE} \
             WHERE {} AND (region IS NOT NULL OR account_id IS NOT NULL) GROUP BY 1, 2, 3",
            o.filter()
        );
        let mut places = Places::default();
        for batch in self.query(&sql).await? {
            let names = crate::query::text_column(batch.column(0))?;
            let regions = crate::query::text_column(batch.column(1))?;
            let accounts = crate::query::text_column(batch.column(2))?;
            for i in 0..batch.num_rows() {
                if let Some(name) = text_at(&names, i) {
                    places.add(name, text_at(&regions, i), text_at(&accounts, i));
                }
            }
        }
        Ok(places)
    }
}

/// Renders a report: `table` prints each section under its name, `csv` each section after a
/// `# name` line, `json` one object with an array of rows per section.
pub fn render_report(
    sections: &[Section],
    format: crate::query::OutputFormat,
) -> Result<String, AnalyzerError> {
    use crate::query::{OutputFormat, render};
    match format {
        OutputFormat::Json => {
            let mut object = serde_json::Map::new();
            for s in sections {
                let text = render(&s.batches, OutputFormat::Json)?;
                let rows: serde_json::Value = if text.trim().is_empty() {
                    serde_json::Value::Array(vec![])
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        AnalyzerError::InvalidReport(format!("rendering {}: {e}", s.name))
                    })?
                };
                object.insert(s.name.to_string(), rows);
            }
            Ok(
                serde_json::to_string_pretty(&serde_json::Value::Object(object))
                    .unwrap_or_default(),
            )
        }
        other => {
            let mut out = String::new();
            for s in sections {
                let heading = match other {
                    OutputFormat::Csv => format!("# {}\n", s.name),
                    _ => format!("{}\n", s.name),
                };
                out.push_str(&heading);
                out.push_str(&render(&s.batches, other)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_describe_what_differs_or_the_one_place_said() {
        let mut places = Places::default();
        places.add("said-nothing", None, None);
        places.add("one-region", Some("us-east-1"), None);
        places.add("one-place", Some("us-east-1"), Some("111111111111"));
        places.add("one-place", None, Some("111111111111"));
        places.add("two-accounts", Some("us-east-1"), Some("111111111111"));
        places.add("two-accounts", Some("us-east-1"), Some("222222222222"));
        let described = |f| places.of(f).describe();
        assert_eq!(described("said-nothing"), "no region or account said");
        assert_eq!(described("not-stored"), "no region or account said");
        assert_eq!(described("one-region"), "us-east-1");
        assert_eq!(described("one-place"), "us-east-1, account 111111111111");
        assert_eq!(
            described("two-accounts"),
            "2 accounts (111111111111, 222222222222)"
        );
        let several: Vec<&str> = places.functions_in_several().map(|(f, _)| f).collect();
        assert_eq!(several, ["two-accounts"]);
        assert_eq!(
            places.all().describe(),
            "2 accounts (111111111111, 222222222222)"
        );
    }

    #[test]
    fn time_bounds_are_times_dates_in_utc_or_durations_ago() {
        let at = |text| parse_time_bound(text, 0);
        let nine = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(at("2026-11-23T09:00:00Z"), Ok(nine));
        assert_eq!(at("2026-11-23T10:00:00+01:00"), Ok(nine));
        assert_eq!(at("2026-11-23T09:00:00"), Ok(nine));
        assert_eq!(at("2026-11-23 09:00"), Ok(nine));
        assert_eq!(at(" 2026-11-23 09:00:00.5 "), Ok(nine + 500_000_000));
        assert_eq!(at("2026-11-23"), Ok(nine - 9 * HOUR_NS));
        assert_eq!(at("90m"), Ok(-90 * MINUTE_NS));
        for wrong in ["yesterday", "2026-11-32", "23/11/2026"] {
            let message = at(wrong).unwrap_err();
            assert!(message.contains("is neither a time"), "{message}");
        }
    }
}
