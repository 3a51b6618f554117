//! OTLP logs → `logs` rows, and `invocations` fragments from the log records that show one.
//!
//! Every OTLP log record becomes a `logs` row. When a record's body is a Lambda platform line
//! (`REPORT RequestId: …`), a platform event or a Powertools line — as when an OpenTelemetry
//! Collector or a Lambda extension forwards a function's CloudWatch logs as OTLP — it is also read
//! by a [`LambdaLogStream`] per resource, so those logs yield invocation fragments exactly as the
//! same lines read from CloudWatch would.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLogRecord;

use super::otlp_common::{attributes_of, json_of, optional_id, resource_attributes};
use super::otlp_trace::architecture_name;
use super::report_line::LambdaLogStream;
use super::{NormalizeError, Normalized};
use crate::model::attributes::find;
use crate::model::resource::resource_id_of;
use crate::model::{AttributeValue, Attributes, LogRecord, ResourceId, ResourceRows};

/// Normalizes one OTLP logs export request, consuming it: its texts move into the rows, and a
/// resource's attributes are shared by its records. A record that cannot be read is counted as
/// rejected; the others are kept.
pub fn normalize_logs(request: ExportLogsServiceRequest) -> Normalized {
    let mut out = Normalized::default();
    let mut resources = ResourceRows::default();
    for resource_logs in request.resource_logs {
        let resource = resource_attributes(resource_logs.resource);
        let resource_id = resource_id_of(&resource);
        let service_name = text(&resource, "service.name");
        let resource_function = text(&resource, "faas.name").or_else(|| service_name.clone());
        // One Lambda stream per (function, instance): platform lines pair up within it.
        let mut streams: HashMap<(Option<String>, Option<String>), LambdaLogStream> =
            HashMap::new();
        for scope_logs in resource_logs.scope_logs {
            for otlp in scope_logs.log_records {
                match log_record(otlp, resource_id, service_name.clone(), &resource_function) {
                    Ok(record) => {
                        if let Some(hour) = resources.needs_row(resource_id, record.time) {
                            resources.add(resource_id, hour, &resource);
                        }
                        if let Some(body) = record.body.as_deref()
                            && looks_like_lambda_log(body)
                        {
                            let instance = text(&record.attributes, "faas.instance")
                                .or_else(|| text(&resource, "faas.instance"));
                            let function = record.function_name.clone();
                            let stream = streams
                                .entry((function.clone(), instance.clone()))
                                .or_insert_with(|| {
                                    LambdaLogStream::new(function.as_deref(), instance)
                                        .running_in(
                                            text(&resource, "cloud.region"),
                                            text(&resource, "cloud.account.id"),
                                        )
                                        .on_architecture(
                                            text(&resource, "host.arch")
                                                .and_then(|a| architecture_name(&a)),
                                        )
                                });
                            stream.push(Some(record.time), body);
                        }
                        out.records.logs.push(record);
                    }
                    Err(e) => out.reject(e),
                }
            }
        }
        for stream in streams.into_values() {
            // The log rows are already stored as OTLP records; keep only the invocations.
            let mut finished = stream.finish();
            out.records.invocations.append(&mut finished.invocations);
            out.records
                .invocation_batches
                .append(&mut finished.invocation_batches);
        }
    }
    out.records.resource_batches.extend(resources.finish());
    out
}

fn text(attributes: &Attributes, key: &str) -> Option<String> {
    find(attributes, key).and_then(AttributeValue::as_text)
}

/// True for the bodies a [`LambdaLogStream`] makes invocations from.
fn looks_like_lambda_log(body: &str) -> bool {
    let body = body.trim_start();
    [
        "START RequestId:",
        "REPORT RequestId:",
        "INIT_START",
        "INIT_REPORT",
    ]
    .iter()
    .any(|p| body.starts_with(p))
        || body.contains("Task timed out after")
        || (body.starts_with('{')
            && (body.contains("\"platform.")
                || body.contains("_request_id\"")
                || body.contains("\"requestId\"")))
}

