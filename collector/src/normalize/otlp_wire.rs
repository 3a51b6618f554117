//! OTLP trace export requests read in place: the protobuf bytes are walked once, and every text
//! and id is borrowed from them.
//!
//! Decoding a request into `opentelemetry-proto`'s owned messages first allocated every string
//! and list of it, only for them to be copied into Arrow builders and freed; in the collector
//! under load that was about half of the receiving threads' CPU. Here the reader hands out one
//! span at a time as a [`SpanView`] borrowing from the request, with its resource's attributes
//! and its scope's name, and the span's buffers are reused for the next.
//!
//! The wire format is read with prost's own primitives (`decode_key`, `decode_varint`,
//! `skip_field`), as prost's generated decoder reads it: unknown fields are skipped, a known
//! field with the wrong wire type, a length past the end and a string that is not UTF-8 are
//! errors, and of a field that appears twice the last value wins. Arrays and key/value lists in
//! attribute values, which become JSON text, are decoded with prost. One difference: the fields
//! faasobs does not keep (schema URLs, scope versions, links, …) are skipped unread, so a text
//! among them that is not UTF-8, which prost refuses, is not an error here.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList, any_value::Value};
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use prost::{DecodeError, Message};

use super::otlp_common::json_of;
use crate::model::AttributeRef;
use crate::model::resource::{ResourceId, resource_id_of_refs};

/// One span as the request holds it, its texts and ids borrowed from the request's bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SpanView<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub trace_state: &'a str,
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    /// The status's code and message, when the span has a status.
    pub status: Option<(i32, &'a str)>,
    pub attributes: Vec<(&'a str, AttributeRef<'a>)>,
    pub events: Vec<EventView<'a>>,
}

/// One event of a span.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EventView<'a> {
    pub time_unix_nano: u64,
    pub name: &'a str,
    pub attributes: Vec<(&'a str, AttributeRef<'a>)>,
}

/// Where a span stands in its request: its resource's attributes and id, and its scope's name
/// (empty when the scope has none).
#[derive(Debug, Clone, Copy)]
pub struct SpanContext<'s, 'a> {
    pub resource_attributes: &'s [(&'a str, AttributeRef<'a>)],
    pub resource_id: ResourceId,
    pub scope_name: &'a str,
}

/// Reads an `ExportTraceServiceRequest` and calls `each_span` with every span in order. Fails
/// on bytes that are not such a request; spans before the error were already handed out.
pub fn read_trace_request<'a>(
    mut bytes: &'a [u8],
    mut each_span: impl FnMut(SpanContext<'_, 'a>, &SpanView<'a>),
) -> Result<(), WireError> {
    let mut span = SpanView::default();
    let mut resource_attributes = Vec::new();
    let mut scopes = Vec::new();
    let mut spans = Vec::new();
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        if tag != 1 {
            skip(wire_type, tag, &mut bytes)?;
            continue;
        }
        let mut resource_spans = message(wire_type, &mut bytes)?;
        // A message's fields may come in any order: the resource is read before its spans.
        resource_attributes.clear();
        scopes.clear();
        while !resource_spans.is_empty() {
            let (tag, wire_type) = decode_key(&mut resource_spans)?;
            match tag {
                1 => read_resource(
                    message(wire_type, &mut resource_spans)?,
                    &mut resource_attributes,
                )?,
                2 => scopes.push(message(wire_type, &mut resource_spans)?),
                _ => skip(wire_type, tag, &mut resource_spans)?,
            }
        }
        let resource_id = resource_id_of_refs(&resource_attributes);
        for mut scope_spans in scopes.drain(..) {
            let mut scope_name = "";
            spans.clear();
            while !scope_spans.is_empty() {
                let (tag, wire_type) = decode_key(&mut scope_spans)?;
                match tag {
                    1 => {
                        if let Some(name) = read_scope_name(message(wire_type, &mut scope_spans)?)?
                        {
                            scope_name = name;
                        }
                    }
                    2 => spans.push(message(wire_type, &mut scope_spans)?),
                    _ => skip(wire_type, tag, &mut scope_spans)?,
                }
            }
            let context = SpanContext {
                resource_attributes: &resource_attributes,
                resource_id,
                scope_name,
            };
            for bytes in spans.drain(..) {
                read_span(bytes, &mut span)?;
                each_span(context, &span);
            }
        }
    }
    Ok(())
}

