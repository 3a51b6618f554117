//! AWS Lambda's text log format: `START`/`END`/`REPORT`/`INIT_START` platform lines, the
//! `Task timed out` line, and function log lines, as CloudWatch Logs stores them.
//!
//! [`LambdaLogStream`] reads the lines of one log stream (one execution environment) in order and
//! yields `invocations` fragments (from `REPORT`, completed by `START` and the timeout line) and a
//! `logs` row per line. Fields may be separated by tabs or spaces, and the tabs and newlines inside
//! a message may arrive escaped (`\t`, `\n`) or even escaped twice, as some forwarders deliver them.
//!
//! The same stream reads the JSON shapes of [`lambda_json`](super::lambda_json): lines of the JSON
//! log format, Telemetry/Logs API events and Powertools' structured logs, so a log stream that
//! mixes them yields one fragment per source and invocation.

use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt};
use hashbrown::hash_table::{Entry, HashTable};

use serde_json::Value;

use super::lambda_json::{FunctionLog, LambdaJson, PlatformEvent, RawObject, classify};

use crate::model::{
    AttributeRef, Invocation, InvocationBuilder, InvocationRow, InvocationStatus, LogBuilder,
    LogRow, Records, RowAttributes, Source, invocation::Sources,
};

use crate::model::UNKNOWN_FUNCTION;

/// One platform line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformLine {
    Start {
        request_id: String,
        version: Option<String>,
    },
    End {
        request_id: String,
    },
    Report(Report),
    InitStart {
        runtime_version: Option<String>,
    },
    /// `INIT_REPORT`: printed when the init phase ended abnormally (or under SnapStart).
    InitReport {
        status: Option<String>,
        error_type: Option<String>,
    },
    TimedOut {
        request_id: Option<String>,
        seconds: f64,
    },
}

/// The fields of a `REPORT` line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_duration_ms: Option<i64>,
    pub memory_size_mb: Option<i32>,
    pub max_memory_used_mb: Option<i32>,
    pub init_duration_ms: Option<f64>,
    /// `Restore Duration`: a SnapStart function's new execution environment restored from its
    /// snapshot (its cold start; such a `REPORT` has no `Init Duration`).
    pub restore_duration_ms: Option<f64>,
    /// `Billed Restore Duration`: the part of the restore that is billed, beside
    /// `Billed Duration`.
    pub billed_restore_duration_ms: Option<i64>,
    pub status: Option<String>,
    pub error_type: Option<String>,
    pub xray_trace_id: Option<String>,
}

