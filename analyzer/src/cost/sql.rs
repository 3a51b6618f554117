//! Cost in SQL: the `invocation_cost`, `invocation_cost_usd` and `tiered_duration_usd` functions
//! and the `invocation_costs` and `monthly_costs` views, registered in every analyzer session.
//!
//! - `invocation_cost(provider, region, architecture, memory_size_mb, max_memory_used_mb,
//!   start_time, duration_ms, billed_duration_ms, init_duration_ms, cold_start, status,
//!   error_message)` returns a struct with the price of one invocation at the marginal (first
//!   tier) price; see [`super::billing::price_invocation`]. `invocation_cost_usd(...)`, the same
//!   arguments, returns only its `cost_usd`.
//! - `invocation_costs`: every column of `invocations` plus that struct's fields (`cost_usd` by
//!   `invocation_cost_usd`, so a query that only sums it builds no struct).
//! - `tiered_duration_usd(provider, region, architecture, time, gb_seconds, ghz_seconds)`: a
//!   month's duration charge through the tiers.
//! - `monthly_costs`: per month, account, provider, region and architecture, with tiers applied
//!   (the free tier is applied by `faasobs cost report --free-tier`, which knows the whole month).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int64Array,
    StringViewArray, StringViewBuilder, StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Field, Fields, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::billing::{InvocationCost, InvocationFacts, Pricer, tiered_usd, timeout_from_message};
use super::catalog::Catalog;

/// The fields `invocation_cost` returns, in order.
pub const COST_FIELDS: [(&str, DataType); 12] = [
    ("pricing_provider", DataType::Utf8View),
    ("pricing_region", DataType::Utf8View),
    ("pricing_architecture", DataType::Utf8View),
    ("pricing_defaulted", DataType::Boolean),
    ("billed_ms", DataType::Float64),
    ("init_billed_ms", DataType::Float64),
    ("billed_memory_mb", DataType::Float64),
    ("gb_seconds", DataType::Float64),
    ("ghz_seconds", DataType::Float64),
    ("request_usd", DataType::Float64),
    ("duration_usd", DataType::Float64),
    ("init_usd", DataType::Float64),
];

/// The view of every invocation with its price.
pub const INVOCATION_COSTS_VIEW: &str = "invocation_costs";
/// The view of monthly totals with tiers.
pub const MONTHLY_COSTS_VIEW: &str = "monthly_costs";

fn cost_struct_fields() -> Fields {
    let mut fields: Vec<Field> = COST_FIELDS
        .iter()
        .map(|(name, t)| Field::new(*name, t.clone(), true))
        .collect();
    fields.push(Field::new("cost_usd", DataType::Float64, true));
    Fields::from(fields)
}

/// Registers the cost functions and views over `invocations`.
pub async fn register(ctx: &SessionContext, catalog: Arc<Catalog>) -> Result<()> {
    ctx.register_udf(ScalarUDF::from(InvocationCostUdf(PricedWith::new(
        catalog.clone(),
        12,
    ))));
    ctx.register_udf(ScalarUDF::from(InvocationCostUsdUdf(PricedWith::new(
        catalog.clone(),
        12,
    ))));
    ctx.register_udf(ScalarUDF::from(TieredDurationUdf(PricedWith::new(
        catalog, 6,
    ))));
    // `cost_usd` by its own function: a query that only sums it prices without the struct.
    let fields: Vec<String> = COST_FIELDS
        .iter()
        .map(|(name, _)| format!("c['{name}'] AS {name}"))
        .collect();
    let arguments = "provider, region, architecture, memory_size_mb, max_memory_used_mb, \
                     start_time, duration_ms, billed_duration_ms, init_duration_ms, cold_start, \
                     status, error_message";
    let costs = ctx
        .sql(&format!(
            "SELECT * EXCLUDE (c), {fields}, invocation_cost_usd({arguments}) AS cost_usd \
             FROM (SELECT *, invocation_cost({arguments}) AS c FROM invocations)",
            fields = fields.join(", ")
        ))
        .await?
        .into_view();
    ctx.register_table(INVOCATION_COSTS_VIEW, costs)?;
    let monthly = ctx
        .sql(
            "SELECT date_trunc('month', start_time) AS month, coalesce(account_id, '') AS account_id, \
             pricing_provider AS provider, pricing_region AS region, \
             pricing_architecture AS architecture, \
             sum(CASE WHEN cost_usd IS NOT NULL AND status <> 'throttled' THEN 1 ELSE 0 END) AS requests, \
             sum(gb_seconds) AS gb_seconds, sum(ghz_seconds) AS ghz_seconds, \
             sum(request_usd) AS request_usd, \
             tiered_duration_usd(pricing_provider, pricing_region, pricing_architecture, \
               date_trunc('month', start_time), sum(gb_seconds), sum(ghz_seconds)) AS duration_usd, \
             sum(request_usd) + tiered_duration_usd(pricing_provider, pricing_region, \
               pricing_architecture, date_trunc('month', start_time), sum(gb_seconds), \
               sum(ghz_seconds)) AS total_usd, \
             sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_invocations \
             FROM invocation_costs WHERE pricing_provider IS NOT NULL \
             GROUP BY 1, 2, 3, 4, 5",
        )
        .await?
        .into_view();
    ctx.register_table(MONTHLY_COSTS_VIEW, monthly)?;
    Ok(())
}

