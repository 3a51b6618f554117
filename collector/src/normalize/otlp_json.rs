//! OTLP/JSON requests, read as the OpenTelemetry Collector reads them: an enum field as its
//! integer value (as the OTLP specification writes it) or as its name (`"SPAN_KIND_SERVER"`,
//! `"STATUS_CODE_ERROR"`, `"SEVERITY_NUMBER_INFO"`), which protobuf's JSON mapping allows and
//! its printers write by default. A request with a name was refused as malformed before.
//!
//! A request is parsed as it is first; only one that fails on a value of the wrong type is parsed
//! again as a JSON tree, its enum names replaced by their numbers, so the usual request costs
//! nothing more.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads an OTLP request (`ExportTraceServiceRequest` and the like) from its JSON encoding.
pub fn from_slice<M: DeserializeOwned>(json: &[u8]) -> Result<M, serde_json::Error> {
    let first = match serde_json::from_slice(json) {
        Ok(request) => return Ok(request),
        Err(e) => e,
    };
    if first.classify() != serde_json::error::Category::Data {
        return Err(first);
    }
    let Ok(mut tree) = serde_json::from_slice::<Value>(json) else {
        return Err(first);
    };
    if !enum_names_to_numbers(&mut tree) {
        // Nothing to replace: the first error, which says where the request breaks.
        return Err(first);
    }
    serde_json::from_value(tree)
}

/// [`from_slice`] of a text.
pub fn from_str<M: DeserializeOwned>(json: &str) -> Result<M, serde_json::Error> {
    from_slice(json.as_bytes())
}

/// Replaces every enum name of an OTLP request's tree by its number; says whether any was.
/// Only enum fields have these keys in OTLP requests (attributes are `{"key": …, "value": …}`
/// objects, so their names are never keys). An unknown name is left for the parse to refuse.
fn enum_names_to_numbers(value: &mut Value) -> bool {
    match value {
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= enum_names_to_numbers(item);
            }
            changed
        }
        Value::Object(fields) => {
            let mut changed = false;
            for (key, field) in fields.iter_mut() {
                if let Value::String(name) = field {
                    let number = match key.as_str() {
                        "kind" => SpanKind::from_str_name(name).map(|k| k as i32),
                        "code" => StatusCode::from_str_name(name).map(|c| c as i32),
                        "severityNumber" => SeverityNumber::from_str_name(name).map(|s| s as i32),
                        "aggregationTemporality" => {
                            AggregationTemporality::from_str_name(name).map(|a| a as i32)
                        }
                        _ => None,
                    };
                    if let Some(number) = number {
                        *field = Value::from(number);
                        changed = true;
                    }
                } else {
                    changed |= enum_names_to_numbers(field);
                }
            }
            changed
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    const SPAN: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x",
        "kind":@KIND@,"startTimeUnixNano":"1","endTimeUnixNano":"2",
        "attributes":[{"key":"kind","value":{"stringValue":"SPAN_KIND_CLIENT"}}],
        "status":{"code":@CODE@,"message":"boom"}}]}]}]}"#;

    fn span(kind: &str, code: &str) -> String {
        SPAN.replace("@KIND@", kind).replace("@CODE@", code)
    }

    /// Enum names read as their numbers do; an attribute's value that looks like one is text.
    #[test]
    fn enum_names_read_as_their_numbers() {
        let numbers: ExportTraceServiceRequest = from_str(&span("2", "2")).unwrap();
        let names: ExportTraceServiceRequest =
            from_str(&span(r#""SPAN_KIND_SERVER""#, r#""STATUS_CODE_ERROR""#)).unwrap();
        assert_eq!(names, numbers);
        let span = &names.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);

        let log = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":"1","severityNumber":"SEVERITY_NUMBER_WARN","severityText":"WARN"}]}]}]}"#;
        let request: ExportLogsServiceRequest = from_str(log).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
    }

    /// An unknown name, or a string where no enum is, fails with where the request breaks.
    #[test]
    fn other_strings_fail_where_they_stand() {
        let unknown = from_str::<ExportTraceServiceRequest>(&span(r#""SERVER""#, "2"))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("expected i32 at line 3"), "{unknown}");
        let misplaced = from_str::<ExportTraceServiceRequest>(
            &span("2", "2").replace(r#""name":"x""#, r#""name":7"#),
        )
        .unwrap_err()
        .to_string();
        assert!(misplaced.contains("at line 2"), "{misplaced}");
    }
}