/// Undoes the escaping some forwarders apply to tabs and newlines (once or twice).
pub fn unescape(message: &str) -> String {
    message
        .replace("\\\\t", "\t")
        .replace("\\\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Splits `Key: value` fields separated by tabs (or by two or more spaces, or by a single space
/// before a known key, as some copies of the format have).
fn fields(rest: &str) -> Vec<(String, String)> {
    const KEYS: [&str; 16] = [
        "Phase:",
        "RequestId:",
        "Version:",
        "Duration:",
        "Billed Duration:",
        "Memory Size:",
        "Max Memory Used:",
        "Init Duration:",
        "Restore Duration:",
        "Billed Restore Duration:",
        "Status:",
        "Error Type:",
        "XRAY TraceId:",
        "SegmentId:",
        "Sampled:",
        "Runtime Version:",
    ];
    let mut starts: Vec<(usize, &str)> = Vec::new();
    for key in KEYS {
        let mut from = 0;
        while let Some(pos) = rest[from..].find(key) {
            let at = from + pos;
            if at == 0 || rest[..at].ends_with([' ', '\t']) {
                starts.push((at, key));
            }
            from = at + key.len();
        }
    }
    starts.sort();
    // Drop keys found inside a longer key (`Version:` inside `Runtime Version:`, `Duration:`
    // inside `Billed Duration:`, `Restore Duration:` inside `Billed Restore Duration:`).
    let mut kept: Vec<(usize, &str)> = Vec::new();
    for (at, key) in starts {
        if kept
            .last()
            .is_none_or(|(prev, prev_key)| at >= prev + prev_key.len())
        {
            kept.push((at, key));
        }
    }
    let starts = kept;
    let mut out = Vec::new();
    for (i, (at, key)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(rest.len(), |(next, _)| *next);
        let value = rest[at + key.len()..end].trim();
        out.push((key.trim_end_matches(':').to_string(), value.to_string()));
    }
    out
}

/// The number that leads a field's value (`49.00 ms`, `95MB`). Anything after it and its unit is
/// a field this reader does not know yet, which the split by known keys left in the value: a
/// `REPORT` gains fields now and then (SnapStart's `Restore Duration` did), and the known ones
/// before it must still read.
fn number_with_unit(value: &str, unit: &str) -> Option<f64> {
    let first = value.split_whitespace().next()?;
    first.strip_suffix(unit).unwrap_or(first).parse().ok()
}

/// Parses one platform line (without a leading timestamp); `None` for any other line.
pub fn parse_platform_line(line: &str) -> Option<PlatformLine> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("START ") {
        let f = fields(rest);
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        return Some(PlatformLine::Start {
            request_id: get("RequestId")?,
            version: get("Version"),
        });
    }
    if let Some(rest) = line.strip_prefix("END ") {
        let f = fields(rest);
        return Some(PlatformLine::End {
            request_id: f.into_iter().find(|(k, _)| k == "RequestId")?.1,
        });
    }
    if let Some(rest) = line.strip_prefix("REPORT ") {
        let f = fields(rest);
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        return Some(PlatformLine::Report(Report {
            request_id: get("RequestId")?.split_whitespace().next()?.to_string(),
            duration_ms: number_with_unit(get("Duration")?, "ms")?,
            billed_duration_ms: get("Billed Duration")
                .and_then(|v| number_with_unit(v, "ms"))
                .map(|v| v as i64),
            memory_size_mb: get("Memory Size")
                .and_then(|v| number_with_unit(v, "MB"))
                .map(|v| v as i32),
            max_memory_used_mb: get("Max Memory Used")
                .and_then(|v| number_with_unit(v, "MB"))
                .map(|v| v as i32),
            init_duration_ms: get("Init Duration").and_then(|v| number_with_unit(v, "ms")),
            restore_duration_ms: get("Restore Duration").and_then(|v| number_with_unit(v, "ms")),
            billed_restore_duration_ms: get("Billed Restore Duration")
                .and_then(|v| number_with_unit(v, "ms"))
                .map(|v| v as i64),
            status: get("Status").map(String::from),
            error_type: get("Error Type").map(String::from),
            xray_trace_id: get("XRAY TraceId").map(String::from),
        }));
    }
    if let Some(rest) = line.strip_prefix("INIT_START ") {
        let f = fields(rest);
        return Some(PlatformLine::InitStart {
            runtime_version: f
                .into_iter()
                .find(|(k, _)| k == "Runtime Version")
                .map(|(_, v)| v),
        });
    }
    if let Some(rest) = line.strip_prefix("INIT_REPORT ") {
        let f = fields(rest);
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        return Some(PlatformLine::InitReport {
            status: get("Status"),
            error_type: get("Error Type"),
        });
    }
    if let Some(pos) = line.find("Task timed out after ") {
        let seconds = line[pos + "Task timed out after ".len()..]
            .trim_end_matches('.')
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let request_id = line[..pos]
            .split_whitespace()
            .rev()
            .find(|w| looks_like_request_id(w))
            .map(String::from);
        return Some(PlatformLine::TimedOut {
            request_id,
            seconds,
        });
    }
    None
}

fn looks_like_request_id(word: &str) -> bool {
    word.len() == 36 && word.chars().filter(|c| *c == '-').count() == 4
}

/// Splits a leading RFC 3339 timestamp off a line, as CloudWatch exports and runtimes print it.
pub fn split_timestamp(line: &str) -> (Option<i64>, &str) {
    let first = line.split(['\t', ' ']).next().unwrap_or("");
    match chrono::DateTime::parse_from_rfc3339(first) {
        Ok(t) => (
            t.timestamp_nanos_opt(),
            line[first.len()..].trim_start_matches(['\t', ' ']),
        ),
        Err(_) => (None, line),
    }
}

/// Whether an INIT of this `initializationType` makes the invocation after it a cold start: an
/// environment of provisioned concurrency is initialized ahead of the requests it serves, and a
/// SnapStart INIT makes the version's snapshot (its environments start by a restore, which the
/// `REPORT` says). Unsaid, as in text logs, it is the usual on-demand INIT.
fn makes_cold_start(initialization_type: Option<&str>) -> bool {
    !matches!(
        initialization_type,
        Some("provisioned-concurrency" | "snap-start")
    )
}

/// Maps a `REPORT` status and error type to the data model's status.
fn status_of(report: &Report) -> InvocationStatus {
    match (report.status.as_deref(), report.error_type.as_deref()) {
        (_, Some(t)) if t.contains("OutOfMemory") => InvocationStatus::OutOfMemory,
        (Some("timeout"), _) => InvocationStatus::Timeout,
        (Some(s), _) if s.contains("init") => InvocationStatus::InitError,
        (Some("error"), _) | (Some("failure"), _) => InvocationStatus::Error,
        _ => InvocationStatus::Success,
    }
}

/// The function a log group belongs to: `/aws/lambda/NAME` → `NAME`.
pub fn function_of_log_group(log_group: &str) -> &str {
    log_group.strip_prefix("/aws/lambda/").unwrap_or(log_group)
}

/// A set of request ids, their texts one after another in one string. A `HashSet<String>` took
/// an allocation for every new id and two lookups for each line (`contains`, then `insert`): a
/// tenth of a Powertools import's normalizing threads in `perf`, where nearly every line is of a
/// request of its own.
#[derive(Default)]
struct RequestIds {
    texts: String,
    /// Where each id lies in `texts`.
    ids: HashTable<(usize, usize)>,
    hasher: foldhash::fast::RandomState,
}

impl RequestIds {
    /// Adds `id`; true when it was not in the set.
    fn insert(&mut self, id: &str) -> bool {
        let RequestIds { texts, ids, hasher } = self;
        let text_of = |&(start, end): &(usize, usize)| &texts[start..end];
        match ids.entry(
            hasher.hash_one(id),
            |range| text_of(range) == id,
            |range| hasher.hash_one(text_of(range)),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(vacant) => {
                let start = texts.len();
                texts.push_str(id);
                vacant.insert((start, texts.len()));
                true
            }
        }
    }
}

/// An invocation's error type and message, as a log line said them.
type ErrorText = (Option<String>, Option<String>);

/// Reads the lines of one Lambda log stream, in order.
pub struct LambdaLogStream {
    function_name: Option<String>,
    instance_id: Option<String>,
    /// The region and account the stream's function runs in, when its transport says them
    /// ([`LambdaLogStream::running_in`]).
    region: Option<String>,
    account_id: Option<String>,
    /// The instruction set the stream's function runs on, when its transport says it
    /// ([`LambdaLogStream::on_architecture`]): no platform line says it.
    architecture: Option<&'static str>,
    starts: HashMap<String, (i64, Option<String>)>,
    /// The request id of the last `START` whose `REPORT` has not come: the invocation running,
    /// which a line without a request id belongs to (an environment runs one at a time).
    in_flight: Option<String>,
    /// A `[ERROR] Type: message` line of the invocation running whose traceback is still to
    /// come on the next line ([`uncaught_error`]).
    uncaught_pending: Option<(String, ErrorText)>,
    timed_out: HashMap<String, f64>,
    errors: HashMap<String, ErrorText>,
    /// The error type and message a structured log at level ERROR carried for a request id (the
    /// runtime's error document in the JSON log format), for an invocation that failed.
    logged_errors: HashMap<String, ErrorText>,
    /// Request ids a structured log already made a fragment for.
    logged: RequestIds,
    init_seen: bool,
    /// The status and error type of an init phase that failed, for the invocation it belongs to.
    init_failure: Option<Option<String>>,
    last_time: i64,
    /// Invocation fragments, and the log and fragment batches already ended.
    records: Records,
    /// The log rows after the last batch ended.
    logs: LogBuilder,
    /// The fragments of structured logs (Powertools) after the last batch ended.
    fragments: InvocationBuilder,
}

impl LambdaLogStream {
    /// A stream of `function_name` (when known: a platform event or a structured log may name it
    /// later); `instance_id` is the log stream name when known.
    pub fn new(function_name: Option<&str>, instance_id: Option<String>) -> Self {
        LambdaLogStream {
            function_name: function_name.map(String::from),
            instance_id,
            region: None,
            account_id: None,
            architecture: None,
            starts: HashMap::new(),
            in_flight: None,
            uncaught_pending: None,
            timed_out: HashMap::new(),
            errors: HashMap::new(),
            logged_errors: HashMap::new(),
            logged: RequestIds::default(),
            init_seen: false,
            init_failure: None,
            last_time: 0,
            records: Records::default(),
            logs: LogBuilder::default(),
            fragments: InvocationBuilder::default(),
        }
    }

    /// The stream of a function that runs in `region` and `account_id`, as far as the stream's
    /// transport says (an OTLP resource's `cloud.region` and `cloud.account.id`, a CloudWatch Logs
    /// payload's `owner`, `/lambda/logs`' query). A structured line's own `function_arn` wins.
    pub fn running_in(mut self, region: Option<String>, account_id: Option<String>) -> Self {
        self.region = region;
        self.account_id = account_id;
        self
    }

    /// The stream of a function that runs on `architecture` (`x86_64` or `arm64`), as far as the
    /// stream's transport says (an OTLP resource's `host.arch`, `/lambda/logs`' query): the
    /// platform's lines never say it, and without it a log-only invocation is priced at the
    /// pricing catalog's default architecture.
    pub fn on_architecture(mut self, architecture: Option<&'static str>) -> Self {
        self.architecture = architecture;
        self
    }

    fn function_name(&self) -> String {
        self.function_name
            .as_deref()
            .unwrap_or(UNKNOWN_FUNCTION)
            .to_string()
    }

    fn time_or_last(&mut self, time: Option<i64>) -> Option<i64> {
        let t = time.or((self.last_time > 0).then_some(self.last_time))?;
        self.last_time = t;
        Some(t)
    }

    /// Reads one message. `time` is the event's timestamp when the transport gives one (CloudWatch
    /// does); otherwise a leading timestamp in the line is used, else the previous line's time.
    /// Returns false when the line has no time at all (nothing can be stored for it).
    pub fn push(&mut self, time: Option<i64>, message: &str) -> bool {
        let trimmed = message.trim();
        if trimmed.starts_with('{')
            && let Ok(value) = serde_json::from_str::<Value>(trimmed)
        {
            return self.push_json(time, &value, trimmed);
        }
        let message = unescape(message);
        for line in message.lines().filter(|l| !l.trim().is_empty()) {
            let (inline_time, rest) = split_timestamp(line);
            let Some(t) = self.time_or_last(time.or(inline_time)) else {
                return false;
            };
            let rest = rest.trim();
            if rest.starts_with('{')
                && let Ok(value) = serde_json::from_str::<Value>(rest)
            {
                self.push_json(Some(t), &value, rest);
            } else {
                self.push_line(t, rest);
            }
        }
        true
    }

    /// Reads one JSON record: a platform event (Telemetry API, Logs API, JSON log format), a
    /// `function` event, or a structured function log. `time` is the transport's timestamp, used
    /// when the record has none. Returns false when no time is known for it.
    pub fn push_value(&mut self, time: Option<i64>, value: Value) -> bool {
        let raw = value.to_string();
        self.push_json(time, &value, &raw)
    }

    /// [`Self::push_value`] for a record read from `text`, which is kept as the raw record (a log
    /// line's body when it has no message) instead of writing the value out again.
    pub fn push_value_read_from(&mut self, time: Option<i64>, value: Value, text: &str) -> bool {
        self.push_json(time, &value, text.trim())
    }

    /// [`Self::push_value_read_from`] for an object whose members are still in `text`.
    pub fn push_object_read_from(
        &mut self,
        time: Option<i64>,
        object: RawObject<'_>,
        text: &str,
    ) -> bool {
        let raw = text.trim();
        if object.is_event() {
            // Platform and `function` events are read as parsed values; structured logs, by far
            // the most lines, from the text.
            return self.push_json(time, &Value::Object(object.into_map()), raw);
        }
        self.push_read(time, Some(LambdaJson::Log(object.function_log())), raw)
    }

    fn push_json(&mut self, time: Option<i64>, value: &Value, raw: &str) -> bool {
        self.push_read(time, classify(value), raw)
    }

    /// Stores what a JSON record was read as (`None`: it was no object), with `raw`, its text.
    fn push_read(&mut self, time: Option<i64>, record: Option<LambdaJson<'_>>, raw: &str) -> bool {
        match record {
            Some(LambdaJson::Platform {
                time: own,
                kind,
                event,
            }) => {
                let Some(t) = self.time_or_last(own.or(time)) else {
                    return false;
                };
                self.push_platform_event(t, &kind, event, raw);
                true
            }
            Some(LambdaJson::FunctionEvent { time: own, record }) => match record {
                Value::String(line) => self.push(own.or(time), line),
                other => {
                    let raw = other.to_string();
                    self.push_json(own.or(time), other, &raw)
                }
            },
            Some(LambdaJson::Log(log)) => {
                let Some(t) = self.time_or_last(log.time.or(time)) else {
                    return false;
                };
                self.push_function_log(t, log, raw);
                true
            }
            None => {
                let Some(t) = self.time_or_last(time) else {
                    return false;
                };
                self.push_line(t, raw);
                true
            }
        }
    }

    fn push_platform_event(&mut self, time: i64, kind: &str, event: PlatformEvent, raw: &str) {
        let request_id = match event {
            PlatformEvent::Start {
                request_id,
                version,
            } => {
                self.starts.insert(request_id.clone(), (time, version));
                self.in_flight = Some(request_id.clone());
                Some(request_id)
            }
            PlatformEvent::Done {
                request_id,
                status,
                error_type,
            } => {
                if let Some(status) = status.filter(|s| s != "success") {
                    let message = Some(format!("{RUNTIME_STATUS} {status}"));
                    self.errors
                        .entry(request_id.clone())
                        .or_insert((error_type, message));
                }
                Some(request_id)
            }
            PlatformEvent::Report(report) => {
                let fragment = self.fragment(time, &report);
                self.records.invocations.push(fragment);
                Some(report.request_id)
            }
            PlatformEvent::InitStart {
                function_name,
                initialization_type,
                ..
            } => {
                self.init_seen |= makes_cold_start(initialization_type.as_deref());
                if self.function_name.is_none() {
                    self.function_name = function_name;
                }
                None
            }
            PlatformEvent::InitReport {
                status,
                error_type,
                initialization_type,
            } => {
                if status.as_deref().is_some_and(|s| s != "success") {
                    self.init_failure = Some(error_type);
                }
                self.init_seen |= makes_cold_start(initialization_type.as_deref());
                None
            }
            PlatformEvent::Other => None,
        };
        let attributes = [("lambda.event_type", AttributeRef::String(kind))];
        self.logs.append(LogRow {
            time,
            body: Some(raw),
            function_name: Some(self.function_name.as_deref().unwrap_or(UNKNOWN_FUNCTION)),
            request_id: request_id.as_deref(),
            source: "lambda_json",
            attributes: RowAttributes::Borrowed(&attributes),
            ..Default::default()
        });
        self.end_full_batches();
    }

    fn push_function_log(&mut self, time: i64, log: FunctionLog<'_>, raw: &str) {
        if let Some(request_id) = log.request_id.as_deref()
            && let Some(error) = logged_error(&log)
        {
            self.logged_errors
                .entry(request_id.to_string())
                .or_insert(error);
        }
        let function_name = log
            .context
            .as_ref()
            .and_then(|c| c.function_name.as_deref())
            .or(self.function_name.as_deref())
            .unwrap_or(UNKNOWN_FUNCTION);
        self.logs.append(LogRow {
            time,
            severity_text: log.level.as_deref(),
            body: Some(log.message.as_deref().unwrap_or(raw)),
            function_name: Some(function_name),
            request_id: log.request_id.as_deref(),
            source: if log.context.is_some() {
                "powertools"
            } else {
                "lambda_json"
            },
            attributes: RowAttributes::Borrowed(&log.attributes),
            ..Default::default()
        });
        // The invocation's fragment is built straight into Arrow from the line's texts: an owned
        // fragment per line, copied into Arrow and freed, was about a sixth of a log import's
        // parsing threads in `perf`.
        if let (Some(request_id), Some(context)) = (log.request_id, log.context)
            && self.logged.insert(&request_id)
        {
            self.fragments.append(&InvocationRow {
                function_name: context
                    .function_name
                    .as_deref()
                    .or(self.function_name.as_deref())
                    .unwrap_or(UNKNOWN_FUNCTION),
                provider: Some("aws"),
                region: context.region.or(self.region.as_deref()),
                account_id: context.account_id.or(self.account_id.as_deref()),
                architecture: self.architecture,
                memory_size_mb: context.memory_size_mb,
                request_id: &request_id,
                trace_id: context.trace_id,
                instance_id: self.instance_id.as_deref(),
                start_time: time,
                cold_start: context.cold_start.unwrap_or(false),
                // A line without `cold_start` says nothing either way.
                cold_start_inferred: context.cold_start.is_none(),
                sources: Sources::of(Source::FunctionLog),
                ..Default::default()
            });
        }
        self.end_full_batches();
    }

    /// Ends the log and fragment batches being built once they hold [`crate::model::BATCH_ROWS`]
    /// rows.
    fn end_full_batches(&mut self) {
        if self.logs.len() >= crate::model::BATCH_ROWS {
            self.records.log_batches.push(self.logs.end_batch());
        }
        if self.fragments.len() >= crate::model::BATCH_ROWS {
            let batch = self.fragments.end_batch();
            self.records.invocation_batches.push(batch);
        }
    }

    fn push_line(&mut self, time: i64, line: &str) {
        // Python's uncaught error is the `[ERROR]` line with its traceback; a line alike without
        // one is a log line of the function's own.
        if let Some((id, error)) = self.uncaught_pending.take()
            && line.trim_start().starts_with(TRACEBACK)
        {
            self.errors.entry(id).or_insert(error);
        }
        let platform = parse_platform_line(line);
        let mut request_id = None;
        match &platform {
            Some(PlatformLine::Start {
                request_id: id,
                version,
            }) => {
                self.starts.insert(id.clone(), (time, version.clone()));
                self.in_flight = Some(id.clone());
                request_id = Some(id.clone());
            }
            Some(PlatformLine::End { request_id: id }) => request_id = Some(id.clone()),
            Some(PlatformLine::InitStart { .. }) => self.init_seen = true,
            Some(PlatformLine::InitReport { status, error_type }) => {
                self.init_seen = true;
                if status.as_deref().is_some_and(|s| s != "success") {
                    self.init_failure = Some(error_type.clone());
                }
            }
            Some(PlatformLine::TimedOut {
                request_id: id,
                seconds,
            }) => {
                if let Some(id) = id {
                    self.timed_out.insert(id.clone(), *seconds);
                    // The timeout line may come after the REPORT: fix the fragment already made.
                    if let Some(inv) =
                        self.records.invocations.iter_mut().rev().find(|i| {
                            &i.request_id == id && i.sources.contains(Source::PlatformReport)
                        })
                    {
                        inv.status = inv.status.max(InvocationStatus::Timeout);
                        inv.error_type
                            .get_or_insert_with(|| "Sandbox.Timedout".into());
                        inv.error_message.get_or_insert_with(|| {
                            format!("Task timed out after {seconds:.2} seconds")
                        });
                    }
                }
                request_id = id.clone();
            }
            Some(PlatformLine::Report(report)) => {
                request_id = Some(report.request_id.clone());
                let fragment = self.fragment(time, report);
                self.records.invocations.push(fragment);
            }
            None if line.starts_with("XRAY TraceId:") => {
                // Printed right after the REPORT line of the invocation it belongs to.
                let trace = fields(line).into_iter().find(|(k, _)| k == "XRAY TraceId");
                if let (Some((_, xray)), Some(last)) = (
                    trace,
                    self.records
                        .invocations
                        .iter_mut()
                        .rev()
                        .find(|i| i.sources.contains(Source::PlatformReport)),
                ) {
                    if last.trace_id.is_none() {
                        last.trace_id = xray_trace_id(&xray);
                    }
                    request_id = Some(last.request_id.clone());
                }
            }
            None if let Some((error, traceback)) = uncaught_error(line) => {
                // Python's runtime prints an invocation's uncaught error without its request id;
                // a text `REPORT` has no status, so this line is what says the invocation failed.
                if let Some(id) = self.in_flight.clone() {
                    request_id = Some(id.clone());
                    if traceback {
                        self.errors.entry(id).or_insert(error);
                    } else {
                        self.uncaught_pending = Some((id, error));
                    }
                }
            }
            None => {
                // Runtime log lines: `TIME\tREQUEST_ID\tLEVEL\tmessage`.
                let mut parts = line.splitn(3, '\t');
                if let (Some(id), Some(level), Some(message)) =
                    (parts.next(), parts.next(), parts.next())
                    && looks_like_request_id(id)
                {
                    request_id = Some(id.to_string());
                    if let Some(error) = invoke_error(level, message) {
                        self.errors.insert(id.to_string(), error);
                    }
                }
            }
        }
        let severity = match platform {
            Some(_) => None,
            None => line
                .split('\t')
                .nth(1)
                .filter(|l| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].contains(l)),
        };
        self.logs.append(LogRow {
            time,
            severity_text: severity,
            body: Some(line),
            function_name: Some(self.function_name.as_deref().unwrap_or(UNKNOWN_FUNCTION)),
            request_id: request_id.as_deref(),
            source: "lambda_text",
            ..Default::default()
        });
        self.end_full_batches();
    }

    fn fragment(&mut self, report_time: i64, report: &Report) -> Invocation {
        // A negative or NaN duration (hostile or corrupt input) counts as 0; huge ones saturate.
        let duration_ms = report.duration_ms.max(0.0);
        let duration_ns = (duration_ms * 1e6) as i64;
        if self.in_flight.as_deref() == Some(report.request_id.as_str()) {
            self.in_flight = None;
        }
        let (start, version) = match self.starts.remove(&report.request_id) {
            Some((t, v)) => (t, v),
            None => (report_time.saturating_sub(duration_ns), None),
        };
        let mut status = status_of(report);
        let mut error_type = report.error_type.clone();
        let mut error_message = None;
        if let Some(seconds) = self.timed_out.remove(&report.request_id) {
            status = status.max(InvocationStatus::Timeout);
            error_type.get_or_insert_with(|| "Sandbox.Timedout".into());
            error_message = Some(format!("Task timed out after {seconds:.2} seconds"));
        }
        if let Some((ty, message)) = self.errors.remove(&report.request_id) {
            status = status.max(InvocationStatus::Error);
            if error_type.is_none() {
                error_type = ty;
            }
            error_message = error_message.or(message);
        }
        // The JSON log format's `platform.runtimeDone` says only the error's type; the runtime
        // logged its message.
        if let Some((ty, message)) = self.logged_errors.remove(&report.request_id)
            && status != InvocationStatus::Success
        {
            if error_type.is_none() {
                error_type = ty;
            }
            if says_no_cause(&error_message) {
                error_message = message.or(error_message);
            }
        }
        // A timeout the report's status says, without the `Task timed out` line (the JSON log
        // format), reads as the text format's does, so that the errors report groups them.
        if status == InvocationStatus::Timeout {
            error_type.get_or_insert_with(|| "Sandbox.Timedout".into());
            if says_no_cause(&error_message) {
                error_message = Some(format!(
                    "Task timed out after {:.2} seconds",
                    duration_ms / 1000.0
                ));
            }
        }
        // So does an out-of-memory failure: the text format's line for it is `RequestId: … Error:
        // Runtime exited with error: signal: killed` (the kernel's OOM killer ends the runtime).
        if status == InvocationStatus::OutOfMemory && says_no_cause(&error_message) {
            error_message = Some(OUT_OF_MEMORY_MESSAGE.into());
        }
        if let Some(init_error_type) = self.init_failure.take() {
            status = status.max(InvocationStatus::InitError);
            if error_type.is_none() {
                error_type = init_error_type.or(Some("Runtime.InitError".into()));
            }
        }
        // Consume the INIT_START evidence even when the report itself proves the cold start.
        let init_phase_seen = std::mem::take(&mut self.init_seen);
        // A SnapStart restore is the cold start of a function whose INIT ran when its version was
        // published: its `Restore Duration` takes the place of `Init Duration`, and what of it is
        // billed is billed beside `Billed Duration`.
        let cold_start = report.init_duration_ms.is_some()
            || report.restore_duration_ms.is_some()
            || init_phase_seen;
        let billed_duration_ms = report
            .billed_duration_ms
            .map(|billed| billed + report.billed_restore_duration_ms.unwrap_or(0));
        Invocation {
            function_name: self.function_name(),
            function_version: version,
            provider: Some("aws".into()),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            architecture: self.architecture.map(String::from),
            memory_size_mb: report.memory_size_mb,
            request_id: report.request_id.clone(),
            trace_id: report.xray_trace_id.as_deref().and_then(xray_trace_id),
            instance_id: self.instance_id.clone(),
            start_time: start,
            end_time: Some(start.saturating_add(duration_ns)),
            duration_ms: Some(duration_ms),
            billed_duration_ms,
            init_duration_ms: report.init_duration_ms.or(report.restore_duration_ms),
            cold_start,
            max_memory_used_mb: report.max_memory_used_mb,
            status,
            error_type,
            error_message,
            sources: Sources::of(Source::PlatformReport),
            ..Default::default()
        }
    }

    /// The records read so far.
    pub fn finish(mut self) -> Records {
        if !self.logs.is_empty() {
            self.records.log_batches.push(self.logs.finish());
        }
        if !self.fragments.is_empty() {
            self.records
                .invocation_batches
                .push(self.fragments.finish());
        }
        self.records
    }
}

