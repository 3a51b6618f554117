//! The `spans` table: OTLP spans as they arrived, with ids as binary and attributes typed.
//!
//! Two columns are lifted out of the attributes for cheap filtering: `function_name` (from
//! `faas.name`, else the resource's `service.name`) and `request_id` (from `faas.invocation_id`).
//! Span events (exceptions among them) are kept as a list of `(time, name, attributes)`.
//!
//! Rows are built straight into a batch with a [`SpanBuilder`], each one appended as a
//! [`SpanRow`] whose texts are borrowed from the request it was read from.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Float64Array, ListArray, StringBuilder, StructArray,
    TimestampNanosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::append_id;
use super::attributes::{self, AttributeRefs, AttributesBuilder, AttributesRoom};
use super::resource::ResourceId;
use super::timestamp_type;

/// An event recorded on a span, such as an exception.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEventRow<'a> {
    pub time: i64,
    pub name: &'a str,
    pub attributes: &'a AttributeRefs<'a>,
}

/// One span's row, its texts borrowed from the request it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow<'a> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: Option<&'a str>,
    pub name: &'a str,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    pub start_time: i64,
    pub end_time: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: &'static str,
    pub status_message: Option<&'a str>,
    pub service_name: Option<Cow<'a, str>>,
    pub function_name: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
    pub scope_name: Option<&'a str>,
    pub attributes: &'a AttributeRefs<'a>,
    /// The attributes of the span's resource, the same for every span of the resource: read for
    /// the lifted columns, stored once in `resources` (see [`super::resource`]).
    pub resource_attributes: &'a AttributeRefs<'a>,
    /// The id of the span's resource, its row in `resources`.
    pub resource_id: ResourceId,
    pub events: &'a [SpanEventRow<'a>],
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
        Field::new("resource_id", DataType::FixedSizeBinary(8), true),
        Field::new("events", DataType::List(EVENT_ITEM.clone()), false),
    ]))
});

/// The fixed schema of the `spans` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Builds `spans` batches one row at a time.
#[derive(Debug)]
pub struct SpanBuilder {
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent_span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    start_time: Vec<i64>,
    end_time: Vec<i64>,
    status_code: StringBuilder,
    status_message: StringBuilder,
    service_name: StringBuilder,
    function_name: StringBuilder,
    request_id: StringBuilder,
    scope_name: StringBuilder,
    attributes: AttributesBuilder,
    resource_id: FixedSizeBinaryBuilder,
    /// Events of each row so far, and the events' columns.
    events: Vec<usize>,
    event_time: Vec<i64>,
    event_name: StringBuilder,
    event_attributes: AttributesBuilder,
}

impl Default for SpanBuilder {
    fn default() -> Self {
        SpanBuilder::with_room(&SpanRoom::default())
    }
}

/// What a [`SpanBuilder`]'s buffers held: the room to give a builder for rows like those, so
/// that its buffers need not grow by doubling, copying what they hold each time.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SpanRoom {
    rows: usize,
    /// Bytes of each text column, in the order of [`SpanBuilder::texts`].
    text_bytes: [usize; 9],
    attributes: AttributesRoom,
    events: usize,
    event_name_bytes: usize,
    event_attributes: AttributesRoom,
}

impl SpanRoom {
    /// This room with every count changed by `change`.
    pub(crate) fn map(&self, change: impl Fn(usize) -> usize) -> SpanRoom {
        SpanRoom {
            rows: change(self.rows),
            text_bytes: self.text_bytes.map(&change),
            attributes: self.attributes.map(&change),
            events: change(self.events),
            event_name_bytes: change(self.event_name_bytes),
            event_attributes: self.event_attributes.map(&change),
        }
    }

    /// Rows the room is for.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}

impl SpanBuilder {
    /// An empty builder whose buffers have this room.
    pub(crate) fn with_room(room: &SpanRoom) -> Self {
        let rows = room.rows;
        let [
            trace_state,
            name,
            kind,
            status_code,
            status_message,
            service_name,
            function_name,
            request_id,
            scope_name,
        ] = room
            .text_bytes
            .map(|bytes| StringBuilder::with_capacity(rows, bytes));
        SpanBuilder {
            trace_id: FixedSizeBinaryBuilder::with_capacity(rows, 16),
            span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            parent_span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            trace_state,
            name,
            kind,
            start_time: Vec::with_capacity(rows),
            end_time: Vec::with_capacity(rows),
            status_code,
            status_message,
            service_name,
            function_name,
            request_id,
            scope_name,
            attributes: AttributesBuilder::with_room(room.attributes),
            resource_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            events: Vec::with_capacity(rows),
            event_time: Vec::with_capacity(room.events),
            event_name: StringBuilder::with_capacity(room.events, room.event_name_bytes),
            event_attributes: AttributesBuilder::with_room(room.event_attributes),
        }
    }

    /// What the buffers hold now.
    pub(crate) fn room(&self) -> SpanRoom {
        SpanRoom {
            rows: self.len(),
            text_bytes: self.texts().map(|text| text.values_slice().len()),
            attributes: self.attributes.room(),
            events: self.event_time.len(),
            event_name_bytes: self.event_name.values_slice().len(),
            event_attributes: self.event_attributes.room(),
        }
    }

    /// The capacity of each buffer, to tell whether one grew.
    #[cfg(test)]
    fn capacities(&self) -> Vec<usize> {
        let mut capacities: Vec<usize> = self
            .texts()
            .into_iter()
            .chain([&self.event_name])
            .flat_map(|text| [text.values_capacity(), text.offsets_capacity()])
            .collect();
        capacities.extend([
            self.start_time.capacity(),
            self.end_time.capacity(),
            self.events.capacity(),
            self.event_time.capacity(),
        ]);
        capacities.extend(self.attributes.capacities());
        capacities.extend(self.event_attributes.capacities());
        capacities
    }

