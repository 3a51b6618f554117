//! The `invocations` table: one row per function invocation.
//!
//! Several sources can report the same invocation: an OTLP server span, the Lambda `REPORT`
//! line, Powertools logs. Each source yields a partial [`Invocation`] (a fragment); fragments with
//! the same `request_id` are combined by [`Invocation::merge`], whose rules decide which source is
//! trusted for which column. Merging is associative and commutative on everything but the
//! free-text error columns (first non-empty wins), so fragments can be combined in any order: when
//! a segment is flushed, when partitions are compacted, and when the analyzer reads.

use std::sync::{Arc, LazyLock};

use foldhash::{HashMap, HashMapExt};

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanBuilder, FixedSizeBinaryArray,
    FixedSizeBinaryBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimestampNanosecondType,
};
use arrow::record_batch::RecordBatch;

use super::null_runs::NullRuns;
use super::timestamp_type;
use super::with_spare;

/// How an invocation ended, as the data model's `status` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum InvocationStatus {
    #[default]
    Success,
    Error,
    Throttled,
    Timeout,
    OutOfMemory,
    InitError,
}

impl InvocationStatus {
    pub const ALL: [InvocationStatus; 6] = [
        InvocationStatus::Success,
        InvocationStatus::Error,
        InvocationStatus::Throttled,
        InvocationStatus::Timeout,
        InvocationStatus::OutOfMemory,
        InvocationStatus::InitError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvocationStatus::Success => "success",
            InvocationStatus::Error => "error",
            InvocationStatus::Throttled => "throttled",
            InvocationStatus::Timeout => "timeout",
            InvocationStatus::OutOfMemory => "out_of_memory",
            InvocationStatus::InitError => "init_error",
        }
    }

    pub fn parse(text: &str) -> Option<InvocationStatus> {
        InvocationStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// When two sources disagree, the more specific failure wins: a span may only know "error"
    /// where the `REPORT` line knows "timeout". The declaration order is that ranking.
    fn more_specific(self, other: InvocationStatus) -> InvocationStatus {
        self.max(other)
    }
}

/// The kinds of source that can report an invocation, stored as the `sources` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An OTLP server span with `faas.*` attributes.
    OtlpSpan,
    /// A Lambda platform report: a `REPORT` line or a `platform.report` event.
    PlatformReport,
    /// Function logs that name the invocation (Powertools, `START`/`END` lines).
    FunctionLog,
    /// A client span that shows the invocation was refused (throttled) before it ran.
    CallerSpan,
}

impl Source {
    const ALL: [Source; 4] = [
        Source::OtlpSpan,
        Source::PlatformReport,
        Source::FunctionLog,
        Source::CallerSpan,
    ];

    fn bit(self) -> u8 {
        match self {
            Source::OtlpSpan => 1,
            Source::PlatformReport => 2,
            Source::FunctionLog => 4,
            Source::CallerSpan => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::OtlpSpan => "otlp_span",
            Source::PlatformReport => "platform_report",
            Source::FunctionLog => "function_log",
            Source::CallerSpan => "caller_span",
        }
    }
}

/// A set of [`Source`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sources(u8);

impl Sources {
    pub fn of(source: Source) -> Sources {
        Sources(source.bit())
    }

    pub fn contains(self, source: Source) -> bool {
        self.0 & source.bit() != 0
    }

    pub fn union(self, other: Sources) -> Sources {
        Sources(self.0 | other.0)
    }

