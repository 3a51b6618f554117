//! Typed attributes: OTLP key/value pairs kept with their types, and their Arrow form.
//!
//! In Arrow (and so in Parquet) an attribute set is a
//! `Map<Utf8, Struct<string, int, double, bool, bytes, json>>`: for each key exactly one field of
//! the value struct is set, the one of the value's OTLP type. Integers stay integers and booleans
//! stay booleans, so `attributes['http.status_code'].int > 499` works in SQL. Arrays and key/value
//! lists, which no column type fits, are kept as their JSON text in `json`.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, MapArray, StringArray,
    StringBuilder, StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer};
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
    /// The value borrowed, to read it with [`AttributeRef`]'s methods or append it to a column.
    pub fn borrowed(&self) -> AttributeRef<'_> {
        match self {
            AttributeValue::String(s) => AttributeRef::String(s),
            AttributeValue::Int(i) => AttributeRef::Int(*i),
            AttributeValue::Double(d) => AttributeRef::Double(*d),
            AttributeValue::Bool(b) => AttributeRef::Bool(*b),
            AttributeValue::Bytes(b) => AttributeRef::Bytes(b),
            AttributeValue::Json(s) => AttributeRef::Json(Cow::Borrowed(s)),
        }
    }

    /// The value as text when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.borrowed().as_str()
    }

    /// See [`AttributeRef::as_text`].
    pub fn as_text(&self) -> Option<String> {
        self.borrowed().as_text().map(Cow::into_owned)
    }

    /// See [`AttributeRef::as_i64`].
    pub fn as_i64(&self) -> Option<i64> {
        self.borrowed().as_i64()
    }

    /// See [`AttributeRef::as_f64`].
    pub fn as_f64(&self) -> Option<f64> {
        self.borrowed().as_f64()
    }

    /// See [`AttributeRef::as_bool`].
    pub fn as_bool(&self) -> Option<bool> {
        self.borrowed().as_bool()
    }
}