    /// The text columns, in the order of the schema.
    fn texts(&self) -> [&StringBuilder; 9] {
        [
            &self.trace_state,
            &self.name,
            &self.kind,
            &self.status_code,
            &self.status_message,
            &self.service_name,
            &self.function_name,
            &self.request_id,
            &self.scope_name,
        ]
    }
}

impl SpanBuilder {
    /// Appends one row.
    pub fn append(&mut self, row: &SpanRow) {
        append_id(&mut self.trace_id, Some(&row.trace_id));
        append_id(&mut self.span_id, Some(&row.span_id));
        append_id(
            &mut self.parent_span_id,
            row.parent_span_id.as_ref().map(|id| &id[..]),
        );
        self.trace_state.append_option(row.trace_state);
        self.name.append_value(row.name);
        self.kind.append_value(row.kind);
        self.start_time.push(row.start_time);
        self.end_time.push(row.end_time);
        self.status_code.append_value(row.status_code);
        self.status_message.append_option(row.status_message);
        self.service_name.append_option(row.service_name.as_deref());
        self.function_name
            .append_option(row.function_name.as_deref());
        self.request_id.append_option(row.request_id.as_deref());
        self.scope_name.append_option(row.scope_name);
        self.attributes.append_borrowed(row.attributes);
        append_id(&mut self.resource_id, Some(&row.resource_id));
        self.events.push(row.events.len());
        for event in row.events {
            self.event_time.push(event.time);
            self.event_name.append_value(event.name);
            self.event_attributes.append_borrowed(event.attributes);
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when no row was appended.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The batch of the rows appended; the builder is left empty.
    pub fn finish(&mut self) -> RecordBatch {
        let timestamps =
            |times: Vec<i64>| Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC"));
        let start_time = std::mem::take(&mut self.start_time);
        let end_time = std::mem::take(&mut self.end_time);
        let duration_ms = Float64Array::from_iter_values(
            start_time
                .iter()
                .zip(&end_time)
                .map(|(start, end)| (end - start) as f64 / 1_000_000.0),
        );
        let event_values = StructArray::new(
            event_fields(),
            vec![
                timestamps(std::mem::take(&mut self.event_time)),
                Arc::new(self.event_name.finish()),
                self.event_attributes.finish(),
            ],
            None,
        );
        let events = ListArray::new(
            EVENT_ITEM.clone(),
            OffsetBuffer::from_lengths(std::mem::take(&mut self.events)),
            Arc::new(event_values),
            None,
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            timestamps(start_time),
            timestamps(end_time),
            Arc::new(duration_ms),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.function_name.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.scope_name.finish()),
            self.attributes.finish(),
            Arc::new(self.resource_id.finish()),
            Arc::new(events),
        ];
        RecordBatch::try_new(schema(), columns).expect("columns follow the spans schema")
    }
}

/// Appends two example spans to `builder`: one with an attribute and an event, the other with
/// neither and with a parent. For tests of anything that handles spans batches.
#[cfg(test)]
pub(crate) fn append_example_rows(builder: &mut SpanBuilder) {
    use crate::model::AttributeRef;
    let attributes = [("faas.coldstart", AttributeRef::Bool(true))];
    let events = [SpanEventRow {
        time: 3_000_000,
        name: "exception",
        attributes: &[("exception.type", AttributeRef::String("ValueError"))],
    }];
    let span = SpanRow {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent_span_id: None,
        trace_state: None,
        name: "GET /orders",
        kind: "server",
        start_time: 1_000_000,
        end_time: 3_500_000,
        status_code: "error",
        status_message: Some("boom"),
        service_name: Some("orders".into()),
        function_name: Some("orders".into()),
        request_id: Some("r".into()),
        scope_name: None,
        attributes: &attributes,
        resource_attributes: &[],
        resource_id: [7; 8],
        events: &events,
    };
    let second = SpanRow {
        events: &[],
        parent_span_id: Some([3; 8]),
        ..span.clone()
    };
    builder.append(&span);
    builder.append(&second);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_with_and_without_events_build_a_valid_batch() {
        let mut builder = SpanBuilder::default();
        append_example_rows(&mut builder);
        let batch = builder.finish();
        assert!(builder.is_empty());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema());
        let duration = batch.column_by_name("duration_ms").unwrap();
        let duration = duration.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(duration.value(0), 2.5);
        let events = batch.column_by_name("events").unwrap();
        let events = events.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!([events.value_length(0), events.value_length(1)], [1, 0]);
        let parents = batch.column_by_name("parent_span_id").unwrap();
        assert_eq!([parents.is_null(0), parents.is_null(1)], [true, false]);
    }

    #[test]
    fn a_builder_given_the_room_of_another_holds_the_same_rows_without_growing() {
        let mut first = SpanBuilder::default();
        append_example_rows(&mut first);
        let room = first.room();
        assert_eq!(room.rows(), 2);
        let mut second = SpanBuilder::with_room(&room);
        let capacities = second.capacities();
        append_example_rows(&mut second);
        assert_eq!(second.room(), room);
        assert_eq!(second.capacities(), capacities);
        // A builder without room grows.
        let mut third = SpanBuilder::default();
        let capacities = third.capacities();
        append_example_rows(&mut third);
        assert_ne!(third.capacities(), capacities);
    }
}
