//! `max_text(text)`: the greatest string of each group, exactly what `max` returns for text, built
//! for the `invocations` view, which merges about ten text columns over millions of request ids.
//!
//! DataFusion's `max` for strings keeps one heap-allocated copy per group, and with 10M groups each
//! text column added about a second to every invocation query (benchmarks-history.md). These
//! columns (function name, region, runtime, status messages, ...) repeat few distinct values, so
//! here each distinct value is stored once and a group holds only the index of its greatest
//! value: four bytes per group, no allocation per group. Consecutive rows with the same value,
//! which sorted files are full of, are interned once.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringBuilder};
use arrow::compute::{not, nullif, prep_null_mask_filter};
use arrow::datatypes::DataType;
use datafusion::common::{HashMap, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The SQL name.
pub const MAX_TEXT: &str = "max_text";

/// The `max_text` aggregate, to register in a session.
pub fn max_text_udaf() -> AggregateUDF {
    AggregateUDF::from(MaxText {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MaxText {
    signature: Signature,
}

impl AggregateUDFImpl for MaxText {
    fn name(&self) -> &str {
        MAX_TEXT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(GreatestText::default()))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GreatestTextPerGroup::default()))
    }
}

/// Without groups (or as a window): one greatest value.
#[derive(Debug, Default)]
struct GreatestText {
    greatest: Option<String>,
}

impl Accumulator for GreatestText {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if let Some(batch_greatest) = arrow::compute::max_string(values[0].as_string::<i32>())
            && self.greatest.as_deref().is_none_or(|g| batch_greatest > g)
        {
            self.greatest = Some(batch_greatest.to_string());
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(self.greatest.clone()))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.greatest.as_ref().map_or(0, String::capacity)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}

/// The rows an aggregate's filter keeps: a row whose filter value is false or null does not count.
fn rows_kept(filter: &BooleanArray) -> BooleanArray {
    match filter.nulls() {
        Some(_) => prep_null_mask_filter(filter),
        None => filter.clone(),
    }
}

/// A group without a value yet.
const NO_VALUE: u32 = u32::MAX;

/// The greatest value of every group, as indexes into the distinct values seen.
#[derive(Debug, Default)]
struct GreatestTextPerGroup {
    /// Per group: the index in `distinct` of its greatest value, or [`NO_VALUE`].
    greatest: Vec<u32>,
    /// Every distinct value seen, in the order first seen.
    distinct: Vec<Arc<str>>,
    /// The index of each distinct value.
    index: HashMap<Arc<str>, u32>,
    /// Bytes of text held in `distinct`.
    text_bytes: usize,
}

impl GreatestTextPerGroup {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(i) = self.index.get(value) {
            return *i;
        }
        let i = u32::try_from(self.distinct.len())
            .ok()
            .filter(|i| *i != NO_VALUE)
            .expect("fewer than 2^32 - 1 distinct values in one aggregation");
        let value: Arc<str> = Arc::from(value);
        self.text_bytes += value.len();
        self.distinct.push(value.clone());
        self.index.insert(value, i);
        i
    }

    fn update(
        &mut self,
        values: &ArrayRef,
        group_indices: &[usize],
        keep: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = values.as_string::<i32>();
        self.greatest.resize(total_num_groups, NO_VALUE);
        let mut previous: Option<(&str, u32)> = None;
        for (row, &group) in group_indices.iter().enumerate() {
            if values.is_null(row) || keep.is_some_and(|k| !k.value(row)) {
                continue;
            }
            let value = values.value(row);
            let id = match previous {
                Some((text, id)) if text == value => id,
                _ => {
                    let id = self.intern(value);
                    previous = Some((value, id));
                    id
                }
            };
            let current = self.greatest[group];
            if current == NO_VALUE
                || (current != id && *self.distinct[id as usize] > *self.distinct[current as usize])
            {
                self.greatest[group] = id;
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for GreatestTextPerGroup {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let keep = opt_filter.map(rows_kept);
        self.update(&values[0], group_indices, keep.as_ref(), total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let emitted = emit_to.take_needed(&mut self.greatest);
        let mut out = StringBuilder::with_capacity(emitted.len(), 0);
        for id in &emitted {
            match *id {
                NO_VALUE => out.append_null(),
                id => out.append_value(&self.distinct[id as usize]),
            }
        }
        if self.greatest.is_empty() {
            // No group is left to point into the distinct values.
            self.distinct = Vec::new();
            self.index = HashMap::default();
            self.text_bytes = 0;
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        // The greatest value so far is the whole state, as for `max`.
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.update(&values[0], group_indices, None, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is its own state; rows the filter leaves out become nulls.
        Ok(vec![match opt_filter {
            None => values[0].clone(),
            Some(filter) => nullif(&values[0], &not(&rows_kept(filter))?)?,
        }])
    }

    fn size(&self) -> usize {
        self.greatest.capacity() * size_of::<u32>()
            + self.distinct.capacity() * size_of::<Arc<str>>()
            + self.index.capacity() * (size_of::<Arc<str>>() + size_of::<u32>() + 1)
            // Each distinct value's text and its Arc counters.
            + self.text_bytes
            + self.distinct.len() * 2 * size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use datafusion::prelude::SessionContext;

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn each_group_gets_its_greatest_value_across_batches_and_merges() {
        let mut acc = GreatestTextPerGroup::default();
        acc.update_batch(
            &[strings(&[
                Some("b"),
                None,
                Some("a"),
                Some("a"),
                Some("zz"),
            ])],
            &[0, 1, 0, 2, 3],
            None,
            4,
        )
        .unwrap();
        // A later batch: a greater value for group 0, a smaller one for group 3, a new group.
        acc.update_batch(
            &[strings(&[Some("c"), Some("z"), Some("m")])],
            &[0, 3, 4],
            None,
            5,
        )
        .unwrap();
        // Another partition's state, merged in.
        acc.merge_batch(&[strings(&[Some("y"), None])], &[1, 2], 5)
            .unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out: Vec<Option<&str>> = out.as_string::<i32>().iter().collect();
        assert_eq!(
            out,
            [Some("c"), Some("y"), Some("a"), Some("zz"), Some("m")]
        );
    }

    #[test]
    fn filtered_and_null_rows_do_not_count() {
        let mut acc = GreatestTextPerGroup::default();
        let filter = BooleanArray::from(vec![Some(false), None, Some(true)]);
        acc.update_batch(
            &[strings(&[Some("z"), Some("y"), Some("a")])],
            &[0, 0, 1],
            Some(&filter),
            3,
        )
        .unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out: Vec<Option<&str>> = out.as_string::<i32>().iter().collect();
        assert_eq!(out, [None, Some("a"), None]);
        let state = acc
            .convert_to_state(
                &[strings(&[Some("z"), Some("y"), Some("a")])],
                Some(&filter),
            )
            .unwrap();
        let state: Vec<Option<&str>> = state[0].as_string::<i32>().iter().collect();
        assert_eq!(state, [None, None, Some("a")]);
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest() {
        let mut acc = GreatestTextPerGroup::default();
        acc.update_batch(
            &[strings(&[Some("a"), Some("b"), Some("c")])],
            &[0, 1, 2],
            None,
            3,
        )
        .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.len(), 2);
        acc.update_batch(&[strings(&[Some("d")])], &[0], None, 1)
            .unwrap();
        let rest = acc.evaluate(EmitTo::All).unwrap();
        let rest: Vec<Option<&str>> = rest.as_string::<i32>().iter().collect();
        assert_eq!(rest, [Some("d")]);
    }

    /// In SQL, with and without groups, `max_text` answers exactly what `max` does.
    #[tokio::test]
    async fn answers_what_max_answers() {
        let ctx = SessionContext::new();
        ctx.register_udaf(max_text_udaf());
        let rows: Vec<String> = (0..5000)
            .map(|i| {
                let text = match i % 7 {
                    0 => "NULL".to_string(),
                    k => format!("'{}-{}'", ["x", "ab", "é", "b", "", "zz"][k - 1], i % 13),
                };
                format!("({}, {text})", i % 101)
            })
            .collect();
        ctx.sql(&format!(
            "CREATE TABLE t (g INT, v VARCHAR) AS VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        for sql in [
            "SELECT g, {f}(v) AS m FROM t GROUP BY g ORDER BY g",
            "SELECT g, {f}(v) FILTER (WHERE g % 3 = 0) AS m FROM t GROUP BY g ORDER BY g",
            "SELECT {f}(v) AS m FROM t",
        ] {
            let run = |f: &str| {
                let ctx = ctx.clone();
                let sql = sql.replace("{f}", f);
                async move {
                    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                    arrow::util::pretty::pretty_format_batches(&batches)
                        .unwrap()
                        .to_string()
                }
            };
            let ours = run(MAX_TEXT).await;
            assert_eq!(ours, run("max").await, "{sql}");
            assert!(ours.contains("é-"), "{ours}");
        }
    }
}
