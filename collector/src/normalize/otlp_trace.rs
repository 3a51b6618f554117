//! OTLP traces → `spans` rows, and `invocations` fragments from the spans that show an invocation.
//!
//! A span is an invocation when it carries a request id (`faas.invocation_id`, or the obsolete
//! `faas.execution`). Function identity comes from the span's and its resource's `faas.*` and
//! `cloud.*` attributes, accepting the renamed and obsolete forms seen in real instrumentation:
//! `faas.max_memory` in bytes (the spec), in MB, or as a string; `cloud.platform`
//! `azure_functions` and `azure.functions`.
//!
//! A client span that invoked a function (`faas.invoked_name`) and was refused with a throttling
//! error (`TooManyRequestsException`, HTTP 429) is the only trace of a throttled invocation, which
//! never ran: it becomes a `throttled` fragment keyed by `aws.request_id` (or the span id).

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::Message;

use super::otlp_common::{fixed_id, optional_id};
use super::otlp_wire::{SpanContext, SpanView, read_trace_request};
use super::{NormalizeError, Normalized};
use crate::model::attributes::find_ref;
use crate::model::invocation::{InvocationRoom, Sources};
use crate::model::span::SpanRoom;
use crate::model::{
    AttributeRef, BATCH_ROWS, InvocationBuilder, InvocationRow, InvocationStatus, ResourceRows,
    Source, SpanBuilder, SpanEventRow, SpanRow, with_spare,
};

/// Normalizes one OTLP trace export request from its protobuf bytes, read in place (see
/// [`super::otlp_wire`]): span rows go straight into Arrow batches, texts copied once, from the
/// request into the batch. A span that cannot be read (an id of the wrong width, a time out of
/// range) is counted as rejected; the others are kept. Fails when the bytes are not a request.
/// The request's `resources` rows are added to `resources` (a receiver's leaves out those its
/// intake has stored: [`ResourceRows::leaving_out`]).
pub fn normalize_trace_bytes(
    bytes: &[u8],
    mut resources: ResourceRows,
) -> Result<Normalized, NormalizeError> {
    let mut out = Normalized::default();
    let room = RequestRoom::for_request(bytes.len());
    let mut spans = SpanBuilder::with_room(&room.spans);
    let mut fragments = InvocationBuilder::with_room(room.fragments);
    read_trace_request(bytes, |context, span| {
        // Empty, and so not allocated, for a span without events.
        let mut events = Vec::new();
        match span_row(span, context, &mut events) {
            Ok(row) => {
                if let Some(hour) = resources.needs_row(row.resource_id, row.start_time) {
                    resources.add_borrowed(row.resource_id, hour, context.resource_attributes);
                }
                append_invocation(&row, &mut fragments);
                if fragments.len() >= BATCH_ROWS {
                    out.records.invocation_batches.push(fragments.end_batch());
                }
                spans.append(&row);
                if spans.len() >= BATCH_ROWS {
                    out.records.span_batches.push(spans.finish());
                }
            }
            Err(e) => out.reject(e),
        }
    })?;
    let one_batch =
        out.records.span_batches.is_empty() && out.records.invocation_batches.is_empty();
    if one_batch && !spans.is_empty() {
        RequestRoom::remember(RequestRoom {
            bytes: bytes.len(),
            spans: spans.room(),
            fragments: fragments.room(),
        });
    }
    if !spans.is_empty() {
        out.records.span_batches.push(spans.finish());
    }
    if !fragments.is_empty() {
        out.records.invocation_batches.push(fragments.finish());
    }
    out.records.resource_batches.extend(resources.finish());
    Ok(out)
}

/// The room a request's builders took, and the request's size. A request's builders start with
/// the room the last request's took, scaled to its size: requests from one sender are alike, and
/// builders grown from nothing by doubling copied their buffers again and again (a tenth of the
/// receiving threads' time, see docs/benchmarks-history.md).
#[derive(Debug, Clone, Default)]
struct RequestRoom {
    bytes: usize,
    spans: SpanRoom,
    fragments: InvocationRoom,
}

