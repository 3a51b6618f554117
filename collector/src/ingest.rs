//! Offline import: reading input files, detecting each one's format, and normalizing it.
//!
//! Formats recognized, by content (not by file name):
//! - OTLP trace or logs export requests as protobuf, or as OTLP JSON: one request per file, or
//!   one per line (as the OpenTelemetry Collector's file exporter writes);
//! - CloudWatch Logs subscription payloads, decoded or in the `{"awslogs":{"data":…}}` envelope,
//!   and CloudWatch exports (`aws logs filter-log-events` / `get-log-events` output, `{"events":[…]}`);
//! - Lambda text logs: `START`/`END`/`REPORT`/`INIT_START` and function log lines, each starting
//!   with an RFC 3339 timestamp, as CloudWatch exports them. A text file is one log stream: the
//!   function is named by the file's folder (`…/FUNCTION/STREAM.log`) unless given explicitly;
//! - Lambda JSON records, as a JSON array or one per line: the JSON log format and Telemetry/Logs
//!   API events (`platform.report`, …), and structured function logs such as Powertools' (v1
//!   `lambda_function_*` and v2 `function_*` keys).
//!
//! Any of them gzip-compressed (as CloudWatch Logs exports to S3 and Firehose deliveries come)
//! is read as the file it holds, a large file of JSON lines in pieces as it is inflated.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::Deserialize;
use serde_json::Value;

use crate::model::{Records, ResourceRows};
use crate::normalize::cloudwatch::normalize_subscription;
use crate::normalize::lambda_json::{LambdaJson, RawObject, classify, is_lambda_json};
use crate::normalize::otlp_json;
use crate::normalize::otlp_logs::normalize_logs;
use crate::normalize::otlp_trace::{normalize_trace_bytes, normalize_traces};
use crate::normalize::report_line::LambdaLogStream;
use crate::normalize::{NormalizeError, Normalized};

/// The formats `faasobs ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputFormat {
    OtlpTracesProtobuf,
    OtlpTracesJson,
    OtlpLogsProtobuf,
    OtlpLogsJson,
    CloudWatchSubscription,
    CloudWatchExport,
    LambdaText,
    LambdaJson,
    Powertools,
}

impl InputFormat {
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::OtlpTracesProtobuf => "OTLP traces (protobuf)",
            InputFormat::OtlpTracesJson => "OTLP traces (JSON)",
            InputFormat::OtlpLogsProtobuf => "OTLP logs (protobuf)",
            InputFormat::OtlpLogsJson => "OTLP logs (JSON)",
            InputFormat::CloudWatchSubscription => "CloudWatch Logs subscription",
            InputFormat::CloudWatchExport => "CloudWatch Logs export",
            InputFormat::LambdaText => "Lambda text log",
            InputFormat::LambdaJson => "Lambda JSON log / Telemetry API",
            InputFormat::Powertools => "Powertools JSON log",
        }
    }
}

/// A part of a file that could not be read, with its 1-based line (0 for the whole file).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub line: usize,
    pub reason: String,
}

/// What one input file yielded.
#[derive(Debug)]
pub struct FileIngest {
    pub format: InputFormat,
    pub records: Records,
    pub rejected: Vec<Rejection>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: NormalizeError,
    },
    #[error(
        "{path}: not a format faasobs reads (OTLP traces or logs as protobuf or JSON, CloudWatch Logs subscription or export JSON, Lambda text or JSON logs, Powertools JSON logs)"
    )]
    UnknownFormat { path: String },
}