/// Text arguments are taken as `Utf8View`, the tables' text type: a no-op for columns, a cheap
/// conversion for `Utf8` literals and expressions.
fn text_at(strings: &StringViewArray, i: usize) -> Option<&str> {
    strings.is_valid(i).then(|| strings.value(i))
}

fn cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    Ok(arrow::compute::cast(array, to)?)
}

/// A time argument as ns since the epoch, whatever its unit and zone (a stored time's value is
/// UTC already): for the stored `Timestamp(Nanosecond, "UTC")` the same buffer, not a copy.
fn epoch_ns(array: &ArrayRef) -> Result<Int64Array> {
    let zone = match array.data_type() {
        DataType::Timestamp(_, zone) => zone.clone(),
        _ => None,
    };
    let ns = cast(array, &DataType::Timestamp(TimeUnit::Nanosecond, zone))?;
    let ns = ns.as_primitive::<TimestampNanosecondType>();
    Ok(Int64Array::new(ns.values().clone(), ns.nulls().cloned()))
}

/// What every catalog function holds: the catalog it prices with and its signature. Functions
/// are equal when they price with the same catalog (the session compares them when planning).
#[derive(Debug)]
struct PricedWith {
    catalog: Arc<Catalog>,
    signature: Signature,
}

impl PricedWith {
    fn new(catalog: Arc<Catalog>, arguments: usize) -> PricedWith {
        PricedWith {
            catalog,
            signature: Signature::any(arguments, Volatility::Immutable),
        }
    }
}

impl PartialEq for PricedWith {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.catalog, &other.catalog)
    }
}
impl Eq for PricedWith {}
impl Hash for PricedWith {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.catalog.catalog_version.hash(state);
    }
}

/// `invocation_cost(...)`: the price of one invocation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InvocationCostUdf(PricedWith);

