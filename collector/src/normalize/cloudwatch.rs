//! CloudWatch Logs subscription payloads: `{"logGroup", "logStream", "logEvents": [...]}`, as
//! delivered decoded or inside the `{"awslogs": {"data": base64(gzip(payload))}}` envelope.

use std::io::Read;

use base64::Engine;
use serde::Deserialize;

use super::NormalizeError;
use super::report_line::{LambdaLogStream, function_of_log_group};
use crate::model::Records;

/// The decoded payload of a subscription delivery.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPayload {
    #[serde(default)]
    pub message_type: Option<String>,
    /// The AWS account the log data came from.
    #[serde(default)]
    pub owner: Option<String>,
    pub log_group: String,
    pub log_stream: String,
    #[serde(default)]
    pub log_events: Vec<LogEvent>,
}

/// One event of a subscription payload.
#[derive(Debug, Deserialize)]
pub struct LogEvent {
    #[serde(default)]
    pub id: Option<String>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
}

#[derive(Deserialize)]
struct Envelope {
    awslogs: EnvelopeData,
}

#[derive(Deserialize)]
struct EnvelopeData {
    data: String,
}

/// Decodes the `awslogs` envelope (base64 of gzip) into the payload's JSON bytes.
pub fn open_envelope(json: &[u8]) -> Result<Option<Vec<u8>>, NormalizeError> {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(json) else {
        return Ok(None);
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(envelope.awslogs.data.trim())
        .map_err(|e| NormalizeError::Format {
            what: "awslogs envelope",
            why: format!("data is not base64: {e}"),
        })?;
    let mut out = Vec::new();
    // A subscription payload is at most 1 MB; refuse anything that inflates far beyond that.
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(64 * 1024 * 1024)
        .read_to_end(&mut out)
        .map_err(|e| NormalizeError::Format {
            what: "awslogs envelope",
            why: format!("data is not gzip: {e}"),
        })?;
    Ok(Some(out))
}

/// Normalizes one subscription payload, decoded or enveloped.
pub fn normalize_subscription(json: &[u8]) -> Result<Records, NormalizeError> {
    let decoded = open_envelope(json)?;
    let payload: SubscriptionPayload = serde_json::from_slice(decoded.as_deref().unwrap_or(json))?;
    if payload.message_type.as_deref() == Some("CONTROL_MESSAGE") {
        return Ok(Records::default());
    }
    // A subscription says the account its logs came from, not the region.
    let mut stream = LambdaLogStream::new(
        Some(function_of_log_group(&payload.log_group)),
        Some(payload.log_stream.clone()),
    )
    .running_in(
        None,
        payload.owner.clone().filter(|owner| !owner.is_empty()),
    );
    for event in &payload.log_events {
        stream.push(
            Some(event.timestamp.saturating_mul(1_000_000)),
            &event.message,
        );
    }
    Ok(stream.finish())
}