/// Reads and normalizes one file. `function` names the function of a Lambda text log.
pub fn ingest_file(path: &Path, function: Option<&str>) -> Result<FileIngest, IngestError> {
    let bytes = std::fs::read(path).map_err(|source| IngestError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let (default_function, stream) = file_context(path, function);
    ingest_bytes(&bytes, default_function.as_deref(), stream)
        .map_err(|e| e.in_file(&path.display().to_string()))
}

/// The function a file's records belong to when they do not say (given, else the file's folder)
/// and its log stream (the file's name without extension).
fn file_context(path: &Path, function: Option<&str>) -> (Option<String>, Option<String>) {
    let default_function = function.map(String::from).or_else(|| {
        path.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    });
    // `STREAM.log.gz` is the stream `STREAM`, as `STREAM.log` is.
    let uncompressed = match path.extension() {
        Some(extension) if extension == "gz" => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    let stream = uncompressed
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    (default_function, stream)
}

impl IngestError {
    /// The error named by the file it came from (`ingest_bytes` knows no path).
    fn in_file(self, path: &str) -> IngestError {
        match self {
            IngestError::Invalid { source, .. } => IngestError::Invalid {
                path: path.to_string(),
                source,
            },
            IngestError::UnknownFormat { .. } => IngestError::UnknownFormat {
                path: path.to_string(),
            },
            other => other,
        }
    }
}

/// Files larger than this that hold one JSON object per line are read in pieces of whole lines
/// of about this size, so memory stays bounded whatever the file's size.
pub const CHUNK_BYTES: usize = 32 << 20;

/// Reads one file as a sequence of [`FileIngest`]s: a large file of one JSON object per line
/// (NDJSON: Lambda JSON and Powertools logs, OTLP JSON lines) in pieces of whole lines of about
/// `chunk_bytes`, with line numbers counted across pieces; any other file whole, as
/// [`ingest_file`] reads it.
pub fn ingest_file_in_chunks(
    path: &Path,
    function: Option<&str>,
    chunk_bytes: usize,
) -> Result<Box<dyn Iterator<Item = Result<FileIngest, IngestError>>>, IngestError> {
    Ok(Box::new(
        split_file(path, function, chunk_bytes)?.map(|piece| piece?.ingest()),
    ))
}

/// A part of an input file not normalized yet: a piece of whole lines of a large NDJSON file, or
/// a whole file. Pieces are independent of each other, so they can be normalized on several
/// threads at once ([`Self::ingest`]).
pub enum FilePiece {
    Lines {
        /// The file, for errors.
        name: String,
        lines: PieceBuffer,
        /// Lines of the file before this piece.
        lines_before: usize,
        default_function: Option<String>,
        stream: Option<String>,
        /// Inflated from a gzip file: the bytes are what the file holds, not the file's own.
        inflated: bool,
    },
    Whole {
        path: std::path::PathBuf,
        function: Option<String>,
    },
}

impl FilePiece {
    /// Normalizes the piece; rejected lines are numbered within the whole file.
    pub fn ingest(self) -> Result<FileIngest, IngestError> {
        match self {
            FilePiece::Whole { path, function } => ingest_file(&path, function.as_deref()),
            FilePiece::Lines {
                name,
                lines,
                lines_before,
                default_function,
                stream,
                inflated: _,
            } => ingest_bytes(&lines, default_function.as_deref(), stream)
                .map(|mut piece| {
                    for r in &mut piece.rejected {
                        if r.line > 0 {
                            r.line += lines_before;
                        }
                    }
                    piece
                })
                .map_err(|e| e.in_file(&name)),
        }
    }
}

/// Splits one file as [`ingest_file_in_chunks`] reads it, without normalizing: a large NDJSON
/// file into pieces of whole lines of about `chunk_bytes`, any other file as one whole piece.
pub fn split_file(
    path: &Path,
    function: Option<&str>,
    chunk_bytes: usize,
) -> Result<Box<dyn Iterator<Item = Result<FilePiece, IngestError>> + Send>, IngestError> {
    use std::io::{BufRead, BufReader};
    let read_error = |source| IngestError::Read {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    // A compressed file is read as what it holds, inflated as it is read; its size on disk
    // says little of that, so any that holds JSON lines is read in pieces.
    let mut file = BufReader::new(file);
    let compressed = file
        .fill_buf()
        .map_err(read_error)?
        .starts_with(&GZIP_MAGIC);
    let decoded: Box<dyn Read + Send> = if compressed {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::with_capacity(1 << 20, decoded);
    let mut first_line = String::new();
    let line_delimited = (compressed || size as usize > chunk_bytes)
        && reader.read_line(&mut first_line).is_ok()
        && first_line.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(&first_line).is_ok();
    if !line_delimited {
        return Ok(Box::new(std::iter::once(Ok(FilePiece::Whole {
            path: path.to_path_buf(),
            function: function.map(String::from),
        }))));
    }
    let (default_function, stream) = file_context(path, function);
    let name = path.display().to_string();
    // Room for a whole piece and its last line: grown by doubling, each piece was copied about
    // twice over.
    let piece_capacity = chunk_bytes + (64 << 10);
    let buffers = PieceBuffers::default();
    let mut pending = first_line.into_bytes();
    pending.reserve(piece_capacity);
    let mut lines_before = 0usize;
    let mut finished = false;
    Ok(Box::new(std::iter::from_fn(move || {
        if finished {
            return None;
        }
        // The piece is read straight into its buffer, a large read at a time, and ends after its
        // last whole line; the line cut short begins the next piece. Read a line at a time
        // (`read_until`), every byte was copied once more out of the reader's buffer and searched
        // for its line's end: a quarter of the splitting thread (`perf`, 1M log lines).
        let end = loop {
            let before = pending.len();
            let wanted = chunk_bytes.saturating_sub(before).max(chunk_bytes / 8 + 1);
            match reader
                .by_ref()
                .take(wanted as u64)
                .read_to_end(&mut pending)
            {
                Ok(read) if read < wanted => {
                    finished = true;
                    break pending.len();
                }
                Ok(_) => {}
                Err(source) => {
                    finished = true;
                    return Some(Err(IngestError::Read {
                        path: name.clone(),
                        source,
                    }));
                }
            }
            // Only what was just read can hold the last line's end: what came before it ended
            // in no newline, or is the first line, which is not cut short either way.
            if pending.len() >= chunk_bytes
                && let Some(newline) = memchr::memrchr(b'\n', &pending[before..])
            {
                break before + newline + 1;
            }
        };
        if pending.is_empty() {
            return None;
        }
        let mut next = buffers.take(piece_capacity);
        next.extend_from_slice(&pending[end..]);
        pending.truncate(end);
        let newlines = memchr::memchr_iter(b'\n', &pending).count();
        let lines = newlines + usize::from(!pending.ends_with(b"\n"));
        let piece = FilePiece::Lines {
            name: name.clone(),
            lines: buffers.hold(std::mem::replace(&mut pending, next)),
            lines_before,
            default_function: default_function.clone(),
            stream: stream.clone(),
            inflated: compressed,
        };
        lines_before += lines;
        Some(Ok(piece))
    })))
}

/// The buffers of a file's pieces, handed back when their pieces are dropped (once normalized)
/// for the pieces after them to be read into. A fresh buffer for every piece was fresh memory
/// from the allocator: reading the file into it, the kernel faulted in and cleared every page
/// first, which made reading a file four times as costly as reading it into a buffer used
/// before (most of the splitting thread in `perf`, 1M log lines).
#[derive(Default)]
struct PieceBuffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl PieceBuffers {
    /// An empty buffer of at least `capacity` bytes: one handed back if there is one.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let returned = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buffer = returned.unwrap_or_default();
        buffer.clear();
        buffer.reserve(capacity);
        buffer
    }

    /// `bytes` as a piece's buffer, handed back here when the piece is dropped.
    fn hold(&self, bytes: Vec<u8>) -> PieceBuffer {
        PieceBuffer {
            bytes,
            home: Arc::downgrade(&self.0),
        }
    }
}

/// The bytes of a piece of a file ([`FilePiece::Lines`]). Dropped, the buffer goes back to the
/// splitting of its file, if that is still going on, for a later piece.
pub struct PieceBuffer {
    bytes: Vec<u8>,
    home: Weak<Mutex<Vec<Vec<u8>>>>,
}

impl std::ops::Deref for PieceBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for PieceBuffer {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            let bytes = std::mem::take(&mut self.bytes);
            home.lock().unwrap_or_else(|e| e.into_inner()).push(bytes);
        }
    }
}

fn invalid(source: NormalizeError) -> IngestError {
    IngestError::Invalid {
        path: String::new(),
        source,
    }
}

/// Detects the format of `bytes` and normalizes them; gzip-compressed bytes are read as what
/// they hold. `function` names the function of a log that does not name it itself; `stream` is
/// the log stream (execution environment) it came from.
pub fn ingest_bytes(
    bytes: &[u8],
    function: Option<&str>,
    stream: Option<String>,
) -> Result<FileIngest, IngestError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        // One layer: what a gzip file holds is read as it is, not inflated again.
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut inflated)
            .map_err(|e| {
                invalid(NormalizeError::Format {
                    what: "gzip",
                    why: e.to_string(),
                })
            })?;
        return ingest_uncompressed(&inflated, function, stream);
    }
    ingest_uncompressed(bytes, function, stream)
}