impl ScalarUDFImpl for InvocationCostUdf {
    fn name(&self) -> &str {
        "invocation_cost"
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(cost_struct_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = CostArguments::new(&args)?;
        let rows = arguments.rows;
        // Every field is null exactly when the row is not priceable, so the numbers share one
        // validity buffer and are plain vectors: appending to ten builders, each with its own
        // validity, was about a sixth of `faasobs cost report`'s samples.
        let mut priceable = Vec::with_capacity(rows);
        let mut names: [StringViewBuilder; 3] =
            std::array::from_fn(|_| StringViewBuilder::with_capacity(rows));
        let mut defaulted = Vec::with_capacity(rows);
        let mut numbers: [Vec<f64>; 9] = std::array::from_fn(|_| Vec::with_capacity(rows));
        arguments.price_each(&self.0.catalog, |priced| {
            let Some(c) = priced else {
                priceable.push(false);
                names.iter_mut().for_each(|b| b.append_null());
                defaulted.push(false);
                numbers.iter_mut().for_each(|n| n.push(0.0));
                return;
            };
            priceable.push(true);
            names[0].append_value(&c.price.provider);
            names[1].append_value(&c.price.region);
            names[2].append_value(&c.price.architecture);
            defaulted.push(c.defaulted);
            let values = [
                c.billed_ms,
                c.init_billed_ms,
                c.billed_memory_mb,
                c.gb_s,
                c.ghz_s,
                c.request_usd,
                c.duration_usd,
                c.init_usd,
                c.total_usd,
            ];
            for (column, v) in numbers.iter_mut().zip(values) {
                column.push(v);
            }
        })?;
        let nulls = validity(priceable);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(COST_FIELDS.len() + 1);
        for mut builder in names {
            columns.push(Arc::new(builder.finish()));
        }
        columns.push(Arc::new(BooleanArray::new(defaulted.into(), nulls.clone())));
        for column in numbers {
            columns.push(Arc::new(Float64Array::new(column.into(), nulls.clone())));
        }
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            cost_struct_fields(),
            columns,
            None,
        )?)))
    }
}

/// `invocation_cost_usd(...)`, the same arguments as `invocation_cost`: only its `cost_usd`, so a
/// query that sums the cost (`invocation_costs.cost_usd`) builds no struct of twelve fields per
/// row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InvocationCostUsdUdf(PricedWith);

impl ScalarUDFImpl for InvocationCostUsdUdf {
    fn name(&self) -> &str {
        "invocation_cost_usd"
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = CostArguments::new(&args)?;
        let mut usd = Vec::with_capacity(arguments.rows);
        let mut priceable = Vec::with_capacity(arguments.rows);
        arguments.price_each(&self.0.catalog, |priced| {
            priceable.push(priced.is_some());
            usd.push(priced.map_or(0.0, |c| c.total_usd));
        })?;
        Ok(ColumnarValue::Array(Arc::new(Float64Array::new(
            usd.into(),
            validity(priceable),
        ))))
    }
}

/// The arguments of `invocation_cost` and `invocation_cost_usd`, as the types pricing reads.
struct CostArguments {
    rows: usize,
    provider: ArrayRef,
    region: ArrayRef,
    architecture: ArrayRef,
    memory: ArrayRef,
    max_memory: ArrayRef,
    start: Int64Array,
    duration: ArrayRef,
    billed: ArrayRef,
    init: ArrayRef,
    cold: ArrayRef,
    status: ArrayRef,
    message: ArrayRef,
}

