//! Several exact percentiles of one column, computed from one copy of its values.
//!
//! `percentile_cont(duration_ms, 0.5), percentile_cont(duration_ms, 0.95),
//! percentile_cont(duration_ms, 0.99)` is how every p50/p95/p99 in faasobs is written (the summary
//! report, the dashboard, the benchmark). DataFusion plans three independent aggregates: each keeps
//! its own copy of every value of every group, through both phases, and selects in its own copy.
//! [`SharePercentiles`], an optimizer rule, rewrites such an aggregate to one
//! `faasobs_percentiles_cont(x, 0.5, 0.95, 0.99)` that keeps one copy and answers every percentile
//! from it as a list, with a projection above that takes each element out under the original
//! column's name. The answers are DataFusion's, bit for bit: the same order statistics and the
//! same interpolation.
//!
//! The rule rewrites only what it can answer the same way: `percentile_cont` (or `quantile_cont`)
//! as registered by [`crate::percentile`], over a `Float64` column, with a literal percentile
//! strictly between 0 and 1, not `DISTINCT`, optionally `WITHIN GROUP (ORDER BY x [DESC])` and
//! `FILTER (WHERE ...)`; at least two of them over the same column and filter in one aggregate.

use std::any::Any;
use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, PrimitiveArray,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DataFusionError, Result, ScalarValue};
use datafusion::functions_nested::expr_fn::array_element;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, Aggregate, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, ExprSchemable,
    GroupsAccumulator, LogicalPlan, Projection, Signature, Volatility, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::expressions::Literal;

use crate::percentile::FixedPercentileCont;

/// DataFusion's weight quantum for interpolating between two neighbours (its
/// `INTERPOLATION_PRECISION`), so that the answers are the same.
const INTERPOLATION_PRECISION: f64 = 1_000_000.0;

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub struct SharePercentiles;

impl OptimizerRule for SharePercentiles {
    fn name(&self) -> &str {
        "faasobs_share_percentiles"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = plan else {
            return Ok(Transformed::no(plan));
        };
        match share(&aggregate)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(LogicalPlan::Aggregate(aggregate))),
        }
    }
}

/// One `percentile_cont` the rule can share: its column, filter and percentile (already turned
/// for a descending `WITHIN GROUP`).
struct Shareable {
    value: Expr,
    filter: Option<Box<Expr>>,
    percentile: f64,
}

fn shareable(expr: &Expr, aggregate: &Aggregate) -> Result<Option<Shareable>> {
    // Common subexpression elimination may have named it already.
    let expr = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return Ok(None);
    };
    let AggregateFunctionParams {
        args,
        distinct,
        filter,
        order_by,
        null_treatment,
    } = params;
    let is_ours = (func.inner().as_ref() as &dyn Any)
        .downcast_ref::<FixedPercentileCont>()
        .is_some();
    if !is_ours || *distinct || null_treatment.is_some() || args.len() != 2 {
        return Ok(None);
    }
    let Expr::Literal(ScalarValue::Float64(Some(percentile)), _) = &args[1] else {
        return Ok(None);
    };
    let value = &args[0];
    if value.get_type(aggregate.input.schema())? != DataType::Float64 {
        return Ok(None);
    }
    let percentile = match order_by.as_slice() {
        [] => *percentile,
        [sort] if sort.expr == *value => {
            if sort.asc {
                *percentile
            } else {
                1.0 - percentile
            }
        }
        _ => return Ok(None),
    };
    // The ends are rewritten to min and max by the function's own simplification.
    if !(percentile > 0.0 && percentile < 1.0) {
        return Ok(None);
    }
    Ok(Some(Shareable {
        value: value.clone(),
        filter: filter.clone(),
        percentile,
    }))
}