/// [`ingest_bytes`] of bytes that are not compressed.
fn ingest_uncompressed(
    bytes: &[u8],
    function: Option<&str>,
    stream: Option<String>,
) -> Result<FileIngest, IngestError> {
    let text = std::str::from_utf8(bytes).ok();
    let trimmed = text.map(str::trim_start).unwrap_or("");
    if let Some(text) = text
        && (trimmed.starts_with('{') || trimmed.starts_with('['))
    {
        // Read from the file's first byte, blank lines before the JSON included, so that the
        // lines of rejections and errors are the file's.
        if let Some(found) = json_input(text, function, stream.clone())? {
            return Ok(found);
        }
        if let Some(why) = why_no_json_reads(text) {
            return Err(invalid(NormalizeError::Format { what: "JSON", why }));
        }
        return Err(unknown());
    }
    if let Some(text) = text
        && looks_like_lambda_text(text)
    {
        return Ok(lambda_text(text, function, stream));
    }
    let trace_error = match normalize_trace_bytes(bytes, ResourceRows::default()) {
        Ok(normalized) if !normalized.records.is_empty() || normalized.rejected > 0 => {
            return Ok(from_normalized(InputFormat::OtlpTracesProtobuf, normalized));
        }
        Ok(_) => None,
        Err(e) => Some(e),
    };
    if let Ok(request) = ExportLogsServiceRequest::decode(bytes)
        && !request.resource_logs.is_empty()
    {
        return Ok(from_normalized(
            InputFormat::OtlpLogsProtobuf,
            normalize_logs(request),
        ));
    }
    // Binary that begins as an OTLP request does (field 1, its resource spans or logs) but does
    // not decode, a truncated export say: why it does not decode is the error to show.
    if text.is_none()
        && bytes.first() == Some(&OTLP_REQUEST_FIRST_TAG)
        && let Some(e) = trace_error
    {
        return Err(invalid(e));
    }
    Err(unknown())
}

/// The first bytes of a gzip stream (RFC 1952): CloudWatch Logs exports to S3 and Firehose
/// deliveries come compressed so, and are read as the files inside.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The first byte of an encoded OTLP export request: field 1 (`resource_spans` of a trace
/// request, `resource_logs` of a logs request), length-delimited.
const OTLP_REQUEST_FIRST_TAG: u8 = (1 << 3) | 2;

fn unknown() -> IngestError {
    IngestError::UnknownFormat {
        path: String::new(),
    }
}

/// The records of one request that could not be read, reported on `line` (0: the whole file).
fn rejection_of(line: usize, normalized: &Normalized) -> Option<Rejection> {
    (normalized.rejected > 0).then(|| Rejection {
        line,
        reason: format!(
            "{} records rejected, the first because {}",
            normalized.rejected,
            normalized.first_error.as_deref().unwrap_or_default()
        ),
    })
}

/// A whole-request result: records that could not be read are reported on line 0 (the file).
fn from_normalized(format: InputFormat, normalized: Normalized) -> FileIngest {
    FileIngest {
        format,
        rejected: rejection_of(0, &normalized).into_iter().collect(),
        records: normalized.records,
    }
}

