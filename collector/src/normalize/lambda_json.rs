//! Lambda's JSON shapes: the platform events of the Telemetry API, the Logs API and the JSON log
//! format (`{"time", "type": "platform.report", "record": {...}}`), and structured function logs,
//! AWS Lambda Powertools' above all (v1 `lambda_function_*` keys, v2+ `function_*` keys).
//!
//! Parsing only: [`classify`] says what one JSON value is, and [`read_raw_object`] what an object
//! still in its text is (a log line: only the members it keeps are parsed). The stateful reading
//! of a log stream (pairing `start` with `report`, carrying init evidence to the next invocation)
//! is [`LambdaLogStream`](super::report_line::LambdaLogStream)'s job.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::report_line::{Report, xray_trace_id};
use crate::model::{AttributeValue, Attributes};

/// A platform event, whatever API delivered it.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformEvent {
    Start {
        request_id: String,
        version: Option<String>,
    },
    /// `platform.runtimeDone` (Telemetry API) and `platform.end` (Logs API).
    Done {
        request_id: String,
        status: Option<String>,
        error_type: Option<String>,
    },
    Report(Report),
    InitStart {
        function_name: Option<String>,
        function_version: Option<String>,
        runtime_version: Option<String>,
    },
    InitReport {
        status: Option<String>,
        error_type: Option<String>,
    },
    /// Any other `platform.*` event (`logsDropped`, `extension`, `restoreStart`, ...): kept as a log.
    Other,
}

/// The invocation context a structured function log carries (Powertools and similar loggers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionContext {
    pub function_name: Option<String>,
    pub memory_size_mb: Option<i32>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub cold_start: Option<bool>,
    pub trace_id: Option<[u8; 16]>,
}

/// A structured function log line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionLog {
    pub time: Option<i64>,
    pub level: Option<String>,
    pub request_id: Option<String>,
    /// The message: a string as it is, anything else as its JSON text.
    pub message: Option<String>,
    /// Present when the line names the function (Powertools' context keys).
    pub context: Option<FunctionContext>,
    /// The remaining keys, typed.
    pub attributes: Attributes,
}

/// What one JSON value of a Lambda log is.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaJson {
    Platform {
        time: Option<i64>,
        kind: String,
        event: PlatformEvent,
    },
    /// A `function` (or `extension`) event of the Telemetry/Logs API: its record is a log line
    /// (text) or a structured log (object).
    FunctionEvent {
        time: Option<i64>,
        record: Value,
    },
    Log(FunctionLog),
}

/// Parses a time as Lambda and its loggers write them: RFC 3339, Python's logging format
/// (`2021-05-03 11:47:12,494+0200`), or milliseconds since the epoch.
pub fn parse_time(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            let ms = n.as_f64()?;
            // Seconds, milliseconds or nanoseconds since the epoch, told apart by magnitude.
            let nanos = if ms > 1e17 {
                ms
            } else if ms > 1e11 {
                ms * 1e6
            } else {
                ms * 1e9
            };
            Some(nanos as i64)
        }
        Value::String(s) => parse_time_text(s),
        _ => None,
    }
}

/// [`parse_time`] of a JSON string's text.
fn parse_time_text(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    for format in ["%Y-%m-%d %H:%M:%S,%3f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, format) {
            return t.timestamp_nanos_opt();
        }
    }
    s.parse::<f64>()
        .ok()
        .and_then(|n| parse_time(&Value::from(n)))
}

/// A member's value as [`JsonObject::member`] reads it.
enum Member<'o> {
    /// A string, as its text.
    Text(Cow<'o, str>),
    /// Any other value.
    Other(Cow<'o, Value>),
}

/// One JSON object as this module reads it: a parsed map, or a [`RawObject`] whose members are
/// parsed only when asked for.
trait JsonObject {
    /// The value of `key`; the last one when the key repeats (as a parsed map keeps it).
    fn value(&self, key: &str) -> Option<Cow<'_, Value>>;
    /// The value of `key` (the last one, as [`Self::value`]), a string as its text.
    fn member(&self, key: &str) -> Option<Member<'_>>;
    fn has(&self, key: &str) -> bool;
    /// The members whose key `wanted` says, in key order, each key once with its last value.
    fn into_members(self, wanted: impl Fn(&str) -> bool) -> Vec<(String, Value)>;
}

impl JsonObject for Map<String, Value> {
    fn value(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.get(key).map(Cow::Borrowed)
    }

    fn member(&self, key: &str) -> Option<Member<'_>> {
        Some(match self.get(key)? {
            Value::String(s) => Member::Text(Cow::Borrowed(s)),
            other => Member::Other(Cow::Borrowed(other)),
        })
    }

    fn has(&self, key: &str) -> bool {
        self.contains_key(key)
    }

    fn into_members(self, wanted: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
        self.into_iter().filter(|(key, _)| wanted(key)).collect()
    }
}