    /// Comma-separated names, in a fixed order. The texts of the sixteen sets are made once: a
    /// text per row cost two allocations for every invocation stored.
    pub fn to_text(self) -> &'static str {
        static TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| {
            (0..1u8 << Source::ALL.len())
                .map(|bits| {
                    Source::ALL
                        .into_iter()
                        .filter(|s| Sources(bits).contains(*s))
                        .map(Source::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect()
        });
        &TEXTS[usize::from(self.0)]
    }

    pub fn parse(text: &str) -> Sources {
        text.split(',')
            .filter_map(|name| Source::ALL.into_iter().find(|s| s.as_str() == name))
            .fold(Sources::default(), |acc, s| acc.union(Sources::of(s)))
    }
}

/// One function invocation, or a fragment of one that a single source reported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invocation {
    pub function_name: String,
    pub function_version: Option<String>,
    pub provider: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub runtime: Option<String>,
    pub architecture: Option<String>,
    pub memory_size_mb: Option<i32>,
    pub request_id: String,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub instance_id: Option<String>,
    pub trigger: Option<String>,
    /// Start of the invocation, ns since the Unix epoch (UTC).
    pub start_time: i64,
    /// End of the invocation, ns since the Unix epoch; `None` while no source reported the end.
    pub end_time: Option<i64>,
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<i64>,
    pub init_duration_ms: Option<f64>,
    pub cold_start: bool,
    /// No source gave evidence of a cold start or a warm one (a span without `faas.coldstart`):
    /// `cold_start` is then the last fallback of the data model, whether this was the first
    /// invocation the store received of its instance (see `store::instances`).
    pub cold_start_inferred: bool,
    pub max_memory_used_mb: Option<i32>,
    pub status: InvocationStatus,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub sources: Sources,
}

fn take_if_none<T>(mine: &mut Option<T>, theirs: Option<T>) {
    if mine.is_none() {
        *mine = theirs;
    }
}

fn prefer<T>(mine: &mut Option<T>, theirs: Option<T>, theirs_is_authoritative: bool) {
    if theirs.is_some() && (theirs_is_authoritative || mine.is_none()) {
        *mine = theirs;
    }
}

impl Invocation {
    /// Combines another fragment of the same invocation into this one.
    ///
    /// The platform report is authoritative for what the platform measures (durations, billed
    /// duration, memory, init); the span for what only tracing knows precisely (ids, trigger,
    /// nanosecond start and end). Otherwise a known value beats an unknown one (a function name
    /// beats [`super::UNKNOWN_FUNCTION`]). A cold start seen by any source is a cold start, but
    /// a source's evidence beats a fragment whose cold start was only inferred, and the most
    /// specific failure status wins.
    pub fn merge(&mut self, other: Invocation) {
        let report_wins = other.sources.contains(Source::PlatformReport)
            && !self.sources.contains(Source::PlatformReport);
        let span_wins =
            other.sources.contains(Source::OtlpSpan) && !self.sources.contains(Source::OtlpSpan);

        // A name beats none, and beats the placeholder of log lines that named none.
        let placeholder = |name: &str| name == super::UNKNOWN_FUNCTION;
        if self.function_name.is_empty()
            || placeholder(&self.function_name)
                && !other.function_name.is_empty()
                && !placeholder(&other.function_name)
        {
            self.function_name = other.function_name;
        }
        take_if_none(&mut self.function_version, other.function_version);
        take_if_none(&mut self.provider, other.provider);
        take_if_none(&mut self.region, other.region);
        take_if_none(&mut self.account_id, other.account_id);
        take_if_none(&mut self.runtime, other.runtime);
        take_if_none(&mut self.architecture, other.architecture);
        prefer(&mut self.memory_size_mb, other.memory_size_mb, report_wins);
        prefer(&mut self.trace_id, other.trace_id, span_wins);
        prefer(&mut self.span_id, other.span_id, span_wins);
        take_if_none(&mut self.instance_id, other.instance_id);
        prefer(&mut self.trigger, other.trigger, span_wins);
        if span_wins || (self.end_time.is_none() && other.end_time.is_some()) {
            self.start_time = other.start_time;
            self.end_time = other.end_time;
        }
        prefer(&mut self.duration_ms, other.duration_ms, report_wins);
        prefer(
            &mut self.billed_duration_ms,
            other.billed_duration_ms,
            report_wins,
        );
        prefer(
            &mut self.init_duration_ms,
            other.init_duration_ms,
            report_wins,
        );
        prefer(
            &mut self.max_memory_used_mb,
            other.max_memory_used_mb,
            report_wins,
        );
        match (self.cold_start_inferred, other.cold_start_inferred) {
            (true, false) => {
                self.cold_start = other.cold_start;
                self.cold_start_inferred = false;
            }
            (false, true) => {}
            _ => self.cold_start |= other.cold_start,
        }
        self.status = self.status.more_specific(other.status);
        take_if_none(&mut self.error_type, other.error_type);
        take_if_none(&mut self.error_message, other.error_message);
        self.sources = self.sources.union(other.sources);
    }
}