fn json_input(
    text: &str,
    function: Option<&str>,
    stream: Option<String>,
) -> Result<Option<FileIngest>, IngestError> {
    let start = text.trim_start();
    let head = &start[..start.floor_char_boundary(4096)];
    if start.starts_with('{') {
        // Field names in lowerCamelCase, or as the .proto files write them (`otlp_json`).
        if head.contains("\"resourceSpans\"") || head.contains("\"resource_spans\"") {
            return otlp_json(text, InputFormat::OtlpTracesJson, |line| {
                normalize_traces(
                    otlp_json::from_str::<ExportTraceServiceRequest>(line)?,
                    ResourceRows::default(),
                )
            })
            .map(Some);
        }
        if head.contains("\"resourceLogs\"") || head.contains("\"resource_logs\"") {
            return otlp_json(text, InputFormat::OtlpLogsJson, |line| {
                let request: ExportLogsServiceRequest = otlp_json::from_str(line)?;
                Ok(normalize_logs(request))
            })
            .map(Some);
        }
        if head.contains("\"awslogs\"") || head.contains("\"logEvents\"") {
            return Ok(Some(FileIngest {
                format: InputFormat::CloudWatchSubscription,
                records: normalize_subscription(text.as_bytes()).map_err(invalid)?,
                rejected: Vec::new(),
            }));
        }
        if head.contains("\"events\"")
            && let Ok(export) = serde_json::from_str::<CloudWatchExport>(text)
        {
            return Ok(Some(cloudwatch_export(export, function, stream)));
        }
    }
    // Lambda JSON records: one JSON array, or one object per line (kept with its text).
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(lambda_json(
            items
                .into_iter()
                .map(|v| (0, Ok(JsonRecord::Value(v)), None)),
            function,
            stream,
        )),
        Ok(one @ Value::Object(_)) => Ok(lambda_json(
            std::iter::once((1, Ok(JsonRecord::Value(one)), Some(text))),
            function,
            stream,
        )),
        Ok(_) => Ok(None),
        // One record per line, each parsed and read before the next: the lines of a large piece
        // are never all held parsed at once. An object line is read from its text.
        Err(_) => Ok(lambda_json(
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (i + 1, JsonRecord::parse(l), Some(l))),
            function,
            stream,
        )),
    }
}

/// One record of a Lambda JSON file: a parsed value (of an array, or a file of one object), or
/// an object whose members are still in its line (the second field).
enum JsonRecord<'a> {
    Value(Value),
    Object(RawObject<'a>, &'a str),
}

impl<'a> JsonRecord<'a> {
    /// Reads a line as an object left in its text; anything else is parsed as a value, which
    /// also words the error of a line that is not JSON.
    fn parse(line: &'a str) -> Result<JsonRecord<'a>, String> {
        match RawObject::parse(line) {
            Ok(object) => Ok(JsonRecord::Object(object, line)),
            Err(_) => serde_json::from_str::<Value>(line)
                .map(JsonRecord::Value)
                .map_err(|e| format!("invalid JSON: {e}")),
        }
    }

    /// The record as a parsed value.
    fn into_value(self) -> Value {
        match self {
            JsonRecord::Value(value) => value,
            JsonRecord::Object(object, _) => Value::Object(object.into_map()),
        }
    }
}

/// Lambda JSON records, each with its 1-based line (0 inside an array) and its text when it had
/// a line of its own; `None` when the first record that parses is not Lambda JSON.
fn lambda_json<'a>(
    mut values: impl Iterator<Item = (usize, Result<JsonRecord<'a>, String>, Option<&'a str>)>,
    function: Option<&str>,
    stream: Option<String>,
) -> Option<FileIngest> {
    let mut rejected = Vec::new();
    // Records before the first that parses can only be rejected; that one names the format.
    let (line, first, text) = loop {
        match values.next()? {
            (line, Ok(record), text) => break (line, record.into_value(), text),
            (line, Err(reason), _) => rejected.push(Rejection { line, reason }),
        }
    };
    if !is_lambda_json(&first) {
        return None;
    }
    let format = match classify(&first) {
        Some(LambdaJson::Log(log)) if log.context.is_some() => InputFormat::Powertools,
        _ => InputFormat::LambdaJson,
    };
    let mut reader = LambdaLogStream::new(function, stream);
    let first = (line, Ok(JsonRecord::Value(first)), text);
    for (line, record, text) in std::iter::once(first).chain(values) {
        let pushed = match record {
            Ok(JsonRecord::Object(object, text)) => {
                reader.push_object_read_from(None, object, text)
            }
            Ok(JsonRecord::Value(value)) if value.is_object() => match text {
                Some(text) => reader.push_value_read_from(None, value, text),
                None => reader.push_value(None, value),
            },
            Ok(JsonRecord::Value(_)) => {
                let reason = "not a JSON object".into();
                rejected.push(Rejection { line, reason });
                continue;
            }
            Err(reason) => {
                rejected.push(Rejection { line, reason });
                continue;
            }
        };
        if !pushed {
            let reason = "no time on this record or any record before it".into();
            rejected.push(Rejection { line, reason });
        }
    }
    Some(FileIngest {
        format,
        records: reader.finish(),
        rejected,
    })
}