/// The room of the last request read by this process that made one batch of spans.
static LAST_REQUEST_ROOM: Mutex<Option<RequestRoom>> = Mutex::new(None);

impl RequestRoom {
    /// The room for a request of `bytes` bytes: the last request's, scaled to its size (see
    /// [`RequestRoom::scaled_to`]). No room before a first request.
    fn for_request(bytes: usize) -> RequestRoom {
        let last = LAST_REQUEST_ROOM
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        last.map_or_else(RequestRoom::default, |last| last.scaled_to(bytes))
    }

    /// This room scaled by the two requests' sizes, with an eighth to spare, for a batch of rows
    /// at most.
    fn scaled_to(&self, bytes: usize) -> RequestRoom {
        let scale = (bytes as f64 / self.bytes.max(1) as f64)
            .min(BATCH_ROWS as f64 / self.spans.rows().max(1) as f64);
        let change = |n: usize| with_spare((n as f64 * scale).ceil() as usize);
        RequestRoom {
            bytes,
            spans: self.spans.map(change),
            fragments: self.fragments.map(change),
        }
    }

    fn remember(room: RequestRoom) {
        *LAST_REQUEST_ROOM
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(room);
    }
}

/// Normalizes one OTLP trace export request already decoded (from OTLP JSON, say), by way of its
/// protobuf encoding: one reader, one set of rules. Fails only where prost would fail to decode
/// that encoding (attribute values nested deeper than its recursion limit). `resources` as for
/// [`normalize_trace_bytes`].
pub fn normalize_traces(
    request: ExportTraceServiceRequest,
    resources: ResourceRows,
) -> Result<Normalized, NormalizeError> {
    normalize_trace_bytes(&request.encode_to_vec(), resources)
}

fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// Looks a key up in the span's attributes, then in its resource's.
fn lookup<'r, 'a>(row: &'r SpanRow<'a>, key: &str) -> Option<&'r AttributeRef<'a>> {
    find_ref(row.attributes, key).or_else(|| find_ref(row.resource_attributes, key))
}

fn text<'a>(row: &SpanRow<'a>, key: &str) -> Option<Cow<'a, str>> {
    lookup(row, key).and_then(AttributeRef::as_text)
}

/// The row of a span; its events are put in `events`.
fn span_row<'r, 'a: 'r>(
    span: &'r SpanView<'a>,
    context: SpanContext<'r, 'a>,
    events: &'r mut Vec<SpanEventRow<'r>>,
) -> Result<SpanRow<'r>, NormalizeError> {
    let trace_id = fixed_id::<16>(span.trace_id, "trace_id")?;
    let span_id = fixed_id::<8>(span.span_id, "span_id")?;
    let parent_span_id = optional_id::<8>(span.parent_span_id, "parent_span_id")?;
    let start = nanos(span.start_time_unix_nano, "start_time_unix_nano")?;
    let end = nanos(span.end_time_unix_nano, "end_time_unix_nano")?.max(start);
    let (status_code, status_message) = match span.status {
        Some((code, message)) => (
            match StatusCode::try_from(code).unwrap_or(StatusCode::Unset) {
                StatusCode::Unset => "unset",
                StatusCode::Ok => "ok",
                StatusCode::Error => "error",
            },
            Some(message).filter(|m| !m.is_empty()),
        ),
        None => ("unset", None),
    };
    for event in &span.events {
        events.push(SpanEventRow {
            time: nanos(event.time_unix_nano, "event time_unix_nano")?,
            name: event.name,
            attributes: &event.attributes,
        });
    }
    let mut row = SpanRow {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: Some(span.trace_state).filter(|s| !s.is_empty()),
        name: span.name,
        kind: kind_name(span.kind),
        start_time: start,
        end_time: end,
        status_code,
        status_message,
        service_name: None,
        function_name: None,
        request_id: None,
        scope_name: Some(context.scope_name).filter(|n| !n.is_empty()),
        attributes: &span.attributes,
        resource_attributes: context.resource_attributes,
        resource_id: context.resource_id,
        events,
    };
    let lifted = |key| lookup(&row, key).and_then(AttributeRef::as_text);
    let service_name = lifted("service.name");
    let function_name = lifted("faas.name").or_else(|| service_name.clone());
    let request_id = lifted("faas.invocation_id").or_else(|| lifted("faas.execution"));
    row.service_name = service_name;
    row.function_name = function_name;
    row.request_id = request_id;
    Ok(row)
}