/// The error message of an invocation the runtime said failed but not why (`platform.runtimeDone`
/// with a status and no message), followed by the status.
const RUNTIME_STATUS: &str = "runtime finished with status";

/// The text format's error message of an invocation that ran out of memory.
const OUT_OF_MEMORY_MESSAGE: &str = "Runtime exited with error: signal: killed";

/// Whether an invocation's error message says nothing of the cause: none yet, or only the
/// runtime's status ([`RUNTIME_STATUS`]), which a logged error or a timeout replaces.
fn says_no_cause(message: &Option<String>) -> bool {
    message
        .as_deref()
        .is_none_or(|m| m.starts_with(RUNTIME_STATUS))
}

/// The error type and message of a structured log line at level ERROR (or FATAL, CRITICAL) that
/// carries an error document, `errorType` and `errorMessage`, at its top level or as its message
/// object, as the runtimes write an invocation's uncaught error in the JSON log format.
fn logged_error(log: &FunctionLog<'_>) -> Option<ErrorText> {
    let level = log.level.as_deref()?;
    if !["ERROR", "FATAL", "CRITICAL"]
        .iter()
        .any(|l| level.eq_ignore_ascii_case(l))
    {
        return None;
    }
    let attribute = |key: &str| {
        log.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_text())
            .map(|v| v.into_owned())
    };
    let (ty, message) = (attribute("errorType"), attribute("errorMessage"));
    if ty.is_some() || message.is_some() {
        return Some((ty, message));
    }
    let document = log.message.as_deref()?.trim_start();
    if !document.starts_with('{') {
        return None;
    }
    error_document(document).filter(|(ty, message)| ty.is_some() || message.is_some())
}

