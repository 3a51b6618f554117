//! Normalization: every supported input format becomes typed [`Records`](crate::model::Records).
//!
//! One module per input: [`otlp_trace`] for OTLP spans, [`report_line`] for Lambda's text log
//! format, [`cloudwatch`] for CloudWatch Logs subscription payloads. Every function here is pure:
//! bytes or values in, records or a [`NormalizeError`] naming what was wrong out.

pub mod cloudwatch;
pub mod otlp_common;
pub mod otlp_trace;
pub mod report_line;

/// Why an input could not be normalized.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("{field} must be {expected} bytes, found {found}")]
    InvalidId {
        field: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{field} is out of range: {value}")]
    OutOfRange { field: &'static str, value: String },
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid {what}: {why}")]
    Format { what: &'static str, why: String },
}
