//! Cost in SQL: the `invocation_cost`, `invocation_cost_usd` and `tiered_duration_usd` functions
//! and the `invocation_costs` and `monthly_costs` views, registered in every analyzer session.
//!
//! - `invocation_cost(provider, region, architecture, memory_size_mb, max_memory_used_mb,
//!   start_time, duration_ms, billed_duration_ms, init_duration_ms, cold_start, status,
//!   error_message[, ephemeral_storage_mb])` returns a struct with the price of one invocation at
//!   the marginal (first tier) price; see [`super::billing::price_invocation`].
//!   `invocation_cost_usd(...)`, the same arguments, returns only its `cost_usd`.
//! - `invocation_costs`: every column of `invocations` plus that struct's fields (`cost_usd` by
//!   `invocation_cost_usd`, so a query that only sums it builds no struct).
//! - `tiered_duration_usd(provider, region, architecture, time, gb_seconds, ghz_seconds)`: a
//!   month's duration charge through the tiers.
//! - `monthly_costs`: per month, account, provider, region and architecture, with tiers applied
//!   (the free tier is applied by `faasobs cost report --free-tier`, which knows the whole month).

use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Float64Array, Float64Builder,
    Int64Array, NullBufferBuilder, PrimitiveArray, StringViewArray, StringViewBuilder, StructArray,
};
use arrow::datatypes::{
    DataType, Field, Fields, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::billing::{
    InvocationCost, InvocationFacts, Pricer, tiered_usd, timeout_from_message, utc_day,
};
use super::catalog::{Catalog, FunctionPrice};
use super::function_configurations;

/// The fields `invocation_cost` returns, in order.
pub const COST_FIELDS: [(&str, DataType); 14] = [
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
    ("ephemeral_storage_gb_seconds", DataType::Float64),
    ("ephemeral_storage_usd", DataType::Float64),
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

/// The columns of `invocations` that `invocation_cost` and `invocation_cost_usd` take, in order,
/// as the cost view gives them with `catalog`: the provider, region and architecture by
/// [`function_configurations::place_arguments`], and the ephemeral storage by
/// [`function_configurations::ephemeral_storage_argument`] when the catalog gives any.
pub fn cost_arguments(catalog: &Catalog) -> String {
    format!(
        "{}, memory_size_mb, max_memory_used_mb, start_time, duration_ms, billed_duration_ms, \
         init_duration_ms, cold_start, status, error_message{}",
        function_configurations::place_arguments(catalog),
        ephemeral_storage_arguments(catalog)
    )
}

/// `, ` and the ephemeral storage argument when the catalog gives one; nothing otherwise.
fn ephemeral_storage_arguments(catalog: &Catalog) -> String {
    function_configurations::ephemeral_storage_argument(catalog)
        .map_or_else(String::new, |storage| format!(", {storage}"))
}

/// The pricing functions' arguments: twelve, and the ephemeral storage.
const COST_ARITIES: [usize; 2] = [12, 13];

/// How `invocations` gives its rows, which decides how `invocation_costs` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationRows {
    /// Every row as it is stored (a store whose hours are all merged), in two tables that
    /// together hold every row once: the view prices the rows whose billed duration was
    /// reported in branches of their own, which read fewer columns.
    AsStored {
        /// The table of files whose every row is priced from its reported billed duration
        /// alone ([`super::reported_files`]), and the instant that prices all of them, if one
        /// does; `None` when there are no such files.
        reported: Option<(String, Option<i64>)>,
        /// The table of the other files, `None` when there are none.
        others: Option<String>,
    },
    /// Some rows are merged from fragments by the view: reading it twice would merge them twice.
    Merged,
}

/// Registers the cost functions and views over `invocations`.
pub async fn register(
    ctx: &SessionContext,
    catalog: Arc<Catalog>,
    rows: InvocationRows,
) -> Result<()> {
    ctx.register_udf(ScalarUDF::from(InvocationCostUdf(PricedWith::new(
        catalog.clone(),
        &COST_ARITIES,
    ))));
    ctx.register_udf(ScalarUDF::from(InvocationCostUsdUdf(PricedWith::new(
        catalog.clone(),
        &COST_ARITIES,
    ))));
    function_configurations::register(ctx, &catalog);
    let places = function_configurations::place_arguments(&catalog);
    ctx.register_udf(ScalarUDF::from(TieredDurationUdf(PricedWith::new(
        catalog.clone(),
        &[6],
    ))));
    // `cost_usd` by its own function: a query that only sums it prices without the struct.
    let fields: Vec<String> = COST_FIELDS
        .iter()
        .map(|(name, _)| format!("c['{name}'] AS {name}"))
        .collect();
    let arguments = &cost_arguments(&catalog);
    let priced = |cost_arguments: &str, from: &str, filter: &str| {
        format!(
            "SELECT * EXCLUDE (c), {fields}, invocation_cost_usd({cost_arguments}) AS cost_usd \
             FROM (SELECT *, invocation_cost({arguments}) AS c FROM {from}{filter})",
            fields = fields.join(", ")
        )
    };
    // A reported billed duration's total depends only on it, the memory sizes and the status
    // (`Pricer::selected_total_usd_reported`), so those rows' `cost_usd` is given no measured
    // or init duration, cold start or message, and a query that sums it does not decode those
    // four columns for them (12 % of the cost query's CPU over 10M invocations,
    // benchmarks-history.md).
    let storage = ephemeral_storage_arguments(&catalog);
    let reported_arguments = |max_memory: &str, start: &str| {
        format!(
            "{places}, memory_size_mb, {max_memory}, {start}, NULL, billed_duration_ms, NULL, \
             NULL, status, NULL{storage}"
        )
    };
    let sql = match &rows {
        InvocationRows::Merged => priced(arguments, "invocations", ""),
        InvocationRows::AsStored { reported, others } => {
            let mut branches = Vec::new();
            // Files whose footers prove every row reported, under rules that bill the
            // configured memory: no filter, no memory used, and one instant when one prices
            // them all.
            if let Some((table, priced_at_ns)) = reported {
                let start = match priced_at_ns {
                    Some(ns) => format!("to_timestamp_nanos({ns})"),
                    None => "start_time".to_string(),
                };
                branches.push(priced(&reported_arguments("NULL", &start), table, ""));
            }
            // The other files' rows with a reported duration, and the rest from every column;
            // a file whose rows all have a reported duration skips the second branch's row
            // groups by their null counts.
            if let Some(table) = others {
                branches.push(priced(
                    &reported_arguments("max_memory_used_mb", "start_time"),
                    table,
                    " WHERE billed_duration_ms IS NOT NULL",
                ));
                branches.push(priced(
                    arguments,
                    table,
                    " WHERE billed_duration_ms IS NULL",
                ));
            }
            if branches.is_empty() {
                priced(arguments, "invocations", "")
            } else {
                branches.join("\nUNION ALL\n")
            }
        }
    };
    let costs = ctx.sql(&sql).await?.into_view();
    ctx.register_table(INVOCATION_COSTS_VIEW, costs)?;
    let monthly = ctx
        .sql(
            "SELECT date_trunc('month', start_time) AS month, coalesce(account_id, '') AS account_id, \
             pricing_provider AS provider, pricing_region AS region, \
             pricing_architecture AS architecture, \
             sum(CASE WHEN cost_usd IS NOT NULL AND status <> 'throttled' THEN 1 ELSE 0 END) AS requests, \
             sum(gb_seconds) AS gb_seconds, sum(ghz_seconds) AS ghz_seconds, \
             sum(ephemeral_storage_gb_seconds) AS ephemeral_storage_gb_seconds, \
             sum(request_usd) AS request_usd, \
             tiered_duration_usd(pricing_provider, pricing_region, pricing_architecture, \
               date_trunc('month', start_time), sum(gb_seconds), sum(ghz_seconds)) AS duration_usd, \
             sum(ephemeral_storage_usd) AS ephemeral_storage_usd, \
             sum(request_usd) + tiered_duration_usd(pricing_provider, pricing_region, \
               pricing_architecture, date_trunc('month', start_time), sum(gb_seconds), \
               sum(ghz_seconds)) + sum(ephemeral_storage_usd) AS total_usd, \
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
pub(crate) fn text_at(strings: &StringViewArray, i: usize) -> Option<&str> {
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
    /// A function of `catalog` that takes any of `arities` arguments.
    fn new(catalog: Arc<Catalog>, arities: &[usize]) -> PricedWith {
        let signature = match arities {
            [one] => Signature::any(*one, Volatility::Immutable),
            several => Signature::one_of(
                several.iter().map(|n| TypeSignature::Any(*n)).collect(),
                Volatility::Immutable,
            ),
        };
        PricedWith { catalog, signature }
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
        let mut priceable = NullBufferBuilder::new(rows);
        let mut names = PricingNames::with_capacity(rows);
        let mut defaulted = Vec::with_capacity(rows);
        let mut numbers: [Vec<f64>; 11] = std::array::from_fn(|_| Vec::with_capacity(rows));
        arguments.price_each(&self.0.catalog, |priced| {
            let Some(c) = priced else {
                priceable.append_null();
                names.append_null();
                defaulted.push(false);
                numbers.iter_mut().for_each(|n| n.push(0.0));
                return;
            };
            priceable.append_non_null();
            names.append(c.price);
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
                c.ephemeral_storage_gb_s,
                c.ephemeral_storage_usd,
                c.total_usd,
            ];
            for (column, v) in numbers.iter_mut().zip(values) {
                column.push(v);
            }
        })?;
        let nulls = priceable.finish();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(COST_FIELDS.len() + 1);
        columns.extend(names.finish()?);
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

/// The provider, region and architecture of each row's prices, appended a run of rows priced
/// alike at a time: appending the three texts to their builders for every row was a fifth of
/// `faasobs cost report`'s samples.
struct PricingNames<'c> {
    builders: [StringViewBuilder; 3],
    /// The prices of the rows not appended yet, and how many they are.
    pending: Option<(&'c FunctionPrice, usize)>,
    /// The first error of an append (a column over 4 GiB), reported by `finish`.
    error: Option<arrow::error::ArrowError>,
}

impl<'c> PricingNames<'c> {
    fn with_capacity(rows: usize) -> Self {
        PricingNames {
            builders: std::array::from_fn(|_| StringViewBuilder::with_capacity(rows)),
            pending: None,
            error: None,
        }
    }

    /// The names of a row priced with `price`.
    fn append(&mut self, price: &'c FunctionPrice) {
        match &mut self.pending {
            Some((pending, rows)) if std::ptr::eq(*pending, price) => *rows += 1,
            _ => {
                self.flush();
                self.pending = Some((price, 1));
            }
        }
    }

    /// No names: a row that could not be priced.
    fn append_null(&mut self) {
        self.flush();
        self.builders.iter_mut().for_each(|b| b.append_null());
    }

    fn flush(&mut self) {
        if let Some((price, rows)) = self.pending.take() {
            let texts = [&price.provider, &price.region, &price.architecture];
            for (builder, text) in self.builders.iter_mut().zip(texts) {
                if let Err(e) = builder.try_append_value_n(text, rows) {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    /// The three columns, in the order of [`COST_FIELDS`].
    fn finish(mut self) -> Result<[ArrayRef; 3]> {
        self.flush();
        if let Some(e) = self.error {
            return Err(e.into());
        }
        Ok(self
            .builders
            .map(|mut builder| Arc::new(builder.finish()) as ArrayRef))
    }
}

/// `invocation_cost_usd(...)`, the same arguments as `invocation_cost`: only its `cost_usd`, so a
/// query that sums the cost (`invocation_costs.cost_usd`) builds no struct of fourteen fields per
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
        Ok(ColumnarValue::Array(Arc::new(
            arguments.total_usd(&self.0.catalog)?,
        )))
    }
}

/// The arguments of `invocation_cost` and `invocation_cost_usd`, as the types pricing reads.
///
/// The facts only some rules or statuses read are `None` when null in every row (the cost view
/// passes `NULL` for them where the billed duration was reported): a column of nulls made for
/// each batch was 3 % of the cost query.
struct CostArguments {
    rows: usize,
    provider: ArrayRef,
    region: ArrayRef,
    architecture: ArrayRef,
    memory: ArrayRef,
    max_memory: Option<ArrayRef>,
    start: Int64Array,
    duration: Option<ArrayRef>,
    billed: ArrayRef,
    init: Option<ArrayRef>,
    cold: Option<ArrayRef>,
    status: ArrayRef,
    message: Option<ArrayRef>,
    /// The ephemeral storage, MB: `None` with twelve arguments or none known.
    storage: Option<ArrayRef>,
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
            max_memory: unless_all_null(&arrays[4], &f64t)?,
            start,
            duration: unless_all_null(&arrays[6], &f64t)?,
            billed: cast(&arrays[7], &DataType::Int64)?,
            init: unless_all_null(&arrays[8], &f64t)?,
            cold: unless_all_null(&arrays[9], &DataType::Boolean)?,
            status: cast(&arrays[10], &text)?,
            message: unless_all_null(&arrays[11], &text)?,
            storage: match arrays.get(12) {
                Some(storage) => unless_all_null(storage, &f64t)?,
                None => None,
            },
        })
    }

    /// Prices every row in order and hands each price (`None`: not priceable) to `each`.
    fn price_each<'c>(
        &self,
        catalog: &'c Catalog,
        mut each: impl FnMut(Option<InvocationCost<'c>>),
    ) -> Result<()> {
        let columns = self.columns();
        self.for_each_selection(catalog, &columns, |selection, rows| {
            let Some((pricer, key)) = selection else {
                rows.for_each(|_| each(None));
                return;
            };
            for i in rows {
                each(pricer.price_selected(&columns.facts(i, key)));
            }
        })
    }

    /// Each row's `total_usd` as [`CostArguments::price_each`] gives it, null where the row is
    /// not priceable. A row whose billed duration was reported (nearly all) is priced from that
    /// and its memory sizes alone, without gathering its other facts (benchmarks-history.md: with
    /// the blockwise search for runs, 0.90 → 0.77 CPU-s for the cost query over 10M invocations).
    fn total_usd(&self, catalog: &Catalog) -> Result<Float64Array> {
        let columns = self.columns();
        let mut usd = Vec::with_capacity(self.rows);
        let mut priceable = NullBufferBuilder::new(self.rows);
        self.for_each_selection(catalog, &columns, |selection, rows| {
            let Some((pricer, key)) = selection else {
                usd.extend(std::iter::repeat_n(0.0, rows.len()));
                priceable.append_n_nulls(rows.len());
                return;
            };
            if let Some(rate) = pricer.selected_flat_rate()
                && columns.all_reported_and_unthrottled(rows.clone())
            {
                // The common run in one loop over two columns, without a branch per row: row by
                // row, pricing these runs was 10 % of the cost query's samples, in this loop 3.7 %.
                let billed = &columns.billed.values()[rows.clone()];
                let memory = &columns.memory.values()[rows.clone()];
                let totals = billed
                    .iter()
                    .zip(memory)
                    .map(|(b, m)| rate.total_usd(*b, *m));
                match columns.storage {
                    None => usd.extend(totals),
                    // Storage, where a row's function has a size, added as the row's pricing
                    // adds it.
                    Some(storage) => usd.extend(totals.zip(rows.clone()).map(|(total, i)| {
                        match value_at(storage, i) {
                            Some(mb) => {
                                total + rate.ephemeral_storage_usd(billed[i - rows.start], mb)
                            }
                            None => total,
                        }
                    })),
                }
                priceable.append_n_non_nulls(rows.len());
                return;
            }
            for i in rows {
                let total = if columns.throttled(i) {
                    // A throttled request is free; `price_selected` says so for any facts.
                    Some(0.0)
                } else if columns.billed.is_valid(i) {
                    pricer.selected_total_usd_reported(
                        columns.billed.value(i),
                        value_at(columns.memory, i),
                        || columns.max_memory.and_then(|a| value_at(a, i)),
                        columns.storage.and_then(|a| value_at(a, i)),
                    )
                } else {
                    pricer
                        .price_selected(&columns.facts(i, key))
                        .map(|c| c.total_usd)
                };
                usd.push(total.unwrap_or(0.0));
                priceable.append(total.is_some());
            }
        })?;
        Ok(Float64Array::new(usd.into(), priceable.finish()))
    }

    /// The arguments downcast to their types, once per batch rather than once per row.
    fn columns(&self) -> CostColumns<'_> {
        CostColumns {
            memory: self.memory.as_primitive(),
            max_memory: self.max_memory.as_ref().map(|a| a.as_primitive()),
            start: &self.start,
            duration: self.duration.as_ref().map(|a| a.as_primitive()),
            billed: self.billed.as_primitive(),
            init: self.init.as_ref().map(|a| a.as_primitive()),
            cold: self.cold.as_ref().map(|a| a.as_boolean()),
            status: self.status.as_string_view(),
            message: self.message.as_ref().map(|a| a.as_string_view()),
            storage: self.storage.as_ref().map(|a| a.as_primitive()),
        }
    }

    /// Selects the prices of each run of rows that share a provider, region, architecture and
    /// UTC day, and hands `priced` the pricer, the run's key and its rows; rows without a start
    /// time, which cannot be priced, come with no selection. `columns` are the arguments'
    /// [`CostArguments::columns`], which the caller reads too.
    fn for_each_selection<'c>(
        &self,
        catalog: &'c Catalog,
        columns: &CostColumns<'_>,
        mut priced: impl FnMut(Option<(&mut Pricer<'c>, SelectionKey<'_>)>, Range<usize>),
    ) -> Result<()> {
        let start = &self.start;
        let (provider, region, architecture) = (
            self.provider.as_string_view(),
            self.region.as_string_view(),
            self.architecture.as_string_view(),
        );
        let mut pricer = Pricer::new(catalog);
        let mut first = 0;
        while first < self.rows {
            if !start.is_valid(first) {
                let end = (first + 1..self.rows)
                    .find(|&i| start.is_valid(i))
                    .unwrap_or(self.rows);
                priced(None, first..end);
                first = end;
                continue;
            }
            let key = (
                text_at(provider, first),
                text_at(region, first),
                text_at(architecture, first),
            );
            let selected = pricer.select(key.0, key.1, key.2, start.value(first));
            let (from, to) = utc_day(start.value(first));
            // Rows come in long runs of one key and day. A row whose key has the same views as
            // the run's first row has the same texts, without reading them (comparing texts for
            // every row was about a tenth of the cost query), and a block of rows is compared at
            // once (row by row, the search was 7 % of the query).
            let day = |ns: &i64| (from..to).contains(ns);
            let end = match start.nulls().filter(|nulls| nulls.null_count() > 0) {
                None => run_end(self.rows, first, |i| day(&start.values()[i])),
                Some(nulls) => run_end(self.rows, first, |i| {
                    nulls.is_valid(i) && day(&start.values()[i])
                }),
            };
            let end = [provider, region, architecture]
                .into_iter()
                .fold(end, |end, texts| same_views_until(texts, first, end));
            match selected {
                Ok(()) => priced(Some((&mut pricer, key)), first..end),
                // A missing price stops the query only where it would price something: rows
                // without a memory size or a duration are not priced whatever their region,
                // and a throttle costs nothing.
                Err(e) if (first..end).any(|i| columns.priceable(i)) => {
                    return Err(DataFusionError::External(Box::new(e)));
                }
                Err(_) => priced(None, first..end),
            }
            first = end;
        }
        Ok(())
    }
}

/// The provider, region and architecture a run of rows was priced with (`None`: unknown, the
/// catalog's default).
type SelectionKey<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// The arguments of the cost functions downcast to the types pricing reads (`None`: null in
/// every row).
struct CostColumns<'a> {
    memory: &'a PrimitiveArray<Float64Type>,
    max_memory: Option<&'a PrimitiveArray<Float64Type>>,
    start: &'a Int64Array,
    duration: Option<&'a PrimitiveArray<Float64Type>>,
    billed: &'a PrimitiveArray<Int64Type>,
    init: Option<&'a PrimitiveArray<Float64Type>>,
    cold: Option<&'a BooleanArray>,
    status: &'a StringViewArray,
    message: Option<&'a StringViewArray>,
    storage: Option<&'a PrimitiveArray<Float64Type>>,
}

