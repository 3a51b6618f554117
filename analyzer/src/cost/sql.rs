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
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, StringViewArray,
    StringViewBuilder, StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type, TimeUnit};
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
        let nulls = NullBuffer::from(priceable);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
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
        let mut usd = Float64Builder::with_capacity(arguments.rows);
        arguments.price_each(&self.0.catalog, |priced| {
            usd.append_option(priced.map(|c| c.total_usd))
        })?;
        Ok(ColumnarValue::Array(Arc::new(usd.finish())))
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
    start: ArrayRef,
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
        let start = cast(
            &cast(&arrays[5], &DataType::Timestamp(TimeUnit::Nanosecond, None))?,
            &DataType::Int64,
        )?;
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
        let (start, billed) = (
            self.start.as_primitive::<Int64Type>(),
            self.billed.as_primitive::<Int64Type>(),
        );
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
        for i in 0..self.rows {
            if !start.is_valid(i) {
                each(None);
                continue;
            }
            let status = text_at(status, i).unwrap_or("success");
            let facts = InvocationFacts {
                provider: text_at(provider, i),
                region: text_at(region, i),
                architecture: text_at(architecture, i),
                memory_size_mb: opt(memory, i),
                max_memory_used_mb: opt(max_memory, i),
                start_ns: start.value(i),
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
            each(
                pricer
                    .price(&facts)
                    .map_err(|e| DataFusionError::Execution(e.to_string()))?,
            );
        }
        Ok(())
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
        let time = cast(
            &cast(&arrays[3], &DataType::Timestamp(TimeUnit::Nanosecond, None))?,
            &DataType::Int64,
        )?;
        let time = time.as_primitive::<Int64Type>();
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