/// OTLP times are u64 ns; the store keeps i64 ns, which reaches the year 2262.
fn nanos(value: u64, field: &'static str) -> Result<i64, NormalizeError> {
    i64::try_from(value).map_err(|_| NormalizeError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

/// `faas.max_memory` is bytes per the spec; some instrumentations send MB, some a string.
fn memory_mb(value: &AttributeRef) -> Option<i32> {
    let raw = value.as_f64()?;
    let mb = if raw >= 1024.0 * 1024.0 {
        raw / (1024.0 * 1024.0)
    } else {
        raw
    };
    (mb > 0.0 && mb < 1e6).then(|| mb.round() as i32)
}

/// Normalizes `host.arch` values (`amd64`, `x86_64`, `arm64`, `aarch64`) to the data model's two.
pub fn architecture_name(raw: &str) -> Option<&'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "amd64" | "x86_64" | "x86" | "x64" => Some("x86_64"),
        "arm64" | "aarch64" => Some("arm64"),
        _ => None,
    }
}

fn provider_of<'a>(record: &SpanRow<'a>) -> Option<Cow<'a, str>> {
    if let Some(p) = text(record, "cloud.provider") {
        return Some(p);
    }
    match text(record, "cloud.platform")?.as_ref() {
        "aws_lambda" => Some("aws".into()),
        "azure_functions" | "azure.functions" => Some("azure".into()),
        "gcp_cloud_functions" | "gcp_cloud_run" => Some("gcp".into()),
        _ => None,
    }
}

fn exception<'a>(record: &SpanRow<'a>) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
    for event in record.events {
        if event.name == "exception" {
            let text_of = |key| find_ref(event.attributes, key).and_then(AttributeRef::as_str);
            return (
                text_of("exception.type").map(Cow::Borrowed),
                text_of("exception.message").map(Cow::Borrowed),
            );
        }
    }
    (
        text(record, "error.type").or_else(|| text(record, "exception.type")),
        record.status_message.map(Cow::Borrowed),
    )
}

fn is_throttle(record: &SpanRow, error_type: Option<&str>) -> bool {
    let by_type =
        error_type.is_some_and(|t| t.contains("TooManyRequests") || t.contains("Throttl"));
    let by_status = lookup(record, "http.response.status_code")
        .or_else(|| lookup(record, "http.status_code"))
        .and_then(AttributeRef::as_i64)
        == Some(429);
    by_type || by_status
}

/// Appends the invocation fragment that `record` shows to `fragments`, if it shows one: a span
/// with a request id (see [`server_invocation`]), or a throttled call to a function.
fn append_invocation(record: &SpanRow, fragments: &mut InvocationBuilder) {
    if let Some(request_id) = record.request_id.as_deref() {
        server_invocation(record, request_id, fragments);
        return;
    }
    if record.kind == "client" && record.status_code == "error" {
        let Some(invoked) = text(record, "faas.invoked_name") else {
            return;
        };
        let (error_type, error_message) = exception(record);
        if is_throttle(record, error_type.as_deref()) {
            let request_id = text(record, "aws.request_id")
                .unwrap_or_else(|| Cow::Owned(hex::encode(record.span_id)));
            let (provider, region) = (
                text(record, "faas.invoked_provider"),
                text(record, "faas.invoked_region"),
            );
            fragments.append(&InvocationRow {
                function_name: &invoked,
                provider: provider.as_deref(),
                region: region.as_deref(),
                request_id: &request_id,
                trace_id: Some(record.trace_id),
                start_time: record.start_time,
                end_time: Some(record.start_time),
                // It never ran: no duration, which would pull the function's latency
                // percentiles towards zero; and nothing billed.
                duration_ms: None,
                billed_duration_ms: Some(0),
                status: InvocationStatus::Throttled,
                error_type: Some(error_type.as_deref().unwrap_or("TooManyRequestsException")),
                error_message: error_message.as_deref(),
                sources: Sources::of(Source::CallerSpan),
                ..Default::default()
            });
        }
    }
}

