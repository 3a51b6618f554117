//! Replaying a workload through the OpenTelemetry SDK: the `opentelemetry-otlp` gRPC exporter
//! that real functions use, sending to a running collector.
//!
//! Each instrumented function gets its own tracer provider (its own resource, as in a real
//! deployment); spans carry the simulated start and end times. Throttled invocations are sent as
//! the callers' client spans, from a `frontend` service.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanKind, Status, Tracer as _, TracerProvider as _,
};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

use crate::simulate::{Outcome, SimulatedInvocation};
use crate::workload::{Instrumentation, Workload};

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("could not build the OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
    #[error("the OTLP exporter could not deliver every span to {endpoint}: {message}")]
    Export { endpoint: String, message: String },
}

fn at(ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64)
}

fn to_sdk(kv: &opentelemetry_proto::tonic::common::v1::KeyValue) -> Option<KeyValue> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let key = kv.key.clone();
    Some(match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => KeyValue::new(key, s.clone()),
        Value::IntValue(i) => KeyValue::new(key, *i),
        Value::DoubleValue(d) => KeyValue::new(key, *d),
        Value::BoolValue(b) => KeyValue::new(key, *b),
        _ => return None,
    })
}

fn provider(endpoint: &str, resource: Vec<KeyValue>) -> Result<SdkTracerProvider, ReplayError> {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| ReplayError::Exporter {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        })?;
    // A queue large enough for the whole replay: the SDK drops spans when its queue is full.
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(1 << 18)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_millis(200))
                .build(),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder_empty().with_attributes(resource).build())
        .build())
}

fn flush(provider: SdkTracerProvider, endpoint: &str) -> Result<(), ReplayError> {
    let failed = |e: opentelemetry_sdk::error::OTelSdkError| ReplayError::Export {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
    };
    provider.force_flush().map_err(failed)?;
    provider.shutdown().map_err(failed)
}

/// Sends every invocation of the instrumented functions (and every throttle) as spans to the
/// OTLP/gRPC `endpoint` (e.g. `http://127.0.0.1:4317`). Blocking: call it off the async runtime's
/// worker threads (`spawn_blocking`), but within a Tokio runtime. Returns the spans sent.
pub fn replay_otlp(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
    endpoint: &str,
) -> Result<usize, ReplayError> {
    let mut sent = 0;
    for (index, f) in workload.functions.iter().enumerate() {
        if f.instrumentation == Instrumentation::None {
            continue;
        }
        let resource: Vec<KeyValue> = crate::output::resource_attributes(workload, f, "")
            .iter()
            .filter(|kv| kv.key != "faas.instance")
            .filter_map(to_sdk)
            .collect();
        let provider = provider(endpoint, resource)?;
        let tracer = provider.tracer("faasobs-sample-traces");
        for i in invocations
            .iter()
            .filter(|i| i.function == index && i.outcome != Outcome::Throttled)
        {
            let mut attributes: Vec<KeyValue> = crate::output::invocation_attributes(f, i)
                .iter()
                .filter_map(to_sdk)
                .collect();
            attributes.push(KeyValue::new(
                "faas.instance",
                i.instance_id.clone().unwrap_or_default(),
            ));
            let mut span = tracer.build(
                SpanBuilder::from_name(f.name)
                    .with_kind(SpanKind::Server)
                    .with_start_time(at(i.start_ns))
                    .with_attributes(attributes),
            );
            if i.outcome != Outcome::Success {
                let message = i.error_message.clone().unwrap_or_default();
                span.add_event_with_timestamp(
                    "exception",
                    at(i.end_ns()),
                    vec![
                        KeyValue::new("exception.type", i.error_type.unwrap_or("Error")),
                        KeyValue::new("exception.message", message.clone()),
                    ],
                );
                span.set_status(Status::error(message));
            }
            span.end_with_timestamp(at(i.end_ns()));
            sent += 1;
        }
        flush(provider, endpoint)?;
    }
    let throttled: Vec<_> = invocations
        .iter()
        .filter(|i| i.outcome == Outcome::Throttled)
        .collect();
    if !throttled.is_empty() {
        let provider = provider(endpoint, vec![KeyValue::new("service.name", "frontend")])?;
        let tracer = provider.tracer("faasobs-sample-traces");
        for i in throttled {
            let f = &workload.functions[i.function];
            let mut span = tracer.build(
                SpanBuilder::from_name("Lambda.Invoke")
                    .with_kind(SpanKind::Client)
                    .with_start_time(at(i.start_ns))
                    .with_attributes(vec![
                        KeyValue::new("faas.invoked_name", f.name),
                        KeyValue::new("faas.invoked_provider", "aws"),
                        KeyValue::new("faas.invoked_region", workload.region),
                        KeyValue::new("aws.request_id", i.request_id.clone()),
                        KeyValue::new("http.response.status_code", 429),
                    ]),
            );
            span.add_event_with_timestamp(
                "exception",
                at(i.start_ns + 4_000_000),
                vec![
                    KeyValue::new("exception.type", "TooManyRequestsException"),
                    KeyValue::new("exception.message", "Rate Exceeded."),
                ],
            );
            span.set_status(Status::error("TooManyRequestsException: Rate Exceeded."));
            span.end_with_timestamp(at(i.start_ns + 4_000_000));
            sent += 1;
        }
        flush(provider, endpoint)?;
    }
    Ok(sent)
}
