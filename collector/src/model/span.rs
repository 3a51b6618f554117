//! The `spans` table: OTLP spans as they arrived, with ids as binary and attributes typed.
//!
//! Two columns are lifted out of the attributes for cheap filtering: `function_name` (from
//! `faas.name`, else the resource's `service.name`) and `request_id` (from `faas.invocation_id`).
//! Span events (exceptions among them) are kept as a list of `(time, name, attributes)`.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Array, ListArray, StringArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::attributes::{self, Attributes};
use super::columns::{fixed_binary, strings, timestamps};
use super::timestamp_type;

/// An event recorded on a span, such as an exception.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time: i64,
    pub name: String,
    pub attributes: Attributes,
}

/// One OTLP span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: Option<String>,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    pub start_time: i64,
    pub end_time: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: &'static str,
    pub status_message: Option<String>,
    pub service_name: Option<String>,
    pub function_name: Option<String>,
    pub request_id: Option<String>,
    pub scope_name: Option<String>,
    pub attributes: Attributes,
    /// Shared by the spans of one resource.
    pub resource_attributes: Arc<Attributes>,
    pub events: Vec<SpanEvent>,
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", attributes::data_type(), false),
    ])
}

static EVENT_ITEM: LazyLock<FieldRef> =
    LazyLock::new(|| Arc::new(Field::new("item", DataType::Struct(event_fields()), false)));

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("start_time", timestamp_type(), false),
        Field::new("end_time", timestamp_type(), false),
        Field::new("duration_ms", DataType::Float64, false),
        Field::new("status_code", DataType::Utf8, false),
        Field::new("status_message", DataType::Utf8, true),
        Field::new("service_name", DataType::Utf8, true),
        Field::new("function_name", DataType::Utf8, true),
        Field::new("request_id", DataType::Utf8, true),
        Field::new("scope_name", DataType::Utf8, true),
        Field::new("attributes", attributes::data_type(), false),
        Field::new("resource_attributes", attributes::data_type(), false),
        Field::new("events", DataType::List(EVENT_ITEM.clone()), false),
    ]))
});

/// The fixed schema of the `spans` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

fn events_array(rows: &[SpanRecord]) -> ArrayRef {
    let events: Vec<&SpanEvent> = rows.iter().flat_map(|r| r.events.iter()).collect();
    let values = StructArray::new(
        event_fields(),
        vec![
            timestamps(events.iter().map(|e| Some(e.time))),
            Arc::new(
                events
                    .iter()
                    .map(|e| Some(e.name.as_str()))
                    .collect::<StringArray>(),
            ),
            attributes::to_array(events.iter().map(|e| &e.attributes)),
        ],
        None,
    );
    Arc::new(ListArray::new(
        EVENT_ITEM.clone(),
        OffsetBuffer::from_lengths(rows.iter().map(|r| r.events.len())),
        Arc::new(values),
        None,
    ))
}

/// Builds the Arrow batch of the `spans` table for these rows.
pub fn to_batch(rows: &[SpanRecord]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        fixed_binary(rows.iter().map(|r| Some(&r.trace_id[..])), 16),
        fixed_binary(rows.iter().map(|r| Some(&r.span_id[..])), 8),
        fixed_binary(
            rows.iter()
                .map(|r| r.parent_span_id.as_ref().map(|p| &p[..])),
            8,
        ),
        strings(rows, |r| r.trace_state.as_deref()),
        strings(rows, |r| Some(r.name.as_str())),
        strings(rows, |r| Some(r.kind)),
        timestamps(rows.iter().map(|r| Some(r.start_time))),
        timestamps(rows.iter().map(|r| Some(r.end_time))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter()
                .map(|r| (r.end_time - r.start_time) as f64 / 1_000_000.0),
        )),
        strings(rows, |r| Some(r.status_code)),
        strings(rows, |r| r.status_message.as_deref()),
        strings(rows, |r| r.service_name.as_deref()),
        strings(rows, |r| r.function_name.as_deref()),
        strings(rows, |r| r.request_id.as_deref()),
        strings(rows, |r| r.scope_name.as_deref()),
        attributes::to_array(rows.iter().map(|r| &r.attributes)),
        attributes::to_array(rows.iter().map(|r| r.resource_attributes.as_ref())),
        events_array(rows),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns follow the spans schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttributeValue;

    #[test]
    fn spans_with_and_without_events_build_a_valid_batch() {
        let span = SpanRecord {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            trace_state: None,
            name: "GET /orders".into(),
            kind: "server",
            start_time: 1_000_000,
            end_time: 3_500_000,
            status_code: "error",
            status_message: Some("boom".into()),
            service_name: Some("orders".into()),
            function_name: Some("orders".into()),
            request_id: Some("r".into()),
            scope_name: None,
            attributes: vec![("faas.coldstart".into(), AttributeValue::Bool(true))],
            resource_attributes: Default::default(),
            events: vec![SpanEvent {
                time: 3_000_000,
                name: "exception".into(),
                attributes: vec![(
                    "exception.type".into(),
                    AttributeValue::String("ValueError".into()),
                )],
            }],
        };
        let mut second = span.clone();
        second.events.clear();
        second.parent_span_id = Some([3; 8]);
        let batch = to_batch(&[span, second]);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema());
        let duration = batch.column_by_name("duration_ms").unwrap();
        let duration = duration.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(duration.value(0), 2.5);
    }
}