/// Merges fragments by request id, keeping the order in which request ids first appear.
pub fn merge_fragments(fragments: impl IntoIterator<Item = Invocation>) -> Vec<Invocation> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<Invocation> = Vec::new();
    for fragment in fragments {
        match index.get(&fragment.request_id) {
            Some(&i) => merged[i].merge(fragment),
            None => {
                index.insert(fragment.request_id.clone(), merged.len());
                merged.push(fragment);
            }
        }
    }
    merged
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("function_name", DataType::Utf8, false),
        Field::new("function_version", DataType::Utf8, true),
        Field::new("provider", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("runtime", DataType::Utf8, true),
        Field::new("architecture", DataType::Utf8, true),
        Field::new("memory_size_mb", DataType::Int32, true),
        Field::new("request_id", DataType::Utf8, false),
        Field::new("trace_id", DataType::FixedSizeBinary(16), true),
        Field::new("span_id", DataType::FixedSizeBinary(8), true),
        Field::new("instance_id", DataType::Utf8, true),
        Field::new("trigger", DataType::Utf8, true),
        Field::new("start_time", timestamp_type(), false),
        Field::new("end_time", timestamp_type(), true),
        Field::new("duration_ms", DataType::Float64, true),
        Field::new("billed_duration_ms", DataType::Int64, true),
        Field::new("init_duration_ms", DataType::Float64, true),
        Field::new("cold_start", DataType::Boolean, false),
        Field::new("max_memory_used_mb", DataType::Int32, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("error_type", DataType::Utf8, true),
        Field::new("error_message", DataType::Utf8, true),
        Field::new("sources", DataType::Utf8, false),
        // Nullable: files written before schema version 3 lack it, and read it as null.
        Field::new("cold_start_inferred", DataType::Boolean, true),
    ]))
});

/// The fixed schema of the `invocations` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Builds the Arrow batch of the `invocations` table for these rows, its text buffers sized for
/// them first.
pub fn to_batch(rows: &[Invocation]) -> RecordBatch {
    let mut text_bytes = [0; TEXT_COLUMNS];
    for row in rows {
        for (bytes, text) in text_bytes.iter_mut().zip(row.as_row().texts()) {
            *bytes += text.map_or(0, str::len);
        }
    }
    let mut builder = InvocationBuilder::with_capacity(rows.len(), text_bytes);
    for row in rows {
        builder.append(&row.as_row());
    }
    builder.finish()
}

impl Invocation {
    /// The fragment as the row [`InvocationBuilder`] appends.
    pub fn as_row(&self) -> InvocationRow<'_> {
        InvocationRow {
            function_name: &self.function_name,
            function_version: self.function_version.as_deref(),
            provider: self.provider.as_deref(),
            region: self.region.as_deref(),
            account_id: self.account_id.as_deref(),
            runtime: self.runtime.as_deref(),
            architecture: self.architecture.as_deref(),
            memory_size_mb: self.memory_size_mb,
            request_id: &self.request_id,
            trace_id: self.trace_id,
            span_id: self.span_id,
            instance_id: self.instance_id.as_deref(),
            trigger: self.trigger.as_deref(),
            start_time: self.start_time,
            end_time: self.end_time,
            duration_ms: self.duration_ms,
            billed_duration_ms: self.billed_duration_ms,
            init_duration_ms: self.init_duration_ms,
            cold_start: self.cold_start,
            cold_start_inferred: self.cold_start_inferred,
            max_memory_used_mb: self.max_memory_used_mb,
            status: self.status,
            error_type: self.error_type.as_deref(),
            error_message: self.error_message.as_deref(),
            sources: self.sources,
        }
    }
}

/// An invocation fragment with its texts borrowed: a row of the `invocations` table as
/// [`InvocationBuilder`] appends it, without an owned [`Invocation`] (a Lambda log stream appends
/// the fragment of each Powertools line so, from the line's own texts).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct InvocationRow<'a> {
    pub function_name: &'a str,
    pub function_version: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub region: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub runtime: Option<&'a str>,
    pub architecture: Option<&'a str>,
    pub memory_size_mb: Option<i32>,
    pub request_id: &'a str,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub instance_id: Option<&'a str>,
    pub trigger: Option<&'a str>,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<i64>,
    pub init_duration_ms: Option<f64>,
    pub cold_start: bool,
    pub cold_start_inferred: bool,
    pub max_memory_used_mb: Option<i32>,
    pub status: InvocationStatus,
    pub error_type: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub sources: Sources,
}