/// A JSON object's members in the order of its text: keys borrowed unless they hold escapes,
/// values not parsed yet. A structured log line read this way allocates only what it keeps;
/// parsed as a `serde_json::Value` first, every key and text of it was allocated and freed (a
/// fifth of an import's CPU, `perf`, 1M log lines).
#[derive(Debug)]
pub struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> RawObject<'a> {
    /// Parses `text`, which must hold one JSON object and nothing else. It parses exactly when
    /// the text parses as a `serde_json::Value`.
    pub fn parse(text: &'a str) -> Result<RawObject<'a>, serde_json::Error> {
        let object: RawObject = serde_json::from_str(text)?;
        // A raw value is only scanned, and a number too large for a float passes a scan, at any
        // depth. Members that are numbers, objects or arrays are parsed as values here (numbers
        // allocate nothing; nested values are rare in log lines).
        for (_, raw) in &object.0 {
            if !raw.get().starts_with(['"', 't', 'f', 'n']) {
                serde_json::from_str::<Value>(raw.get())?;
            }
        }
        Ok(object)
    }

    /// The object as a parsed map.
    pub fn into_map(self) -> Map<String, Value> {
        self.into_members(|_| true).into_iter().collect()
    }
}

impl JsonObject for RawObject<'_> {
    fn value(&self, key: &str) -> Option<Cow<'_, Value>> {
        let (_, raw) = self.0.iter().rev().find(|(k, _)| k == key)?;
        // The text was parsed once already, so it parses again.
        serde_json::from_str(raw.get()).ok().map(Cow::Owned)
    }

    fn member(&self, key: &str) -> Option<Member<'_>> {
        let (_, raw) = self.0.iter().rev().find(|(k, _)| k == key)?;
        let raw = raw.get();
        if let Some(quoted) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
            && !quoted.contains('\\')
        {
            // A string the parse already checked, without escapes: its text is what it says.
            return Some(Member::Text(Cow::Borrowed(quoted)));
        }
        // The text was parsed once already, so it parses again.
        Some(match serde_json::from_str(raw).ok()? {
            Value::String(s) => Member::Text(Cow::Owned(s)),
            other => Member::Other(Cow::Owned(other)),
        })
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn into_members(mut self, wanted: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
        self.0.retain(|(key, _)| wanted(key));
        // A stable sort keeps a repeated key's values in text order: the last one is kept.
        self.0.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut members: Vec<(String, Value)> = Vec::with_capacity(self.0.len());
        for (key, raw) in self.0 {
            let Ok(value) = serde_json::from_str(raw.get()) else {
                continue;
            };
            match members.last_mut() {
                Some((last, slot)) if *last == key => *slot = value,
                _ => members.push((key.into_owned(), value)),
            }
        }
        members
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key<'a>(Cow<'a, str>);
        impl<'de> Deserialize<'de> for Key<'de> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl<'de> Visitor<'de> for KeyVisitor {
                    type Value = Key<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a key")
                    }
                    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                        Ok(Key(Cow::Borrowed(key)))
                    }
                    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                        Ok(Key(Cow::Owned(key.to_owned())))
                    }
                    fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                        Ok(Key(Cow::Owned(key)))
                    }
                }
                deserializer.deserialize_str(KeyVisitor)
            }
        }
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push((key, value));
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A text, or a number's text; `None` for an empty text or any other value.
fn text(object: &impl JsonObject, key: &str) -> Option<String> {
    text_of(object, key).map(Cow::into_owned)
}

/// [`text`], borrowed where the object allows.
fn text_of<'o>(object: &'o impl JsonObject, key: &str) -> Option<Cow<'o, str>> {
    match object.member(key)? {
        Member::Text(s) => Some(s).filter(|s| !s.is_empty()),
        Member::Other(value) => match value.as_ref() {
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        },
    }
}

/// The value of `key`: a text as it is, any other value as its JSON text.
fn text_or_json(object: &impl JsonObject, key: &str) -> Option<String> {
    object.member(key).map(|member| match member {
        Member::Text(s) => s.into_owned(),
        Member::Other(value) => value.to_string(),
    })
}