/// The line Python's runtime prints after an uncaught error's `[ERROR]` line, always (an empty
/// stack trace still has it).
const TRACEBACK: &str = "Traceback (most recent call last):";

/// The error type and message of the line Python's runtime prints for an invocation's uncaught
/// error in the text log format, `[ERROR] ValueError: boom`, and whether its traceback follows on
/// the same line (after a `\r`); else it must begin the next line. A record of Python's
/// `logging` reads `[ERROR]\tTIME\t…`.
fn uncaught_error(line: &str) -> Option<(ErrorText, bool)> {
    let rest = line.strip_prefix("[ERROR] ")?;
    let mut parts = rest.split(['\r', '\n']);
    let first = parts.next()?.trim();
    let traceback = parts
        .next()
        .is_some_and(|p| p.trim_start().starts_with(TRACEBACK));
    let error = match first.split_once(": ") {
        Some((ty, message)) if !ty.is_empty() && !ty.contains(' ') => {
            (Some(ty.to_string()), Some(message.to_string()))
        }
        _ => (None, Some(first.to_string()).filter(|m| !m.is_empty())),
    };
    Some((error, traceback))
}

/// The error a runtime reports in an `ERROR\tInvoke Error \t{"errorType":…}` line.
fn invoke_error(level: &str, message: &str) -> Option<ErrorText> {
    if level == "ERROR"
        && let Some(json) = message.trim_start().strip_prefix("Invoke Error")
    {
        return error_document(json.trim());
    }
    None
}

