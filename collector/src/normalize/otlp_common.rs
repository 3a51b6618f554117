//! Pieces every OTLP signal needs: typed attributes from `AnyValue`s, and ids checked for width.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::NormalizeError;
use crate::model::{AttributeValue, Attributes};

/// Converts OTLP key/values into typed attributes; arrays and key/value lists become JSON text.
/// Keys and values are moved, not copied: the request is consumed by normalizing it.
pub fn attributes_of(pairs: Vec<KeyValue>) -> Attributes {
    pairs
        .into_iter()
        .filter_map(|kv| Some((kv.key, attribute_value(kv.value?.value?))))
        .collect()
}

/// A resource's attributes, to be shared by every span or log record of the resource.
pub fn resource_attributes(resource: Option<Resource>) -> Arc<Attributes> {
    Arc::new(
        resource
            .map(|r| attributes_of(r.attributes))
            .unwrap_or_default(),
    )
}

fn attribute_value(value: Value) -> AttributeValue {
    match value {
        Value::StringValue(s) => AttributeValue::String(s),
        Value::IntValue(i) => AttributeValue::Int(i),
        Value::DoubleValue(d) => AttributeValue::Double(d),
        Value::BoolValue(b) => AttributeValue::Bool(b),
        Value::BytesValue(b) => AttributeValue::Bytes(b),
        other => AttributeValue::Json(json_of(&other).to_string()),
    }
}

/// The JSON form of an OTLP value (used for structured log bodies and nested attributes).
pub fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    let any = |v: &AnyValue| v.value.as_ref().map_or(J::Null, json_of);
    match value {
        Value::StringValue(s) => J::String(s.clone()),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::BoolValue(b) => J::Bool(*b),
        Value::BytesValue(b) => J::String(hex::encode(b)),
        Value::ArrayValue(a) => J::Array(a.values.iter().map(any).collect()),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|p| (p.key.clone(), p.value.as_ref().map_or(J::Null, any)))
                .collect(),
        ),
        // Newer protos may add kinds; keep them visible rather than drop them.
        #[allow(unreachable_patterns)]
        _ => J::Null,
    }
}

/// A required id of exactly `N` bytes.
pub fn fixed_id<const N: usize>(
    bytes: &[u8],
    field: &'static str,
) -> Result<[u8; N], NormalizeError> {
    bytes.try_into().map_err(|_| NormalizeError::InvalidId {
        field,
        expected: N,
        found: bytes.len(),
    })
}

/// An optional id: empty (or all zero) means absent, else exactly `N` bytes.
pub fn optional_id<const N: usize>(
    bytes: &[u8],
    field: &'static str,
) -> Result<Option<[u8; N]>, NormalizeError> {
    if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    fixed_id(bytes, field).map(Some)
}