fn number(object: &impl JsonObject, key: &str) -> Option<f64> {
    match object.value(key)?.as_ref() {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The X-Ray root of a `tracing.value` (`Root=1-…;Parent=…;Sampled=1`) or a bare X-Ray id.
fn xray_root(value: &str) -> Option<&str> {
    let root = value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .unwrap_or(value);
    Some(root.trim()).filter(|r| r.starts_with("1-"))
}

fn platform_event(kind: &str, record: &Map<String, Value>) -> PlatformEvent {
    let request_id = text(record, "requestId");
    let tracing = record
        .get("tracing")
        .and_then(Value::as_object)
        .and_then(|t| text(t, "value"))
        .and_then(|v| xray_root(&v).map(str::to_string));
    match (kind, request_id) {
        ("platform.start", Some(request_id)) => PlatformEvent::Start {
            request_id,
            version: text(record, "version"),
        },
        ("platform.runtimeDone" | "platform.end", Some(request_id)) => PlatformEvent::Done {
            request_id,
            status: text(record, "status"),
            error_type: text(record, "errorType"),
        },
        ("platform.report", Some(request_id)) => {
            let empty = Map::new();
            let metrics = record
                .get("metrics")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            PlatformEvent::Report(Report {
                request_id,
                duration_ms: number(metrics, "durationMs").unwrap_or(0.0),
                billed_duration_ms: number(metrics, "billedDurationMs").map(|v| v as i64),
                memory_size_mb: number(metrics, "memorySizeMB").map(|v| v as i32),
                max_memory_used_mb: number(metrics, "maxMemoryUsedMB").map(|v| v as i32),
                init_duration_ms: number(metrics, "initDurationMs"),
                status: text(record, "status"),
                error_type: text(record, "errorType"),
                xray_trace_id: tracing,
            })
        }
        ("platform.initStart", _) => PlatformEvent::InitStart {
            function_name: text(record, "functionName"),
            function_version: text(record, "functionVersion"),
            runtime_version: text(record, "runtimeVersion"),
        },
        ("platform.initReport" | "platform.initRuntimeDone", _) => PlatformEvent::InitReport {
            status: text(record, "status"),
            error_type: text(record, "errorType"),
        },
        _ => PlatformEvent::Other,
    }
}

/// The keys Powertools (and similar loggers) use for the invocation context, v1 then v2+.
const REQUEST_ID_KEYS: [&str; 4] = [
    "function_request_id",
    "lambda_request_id",
    "requestId",
    "AWSRequestId",
];
/// The other keys read into the log's own columns (with [`REQUEST_ID_KEYS`] and the time keys),
/// so they are not repeated as attributes.
const CONTEXT_KEYS: [&str; 11] = [
    "function_name",
    "lambda_function_name",
    "function_memory_size",
    "lambda_function_memory_size",
    "function_arn",
    "lambda_function_arn",
    "cold_start",
    "coldStart",
    "xray_trace_id",
    "level",
    "message",
];

fn first_text(object: &impl JsonObject, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(object, k))
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → (region, account, name).
fn split_function_arn(arn: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" {
        return Some((parts[3].into(), parts[4].into(), parts[6].into()));
    }
    None
}

fn function_log(map: impl JsonObject) -> FunctionLog {
    let arn = first_text(&map, &["function_arn", "lambda_function_arn"]);
    let from_arn = arn.as_deref().and_then(split_function_arn);
    let function_name = first_text(&map, &["function_name", "lambda_function_name"])
        .or_else(|| from_arn.as_ref().map(|(_, _, name)| name.clone()));
    let memory = number(&map, "function_memory_size")
        .or_else(|| number(&map, "lambda_function_memory_size"))
        .map(|m| m as i32);
    let cold_start = map
        .value("cold_start")
        .or_else(|| map.value("coldStart"))
        .and_then(|v| boolean(&v));
    let context = function_name.map(|name| FunctionContext {
        function_name: Some(name),
        memory_size_mb: memory,
        region: from_arn.as_ref().map(|(r, _, _)| r.clone()),
        account_id: from_arn.as_ref().map(|(_, a, _)| a.clone()),
        cold_start,
        trace_id: text_of(&map, "xray_trace_id")
            .and_then(|x| xray_root(&x).and_then(xray_trace_id)),
    });
    let time = ["timestamp", "time", "@timestamp"]
        .iter()
        .find_map(|k| match map.member(k)? {
            Member::Text(text) => parse_time_text(&text),
            Member::Other(value) => parse_time(&value),
        });
    let message = text_or_json(&map, "message").or_else(|| text_or_json(&map, "msg"));
    let level = first_text(&map, &["level", "levelname", "severity"]);
    let request_id = first_text(&map, &REQUEST_ID_KEYS);
    // The rest become attributes, moved out of the record (not copied).
    let attributes = map
        .into_members(|key| {
            !CONTEXT_KEYS.contains(&key)
                && !REQUEST_ID_KEYS.contains(&key)
                && !["timestamp", "time", "@timestamp", "msg"].contains(&key)
        })
        .into_iter()
        .map(|(k, v)| (k, attribute_of(v)))
        .collect();
    FunctionLog {
        time,
        level,
        request_id,
        message,
        context,
        attributes,
    }
}

fn attribute_of(value: Value) -> AttributeValue {
    match value {
        Value::String(s) => AttributeValue::String(s),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttributeValue::Int(i),
            None => AttributeValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        other => AttributeValue::Json(other.to_string()),
    }
}

/// Says what one JSON value from a Lambda log is; `None` for a value that is not an object.
pub fn classify(value: &Value) -> Option<LambdaJson> {
    read_record(value.clone())
}

/// [`classify`] for a value the caller no longer needs: its strings move into the result.
pub fn read_record(value: Value) -> Option<LambdaJson> {
    let Value::Object(map) = value else {
        return None;
    };
    Some(read_map(map))
}

/// [`read_record`] of an object whose members are still in their text.
pub fn read_raw_object(object: RawObject<'_>) -> LambdaJson {
    // Platform and `function` events are read as parsed maps; structured logs, by far the most
    // lines, from the text.
    let event = object.has("record")
        && object.value("type").is_some_and(|kind| {
            kind.as_str().is_some_and(|kind| {
                kind.starts_with("platform.") || kind == "function" || kind == "extension"
            })
        });
    if event {
        read_map(object.into_map())
    } else {
        LambdaJson::Log(function_log(object))
    }
}

fn read_map(mut map: Map<String, Value>) -> LambdaJson {
    let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
    let time = map.get("time").and_then(parse_time);
    match (kind, map.contains_key("record")) {
        (Some(kind), true) if kind.starts_with("platform.") => {
            let empty = Map::new();
            let record = map.get("record").and_then(Value::as_object);
            let event = platform_event(&kind, record.unwrap_or(&empty));
            LambdaJson::Platform { time, kind, event }
        }
        (Some(kind), true) if kind == "function" || kind == "extension" => {
            LambdaJson::FunctionEvent {
                time,
                record: map.remove("record").unwrap_or_default(),
            }
        }
        _ => LambdaJson::Log(function_log(map)),
    }
}

/// True when a JSON value looks like a Lambda log record this module reads: a platform event or
/// a structured log that names its invocation (used to detect file formats).
pub fn is_lambda_json(value: &Value) -> bool {
    match classify(value) {
        Some(LambdaJson::Platform { .. } | LambdaJson::FunctionEvent { .. }) => true,
        Some(LambdaJson::Log(log)) => log.request_id.is_some() && log.context.is_some(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_telemetry_api_report_parses() {
        let event = json!({"time": "2022-10-12T00:01:15.000Z", "type": "platform.report",
            "record": {"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
              "metrics": {"durationMs": 1010.5, "billedDurationMs": 1011, "memorySizeMB": 128,
                          "maxMemoryUsedMB": 90, "initDurationMs": 200.25},
              "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5e61292c-cc1229a4dfbeae1043928548;Parent=1;Sampled=1"},
              "status": "timeout"}});
        let Some(LambdaJson::Platform {
            time,
            event: PlatformEvent::Report(report),
            ..
        }) = classify(&event)
        else {
            panic!("not a report");
        };
        assert_eq!(time, Some(1_665_532_875_000_000_000));
        assert_eq!(report.billed_duration_ms, Some(1011));
        assert_eq!(report.init_duration_ms, Some(200.25));
        assert_eq!(report.status.as_deref(), Some("timeout"));
        assert_eq!(
            report.xray_trace_id.as_deref(),
            Some("1-5e61292c-cc1229a4dfbeae1043928548")
        );
    }

    #[test]
    fn powertools_v1_and_v2_keys_name_the_function() {
        let v1 = json!({"level": "INFO", "message": "Collecting payment",
            "timestamp": "2021-05-03 11:47:12,494+0200", "cold_start": true,
            "lambda_function_name": "test", "lambda_function_memory_size": 128,
            "lambda_function_arn": "arn:aws:lambda:eu-west-1:12345678910:function:test",
            "lambda_request_id": "52fdfc07-2182-154f-163f-5f0f9a621d72", "service": "payment"});
        let v2 = json!({"level": "INFO", "message": {"k": 1},
            "timestamp": "2021-05-03T09:47:12.494Z", "cold_start": "false",
            "function_name": "test", "function_memory_size": "256",
            "function_arn": "arn:aws:lambda:eu-west-1:12345678910:function:test:live",
            "function_request_id": "52fdfc07-2182-154f-163f-5f0f9a621d72"});
        for (value, memory, cold) in [(v1, 128, true), (v2, 256, false)] {
            let Some(LambdaJson::Log(log)) = classify(&value) else {
                panic!("not a log")
            };
            let context = log.context.expect("context");
            assert_eq!(context.function_name.as_deref(), Some("test"));
            assert_eq!(context.memory_size_mb, Some(memory));
            assert_eq!(context.cold_start, Some(cold));
            assert_eq!(context.region.as_deref(), Some("eu-west-1"));
            assert_eq!(context.account_id.as_deref(), Some("12345678910"));
            assert_eq!(log.time, Some(1_620_035_232_494_000_000));
            assert_eq!(
                log.request_id.as_deref(),
                Some("52fdfc07-2182-154f-163f-5f0f9a621d72")
            );
        }
    }

    #[test]
    fn a_plain_json_object_is_not_a_lambda_record() {
        assert!(!is_lambda_json(&json!({"hello": "world"})));
        assert!(!is_lambda_json(&json!([1, 2])));
        assert!(is_lambda_json(
            &json!({"type": "function", "record": "hello", "time": "2022-10-12T00:01:15.000Z"})
        ));
    }

    /// Keys this module reads, a few it keeps as attributes, one with an escape, and `type`
    /// twice so that objects with a key twice are common.
    fn keys() -> Vec<&'static str> {
        let others = [
            "msg",
            "timestamp",
            "time",
            "@timestamp",
            "service",
            "type",
            "record",
            "levelname",
            "tab\\tkey",
            "type",
            "metrics",
            "tracing",
        ];
        CONTEXT_KEYS
            .into_iter()
            .chain(REQUEST_ID_KEYS)
            .chain(others)
            .collect()
    }

    /// JSON texts of the values those keys may hold.
    const VALUES: [&str; 24] = [
        r#""""#,
        r#""INFO""#,
        r#""2021-05-03T09:47:12.494Z""#,
        r#""2021-05-03 11:47:12,494+0200""#,
        "1620035232494",
        "1620035232.5",
        r#""arn:aws:lambda:eu-west-1:123:function:f:live""#,
        r#""Root=1-5e61292c-cc1229a4dfbeae1043928548;Sampled=1""#,
        r#""platform.report""#,
        r#""platform.start""#,
        r#""function""#,
        r#""true""#,
        "true",
        "false",
        "null",
        "512",
        r#""256 ""#,
        r#""caf\u00e9 \"q\"\n""#,
        r#"{"requestId":"r-1","metrics":{"durationMs":1.5}}"#,
        r#"{"value":"Root=1-5e61292c-cc1229a4dfbeae1043928548"}"#,
        "[1,\"a\",{\"b\":null}]",
        "-7",
        "1e400",
        r#""r-2""#,
    ];

    proptest::proptest! {
        #[test]
        fn an_object_read_from_its_text_reads_as_its_parsed_value(
            members in proptest::collection::vec((0..keys().len(), 0..VALUES.len()), 0..14)
        ) {
            let keys = keys();
            let text = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|&(k, v)| format!("\"{}\": {}", keys[k], VALUES[v]))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            match (serde_json::from_str::<Value>(&text), RawObject::parse(&text)) {
                (Ok(parsed), Ok(raw)) => proptest::prop_assert_eq!(
                    Some(read_raw_object(raw)),
                    read_record(parsed),
                    "{}",
                    text
                ),
                (Err(_), Err(_)) => {}
                (parsed, raw) => proptest::prop_assert!(
                    false,
                    "{text}: parses as a value {}, as a raw object {}",
                    parsed.is_ok(),
                    raw.is_ok()
                ),
            }
        }
    }
}