/// The status of a request that never ran, which is free.
const THROTTLED: &str = "throttled";

impl<'a> CostColumns<'a> {
    /// Whether row `i`'s status is `throttled`, judged by the length in its view first: no other
    /// status has nine letters.
    #[inline(always)]
    fn throttled(&self, i: usize) -> bool {
        self.status.is_valid(i)
            && self.status.views()[i] as u32 as usize == THROTTLED.len()
            && self.status.value(i) == THROTTLED
    }

    /// Whether every row of `rows` has a reported billed duration, a configured memory of more
    /// than zero and a status that cannot be `throttled`, tested a block of rows at a time.
    fn all_reported_and_unthrottled(&self, rows: Range<usize>) -> bool {
        if self.billed.null_count() > 0 || self.memory.null_count() > 0 {
            return false;
        }
        let memory = &self.memory.values()[rows.clone()];
        let lengths = self.status.views()[rows].iter().map(|view| *view as u32);
        memory.iter().fold(true, |all, m| all & (*m > 0.0))
            && lengths.fold(true, |all, length| {
                all & (length as usize != THROTTLED.len())
            })
    }

    /// Whether row `i` is one that a price would price: not a throttle (free), with a memory
    /// size (configured or used) and a duration (measured or billed).
    fn priceable(&self, i: usize) -> bool {
        let positive = |memory: Option<&PrimitiveArray<Float64Type>>| {
            memory.and_then(|m| value_at(m, i)).is_some_and(|m| m > 0.0)
        };
        !self.throttled(i)
            && (positive(Some(self.memory)) || positive(self.max_memory))
            && (self.billed.is_valid(i) || self.duration.is_some_and(|d| d.is_valid(i)))
    }