/// Reads a `Span` into `span`, reusing its lists.
fn read_span<'a>(mut bytes: &'a [u8], span: &mut SpanView<'a>) -> Result<(), WireError> {
    let mut attributes = std::mem::take(&mut span.attributes);
    let mut events = std::mem::take(&mut span.events);
    attributes.clear();
    events.clear();
    *span = SpanView::default();
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => span.trace_id = length_delimited(wire_type, &mut bytes)?,
            2 => span.span_id = length_delimited(wire_type, &mut bytes)?,
            3 => span.trace_state = string(wire_type, &mut bytes)?,
            4 => span.parent_span_id = length_delimited(wire_type, &mut bytes)?,
            5 => span.name = string(wire_type, &mut bytes)?,
            6 => span.kind = varint(wire_type, &mut bytes)? as i32,
            7 => span.start_time_unix_nano = fixed64(wire_type, &mut bytes)?,
            8 => span.end_time_unix_nano = fixed64(wire_type, &mut bytes)?,
            9 => read_key_value(message(wire_type, &mut bytes)?, &mut attributes)?,
            11 => events.push(read_event(message(wire_type, &mut bytes)?)?),
            15 => span.status = Some(read_status(message(wire_type, &mut bytes)?, span.status)?),
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    span.attributes = attributes;
    span.events = events;
    Ok(())
}

fn read_event(mut bytes: &[u8]) -> Result<EventView<'_>, WireError> {
    let mut event = EventView::default();
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => event.time_unix_nano = fixed64(wire_type, &mut bytes)?,
            2 => event.name = string(wire_type, &mut bytes)?,
            3 => read_key_value(message(wire_type, &mut bytes)?, &mut event.attributes)?,
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    Ok(event)
}

/// Reads a `Status`, merged into the one read before (a message field that appears twice is
/// merged, field by field).
fn read_status<'a>(
    mut bytes: &'a [u8],
    before: Option<(i32, &'a str)>,
) -> Result<(i32, &'a str), WireError> {
    let (mut code, mut text) = before.unwrap_or((0, ""));
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            2 => text = string(wire_type, &mut bytes)?,
            3 => code = varint(wire_type, &mut bytes)? as i32,
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    Ok((code, text))
}

/// Appends a `Resource`'s attributes.
fn read_resource<'a>(
    mut bytes: &'a [u8],
    attributes: &mut Vec<(&'a str, AttributeRef<'a>)>,
) -> Result<(), WireError> {
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => read_key_value(message(wire_type, &mut bytes)?, attributes)?,
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    Ok(())
}

/// The name of an `InstrumentationScope`, when it has the field.
fn read_scope_name(mut bytes: &[u8]) -> Result<Option<&str>, WireError> {
    let mut name = None;
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => name = Some(string(wire_type, &mut bytes)?),
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    Ok(name)
}

/// Appends a `KeyValue` to `attributes`, unless it has no value.
fn read_key_value<'a>(
    mut bytes: &'a [u8],
    attributes: &mut Vec<(&'a str, AttributeRef<'a>)>,
) -> Result<(), WireError> {
    let (mut key, mut value) = ("", None);
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => key = string(wire_type, &mut bytes)?,
            2 => value = read_any_value(message(wire_type, &mut bytes)?, value)?,
            _ => skip(wire_type, tag, &mut bytes)?,
        }
    }
    if let Some(value) = value {
        attributes.push((key, value));
    }
    Ok(())
}