fn otlp_json(
    text: &str,
    format: InputFormat,
    parse: impl Fn(&str) -> Result<Normalized, NormalizeError>,
) -> Result<FileIngest, IngestError> {
    // One request per file, or one per line.
    let whole_file_error = match parse(text) {
        Ok(normalized) => return Ok(from_normalized(format, normalized)),
        Err(e) => e,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    // A first line that ends inside its JSON value means the file is one request written over
    // several lines (pretty-printed): where that request breaks is the error to show, and its
    // lines are no requests of their own.
    let first_line_ends_early = lines.peek().is_some_and(
        |(_, first)| matches!(parse(first), Err(NormalizeError::Json(json)) if json.is_eof()),
    );
    if first_line_ends_early {
        return Err(invalid(NormalizeError::Format {
            what: "OTLP JSON",
            // "invalid OTLP JSON: EOF while …", not "invalid OTLP JSON: invalid JSON: EOF while …".
            why: match whole_file_error {
                NormalizeError::Json(json) => json.to_string(),
                other => other.to_string(),
            },
        }));
    }
    let mut records = Records::default();
    let mut rejected = Vec::new();
    let mut any = false;
    for (i, line) in lines {
        match parse(line) {
            Ok(normalized) => {
                any = true;
                rejected.extend(rejection_of(i + 1, &normalized));
                records.append(normalized.records);
            }
            Err(e) => rejected.push(Rejection {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    if !any {
        return Err(invalid(NormalizeError::Format {
            what: "OTLP JSON",
            why: why_no_line_reads(&rejected),
        }));
    }
    Ok(FileIngest {
        format,
        records,
        rejected,
    })
}

/// Why a JSON-looking file (it begins with `{` or `[`) is not a format faasobs reads, when the
/// reason is that it is not JSON at all: neither the whole file nor any of its lines parses.
/// `None` when some of it is JSON (of another shape).
fn why_no_json_reads(text: &str) -> Option<String> {
    let whole_file_error = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    let mut rejected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde::de::IgnoredAny>(line) {
            Ok(_) => return None,
            // The first line ends inside its value: the file is one value written over several
            // lines, and where that value breaks is the reason.
            Err(e) if e.is_eof() && rejected.is_empty() => {
                return Some(whole_file_error.to_string());
            }
            Err(e) => rejected.push(Rejection {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    Some(why_no_line_reads(&rejected))
}

/// The reason a file of one record per line is refused when none of its lines could be read:
/// its first bad line, and how many more there are.
fn why_no_line_reads(rejected: &[Rejection]) -> String {
    match rejected {
        [] => "empty".to_string(),
        [only] => only.reason.clone(),
        [first, rest @ ..] => format!(
            "line {}: {} (and {} more {})",
            first.line,
            first.reason,
            rest.len(),
            if rest.len() == 1 { "line" } else { "lines" }
        ),
    }
}

/// The output of `aws logs filter-log-events` or `get-log-events`.
#[derive(Deserialize)]
struct CloudWatchExport {
    events: Vec<ExportedEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportedEvent {
    #[serde(default)]
    log_stream_name: Option<String>,
    timestamp: i64,
    message: String,
}

fn cloudwatch_export(
    export: CloudWatchExport,
    function: Option<&str>,
    stream: Option<String>,
) -> FileIngest {
    // Events of several streams may interleave: read each stream on its own, in order.
    let mut streams: std::collections::BTreeMap<Option<String>, LambdaLogStream> =
        Default::default();
    for event in &export.events {
        let name = event.log_stream_name.clone().or(stream.clone());
        streams
            .entry(name.clone())
            .or_insert_with(|| LambdaLogStream::new(function, name))
            .push(
                Some(event.timestamp.saturating_mul(1_000_000)),
                &event.message,
            );
    }
    let mut records = Records::default();
    for reader in streams.into_values() {
        records.append(reader.finish());
    }
    FileIngest {
        format: InputFormat::CloudWatchExport,
        records,
        rejected: Vec::new(),
    }
}

fn looks_like_lambda_text(text: &str) -> bool {
    text.lines().take(50).any(|l| {
        let (_, rest) = crate::normalize::report_line::split_timestamp(l);
        [
            "START RequestId:",
            "END RequestId:",
            "REPORT RequestId:",
            "INIT_START ",
            "INIT_REPORT ",
        ]
        .iter()
        .any(|p| rest.trim_start().starts_with(p))
    })
}

fn lambda_text(text: &str, function: Option<&str>, stream: Option<String>) -> FileIngest {
    let mut reader = LambdaLogStream::new(function, stream);
    let mut rejected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if !reader.push(None, line) {
            rejected.push(Rejection {
                line: i + 1,
                reason: "no timestamp on this line or any line before it".into(),
            });
        }
    }
    FileIngest {
        format: InputFormat::LambdaText,
        records: reader.finish(),
        rejected,
    }
}

/// Hostile input: whatever the bytes, the parsers answer with records or an error, never a panic.
#[cfg(test)]
mod hostile_input {
    use super::*;
    use base64::Engine;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use proptest::prelude::*;
    use std::io::Write;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    /// Valid OTLP traces and logs requests (protobuf) with every attribute shape the normalizers
    /// read, for mutation.
    fn valid_otlp_protobuf() -> [Vec<u8>; 2] {
        use any_value::Value as V;
        let resource = Resource {
            attributes: vec![
                kv("faas.name", V::StringValue("f".into())),
                kv("cloud.region", V::StringValue("us-east-1".into())),
                kv("faas.max_memory", V::IntValue(268_435_456)),
                kv("host.arch", V::StringValue("arm64".into())),
            ],
            ..Default::default()
        };
        let attributes = vec![
            kv("faas.invocation_id", V::StringValue("r-1".into())),
            kv("faas.coldstart", V::BoolValue(true)),
            kv("ratio", V::DoubleValue(0.5)),
            kv(
                "list",
                V::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(V::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "map",
                V::KvlistValue(KeyValueList {
                    values: vec![kv("k", V::BytesValue(vec![1, 2]))],
                }),
            ),
        ];
        let traces = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "handler".into(),
                        kind: 2,
                        start_time_unix_nano: 1_795_424_400_000_000_000,
                        end_time_unix_nano: 1_795_424_400_100_000_000,
                        attributes: attributes.clone(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_795_424_400_000_000_000,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(V::StringValue(
                                "REPORT RequestId: r-1\tDuration: 1.5 ms\tBilled Duration: 2 ms\t"
                                    .into(),
                            )),
                        }),
                        attributes,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        [traces.encode_to_vec(), logs.encode_to_vec()]
    }

    /// JSON built from the keys of OTLP/JSON, so random documents reach the OTLP/JSON paths.
    fn otlp_json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[0-9a-f]{0,34}".prop_map(serde_json::Value::from),
            "-?[0-9]{1,22}".prop_map(serde_json::Value::from),
        ];
        let key = prop_oneof![
            Just("resource"),
            Just("attributes"),
            Just("key"),
            Just("value"),
            Just("stringValue"),
            Just("intValue"),
            Just("doubleValue"),
            Just("boolValue"),
            Just("bytesValue"),
            Just("arrayValue"),
            Just("kvlistValue"),
            Just("values"),
            Just("scopeSpans"),
            Just("spans"),
            Just("traceId"),
            Just("spanId"),
            Just("parentSpanId"),
            Just("name"),
            Just("kind"),
            Just("startTimeUnixNano"),
            Just("endTimeUnixNano"),
            Just("status"),
            Just("events"),
            Just("scopeLogs"),
            Just("logRecords"),
            Just("timeUnixNano"),
            Just("body"),
            Just("severityText"),
        ];
        leaf.prop_recursive(5, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| {
                    serde_json::Value::Object(
                        kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    )
                }),
            ]
        })
    }

    /// Lines built from the pieces the Lambda parsers look for, so they reach deep paths.
    fn lambda_line() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("START RequestId: ".to_string()),
            Just("REPORT RequestId: ".to_string()),
            Just("END RequestId: ".to_string()),
            Just("INIT_START Runtime Version: ".to_string()),
            Just("INIT_REPORT Init Duration: ".to_string()),
            Just("Duration: ".to_string()),
            Just("Billed Duration: ".to_string()),
            Just("Init Duration: ".to_string()),
            Just("Memory Size: ".to_string()),
            Just("Status: ".to_string()),
            Just("XRAY TraceId: 1-".to_string()),
            Just("Task timed out after ".to_string()),
            Just("2026-11-23T09:00:00.000Z ".to_string()),
            Just("11111111-2222-3333-4444-555555555555".to_string()),
            Just("{\"type\":\"platform.report\",\"record\":".to_string()),
            Just("\\t".to_string()),
            Just("\\\\n".to_string()),
            "[ -~\t\u{e9}\u{1F600}]{0,12}",
            "-?[0-9]{1,25}(\\.[0-9]{0,4})?",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-z_.]{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("platform.report")),
            Just(serde_json::Value::from("2026-11-23T09:00:00Z")),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("type".to_string()),
                            Just("record".to_string()),
                            Just("time".to_string()),
                            Just("requestId".to_string()),
                            Just("metrics".to_string()),
                            Just("durationMs".to_string()),
                            Just("function_request_id".to_string()),
                            Just("function_name".to_string()),
                            Just("cold_start".to_string()),
                            Just("timestamp".to_string()),
                            "[a-z]{1,6}",
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ingest_bytes(&bytes, Some("f"), None);
        }

        #[test]
        fn any_lambda_log_lines_are_read(lines in proptest::collection::vec(lambda_line(), 0..16)) {
            let text = lines.join("\n");
            let _ = ingest_bytes(text.as_bytes(), Some("f"), Some("s".into()));
            let mut stream = LambdaLogStream::new(None, None);
            for line in &lines {
                stream.push(Some(1), line);
            }
            let records = stream.finish();
            for invocation in &records.invocations {
                prop_assert!(!invocation.request_id.is_empty());
            }
            for batch in &records.invocation_batches {
                for invocation in crate::model::invocation::from_batch(batch).unwrap() {
                    prop_assert!(!invocation.request_id.is_empty());
                }
            }
        }

        #[test]
        fn any_json_records_are_read(values in proptest::collection::vec(json_value(), 0..8)) {
            let mut stream = LambdaLogStream::new(Some("f"), None);
            for value in &values {
                stream.push_value(None, value.clone());
            }
            stream.finish();
            let array = serde_json::Value::Array(values).to_string();
            let _ = ingest_bytes(array.as_bytes(), None, None);
            let _ = crate::normalize::cloudwatch::normalize_subscription(array.as_bytes());
        }

        #[test]
        fn mutated_otlp_protobuf_is_read_or_refused(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            for valid in valid_otlp_protobuf() {
                let mut bytes = valid.clone();
                for (at, value) in &edits {
                    let n = bytes.len();
                    bytes[at % n] = *value;
                }
                bytes.truncate(cut % (valid.len() + 1));
                let _ = ingest_bytes(&bytes, None, None);
                if let Ok(request) = ExportTraceServiceRequest::decode(&bytes[..]) {
                    let _ = normalize_traces(request, ResourceRows::default());
                }
                if let Ok(request) = ExportLogsServiceRequest::decode(&bytes[..]) {
                    let _ = normalize_logs(request);
                }
            }
        }

        #[test]
        fn any_otlp_json_is_read_or_refused(inner in otlp_json_value()) {
            for wrapper in ["resourceSpans", "resourceLogs"] {
                let document = serde_json::json!({ wrapper: [inner.clone()] }).to_string();
                let _ = ingest_bytes(document.as_bytes(), None, None);
            }
            let _ = ingest_bytes(inner.to_string().as_bytes(), None, None);
        }

        #[test]
        fn any_cloudwatch_envelope_is_read_or_refused(
            events in proptest::collection::vec(json_value(), 0..4),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let payload = serde_json::json!({
                "messageType": "DATA_MESSAGE", "owner": "123456789012",
                "logGroup": "/aws/lambda/f", "logStream": "2026/11/23/[$LATEST]abc",
                "logEvents": events,
            })
            .to_string();
            for inside in [payload.as_bytes(), &garbage[..]] {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(inside).unwrap();
                let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
                let envelope = serde_json::json!({ "awslogs": { "data": data } }).to_string();
                let _ = ingest_bytes(envelope.as_bytes(), None, None);
                let _ = normalize_subscription(inside);
            }
        }

        #[test]
        fn any_spans_are_kept_or_counted_as_rejected(
            spans in proptest::collection::vec(
                (0usize..20, 0usize..10, any::<u64>(), any::<u64>()), 0..20)
        ) {
            let total = spans.len();
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: spans
                            .into_iter()
                            .map(|(t, s, start, end)| Span {
                                trace_id: vec![1; t],
                                span_id: vec![2; s],
                                start_time_unix_nano: start,
                                end_time_unix_nano: end,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            let normalized = normalize_traces(request, ResourceRows::default()).unwrap();
            prop_assert_eq!(normalized.records.span_count() + normalized.rejected as usize, total);
        }
    }

    /// OTLP JSON files whose field names are those of the .proto files (snake_case, as protobuf's
    /// printers keep them) are read as OTLP, as the receivers read them.
    #[test]
    fn otlp_json_files_in_snake_case_are_read_as_otlp() {
        let traces = r#"{"resource_spans":[{"resource":{"attributes":[{"key":"faas.name",
            "value":{"string_value":"snake-fn"}}]},"scope_spans":[{"spans":[{
            "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
            "name":"handler","kind":"SPAN_KIND_SERVER","start_time_unix_nano":"1795428000000000000",
            "end_time_unix_nano":"1795428000030000000"}]}]}]}"#;
        let read = ingest_bytes(traces.as_bytes(), None, None).unwrap();
        assert_eq!(read.format, InputFormat::OtlpTracesJson);
        assert_eq!(read.records.span_count(), 1);
        let logs = r#"{"resource_logs":[{"scope_logs":[{"log_records":[{
            "time_unix_nano":"1795428000000000000","severity_number":9,
            "body":{"string_value":"hello"}}]}]}]}"#;
        let read = ingest_bytes(logs.as_bytes(), Some("snake-fn"), None).unwrap();
        assert_eq!(read.format, InputFormat::OtlpLogsJson);
        assert_eq!(read.records.log_count(), 1);
    }

    /// Input that is JSON or OTLP protobuf but does not parse is refused with where it breaks, not
    /// as a format faasobs does not read. A pretty-printed request is not read line by line, and
    /// a file of one request per line, none of which parses, is refused by its first line.
    #[test]
    fn unreadable_otlp_json_says_where_it_breaks() {
        let refusal = |bytes: &[u8]| ingest_bytes(bytes, None, None).unwrap_err().to_string();
        let pretty = "{\n  \"resourceSpans\": [\n    {\"scopeSpans\": 7}\n  ]\n}\n";
        let error = refusal(pretty.as_bytes());
        assert!(
            error.contains("invalid type: integer `7`") && error.contains("line 3"),
            "{error}"
        );
        assert!(!error.contains("EOF"), "{error}");
        let lines = "{\"resourceSpans\": 1}\n{\"resourceSpans\": 2}\n";
        let error = refusal(lines.as_bytes());
        assert!(
            error.contains("line 1: ") && error.contains("(and 1 more line)"),
            "{error}"
        );
        // Not JSON at all: said so, with where, rather than "not a format faasobs reads".
        let error = refusal(b"{\"level\": \"INFO\", \"message");
        assert!(
            error.contains("invalid JSON: EOF while parsing a string at line 1 column 26"),
            "{error}"
        );
        let error = refusal(b"[1,\n 2,\n x]\n");
        assert!(
            error.contains("expected value at line 3 column 2"),
            "{error}"
        );
        // A truncated OTLP protobuf export: why it does not decode.
        for valid in valid_otlp_protobuf() {
            let error = refusal(&valid[..valid.len() / 2]);
            assert!(error.contains("invalid protobuf"), "{error}");
        }
    }
}

