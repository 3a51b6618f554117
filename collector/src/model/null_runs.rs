//! Column builders that append their nulls a run at a time.
//!
//! Most columns of a row built from one input are null in every row of it: an invocation
//! fragment from a Powertools log line fills 4 of its 14 text columns, and a log line has no span
//! or resource. Appending each null on its own (an offset, a validity bit, and for an id its zero
//! bytes) was about a tenth of an import's normalizing threads (`perf`, 1M Powertools lines).
//! [`NullRuns`] only counts nulls until the next value, or the end of the batch, appends them as
//! one run.

use arrow::array::{
    ArrowPrimitiveType, FixedSizeBinaryArray, FixedSizeBinaryBuilder, PrimitiveArray,
    PrimitiveBuilder, StringArray, StringBuilder,
};

/// An Arrow builder that can append a run of nulls at once.
pub(crate) trait AppendNulls {
    /// The array the builder finishes into.
    type Array;

    fn append_nulls(&mut self, n: usize);

    fn finish(&mut self) -> Self::Array;
}

impl AppendNulls for StringBuilder {
    type Array = StringArray;

    fn append_nulls(&mut self, n: usize) {
        StringBuilder::append_nulls(self, n);
    }

    fn finish(&mut self) -> StringArray {
        StringBuilder::finish(self)
    }
}

impl<T: ArrowPrimitiveType> AppendNulls for PrimitiveBuilder<T> {
    type Array = PrimitiveArray<T>;

    fn append_nulls(&mut self, n: usize) {
        PrimitiveBuilder::append_nulls(self, n);
    }

    fn finish(&mut self) -> PrimitiveArray<T> {
        PrimitiveBuilder::finish(self)
    }
}

impl AppendNulls for FixedSizeBinaryBuilder {
    type Array = FixedSizeBinaryArray;

    fn append_nulls(&mut self, n: usize) {
        FixedSizeBinaryBuilder::append_nulls(self, n);
    }

    fn finish(&mut self) -> FixedSizeBinaryArray {
        FixedSizeBinaryBuilder::finish(self)
    }
}

/// A column builder whose nulls wait, counted, until a value comes or the batch is finished,
/// and are then appended as one run. The column's rows are the same as if each null had been
/// appended when it came.
#[derive(Debug)]
pub(crate) struct NullRuns<B> {
    builder: B,
    /// Nulls appended since the builder's last row.
    waiting: usize,
}

impl<B: AppendNulls> NullRuns<B> {
    pub(crate) fn new(builder: B) -> Self {
        NullRuns {
            builder,
            waiting: 0,
        }
    }

    pub(crate) fn append_null(&mut self) {
        self.waiting += 1;
    }

    /// The builder with the waiting nulls appended, ready for the next value.
    fn caught_up(&mut self) -> &mut B {
        if self.waiting > 0 {
            self.builder.append_nulls(std::mem::take(&mut self.waiting));
        }
        &mut self.builder
    }

    /// The builder, without the nulls still waiting.
    #[cfg(test)]
    pub(crate) fn builder(&self) -> &B {
        &self.builder
    }

    /// The column of every row appended, and the builder left empty.
    pub(crate) fn finish(&mut self) -> B::Array {
        self.caught_up().finish()
    }
}

impl NullRuns<StringBuilder> {
    pub(crate) fn append_option(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.caught_up().append_value(text),
            None => self.append_null(),
        }
    }

    /// The bytes of the texts appended (nulls take none).
    pub(crate) fn values_slice(&self) -> &[u8] {
        self.builder.values_slice()
    }
}

impl<T: ArrowPrimitiveType> NullRuns<PrimitiveBuilder<T>> {
    pub(crate) fn append_option(&mut self, value: Option<T::Native>) {
        match value {
            Some(value) => self.caught_up().append_value(value),
            None => self.append_null(),
        }
    }
}

impl NullRuns<FixedSizeBinaryBuilder> {
    /// Appends an id of the column's width, or a null.
    pub(crate) fn append_id(&mut self, id: Option<&[u8]>) {
        match id {
            Some(_) => super::append_id(self.caught_up(), id),
            None => self.append_null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int32Builder};

    /// Nulls in runs, before, between and after values, and a batch of nulls only, give the
    /// column that appending each null at once gives, and the builder starts over empty.
    #[test]
    fn nulls_in_runs_give_the_column_of_nulls_appended_one_by_one() {
        let rows: Vec<Option<&str>> = vec![None, Some("a"), None, None, Some(""), Some("b"), None];
        let mut runs = NullRuns::new(StringBuilder::new());
        let mut one_by_one = StringBuilder::new();
        for row in &rows {
            runs.append_option(*row);
            one_by_one.append_option(*row);
        }
        assert_eq!(runs.values_slice(), b"ab");
        assert_eq!(runs.finish(), one_by_one.finish());
        for _ in 0..3 {
            runs.append_option(None);
        }
        let nulls = runs.finish();
        assert_eq!((nulls.len(), nulls.null_count()), (3, 3));
        assert_eq!(runs.finish().len(), 0);

        let mut ints = NullRuns::new(Int32Builder::new());
        for value in [None, None, Some(7), None] {
            ints.append_option(value);
        }
        let ints = ints.finish();
        assert_eq!(ints.iter().collect::<Vec<_>>(), [None, None, Some(7), None]);

        let mut ids = NullRuns::new(FixedSizeBinaryBuilder::new(2));
        for id in [None, Some(&[1u8, 2][..]), None, None] {
            ids.append_id(id);
        }
        let ids = ids.finish();
        let read: Vec<Option<&[u8]>> = ids.iter().collect();
        assert_eq!(read, [None, Some(&[1u8, 2][..]), None, None]);
    }
}