/// The number of text columns of the `invocations` table.
const TEXT_COLUMNS: usize = 14;

impl<'a> InvocationRow<'a> {
    /// The row's text columns, in the order of the schema.
    fn texts(&self) -> [Option<&'a str>; TEXT_COLUMNS] {
        [
            Some(self.function_name),
            self.function_version,
            self.provider,
            self.region,
            self.account_id,
            self.runtime,
            self.architecture,
            Some(self.request_id),
            self.instance_id,
            self.trigger,
            Some(self.status.as_str()),
            self.error_type,
            self.error_message,
            Some(self.sources.to_text()),
        ]
    }
}

/// Builds `invocations` batches one row at a time.
#[derive(Debug)]
pub struct InvocationBuilder {
    /// The text columns, in the order of [`InvocationRow::texts`].
    texts: [NullRuns<StringBuilder>; TEXT_COLUMNS],
    memory_size_mb: NullRuns<Int32Builder>,
    trace_id: NullRuns<FixedSizeBinaryBuilder>,
    span_id: NullRuns<FixedSizeBinaryBuilder>,
    start_time: TimestampNanosecondBuilder,
    end_time: NullRuns<TimestampNanosecondBuilder>,
    duration_ms: NullRuns<Float64Builder>,
    billed_duration_ms: NullRuns<Int64Builder>,
    init_duration_ms: NullRuns<Float64Builder>,
    cold_start: BooleanBuilder,
    max_memory_used_mb: NullRuns<Int32Builder>,
    cold_start_inferred: BooleanBuilder,
}

impl Default for InvocationBuilder {
    fn default() -> Self {
        InvocationBuilder::with_room(InvocationRoom::default())
    }
}

/// What an [`InvocationBuilder`]'s buffers held: the room to give a builder for rows like those
/// (see [`super::span::SpanRoom`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct InvocationRoom {
    rows: usize,
    /// Bytes of each text column, in the order of [`InvocationRow::texts`].
    text_bytes: [usize; TEXT_COLUMNS],
}

impl InvocationRoom {
    /// This room with every count changed by `change`.
    pub(crate) fn map(self, change: impl Fn(usize) -> usize) -> InvocationRoom {
        InvocationRoom {
            rows: change(self.rows),
            text_bytes: self.text_bytes.map(change),
        }
    }
}

impl InvocationBuilder {
    /// An empty builder whose buffers have this room.
    pub(crate) fn with_room(room: InvocationRoom) -> Self {
        InvocationBuilder::with_capacity(room.rows, room.text_bytes)
    }

    /// What the buffers hold now.
    pub(crate) fn room(&self) -> InvocationRoom {
        InvocationRoom {
            rows: self.len(),
            text_bytes: self.texts.each_ref().map(|text| text.values_slice().len()),
        }
    }

    /// Room for `rows` rows whose text columns take `text_bytes` bytes each.
    fn with_capacity(rows: usize, text_bytes: [usize; TEXT_COLUMNS]) -> Self {
        InvocationBuilder {
            texts: text_bytes.map(|bytes| NullRuns::new(StringBuilder::with_capacity(rows, bytes))),
            memory_size_mb: NullRuns::new(Int32Builder::with_capacity(rows)),
            trace_id: NullRuns::new(FixedSizeBinaryBuilder::with_capacity(rows, 16)),
            span_id: NullRuns::new(FixedSizeBinaryBuilder::with_capacity(rows, 8)),
            start_time: TimestampNanosecondBuilder::with_capacity(rows),
            end_time: NullRuns::new(TimestampNanosecondBuilder::with_capacity(rows)),
            duration_ms: NullRuns::new(Float64Builder::with_capacity(rows)),
            billed_duration_ms: NullRuns::new(Int64Builder::with_capacity(rows)),
            init_duration_ms: NullRuns::new(Float64Builder::with_capacity(rows)),
            cold_start: BooleanBuilder::with_capacity(rows),
            max_memory_used_mb: NullRuns::new(Int32Builder::with_capacity(rows)),
            cold_start_inferred: BooleanBuilder::with_capacity(rows),
        }
    }

