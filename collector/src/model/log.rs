//! The `logs` table: OTLP log records and function log lines, with typed attributes.
//!
//! `body` is the log body as text: a string body as it is, a structured body as its JSON text.
//! `source` names the input the record came from (`otlp`, `lambda_text`, ...), so the origin of
//! any line can be traced back. `resource_id` names the record's resource in `resources`.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Int32Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::attributes::{self, Attributes, AttributesBuilder, RowAttributes};
use super::null_runs::NullRuns;
use super::resource::ResourceId;
use super::{timestamp_type, with_spare};

/// One log record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    pub time: i64,
    pub observed_time: Option<i64>,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub severity_number: Option<i32>,
    pub severity_text: Option<String>,
    pub body: Option<String>,
    pub service_name: Option<String>,
    pub function_name: Option<String>,
    pub request_id: Option<String>,
    pub source: &'static str,
    pub attributes: Attributes,
    /// The record's resource, its row in `resources`; `None` for a record that came without
    /// one (Lambda log lines).
    pub resource_id: Option<ResourceId>,
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("observed_time", timestamp_type(), true),
        Field::new("trace_id", DataType::FixedSizeBinary(16), true),
        Field::new("span_id", DataType::FixedSizeBinary(8), true),
        Field::new("severity_number", DataType::Int32, true),
        Field::new("severity_text", DataType::Utf8, true),
        Field::new("body", DataType::Utf8, true),
        Field::new("service_name", DataType::Utf8, true),
        Field::new("function_name", DataType::Utf8, true),
        Field::new("request_id", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("attributes", attributes::data_type(), false),
        Field::new("resource_id", DataType::FixedSizeBinary(8), true),
    ]))
});

/// The fixed schema of the `logs` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// A log row with its texts borrowed, as [`LogBuilder::append`] takes it: a reader that builds
/// its rows straight into columns keeps no [`LogRecord`], whose texts were each allocated, moved
/// and freed again only to be copied into the columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRow<'a> {
    pub time: i64,
    pub observed_time: Option<i64>,
    pub trace_id: Option<&'a [u8; 16]>,
    pub span_id: Option<&'a [u8; 8]>,
    pub severity_number: Option<i32>,
    pub severity_text: Option<&'a str>,
    pub body: Option<&'a str>,
    pub service_name: Option<&'a str>,
    pub function_name: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub source: &'static str,
    pub attributes: RowAttributes<'a>,
    pub resource_id: Option<&'a ResourceId>,
}

impl LogRecord {
    /// The record as a row for [`LogBuilder::append`].
    pub fn as_row(&self) -> LogRow<'_> {
        LogRow {
            time: self.time,
            observed_time: self.observed_time,
            trace_id: self.trace_id.as_ref(),
            span_id: self.span_id.as_ref(),
            severity_number: self.severity_number,
            severity_text: self.severity_text.as_deref(),
            body: self.body.as_deref(),
            service_name: self.service_name.as_deref(),
            function_name: self.function_name.as_deref(),
            request_id: self.request_id.as_deref(),
            source: self.source,
            attributes: RowAttributes::Owned(&self.attributes),
            resource_id: self.resource_id.as_ref(),
        }
    }
}

/// Builds `logs` batches one row at a time.
#[derive(Debug)]
pub struct LogBuilder {
    time: TimestampNanosecondBuilder,
    observed_time: NullRuns<TimestampNanosecondBuilder>,
    trace_id: NullRuns<FixedSizeBinaryBuilder>,
    span_id: NullRuns<FixedSizeBinaryBuilder>,
    severity_number: NullRuns<Int32Builder>,
    severity_text: NullRuns<StringBuilder>,
    body: NullRuns<StringBuilder>,
    service_name: NullRuns<StringBuilder>,
    function_name: NullRuns<StringBuilder>,
    request_id: NullRuns<StringBuilder>,
    source: StringBuilder,
    attributes: AttributesBuilder,
    resource_id: NullRuns<FixedSizeBinaryBuilder>,
}

impl Default for LogBuilder {
    fn default() -> Self {
        LogBuilder::with_capacity(0, [0; 6])
    }
}

impl LogBuilder {
    /// Room for `rows` rows whose six text columns (severity, body, service, function, request
    /// id and source, in that order) take `text_bytes` bytes each.
    fn with_capacity(rows: usize, text_bytes: [usize; 6]) -> Self {
        let text = |i: usize| StringBuilder::with_capacity(rows, text_bytes[i]);
        let id = |width| NullRuns::new(FixedSizeBinaryBuilder::with_capacity(rows, width));
        LogBuilder {
            time: TimestampNanosecondBuilder::with_capacity(rows),
            observed_time: NullRuns::new(TimestampNanosecondBuilder::with_capacity(rows)),
            trace_id: id(16),
            span_id: id(8),
            severity_number: NullRuns::new(Int32Builder::with_capacity(rows)),
            severity_text: NullRuns::new(text(0)),
            body: NullRuns::new(text(1)),
            service_name: NullRuns::new(text(2)),
            function_name: NullRuns::new(text(3)),
            request_id: NullRuns::new(text(4)),
            source: text(5),
            attributes: AttributesBuilder::default(),
            resource_id: id(8),
        }
    }