/// The aggregate with its shareable percentiles computed once per column and filter, and a
/// projection that gives back the original columns; `None` when nothing is shared.
fn share(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    if aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Ok(None);
    }
    let mut found = Vec::with_capacity(aggregate.aggr_expr.len());
    for expr in &aggregate.aggr_expr {
        found.push(shareable(expr, aggregate)?);
    }
    // Group the shareable ones by column and filter; a group of one is left as it is.
    let mut groups: Vec<(Expr, Option<Box<Expr>>, Vec<usize>)> = Vec::new();
    for (i, s) in found.iter().enumerate() {
        let Some(s) = s else { continue };
        match groups
            .iter_mut()
            .find(|(value, filter, _)| *value == s.value && *filter == s.filter)
        {
            Some((_, _, members)) => members.push(i),
            None => groups.push((s.value.clone(), s.filter.clone(), vec![i])),
        }
    }
    groups.retain(|(_, _, members)| members.len() > 1);
    if groups.is_empty() {
        return Ok(None);
    }

    let udaf = Arc::new(percentiles_cont_udaf());
    let mut aggr_expr = Vec::new();
    // For every original aggregate: the index of the new aggregate it reads, and the list
    // element (1-based) when it is a shared percentile.
    let mut source: Vec<(usize, Option<i64>)> = vec![(usize::MAX, None); found.len()];
    let mut done = vec![false; found.len()];
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        if done[i] {
            continue;
        }
        match groups.iter().find(|(_, _, members)| members.contains(&i)) {
            Some((value, filter, members)) => {
                let mut args = vec![value.clone()];
                for (k, &m) in members.iter().enumerate() {
                    let percentile = found[m].as_ref().expect("shareable").percentile;
                    args.push(lit(percentile));
                    source[m] = (aggr_expr.len(), Some(k as i64 + 1));
                    done[m] = true;
                }
                aggr_expr.push(Expr::AggregateFunction(AggregateFunction::new_udf(
                    udaf.clone(),
                    args,
                    false,
                    filter.clone(),
                    Vec::new(),
                    None,
                )));
            }
            None => {
                source[i] = (aggr_expr.len(), None);
                aggr_expr.push(expr.clone());
            }
        }
    }
    let shared = Aggregate::try_new(
        aggregate.input.clone(),
        aggregate.group_expr.clone(),
        aggr_expr,
    )?;
    let groups_len = aggregate.group_expr.len();
    let new_columns: Vec<Column> = shared.schema.columns();
    let mut projection: Vec<Expr> = new_columns[..groups_len]
        .iter()
        .cloned()
        .map(Expr::Column)
        .collect();
    let original = aggregate.schema.columns();
    for (i, (from, element)) in source.into_iter().enumerate() {
        let column = Expr::Column(new_columns[groups_len + from].clone());
        let name = &original[groups_len + i];
        projection.push(match element {
            Some(k) => {
                array_element(column, lit(k)).alias_qualified(name.relation.clone(), &name.name)
            }
            None => column.alias_qualified(name.relation.clone(), &name.name),
        });
    }
    Ok(Some(LogicalPlan::Projection(
        Projection::try_new_with_schema(
            projection,
            Arc::new(LogicalPlan::Aggregate(shared)),
            aggregate.schema.clone(),
        )?,
    )))
}

/// `faasobs_percentiles_cont(x, p1, p2, ...)`: the list of `percentile_cont(x, p)` for each `p`.
pub fn percentiles_cont_udaf() -> AggregateUDF {
    AggregateUDF::from(PercentilesCont {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PercentilesCont {
    signature: Signature,
}

fn list_of_values() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// The percentiles of an accumulator's arguments, which the rule made literals.
fn percentiles_of(exprs: &[Arc<dyn PhysicalExpr>]) -> Result<Vec<f64>> {
    exprs[1..]
        .iter()
        .map(|e| match e.downcast_ref::<Literal>().map(|l| l.value()) {
            Some(ScalarValue::Float64(Some(p))) if *p > 0.0 && *p < 1.0 => Ok(*p),
            _ => Err(DataFusionError::Plan(format!(
                "faasobs_percentiles_cont takes literal percentiles between 0 and 1, not {e}"
            ))),
        })
        .collect()
}

impl AggregateUDFImpl for PercentilesCont {
    fn name(&self) -> &str {
        "faasobs_percentiles_cont"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::Float64) if arg_types.len() > 1 => Ok(list_of_values()),
            _ => Err(DataFusionError::Plan(
                "faasobs_percentiles_cont takes a Float64 column and its percentiles".into(),
            )),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            list_of_values(),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ValuesAccumulator {
            values: Vec::new(),
            percentiles: percentiles_of(args.exprs)?,
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsValues {
            groups: Vec::new(),
            percentiles: percentiles_of(args.exprs)?,
        }))
    }
}

fn total_order(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// Every percentile of `values` (reordered in place), as DataFusion's `percentile_cont` answers
/// each: the order statistics at `p * (n - 1)`'s floor and ceiling, interpolated with its quantised
/// weight. Each selection works only on the part above the previous one.
fn percentiles(values: &mut [f64], percentiles: &[f64]) -> Option<Vec<f64>> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(vec![values[0]; percentiles.len()]);
    }
    let positions: Vec<(f64, usize, usize)> = percentiles
        .iter()
        .map(|p| {
            let index = p * ((n - 1) as f64);
            (index, index.floor() as usize, index.ceil() as usize)
        })
        .collect();
    let mut wanted: Vec<usize> = positions.iter().flat_map(|&(_, l, u)| [l, u]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut selected = Vec::with_capacity(wanted.len());
    let mut from = 0;
    for &k in &wanted {
        let (_, value, _) = values[from..].select_nth_unstable_by(k - from, total_order);
        selected.push((k, *value));
        from = k;
    }
    let at = |k: usize| {
        selected
            .iter()
            .find(|(i, _)| *i == k)
            .map(|(_, v)| *v)
            .expect("selected")
    };
    Some(
        positions
            .into_iter()
            .map(|(index, lower, upper)| {
                let lower_value = at(lower);
                if lower == upper {
                    return lower_value;
                }
                let upper_value = at(upper);
                let fraction = index - (lower as f64);
                let weight = ((fraction * INTERPOLATION_PRECISION) as usize) as f64
                    / INTERPOLATION_PRECISION;
                lower_value + (upper_value - lower_value) * weight
            })
            .collect(),
    )
}

/// Lists of values, one per group, as the state both phases exchange.
fn values_list(groups: Vec<Vec<f64>>) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values = PrimitiveArray::<Float64Type>::new(
        ScalarBuffer::from(groups.into_iter().flatten().collect::<Vec<f64>>()),
        None,
    );
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(values),
        None,
    ))
}

