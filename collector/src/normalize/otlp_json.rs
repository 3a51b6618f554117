//! OTLP/JSON requests, read as the OpenTelemetry Collector reads them:
//! - an enum field as its integer value (as the OTLP specification writes it) or as its name
//!   (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`, `"SEVERITY_NUMBER_INFO"`), which protobuf's
//!   JSON mapping allows and its printers write by default;
//! - field names in lowerCamelCase (`resourceSpans`, as the specification writes them) or as the
//!   `.proto` files name them (`resource_spans`, as protobuf's printers write them when asked to
//!   keep the names).
//!
//! A request with an enum name was refused as malformed before; one in snake_case was read as an
//! empty request (its fields unknown), answered 200 and stored nothing. A request whose fields are
//! none of an OTLP request's (`{"spans": […]}`) is now refused, naming them.
//!
//! A request is parsed as it is first; only one that fails on a value of the wrong type, or that
//! reads as empty though it is not `{}`, is parsed again as a JSON tree, its names and enum
//! names replaced, so the usual request costs nothing more.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde::de::{DeserializeOwned, Error as _};
use serde_json::Value;

/// The fields an OTLP export request has at its top.
const REQUEST_FIELDS: [&str; 3] = ["resourceSpans", "resourceLogs", "resourceMetrics"];

/// Reads an OTLP request (`ExportTraceServiceRequest` and the like) from its JSON encoding.
pub fn from_slice<M>(json: &[u8]) -> Result<M, serde_json::Error>
where
    M: DeserializeOwned + Default + PartialEq,
{
    let first = match serde_json::from_slice::<M>(json) {
        Ok(request) if request != M::default() => return Ok(request),
        Ok(empty) => {
            // Empty: `{}` or `{"resourceSpans": []}`, or fields it does not know, skipped.
            let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(json) else {
                return Ok(empty);
            };
            if fields
                .keys()
                .all(|key| REQUEST_FIELDS.contains(&key.as_str()))
            {
                return Ok(empty);
            }
            let mut tree = Value::Object(fields);
            if !rewrite(&mut tree).names {
                return Err(unknown_fields(&tree));
            }
            return serde_json::from_value(tree);
        }
        Err(e) => e,
    };
    if first.classify() != serde_json::error::Category::Data {
        return Err(first);
    }
    let Ok(mut tree) = serde_json::from_slice::<Value>(json) else {
        return Err(first);
    };
    let rewritten = rewrite(&mut tree);
    if !rewritten.names && !rewritten.enums {
        // Nothing to replace: the first error, which says where the request breaks.
        return Err(first);
    }
    serde_json::from_value(tree)
}

/// [`from_slice`] of a text.
pub fn from_str<M>(json: &str) -> Result<M, serde_json::Error>
where
    M: DeserializeOwned + Default + PartialEq,
{
    from_slice(json.as_bytes())
}

/// The error for a request whose top-level fields are none of an OTLP request's.
fn unknown_fields(tree: &Value) -> serde_json::Error {
    let names = match tree {
        Value::Object(fields) => fields
            .keys()
            .filter(|key| !REQUEST_FIELDS.contains(&key.as_str()))
            .map(|key| format!("{key:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    serde_json::Error::custom(format!(
        "no OTLP request field in it, only {names}: a request holds \"resourceSpans\", \
         \"resourceLogs\" or \"resourceMetrics\""
    ))
}

/// What [`rewrite`] replaced.
#[derive(Debug, Default, Clone, Copy)]
struct Rewritten {
    /// Object keys in snake_case, now in lowerCamelCase.
    names: bool,
    /// Enum names, now their numbers.
    enums: bool,
}

impl std::ops::BitOrAssign for Rewritten {
    fn bitor_assign(&mut self, other: Rewritten) {
        self.names |= other.names;
        self.enums |= other.enums;
    }
}

/// Renames every object key in snake_case (`resource_spans`) to lowerCamelCase
/// (`resourceSpans`), then replaces each enum name (`"SPAN_KIND_SERVER"`) by its number; says
/// which it did. Every object key of an OTLP request is a field name: attributes are
/// `{"key": …, "value": …}` objects, so their names are never keys, and only enum fields have the
/// keys named here. An unknown enum name is left for the parse to refuse.
fn rewrite(value: &mut Value) -> Rewritten {
    let mut done = Rewritten::default();
    match value {
        Value::Array(items) => {
            for item in items {
                done |= rewrite(item);
            }
        }
        Value::Object(fields) => {
            if fields.keys().any(|key| key.contains('_')) {
                done.names = true;
                *fields = std::mem::take(fields)
                    .into_iter()
                    .map(|(key, field)| (camel_case(&key), field))
                    .collect();
            }
            for (key, field) in fields.iter_mut() {
                let Value::String(name) = field else {
                    done |= rewrite(field);
                    continue;
                };
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
                    done.enums = true;
                }
            }
        }
        _ => {}
    }
    done
}

/// `start_time_unix_nano` as `startTimeUnixNano`.
fn camel_case(snake: &str) -> String {
    let mut camel = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !camel.is_empty();
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    camel
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

    /// Field names as the `.proto` files write them read as lowerCamelCase ones do.
    #[test]
    fn snake_case_field_names_read_as_camel_case_ones() {
        let camel = span(r#""SPAN_KIND_SERVER""#, "2");
        let snake = camel
            .replace("resourceSpans", "resource_spans")
            .replace("scopeSpans", "scope_spans")
            .replace("traceId", "trace_id")
            .replace("spanId", "span_id")
            .replace("startTimeUnixNano", "start_time_unix_nano")
            .replace("endTimeUnixNano", "end_time_unix_nano")
            .replace("stringValue", "string_value");
        assert!(snake.contains("resource_spans") && !snake.contains("Id\""));
        let read: ExportTraceServiceRequest = from_str(&snake).unwrap();
        assert_eq!(read, from_str::<ExportTraceServiceRequest>(&camel).unwrap());
        assert_eq!(
            read.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano,
            1
        );

        let log = r#"{"resource_logs":[{"scope_logs":[{"log_records":[
            {"time_unix_nano":"5","severity_number":"SEVERITY_NUMBER_INFO"}]}]}]}"#;
        let request: ExportLogsServiceRequest = from_str(log).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!((record.time_unix_nano, record.severity_number), (5, 9));
    }

    /// A request whose fields are none of an OTLP request's is refused, naming them; an empty
    /// one is read as empty.
    #[test]
    fn a_request_of_unknown_fields_is_refused_and_an_empty_one_is_empty() {
        let error = from_str::<ExportTraceServiceRequest>(r#"{"spans":[{"name":"x"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(r#"only "spans""#) && error.contains("resourceSpans"),
            "{error}"
        );
        for empty in ["{}", r#"{"resourceSpans":[]}"#] {
            let read: ExportTraceServiceRequest = from_str(empty).unwrap();
            assert_eq!(read, ExportTraceServiceRequest::default());
        }
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