/// Reads an `AnyValue` (merged into the one read before, as prost merges a message field that
/// appears twice); `None` when it holds no value.
fn read_any_value<'a>(
    mut bytes: &'a [u8],
    before: Option<AttributeRef<'a>>,
) -> Result<Option<AttributeRef<'a>>, WireError> {
    let mut value = before;
    while !bytes.is_empty() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        value = Some(match tag {
            1 => AttributeRef::String(string(wire_type, &mut bytes)?),
            2 => AttributeRef::Bool(varint(wire_type, &mut bytes)? != 0),
            3 => AttributeRef::Int(varint(wire_type, &mut bytes)? as i64),
            4 => AttributeRef::Double(f64::from_bits(fixed64(wire_type, &mut bytes)?)),
            5 => {
                let array = ArrayValue::decode(message(wire_type, &mut bytes)?)?;
                json_text(Value::ArrayValue(array))
            }
            6 => {
                let list = KeyValueList::decode(message(wire_type, &mut bytes)?)?;
                json_text(Value::KvlistValue(list))
            }
            7 => AttributeRef::Bytes(length_delimited(wire_type, &mut bytes)?),
            // A string table index, used only by profiles: no text to keep.
            8 => {
                varint(wire_type, &mut bytes)?;
                json_text(Value::StringValueStrindex(0))
            }
            _ => {
                skip(wire_type, tag, &mut bytes)?;
                continue;
            }
        });
    }
    Ok(value)
}

fn json_text(value: Value) -> AttributeRef<'static> {
    AttributeRef::Json(Cow::Owned(json_of(&value).to_string()))
}

/// Why bytes could not be read as the request.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("invalid wire type: {found:?} (expected {expected:?})")]
    WireType { found: WireType, expected: WireType },
    #[error("a field's length runs past the end of its message")]
    Underflow,
    #[error("invalid string value: data is not UTF-8 encoded")]
    NotUtf8,
}

fn expect(found: WireType, expected: WireType) -> Result<(), WireError> {
    if found == expected {
        Ok(())
    } else {
        Err(WireError::WireType { found, expected })
    }
}

fn skip(wire_type: WireType, tag: u32, bytes: &mut &[u8]) -> Result<(), WireError> {
    Ok(skip_field(wire_type, tag, bytes, DecodeContext::default())?)
}

/// The bytes of a length-delimited field, borrowed.
fn length_delimited<'a>(wire_type: WireType, bytes: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    expect(wire_type, WireType::LengthDelimited)?;
    let length = decode_varint(bytes)?;
    if length > bytes.len() as u64 {
        return Err(WireError::Underflow);
    }
    let (field, rest) = bytes.split_at(length as usize);
    *bytes = rest;
    Ok(field)
}

/// An embedded message's bytes.
fn message<'a>(wire_type: WireType, bytes: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    length_delimited(wire_type, bytes)
}

fn string<'a>(wire_type: WireType, bytes: &mut &'a [u8]) -> Result<&'a str, WireError> {
    std::str::from_utf8(length_delimited(wire_type, bytes)?).map_err(|_| WireError::NotUtf8)
}

fn varint(wire_type: WireType, bytes: &mut &[u8]) -> Result<u64, WireError> {
    expect(wire_type, WireType::Varint)?;
    Ok(decode_varint(bytes)?)
}

