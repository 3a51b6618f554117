//! Writing a simulated workload as the real inputs faasobs receives: OTLP trace export requests
//! (protobuf or JSON), Lambda text logs as CloudWatch exports them, and a manifest of what was
//! generated, for checking what a store made of it.
//!
//! Layout of an output folder:
//! ```text
//! manifest.json                         counts per function and status (the ground truth)
//! otlp/{function}-{n:04}.pb | .json     OTLP ExportTraceServiceRequest, 256 invocations each
//! otlp/frontend-{n:04}.json             the callers' client spans of throttled invocations
//! lambda-logs/{function}/{instance}.log one Lambda log stream per execution environment
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde::Serialize;

use crate::simulate::{Outcome, SimulatedInvocation};
use crate::workload::{FunctionProfile, Instrumentation, Workload};

/// Invocations per OTLP request file.
pub const INVOCATIONS_PER_REQUEST: usize = 256;

/// The ground truth of a generated workload.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    pub seed: u64,
    pub start: String,
    pub end: String,
    /// Every invocation, throttled ones included: the rows `invocations` must hold.
    pub invocations: usize,
    pub cold_starts: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_function: BTreeMap<String, usize>,
}

/// The manifest of a simulated workload.
pub fn manifest(workload: &Workload, invocations: &[SimulatedInvocation]) -> Manifest {
    let mut by_status = BTreeMap::new();
    let mut by_function = BTreeMap::new();
    for i in invocations {
        *by_status.entry(i.outcome.status().to_string()).or_default() += 1;
        *by_function
            .entry(workload.functions[i.function].name.to_string())
            .or_default() += 1;
    }
    Manifest {
        seed: workload.seed,
        start: rfc3339(workload.start_ns),
        end: rfc3339(workload.start_ns + workload.duration_ns),
        invocations: invocations.len(),
        cold_starts: invocations.iter().filter(|i| i.init_ms.is_some()).count(),
        by_status,
        by_function,
    }
}

fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn host_arch(architecture: &str) -> &'static str {
    if architecture == "arm64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// The resource of one execution environment, as the OpenTelemetry Lambda detector reports it.
pub fn resource_attributes(
    workload: &Workload,
    f: &FunctionProfile,
    instance: &str,
) -> Vec<KeyValue> {
    vec![
        s("service.name", f.name),
        s("cloud.provider", "aws"),
        s("cloud.platform", "aws_lambda"),
        s("cloud.region", workload.region),
        s("cloud.account.id", workload.account_id),
        s("faas.name", f.name),
        s("faas.version", "$LATEST"),
        s("faas.instance", instance),
        kv(
            "faas.max_memory",
            Value::IntValue(f.memory_mb as i64 * 1024 * 1024),
        ),
        s("host.arch", host_arch(f.architecture)),
        s("process.runtime.name", f.runtime_name),
        s("process.runtime.version", f.runtime_version),
    ]
}

/// The server span's own attributes for one invocation.
pub fn invocation_attributes(f: &FunctionProfile, i: &SimulatedInvocation) -> Vec<KeyValue> {
    let mut attributes = vec![
        s("faas.invocation_id", i.request_id.clone()),
        s("faas.trigger", f.trigger),
        kv("faas.coldstart", Value::BoolValue(i.init_ms.is_some())),
    ];
    if f.trigger == "http" {
        attributes.push(s("http.request.method", "POST"));
        let code = if i.outcome == Outcome::Success {
            200
        } else {
            500
        };
        attributes.push(kv("http.response.status_code", Value::IntValue(code)));
    }
    attributes
}

