//! Lambda's JSON shapes: the platform events of the Telemetry API, the Logs API and the JSON log
//! format (`{"time", "type": "platform.report", "record": {...}}`), and structured function logs,
//! AWS Lambda Powertools' above all (v1 `lambda_function_*` keys, v2+ `function_*` keys).
//!
//! Parsing only: [`classify`] says what one JSON value is, and a [`RawObject`] is a log line's
//! object read with its texts left in the line ([`RawObject::function_log`]). What is read borrows
//! its texts from what it was read from. The stateful reading of a log stream (pairing `start`
//! with `report`, carrying init evidence to the next invocation) is
//! [`LambdaLogStream`](super::report_line::LambdaLogStream)'s job.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::report_line::{Report, xray_trace_id};
use crate::model::AttributeRef;

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
        /// `initializationType`: `on-demand`, `provisioned-concurrency` or `snap-start`.
        initialization_type: Option<String>,
    },
    InitReport {
        status: Option<String>,
        error_type: Option<String>,
        initialization_type: Option<String>,
    },
    /// Any other `platform.*` event (`logsDropped`, `extension`, `restoreStart`, ...): kept as a log.
    Other,
}

/// The invocation context a structured function log carries (Powertools and similar loggers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionContext<'o> {
    pub function_name: Option<Cow<'o, str>>,
    pub memory_size_mb: Option<i32>,
    pub region: Option<&'o str>,
    pub account_id: Option<&'o str>,
    pub cold_start: Option<bool>,
    pub trace_id: Option<[u8; 16]>,
}

/// A structured function log line, its texts borrowed from the object it was read from: only a
/// number read as a text and a message that is no string are texts of their own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionLog<'o> {
    pub time: Option<i64>,
    pub level: Option<Cow<'o, str>>,
    pub request_id: Option<Cow<'o, str>>,
    /// The message: a string as it is, anything else as its JSON text.
    pub message: Option<Cow<'o, str>>,
    /// Present when the line names the function (Powertools' context keys).
    pub context: Option<FunctionContext<'o>>,
    /// The remaining keys, typed, in key order.
    pub attributes: Vec<(&'o str, AttributeRef<'o>)>,
}