    /// Appends one row.
    pub fn append(&mut self, row: &InvocationRow<'_>) {
        for (builder, text) in self.texts.iter_mut().zip(row.texts()) {
            builder.append_option(text);
        }
        self.memory_size_mb.append_option(row.memory_size_mb);
        self.trace_id
            .append_id(row.trace_id.as_ref().map(|id| &id[..]));
        self.span_id
            .append_id(row.span_id.as_ref().map(|id| &id[..]));
        self.start_time.append_value(row.start_time);
        self.end_time.append_option(row.end_time);
        self.duration_ms.append_option(row.duration_ms);
        self.billed_duration_ms
            .append_option(row.billed_duration_ms);
        self.init_duration_ms.append_option(row.init_duration_ms);
        self.cold_start.append_value(row.cold_start);
        self.max_memory_used_mb
            .append_option(row.max_memory_used_mb);
        self.cold_start_inferred
            .append_value(row.cold_start_inferred);
    }

    /// Rows appended since the last batch ended.
    pub fn len(&self) -> usize {
        self.start_time.len()
    }

    /// True when no row was appended since the last batch ended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends a batch of the rows appended so far and leaves the builder empty, with room for
    /// another batch like it and an eighth to spare (as [`super::LogBuilder::end_batch`]).
    pub fn end_batch(&mut self) -> RecordBatch {
        let next = InvocationBuilder::with_room(self.room().map(with_spare));
        std::mem::replace(self, next).finish()
    }