    /// All that pricing knows of row `i`, priced with the selection of `key`.
    fn facts(&self, i: usize, key: SelectionKey<'a>) -> InvocationFacts<'a> {
        let status = text_at(self.status, i).unwrap_or("success");
        InvocationFacts {
            provider: key.0,
            region: key.1,
            architecture: key.2,
            memory_size_mb: value_at(self.memory, i),
            max_memory_used_mb: self.max_memory.and_then(|a| value_at(a, i)),
            start_ns: self.start.value(i),
            duration_ms: self.duration.and_then(|a| value_at(a, i)),
            billed_duration_ms: value_at(self.billed, i),
            init_duration_ms: self.init.and_then(|a| value_at(a, i)),
            cold_start: self.cold.is_some_and(|a| a.is_valid(i) && a.value(i)),
            status,
            // Only a timeout's message names one; reading the others would be wasted.
            timeout_ms: (status == "timeout")
                .then(|| self.message.and_then(|a| text_at(a, i)))
                .flatten()
                .and_then(timeout_from_message),
            ephemeral_storage_mb: self.storage.and_then(|a| value_at(a, i)),
        }
    }
}

/// `array` cast `to`, or `None` when every row is null.
fn unless_all_null(array: &ArrayRef, to: &DataType) -> Result<Option<ArrayRef>> {
    if array.logical_null_count() == array.len() {
        return Ok(None);
    }
    cast(array, to).map(Some)
}

/// Row `i` of `numbers`, `None` when null.
#[inline(always)]
fn value_at<T: ArrowPrimitiveType>(numbers: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
    numbers.is_valid(i).then(|| numbers.value(i))
}

/// The first row after `first` and before `end` for which `in_run` is false, or `end`: rows are
/// tested a block at a time, a test the compiler can do for a block at once, and the row is
/// found in the first block that has one.
#[inline(always)]
fn run_end(end: usize, first: usize, in_run: impl Fn(usize) -> bool) -> usize {
    const BLOCK: usize = 16;
    let mut i = first + 1;
    while i + BLOCK <= end && (i..i + BLOCK).fold(true, |all, row| all & in_run(row)) {
        i += BLOCK;
    }
    (i..end).find(|&row| !in_run(row)).unwrap_or(end)
}

/// The first row after `first` and before `end` whose text in `strings` may differ from row
/// `first`'s, judged by their views alone, or `end`. Equal views are equal texts: the same
/// length and inline bytes, or the same length, prefix and place in the same buffer. One long
/// text at two places has unequal views and ends the run.
fn same_views_until(strings: &StringViewArray, first: usize, end: usize) -> usize {
    let views = strings.views();
    match strings.nulls().filter(|nulls| nulls.null_count() > 0) {
        None => {
            let view = views[first];
            run_end(end, first, |i| views[i] == view)
        }
        Some(nulls) => {
            let (valid, view) = (nulls.is_valid(first), views[first]);
            run_end(end, first, |i| {
                nulls.is_valid(i) == valid && (!valid || views[i] == view)
            })
        }
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
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
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
    use arrow::array::{BooleanArray, Int64Array, RecordBatch, TimestampNanosecondArray};
    use datafusion::datasource::MemTable;

    /// 2026-03-10T22:00:00Z: the rows run over midnight into the day a new price starts.
    const EVENING: i64 = 1_773_180_000_000_000_000;
    const HOUR: i64 = 3_600_000_000_000;

    /// The built-in catalog plus a long region name (its views are not inline) whose price
    /// changes at midnight of the rows' first day.
    fn catalog() -> Catalog {
        crate::cost::catalog::with_a_price_change("2026-03-11")
    }

    /// Functions of the rows, and the ephemeral storage a catalog may give them, MB.
    const FUNCTIONS: [(&str, Option<u32>); 3] = [
        ("resize", Some(10_240)),
        ("orders", Some(2_048)),
        ("mail", None),
    ];

    /// Catalog entries giving [`FUNCTIONS`] their ephemeral storage, in every region.
    fn functions_with_storage() -> Vec<crate::cost::catalog::FunctionConfiguration> {
        FUNCTIONS
            .iter()
            .filter(|(_, mb)| mb.is_some())
            .map(|(name, mb)| crate::cost::catalog::FunctionConfiguration {
                name: name.to_string(),
                region: None,
                architecture: None,
                ephemeral_storage_mb: *mb,
                source: None,
            })
            .collect()
    }

    /// Rows as stored, all in the `invocations` table, priced by the branches that filter on the
    /// billed duration (the table's footers are not known).
    fn stored_rows() -> InvocationRows {
        InvocationRows::AsStored {
            reported: None,
            others: Some("invocations".into()),
        }
    }

    /// `sql`'s answer, as one batch, over `batch` as the `invocations` table with the cost
    /// functions and views registered with `catalog` and `view`.
    async fn query_costs(
        batch: RecordBatch,
        catalog: &Arc<Catalog>,
        view: InvocationRows,
        sql: &str,
    ) -> RecordBatch {
        let ctx = SessionContext::new();
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
        ctx.register_table("invocations", Arc::new(table)).unwrap();
        register(&ctx, catalog.clone(), view).await.unwrap();
        let result = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::compute::concat_batches(&result[0].schema(), &result).unwrap()
    }

    #[tokio::test]
    async fn every_row_is_priced_as_alone_whatever_the_rows_around_it() {
        // A long text repeated at a new place of the buffer each time, and at one place; the
        // view of rows as stored and that of merged rows.
        // With a catalog that gives some functions ephemeral storage, and one that gives none.
        for deduplicated in [false, true] {
            for view in [stored_rows(), InvocationRows::Merged] {
                for storage in [false, true] {
                    prices_rows_as_alone(deduplicated, view.clone(), storage).await;
                }
            }
        }
    }

    async fn prices_rows_as_alone(deduplicated: bool, view: InvocationRows, storage: bool) {
        // Runs of one key, broken by another architecture, a long region, unknown (defaulted)
        // keys, a missing start and midnight.
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let keys: [Row; 7] = [
            (Some("aws"), Some("us-east-1"), Some("x86_64")),
            (Some("aws"), Some("us-east-1"), Some("arm64")),
            (Some("aws"), Some("ap-southeast-1"), Some("x86_64")),
            (Some("aws"), None, Some("x86_64")),
            (None, Some("us-east-1"), Some("x86_64")),
            // Billed by CPU clock as well as memory.
            (Some("gcp"), Some("us-central1"), Some("x86_64")),
            // Billed by observed memory, in steps, up to a cap.
            (Some("azure"), Some("eastus"), Some("x86_64")),
        ];
        // Rows are 36 s apart from 22:00, so row 200 is midnight: rows 190 to 209 are one run
        // of the long region over it. Runs longer than a block of rows follow, one with a null
        // region, and a missing start in each.
        let key_of_row = |i: usize| match i {
            190..210 => keys[2],
            210..260 => keys[0],
            260..330 => keys[3],
            _ => keys[(i / 7 + i % 3 / 2) % keys.len()],
        };
        let rows = 400;
        let start = |i: usize| {
            (i % 97 != 13 && i != 237 && i != 301).then(|| EVENING + (i as i64) * 4 * HOUR / 400)
        };
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
        // Unknown in some rows: they cannot be priced unless throttled, or billed by observed
        // memory.
        let memory = |i: usize| [Some(128.0), Some(512.0), Some(1769.0), None][i % 4];
        let observed = |i: usize| (i % 9 != 4).then(|| 100.0 + (i * 53 % 1900) as f64);
        let duration = |i: usize| 3.7 + (i * 37 % 1000) as f64;
        let billed = |i: usize| {
            i.is_multiple_of(4)
                .then_some((duration(i).ceil() + 1.0) as i64)
        };
        // Any other text of nine letters is no throttle; an unknown status is a success.
        let status = |i: usize| {
            [
                Some("success"),
                Some("error"),
                Some("throttled"),
                Some("timeout"),
                Some("cancelled"),
                None,
            ][i % 11 % 6]
        };
        let batch = RecordBatch::try_from_iter([
            ("provider", text(|k| k.0)),
            ("region", text(|k| k.1)),
            ("architecture", text(|k| k.2)),
            (
                "memory_size_mb",
                Arc::new(Float64Array::from_iter((0..rows).map(memory))) as ArrayRef,
            ),
            (
                "max_memory_used_mb",
                Arc::new(Float64Array::from_iter((0..rows).map(observed))),
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
                Arc::new(StringViewArray::from_iter((0..rows).map(status))),
            ),
            (
                "error_message",
                Arc::new(StringViewArray::from_iter((0..rows).map(|i| {
                    (status(i) == Some("timeout")).then_some("Task timed out after 0.50 seconds")
                }))),
            ),
            (
                "account_id",
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|_| "123456789012"),
                )),
            ),
            (
                "function_name",
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|i| FUNCTIONS[i % 3].0),
                )),
            ),
            ("n", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
        ])
        .unwrap();
        let mut catalog = catalog();
        if storage {
            catalog.functions = functions_with_storage();
        }
        let storage_of_row = |i: usize| FUNCTIONS[i % 3].1.filter(|_| storage).map(f64::from);
        let catalog = Arc::new(catalog);
        let result = query_costs(
            batch,
            &catalog,
            view.clone(),
            "SELECT cost_usd, pricing_region FROM invocation_costs ORDER BY n",
        )
        .await;
        let (cost, region) = (
            result.column(0).as_primitive::<Float64Type>(),
            result.column(1).as_string_view(),
        );
        let mut prices_after_midnight = 0;
        // Priced rows by provider and by whether their billed duration was reported.
        let mut priced = std::collections::BTreeMap::<(&str, bool), usize>::new();
        // Whether rows charged for ephemeral storage had their billed duration reported.
        let mut storage_charged = std::collections::BTreeSet::new();
        for i in 0..rows {
            let key = key_of_row(i);
            let expected = start(i).and_then(|start_ns| {
                price_invocation(
                    &catalog,
                    &InvocationFacts {
                        provider: key.0,
                        region: key.1,
                        architecture: key.2,
                        memory_size_mb: memory(i),
                        max_memory_used_mb: observed(i),
                        start_ns,
                        duration_ms: Some(duration(i)),
                        billed_duration_ms: billed(i),
                        init_duration_ms: Some(i as f64 / 3.0),
                        cold_start: i.is_multiple_of(5),
                        status: status(i).unwrap_or("success"),
                        timeout_ms: (status(i) == Some("timeout")).then_some(500.0),
                        ephemeral_storage_mb: storage_of_row(i),
                    },
                )
                .unwrap()
            });
            assert_eq!(
                cost.is_valid(i).then(|| cost.value(i)),
                expected.map(|c| c.total_usd),
                "row {i}, deduplicated: {deduplicated}, {view:?}"
            );
            assert_eq!(
                region.is_valid(i).then(|| region.value(i)),
                expected.map(|c| c.price.region.as_str()),
                "row {i}, deduplicated: {deduplicated}, {view:?}"
            );
            if expected.is_some_and(|c| c.price.request_usd_per_million == 0.30) {
                prices_after_midnight += 1;
            }
            if let Some(c) = expected.filter(|c| c.total_usd > 0.0) {
                *priced
                    .entry((c.price.provider.as_str(), billed(i).is_some()))
                    .or_default() += 1;
            }
            if expected.is_some_and(|c| c.ephemeral_storage_usd > 0.0) {
                storage_charged.insert(billed(i).is_some());
            }
        }
        // Storage was charged, to rows with a reported duration and without, exactly when the
        // catalog gives it.
        let expected_charged = if storage { vec![false, true] } else { vec![] };
        assert_eq!(
            storage_charged.into_iter().collect::<Vec<_>>(),
            expected_charged
        );
        // The rows did cross into the new price, and some were not priceable.
        assert!(prices_after_midnight > 0);
        assert!(cost.null_count() > 0);
        // Every provider's rules were applied to rows with and without a reported duration.
        for provider in ["aws", "azure", "gcp"] {
            for reported in [false, true] {
                assert!(
                    priced.contains_key(&(provider, reported)),
                    "no {provider} row priced with reported {reported}: {priced:?}"
                );
            }
        }
    }

    /// Rows of a region the catalog has no price for need none when nothing of them could be
    /// priced (no memory size or duration, or a throttle): they are left unpriced; one row that
    /// could be priced makes it the error it is.
    #[tokio::test]
    async fn a_missing_price_stops_the_query_only_where_it_would_price_a_row() {
        let batch = |priceable: bool| {
            let rows = 6;
            RecordBatch::try_from_iter([
                (
                    "provider",
                    Arc::new(StringViewArray::from_iter_values((0..rows).map(|_| "aws")))
                        as ArrayRef,
                ),
                (
                    "region",
                    Arc::new(StringViewArray::from_iter_values(
                        (0..rows).map(|i| if i < 4 { "eu-north-1" } else { "us-east-1" }),
                    )),
                ),
                (
                    "architecture",
                    Arc::new(StringViewArray::from_iter_values(
                        (0..rows).map(|_| "x86_64"),
                    )),
                ),
                (
                    "memory_size_mb",
                    Arc::new(Float64Array::from(vec![
                        Some(128.0),
                        None,
                        Some(128.0),
                        Some(256.0),
                        Some(128.0),
                        Some(128.0),
                    ])),
                ),
                (
                    "max_memory_used_mb",
                    Arc::new(Float64Array::from(vec![None::<f64>; rows])),
                ),
                (
                    "start_time",
                    Arc::new(
                        TimestampNanosecondArray::from_iter_values((0..rows).map(|_| EVENING))
                            .with_timezone("UTC"),
                    ),
                ),
                (
                    "duration_ms",
                    Arc::new(Float64Array::from(vec![
                        None,
                        Some(10.0),
                        Some(10.0),
                        priceable.then_some(10.0),
                        Some(10.0),
                        None,
                    ])),
                ),
                (
                    "billed_duration_ms",
                    Arc::new(Int64Array::from(vec![None::<i64>; rows])),
                ),
                (
                    "init_duration_ms",
                    Arc::new(Float64Array::from(vec![None::<f64>; rows])),
                ),
                (
                    "cold_start",
                    Arc::new(BooleanArray::from(vec![None::<bool>; rows])),
                ),
                (
                    "status",
                    Arc::new(StringViewArray::from_iter_values([
                        "success",
                        "success",
                        "throttled",
                        "success",
                        "success",
                        "success",
                    ])),
                ),
                (
                    "error_message",
                    Arc::new(StringViewArray::from(vec![None::<&str>; rows])),
                ),
                (
                    "account_id",
                    Arc::new(StringViewArray::from(vec![None::<&str>; rows])),
                ),
                ("n", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
            ])
            .unwrap()
        };
        let catalog = Arc::new(Catalog::builtin());
        for view in [stored_rows(), InvocationRows::Merged] {
            let result = query_costs(
                batch(false),
                &catalog,
                view.clone(),
                "SELECT cost_usd, pricing_region FROM invocation_costs ORDER BY n",
            )
            .await;
            let cost = result.column(0).as_primitive::<Float64Type>();
            // eu-north-1's rows unpriced, us-east-1's priced where they can be.
            let priced: Vec<bool> = (0..6).map(|i| cost.is_valid(i)).collect();
            assert_eq!(
                priced,
                [false, false, false, false, true, false],
                "{view:?}"
            );

            let ctx = SessionContext::new();
            let b = batch(true);
            let table = MemTable::try_new(b.schema(), vec![vec![b]]).unwrap();
            ctx.register_table("invocations", Arc::new(table)).unwrap();
            register(&ctx, catalog.clone(), view.clone()).await.unwrap();
            let err = ctx
                .sql("SELECT sum(cost_usd) FROM invocation_costs")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("no function price in pricing catalog")
                    && err.contains("for aws eu-north-1 x86_64"),
                "{err}"
            );
        }
    }

    /// The key of row `i` of the runs test: runs of 40 rows.
    fn run_key(i: usize) -> (&'static str, &'static str, &'static str) {
        const KEYS: [(&str, &str, &str); 4] = [
            ("aws", "us-east-1", "x86_64"),
            ("aws", "us-east-1", "arm64"),
            ("azure", "eastus", "x86_64"),
            ("gcp", "us-central1", "x86_64"),
        ];
        KEYS[i / 40 % KEYS.len()]
    }

    /// Row `i`'s memory: none in one row.
    fn run_memory(i: usize) -> i32 {
        if i == 45 { 0 } else { [128, 512, 1769][i % 3] }
    }

    /// Row `i`'s reported billed duration: a negative one in one row.
    fn run_billed(i: usize) -> i64 {
        (i * 37 % 1000) as i64 + [0, -5][usize::from(i == 3)]
    }

    /// Row `i`'s status: two throttles.
    fn run_status(i: usize) -> &'static str {
        match i {
            50 | 200 => "throttled",
            _ if i.is_multiple_of(7) => "error",
            _ => "success",
        }
    }

    #[tokio::test]
    async fn runs_of_reported_durations_are_priced_as_row_by_row() {
        // Every row reported, in runs of 40 rows of one key: AWS runs are priced as a flat rate
        // unless a row is throttled or has no memory; Azure and Google runs never are.
        let rows = 480;
        let (key, memory, billed, status) = (run_key, run_memory, run_billed, run_status);
        let text = |f: fn((&'static str, &'static str, &'static str)) -> &'static str| {
            Arc::new(StringViewArray::from_iter_values(
                (0..rows).map(|i| f(key(i))),
            )) as ArrayRef
        };
        let nulls = |t: DataType| arrow::array::new_null_array(&t, rows);
        let batch = RecordBatch::try_from_iter([
            ("provider", text(|k| k.0)),
            ("region", text(|k| k.1)),
            ("architecture", text(|k| k.2)),
            (
                "memory_size_mb",
                Arc::new(arrow::array::Int32Array::from_iter_values(
                    (0..rows).map(memory),
                )),
            ),
            (
                "max_memory_used_mb",
                Arc::new(arrow::array::Int32Array::from_iter_values(
                    (0..rows).map(|i| 64 + i as i32 * 3),
                )),
            ),
            (
                "start_time",
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(
                        (0..rows).map(|i| EVENING + i as i64 * 1_000_000_000),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            ("duration_ms", nulls(DataType::Float64)),
            (
                "billed_duration_ms",
                Arc::new(Int64Array::from_iter_values((0..rows).map(billed))),
            ),
            ("init_duration_ms", nulls(DataType::Float64)),
            ("cold_start", nulls(DataType::Boolean)),
            (
                "status",
                Arc::new(StringViewArray::from_iter_values((0..rows).map(status))),
            ),
            ("error_message", nulls(DataType::Utf8View)),
            ("account_id", nulls(DataType::Utf8View)),
            (
                "function_name",
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|i| FUNCTIONS[i / 20 % 3].0),
                )),
            ),
            ("n", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
        ])
        .unwrap();
        // Without ephemeral storage and with it, for the functions of some rows of each run.
        for storage in [false, true] {
            let mut catalog = catalog();
            if storage {
                catalog.functions = functions_with_storage();
            }
            runs_are_priced_as_row_by_row(&batch, &Arc::new(catalog), storage).await;
        }
    }

    async fn runs_are_priced_as_row_by_row(
        batch: &RecordBatch,
        catalog: &Arc<Catalog>,
        storage: bool,
    ) {
        let rows = batch.num_rows();
        let (key, memory, billed, status) = (run_key, run_memory, run_billed, run_status);
        let storage_of_row = |i: usize| FUNCTIONS[i / 20 % 3].1.filter(|_| storage).map(f64::from);
        for view in [stored_rows(), InvocationRows::Merged] {
            let sql = "SELECT cost_usd FROM invocation_costs ORDER BY n";
            let result = query_costs(batch.clone(), catalog, view.clone(), sql).await;
            let cost = result.column(0).as_primitive::<Float64Type>();
            for i in 0..rows {
                let (provider, region, architecture) = key(i);
                let expected = price_invocation(
                    catalog,
                    &InvocationFacts {
                        provider: Some(provider),
                        region: Some(region),
                        architecture: Some(architecture),
                        memory_size_mb: Some(memory(i) as f64),
                        max_memory_used_mb: Some(64.0 + i as f64 * 3.0),
                        start_ns: EVENING + i as i64 * 1_000_000_000,
                        billed_duration_ms: Some(billed(i)),
                        status: status(i),
                        ephemeral_storage_mb: storage_of_row(i),
                        ..Default::default()
                    },
                )
                .unwrap()
                .map(|c| c.total_usd);
                let got = cost.is_valid(i).then(|| cost.value(i));
                // The same number to the bit, not merely close.
                assert_eq!(
                    got.map(f64::to_bits),
                    expected.map(f64::to_bits),
                    "row {i}, {view:?}, storage {storage}"
                );
            }
            // Rows of no memory are not priceable; throttled ones are free.
            assert!(cost.is_null(45) && cost.value(50) == 0.0 && cost.value(200) == 0.0);
        }
    }
}
