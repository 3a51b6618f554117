//! Sums over runs: a partial `GROUP BY key` of sums first adds up each run of rows with one key.
//!
//! The store's files are sorted by function name, so the rows a scan reads come in long runs of
//! one function: `SELECT function_name, sum(cost_usd) ... GROUP BY function_name` hashed and
//! looked up the name of every one of 10M rows, about a third of the cost query's CPU
//! (benchmarks-history.md, twenty-fourth session). [`CollapseRunsBeforeSums`] puts a
//! [`RunSumsExec`] under each partial aggregation that only sums `Float64` or `Int64` values by
//! one key (a projection first computes the key and the sums' arguments, where they are
//! expressions or the input holds other columns): each run of equal keys in a batch becomes one
//! row holding the run's sums (null where every value of the run is null, as `sum` gives). The
//! aggregation then sees one row per run, and its result is the same sum, added up in another
//! order (to the bit for integers).
//!
//! Where the rows do not come in runs, collapsing would only cost time: once a partition has
//! seen [`PROBE_ROWS`] rows that collapsed to more than a quarter of their number, it passes
//! the rest through as they are.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, PrimitiveArray, UInt32Array};
use arrow::compute::{partition, take};
use arrow::datatypes::{ArrowNumericType, DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::StreamExt;

/// Rows a partition reads before it decides whether collapsing runs pays.
pub const PROBE_ROWS: usize = 65_536;

/// The physical optimizer rule that puts a [`RunSumsExec`] under partial sums by one key.
#[derive(Debug, Default)]
pub struct CollapseRunsBeforeSums;

impl PhysicalOptimizerRule for CollapseRunsBeforeSums {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            match collapsed_sums(aggregate)? {
                Some(rewritten) => Ok(Transformed::new(rewritten, true, TreeNodeRecursion::Jump)),
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "collapse_runs_before_sums"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `aggregate` reading its rows through a [`RunSumsExec`], when it is a partial aggregation of
/// plain `sum`s of [`summable`] values grouped by one expression. Where its input holds more than
/// the key and the summed columns, or it sums expressions, a projection computes the key and
/// each sum's argument first, and the aggregation sums those columns.
fn collapsed_sums(aggregate: &AggregateExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if *aggregate.mode() != AggregateMode::Partial
        || aggregate.input().is::<RunSumsExec>()
        || aggregate.filter_expr().iter().any(Option::is_some)
    {
        return Ok(None);
    }
    let group_by = aggregate.group_expr();
    if !group_by.is_single() || group_by.expr().len() != 1 {
        return Ok(None);
    }
    let input = aggregate.input();
    let schema = input.schema();
    let mut arguments = Vec::new();
    for sum in aggregate.aggr_expr() {
        let args = sum.expressions();
        if sum.fun().name() != "sum"
            || sum.is_distinct()
            || !sum.order_bys().is_empty()
            || args.len() != 1
            || !summable(&args[0].data_type(&schema)?)
        {
            return Ok(None);
        }
        arguments.push(Arc::clone(&args[0]));
    }
    if arguments.is_empty() {
        return Ok(None);
    }
    let (key_expr, key_name) = &group_by.expr()[0];
    // Runs are found by comparing neighbouring keys; nested keys are left to the hash alone.
    if key_expr.data_type(&schema)?.is_nested() {
        return Ok(None);
    }
    // The input as it is, when it holds only the key and the summed columns.
    let key = column_index(key_expr);
    let mut summed: Vec<usize> = arguments.iter().filter_map(column_index).collect();
    summed.sort_unstable();
    summed.dedup();
    if let Some(key) = key
        && summed.len() == arguments.len()
        && !summed.contains(&key)
        && summed.len() + 1 == schema.fields().len()
    {
        let runs = Arc::new(RunSumsExec::new(Arc::clone(input), key, summed));
        let rewritten = Arc::new(aggregate.clone()).replace_children(
            vec![runs],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        return Ok(Some(rewritten));
    }
    // Otherwise the key and each argument computed first, as columns 0, 1, 2, ...
    let mut projected = vec![ProjectionExpr::new(Arc::clone(key_expr), key_name.clone())];
    let mut sums = Vec::new();
    for (n, (sum, argument)) in aggregate.aggr_expr().iter().zip(&arguments).enumerate() {
        let name = format!("run_sum_{n}");
        let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&name, n + 1));
        let Some(rewritten) = sum.with_new_expressions(vec![column], vec![]) else {
            return Ok(None);
        };
        projected.push(ProjectionExpr::new(Arc::clone(argument), name));
        sums.push(Arc::new(rewritten));
    }
    let projection: Arc<dyn ExecutionPlan> =
        Arc::new(ProjectionExec::try_new(projected, Arc::clone(input))?);
    let key_column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(key_name, 0));
    let runs: Arc<dyn ExecutionPlan> = Arc::new(RunSumsExec::new(
        projection,
        0,
        (1..=arguments.len()).collect(),
    ));
    let runs_schema = runs.schema();
    let rewritten = AggregateExec::try_new(
        AggregateMode::Partial,
        PhysicalGroupBy::new_single(vec![(key_column, key_name.clone())]),
        sums,
        vec![None; arguments.len()],
        runs,
        runs_schema,
    )?
    // A limit the planner gave the aggregation stays with it, as in the rewrite above.
    .with_limit_options(aggregate.limit_options());
    // The aggregations above read what this one writes: it must not change.
    if rewritten.schema() != aggregate.schema() {
        return Ok(None);
    }
    Ok(Some(Arc::new(rewritten)))
}

fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}