/// Appends the fragment of the invocation a span with `request_id` shows. Its texts are borrowed
/// from the request where they are text there: an owned fragment per span, copied into Arrow and
/// freed, allocated a dozen texts for each.
fn server_invocation(record: &SpanRow, request_id: &str, fragments: &mut InvocationBuilder) {
    let (error_type, error_message) = exception(record);
    let status = if record.status_code == "error" || error_type.is_some() {
        InvocationStatus::Error
    } else {
        InvocationStatus::Success
    };
    let runtime = text(record, "faas.runtime").or_else(|| {
        let name = text(record, "process.runtime.name")?;
        Some(match text(record, "process.runtime.version") {
            Some(v) => Cow::Owned(format!("{name}{v}")),
            None => name,
        })
    });
    let [version, region, account, instance, trigger] = [
        "faas.version",
        "cloud.region",
        "cloud.account.id",
        "faas.instance",
        "faas.trigger",
    ]
    .map(|key| text(record, key));
    let provider = provider_of(record);
    let cold_start = lookup(record, "faas.coldstart").and_then(AttributeRef::as_bool);
    fragments.append(&InvocationRow {
        function_name: record.function_name.as_deref().unwrap_or_default(),
        function_version: version.as_deref(),
        provider: provider.as_deref(),
        region: region.as_deref(),
        account_id: account.as_deref(),
        runtime: runtime.as_deref(),
        architecture: text(record, "host.arch").and_then(|a| architecture_name(&a)),
        memory_size_mb: lookup(record, "faas.max_memory").and_then(memory_mb),
        request_id,
        trace_id: Some(record.trace_id),
        span_id: Some(record.span_id),
        instance_id: instance.as_deref(),
        trigger: trigger.as_deref(),
        start_time: record.start_time,
        end_time: Some(record.end_time),
        duration_ms: Some((record.end_time - record.start_time) as f64 / 1e6),
        cold_start: cold_start.unwrap_or(false),
        // Without `faas.coldstart` the span says nothing either way: the store infers it.
        cold_start_inferred: cold_start.is_none(),
        status,
        error_type: error_type.as_deref(),
        error_message: error_message.as_deref(),
        sources: Sources::of(Source::OtlpSpan),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn a_request_gets_the_last_ones_room_scaled_to_its_size_for_a_batch_at_most() {
        let mut spans = SpanBuilder::default();
        crate::model::span::append_example_rows(&mut spans);
        let last = RequestRoom {
            bytes: 1000,
            spans: spans.room(),
            fragments: InvocationRoom::default(),
        };
        assert_eq!(last.scaled_to(1000).spans, last.spans.map(with_spare));
        let four_times = last.scaled_to(4000);
        assert_eq!(four_times.spans.rows(), 9);
        assert_eq!(four_times.spans, last.spans.map(|n| with_spare(4 * n)));
        let huge = last.scaled_to(1 << 40);
        assert_eq!(huge.spans.rows(), with_spare(BATCH_ROWS));
        assert_eq!(RequestRoom::default().scaled_to(1000).spans.rows(), 0);
    }

    #[test]
    fn faas_max_memory_is_read_in_bytes_mb_or_text() {
        assert_eq!(memory_mb(&AttributeRef::Int(134_217_728)), Some(128));
        assert_eq!(memory_mb(&AttributeRef::Int(1024)), Some(1024));
        assert_eq!(memory_mb(&AttributeRef::String("512")), Some(512));
        assert_eq!(memory_mb(&AttributeRef::Bool(true)), None);
    }

    #[test]
    fn cloud_platforms_old_and_new_name_their_provider() {
        for (platform, provider) in [
            ("aws_lambda", "aws"),
            ("azure_functions", "azure"),
            ("azure.functions", "azure"),
            ("gcp_cloud_functions", "gcp"),
        ] {
            let attributes = [("cloud.platform", AttributeRef::String(platform))];
            let record = SpanRow {
                trace_id: [1; 16],
                span_id: [1; 8],
                parent_span_id: None,
                trace_state: None,
                name: "h",
                kind: "server",
                start_time: 0,
                end_time: 0,
                status_code: "unset",
                status_message: None,
                service_name: None,
                function_name: None,
                request_id: None,
                scope_name: None,
                attributes: &attributes,
                resource_attributes: &[],
                resource_id: [0; 8],
                events: &[],
            };
            assert_eq!(
                provider_of(&record).as_deref(),
                Some(provider),
                "{platform}"
            );
        }
    }

    #[test]
    fn each_span_refers_to_its_own_resource_and_keeps_its_attributes() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let string = |key: &str, value: &str| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..Default::default()
        };
        let span = |id: u8, request: &str| Span {
            trace_id: vec![id; 16],
            span_id: vec![id; 8],
            name: format!("span {id}"),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            attributes: vec![string("faas.invocation_id", request)],
            ..Default::default()
        };
        let resource = |function: &str, spans: Vec<Span>| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string("faas.name", function),
                    string("cloud.region", "eu-west-1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                resource("orders", vec![span(1, "r1"), span(2, "r2")]),
                resource("billing", vec![span(3, "r3")]),
            ],
        };
        let normalized = normalize_traces(request, ResourceRows::default()).unwrap();
        let [batch] = &normalized.records.span_batches[..] else {
            panic!("one batch");
        };
        let column = |name| batch.column_by_name(name).unwrap().as_string::<i32>();
        // One resources row per resource (all spans are in one hour), named by its function.
        let [resources] = &normalized.records.resource_batches[..] else {
            panic!("one batch of resources");
        };
        assert_eq!(resources.num_rows(), 2);
        let resource_ids = resources
            .column_by_name("resource_id")
            .unwrap()
            .as_fixed_size_binary();
        let attributes = resources.column_by_name("attributes").unwrap().as_map();
        let resource_of = |id: &[u8]| {
            let row = (0..resources.num_rows())
                .find(|&r| resource_ids.value(r) == id)
                .expect("a span's resource has a row");
            let entries = attributes.value(row);
            let values = entries.column(1).as_struct().column(0).as_string::<i32>();
            [values.value(0).to_string(), values.value(1).to_string()]
        };
        let span_resources = batch
            .column_by_name("resource_id")
            .unwrap()
            .as_fixed_size_binary();
        let seen: Vec<[String; 5]> = (0..batch.num_rows())
            .map(|row| {
                let [function, region] = resource_of(span_resources.value(row));
                [
                    column("name").value(row).to_string(),
                    column("function_name").value(row).to_string(),
                    column("request_id").value(row).to_string(),
                    function,
                    region,
                ]
            })
            .collect();
        let expected = |n: &str, f: &str, r: &str| [n, f, r, f, "eu-west-1"].map(String::from);
        assert_eq!(
            seen,
            [
                expected("span 1", "orders", "r1"),
                expected("span 2", "orders", "r2"),
                expected("span 3", "billing", "r3"),
            ]
        );
        assert!(column("trace_state").is_null(0));
        let [fragments] = &normalized.records.invocation_batches[..] else {
            panic!("one batch of invocation fragments");
        };
        let functions: Vec<String> = crate::model::invocation::from_batch(fragments)
            .unwrap()
            .into_iter()
            .map(|i| i.function_name)
            .collect();
        assert_eq!(functions, ["orders", "orders", "billing"]);
    }

    /// An array nested deeper than prost decodes (a request built in memory can hold one) is an
    /// error for the request, not a panic.
    #[test]
    fn attribute_values_nested_past_the_decoders_limit_are_an_error() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let nested = |depth: usize| {
            let mut value = Value::IntValue(1);
            for _ in 0..depth {
                value = Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(value) }],
                });
            }
            value
        };
        let request = |depth| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        attributes: vec![KeyValue {
                            key: "deep".into(),
                            value: Some(AnyValue {
                                value: Some(nested(depth)),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(
            normalize_traces(request(3), ResourceRows::default())
                .unwrap()
                .records
                .span_count(),
            1
        );
        assert!(normalize_traces(request(200), ResourceRows::default()).is_err());
    }

    /// A server span's fragment takes its texts from the span and its resource (numbers as
    /// text, the exception event's type and message); a client span refused as throttled makes a
    /// `throttled` fragment of the function it called.
    #[test]
    fn server_and_throttled_caller_spans_give_their_fragments() {
        use crate::model::Invocation;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
        let value = |key: &str, value: Value| KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        };
        let string = |key: &str, text: &str| value(key, Value::StringValue(text.into()));
        let server = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_250_000_000,
            attributes: vec![
                string("faas.invocation_id", "req-1"),
                value("faas.coldstart", Value::BoolValue(true)),
                string("faas.trigger", "http"),
            ],
            events: vec![span::Event {
                name: "exception".into(),
                attributes: vec![
                    string("exception.type", "ValueError"),
                    string("exception.message", "bad order"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let caller = Span {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            kind: SpanKind::Client as i32,
            start_time_unix_nano: 2_000_000_000,
            end_time_unix_nano: 2_100_000_000,
            status: Some(opentelemetry_proto::tonic::trace::v1::Status {
                code: StatusCode::Error as i32,
                message: "Rate exceeded".into(),
            }),
            attributes: vec![
                string("faas.invoked_name", "billing"),
                string("faas.invoked_region", "us-east-1"),
                value("http.response.status_code", Value::IntValue(429)),
            ],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        string("faas.name", "orders"),
                        string("cloud.platform", "aws_lambda"),
                        string("cloud.region", "eu-west-1"),
                        value("cloud.account.id", Value::IntValue(123456789012)),
                        value("faas.max_memory", Value::IntValue(536_870_912)),
                        string("faas.version", "$LATEST"),
                        string("faas.instance", "i-1"),
                        string("process.runtime.name", "python"),
                        string("process.runtime.version", "3.12"),
                        string("host.arch", "aarch64"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![server, caller],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let normalized = normalize_traces(request, ResourceRows::default()).unwrap();
        assert!(normalized.records.invocations.is_empty());
        let [fragments] = &normalized.records.invocation_batches[..] else {
            panic!("one batch of invocation fragments");
        };
        let fragments = crate::model::invocation::from_batch(fragments).unwrap();
        assert_eq!(
            fragments,
            [
                Invocation {
                    function_name: "orders".into(),
                    function_version: Some("$LATEST".into()),
                    provider: Some("aws".into()),
                    region: Some("eu-west-1".into()),
                    account_id: Some("123456789012".into()),
                    runtime: Some("python3.12".into()),
                    architecture: Some("arm64".into()),
                    memory_size_mb: Some(512),
                    request_id: "req-1".into(),
                    trace_id: Some([1; 16]),
                    span_id: Some([2; 8]),
                    instance_id: Some("i-1".into()),
                    trigger: Some("http".into()),
                    start_time: 1_000_000_000,
                    end_time: Some(1_250_000_000),
                    duration_ms: Some(250.0),
                    cold_start: true,
                    status: InvocationStatus::Error,
                    error_type: Some("ValueError".into()),
                    error_message: Some("bad order".into()),
                    sources: Sources::of(Source::OtlpSpan),
                    ..Default::default()
                },
                Invocation {
                    function_name: "billing".into(),
                    region: Some("us-east-1".into()),
                    request_id: hex::encode([4u8; 8]),
                    trace_id: Some([3; 16]),
                    start_time: 2_000_000_000,
                    end_time: Some(2_000_000_000),
                    duration_ms: None,
                    billed_duration_ms: Some(0),
                    status: InvocationStatus::Throttled,
                    error_type: Some("TooManyRequestsException".into()),
                    error_message: Some("Rate exceeded".into()),
                    sources: Sources::of(Source::CallerSpan),
                    ..Default::default()
                },
            ]
        );
    }

    #[test]
    fn host_arch_values_map_to_the_two_architectures() {
        assert_eq!(architecture_name("amd64"), Some("x86_64"));
        assert_eq!(architecture_name("AARCH64"), Some("arm64"));
        assert_eq!(architecture_name("s390x"), None);
    }
}