/// What one JSON value of a Lambda log is.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaJson<'o> {
    Platform {
        time: Option<i64>,
        kind: String,
        event: PlatformEvent,
    },
    /// A `function` (or `extension`) event of the Telemetry/Logs API: its record is a log line
    /// (text) or a structured log (object).
    FunctionEvent {
        time: Option<i64>,
        record: &'o Value,
    },
    Log(FunctionLog<'o>),
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

/// A member's value as a log line is read: a string as its text, any other value parsed.
#[derive(Debug, Clone, Copy)]
enum Member<'o> {
    Text(&'o str),
    Other(&'o Value),
}

impl<'o> Member<'o> {
    fn of(value: &'o Value) -> Self {
        match value {
            Value::String(s) => Member::Text(s),
            other => Member::Other(other),
        }
    }

    /// A text, or a number's text; `None` for an empty text or any other value.
    fn text(self) -> Option<Cow<'o, str>> {
        match self {
            Member::Text(s) => Some(Cow::Borrowed(s)).filter(|s| !s.is_empty()),
            Member::Other(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            Member::Other(_) => None,
        }
    }

    /// A text as it is, any other value as its JSON text.
    fn text_or_json(self) -> Cow<'o, str> {
        match self {
            Member::Text(s) => Cow::Borrowed(s),
            Member::Other(value) => Cow::Owned(value.to_string()),
        }
    }

    /// A number, or a text that holds one.
    fn number(self) -> Option<f64> {
        match self {
            Member::Text(s) => s.trim().parse().ok(),
            Member::Other(Value::Number(n)) => n.as_f64(),
            Member::Other(_) => None,
        }
    }

    /// A boolean, or the text `true` or `false`.
    fn boolean(self) -> Option<bool> {
        match self {
            Member::Text(s) => s.parse().ok(),
            Member::Other(Value::Bool(b)) => Some(*b),
            Member::Other(_) => None,
        }
    }

    fn time(self) -> Option<i64> {
        match self {
            Member::Text(s) => parse_time_text(s),
            Member::Other(value) => parse_time(value),
        }
    }

    /// The value as an attribute: texts, booleans and numbers typed, anything else as its JSON
    /// text.
    fn attribute(self) -> AttributeRef<'o> {
        match self {
            Member::Text(s) => AttributeRef::String(s),
            Member::Other(Value::Bool(b)) => AttributeRef::Bool(*b),
            Member::Other(Value::Number(n)) => match n.as_i64() {
                Some(i) => AttributeRef::Int(i),
                None => AttributeRef::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Member::Other(other) => AttributeRef::Json(Cow::Owned(other.to_string())),
        }
    }
}

/// A JSON object's members in the order of its text, as a log line is read: keys and strings
/// borrowed from the text unless they hold escapes, any other value parsed (a number allocates
/// nothing). Parsed as a `serde_json::Value`, every key and text of a line was allocated, moved
/// and freed again (a fifth of an import's CPU, `perf`, 1M log lines).
#[derive(Debug)]
pub struct RawObject<'a>(Vec<(Cow<'a, str>, RawMember<'a>)>);

/// A member's value in a [`RawObject`].
#[derive(Debug)]
enum RawMember<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'a> RawObject<'a> {
    /// Parses `text`, which must hold one JSON object and nothing else. It parses exactly when
    /// the text parses as a `serde_json::Value`.
    pub fn parse(text: &'a str) -> Result<RawObject<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The members in text order, a key repeated as often as it is.
    fn members(&self) -> impl Iterator<Item = (&str, Member<'_>)> {
        self.0.iter().map(|(key, value)| {
            let value = match value {
                RawMember::Text(text) => Member::Text(text),
                RawMember::Other(value) => Member::Other(value),
            };
            (&**key, value)
        })
    }

    /// True when the object is a platform, `function` or `extension` event with a record, to be
    /// read as a parsed value ([`Self::into_map`], [`classify`]), not as a log line.
    pub fn is_event(&self) -> bool {
        let kind = self.members().filter(|(key, _)| *key == "type").last();
        self.0.iter().any(|(key, _)| key == "record")
            && matches!(kind, Some((_, Member::Text(kind)))
                if kind.starts_with("platform.") || kind == "function" || kind == "extension")
    }

    /// The object read as a structured function log line.
    pub fn function_log(&self) -> FunctionLog<'_> {
        function_log(self.members())
    }

    /// The object as a parsed map.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(key, value)| {
                let value = match value {
                    RawMember::Text(text) => Value::String(text.into_owned()),
                    RawMember::Other(value) => value,
                };
                (key.into_owned(), value)
            })
            .collect()
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(key), value)) = map.next_entry::<Key<'de>, RawMember<'de>>()? {
                    members.push((key, value));
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A member's key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(TextOrValue)
            .and_then(|member| match member {
                RawMember::Text(text) => Ok(Key(text)),
                RawMember::Other(_) => Err(serde::de::Error::custom("a key that is no string")),
            })
    }
}

impl<'de> Deserialize<'de> for RawMember<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextOrValue)
    }
}

/// Reads a string as its text, borrowed where it can be, and any other value as a `Value`.
struct TextOrValue;

impl<'de> Visitor<'de> for TextOrValue {
    type Value = RawMember<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Text(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E>(self, text: String) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Text(Cow::Owned(text)))
    }
    fn visit_bool<E>(self, b: bool) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Other(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Other(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Other(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Other(Value::from(n)))
    }
    fn visit_unit<E>(self) -> Result<RawMember<'de>, E> {
        Ok(RawMember::Other(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawMember<'de>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(RawMember::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawMember<'de>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(RawMember::Other)
    }
}

/// A text, or a number's text; `None` for an empty text or any other value.
fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(|value| Member::of(value).text())
        .map(Cow::into_owned)
}

fn number(object: &Map<String, Value>, key: &str) -> Option<f64> {
    object.get(key).and_then(|value| Member::of(value).number())
}