/// The spans an instrumented invocation exports: its server span and one downstream call.
pub fn invocation_spans(f: &FunctionProfile, i: &SimulatedInvocation) -> Vec<Span> {
    let end = i.end_ns();
    let failed = i.outcome != Outcome::Success;
    let events = match (failed, i.error_type) {
        (true, Some(ty)) => vec![Event {
            time_unix_nano: end as u64,
            name: "exception".into(),
            attributes: vec![
                s("exception.type", ty),
                s(
                    "exception.message",
                    i.error_message.clone().unwrap_or_default(),
                ),
            ],
            dropped_attributes_count: 0,
        }],
        _ => vec![],
    };
    let server = Span {
        trace_id: i.trace_id.to_vec(),
        span_id: i.span_id.to_vec(),
        name: f.name.to_string(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: i.start_ns as u64,
        end_time_unix_nano: end as u64,
        attributes: invocation_attributes(f, i),
        events,
        status: Some(Status {
            code: if failed {
                StatusCode::Error
            } else {
                StatusCode::Ok
            } as i32,
            message: if failed {
                i.error_message.clone().unwrap_or_default()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    };
    // One downstream call per invocation, for a realistic trace shape.
    let mut child_id = i.span_id;
    child_id[7] ^= 0xff;
    let child_start = i.start_ns + (i.duration_ms * 0.1e6) as i64;
    let child = Span {
        trace_id: i.trace_id.to_vec(),
        span_id: child_id.to_vec(),
        parent_span_id: i.span_id.to_vec(),
        name: "DynamoDB.GetItem".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: child_start as u64,
        end_time_unix_nano: (child_start + (i.duration_ms * 0.6e6) as i64) as u64,
        attributes: vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "DynamoDB"),
            s("rpc.method", "GetItem"),
            s("aws.dynamodb.table_names", "orders"),
        ],
        ..Default::default()
    };
    vec![server, child]
}

fn throttle_span(workload: &Workload, f: &FunctionProfile, i: &SimulatedInvocation) -> Span {
    Span {
        trace_id: i.trace_id.to_vec(),
        span_id: i.span_id.to_vec(),
        name: "Lambda.Invoke".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: i.start_ns as u64,
        end_time_unix_nano: (i.start_ns + 4_000_000) as u64,
        attributes: vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "Lambda"),
            s("rpc.method", "Invoke"),
            s("faas.invoked_name", f.name),
            s("faas.invoked_provider", "aws"),
            s("faas.invoked_region", workload.region),
            s("aws.request_id", i.request_id.clone()),
            kv("http.response.status_code", Value::IntValue(429)),
        ],
        events: vec![Event {
            time_unix_nano: (i.start_ns + 4_000_000) as u64,
            name: "exception".into(),
            attributes: vec![
                s("exception.type", "TooManyRequestsException"),
                s("exception.message", "Rate Exceeded."),
            ],
            dropped_attributes_count: 0,
        }],
        status: Some(Status {
            code: StatusCode::Error as i32,
            message: "TooManyRequestsException: Rate Exceeded.".into(),
        }),
        ..Default::default()
    }
}

