//! The `logs` table: OTLP log records and function log lines, with typed attributes.
//!
//! `body` is the log body as text: a string body as it is, a structured body as its JSON text.
//! `source` names the input the record came from (`otlp`, `lambda_text`, ...), so the origin of
//! any line can be traced back.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Int32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::attributes::{self, Attributes};
use super::columns::{fixed_binary, strings, timestamps};
use super::timestamp_type;

/// One log record.
#[derive(Debug, Clone, PartialEq)]
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
    /// Shared by the records of one resource.
    pub resource_attributes: Arc<Attributes>,
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
        Field::new("resource_attributes", attributes::data_type(), false),
    ]))
});

/// The fixed schema of the `logs` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Builds the Arrow batch of the `logs` table for these rows.
pub fn to_batch(rows: &[LogRecord]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        timestamps(rows.iter().map(|r| Some(r.time))),
        timestamps(rows.iter().map(|r| r.observed_time)),
        fixed_binary(rows.iter().map(|r| r.trace_id.as_ref().map(|t| &t[..])), 16),
        fixed_binary(rows.iter().map(|r| r.span_id.as_ref().map(|s| &s[..])), 8),
        Arc::new(
            rows.iter()
                .map(|r| r.severity_number)
                .collect::<Int32Array>(),
        ),
        strings(rows, |r| r.severity_text.as_deref()),
        strings(rows, |r| r.body.as_deref()),
        strings(rows, |r| r.service_name.as_deref()),
        strings(rows, |r| r.function_name.as_deref()),
        strings(rows, |r| r.request_id.as_deref()),
        strings(rows, |r| Some(r.source)),
        attributes::to_array(rows.iter().map(|r| &r.attributes)),
        attributes::to_array(rows.iter().map(|r| r.resource_attributes.as_ref())),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns follow the logs schema")
}