#[cfg(test)]
mod chunked {
    use super::*;

    fn powertools_line(i: usize) -> String {
        serde_json::json!({
            "level": "INFO",
            "message": format!("step {i}"),
            "timestamp": format!("2026-11-23T09:00:{:02}.{:03}Z", (i / 1000) % 60, i % 1000),
            "function_name": "checkout",
            "function_request_id": format!("r-{}", i / 4),
        })
        .to_string()
    }

    #[test]
    fn a_large_ndjson_file_read_in_pieces_gives_what_reading_it_whole_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.ndjson");
        let mut text = String::new();
        for i in 0..2000 {
            if i == 1500 {
                text.push_str("{not json\n");
            }
            text.push_str(&powertools_line(i));
            text.push('\n');
        }
        std::fs::write(&path, &text).unwrap();
        let whole = ingest_file(&path, None).unwrap();
        let pieces: Vec<FileIngest> = ingest_file_in_chunks(&path, None, 4096)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        let logs_of = |records: Vec<&Records>| {
            let batches: Vec<_> = records
                .iter()
                .flat_map(|r| r.to_batches())
                .filter(|(table, _)| *table == crate::model::Table::Logs)
                .map(|(_, batch)| batch)
                .collect();
            arrow::compute::concat_batches(&crate::model::log::schema(), &batches).unwrap()
        };
        let logs = logs_of(pieces.iter().map(|p| &p.records).collect());
        assert_eq!(logs.num_rows(), 2000);
        assert_eq!(logs, logs_of(vec![&whole.records]));
        let rejected: Vec<_> = pieces.iter().flat_map(|p| &p.rejected).collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line, 1501);
        assert_eq!(rejected[0], &whole.rejected[0]);
        assert!(pieces.iter().all(|p| p.format == InputFormat::Powertools));

        // The same lines gzip-compressed, however small the file on disk: read in pieces as they
        // are inflated, to the same rows and rejections.
        let compressed = dir.path().join("logs.ndjson.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&compressed).unwrap(),
            flate2::Compression::default(),
        );
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        gz.finish().unwrap();
        let pieces_inflated = |path: &Path| {
            split_file(path, None, 4096)
                .unwrap()
                .map(|piece| matches!(piece, Ok(FilePiece::Lines { inflated: true, .. })))
                .collect::<Vec<_>>()
        };
        assert!(
            pieces_inflated(&compressed)
                .iter()
                .all(|&inflated| inflated)
        );
        assert!(!pieces_inflated(&path).iter().any(|&inflated| inflated));
        let inflated: Vec<FileIngest> = ingest_file_in_chunks(&compressed, None, 4096)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(inflated.len() > 10, "{} pieces", inflated.len());
        assert_eq!(logs_of(inflated.iter().map(|p| &p.records).collect()), logs);
        let rejected: Vec<_> = inflated.iter().flat_map(|p| &p.rejected).collect();
        assert_eq!(rejected, [&whole.rejected[0]]);
        // Read whole, and cut short.
        assert_eq!(
            ingest_file(&compressed, None).unwrap().records.log_count(),
            2000
        );
        let bytes = std::fs::read(&compressed).unwrap();
        let error = ingest_bytes(&bytes[..bytes.len() / 2], None, None).unwrap_err();
        assert!(error.to_string().contains("invalid gzip"), "{error}");
    }

    /// A line longer than a piece makes its piece longer, not cut; a last line without a newline
    /// is read; rejected lines after both keep their numbers.
    #[test]
    fn pieces_end_at_whole_lines_however_long_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.ndjson");
        let mut text = String::new();
        for i in 0..300 {
            let mut line: serde_json::Value = serde_json::from_str(&powertools_line(i)).unwrap();
            if i % 100 == 7 {
                line["message"] = "x".repeat(10_000).into();
            }
            text.push_str(&line.to_string());
            text.push('\n');
            if i == 250 {
                text.push_str("{not json\n");
            }
        }
        text.push_str(&powertools_line(300));
        std::fs::write(&path, &text).unwrap();
        let pieces: Vec<FileIngest> = ingest_file_in_chunks(&path, None, 4096)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        assert_eq!(
            pieces.iter().map(|p| p.records.log_count()).sum::<usize>(),
            301
        );
        let rejected: Vec<usize> = pieces
            .iter()
            .flat_map(|p| &p.rejected)
            .map(|r| r.line)
            .collect();
        assert_eq!(rejected, [252]);
    }

    /// A piece's buffer is read into again once the piece is dropped, and only then: a piece
    /// still held keeps its bytes.
    #[test]
    fn a_dropped_piece_buffer_is_read_into_again_and_a_held_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.ndjson");
        let text: String = (0..200).map(|i| powertools_line(i) + "\n").collect();
        std::fs::write(&path, &text).unwrap();
        let bytes_of = |piece: &FilePiece| match piece {
            FilePiece::Lines { lines, .. } => lines.to_vec(),
            FilePiece::Whole { .. } => panic!("a whole piece"),
        };
        let address_of = |piece: &FilePiece| match piece {
            FilePiece::Lines { lines, .. } => lines.as_ptr(),
            FilePiece::Whole { .. } => panic!("a whole piece"),
        };
        let mut pieces = split_file(&path, None, 4096).unwrap().map(Result::unwrap);
        let held = pieces.next().unwrap();
        let held_bytes = bytes_of(&held);
        let mut read = held_bytes.clone();
        let dropped = pieces.next().unwrap();
        let dropped_at = address_of(&dropped);
        read.extend(bytes_of(&dropped));
        drop(dropped);
        // Were the buffer freed, this allocation of its size would most likely take its place.
        let same_size = Vec::<u8>::with_capacity(4096 + (64 << 10));
        let mut addresses = Vec::new();
        for piece in pieces {
            addresses.push(address_of(&piece));
            read.extend(bytes_of(&piece));
        }
        assert!(addresses.contains(&dropped_at));
        assert!(!addresses.contains(&address_of(&held)));
        assert_eq!(bytes_of(&held), held_bytes);
        assert_eq!(String::from_utf8(read).unwrap(), text);
        drop(same_size);
    }

    /// Lines are read one after another: lines before the first that parses are rejected with
    /// their numbers in the file (blank lines at its start counted), the first that parses names
    /// the format, and JSON that is not Lambda's is not taken for it.
    #[test]
    fn ndjson_lines_before_the_first_record_are_rejected_by_number() {
        let text = format!(
            "\n \n{{not json\n\n[1,\n{}\n{}\n",
            powertools_line(0),
            powertools_line(1)
        );
        let read = ingest_bytes(text.as_bytes(), None, None).unwrap();
        assert_eq!(read.format, InputFormat::Powertools);
        assert_eq!(read.records.log_count(), 2);
        let lines: Vec<usize> = read.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 5]);
        assert!(read.rejected[0].reason.starts_with("invalid JSON"));
        let other = "{\"a\": 1}\n{\"b\": 2}\n";
        assert!(matches!(
            ingest_bytes(other.as_bytes(), None, None),
            Err(IngestError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn small_files_and_other_formats_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.ndjson");
        std::fs::write(&path, powertools_line(1) + "\n").unwrap();
        assert_eq!(ingest_file_in_chunks(&path, None, 4096).unwrap().count(), 1);
        let text = dir.path().join("f/stream.log");
        std::fs::create_dir_all(text.parent().unwrap()).unwrap();
        let line = "2026-11-23T09:00:00.000Z START RequestId: r-1 Version: $LATEST\n";
        std::fs::write(&text, line.repeat(200)).unwrap();
        assert_eq!(ingest_file_in_chunks(&text, None, 1024).unwrap().count(), 1);
    }
}
