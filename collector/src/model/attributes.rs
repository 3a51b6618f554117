//! Typed attributes: OTLP key/value pairs kept with their types, and their Arrow form.
//!
//! In Arrow (and so in Parquet) an attribute set is a
//! `Map<Utf8, Struct<string, int, double, bool, bytes, json>>`: for each key exactly one field of
//! the value struct is set, the one of the value's OTLP type. Integers stay integers and booleans
//! stay booleans, so `attributes['http.status_code'].int > 499` works in SQL. Arrays and key/value
//! lists, which no column type fits, are kept as their JSON text in `json`.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, MapArray, StringArray,
    StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields};

/// One attribute value, with its OTLP type.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    String(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    /// An array or key/value list, as JSON text.
    Json(String),
}

impl AttributeValue {
    /// The value as text when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttributeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an identifier-like text: a non-empty string, or an int written out (ids and
    /// names sometimes arrive as numbers).
    pub fn as_text(&self) -> Option<String> {
        match self {
            AttributeValue::String(s) if !s.is_empty() => Some(s.clone()),
            AttributeValue::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// The value as an integer: ints, and strings and doubles that hold a whole number (some
    /// instrumentations send numbers as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttributeValue::Int(i) => Some(*i),
            AttributeValue::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
            AttributeValue::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: doubles, ints and numeric strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttributeValue::Double(d) => Some(*d),
            AttributeValue::Int(i) => Some(*i as f64),
            AttributeValue::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean: bools and the strings `true`/`false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttributeValue::Bool(b) => Some(*b),
            AttributeValue::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An ordered attribute set.
pub type Attributes = Vec<(String, AttributeValue)>;

/// Finds an attribute by key.
pub fn find<'a>(attributes: &'a Attributes, key: &str) -> Option<&'a AttributeValue> {
    attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

static VALUE_FIELDS: LazyLock<Fields> = LazyLock::new(|| {
    Fields::from(vec![
        Field::new("string", DataType::Utf8, true),
        Field::new("int", DataType::Int64, true),
        Field::new("double", DataType::Float64, true),
        Field::new("bool", DataType::Boolean, true),
        Field::new("bytes", DataType::Binary, true),
        Field::new("json", DataType::Utf8, true),
    ])
});

static ENTRY_FIELDS: LazyLock<Fields> = LazyLock::new(|| {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Struct(VALUE_FIELDS.clone()), true),
    ])
});

static ENTRIES_FIELD: LazyLock<FieldRef> = LazyLock::new(|| {
    Arc::new(Field::new(
        "entries",
        DataType::Struct(ENTRY_FIELDS.clone()),
        false,
    ))
});

/// The Arrow type of an attribute set.
pub fn data_type() -> DataType {
    DataType::Map(ENTRIES_FIELD.clone(), false)
}

/// Builds the Arrow map column for a sequence of attribute sets, one row each.
pub fn to_array<'a>(rows: impl Iterator<Item = &'a Attributes>) -> ArrayRef {
    let mut lengths = Vec::new();
    let mut keys = Vec::new();
    let mut strings = Vec::new();
    let mut ints = Vec::new();
    let mut doubles = Vec::new();
    let mut bools = Vec::new();
    let mut bytes: Vec<Option<&[u8]>> = Vec::new();
    let mut jsons = Vec::new();
    for attributes in rows {
        lengths.push(attributes.len());
        for (key, value) in attributes {
            keys.push(key.as_str());
            strings.push(match value {
                AttributeValue::String(s) => Some(s.as_str()),
                _ => None,
            });
            ints.push(match value {
                AttributeValue::Int(i) => Some(*i),
                _ => None,
            });
            doubles.push(match value {
                AttributeValue::Double(d) => Some(*d),
                _ => None,
            });
            bools.push(match value {
                AttributeValue::Bool(b) => Some(*b),
                _ => None,
            });
            bytes.push(match value {
                AttributeValue::Bytes(b) => Some(b.as_slice()),
                _ => None,
            });
            jsons.push(match value {
                AttributeValue::Json(s) => Some(s.as_str()),
                _ => None,
            });
        }
    }
    let values = StructArray::new(
        VALUE_FIELDS.clone(),
        vec![
            Arc::new(StringArray::from(strings)),
            Arc::new(Int64Array::from(ints)),
            Arc::new(Float64Array::from(doubles)),
            Arc::new(BooleanArray::from(bools)),
            Arc::new(BinaryArray::from(bytes)),
            Arc::new(StringArray::from(jsons)),
        ],
        None,
    );
    let entries = StructArray::new(
        ENTRY_FIELDS.clone(),
        vec![Arc::new(StringArray::from(keys)), Arc::new(values)],
        None,
    );
    Arc::new(MapArray::new(
        ENTRIES_FIELD.clone(),
        OffsetBuffer::from_lengths(lengths),
        entries,
        None,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn typed_values_land_in_their_own_field() {
        let rows = [
            vec![
                ("a".to_string(), AttributeValue::Int(7)),
                ("b".to_string(), AttributeValue::Bool(true)),
            ],
            vec![],
            vec![("c".to_string(), AttributeValue::String("x".into()))],
        ];
        let array = to_array(rows.iter());
        let map = array.as_map();
        assert_eq!(map.len(), 3);
        assert_eq!(map.value_length(0), 2);
        assert_eq!(map.value_length(1), 0);
        let values = map.values().as_struct();
        let ints = values
            .column_by_name("int")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(ints.value(0), 7);
        assert!(ints.is_null(1));
        let bools = values.column_by_name("bool").unwrap().as_boolean();
        assert!(bools.value(1));
        let strings = values.column_by_name("string").unwrap().as_string::<i32>();
        assert_eq!(strings.value(2), "x");
    }

    #[test]
    fn numbers_sent_as_strings_are_read_as_numbers() {
        assert_eq!(AttributeValue::String("1024".into()).as_i64(), Some(1024));
        assert_eq!(AttributeValue::Double(512.0).as_i64(), Some(512));
        assert_eq!(AttributeValue::String("TRUE".into()).as_bool(), Some(true));
        assert_eq!(AttributeValue::Bytes(vec![1]).as_i64(), None);
    }
}