/// Groups spans into one OTLP request, one `ResourceSpans` per resource.
pub fn request(groups: BTreeMap<String, (Vec<KeyValue>, Vec<Span>)>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_values()
            .map(|(attributes, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(
                        opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                            name: "faasobs-sample-traces".into(),
                            ..Default::default()
                        },
                    ),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The OTLP requests of a workload: for each instrumented function (and for the callers that saw
/// throttles), requests of up to [`INVOCATIONS_PER_REQUEST`] invocations, with the file name each
/// is written under.
pub fn otlp_requests(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
) -> Vec<(String, Instrumentation, ExportTraceServiceRequest)> {
    let mut out = Vec::new();
    for (index, f) in workload.functions.iter().enumerate() {
        if f.instrumentation == Instrumentation::None {
            continue;
        }
        let mine: Vec<_> = invocations
            .iter()
            .filter(|i| i.function == index && i.outcome != Outcome::Throttled)
            .collect();
        for (n, chunk) in mine.chunks(INVOCATIONS_PER_REQUEST).enumerate() {
            let mut groups: BTreeMap<String, (Vec<KeyValue>, Vec<Span>)> = BTreeMap::new();
            for i in chunk {
                let instance = i.instance_id.clone().unwrap_or_default();
                groups
                    .entry(instance.clone())
                    .or_insert_with(|| (resource_attributes(workload, f, &instance), Vec::new()))
                    .1
                    .extend(invocation_spans(f, i));
            }
            let ext = if f.instrumentation == Instrumentation::OtlpJson {
                "json"
            } else {
                "pb"
            };
            out.push((
                format!("{}-{n:04}.{ext}", f.name),
                f.instrumentation,
                request(groups),
            ));
        }
    }
    let throttled: Vec<_> = invocations
        .iter()
        .filter(|i| i.outcome == Outcome::Throttled)
        .collect();
    for (n, chunk) in throttled.chunks(INVOCATIONS_PER_REQUEST).enumerate() {
        let caller = vec![s("service.name", "frontend"), s("cloud.provider", "aws")];
        let spans = chunk
            .iter()
            .map(|i| throttle_span(workload, &workload.functions[i.function], i))
            .collect();
        let groups = BTreeMap::from([("frontend".to_string(), (caller, spans))]);
        out.push((
            format!("frontend-{n:04}.json"),
            Instrumentation::OtlpJson,
            request(groups),
        ));
    }
    out
}

/// The Lambda log streams of a workload: `(function, instance, text)`.
pub fn lambda_logs(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
) -> Vec<(String, String, String)> {
    let mut streams: BTreeMap<(usize, String), String> = BTreeMap::new();
    for i in invocations {
        let Some(instance) = &i.instance_id else {
            continue;
        };
        let f = &workload.functions[i.function];
        let text = streams.entry((i.function, instance.clone())).or_default();
        let at = |ns: i64| rfc3339(ns);
        let id = &i.request_id;
        if let Some(init) = i.init_ms {
            let init_start = i.start_ns - (init * 1e6) as i64;
            let _ = writeln!(
                text,
                "{} INIT_START Runtime Version: {}\tRuntime Version ARN: arn:aws:lambda:{}::runtime:{}",
                at(init_start),
                f.runtime_arn_version,
                workload.region,
                hex::encode(&i.trace_id[..8])
            );
        }
        let end = i.end_ns();
        let _ = writeln!(
            text,
            "{} START RequestId: {id} Version: $LATEST",
            at(i.start_ns)
        );
        let _ = writeln!(
            text,
            "{}\t{id}\tINFO\thandling {} event",
            at(i.start_ns + 1_000_000),
            f.trigger
        );
        match i.outcome {
            // Python's runtime prints an uncaught error without the request id, its traceback
            // after `\r`s; Node.js's prints an `Invoke Error` line.
            Outcome::Error if f.runtime_name == "cpython" => {
                let _ = writeln!(
                    text,
                    "{} [ERROR] {}: {}\rTraceback (most recent call last):\r  File \"/var/task/handler.py\", line 42, in handler",
                    at(end),
                    i.error_type.unwrap_or("Exception"),
                    i.error_message.as_deref().unwrap_or("")
                );
            }
            Outcome::Error => {
                let _ = writeln!(
                    text,
                    "{}\t{id}\tERROR\tInvoke Error \t{}",
                    at(end),
                    serde_json::json!({
                        "errorType": i.error_type,
                        "errorMessage": i.error_message,
                        "stack": []
                    })
                );
            }
            Outcome::Timeout => {
                let _ = writeln!(
                    text,
                    "{} {id} {}",
                    at(end),
                    i.error_message.as_deref().unwrap_or("Task timed out")
                );
            }
            _ => {}
        }
        let _ = writeln!(text, "{} END RequestId: {id}", at(end));
        let mut report = format!(
            "{} REPORT RequestId: {id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            at(end),
            i.duration_ms,
            i.billed_ms,
            f.memory_mb,
            i.max_memory_mb
        );
        if let Some(init) = i.init_ms {
            let _ = write!(report, "Init Duration: {init:.2} ms\t");
        }
        match i.outcome {
            Outcome::Timeout => report.push_str("Status: timeout\t"),
            Outcome::OutOfMemory => {
                report.push_str("Status: error\tError Type: Runtime.OutOfMemory\t")
            }
            _ => {}
        }
        if f.instrumentation != Instrumentation::None {
            let t = hex::encode(i.trace_id);
            let _ = write!(
                report,
                "\nXRAY TraceId: 1-{}-{}\tSegmentId: {}\tSampled: true\t",
                &t[..8],
                &t[8..],
                hex::encode(i.span_id)
            );
        }
        let _ = writeln!(text, "{report}");
    }
    streams
        .into_iter()
        .map(|((f, instance), text)| (workload.functions[f].name.to_string(), instance, text))
        .collect()
}

/// The workload's input files, as `(relative path, bytes)`, in the layout described above
/// (the manifest excluded).
pub fn render_files(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, instrumentation, request) in otlp_requests(workload, invocations) {
        let bytes = if instrumentation == Instrumentation::OtlpJson {
            serde_json::to_vec(&request).expect("OTLP requests serialize to JSON")
        } else {
            request.encode_to_vec()
        };
        files.push((Path::new("otlp").join(name), bytes));
    }
    for (function, instance, text) in lambda_logs(workload, invocations) {
        let path = Path::new("lambda-logs")
            .join(function)
            .join(format!("{instance}.log"));
        files.push((path, text.into_bytes()));
    }
    files
}

/// Writes the workload's files and its `manifest.json` into `dir`; returns the manifest.
pub fn write_workload(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
    dir: &Path,
) -> std::io::Result<Manifest> {
    // The folder holds the manifest even when no invocation fell in the window.
    std::fs::create_dir_all(dir)?;
    for (path, bytes) in render_files(workload, invocations) {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    let manifest = manifest(workload, invocations);
    let json = serde_json::to_string_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("manifest.json"), json + "\n")?;
    Ok(manifest)
}
