//! `percentile_cont` (and `quantile_cont`): DataFusion's exact percentile, with one fix.
//!
//! DataFusion 55's groups accumulator for it panics when partial aggregation skips itself, which
//! DataFusion does when nearly every row is its own group (`GROUP BY request_id`): its
//! `convert_to_state` expects the value column alone and is given the percentile argument too
//! ("one argument to merge_batch", seen by a user as "task panicked"). This registers the same
//! function with that accumulator wrapped so that it gets the value column only; everything else
//! is DataFusion's, to which it delegates.
//!
//! Tried for speed and dropped: an accumulator that kept each input batch by reference and
//! gathered every group's values once by a counting sort, instead of growing a vector per group
//! in both phases. It answered the same, but p50/p95/p99 per function over 10M invocations took as
//! long as DataFusion's (1.0–1.2 s against 0.9–1.5 s as fresh processes, the same CPU): fresh
//! pages for the values, not their copies, dominate. What did help is fewer copies of the values:
//! one for all the percentiles of a column ([`crate::shared_percentiles`]).

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::functions_aggregate::percentile_cont::PercentileCont;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    Signature,
};

/// `percentile_cont`, to register in a session in place of DataFusion's.
pub fn percentile_cont_udaf() -> AggregateUDF {
    AggregateUDF::from(FixedPercentileCont(PercentileCont::new()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FixedPercentileCont(PercentileCont);

impl AggregateUDFImpl for FixedPercentileCont {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }

    fn signature(&self) -> &Signature {
        self.0.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.return_type(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.0.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ValueColumnStates(
            self.0.create_groups_accumulator(args)?,
        )))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.0.simplify()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.0.supports_within_group_clause()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.0.documentation()
    }
}

/// DataFusion's groups accumulator, whose `convert_to_state` is given the value column only.
struct ValueColumnStates(Box<dyn GroupsAccumulator>);

impl GroupsAccumulator for ValueColumnStates {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.0
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.0.evaluate(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.0.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.0.convert_to_state(&values[..1], opt_filter)
    }

    fn size(&self) -> usize {
        self.0.size()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Rows in four partitions of six batches: 41 groups of uneven sizes, one of nulls only, ties,
    /// negative numbers, and a column for filters.
    pub(crate) fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("keep", DataType::Int64, false),
        ]));
        let mut next = crate::test_numbers(0x9e37_79b9_7f4a_7c15_u64);
        let partitions = (0..4)
            .map(|_| {
                let rows = 3000;
                let g: Vec<i64> = (0..rows).map(|_| next(41) as i64).collect();
                let x: Vec<Option<f64>> = g
                    .iter()
                    .map(|g| match (g, next(10)) {
                        (40, _) | (_, 0) => None,
                        (_, k) if k < 3 => Some((next(20) as f64) - 5.0),
                        _ => Some(next(100_000) as f64 / 7.0),
                    })
                    .collect();
                let keep: Vec<i64> = (0..rows).map(|_| next(3) as i64).collect();
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(g)),
                        Arc::new(Float64Array::from(x)),
                        Arc::new(Int64Array::from(keep)),
                    ],
                )
                .unwrap();
                // Several batches: when partial aggregation skips itself after the first, the
                // others become states row by row.
                (0..rows)
                    .step_by(500)
                    .map(|at| batch.slice(at, 500))
                    .collect()
            })
            .collect();
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// `config` with partial aggregation skipped from the first batch on: every row becomes a
    /// state of its own (`convert_to_state`).
    pub(crate) fn skipping_partial_aggregation(mut config: SessionConfig) -> SessionConfig {
        let options = config.options_mut();
        options
            .execution
            .skip_partial_aggregation_probe_rows_threshold = 1;
        options
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.0;
        config
    }

    pub(crate) async fn answer(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    /// Our `percentile_cont` answers what DataFusion's does, in every form a query can take:
    /// grouped (two phases over four partitions, or each row its own state when partial
    /// aggregation skips itself), filtered, `WITHIN GROUP` ascending and descending, the ends and
    /// interpolated percentiles, a group of nulls, and ungrouped.
    #[tokio::test]
    async fn answers_as_datafusion_does() {
        let queries = [
            "SELECT g, percentile_cont(x, 0.5) AS p50, percentile_cont(x, 0.95) AS p95, \
             percentile_cont(x, 0.99) AS p99, percentile_cont(x, 0.0) AS p0, \
             percentile_cont(x, 1.0) AS p100, percentile_cont(x, 0.333) AS p33 \
             FROM t GROUP BY g ORDER BY g",
            "SELECT g, percentile_cont(x, 0.3) FILTER (WHERE keep > 0) AS p30, \
             percentile_cont(0.8) WITHIN GROUP (ORDER BY x DESC) AS p80_desc, \
             quantile_cont(x, 0.25) AS q25 FROM t GROUP BY g ORDER BY g",
            "SELECT keep, percentile_cont(x, 0.5) AS p50 FROM t GROUP BY keep ORDER BY keep",
            "SELECT percentile_cont(x, 0.9) AS p90 FROM t",
        ];
        let config = SessionConfig::new().with_target_partitions(4);
        let theirs = SessionContext::new_with_config(config.clone());
        theirs.register_table("t", Arc::new(table())).unwrap();
        // DataFusion 55's own accumulator panics when partial aggregation skips itself (its
        // `convert_to_state` expects one argument and gets the percentile too), so its answers
        // come from the usual two phases, and ours must give them both ways.
        let skipping = skipping_partial_aggregation(config.clone());
        for config in [config, skipping] {
            let ours = SessionContext::new_with_config(config);
            ours.register_udaf(percentile_cont_udaf());
            ours.register_table("t", Arc::new(table())).unwrap();
            for sql in queries {
                let expected = answer(&theirs, sql).await;
                assert!(expected.lines().count() > 4, "{expected}");
                assert_eq!(answer(&ours, sql).await, expected, "{sql}");
            }
        }
    }
}