fn fixed64(wire_type: WireType, bytes: &mut &[u8]) -> Result<u64, WireError> {
    expect(wire_type, WireType::SixtyFourBit)?;
    let Some((value, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(WireError::Underflow);
    };
    *bytes = rest;
    Ok(u64::from_le_bytes(*value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttributeValue;
    use crate::normalize::otlp_common::attributes_of;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{
        ResourceSpans, ScopeSpans, Span, Status, span::Event, span::Link,
    };
    use proptest::prelude::*;

    fn any_value() -> impl Strategy<Value = Option<Value>> {
        let leaf = prop_oneof![
            "[a-z./ é]{0,12}".prop_map(Value::StringValue),
            any::<bool>().prop_map(Value::BoolValue),
            any::<i64>().prop_map(Value::IntValue),
            any::<f64>().prop_map(Value::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::BytesValue),
            any::<i32>().prop_map(Value::StringValueStrindex),
        ];
        let nested = leaf.clone().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(|values| {
                    Value::ArrayValue(ArrayValue {
                        values: values
                            .into_iter()
                            .map(|v| AnyValue { value: Some(v) })
                            .collect(),
                    })
                }),
                proptest::collection::vec(("[a-z]{1,4}", inner), 0..3).prop_map(|pairs| {
                    Value::KvlistValue(KeyValueList {
                        values: pairs
                            .into_iter()
                            .map(|(key, v)| KeyValue {
                                key,
                                value: Some(AnyValue { value: Some(v) }),
                                ..Default::default()
                            })
                            .collect(),
                    })
                }),
            ]
        });
        proptest::option::weighted(0.9, nested)
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(
            (
                "[a-z.]{0,10}",
                proptest::option::weighted(0.95, any_value()),
            ),
            0..6,
        )
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    // No `AnyValue`, an empty one, or one with a value.
                    value: value.map(|value| AnyValue { value }),
                    ..Default::default()
                })
                .collect()
        })
    }

    fn id() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 8..=8),
            proptest::collection::vec(any::<u8>(), 16..=16),
            proptest::collection::vec(any::<u8>(), 0..20),
        ]
    }

    prop_compose! {
        fn span()(
            (trace_id, span_id, parent_span_id) in (id(), id(), id()),
            (trace_state, name) in ("[a-z=,]{0,8}", "[A-Za-z /]{0,16}"),
            (kind, flags) in (-1i32..7, any::<u32>()),
            (start, end) in (any::<u64>(), any::<u64>()),
            attributes in attributes(),
            events in proptest::collection::vec(
                (any::<u64>(), "[a-z]{0,10}", attributes()), 0..3),
            status in proptest::option::of((-1i32..4, "[a-z ]{0,10}")),
            links in 0usize..2,
        ) -> Span {
            Span {
                trace_id: trace_id.clone(),
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: 3,
                events: events
                    .into_iter()
                    .map(|(time_unix_nano, name, attributes)| Event {
                        time_unix_nano,
                        name,
                        attributes,
                        dropped_attributes_count: 1,
                    })
                    .collect(),
                dropped_events_count: 2,
                links: (0..links)
                    .map(|_| Link {
                        trace_id: trace_id.clone(),
                        ..Default::default()
                    })
                    .collect(),
                dropped_links_count: 0,
                status: status.map(|(code, message)| Status { code, message }),
            }
        }
    }

    fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let scope = (
            proptest::option::of("[a-z.]{0,8}"),
            proptest::collection::vec(span(), 0..4),
        )
            .prop_map(|(name, spans)| ScopeSpans {
                scope: name.map(|name| InstrumentationScope {
                    name,
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            });
        let resource = (
            proptest::option::of(attributes()),
            proptest::collection::vec(scope, 0..3),
        )
            .prop_map(|(attributes, scope_spans)| ResourceSpans {
                resource: attributes.map(|attributes| Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_spans,
                ..Default::default()
            });
        proptest::collection::vec(resource, 0..3)
            .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
    }

    /// What the reader must hand out for `request`, from prost's decoding of it: attributes as
    /// `attributes_of` types them (values absent or empty left out, arrays and lists as JSON).
    fn expected(request: &ExportTraceServiceRequest) -> Vec<(Attrs, String, Viewed)> {
        let attrs = |pairs: &[KeyValue]| attributes_of(pairs.to_vec());
        let mut all = Vec::new();
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                let scope = scope_spans.scope.as_ref().map(|s| s.name.clone());
                for span in &scope_spans.spans {
                    let viewed = Viewed {
                        ids: [&span.trace_id, &span.span_id, &span.parent_span_id]
                            .map(|id| id.to_vec()),
                        texts: [span.trace_state.clone(), span.name.clone()],
                        kind: span.kind,
                        times: [span.start_time_unix_nano, span.end_time_unix_nano],
                        status: span.status.as_ref().map(|s| (s.code, s.message.clone())),
                        attributes: attrs(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|e| (e.time_unix_nano, e.name.clone(), attrs(&e.attributes)))
                            .collect(),
                    };
                    all.push((resource.clone(), scope.clone().unwrap_or_default(), viewed));
                }
            }
        }
        all
    }

    type Attrs = Vec<(String, AttributeValue)>;

    /// A [`SpanView`] with its borrows made owned, to compare.
    #[derive(Debug, PartialEq)]
    struct Viewed {
        ids: [Vec<u8>; 3],
        texts: [String; 2],
        kind: i32,
        times: [u64; 2],
        status: Option<(i32, String)>,
        attributes: Attrs,
        events: Vec<(u64, String, Attrs)>,
    }

    fn owned(attributes: &[(&str, AttributeRef)]) -> Attrs {
        attributes
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    AttributeRef::String(s) => AttributeValue::String(s.to_string()),
                    AttributeRef::Int(i) => AttributeValue::Int(*i),
                    AttributeRef::Double(d) => AttributeValue::Double(*d),
                    AttributeRef::Bool(b) => AttributeValue::Bool(*b),
                    AttributeRef::Bytes(b) => AttributeValue::Bytes(b.to_vec()),
                    AttributeRef::Json(s) => AttributeValue::Json(s.to_string()),
                };
                (k.to_string(), value)
            })
            .collect()
    }

    fn read(bytes: &[u8]) -> Result<Vec<(Attrs, String, Viewed)>, WireError> {
        let mut all = Vec::new();
        read_trace_request(bytes, |context, span| {
            let viewed = Viewed {
                ids: [span.trace_id, span.span_id, span.parent_span_id].map(<[u8]>::to_vec),
                texts: [span.trace_state, span.name].map(String::from),
                kind: span.kind,
                times: [span.start_time_unix_nano, span.end_time_unix_nano],
                status: span
                    .status
                    .map(|(code, message)| (code, message.to_string())),
                attributes: owned(&span.attributes),
                events: span
                    .events
                    .iter()
                    .map(|e| (e.time_unix_nano, e.name.to_string(), owned(&e.attributes)))
                    .collect(),
            };
            all.push((
                owned(context.resource_attributes),
                context.scope_name.to_string(),
                viewed,
            ));
        })?;
        Ok(all)
    }

    /// Doubles that are NaN compare unequal; compare them by their bits.
    fn comparable(spans: Vec<(Attrs, String, Viewed)>) -> String {
        format!("{spans:?}")
    }

    proptest! {
        /// The reader hands out what prost decodes, span by span, skipping the fields faasobs
        /// does not keep (flags, dropped counts, links, versions, schema URLs).
        #[test]
        fn reading_in_place_gives_what_prost_decodes(request in request()) {
            let bytes = request.encode_to_vec();
            let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
            prop_assert_eq!(
                comparable(read(&bytes).unwrap()),
                comparable(expected(&decoded))
            );
        }

        /// Bytes cut short anywhere, or with a byte changed: where prost still reads them, the
        /// reader reads the same spans (it is never stricter). Where prost fails, the reader
        /// may read them, but only because it skips a field it does not keep (such a field's
        /// text is not checked for UTF-8); cut in the middle of a span, both fail.
        #[test]
        fn damaged_requests_are_read_as_prost_reads_them(
            request in request(),
            cut in any::<proptest::sample::Index>(),
            flip in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let bytes = request.encode_to_vec();
            prop_assume!(!bytes.is_empty());
            let mut changed = bytes.clone();
            changed[flip.index(bytes.len())] = byte;
            for damaged in [&bytes[..cut.index(bytes.len())], &changed[..]] {
                if let Ok(decoded) = ExportTraceServiceRequest::decode(damaged) {
                    prop_assert_eq!(
                        comparable(read(damaged).unwrap()),
                        comparable(expected(&decoded))
                    );
                }
            }
        }
    }

    /// A request of one span named `name`.
    fn one_span(name: &str) -> ExportTraceServiceRequest {
        let span = Span {
            name: name.into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_request_cut_inside_a_span_is_an_error() {
        let bytes = one_span("handler").encode_to_vec();
        for cut in 1..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(read(&bytes).unwrap().len(), 1);
    }

    #[test]
    fn a_logs_request_is_not_read_as_traces() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let error = read(&logs.encode_to_vec()).unwrap_err();
        assert!(error.to_string().contains("wire type"), "{error}");
    }

    #[test]
    fn a_text_that_is_not_utf8_is_an_error() {
        let mut bytes = one_span("\u{e9}").encode_to_vec();
        let at = bytes.iter().position(|b| *b == 0xc3).unwrap();
        bytes[at + 1] = 0x28;
        assert!(matches!(read(&bytes), Err(WireError::NotUtf8)));
        assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
    }
}