/// Adds up each run of rows with one key, batch by batch: the same columns, one row per run.
#[derive(Debug)]
pub struct RunSumsExec {
    input: Arc<dyn ExecutionPlan>,
    key: usize,
    summed: Vec<usize>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RunSumsExec {
    /// Collapses runs of equal `key` in `input`, summing the `summed` columns (`Float64` or
    /// `Int64`); the input must have no other column.
    pub fn new(input: Arc<dyn ExecutionPlan>, key: usize, summed: Vec<usize>) -> RunSumsExec {
        let properties = Arc::new(input.properties().as_ref().clone());
        RunSumsExec {
            input,
            key,
            summed,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for RunSumsExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let schema = self.input.schema();
        let summed: Vec<&str> = self
            .summed
            .iter()
            .map(|c| schema.field(*c).name().as_str())
            .collect();
        write!(
            f,
            "RunSumsExec: key={}, sums=[{}]",
            schema.field(self.key).name(),
            summed.join(", ")
        )
    }
}

impl ExecutionPlan for RunSumsExec {
    fn name(&self) -> &str {
        "RunSumsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RunSumsExec::new(
            children.swap_remove(0),
            self.key,
            self.summed.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let mut collapser = RunCollapser {
            key: self.key,
            summed: self.summed.clone(),
            rows_in: 0,
            rows_out: 0,
        };
        let stream = input.map(move |batch| {
            let _timer = metrics.elapsed_compute().timer();
            let collapsed = collapser.collapse(batch?)?;
            metrics.record_output(collapsed.num_rows());
            Ok(collapsed)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::LowerEqual
    }
}

/// One partition's collapsing, with what it has read and written so far.
struct RunCollapser {
    key: usize,
    summed: Vec<usize>,
    rows_in: usize,
    rows_out: usize,
}

impl RunCollapser {
    /// The batch with each run of one key as one row, or as it is once runs proved short.
    fn collapse(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.rows_in >= PROBE_ROWS && self.rows_out * 4 > self.rows_in {
            return Ok(batch);
        }
        let runs = partition(&[Arc::clone(batch.column(self.key))])?.ranges();
        self.rows_in += batch.num_rows();
        self.rows_out += runs.len();
        if runs.len() == batch.num_rows() {
            return Ok(batch);
        }
        let starts: UInt32Array = runs.iter().map(|run| run.start as u32).collect();
        let columns = (0..batch.num_columns())
            .map(|c| {
                let column = batch.column(c);
                if self.summed.contains(&c) {
                    Ok(sums_of_runs(column, &runs))
                } else {
                    Ok(take(column, &starts, None)?)
                }
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

/// Each run's sum of a column of a [`summable`] type; null for a run of nulls only.
fn sums_of_runs(column: &ArrayRef, runs: &[std::ops::Range<usize>]) -> ArrayRef {
    match column.data_type() {
        DataType::Int64 => typed_sums_of_runs::<Int64Type>(column, runs),
        _ => typed_sums_of_runs::<Float64Type>(column, runs),
    }
}

fn typed_sums_of_runs<T: ArrowNumericType>(
    column: &ArrayRef,
    runs: &[std::ops::Range<usize>],
) -> ArrayRef {
    let values = column.as_primitive::<T>();
    let sums: PrimitiveArray<T> = runs
        .iter()
        .map(|run| arrow::compute::sum(&values.slice(run.start, run.len())))
        .collect();
    Arc::new(sums)
}

/// Types whose runs can be summed ahead of `sum`: those it sums in their own type. DataFusion
/// adds integers with wrap-around, as arrow's `sum` does, so `Int64` runs give the same total
/// to the bit (smaller integers are cast to `Int64` before they are summed).
fn summable(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float64 | DataType::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array, Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn context(with_rule: bool) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(2);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if with_rule {
            state = state.with_physical_optimizer_rule(Arc::new(CollapseRunsBeforeSums));
        }
        SessionContext::new_with_state(state.build())
    }

    /// Batches of rows in runs of one name: long runs, runs of one row, a run of null names, a
    /// run whose values are all null, and runs that continue from one batch into the next.
    fn runs_table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            // Text as the store's scans read it.
            Field::new("name", DataType::Utf8View, true),
            Field::new("cost", DataType::Float64, true),
            Field::new("billed", DataType::Float64, true),
            Field::new("count", DataType::Int64, true),
        ]));
        let mut next = crate::test_numbers(7);
        let mut batches = Vec::new();
        for b in 0..6 {
            let mut names = Vec::new();
            for run in 0..40 {
                let name = match (b + run) % 9 {
                    0 => None,
                    k => Some(format!("function-{k}-{}", run % 3)),
                };
                let length = if run % 5 == 0 {
                    1
                } else {
                    1 + next(30) as usize
                };
                names.extend(std::iter::repeat_n(name, length));
            }
            let all_null_run = |name: &Option<String>| name.as_deref() == Some("function-4-1");
            let cost: Float64Array = names
                .iter()
                .map(|n| (!all_null_run(n) && next(7) != 0).then(|| next(1000) as f64 / 4.0))
                .collect();
            let billed: Float64Array = names.iter().map(|_| Some(next(50) as f64)).collect();
            let count: Int64Array = names.iter().map(|_| Some(next(9) as i64)).collect();
            let names: StringViewArray = names.iter().map(Option::as_deref).collect();
            batches.push(
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(names),
                        Arc::new(cost),
                        Arc::new(billed),
                        Arc::new(count),
                    ],
                )
                .unwrap(),
            );
        }
        MemTable::try_new(schema, vec![batches]).unwrap()
    }

    async fn plan_and_rows(with_rule: bool, sql: &str) -> (String, Vec<RecordBatch>) {
        let ctx = context(with_rule);
        ctx.register_table("t", Arc::new(runs_table())).unwrap();
        let frame = ctx.sql(sql).await.unwrap();
        let plan = frame.clone().create_physical_plan().await.unwrap();
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        (shown, frame.collect().await.unwrap())
    }

    #[tokio::test]
    async fn sums_by_one_key_over_runs_give_the_plain_aggregations_answer() {
        // Quarters and whole numbers add up exactly in any order, so the answers compare equal.
        let sql = "SELECT name, sum(cost) AS cost, sum(billed) AS billed FROM t \
                   GROUP BY name ORDER BY name NULLS FIRST";
        let (plain_plan, plain) = plan_and_rows(false, sql).await;
        let (plan, collapsed) = plan_and_rows(true, sql).await;
        assert!(!plain_plan.contains("RunSumsExec"), "{plain_plan}");
        assert!(
            plan.contains("RunSumsExec: key=name, sums=[cost, billed]"),
            "{plan}"
        );
        assert_eq!(collapsed, plain);
        let rows = arrow::compute::concat_batches(&collapsed[0].schema(), &collapsed).unwrap();
        let names = rows.column(0).as_string_view();
        let costs = rows.column(1).as_primitive::<Float64Type>();
        // Null names group together, and a name whose every cost is null sums to null, as
        // `sum` gives.
        assert!(names.is_null(0) && costs.is_valid(0));
        let all_null = (0..rows.num_rows())
            .find(|r| names.is_valid(*r) && names.value(*r) == "function-4-1")
            .unwrap();
        assert!(costs.is_null(all_null));
        assert_eq!(costs.null_count(), 1);

        // Sums of expressions, a key computed from columns, a query reading more columns than
        // it sums, and `sum(DISTINCT ...)`, which is planned as a plain sum over distinct values.
        for sql in [
            "SELECT name, sum(CASE WHEN billed > 10 THEN cost ELSE 0 END) AS cost FROM t \
             GROUP BY name ORDER BY name NULLS FIRST",
            "SELECT upper(name) AS name, sum(cost * 2) AS cost, sum(billed + count) AS b FROM t \
             GROUP BY upper(name) ORDER BY name NULLS FIRST",
            "SELECT name, sum(DISTINCT cost) AS cost FROM t GROUP BY name \
             ORDER BY name NULLS FIRST",
            // Integers wrap around in both plans: these sums pass `i64::MAX`.
            "SELECT name, sum(count * 1000000000000000000) AS c FROM t GROUP BY name \
             ORDER BY name NULLS FIRST",
            // Smaller integers are cast to `Int64` before they are summed.
            "SELECT name, sum(CAST(count AS INT)) AS c FROM t GROUP BY name \
             ORDER BY name NULLS FIRST",
        ] {
            let (_, plain) = plan_and_rows(false, sql).await;
            let (plan, collapsed) = plan_and_rows(true, sql).await;
            assert!(plan.contains("RunSumsExec"), "{sql}:\n{plan}");
            assert_eq!(collapsed, plain, "{sql}");
        }
    }

    #[tokio::test]
    async fn aggregations_that_runs_would_change_are_left_alone() {
        for sql in [
            "SELECT name, count(*) FROM t GROUP BY name",
            "SELECT name, sum(cost), count(cost) FROM t GROUP BY name",
            "SELECT name, sum(cost), max(billed) FROM t GROUP BY name",
            "SELECT name, avg(cost) FROM t GROUP BY name",
            "SELECT name, billed, sum(cost) FROM t GROUP BY name, billed",
            "SELECT name, sum(cost) FILTER (WHERE billed > 10) FROM t GROUP BY name",
            "SELECT sum(cost) FROM t",
        ] {
            let (plan, rows) = plan_and_rows(true, sql).await;
            assert!(!plan.contains("RunSumsExec"), "{sql}:\n{plan}");
            let (_, plain) = plan_and_rows(false, sql).await;
            let sorted = |batches: &[RecordBatch]| {
                let mut lines: Vec<String> = arrow::util::pretty::pretty_format_batches(batches)
                    .unwrap()
                    .to_string()
                    .lines()
                    .map(str::to_string)
                    .collect();
                lines.sort();
                lines
            };
            assert_eq!(sorted(&rows), sorted(&plain), "{sql}");
        }
    }

    #[test]
    fn a_partition_whose_rows_come_in_short_runs_passes_them_through() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("cost", DataType::Float64, false),
        ]));
        let batch = |names: Vec<String>| {
            let costs: Float64Array = names.iter().map(|_| Some(1.0)).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from(names)), Arc::new(costs)],
            )
            .unwrap()
        };
        let mut collapser = RunCollapser {
            key: 0,
            summed: vec![1],
            rows_in: 0,
            rows_out: 0,
        };
        // Runs of two rows: half the rows come out while probing, then every row.
        let pairs =
            |from: usize| batch((from..from + 8192).map(|i| format!("f{}", i / 2)).collect());
        let mut out = Vec::new();
        for b in 0..(PROBE_ROWS / 8192 + 2) {
            out.push(collapser.collapse(pairs(b * 8192)).unwrap().num_rows());
        }
        assert_eq!(out[..PROBE_ROWS / 8192], vec![4096; PROBE_ROWS / 8192]);
        assert_eq!(out[PROBE_ROWS / 8192..], [8192, 8192]);
        // Long runs keep collapsing past the probe.
        let mut collapser = RunCollapser {
            key: 0,
            summed: vec![1],
            rows_in: 0,
            rows_out: 0,
        };
        let long = |from: usize| {
            batch(
                (from..from + 8192)
                    .map(|i| format!("f{}", i / 1000))
                    .collect(),
            )
        };
        for b in 0..(PROBE_ROWS / 8192 + 2) {
            let collapsed = collapser.collapse(long(b * 8192)).unwrap();
            assert!(
                collapsed.num_rows() <= 10,
                "batch {b}: {}",
                collapsed.num_rows()
            );
            let total: f64 =
                arrow::compute::sum(collapsed.column(1).as_primitive::<Float64Type>()).unwrap();
            assert_eq!(total, 8192.0);
        }
    }
}