/// Each group's percentiles as a list (null for a group without values).
fn percentile_lists(groups: impl Iterator<Item = Option<Vec<f64>>>, per_group: usize) -> ArrayRef {
    let mut lengths = Vec::new();
    let mut values = Vec::new();
    let mut valid = Vec::new();
    for answer in groups {
        match answer {
            Some(answer) => {
                values.extend(answer);
                lengths.push(per_group);
                valid.push(true);
            }
            None => {
                lengths.push(0);
                valid.push(false);
            }
        }
    }
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(Float64Array::from(values)),
        Some(valid.into()),
    ))
}

/// The groups accumulator: one vector of values per group.
#[derive(Debug)]
struct GroupsValues {
    groups: Vec<Vec<f64>>,
    percentiles: Vec<f64>,
}

impl GroupsAccumulator for GroupsValues {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.groups.resize_with(total_num_groups, Vec::new);
        for (row, &group) in group_indices.iter().enumerate() {
            let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if kept && values.is_valid(row) {
                self.groups[group].push(values.value(row));
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let lists = values[0].as_list::<i32>();
        let inner = lists.values().as_primitive::<Float64Type>().values();
        let offsets = lists.value_offsets();
        self.groups.resize_with(total_num_groups, Vec::new);
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                self.groups[group].extend_from_slice(&inner[start..end]);
            }
        }
        Ok(())
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![values_list(emit_to.take_needed(&mut self.groups))])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        let answers = groups
            .into_iter()
            .map(|mut values| percentiles(&mut values, &self.percentiles));
        Ok(percentile_lists(answers, self.percentiles.len()))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group: a list of its value, or of nothing when null or filtered out.
        let values = values[0].as_primitive::<Float64Type>();
        let groups = (0..values.len())
            .map(|row| {
                let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
                if kept && values.is_valid(row) {
                    vec![values.value(row)]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Ok(vec![values_list(groups)])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Vec<f64>>()
            + self
                .groups
                .iter()
                .map(|g| g.capacity() * size_of::<f64>())
                .sum::<usize>()
    }
}

/// The accumulator of an aggregate without groups.
#[derive(Debug)]
struct ValuesAccumulator {
    values: Vec<f64>,
    percentiles: Vec<f64>,
}

impl Accumulator for ValuesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.values.extend(values.iter().flatten());
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for list in lists.iter().flatten() {
            self.values
                .extend(list.as_primitive::<Float64Type>().values().iter());
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = values_list(vec![self.values.clone()]);
        Ok(vec![ScalarValue::List(Arc::new(
            list.as_list::<i32>().clone(),
        ))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let list = percentile_lists(
            std::iter::once(percentiles(&mut self.values, &self.percentiles)),
            self.percentiles.len(),
        );
        Ok(ScalarValue::List(Arc::new(list.as_list::<i32>().clone())))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.values.capacity() * size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::prelude::{SessionConfig, SessionContext};

    use crate::percentile::percentile_cont_udaf;
    use crate::percentile::tests::{answer, skipping_partial_aggregation, table};

    fn session(config: SessionConfig, share: bool) -> SessionContext {
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udaf(percentile_cont_udaf());
        if share {
            ctx.add_optimizer_rule(Arc::new(SharePercentiles));
        }
        ctx.register_table("t", Arc::new(table())).unwrap();
        ctx
    }

    /// Queries whose percentiles the rule shares, in every form it accepts and beside what it
    /// leaves alone.
    const QUERIES: [&str; 6] = [
        "SELECT g, percentile_cont(x, 0.5) AS p50, percentile_cont(x, 0.95) AS p95, \
         percentile_cont(x, 0.99) AS p99 FROM t GROUP BY g ORDER BY g",
        // Shared per filter; the ends (min and max), a lone percentile and other aggregates
        // between them stay as they were.
        "SELECT g, count(*) AS n, percentile_cont(x, 0.3) FILTER (WHERE keep > 0) AS f30, \
         percentile_cont(x, 0.0) AS p0, percentile_cont(x, 0.25) AS p25, max(x) AS top, \
         percentile_cont(x, 0.7) FILTER (WHERE keep > 0) AS f70, percentile_cont(x, 1.0) AS p100, \
         quantile_cont(x, 0.75) AS q75, percentile_cont(x - 1, 0.5) AS shifted \
         FROM t GROUP BY g ORDER BY g",
        // WITHIN GROUP, ascending and descending, with the same percentile twice.
        "SELECT g, percentile_cont(0.8) WITHIN GROUP (ORDER BY x DESC) AS d80, \
         percentile_cont(0.8) WITHIN GROUP (ORDER BY x) AS a80, percentile_cont(x, 0.8) AS p80, \
         percentile_cont(x, 0.2) AS p20 FROM t GROUP BY g ORDER BY g",
        // Two columns, each shared on its own, and a grouped expression.
        "SELECT g % 5 AS bucket, percentile_cont(x, 0.5) AS x50, percentile_cont(x, 0.9) AS x90, \
         percentile_cont(CAST(keep AS DOUBLE), 0.5) AS k50, \
         percentile_cont(CAST(keep AS DOUBLE), 0.9) AS k90 FROM t GROUP BY g % 5 ORDER BY 1",
        "SELECT percentile_cont(x, 0.5) AS p50, percentile_cont(x, 0.99) AS p99, \
         percentile_cont(x, 0.333) AS p33 FROM t",
        "SELECT percentile_cont(x, 0.5) AS p50, percentile_cont(x, 0.9) AS p90 \
         FROM t WHERE x > 1e9",
    ];

    /// The shared percentiles are DataFusion's, digit for digit, in two phases over four
    /// partitions and when partial aggregation skips itself (each row its own state).
    #[tokio::test]
    async fn answers_as_separate_percentiles_do() {
        let config = SessionConfig::new().with_target_partitions(4);
        let skipping = skipping_partial_aggregation(config.clone());
        let separate = session(config.clone(), false);
        for config in [config, skipping] {
            let shared = session(config, true);
            for sql in QUERIES {
                let expected = answer(&separate, sql).await;
                assert!(expected.lines().count() > 4, "{expected}");
                assert_eq!(answer(&shared, sql).await, expected, "{sql}");
            }
        }
    }

    /// The plan keeps one copy per column and filter: the first query's three percentiles
    /// become one aggregate, and the second query's seven shareable ones become two (the ends
    /// and the lone percentile of `x - 1` stay).
    #[tokio::test]
    async fn shares_one_aggregate_per_column_and_filter() {
        let ctx = session(SessionConfig::new(), true);
        for (sql, shared, separate) in [(QUERIES[0], 1, 0), (QUERIES[1], 2, 1)] {
            let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
            let LogicalPlan::Aggregate(aggregate) = find_aggregate(&plan) else {
                unreachable!()
            };
            let names: Vec<String> = aggregate
                .aggr_expr
                .iter()
                .map(|e| match e {
                    Expr::Alias(alias) => alias.expr.as_ref(),
                    other => other,
                })
                .map(|e| match e {
                    Expr::AggregateFunction(f) => f.func.name().to_string(),
                    other => other.to_string(),
                })
                .collect();
            let count = |name: &str| names.iter().filter(|n| *n == name).count();
            assert_eq!(count("faasobs_percentiles_cont"), shared, "{names:?}");
            assert_eq!(count("percentile_cont"), separate, "{names:?}");
        }
    }

    fn find_aggregate(plan: &LogicalPlan) -> &LogicalPlan {
        match plan {
            LogicalPlan::Aggregate(_) => plan,
            other => find_aggregate(other.inputs()[0]),
        }
    }

    /// The selection works upward from one percentile to the next and answers each as the sort
    /// would: checked against a sorted copy on ties, two values and one.
    #[test]
    fn selects_each_order_statistic_once() {
        let mut next = crate::test_numbers(7);
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let values: Vec<f64> = (0..n).map(|_| next(50) as f64 / 4.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let ps = [0.99, 0.5, 0.95, 0.5, 0.001];
            let answers = percentiles(&mut values.clone(), &ps).unwrap();
            for (p, answer) in ps.iter().zip(answers) {
                let index = p * ((n - 1) as f64);
                let (lower, upper) = (
                    sorted[index.floor() as usize],
                    sorted[index.ceil() as usize],
                );
                assert!(lower <= answer && answer <= upper, "n={n} p={p}");
                if lower == upper {
                    assert_eq!(answer, lower);
                }
            }
        }
        assert_eq!(percentiles(&mut [], &[0.5]), None);
    }
}