    /// The batch of the rows appended.
    pub fn finish(mut self) -> RecordBatch {
        let [
            function_name,
            function_version,
            provider,
            region,
            account_id,
            runtime,
            architecture,
            request_id,
            instance_id,
            trigger,
            status,
            error_type,
            error_message,
            sources,
        ] = self
            .texts
            .map(|mut text| Arc::new(text.finish()) as ArrayRef);
        let columns: Vec<ArrayRef> = vec![
            function_name,
            function_version,
            provider,
            region,
            account_id,
            runtime,
            architecture,
            Arc::new(self.memory_size_mb.finish()),
            request_id,
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            instance_id,
            trigger,
            Arc::new(self.start_time.finish().with_timezone("UTC")),
            Arc::new(self.end_time.finish().with_timezone("UTC")),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.billed_duration_ms.finish()),
            Arc::new(self.init_duration_ms.finish()),
            Arc::new(self.cold_start.finish()),
            Arc::new(self.max_memory_used_mb.finish()),
            status,
            error_type,
            error_message,
            sources,
            Arc::new(self.cold_start_inferred.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("columns follow the invocations schema")
    }
}

/// Errors reading invocation rows back from a batch that does not follow the schema.
#[derive(Debug, thiserror::Error)]
#[error("batch does not follow the invocations schema: column {column} {problem}")]
pub struct SchemaMismatch {
    column: &'static str,
    problem: &'static str,
}

/// Reads invocation rows back from a batch of the `invocations` schema.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Invocation>, SchemaMismatch> {
    fn col<'a>(
        batch: &'a RecordBatch,
        column: &'static str,
    ) -> Result<&'a ArrayRef, SchemaMismatch> {
        batch.column_by_name(column).ok_or(SchemaMismatch {
            column,
            problem: "is missing",
        })
    }
    macro_rules! typed {
        ($column:literal, $method:ident $(::<$t:ty>)?) => {
            col(batch, $column)?
                .$method$(::<$t>)?()
                .ok_or(SchemaMismatch { column: $column, problem: "has the wrong type" })?
        };
    }
    fn opt_str(array: &arrow::array::StringArray, i: usize) -> Option<String> {
        array.is_valid(i).then(|| array.value(i).to_string())
    }
    fn opt<T: arrow::datatypes::ArrowPrimitiveType>(
        array: &arrow::array::PrimitiveArray<T>,
        i: usize,
    ) -> Option<T::Native> {
        array.is_valid(i).then(|| array.value(i))
    }
    fn opt_fixed<const N: usize>(array: &FixedSizeBinaryArray, i: usize) -> Option<[u8; N]> {
        if array.is_valid(i) {
            array.value(i).try_into().ok()
        } else {
            None
        }
    }
    let function_name = typed!("function_name", as_string_opt::<i32>);
    let function_version = typed!("function_version", as_string_opt::<i32>);
    let provider = typed!("provider", as_string_opt::<i32>);
    let region = typed!("region", as_string_opt::<i32>);
    let account_id = typed!("account_id", as_string_opt::<i32>);
    let runtime = typed!("runtime", as_string_opt::<i32>);
    let architecture = typed!("architecture", as_string_opt::<i32>);
    let memory_size_mb = typed!("memory_size_mb", as_primitive_opt::<Int32Type>);
    let request_id = typed!("request_id", as_string_opt::<i32>);
    let trace_id = typed!("trace_id", as_fixed_size_binary_opt);
    let span_id = typed!("span_id", as_fixed_size_binary_opt);
    let instance_id = typed!("instance_id", as_string_opt::<i32>);
    let trigger = typed!("trigger", as_string_opt::<i32>);
    let start_time = typed!("start_time", as_primitive_opt::<TimestampNanosecondType>);
    let end_time = typed!("end_time", as_primitive_opt::<TimestampNanosecondType>);
    let duration_ms = typed!("duration_ms", as_primitive_opt::<Float64Type>);
    let billed = typed!("billed_duration_ms", as_primitive_opt::<Int64Type>);
    let init = typed!("init_duration_ms", as_primitive_opt::<Float64Type>);
    let cold_start = typed!("cold_start", as_boolean_opt);
    let max_memory = typed!("max_memory_used_mb", as_primitive_opt::<Int32Type>);
    let status = typed!("status", as_string_opt::<i32>);
    let error_type = typed!("error_type", as_string_opt::<i32>);
    let error_message = typed!("error_message", as_string_opt::<i32>);
    let sources = typed!("sources", as_string_opt::<i32>);
    // Null in rows of schema versions before 3 (`Table::upgrade`): their cold starts were all
    // evidence.
    let cold_start_inferred = typed!("cold_start_inferred", as_boolean_opt);

    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        rows.push(Invocation {
            function_name: function_name.value(i).to_string(),
            function_version: opt_str(function_version, i),
            provider: opt_str(provider, i),
            region: opt_str(region, i),
            account_id: opt_str(account_id, i),
            runtime: opt_str(runtime, i),
            architecture: opt_str(architecture, i),
            memory_size_mb: opt(memory_size_mb, i),
            request_id: request_id.value(i).to_string(),
            trace_id: opt_fixed(trace_id, i),
            span_id: opt_fixed(span_id, i),
            instance_id: opt_str(instance_id, i),
            trigger: opt_str(trigger, i),
            start_time: start_time.value(i),
            end_time: opt(end_time, i),
            duration_ms: opt(duration_ms, i),
            billed_duration_ms: opt(billed, i),
            init_duration_ms: opt(init, i),
            cold_start: cold_start.value(i),
            cold_start_inferred: cold_start_inferred.is_valid(i) && cold_start_inferred.value(i),
            max_memory_used_mb: opt(max_memory, i),
            status: InvocationStatus::parse(status.value(i)).ok_or(SchemaMismatch {
                column: "status",
                problem: "holds a value outside the documented set",
            })?,
            error_type: opt_str(error_type, i),
            error_message: opt_str(error_message, i),
            sources: Sources::parse(sources.value(i)),
        });
    }
    Ok(rows)
}

/// Test support: `rows` as schema version 2 wrote them, without `cold_start_inferred` (the
/// rows of a store written before the upgrade).
#[cfg(test)]
pub(crate) fn version_2_batch(rows: &[Invocation]) -> RecordBatch {
    let batch = to_batch(rows);
    let inferred = batch.schema().index_of("cold_start_inferred").unwrap();
    let kept: Vec<usize> = (0..batch.num_columns())
        .filter(|&c| c != inferred)
        .collect();
    batch.project(&kept).unwrap()
}