fn log_record(
    otlp: OtlpLogRecord,
    resource_id: ResourceId,
    service_name: Option<String>,
    resource_function: &Option<String>,
) -> Result<LogRecord, NormalizeError> {
    let time = match (otlp.time_unix_nano, otlp.observed_time_unix_nano) {
        (0, 0) => {
            return Err(NormalizeError::Format {
                what: "log record",
                why: "neither time_unix_nano nor observed_time_unix_nano is set".into(),
            });
        }
        (0, observed) => observed,
        (t, _) => t,
    };
    let nanos = |value: u64, field: &'static str| {
        i64::try_from(value).map_err(|_| NormalizeError::OutOfRange {
            field,
            value: value.to_string(),
        })
    };
    let attributes = attributes_of(otlp.attributes);
    let body = otlp.body.and_then(|b| b.value).map(|v| match v {
        Value::StringValue(s) => s,
        other => json_of(&other).to_string(),
    });
    let function_name = text(&attributes, "faas.name").or_else(|| resource_function.clone());
    let request_id = text(&attributes, "faas.invocation_id")
        .or_else(|| text(&attributes, "faas.execution"))
        .or_else(|| text(&attributes, "aws.lambda.request_id"));
    Ok(LogRecord {
        time: nanos(time, "time_unix_nano")?,
        observed_time: match otlp.observed_time_unix_nano {
            0 => None,
            t => Some(nanos(t, "observed_time_unix_nano")?),
        },
        trace_id: optional_id::<16>(&otlp.trace_id, "trace_id")?,
        span_id: optional_id::<8>(&otlp.span_id, "span_id")?,
        severity_number: Some(otlp.severity_number).filter(|n| *n != 0),
        severity_text: Some(otlp.severity_text).filter(|s| !s.is_empty()),
        body,
        service_name,
        function_name,
        request_id,
        source: "otlp",
        attributes,
        resource_id: Some(resource_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn body(text: &str, time: u64) -> OtlpLogRecord {
        OtlpLogRecord {
            time_unix_nano: time,
            body: Some(AnyValue {
                value: Some(Value::StringValue(text.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn report_lines_forwarded_as_otlp_logs_become_invocations_and_bad_ids_are_rejected() {
        let id = "c6af9ac6-7b61-11e6-9a41-93e812345678";
        let mut bad = body("x", 5);
        bad.trace_id = vec![1, 2, 3];
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        string("faas.name", "checkout"),
                        string("cloud.region", "eu-west-1"),
                        string("cloud.account.id", "123456789012"),
                        string("host.arch", "aarch64"),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        body(
                            &format!("START RequestId: {id} Version: $LATEST"),
                            1_000_000,
                        ),
                        body(
                            &format!(
                                "REPORT RequestId: {id}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 100.50 ms"
                            ),
                            3_000_000,
                        ),
                        bad,
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let out = normalize_logs(request);
        assert_eq!(out.rejected, 1);
        assert!(out.first_error.unwrap().contains("trace_id"));
        assert_eq!(out.records.logs.len(), 2);
        // Both records refer to their resource, which has one row (they share an hour).
        let expected_id = resource_id_of(
            &[
                ("faas.name", "checkout"),
                ("cloud.region", "eu-west-1"),
                ("cloud.account.id", "123456789012"),
                ("host.arch", "aarch64"),
            ]
            .map(|(key, value)| (key.to_string(), AttributeValue::String(value.into()))),
        );
        assert!(
            out.records
                .logs
                .iter()
                .all(|r| r.resource_id == Some(expected_id))
        );
        let [resources] = &out.records.resource_batches[..] else {
            panic!("one batch of resources");
        };
        assert_eq!(resources.num_rows(), 1);
        assert_eq!(out.records.invocations.len(), 1);
        let inv = &out.records.invocations[0];
        assert_eq!(inv.function_name, "checkout");
        // The REPORT's invocation runs where, and on what, its resource says.
        assert_eq!(inv.region.as_deref(), Some("eu-west-1"));
        assert_eq!(inv.account_id.as_deref(), Some("123456789012"));
        assert_eq!(inv.architecture.as_deref(), Some("arm64"));
        assert_eq!(inv.start_time, 1_000_000);
        assert_eq!(inv.init_duration_ms, Some(100.5));
        assert!(inv.cold_start);
    }
}
