//! Normalization: every supported input format becomes typed [`Records`](crate::model::Records).
//!
//! One module per input: [`otlp_trace`] for OTLP spans (their requests read in place by
//! [`otlp_wire`], or from JSON by [`otlp_json`]), [`otlp_logs`] for OTLP log records,
//! [`report_line`] for Lambda's text log format (and the stream reader that all Lambda logs go
//! through), [`lambda_json`] for the Telemetry API, the JSON log format and Powertools logs,
//! [`cloudwatch`] for CloudWatch Logs subscription payloads. Every function here is pure: bytes
//! or values in, records (and the records that were rejected, with why) out.

pub mod cloudwatch;
pub mod lambda_json;
pub mod otlp_common;
pub mod otlp_json;
pub mod otlp_logs;
pub mod otlp_trace;
pub mod otlp_wire;
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
    #[error("invalid protobuf: {0}")]
    Wire(#[from] otlp_wire::WireError),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid {what}: {why}")]
    Format { what: &'static str, why: String },
}

/// Records normalized from one request, and how many of its records were rejected.
///
/// One bad record (a trace id of the wrong width, say) does not reject the good ones beside it:
/// OTLP answers with a partial success that carries `rejected` and the first error.
#[derive(Debug, Default)]
pub struct Normalized {
    pub records: crate::model::Records,
    pub rejected: u64,
    pub first_error: Option<String>,
}

impl Normalized {
    /// Counts one rejected record, keeping the first reason.
    pub fn reject(&mut self, error: NormalizeError) {
        self.rejected += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }
}