/// The `errorType` and `errorMessage` of a runtime's error document (JSON), each when it says
/// one; `None` when it is not JSON.
fn error_document(json: &str) -> Option<ErrorText> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(String::from);
    Some((text("errorType"), text("errorMessage")))
}

/// An X-Ray trace id (`1-5e34a614-10bdxmplf1fb44f07bc535a1`) as the 16-byte W3C trace id.
pub fn xray_trace_id(xray: &str) -> Option<[u8; 16]> {
    let mut parts = xray.trim().split('-');
    let (Some("1"), Some(epoch), Some(unique)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    // The 32 hex digits of epoch and unique id, joined and decoded on the stack: a formatted
    // string and a decoded vector per log line were about 5 % of a log import's CPU.
    let mut digits = [0u8; 32];
    if epoch.len() + unique.len() != digits.len() {
        return None;
    }
    digits[..epoch.len()].copy_from_slice(epoch.as_bytes());
    digits[epoch.len()..].copy_from_slice(unique.as_bytes());
    let mut id = [0u8; 16];
    hex::decode_to_slice(digits, &mut id).ok()?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's log rows end in batches of at most `model::BATCH_ROWS` rows, which an import
    /// takes as one write each.
    #[test]
    fn a_long_stream_ends_its_log_batches_at_the_batch_size() {
        let mut stream = LambdaLogStream::new(Some("f"), None);
        for i in 0..crate::model::BATCH_ROWS + 3 {
            assert!(stream.push(
                None,
                &format!("2024-01-01T00:00:00.000Z\tr-{i}\tINFO\tline {i}")
            ));
        }
        let records = stream.finish();
        let rows: Vec<usize> = records.log_batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(rows, [crate::model::BATCH_ROWS, 3]);
        assert_eq!(records.log_count(), crate::model::BATCH_ROWS + 3);
    }

    /// The set of request ids holds each id once, whole: an id that is another's start is an id
    /// of its own, and every id is still found after the set has grown many times.
    #[test]
    fn request_ids_are_told_apart_whole_and_found_again_after_growing() {
        let mut ids = RequestIds::default();
        let all: Vec<String> = (0..10_000).map(|i| format!("r-{i}")).collect();
        for id in &all {
            assert!(ids.insert(id), "{id} is new");
        }
        assert!(ids.insert("r-"));
        assert!(ids.insert(""));
        for id in all.iter().chain([&"r-".to_string(), &String::new()]) {
            assert!(!ids.insert(id), "{id} was added before");
        }
    }

    /// The fragments of Powertools lines: one per request id, from the line's context and the
    /// stream's, in batches of at most `model::BATCH_ROWS` rows.
    #[test]
    fn powertools_lines_make_one_fragment_per_request_id_in_batches() {
        let line = |i: usize, cold: bool| {
            format!(
                r#"{{"cold_start":{cold},"function_memory_size":256,"function_name":"orders","function_request_id":"r-{i}","level":"INFO","message":"m","timestamp":"2024-01-01T00:00:00.{:03}Z","xray_trace_id":"1-5e61292c-cc1229a4dfbeae1043928548"}}"#,
                i % 1000
            )
        };
        let mut stream = LambdaLogStream::new(Some("orders"), Some("stream-1".into()))
            .running_in(Some("eu-west-1".into()), Some("123456789012".into()))
            .on_architecture(Some("arm64"));
        let count = crate::model::BATCH_ROWS + 2;
        for i in 0..count {
            assert!(stream.push(None, &line(i, i == 0)));
        }
        // A second line of the first invocation makes no second fragment.
        assert!(stream.push(None, &line(0, false)));
        let records = stream.finish();
        assert!(records.invocations.is_empty());
        let rows: Vec<usize> = records
            .invocation_batches
            .iter()
            .map(|b| b.num_rows())
            .collect();
        assert_eq!(rows, [crate::model::BATCH_ROWS, 2]);
        assert_eq!(records.invocation_count(), count);
        let fragments =
            crate::model::invocation::from_batch(&records.invocation_batches[0]).unwrap();
        assert_eq!(
            fragments[0],
            Invocation {
                function_name: "orders".into(),
                provider: Some("aws".into()),
                region: Some("eu-west-1".into()),
                account_id: Some("123456789012".into()),
                architecture: Some("arm64".into()),
                memory_size_mb: Some(256),
                request_id: "r-0".into(),
                trace_id: xray_trace_id("1-5e61292c-cc1229a4dfbeae1043928548"),
                instance_id: Some("stream-1".into()),
                start_time: 1_704_067_200_000_000_000,
                cold_start: true,
                sources: Sources::of(Source::FunctionLog),
                ..Default::default()
            }
        );
        assert!(!fragments[1].cold_start);
        assert_eq!(fragments[1].request_id, "r-1");
    }

    #[test]
    fn a_cold_report_line_with_tabs_parses() {
        let line = "REPORT RequestId: db275f87-a934-471a-8980-b63bf4dc1beb\tDuration: 1.76 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 48 MB\tInit Duration: 120.96 ms\t";
        let Some(PlatformLine::Report(r)) = parse_platform_line(line) else {
            panic!("not a report")
        };
        assert_eq!(r.request_id, "db275f87-a934-471a-8980-b63bf4dc1beb");
        assert_eq!(r.duration_ms, 1.76);
        assert_eq!(r.billed_duration_ms, Some(100));
        assert_eq!(r.memory_size_mb, Some(128));
        assert_eq!(r.max_memory_used_mb, Some(48));
        assert_eq!(r.init_duration_ms, Some(120.96));
    }

    #[test]
    fn space_separated_reports_with_status_parse() {
        let line = "REPORT RequestId: 11111111-2222-3333-4444-555555555555 Duration: 3000.00 ms Billed Duration: 3000 ms Memory Size: 256 MB Max Memory Used: 256 MB Status: error Error Type: Runtime.OutOfMemory";
        let Some(PlatformLine::Report(r)) = parse_platform_line(line) else {
            panic!("not a report")
        };
        assert_eq!(r.memory_size_mb, Some(256));
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert_eq!(status_of(&r), InvocationStatus::OutOfMemory);
    }

    #[test]
    fn a_negative_nan_or_huge_duration_is_clamped_not_a_panic() {
        // The first line is what proptest found: it used to overflow an i64 subtraction.
        for line in [
            "REPORT RequestId: START RequestId: Duration: -10000000000000\t",
            "REPORT RequestId: r1\tDuration: NaN ms\t",
            "REPORT RequestId: r2\tDuration: 1e300 ms\t",
        ] {
            let mut stream = LambdaLogStream::new(Some("f"), None);
            stream.push(Some(i64::MIN + 5), line);
            stream.push(Some(1), line);
            let invocations = stream.finish().invocations;
            assert!(!invocations.is_empty(), "{line}");
            for invocation in &invocations {
                assert!(invocation.duration_ms.unwrap() >= 0.0, "{line}");
                assert!(
                    invocation.end_time.unwrap() >= invocation.start_time,
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn a_timeout_line_after_the_report_marks_the_invocation() {
        let mut stream = LambdaLogStream::new(Some("f"), None);
        let id = "7c9567b5-107b-4a6c-8798-0157ac21db52";
        assert!(stream.push(
            Some(1_000),
            &format!("START RequestId: {id} Version: $LATEST\\n")
        ));
        stream.push(
            Some(3_000),
            &format!(
                "REPORT RequestId: {id}\\\\tDuration: 3003.16 ms\\\\tBilled Duration: 3000 ms\\\\t"
            ),
        );
        stream.push(
            Some(3_000),
            &format!("2020-06-09T15:02:26.150Z {id} Task timed out after 3.00 seconds\\n\\n"),
        );
        let records = stream.finish();
        assert_eq!(records.invocations.len(), 1);
        assert_eq!(records.invocations[0].status, InvocationStatus::Timeout);
        assert_eq!(records.invocations[0].start_time, 1_000);
        assert_eq!(records.log_count(), 3);
    }

    #[test]
    fn an_invoke_error_line_makes_the_invocation_an_error() {
        let mut stream = LambdaLogStream::new(Some("f"), None);
        let id = "8f507cfc-aaaa-4697-b07a-ac58fc914c95";
        stream.push(
            None,
            &format!("2026-11-23T09:00:00.000Z START RequestId: {id} Version: $LATEST"),
        );
        stream.push(None, &format!("2026-11-23T09:00:00.020Z\t{id}\tERROR\tInvoke Error \t{{\"errorType\":\"TypeError\",\"errorMessage\":\"x is undefined\"}}"));
        stream.push(None, &format!("2026-11-23T09:00:00.030Z REPORT RequestId: {id}\tDuration: 30.00 ms\tBilled Duration: 30 ms\t"));
        stream.push(None, "XRAY TraceId: 1-5e61292c-cc1229a4dfbeae1043928548\tSegmentId: 07f5a2d1f6f85e11\tSampled: true");
        let records = stream.finish();
        let inv = &records.invocations[0];
        assert_eq!(inv.status, InvocationStatus::Error);
        assert_eq!(inv.error_type.as_deref(), Some("TypeError"));
        assert_eq!(inv.error_message.as_deref(), Some("x is undefined"));
        assert!(inv.trace_id.is_some());
        assert_eq!(inv.start_time, 1_795_424_400_000_000_000);
    }

    #[test]
    fn a_failed_init_makes_the_next_invocation_an_init_error_in_text_and_json() {
        let id = "0e2d6a51-8a3e-4b31-9b0a-3b7b1e8f9c11";
        let mut text = LambdaLogStream::new(Some("f"), None);
        text.push(Some(1_000), "INIT_START Runtime Version: python:3.12.v25\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:abc");
        text.push(Some(2_000), "INIT_REPORT Init Duration: 10000.10 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError");
        text.push(
            Some(3_000),
            &format!("START RequestId: {id} Version: $LATEST"),
        );
        text.push(
            Some(4_000),
            &format!("REPORT RequestId: {id}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"),
        );
        let inv = &text.finish().invocations[0];
        assert_eq!(inv.status, InvocationStatus::InitError);
        assert_eq!(inv.error_type.as_deref(), Some("Runtime.ExitError"));
        assert!(inv.cold_start);

        let mut json = LambdaLogStream::new(Some("f"), None);
        for event in [
            serde_json::json!({"time": "2026-11-23T09:00:00Z", "type": "platform.initReport",
                "record": {"phase": "init", "status": "timeout"}}),
            serde_json::json!({"time": "2026-11-23T09:00:01Z", "type": "platform.report",
                "record": {"requestId": id, "status": "error", "metrics": {"durationMs": 5.0}}}),
        ] {
            assert!(json.push_value(None, event));
        }
        let records = json.finish();
        assert_eq!(records.invocations[0].status, InvocationStatus::InitError);
        assert_eq!(records.log_count(), 2);
    }

    /// A SnapStart function's new execution environment is restored, not initialized: its
    /// `REPORT` says `Restore Duration` and `Billed Restore Duration` and no `Init Duration`.
    /// That is its cold start; the restore is its startup time, and its billed part is billed.
    #[test]
    fn a_snapstart_restore_is_a_cold_start_in_text_and_json() {
        let id = "8f5b1c3e-2d4a-4e6f-9a7b-1c2d3e4f5a6b";
        for separator in ["\t", " "] {
            let report = [
                format!("REPORT RequestId: {id}"),
                "Duration: 49.00 ms".into(),
                "Billed Duration: 49 ms".into(),
                "Memory Size: 512 MB".into(),
                "Max Memory Used: 95 MB".into(),
                "Restore Duration: 400.12 ms".into(),
                "Billed Restore Duration: 118 ms".into(),
            ]
            .join(separator);
            let Some(PlatformLine::Report(r)) = parse_platform_line(&report) else {
                panic!("not a report: {report}")
            };
            assert_eq!(r.max_memory_used_mb, Some(95), "{report}");
            assert_eq!(r.restore_duration_ms, Some(400.12), "{report}");
            assert_eq!(r.billed_restore_duration_ms, Some(118), "{report}");
            assert_eq!(r.duration_ms, 49.0);
            assert_eq!(r.billed_duration_ms, Some(49));

            let mut text = LambdaLogStream::new(Some("f"), None);
            text.push(
                Some(1_000),
                "RESTORE_START Runtime Version: java:21.v20\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:abc",
            );
            text.push(Some(2_000), &format!("START RequestId: {id} Version: 3"));
            text.push(Some(3_000), &report);
            let inv = &text.finish().invocations[0];
            assert!(inv.cold_start);
            assert_eq!(inv.init_duration_ms, Some(400.12));
            assert_eq!(inv.billed_duration_ms, Some(49 + 118));
            assert_eq!(inv.max_memory_used_mb, Some(95));
        }

        let mut json = LambdaLogStream::new(Some("f"), None);
        assert!(json.push_value(
            None,
            serde_json::json!({"time": "2026-11-23T09:00:01Z", "type": "platform.report",
                "record": {"requestId": id, "metrics": {"durationMs": 49.0,
                  "billedDurationMs": 49, "memorySizeMB": 512, "maxMemoryUsedMB": 95,
                  "restoreDurationMs": 400.12, "billedRestoreDurationMs": 118}}})
        ));
        let inv = &json.finish().invocations[0];
        assert!(inv.cold_start);
        assert_eq!(inv.init_duration_ms, Some(400.12));
        assert_eq!(inv.billed_duration_ms, Some(167));

        // A field this reader does not know does not hide the one before it.
        let Some(PlatformLine::Report(r)) = parse_platform_line(&format!(
            "REPORT RequestId: {id}\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 512 MB\tMax Memory Used: 95 MB\tFuture Field: 7 ms\t"
        )) else {
            panic!("not a report")
        };
        assert_eq!(r.max_memory_used_mb, Some(95));

        // A warm invocation of the same function says neither.
        let mut warm = LambdaLogStream::new(Some("f"), None);
        warm.push(
            Some(3_000),
            &format!("REPORT RequestId: {id}\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 512 MB\tMax Memory Used: 95 MB\t"),
        );
        let inv = &warm.finish().invocations[0];
        assert!(!inv.cold_start);
        assert_eq!(inv.billed_duration_ms, Some(9));
    }

    /// In the JSON log format the runtime logs an invocation's uncaught error as a structured
    /// line at level ERROR, its error document at the top level (Python) or as its message
    /// (Node.js); `platform.runtimeDone` says only its type. The invocation's error message is
    /// the logged one. An invocation that succeeded keeps no error, whatever it logged.
    #[test]
    fn the_json_log_formats_logged_error_is_the_invocations_error_message() {
        let failed = |id: &str, log: serde_json::Value, status: &str| {
            let mut json = LambdaLogStream::new(Some("f"), None);
            for event in [
                serde_json::json!({"time": "2026-11-20T10:00:00.300Z", "type": "platform.start",
                    "record": {"requestId": id}}),
                log,
                serde_json::json!({"time": "2026-11-20T10:00:00.330Z", "type": "platform.runtimeDone",
                    "record": {"requestId": id, "status": status, "errorType": "ValueError"}}),
                serde_json::json!({"time": "2026-11-20T10:00:00.331Z", "type": "platform.report",
                    "record": {"requestId": id, "status": status,
                      "metrics": {"durationMs": 30.5, "billedDurationMs": 31, "memorySizeMB": 256}}}),
            ] {
                assert!(json.push_value(None, event));
            }
            json.finish().invocations.remove(0)
        };
        let id = "aaaaaaaa-1111-2222-3333-444444444444";
        let node = failed(
            id,
            serde_json::json!({"timestamp": "2026-11-20T10:00:00.320Z", "level": "ERROR",
                "requestId": id, "message": {"errorType": "ValueError", "errorMessage": "boom",
                "stackTrace": ["at handler (/var/task/index.js:3:9)"]}}),
            "error",
        );
        let python = failed(
            id,
            serde_json::json!({"timestamp": "2026-11-20T10:00:00.320Z", "level": "ERROR",
                "requestId": id, "errorType": "ValueError", "errorMessage": "boom",
                "stackTrace": ["  File \"/var/task/app.py\", line 3"]}),
            "error",
        );
        for inv in [&node, &python] {
            assert_eq!(inv.status, InvocationStatus::Error);
            assert_eq!(inv.error_type.as_deref(), Some("ValueError"));
            assert_eq!(inv.error_message.as_deref(), Some("boom"));
        }
        let handled = failed(
            id,
            serde_json::json!({"timestamp": "2026-11-20T10:00:00.320Z", "level": "ERROR",
                "requestId": id, "errorType": "ValueError", "errorMessage": "retried"}),
            "success",
        );
        assert_eq!(handled.status, InvocationStatus::Success);
        assert_eq!(handled.error_message, None);
    }

    /// A timeout or an out-of-memory failure that only the report's status says (the JSON log
    /// format has no `Task timed out` line, no `Runtime exited` line) gets the text format's error
    /// type and message, so that the errors report groups the two formats' failures.
    #[test]
    fn a_timeout_or_out_of_memory_in_the_json_log_format_reads_as_the_text_formats() {
        let id = "bbbbbbbb-1111-2222-3333-444444444444";
        for (status, error_type, expected) in [
            (
                "timeout",
                None,
                (
                    InvocationStatus::Timeout,
                    "Sandbox.Timedout",
                    "Task timed out after 3.00 seconds",
                ),
            ),
            (
                "error",
                Some("Runtime.OutOfMemory"),
                (
                    InvocationStatus::OutOfMemory,
                    "Runtime.OutOfMemory",
                    OUT_OF_MEMORY_MESSAGE,
                ),
            ),
        ] {
            let mut json = LambdaLogStream::new(Some("f"), None);
            for event in [
                serde_json::json!({"time": "2026-11-20T10:00:00.300Z", "type": "platform.start",
                    "record": {"requestId": id}}),
                serde_json::json!({"time": "2026-11-20T10:00:03.300Z",
                    "type": "platform.runtimeDone",
                    "record": {"requestId": id, "status": status, "errorType": error_type}}),
                serde_json::json!({"time": "2026-11-20T10:00:03.301Z", "type": "platform.report",
                    "record": {"requestId": id, "status": status, "errorType": error_type,
                      "metrics": {"durationMs": 3000.5, "billedDurationMs": 3000,
                      "memorySizeMB": 256, "maxMemoryUsedMB": 256}}}),
            ] {
                assert!(json.push_value(None, event));
            }
            let inv = &json.finish().invocations[0];
            assert_eq!(
                (
                    inv.status,
                    inv.error_type.as_deref(),
                    inv.error_message.as_deref()
                ),
                (expected.0, Some(expected.1), Some(expected.2)),
                "{status}"
            );
        }
    }

    /// Python's runtime prints an uncaught error without the request id: in the text format,
    /// `[ERROR] Type: message` between the invocation's `START` and `REPORT`; in the JSON format a
    /// line whose level is `log_level`. A record of Python's `logging` at level ERROR
    /// (`[ERROR]\tTIME\tREQUEST_ID\tmessage`) does not make the invocation an error.
    #[test]
    fn pythons_uncaught_error_makes_the_invocation_an_error_in_text_and_json() {
        let id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
        let text = |error_line: &str| {
            let mut stream = LambdaLogStream::new(Some("f"), None);
            stream.push(
                Some(1_000),
                &format!("START RequestId: {id} Version: $LATEST"),
            );
            stream.push(Some(2_000), error_line);
            stream.push(Some(3_000), &format!("END RequestId: {id}"));
            stream.push(
                Some(3_000),
                &format!("REPORT RequestId: {id}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"),
            );
            stream.finish().invocations.remove(0)
        };
        let failed = text(
            "[ERROR] ValueError: boom\rTraceback (most recent call last):\r  File \"/var/task/app.py\", line 3, in handler",
        );
        assert_eq!(failed.status, InvocationStatus::Error);
        assert_eq!(failed.error_type.as_deref(), Some("ValueError"));
        assert_eq!(failed.error_message.as_deref(), Some("boom"));
        let logged = text(&format!(
            "[ERROR]\t2026-11-20T10:00:00.002Z\t{id}\tpayment declined, retrying"
        ));
        assert_eq!(logged.status, InvocationStatus::Success);
        // A line of the function's own in that shape, with no traceback, is not one.
        let printed = text("[ERROR] orders: payment declined, retrying");
        assert_eq!(printed.status, InvocationStatus::Success);
        // The traceback on the next line, as a forwarder that splits at `\r` delivers it.
        let mut stream = LambdaLogStream::new(Some("f"), None);
        stream.push(
            Some(1_000),
            &format!("START RequestId: {id} Version: $LATEST"),
        );
        stream.push(Some(2_000), "[ERROR] KeyError: 'sku'");
        stream.push(None, "Traceback (most recent call last):");
        stream.push(None, "  File \"/var/task/app.py\", line 3, in handler");
        stream.push(
            Some(3_000),
            &format!("REPORT RequestId: {id}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"),
        );
        let split = stream.finish().invocations.remove(0);
        assert_eq!(split.status, InvocationStatus::Error);
        assert_eq!(split.error_type.as_deref(), Some("KeyError"));
        assert_eq!(split.error_message.as_deref(), Some("'sku'"));

        let mut json = LambdaLogStream::new(Some("f"), None);
        for event in [
            serde_json::json!({"time": "2026-11-20T10:00:00.300Z", "type": "platform.start",
                "record": {"requestId": id}}),
            serde_json::json!({"timestamp": "2026-11-20T10:00:00Z", "log_level": "ERROR",
                "errorMessage": "boom", "errorType": "ValueError", "requestId": id,
                "stackTrace": ["  File \"/var/task/app.py\", line 3, in handler\n"]}),
            serde_json::json!({"time": "2026-11-20T10:00:00.331Z", "type": "platform.report",
                "record": {"requestId": id, "status": "error", "errorType": "ValueError",
                  "metrics": {"durationMs": 2.0, "billedDurationMs": 2, "memorySizeMB": 128}}}),
        ] {
            assert!(json.push_value(None, event));
        }
        let records = json.finish();
        let inv = &records.invocations[0];
        assert_eq!(inv.status, InvocationStatus::Error);
        assert_eq!(inv.error_message.as_deref(), Some("boom"));
    }

    /// Provisioned concurrency initializes an environment before any request reaches it: the
    /// first invocation it serves is not a cold start, though the INIT is in its stream.
    #[test]
    fn an_init_of_provisioned_concurrency_does_not_make_a_cold_start() {
        let id = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        for (initialization_type, cold) in [("provisioned-concurrency", false), ("on-demand", true)]
        {
            let mut json = LambdaLogStream::new(Some("f"), None);
            for event in [
                serde_json::json!({"time": "2026-11-23T09:00:00Z", "type": "platform.initStart",
                    "record": {"initializationType": initialization_type, "phase": "init",
                      "runtimeVersion": "python:3.12.v25", "functionName": "f"}}),
                serde_json::json!({"time": "2026-11-23T09:00:01Z", "type": "platform.initReport",
                    "record": {"initializationType": initialization_type, "phase": "init",
                      "status": "success", "metrics": {"durationMs": 300.0}}}),
                serde_json::json!({"time": "2026-11-23T09:05:00Z", "type": "platform.start",
                    "record": {"requestId": id}}),
                serde_json::json!({"time": "2026-11-23T09:05:01Z", "type": "platform.report",
                    "record": {"requestId": id, "metrics": {"durationMs": 12.0,
                      "billedDurationMs": 12, "memorySizeMB": 256, "maxMemoryUsedMB": 80}}}),
            ] {
                assert!(json.push_value(None, event));
            }
            let records = json.finish();
            assert_eq!(
                records.invocations[0].cold_start, cold,
                "{initialization_type}"
            );
        }
    }

    #[test]
    fn xray_ids_become_w3c_trace_ids() {
        let id = xray_trace_id("1-5e34a614-10bdxmplf1fb44f07bc535a1");
        assert!(id.is_none(), "the documentation's example is not hex");
        let id = xray_trace_id("1-5e61292c-cc1229a4dfbeae1043928548").unwrap();
        assert_eq!(hex::encode(id), "5e61292ccc1229a4dfbeae1043928548");
    }
}