/// One attribute value, with its OTLP type, borrowed from where it was read: the bytes of a
/// request read in place ([`crate::normalize::otlp_wire`]), or an [`AttributeValue`].
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeRef<'a> {
    String(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(&'a [u8]),
    /// An array or key/value list, as JSON text.
    Json(Cow<'a, str>),
}

impl<'a> AttributeRef<'a> {
    /// The value as text when it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            AttributeRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an identifier-like text: a non-empty string, or an int written out (ids and
    /// names sometimes arrive as numbers).
    pub fn as_text(&self) -> Option<Cow<'a, str>> {
        match self {
            AttributeRef::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
            AttributeRef::Int(i) => Some(Cow::Owned(i.to_string())),
            _ => None,
        }
    }

    /// The value as an integer: ints, and strings and doubles that hold a whole number (some
    /// instrumentations send numbers as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttributeRef::Int(i) => Some(*i),
            AttributeRef::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
            AttributeRef::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: doubles, ints and numeric strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttributeRef::Double(d) => Some(*d),
            AttributeRef::Int(i) => Some(*i as f64),
            AttributeRef::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean: bools and the strings `true`/`false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttributeRef::Bool(b) => Some(*b),
            AttributeRef::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An attribute set borrowed from where it was read, in order.
pub type AttributeRefs<'a> = [(&'a str, AttributeRef<'a>)];

/// One row's attribute set as a builder takes it: owned, or borrowed from where it was read.
#[derive(Debug, Clone, Copy)]
pub enum RowAttributes<'a> {
    Owned(&'a [(String, AttributeValue)]),
    Borrowed(&'a AttributeRefs<'a>),
}

impl Default for RowAttributes<'_> {
    fn default() -> Self {
        RowAttributes::Owned(&[])
    }
}

/// Finds a borrowed attribute by key.
pub fn find_ref<'s, 'a>(
    attributes: &'s AttributeRefs<'a>,
    key: &str,
) -> Option<&'s AttributeRef<'a>> {
    attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// An ordered attribute set.
pub type Attributes = Vec<(String, AttributeValue)>;

/// Finds an attribute by key.
pub fn find<'a>(
    attributes: &'a [(String, AttributeValue)],
    key: &str,
) -> Option<&'a AttributeValue> {
    attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Whether `fields` are those of a typed attribute value: one leaf per type, one of them set.
pub fn is_attribute_value(fields: &Fields) -> bool {
    fields
        .iter()
        .map(|f| f.name())
        .eq(VALUE_FIELDS.iter().map(|f| f.name()))
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

/// Builds the Arrow column of attribute sets for these rows, its buffers sized for them first.
pub fn to_array<'a>(rows: impl Iterator<Item = &'a Attributes> + Clone) -> ArrayRef {
    let mut builder = AttributesBuilder::for_rows(rows.clone());
    for row in rows {
        builder.append(row);
    }
    builder.finish()
}

/// Builds a column of attribute sets one row at a time ([`to_array`] builds a whole one).
///
/// Each entry appends its key, its type and its value to the values of its type only; the six
/// value columns, with their nulls (five of every entry's six fields), are built from the types
/// when the column is finished, a pass over the types each. Appending to all seven builders for
/// every entry, five of them a null, took 4–14 % more CPU to read and normalize spans, and 4 %
/// more for a log import (see docs/benchmarks-history.md).
#[derive(Debug)]
pub struct AttributesBuilder {
    keys: StringBuilder,
    /// Each entry's type: the position of its field in the value struct ([`VALUE_FIELDS`]).
    types: Vec<u8>,
    strings: Utf8Texts,
    ints: Vec<i64>,
    doubles: Vec<f64>,
    bools: Vec<bool>,
    bytes: Texts,
    jsons: Utf8Texts,
    /// Entries of each row so far.
    lengths: Vec<usize>,
}

const STRING: u8 = 0;
const INT: u8 = 1;
const DOUBLE: u8 = 2;
const BOOL: u8 = 3;
const BYTES: u8 = 4;
const JSON: u8 = 5;

/// The values of one text-like field (string, bytes or JSON), one after another.
#[derive(Debug, Default)]
struct Texts {
    bytes: Vec<u8>,
    /// Where each value ends in `bytes`.
    ends: Vec<usize>,
}

impl Texts {
    fn with_capacity(values: usize, bytes: usize) -> Texts {
        Texts {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(values),
        }
    }

    fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
    }

    /// The offsets of the whole column (its entries of other types empty) and its values.
    fn offsets(&mut self, types: &[u8], this: u8) -> (OffsetBuffer<i32>, Buffer) {
        let mut ends = self.ends.iter();
        let mut last = 0i32;
        let mut offsets = Vec::with_capacity(types.len() + 1);
        offsets.push(0);
        for &t in types {
            if t == this {
                let end = *ends.next().expect("one value for each entry of the type");
                last = i32::try_from(end).expect("a column's attribute values within 2 GiB");
            }
            offsets.push(last);
        }
        self.ends.clear();
        (
            OffsetBuffer::new(offsets.into()),
            Buffer::from_vec(std::mem::take(&mut self.bytes)),
        )
    }
}

/// The values of a UTF-8 field (string or JSON): only `&str` go in.
#[derive(Debug, Default)]
struct Utf8Texts(Texts);

impl Utf8Texts {
    fn push(&mut self, value: &str) {
        self.0.push(value.as_bytes());
    }

    /// The column over all entries, not checked again for UTF-8: its values were `&str`.
    fn finish(&mut self, types: &[u8], this: u8) -> StringArray {
        let (offsets, values) = self.0.offsets(types, this);
        let nulls = valid_where(types, this);
        // SAFETY: `offsets` are the ends of the values pushed, in order, each of them a `&str`,
        // so the values are UTF-8 and every offset falls on a character boundary.
        unsafe { StringArray::new_unchecked(offsets, values, nulls) }
    }
}

/// The validity of a value column: set for the entries of its type.
fn valid_where(types: &[u8], this: u8) -> Option<NullBuffer> {
    Some(NullBuffer::new(BooleanBuffer::collect_bool(
        types.len(),
        |i| types[i] == this,
    )))
    .filter(|nulls| nulls.null_count() > 0)
}

/// The values of a fixed-width field over all entries (a default where an entry is of another
/// type).
fn spread<T: Copy + Default>(types: &[u8], this: u8, values: &mut Vec<T>) -> Vec<T> {
    let mut values_of_type = values.drain(..);
    types
        .iter()
        .map(|&t| {
            if t == this {
                values_of_type
                    .next()
                    .expect("one value for each entry of the type")
            } else {
                T::default()
            }
        })
        .collect()
}

impl Default for AttributesBuilder {
    fn default() -> Self {
        AttributesBuilder::with_room(AttributesRoom::default())
    }
}

/// What an [`AttributesBuilder`]'s buffers held: the room to give a builder for rows like
/// those (see [`AttributesBuilder::room`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct AttributesRoom {
    rows: usize,
    entries: usize,
    /// Values of each type, in the order of [`VALUE_FIELDS`].
    values: [usize; 6],
    /// Bytes of the keys, strings, bytes and JSON texts.
    bytes: [usize; 4],
}

impl AttributesRoom {
    /// This room with every count changed by `change` (a scale, or [`super::with_spare`]).
    pub(crate) fn map(self, change: impl Fn(usize) -> usize) -> AttributesRoom {
        AttributesRoom {
            rows: change(self.rows),
            entries: change(self.entries),
            values: self.values.map(&change),
            bytes: self.bytes.map(&change),
        }
    }
}

impl AttributesBuilder {
    /// An empty builder whose buffers have this room.
    pub(crate) fn with_room(room: AttributesRoom) -> Self {
        let [strings, ints, doubles, bools, bytes, jsons] = room.values;
        let [key_bytes, string_bytes, bytes_bytes, json_bytes] = room.bytes;
        AttributesBuilder {
            keys: StringBuilder::with_capacity(room.entries, key_bytes),
            types: Vec::with_capacity(room.entries),
            strings: Utf8Texts(Texts::with_capacity(strings, string_bytes)),
            ints: Vec::with_capacity(ints),
            doubles: Vec::with_capacity(doubles),
            bools: Vec::with_capacity(bools),
            bytes: Texts::with_capacity(bytes, bytes_bytes),
            jsons: Utf8Texts(Texts::with_capacity(jsons, json_bytes)),
            lengths: Vec::with_capacity(room.rows),
        }
    }

    /// What the buffers hold now.
    pub(crate) fn room(&self) -> AttributesRoom {
        AttributesRoom {
            rows: self.lengths.len(),
            entries: self.types.len(),
            values: [
                self.strings.0.ends.len(),
                self.ints.len(),
                self.doubles.len(),
                self.bools.len(),
                self.bytes.ends.len(),
                self.jsons.0.ends.len(),
            ],
            bytes: [
                self.keys.values_slice().len(),
                self.strings.0.bytes.len(),
                self.bytes.bytes.len(),
                self.jsons.0.bytes.len(),
            ],
        }
    }

    /// Room for exactly these rows: growing the value buffers by doubling copied them each time.
    pub(crate) fn for_rows<'a>(rows: impl Iterator<Item = &'a Attributes>) -> Self {
        let mut room = AttributesRoom::default();
        for row in rows {
            room.rows += 1;
            room.entries += row.len();
            for (key, value) in row {
                room.bytes[0] += key.len();
                let field = match value {
                    AttributeValue::String(s) => {
                        room.bytes[1] += s.len();
                        STRING
                    }
                    AttributeValue::Int(_) => INT,
                    AttributeValue::Double(_) => DOUBLE,
                    AttributeValue::Bool(_) => BOOL,
                    AttributeValue::Bytes(b) => {
                        room.bytes[2] += b.len();
                        BYTES
                    }
                    AttributeValue::Json(s) => {
                        room.bytes[3] += s.len();
                        JSON
                    }
                };
                room.values[usize::from(field)] += 1;
            }
        }
        AttributesBuilder::with_room(room)
    }

    /// Appends one row's attribute set.
    pub fn append(&mut self, attributes: &[(String, AttributeValue)]) {
        for (key, value) in attributes {
            self.append_entry(key, &value.borrowed());
        }
        self.lengths.push(attributes.len());
    }

    /// Appends one row's attribute set, borrowed from where it was read.
    pub fn append_borrowed(&mut self, attributes: &AttributeRefs) {
        for (key, value) in attributes {
            self.append_entry(key, value);
        }
        self.lengths.push(attributes.len());
    }

    /// Appends one row's attribute set, owned or borrowed.
    pub fn append_row(&mut self, attributes: RowAttributes) {
        match attributes {
            RowAttributes::Owned(attributes) => self.append(attributes),
            RowAttributes::Borrowed(attributes) => self.append_borrowed(attributes),
        }
    }

    fn append_entry(&mut self, key: &str, value: &AttributeRef) {
        self.keys.append_value(key);
        self.types.push(match value {
            AttributeRef::String(s) => {
                self.strings.push(s);
                STRING
            }
            AttributeRef::Int(i) => {
                self.ints.push(*i);
                INT
            }
            AttributeRef::Double(d) => {
                self.doubles.push(*d);
                DOUBLE
            }
            AttributeRef::Bool(b) => {
                self.bools.push(*b);
                BOOL
            }
            AttributeRef::Bytes(b) => {
                self.bytes.push(b);
                BYTES
            }
            AttributeRef::Json(s) => {
                self.jsons.push(s);
                JSON
            }
        });
    }

    /// The capacity of each buffer, to tell whether one grew.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> Vec<usize> {
        let texts = [&self.strings.0, &self.bytes, &self.jsons.0];
        let mut capacities = vec![
            self.keys.values_capacity(),
            self.keys.offsets_capacity(),
            self.types.capacity(),
            self.ints.capacity(),
            self.doubles.capacity(),
            self.bools.capacity(),
            self.lengths.capacity(),
        ];
        capacities.extend(
            texts
                .iter()
                .flat_map(|texts| [texts.bytes.capacity(), texts.ends.capacity()]),
        );
        capacities
    }

    /// An empty builder with room for as many rows as this one holds, with an eighth to spare
    /// (see [`super::LogBuilder::end_batch`]).
    pub(crate) fn room_for_as_many(&self) -> AttributesBuilder {
        AttributesBuilder::with_room(self.room().map(super::with_spare))
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True when no row was appended.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The column of the rows appended; the builder is left empty.
    pub fn finish(&mut self) -> ArrayRef {
        let types = std::mem::take(&mut self.types);
        let strings = self.strings.finish(&types, STRING);
        let (offsets, values) = self.bytes.offsets(&types, BYTES);
        let bytes = BinaryArray::try_new(offsets, values, valid_where(&types, BYTES))
            .expect("offsets fit the values");
        let jsons = self.jsons.finish(&types, JSON);
        let ints = Int64Array::new(
            spread(&types, INT, &mut self.ints).into(),
            valid_where(&types, INT),
        );
        let doubles = Float64Array::new(
            spread(&types, DOUBLE, &mut self.doubles).into(),
            valid_where(&types, DOUBLE),
        );
        let bools = BooleanArray::new(
            BooleanBuffer::from(spread(&types, BOOL, &mut self.bools)),
            valid_where(&types, BOOL),
        );
        let values = StructArray::new(
            VALUE_FIELDS.clone(),
            vec![
                Arc::new(strings),
                Arc::new(ints),
                Arc::new(doubles),
                Arc::new(bools),
                Arc::new(bytes),
                Arc::new(jsons),
            ],
            None,
        );
        let entries = StructArray::new(
            ENTRY_FIELDS.clone(),
            vec![Arc::new(self.keys.finish()), Arc::new(values)],
            None,
        );
        Arc::new(MapArray::new(
            ENTRIES_FIELD.clone(),
            OffsetBuffer::from_lengths(std::mem::take(&mut self.lengths)),
            entries,
            None,
            false,
        ))
    }
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
            vec![
                ("d".to_string(), AttributeValue::Double(2.5)),
                ("e".to_string(), AttributeValue::Bytes(vec![0xfa, 0xa5])),
                ("f".to_string(), AttributeValue::Json("[1,2]".into())),
            ],
        ];
        let array = to_array(rows.iter());
        let map = array.as_map();
        assert_eq!(map.len(), 4);
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
        assert_eq!(map.value_length(3), 3);
        let doubles = values
            .column_by_name("double")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        assert_eq!(doubles.value(3), 2.5);
        let bytes = values.column_by_name("bytes").unwrap().as_binary::<i32>();
        assert_eq!(bytes.value(4), [0xfa, 0xa5]);
        let jsons = values.column_by_name("json").unwrap().as_string::<i32>();
        assert_eq!(jsons.value(5), "[1,2]");
        let keys = map.keys().as_string::<i32>();
        assert_eq!(
            keys.iter().flatten().collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f"]
        );
        // Exactly one field of each value is set: the one of its type.
        for entry in 0..6 {
            let set = values
                .columns()
                .iter()
                .filter(|c| c.is_valid(entry))
                .count();
            assert_eq!(set, 1, "entry {entry}");
        }
    }

    /// The value of entry `i` of a finished column, read back from its typed fields.
    fn read_back(values: &StructArray, i: usize) -> AttributeValue {
        let set: Vec<usize> = (0..6).filter(|f| values.column(*f).is_valid(i)).collect();
        assert_eq!(set.len(), 1, "entry {i}: one field set");
        let column = values.column(set[0]);
        match set[0] {
            0 => AttributeValue::String(column.as_string::<i32>().value(i).into()),
            1 => AttributeValue::Int(
                column
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(i),
            ),
            2 => AttributeValue::Double(
                column
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(i),
            ),
            3 => AttributeValue::Bool(column.as_boolean().value(i)),
            4 => AttributeValue::Bytes(column.as_binary::<i32>().value(i).to_vec()),
            _ => AttributeValue::Json(column.as_string::<i32>().value(i).into()),
        }
    }

    fn any_attribute_value() -> impl proptest::strategy::Strategy<Value = AttributeValue> {
        use proptest::prelude::*;
        prop_oneof![
            ".{0,6}".prop_map(AttributeValue::String),
            any::<i64>().prop_map(AttributeValue::Int),
            (-1e9f64..1e9).prop_map(AttributeValue::Double),
            any::<bool>().prop_map(AttributeValue::Bool),
            proptest::collection::vec(any::<u8>(), 0..5).prop_map(AttributeValue::Bytes),
            "\\[[0-9,]{0,5}\\]".prop_map(AttributeValue::Json),
        ]
    }

    proptest::proptest! {
        /// Every entry of every row reads back as it was appended, keys and typed values, in
        /// order, over columns built one after the other by the same builder (left empty by
        /// each `finish`).
        #[test]
        fn every_entry_reads_back_as_appended(
            columns in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::collection::vec(("[a-z.]{0,8}", any_attribute_value()), 0..6),
                    0..8,
                ),
                1..3,
            )
        ) {
            let mut builder = AttributesBuilder::default();
            for rows in &columns {
                for row in rows {
                    builder.append(row);
                }
                let array = builder.finish();
                let map = array.as_map();
                proptest::prop_assert_eq!(map.len(), rows.len());
                let values = map.values().as_struct();
                let keys = map.keys().as_string::<i32>();
                let read: Vec<Vec<(String, AttributeValue)>> = (0..map.len())
                    .map(|row| {
                        let offsets = map.value_offsets();
                        (offsets[row] as usize..offsets[row + 1] as usize)
                            .map(|i| (keys.value(i).to_string(), read_back(values, i)))
                            .collect()
                    })
                    .collect();
                proptest::prop_assert_eq!(&read, rows);
            }
        }
    }

    #[test]
    fn numbers_sent_as_strings_are_read_as_numbers() {
        assert_eq!(AttributeValue::String("1024".into()).as_i64(), Some(1024));
        assert_eq!(AttributeValue::Double(512.0).as_i64(), Some(512));
        assert_eq!(AttributeValue::String("TRUE".into()).as_bool(), Some(true));
        assert_eq!(AttributeValue::Bytes(vec![1]).as_i64(), None);
    }
}