impl CostArguments {
    fn new(args: &ScalarFunctionArgs) -> Result<CostArguments> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = DataType::Utf8View;
        let f64t = DataType::Float64;
        let start = epoch_ns(&arrays[5])?;
        Ok(CostArguments {
            rows: args.number_rows.max(start.len()),
            provider: cast(&arrays[0], &text)?,
            region: cast(&arrays[1], &text)?,
            architecture: cast(&arrays[2], &text)?,
            memory: cast(&arrays[3], &f64t)?,
            max_memory: cast(&arrays[4], &f64t)?,
            start,
            duration: cast(&arrays[6], &f64t)?,
            billed: cast(&arrays[7], &DataType::Int64)?,
            init: cast(&arrays[8], &f64t)?,
            cold: cast(&arrays[9], &DataType::Boolean)?,
            status: cast(&arrays[10], &text)?,
            message: cast(&arrays[11], &text)?,
        })
    }

    /// Prices every row in order and hands each price (`None`: not priceable) to `each`.
    fn price_each(
        &self,
        catalog: &Catalog,
        mut each: impl FnMut(Option<InvocationCost<'_>>),
    ) -> Result<()> {
        let (memory, max_memory, duration, init) = (
            self.memory.as_primitive::<Float64Type>(),
            self.max_memory.as_primitive::<Float64Type>(),
            self.duration.as_primitive::<Float64Type>(),
            self.init.as_primitive::<Float64Type>(),
        );
        let (start, billed) = (&self.start, self.billed.as_primitive::<Int64Type>());
        let cold = self.cold.as_boolean();
        // Downcast once per batch, not once per row and column.
        let (provider, region, architecture, status, message) = (
            self.provider.as_string_view(),
            self.region.as_string_view(),
            self.architecture.as_string_view(),
            self.status.as_string_view(),
            self.message.as_string_view(),
        );
        let opt = |a: &arrow::array::PrimitiveArray<Float64Type>, i: usize| {
            a.is_valid(i).then(|| a.value(i))
        };
        let mut pricer = Pricer::new(catalog);
        // The row that selected the prices in use, its day (ns from, to) and its key's texts.
        // Rows come in long runs of one provider, region, architecture and day, so a row whose
        // key has the same views as that row's prices with the same selection, without reading
        // its texts (comparing them for every row was about a tenth of the cost query).
        let mut selected: Option<(usize, i64, i64)> = None;
        let mut key: (Option<&str>, Option<&str>, Option<&str>) = (None, None, None);
        for i in 0..self.rows {
            if !start.is_valid(i) {
                each(None);
                continue;
            }
            let start_ns = start.value(i);
            let same_selection = selected.is_some_and(|(row, from, to)| {
                (from..to).contains(&start_ns)
                    && same_view(provider, row, i)
                    && same_view(region, row, i)
                    && same_view(architecture, row, i)
            });
            if !same_selection {
                key = (
                    text_at(provider, i),
                    text_at(region, i),
                    text_at(architecture, i),
                );
                pricer
                    .select(key.0, key.1, key.2, start_ns)
                    .map_err(|e| DataFusionError::Execution(e.to_string()))?;
                let (from, to) = pricer.selected_day().expect("just selected");
                selected = Some((i, from, to));
            }
            let status = text_at(status, i).unwrap_or("success");
            let facts = InvocationFacts {
                provider: key.0,
                region: key.1,
                architecture: key.2,
                memory_size_mb: opt(memory, i),
                max_memory_used_mb: opt(max_memory, i),
                start_ns,
                duration_ms: opt(duration, i),
                billed_duration_ms: billed.is_valid(i).then(|| billed.value(i)),
                init_duration_ms: opt(init, i),
                cold_start: cold.is_valid(i) && cold.value(i),
                status,
                // Only a timeout's message names one; reading the others would be wasted.
                timeout_ms: (status == "timeout")
                    .then(|| text_at(message, i).and_then(timeout_from_message))
                    .flatten(),
            };
            each(pricer.price_selected(&facts));
        }
        Ok(())
    }
}

/// The validity of a priced column: null where the row was not priceable, none if all were.
fn validity(priceable: Vec<bool>) -> Option<NullBuffer> {
    let nulls = NullBuffer::from(priceable);
    (nulls.null_count() > 0).then_some(nulls)
}

/// Whether rows `a` and `b` of `strings` hold the same text, judged by their views alone. Equal
/// views are equal texts: the same length and inline bytes, or the same length, prefix and place
/// in the same buffer. One long text at two places has unequal views and counts as different.
fn same_view(strings: &StringViewArray, a: usize, b: usize) -> bool {
    match (strings.is_valid(a), strings.is_valid(b)) {
        (true, true) => strings.views()[a] == strings.views()[b],
        (valid_a, valid_b) => valid_a == valid_b,
    }
}

/// `tiered_duration_usd(provider, region, architecture, time, gb_seconds, ghz_seconds)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TieredDurationUdf(PricedWith);

