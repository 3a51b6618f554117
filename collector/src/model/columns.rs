//! Small builders for the Arrow column types that all three tables use.

use std::sync::Arc;

use arrow::array::{ArrayRef, FixedSizeBinaryArray, StringBuilder, TimestampNanosecondArray};
use arrow::datatypes::DataType;

/// A `FixedSizeBinary(size)` column; every present value must be `size` bytes long.
pub(crate) fn fixed_binary<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    size: i32,
) -> ArrayRef {
    let values: Vec<Option<&[u8]>> = values.collect();
    if values.iter().all(Option::is_none) {
        // The sparse constructor cannot infer a width from no values.
        return arrow::array::new_null_array(&DataType::FixedSizeBinary(size), values.len());
    }
    Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), size)
            .expect("ids have their fixed width"),
    )
}

/// A `Timestamp(Nanosecond, "UTC")` column.
pub(crate) fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        values
            .collect::<TimestampNanosecondArray>()
            .with_timezone("UTC"),
    )
}

/// A `Utf8` column of `text` over `rows`, its buffers sized for the values first: collecting
/// into an array grew the value buffer by doubling, copying it each time.
pub(crate) fn strings<'a, T>(rows: &'a [T], text: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    let bytes = rows.iter().filter_map(&text).map(str::len).sum();
    let mut builder = StringBuilder::with_capacity(rows.len(), bytes);
    for row in rows {
        builder.append_option(text(row));
    }
    Arc::new(builder.finish())
}
