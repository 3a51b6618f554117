//! Offline import: reading input files, detecting each one's format, and normalizing it.
//!
//! Formats recognized, by content (not by file name):
//! - OTLP trace export requests as protobuf (`ExportTraceServiceRequest`), or as OTLP JSON: one
//!   request per file, or one per line (as the OpenTelemetry Collector's file exporter writes);
//! - CloudWatch Logs subscription payloads, decoded or in the `{"awslogs":{"data":…}}` envelope;
//! - Lambda text logs: `START`/`END`/`REPORT`/`INIT_START` and function log lines, each starting
//!   with an RFC 3339 timestamp, as CloudWatch exports them. A text file is one log stream: the
//!   function is named by the file's folder (`…/FUNCTION/STREAM.log`) unless given explicitly.

use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::model::Records;
use crate::normalize::NormalizeError;
use crate::normalize::cloudwatch::normalize_subscription;
use crate::normalize::otlp_trace::normalize_traces;
use crate::normalize::report_line::LambdaLogStream;

/// The formats `faasobs ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputFormat {
    OtlpTracesProtobuf,
    OtlpTracesJson,
    CloudWatchSubscription,
    LambdaText,
}

impl InputFormat {
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::OtlpTracesProtobuf => "OTLP traces (protobuf)",
            InputFormat::OtlpTracesJson => "OTLP traces (JSON)",
            InputFormat::CloudWatchSubscription => "CloudWatch Logs subscription",
            InputFormat::LambdaText => "Lambda text log",
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
        "{path}: not a format faasobs reads (OTLP traces as protobuf or JSON, CloudWatch Logs subscription JSON, or Lambda text logs)"
    )]
    UnknownFormat { path: String },
}

/// Reads and normalizes one file. `function` names the function of a Lambda text log.
pub fn ingest_file(path: &Path, function: Option<&str>) -> Result<FileIngest, IngestError> {
    let bytes = std::fs::read(path).map_err(|source| IngestError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let default_function = function.map(String::from).or_else(|| {
        path.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    });
    let stream = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    ingest_bytes(&bytes, default_function.as_deref(), stream).map_err(|e| match e {
        IngestError::Invalid { source, .. } => IngestError::Invalid {
            path: path.display().to_string(),
            source,
        },
        IngestError::UnknownFormat { .. } => IngestError::UnknownFormat {
            path: path.display().to_string(),
        },
        other => other,
    })
}

fn invalid(source: NormalizeError) -> IngestError {
    IngestError::Invalid {
        path: String::new(),
        source,
    }
}

/// Detects the format of `bytes` and normalizes them.
pub fn ingest_bytes(
    bytes: &[u8],
    function: Option<&str>,
    stream: Option<String>,
) -> Result<FileIngest, IngestError> {
    let text = std::str::from_utf8(bytes).ok();
    let trimmed = text.map(str::trim_start).unwrap_or("");
    if trimmed.starts_with('{') {
        let head = &trimmed[..trimmed.len().min(4096)];
        if head.contains("\"resourceSpans\"") {
            return otlp_json_traces(trimmed);
        }
        if head.contains("\"awslogs\"") || head.contains("\"logEvents\"") {
            return Ok(FileIngest {
                format: InputFormat::CloudWatchSubscription,
                records: normalize_subscription(trimmed.as_bytes()).map_err(invalid)?,
                rejected: Vec::new(),
            });
        }
        return Err(IngestError::UnknownFormat {
            path: String::new(),
        });
    }
    if let Some(text) = text
        && looks_like_lambda_text(text)
    {
        return Ok(lambda_text(text, function, stream));
    }
    match ExportTraceServiceRequest::decode(bytes) {
        Ok(request) if !request.resource_spans.is_empty() => Ok(FileIngest {
            format: InputFormat::OtlpTracesProtobuf,
            records: normalize_traces(&request).map_err(invalid)?,
            rejected: Vec::new(),
        }),
        _ => Err(IngestError::UnknownFormat {
            path: String::new(),
        }),
    }
}

fn otlp_json_traces(text: &str) -> Result<FileIngest, IngestError> {
    // One request per file, or one per line.
    if let Ok(request) = serde_json::from_str::<ExportTraceServiceRequest>(text) {
        return Ok(FileIngest {
            format: InputFormat::OtlpTracesJson,
            records: normalize_traces(&request).map_err(invalid)?,
            rejected: Vec::new(),
        });
    }
    let mut records = Records::default();
    let mut rejected = Vec::new();
    let mut any = false;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed = serde_json::from_str::<ExportTraceServiceRequest>(line)
            .map_err(NormalizeError::from)
            .and_then(|r| normalize_traces(&r));
        match parsed {
            Ok(r) => {
                any = true;
                records.append(r);
            }
            Err(e) => rejected.push(Rejection {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    if !any {
        let reason = rejected
            .first()
            .map_or("empty".to_string(), |r| r.reason.clone());
        return Err(invalid(NormalizeError::Format {
            what: "OTLP JSON",
            why: reason,
        }));
    }
    Ok(FileIngest {
        format: InputFormat::OtlpTracesJson,
        records,
        rejected,
    })
}

fn looks_like_lambda_text(text: &str) -> bool {
    text.lines().take(50).any(|l| {
        let (_, rest) = crate::normalize::report_line::split_timestamp(l);
        [
            "START RequestId:",
            "END RequestId:",
            "REPORT RequestId:",
            "INIT_START ",
        ]
        .iter()
        .any(|p| rest.trim_start().starts_with(p))
    })
}

fn lambda_text(text: &str, function: Option<&str>, stream: Option<String>) -> FileIngest {
    let mut reader = LambdaLogStream::new(function.unwrap_or("unknown"), stream, None);
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