impl ScalarUDFImpl for TieredDurationUdf {
    fn name(&self) -> &str {
        "tiered_duration_usd"
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = DataType::Utf8View;
        let (provider, region, architecture) = (
            cast(&arrays[0], &text)?,
            cast(&arrays[1], &text)?,
            cast(&arrays[2], &text)?,
        );
        let (provider, region, architecture) = (
            provider.as_string_view(),
            region.as_string_view(),
            architecture.as_string_view(),
        );
        let time = epoch_ns(&arrays[3])?;
        let gb_s = cast(&arrays[4], &DataType::Float64)?;
        let ghz_s = cast(&arrays[5], &DataType::Float64)?;
        let (gb_s, ghz_s) = (
            gb_s.as_primitive::<Float64Type>(),
            ghz_s.as_primitive::<Float64Type>(),
        );
        let mut out = Float64Builder::with_capacity(time.len());
        for i in 0..time.len() {
            let key = (
                text_at(provider, i),
                text_at(region, i),
                text_at(architecture, i),
            );
            let (Some(p), Some(r), Some(a)) = key else {
                out.append_null();
                continue;
            };
            if !time.is_valid(i) || !gb_s.is_valid(i) {
                out.append_null();
                continue;
            }
            let price = self
                .0
                .catalog
                .function_price(p, r, a, time.value(i))
                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
            let ghz = if ghz_s.is_valid(i) {
                ghz_s.value(i)
            } else {
                0.0
            };
            out.append_value(
                tiered_usd(&price.tiers, gb_s.value(i)) + ghz * price.usd_per_ghz_s.unwrap_or(0.0),
            );
        }
        let result: Float64Array = out.finish();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::billing::price_invocation;
    use crate::cost::catalog::DEFAULT_CATALOG;
    use arrow::array::{BooleanArray, Int64Array, RecordBatch, TimestampNanosecondArray};
    use datafusion::datasource::MemTable;

    /// 2026-03-10T22:00:00Z: the rows run over midnight into the day a new price starts.
    const EVENING: i64 = 1_773_180_000_000_000_000;
    const HOUR: i64 = 3_600_000_000_000;

    /// The built-in catalog plus a long region name (its views are not inline) whose price
    /// changes at midnight of the rows' first day.
    fn catalog() -> Catalog {
        let extra = r#"
[[function_prices]]
provider = "aws"
region = "ap-southeast-1"
architecture = "x86_64"
effective_until = "2026-03-11"
request_usd_per_million = 0.20
tiers = [{ usd_per_gb_s = 0.0000166667 }]
source = "test"

[[function_prices]]
provider = "aws"
region = "ap-southeast-1"
architecture = "x86_64"
effective_from = "2026-03-11"
request_usd_per_million = 0.30
tiers = [{ usd_per_gb_s = 0.00002 }]
source = "test"
"#;
        Catalog::parse(&format!("{DEFAULT_CATALOG}{extra}"), "test").unwrap()
    }

    #[tokio::test]
    async fn every_row_is_priced_as_alone_whatever_the_rows_around_it() {
        // A long text repeated at a new place of the buffer each time, and at one place.
        for deduplicated in [false, true] {
            prices_rows_as_alone(deduplicated).await;
        }
    }

    async fn prices_rows_as_alone(deduplicated: bool) {
        // Runs of one key, broken by another architecture, a long region, unknown (defaulted)
        // keys, a missing start and midnight.
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let keys: [Row; 6] = [
            (Some("aws"), Some("us-east-1"), Some("x86_64")),
            (Some("aws"), Some("us-east-1"), Some("arm64")),
            (Some("aws"), Some("ap-southeast-1"), Some("x86_64")),
            (Some("aws"), None, Some("x86_64")),
            (None, Some("us-east-1"), Some("x86_64")),
            (Some("gcp"), Some("us-central1"), Some("x86_64")),
        ];
        // Rows are 36 s apart from 22:00, so row 200 is midnight: rows 190 to 209 are one run
        // of the long region over it.
        let key_of_row = |i: usize| match i {
            190..210 => keys[2],
            _ => keys[(i / 7 + i % 3 / 2) % keys.len()],
        };
        let rows = 400;
        let start = |i: usize| (i % 97 != 13).then(|| EVENING + (i as i64) * 4 * HOUR / 400);
        let text = |f: fn(Row) -> Option<&'static str>| {
            let mut b = StringViewBuilder::new();
            if deduplicated {
                b = b.with_deduplicate_strings();
            }
            for i in 0..rows {
                b.append_option(f(key_of_row(i)));
            }
            Arc::new(b.finish()) as ArrayRef
        };
        let memory = |i: usize| [128.0, 512.0, 1769.0][i % 3];
        let duration = |i: usize| 3.7 + (i * 37 % 1000) as f64;
        let billed = |i: usize| {
            i.is_multiple_of(4)
                .then_some((duration(i).ceil() + 1.0) as i64)
        };
        let status = |i: usize| ["success", "error", "throttled", "timeout"][i % 11 % 4];
        let batch = RecordBatch::try_from_iter([
            ("provider", text(|k| k.0)),
            ("region", text(|k| k.1)),
            ("architecture", text(|k| k.2)),
            (
                "memory_size_mb",
                Arc::new(Float64Array::from_iter((0..rows).map(|i| Some(memory(i))))) as ArrayRef,
            ),
            (
                "max_memory_used_mb",
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|i| Some(memory(i) / 2.0)),
                )),
            ),
            (
                "start_time",
                Arc::new(
                    TimestampNanosecondArray::from_iter((0..rows).map(start)).with_timezone("UTC"),
                ),
            ),
            (
                "duration_ms",
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|i| Some(duration(i))),
                )),
            ),
            (
                "billed_duration_ms",
                Arc::new(Int64Array::from_iter((0..rows).map(billed))),
            ),
            (
                "init_duration_ms",
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|i| Some(i as f64 / 3.0)),
                )),
            ),
            (
                "cold_start",
                Arc::new(BooleanArray::from_iter(
                    (0..rows).map(|i| Some(i.is_multiple_of(5))),
                )),
            ),
            (
                "status",
                Arc::new(StringViewArray::from_iter_values((0..rows).map(status))),
            ),
            (
                "error_message",
                Arc::new(StringViewArray::from_iter((0..rows).map(|i| {
                    (status(i) == "timeout").then_some("Task timed out after 0.50 seconds")
                }))),
            ),
            (
                "account_id",
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|_| "123456789012"),
                )),
            ),
            ("n", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
        ])
        .unwrap();
        let ctx = SessionContext::new();
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
        ctx.register_table("invocations", Arc::new(table)).unwrap();
        let catalog = Arc::new(catalog());
        register(&ctx, catalog.clone()).await.unwrap();
        let result = ctx
            .sql("SELECT cost_usd, pricing_region FROM invocation_costs ORDER BY n")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let result = arrow::compute::concat_batches(&result[0].schema(), &result).unwrap();
        let (cost, region) = (
            result.column(0).as_primitive::<Float64Type>(),
            result.column(1).as_string_view(),
        );
        let mut prices_after_midnight = 0;
        for i in 0..rows {
            let key = key_of_row(i);
            let expected = start(i).and_then(|start_ns| {
                price_invocation(
                    &catalog,
                    &InvocationFacts {
                        provider: key.0,
                        region: key.1,
                        architecture: key.2,
                        memory_size_mb: Some(memory(i)),
                        max_memory_used_mb: Some(memory(i) / 2.0),
                        start_ns,
                        duration_ms: Some(duration(i)),
                        billed_duration_ms: billed(i),
                        init_duration_ms: Some(i as f64 / 3.0),
                        cold_start: i.is_multiple_of(5),
                        status: status(i),
                        timeout_ms: (status(i) == "timeout").then_some(500.0),
                    },
                )
                .unwrap()
            });
            assert_eq!(
                cost.is_valid(i).then(|| cost.value(i)),
                expected.map(|c| c.total_usd),
                "row {i}, deduplicated: {deduplicated}"
            );
            assert_eq!(
                region.is_valid(i).then(|| region.value(i)),
                expected.map(|c| c.price.region.as_str()),
                "row {i}, deduplicated: {deduplicated}"
            );
            if expected.is_some_and(|c| c.price.request_usd_per_million == 0.30) {
                prices_after_midnight += 1;
            }
        }
        // The rows did cross into the new price, and some were not priceable.
        assert!(prices_after_midnight > 0);
        assert!(cost.null_count() > 0);
    }
}