    /// Appends one row.
    pub fn append(&mut self, row: LogRow<'_>) {
        self.time.append_value(row.time);
        self.observed_time.append_option(row.observed_time);
        self.trace_id.append_id(row.trace_id.map(|id| &id[..]));
        self.span_id.append_id(row.span_id.map(|id| &id[..]));
        self.severity_number.append_option(row.severity_number);
        self.severity_text.append_option(row.severity_text);
        self.body.append_option(row.body);
        self.service_name.append_option(row.service_name);
        self.function_name.append_option(row.function_name);
        self.request_id.append_option(row.request_id);
        self.source.append_value(row.source);
        self.attributes.append_row(row.attributes);
        self.resource_id
            .append_id(row.resource_id.map(|id| &id[..]));
    }

    /// Rows appended since the last batch ended.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True when no row was appended since the last batch ended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends a batch of the rows appended so far and leaves the builder empty, with room for
    /// another batch like it and an eighth to spare. The batches of one reader are alike, and
    /// room grown by doubling from nothing was up to twice what a batch held, for as long as the
    /// batch was kept.
    pub fn end_batch(&mut self) -> RecordBatch {
        let text_bytes = [
            self.severity_text.values_slice(),
            self.body.values_slice(),
            self.service_name.values_slice(),
            self.function_name.values_slice(),
            self.request_id.values_slice(),
            self.source.values_slice(),
        ];
        let next = LogBuilder {
            attributes: self.attributes.room_for_as_many(),
            ..LogBuilder::with_capacity(
                with_spare(self.len()),
                text_bytes.map(|bytes| with_spare(bytes.len())),
            )
        };
        std::mem::replace(self, next).finish()
    }

    /// The batch of the rows appended.
    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish().with_timezone("UTC")),
            Arc::new(self.observed_time.finish().with_timezone("UTC")),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.function_name.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.source.finish()),
            self.attributes.finish(),
            Arc::new(self.resource_id.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("columns follow the logs schema")
    }
}

/// Builds the Arrow batch of the `logs` table for these rows, its text buffers sized for them
/// first (growing them by doubling copied them each time).
pub fn to_batch(rows: &[LogRecord]) -> RecordBatch {
    let mut text_bytes = [0; 6];
    for r in rows {
        let texts = [
            r.severity_text.as_deref(),
            r.body.as_deref(),
            r.service_name.as_deref(),
            r.function_name.as_deref(),
            r.request_id.as_deref(),
            Some(r.source),
        ];
        for (sum, text) in text_bytes.iter_mut().zip(texts) {
            *sum += text.map_or(0, str::len);
        }
    }
    let mut builder = LogBuilder::with_capacity(rows.len(), text_bytes);
    builder.attributes = AttributesBuilder::for_rows(rows.iter().map(|r| &r.attributes));
    for row in rows {
        builder.append(row.as_row());
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttributeValue;

    fn record(i: u8) -> LogRecord {
        LogRecord {
            time: 1_000 + i64::from(i),
            observed_time: i.is_multiple_of(2).then_some(2_000),
            trace_id: i.is_multiple_of(3).then_some([i; 16]),
            span_id: (i % 3 == 1).then_some([i; 8]),
            severity_number: Some(9),
            severity_text: Some("INFO".into()),
            body: Some(format!("line {i}")),
            service_name: None,
            function_name: Some("f".into()),
            request_id: (i != 2).then(|| format!("r-{i}")),
            source: "powertools",
            attributes: (0..i)
                .map(|k| (format!("k{k}"), AttributeValue::Int(k.into())))
                .collect(),
            resource_id: (i != 1).then_some([i; 8]),
        }
    }

    /// A builder whose batch ended is left empty and builds the next batch from nothing, as a
    /// Lambda log stream uses it.
    #[test]
    fn a_builder_finished_and_reused_builds_what_to_batch_builds() {
        let records: Vec<LogRecord> = (0..5).map(record).collect();
        let mut builder = LogBuilder::default();
        for r in &records[..2] {
            builder.append(r.as_row());
        }
        assert_eq!(builder.len(), 2);
        let first = builder.end_batch();
        assert!(builder.is_empty());
        for r in &records[2..] {
            builder.append(r.as_row());
        }
        let second = builder.finish();
        assert_eq!(first, to_batch(&records[..2]));
        assert_eq!(second, to_batch(&records[2..]));
        assert_eq!(second.num_rows(), 3);
    }
}