/// Declares [`KnownKey`], each variant with the key it stands for, and [`KnownKey::ALL`].
macro_rules! known_keys {
    ($($variant:ident => $key:literal,)*) => {
        /// The keys a structured log line's own columns are read from (Powertools' and similar
        /// loggers' keys for the invocation context, v1 then v2+), told apart in one pass over
        /// its members.
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum KnownKey {
            $($variant,)*
        }

        impl KnownKey {
            const ALL: &'static [KnownKey] = &[$(KnownKey::$variant,)*];

            #[cfg(test)]
            fn key(self) -> &'static str {
                match self {
                    $(KnownKey::$variant => $key,)*
                }
            }

            /// The known key `key` is. A `match` on the texts: each arm compares the length
            /// first, and the compiler compares these short, fixed texts inline, where looking
            /// the key up among a length's candidates called `memcmp` for each.
            fn of(key: &str) -> Option<KnownKey> {
                match key {
                    $($key => Some(KnownKey::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

known_keys! {
    FunctionName => "function_name",
    LambdaFunctionName => "lambda_function_name",
    FunctionArn => "function_arn",
    LambdaFunctionArn => "lambda_function_arn",
    FunctionMemorySize => "function_memory_size",
    LambdaFunctionMemorySize => "lambda_function_memory_size",
    ColdStart => "cold_start",
    ColdStartCamel => "coldStart",
    XrayTraceId => "xray_trace_id",
    Level => "level",
    LevelName => "levelname",
    Severity => "severity",
    LogLevel => "log_level",
    Message => "message",
    Msg => "msg",
    Timestamp => "timestamp",
    Time => "time",
    AtTimestamp => "@timestamp",
    FunctionRequestId => "function_request_id",
    LambdaRequestId => "lambda_request_id",
    RequestId => "requestId",
    AwsRequestId => "AWSRequestId",
}

impl KnownKey {
    /// True for the keys also kept as attributes: the level's other names.
    fn is_also_attribute(self) -> bool {
        matches!(self, KnownKey::LevelName | KnownKey::Severity)
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
                restore_duration_ms: number(metrics, "restoreDurationMs"),
                billed_restore_duration_ms: number(metrics, "billedRestoreDurationMs")
                    .map(|v| v as i64),
                status: text(record, "status"),
                error_type: text(record, "errorType"),
                xray_trace_id: tracing,
            })
        }
        ("platform.initStart", _) => PlatformEvent::InitStart {
            function_name: text(record, "functionName"),
            function_version: text(record, "functionVersion"),
            runtime_version: text(record, "runtimeVersion"),
            initialization_type: text(record, "initializationType"),
        },
        ("platform.initReport" | "platform.initRuntimeDone", _) => PlatformEvent::InitReport {
            status: text(record, "status"),
            error_type: text(record, "errorType"),
            initialization_type: text(record, "initializationType"),
        },
        _ => PlatformEvent::Other,
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → (region, account, name).
fn split_function_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.split(':');
    let mut next = || parts.next();
    match [
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    ] {
        ["arn", _, "lambda", region, account, "function", name] => Some((region, account, name)),
        _ => None,
    }
}

/// Reads a structured log line from its members in text order; a repeated key's last value
/// counts, as in a parsed map. Each member is looked at once: a line's columns come from its
/// known keys, and the rest are its attributes.
fn function_log<'o>(members: impl Iterator<Item = (&'o str, Member<'o>)>) -> FunctionLog<'o> {
    use KnownKey::*;
    let mut known: [Option<Member<'o>>; KnownKey::ALL.len()] = [None; KnownKey::ALL.len()];
    let mut attributes: Vec<(&'o str, AttributeRef<'o>)> = Vec::new();
    for (key, value) in members {
        let known_key = KnownKey::of(key);
        if let Some(known_key) = known_key {
            known[known_key as usize] = Some(value);
        }
        if known_key.is_none_or(KnownKey::is_also_attribute) {
            attributes.push((key, value.attribute()));
        }
    }
    // In key order, each key once with its last value.
    attributes.sort_by_key(|(key, _)| *key);
    attributes.dedup_by(|later, kept| {
        later.0 == kept.0 && {
            std::mem::swap(&mut later.1, &mut kept.1);
            true
        }
    });
    let get = |key: KnownKey| known[key as usize];
    let first_text = |keys: &[KnownKey]| keys.iter().find_map(|&key| get(key)?.text());
    let arn = first_text(&[FunctionArn, LambdaFunctionArn]);
    let from_arn = match arn {
        Some(Cow::Borrowed(arn)) => split_function_arn(arn),
        _ => None,
    };
    let function_name = first_text(&[FunctionName, LambdaFunctionName])
        .or_else(|| from_arn.map(|(_, _, name)| Cow::Borrowed(name)));
    let context = function_name.map(|name| FunctionContext {
        function_name: Some(name),
        memory_size_mb: [FunctionMemorySize, LambdaFunctionMemorySize]
            .iter()
            .find_map(|&key| get(key)?.number())
            .map(|m| m as i32),
        region: from_arn.map(|(region, _, _)| region),
        account_id: from_arn.map(|(_, account, _)| account),
        cold_start: get(ColdStart)
            .or(get(ColdStartCamel))
            .and_then(Member::boolean),
        trace_id: get(XrayTraceId)
            .and_then(Member::text)
            .and_then(|x| xray_root(&x).and_then(xray_trace_id)),
    });
    FunctionLog {
        time: [Timestamp, Time, AtTimestamp]
            .iter()
            .find_map(|&key| get(key)?.time()),
        level: first_text(&[Level, LevelName, Severity, LogLevel]),
        request_id: first_text(&[FunctionRequestId, LambdaRequestId, RequestId, AwsRequestId]),
        message: get(Message).or(get(Msg)).map(Member::text_or_json),
        context,
        attributes,
    }
}

/// Says what one JSON value from a Lambda log is, borrowing its texts; `None` for a value that is
/// not an object.
pub fn classify(value: &Value) -> Option<LambdaJson<'_>> {
    let map = value.as_object()?;
    let time = map.get("time").and_then(parse_time);
    Some(
        match (map.get("type").and_then(Value::as_str), map.get("record")) {
            (Some(kind), Some(record)) if kind.starts_with("platform.") => {
                let empty = Map::new();
                let record = record.as_object().unwrap_or(&empty);
                LambdaJson::Platform {
                    time,
                    kind: kind.to_owned(),
                    event: platform_event(kind, record),
                }
            }
            (Some("function" | "extension"), Some(record)) => {
                LambdaJson::FunctionEvent { time, record }
            }
            _ => LambdaJson::Log(function_log(
                map.iter()
                    .map(|(key, value)| (key.as_str(), Member::of(value))),
            )),
        },
    )
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
            assert_eq!(context.region, Some("eu-west-1"));
            assert_eq!(context.account_id, Some("12345678910"));
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

    /// A bare X-Ray id is its own root; a `tracing.value` names its root among other parts.
    #[test]
    fn xray_roots_are_found_bare_or_among_parts() {
        for (value, root) in [
            (
                "1-6b040090-01b1b8fb2e0cc1f757959a09",
                Some("1-6b040090-01b1b8fb2e0cc1f757959a09"),
            ),
            ("1-abc ", Some("1-abc")),
            // No `Root=` part: the whole value, as it is.
            (
                "1-abc;Parent=53995c3f;Sampled=1",
                Some("1-abc;Parent=53995c3f;Sampled=1"),
            ),
            ("Root=1-abc;Parent=53995c3f;Sampled=1", Some("1-abc")),
            ("Parent=53995c3f; Root=1-abc ;Sampled=1", Some("1-abc")),
            (" Root=1-abc", Some("1-abc")),
            ("2-abc", None),
            ("", None),
        ] {
            assert_eq!(xray_root(value), root, "{value}");
        }
    }

    /// Each known key is told apart from the others and from any other key.
    #[test]
    fn known_keys_are_told_apart() {
        for &known in KnownKey::ALL {
            assert_eq!(KnownKey::of(known.key()), Some(known), "{}", known.key());
        }
        for other in [
            "service",
            "Level",
            "function_names",
            "",
            "requestid",
            "timestamp ",
        ] {
            assert_eq!(KnownKey::of(other), None, "{other}");
        }
    }

    /// Keys this module reads, a few it keeps as attributes, one with an escape, and `type`
    /// twice so that objects with a key twice are common.
    fn keys() -> Vec<&'static str> {
        let others = [
            "service",
            "type",
            "record",
            "tab\\tkey",
            "type",
            "metrics",
            "tracing",
        ];
        KnownKey::ALL
            .iter()
            .map(|known| known.key())
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
                (Ok(parsed), Ok(raw)) => {
                    let read = classify(&parsed);
                    let event = matches!(
                        read,
                        Some(LambdaJson::Platform { .. } | LambdaJson::FunctionEvent { .. })
                    );
                    proptest::prop_assert_eq!(raw.is_event(), event, "{}", text);
                    if !event {
                        let log = Some(LambdaJson::Log(raw.function_log()));
                        proptest::prop_assert_eq!(log, read, "{}", text);
                    }
                    proptest::prop_assert_eq!(Value::Object(raw.into_map()), parsed, "{}", text);
                }
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