/// Test support: a Parquet file of [`version_2_batch`] (uncompressed).
#[cfg(test)]
pub(crate) fn version_2_file(rows: &[Invocation]) -> bytes::Bytes {
    let batch = version_2_batch(rows);
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn span_fragment() -> Invocation {
        Invocation {
            function_name: "checkout".into(),
            request_id: "r-1".into(),
            trace_id: Some([7; 16]),
            span_id: Some([1; 8]),
            trigger: Some("http".into()),
            start_time: 1_000,
            end_time: Some(11_000_000),
            duration_ms: Some(11.0),
            cold_start: false,
            status: InvocationStatus::Error,
            error_type: Some("TypeError".into()),
            sources: Sources::of(Source::OtlpSpan),
            ..Default::default()
        }
    }

    fn report_fragment() -> Invocation {
        Invocation {
            function_name: "checkout".into(),
            request_id: "r-1".into(),
            memory_size_mb: Some(512),
            start_time: 0,
            end_time: Some(12_000_000),
            duration_ms: Some(11.42),
            billed_duration_ms: Some(12),
            init_duration_ms: Some(180.5),
            cold_start: true,
            max_memory_used_mb: Some(80),
            status: InvocationStatus::Timeout,
            sources: Sources::of(Source::PlatformReport),
            ..Default::default()
        }
    }

    #[test]
    fn report_and_span_merge_into_one_row_with_each_source_trusted_for_its_columns() {
        let merged = merge_fragments([span_fragment(), report_fragment()]);
        assert_eq!(merged.len(), 1);
        let row = &merged[0];
        assert_eq!(row.duration_ms, Some(11.42), "report measures duration");
        assert_eq!(row.billed_duration_ms, Some(12));
        assert_eq!(
            row.start_time, 1_000,
            "span knows the start to the nanosecond"
        );
        assert_eq!(row.trace_id, Some([7; 16]));
        assert!(row.cold_start);
        assert_eq!(row.status, InvocationStatus::Timeout);
        assert_eq!(row.error_type.as_deref(), Some("TypeError"));
        assert_eq!(row.sources.to_text(), "otlp_span,platform_report");
    }

    /// A span without `faas.coldstart` was inferred a cold start (the first request the store
    /// received of its instance); the report of the same request says warm, and wins.
    #[test]
    fn evidence_of_a_warm_start_beats_an_inferred_cold_start() {
        let inferred_cold = Invocation {
            cold_start: true,
            cold_start_inferred: true,
            ..span_fragment()
        };
        let warm_report = Invocation {
            init_duration_ms: None,
            cold_start: false,
            ..report_fragment()
        };
        for fragments in [
            [inferred_cold.clone(), warm_report.clone()],
            [warm_report.clone(), inferred_cold.clone()],
        ] {
            let row = &merge_fragments(fragments)[0];
            assert!(!row.cold_start);
            assert!(!row.cold_start_inferred);
        }
        // Two inferences: a cold start either saw is one.
        let inferred_warm = Invocation {
            cold_start: false,
            ..inferred_cold.clone()
        };
        let row = &merge_fragments([inferred_warm, inferred_cold])[0];
        assert!(row.cold_start && row.cold_start_inferred);
    }

    #[test]
    fn merge_order_does_not_change_the_row() {
        let a = merge_fragments([span_fragment(), report_fragment()]);
        let b = merge_fragments([report_fragment(), span_fragment()]);
        assert_eq!(a, b);
    }

    /// A report from log lines that named no function merges with a span that names it into a
    /// row of that function, whichever comes first.
    #[test]
    fn a_function_name_beats_the_placeholder_of_unnamed_log_lines() {
        let unnamed_report = Invocation {
            function_name: crate::model::UNKNOWN_FUNCTION.into(),
            ..report_fragment()
        };
        for fragments in [
            [span_fragment(), unnamed_report.clone()],
            [unnamed_report.clone(), span_fragment()],
        ] {
            let merged = merge_fragments(fragments);
            assert_eq!(merged[0].function_name, span_fragment().function_name);
        }
        let both_unnamed = merge_fragments([unnamed_report.clone(), unnamed_report]);
        assert_eq!(
            both_unnamed[0].function_name,
            crate::model::UNKNOWN_FUNCTION
        );
    }

    #[test]
    fn rows_survive_an_arrow_round_trip() {
        let rows = vec![span_fragment(), report_fragment()];
        let batch = to_batch(&rows);
        assert_eq!(batch.schema(), schema());
        assert_eq!(from_batch(&batch).unwrap(), rows);
    }

    #[test]
    fn a_builder_given_the_room_of_another_holds_the_same_rows_without_growing() {
        let rows = [span_fragment(), report_fragment()];
        let append_rows = |builder: &mut InvocationBuilder| {
            for row in &rows {
                builder.append(&row.as_row());
            }
        };
        let text_capacities = |builder: &InvocationBuilder| {
            builder.texts.each_ref().map(|text| {
                (
                    text.builder().values_capacity(),
                    text.builder().offsets_capacity(),
                )
            })
        };
        let mut first = InvocationBuilder::default();
        append_rows(&mut first);
        let room = first.room();
        let mut second = InvocationBuilder::with_room(room);
        let capacities = text_capacities(&second);
        append_rows(&mut second);
        assert_eq!(second.room(), room);
        assert_eq!(text_capacities(&second), capacities);
        // A builder without room grows.
        let mut third = InvocationBuilder::default();
        let capacities = text_capacities(&third);
        append_rows(&mut third);
        assert_ne!(text_capacities(&third), capacities);
    }

    fn arbitrary_fragment() -> impl Strategy<Value = Invocation> {
        (
            0u8..4,
            prop::option::of(1.0f64..1000.0),
            prop::option::of(1i64..2000),
            (any::<bool>(), any::<bool>()),
            0usize..6,
            0i64..1_000_000,
        )
            .prop_map(
                |(source, duration, billed, (cold, inferred), status, start)| Invocation {
                    function_name: "f".into(),
                    request_id: "same".into(),
                    start_time: start,
                    end_time: duration.map(|d| start + (d * 1e6) as i64),
                    duration_ms: duration,
                    billed_duration_ms: billed,
                    cold_start: cold,
                    cold_start_inferred: inferred,
                    status: InvocationStatus::ALL[status],
                    sources: Sources::of(Source::ALL[source as usize]),
                    ..Default::default()
                },
            )
    }

    /// A fragment with any of the optional columns set or not.
    fn sparse_fragment() -> impl Strategy<Value = Invocation> {
        let text = || prop::option::of("[a-zé0-9-]{0,12}");
        (
            arbitrary_fragment(),
            (text(), text(), text(), text(), text(), text()),
            (
                prop::option::of(any::<[u8; 16]>()),
                prop::option::of(any::<[u8; 8]>()),
                prop::option::of(any::<i32>()),
                prop::option::of(any::<i32>()),
                prop::option::of(0.0f64..5000.0),
            ),
        )
            .prop_map(
                |(fragment, (version, region, instance, trigger, error_type, message), numbers)| {
                    let (trace_id, span_id, memory, max_memory, init) = numbers;
                    Invocation {
                        function_version: version,
                        region,
                        instance_id: instance,
                        trigger,
                        error_type,
                        error_message: message,
                        trace_id,
                        span_id,
                        memory_size_mb: memory,
                        max_memory_used_mb: max_memory,
                        init_duration_ms: init,
                        ..fragment
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn any_rows_survive_an_arrow_round_trip(
            rows in prop::collection::vec(sparse_fragment(), 0..20)
        ) {
            prop_assert_eq!(from_batch(&to_batch(&rows)).unwrap(), rows);
        }

        #[test]
        fn any_fragments_of_one_request_merge_into_exactly_one_row(
            fragments in prop::collection::vec(arbitrary_fragment(), 1..8)
        ) {
            // Evidence decides when any fragment has it; else the inferences do.
            let told = fragments.iter().any(|f| !f.cold_start_inferred);
            let cold = fragments
                .iter()
                .filter(|f| !told || !f.cold_start_inferred)
                .any(|f| f.cold_start);
            let worst = fragments.iter().map(|f| f.status).max().unwrap();
            let merged = merge_fragments(fragments);
            prop_assert_eq!(merged.len(), 1);
            prop_assert_eq!(merged[0].cold_start, cold);
            prop_assert_eq!(merged[0].cold_start_inferred, !told);
            prop_assert_eq!(merged[0].status, worst);
        }
    }
}
