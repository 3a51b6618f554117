//! `faasobs cost report`: spend from the observed history.
//!
//! Three sections: `spend`, one row per function, day or month at the marginal (first-tier)
//! price of each invocation, with the share INIT billing adds; `months`, the bill of each month,
//! account, region and architecture with tiers and (optionally) the free tier applied; and
//! `assumptions`, what the numbers rest on (catalog version, defaults used, unpriced rows).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde_json::json;

use super::billing::{MonthlyUsage, bill_months};
use super::{Catalog, table, usd};
use crate::reports::{ReportOptions, Section};
use crate::session::{Analyzer, AnalyzerError};

/// How `spend` rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendGrouping {
    Function,
    Day,
    Month,
}

/// What a cost report covers.
#[derive(Debug, Clone)]
pub struct CostReportOptions {
    pub by: SpendGrouping,
    /// Function and time window (the other fields of the report options are not used).
    pub filter: ReportOptions,
    /// Deduct each account's monthly free tier in `months`.
    pub free_tier: bool,
}

/// A report and the warnings a reader must see (unpriced rows, defaults used).
#[derive(Debug)]
pub struct CostReport {
    pub sections: Vec<Section>,
    pub warnings: Vec<String>,
    /// How the report's invocations were priced.
    pub coverage: PricingCoverage,
    /// The places priced with prices copied from another region.
    pub copied_prices: Vec<CopiedPrices>,
    /// `cost compare`'s: functions that run in another region than the dedicated alternatives
    /// are priced in.
    pub dedicated_elsewhere: Option<DedicatedElsewhere>,
}

/// The region the catalog's servers, fleet and containers are priced in (`[fleet] region`), and
/// the other regions compared AWS functions run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedicatedElsewhere {
    pub priced_in: String,
    pub regions: Vec<String>,
}

impl DedicatedElsewhere {
    /// The warning `cost compare` gives of it.
    pub fn warning(&self) -> String {
        format!(
            "the dedicated servers, load balancer, volumes and containers are priced as in \
             {} (the catalog's [fleet] region), while functions run in {}: their prices there \
             differ; a --pricing catalog can hold that region's",
            self.priced_in,
            self.regions.join(", ")
        )
    }
}

/// A provider, region and architecture whose prices are a copy of another region's
/// (`faasobs cost catalog --copy-prices`), which a report priced rows with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedPrices {
    /// `aws eu-west-1 x86_64`.
    pub place: String,
    pub region: String,
    /// The region copied.
    pub from: String,
}

impl CopiedPrices {
    /// The warning a report gives of it.
    pub fn warning(&self) -> String {
        format!(
            "{} is priced with {from}'s prices, copied by `faasobs cost catalog --copy-prices \
             {from}:{region}`: check them against the provider's page for {region}",
            self.place,
            from = self.from,
            region = self.region
        )
    }
}

/// Counts of invocations that were not priced exactly as stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PricingCoverage {
    pub invocations: i64,
    /// Not priced: no memory size or duration.
    pub unpriced: i64,
    /// Priced with the catalog's defaults: they said no provider, region or architecture, nor
    /// did the catalog's `[[functions]]`.
    pub defaulted: i64,
    /// Priced with the region or architecture the catalog's `functions` give.
    pub configured: i64,
}

impl PricingCoverage {
    /// What a reader must be warned of.
    pub fn warnings(&self, analyzer: &Analyzer) -> Vec<String> {
        let d = &analyzer.catalog().defaults;
        let mut out = Vec::new();
        if self.unpriced > 0 {
            out.push(format!(
                "{} of {} invocations lack a memory size or a duration and are not priced",
                self.unpriced, self.invocations
            ));
        }
        if self.defaulted > 0 {
            out.push(format!(
                "{} of {} invocations do not say their provider, region or architecture; priced as \
                 the catalog's defaults ({} {} {}); a --pricing catalog can say where each \
                 function runs (`faasobs cost catalog --lambda-functions FILE` or `--from-store`) \
                 or change `[defaults]` (docs/cost.md)",
                self.defaulted, self.invocations, d.provider, d.region, d.architecture
            ));
        }
        out
    }
}

impl Analyzer {
    pub(crate) async fn pricing_coverage(
        &self,
        filter: &str,
    ) -> Result<PricingCoverage, AnalyzerError> {
        let batches = self
            .query(&format!(
                "SELECT count(*), sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), \
                 sum(CASE WHEN pricing_defaulted THEN 1 ELSE 0 END), \
                 sum(CASE WHEN NOT pricing_defaulted AND (region IS NULL OR architecture IS NULL) \
                   THEN 1 ELSE 0 END) \
                 FROM invocation_costs WHERE {filter}"
            ))
            .await?;
        let mut coverage = PricingCoverage::default();
        for b in &batches {
            let col = |i: usize| -> i64 {
                let a = arrow::compute::cast(b.column(i), &DataType::Int64).ok();
                a.map(|a| {
                    let p = a.as_primitive::<Int64Type>();
                    if p.is_empty() || p.is_null(0) {
                        0
                    } else {
                        p.value(0)
                    }
                })
                .unwrap_or(0)
            };
            if b.num_rows() > 0 {
                coverage.invocations += col(0);
                coverage.unpriced += col(1);
                coverage.defaulted += col(2);
                coverage.configured += col(3);
            }
        }
        Ok(coverage)
    }

    /// The months of use in a window, per account, provider, region and architecture.
    pub(crate) async fn monthly_usage(
        &self,
        filter: &str,
    ) -> Result<Vec<MonthlyUsage>, AnalyzerError> {
        let batches = self
            .query(&format!(
                // Grouped by the truncated time and formatted per group, not per row.
                "SELECT to_char(month, '%Y-%m') AS month, month_start_ns, account_id, \
                 pricing_provider, pricing_region, pricing_architecture, requests, gb_s, ghz_s, \
                 storage_usd FROM (SELECT date_trunc('month', start_time) AS month, \
                 CAST(min(start_time) AS BIGINT) AS month_start_ns, \
                 coalesce(account_id, '') AS account_id, pricing_provider, pricing_region, \
                 pricing_architecture, \
                 CAST(sum(CASE WHEN status <> 'throttled' THEN 1 ELSE 0 END) AS DOUBLE) AS requests, \
                 sum(gb_seconds) AS gb_s, sum(ghz_seconds) AS ghz_s, \
                 sum(ephemeral_storage_usd) AS storage_usd \
                 FROM invocation_costs WHERE {filter} AND cost_usd IS NOT NULL \
                 GROUP BY 1, 3, 4, 5, 6) ORDER BY 1, 3, 4, 5, 6"
            ))
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let text = |i: usize| crate::query::text_column(b.column(i));
            let (month, account, provider, region, arch) =
                (text(0)?, text(2)?, text(3)?, text(4)?, text(5)?);
            let start = b.column(1).as_primitive::<Int64Type>();
            let number = |i: usize| b.column(i).as_primitive::<Float64Type>().clone();
            let (requests, gb_s, ghz_s, storage_usd) = (number(6), number(7), number(8), number(9));
            for r in 0..b.num_rows() {
                out.push(MonthlyUsage {
                    month: month.value(r).to_string(),
                    month_start_ns: start.value(r),
                    account: account.value(r).to_string(),
                    provider: provider.value(r).to_string(),
                    region: region.value(r).to_string(),
                    architecture: arch.value(r).to_string(),
                    requests: requests.value(r),
                    gb_s: gb_s.value(r),
                    ghz_s: if ghz_s.is_null(r) {
                        0.0
                    } else {
                        ghz_s.value(r)
                    },
                    ephemeral_storage_usd: if storage_usd.is_null(r) {
                        0.0
                    } else {
                        storage_usd.value(r)
                    },
                });
            }
        }
        Ok(out)
    }

    /// `faasobs cost report`.
    pub async fn cost_report(&self, o: &CostReportOptions) -> Result<CostReport, AnalyzerError> {
        let filter = o.filter.filter();
        // Grouped by `key`, then shown as `shown` of it: a day or month is formatted once per
        // group, not once per invocation.
        let (key, shown, key_name) = match o.by {
            SpendGrouping::Function => ("function_name", "k", "function_name"),
            SpendGrouping::Day => (
                "date_trunc('day', start_time)",
                "to_char(k, '%Y-%m-%d')",
                "day",
            ),
            SpendGrouping::Month => (
                "date_trunc('month', start_time)",
                "to_char(k, '%Y-%m')",
                "month",
            ),
        };
        let order = if o.by == SpendGrouping::Function {
            "total_usd DESC NULLS LAST, 1"
        } else {
            "1"
        };
        let spend = self
            .query(&format!(
                "SELECT {shown} AS {key_name}, invocations, billed_requests, gb_seconds, \
                 duration_usd, request_usd, ephemeral_storage_usd, total_usd, \
                 usd_per_million_invocations, init_usd, \
                 init_share, cold_starts FROM (SELECT {key} AS k, count(*) AS invocations, \
                 sum(CASE WHEN cost_usd IS NOT NULL AND status <> 'throttled' THEN 1 ELSE 0 END) AS billed_requests, \
                 round(sum(gb_seconds), 3) AS gb_seconds, \
                 round(sum(duration_usd), 6) AS duration_usd, \
                 round(sum(request_usd), 6) AS request_usd, \
                 round(sum(ephemeral_storage_usd), 6) AS ephemeral_storage_usd, \
                 round(sum(cost_usd), 6) AS total_usd, \
                 round(sum(cost_usd) / nullif(sum(CASE WHEN cost_usd IS NOT NULL AND status <> 'throttled' THEN 1 ELSE 0 END), 0) * 1000000, 4) AS usd_per_million_invocations, \
                 round(sum(init_usd), 6) AS init_usd, \
                 round(sum(init_usd) / nullif(sum(cost_usd), 0), 4) AS init_share, \
                 sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts \
                 FROM invocation_costs WHERE {filter} GROUP BY 1) ORDER BY {order}"
            ))
            .await?;

        let usages = self.monthly_usage(&filter).await?;
        let bills = bill_months(self.catalog(), &usages, o.free_tier)?;
        let month_rows: Vec<serde_json::Value> = bills
            .iter()
            .map(|b| {
                json!({
                    "month": b.usage.month,
                    "account_id": b.usage.account,
                    "provider": b.usage.provider,
                    "region": b.usage.region,
                    "architecture": b.usage.architecture,
                    "requests": b.usage.requests as i64,
                    "gb_seconds": (b.usage.gb_s * 1000.0).round() / 1000.0,
                    "free_requests": b.free_requests as i64,
                    "free_gb_seconds": (b.free_gb_s * 1000.0).round() / 1000.0,
                    "request_usd": usd(b.request_usd),
                    "duration_usd": usd(b.duration_usd),
                    "ephemeral_storage_usd": usd(b.ephemeral_storage_usd),
                    "total_usd": usd(b.total_usd),
                })
            })
            .collect();
        let months = table(
            &[
                ("month", DataType::Utf8),
                ("account_id", DataType::Utf8),
                ("provider", DataType::Utf8),
                ("region", DataType::Utf8),
                ("architecture", DataType::Utf8),
                ("requests", DataType::Int64),
                ("gb_seconds", DataType::Float64),
                ("free_requests", DataType::Int64),
                ("free_gb_seconds", DataType::Float64),
                ("request_usd", DataType::Float64),
                ("duration_usd", DataType::Float64),
                ("ephemeral_storage_usd", DataType::Float64),
                ("total_usd", DataType::Float64),
            ],
            &month_rows,
        )?;

        let coverage = self.pricing_coverage(&filter).await?;
        let catalog = self.catalog();
        let mut warnings = coverage.warnings(self);
        let copied_prices = copied_prices(
            catalog,
            bills.iter().map(|b| {
                let u = &b.usage;
                (
                    u.provider.as_str(),
                    u.region.as_str(),
                    u.architecture.as_str(),
                )
            }),
        );
        warnings.extend(copied_prices.iter().map(CopiedPrices::warning));
        let mut assumptions = vec![
            ("pricing catalog", catalog.catalog_version.clone()),
            (
                "spend",
                "each invocation at the first tier's (marginal) GB-s price plus its request price \
                 and its ephemeral storage above the included size; billed duration as the \
                 platform reported it, else computed by the catalog's rules"
                    .to_string(),
            ),
            ("ephemeral storage", ephemeral_storage_assumption(catalog)),
            (
                "months",
                format!(
                    "tiers applied to each month's GB-s per account, region and architecture; free tier {}",
                    if o.free_tier {
                        "deducted"
                    } else {
                        "not deducted (--free-tier to deduct it)"
                    }
                ),
            ),
            ("invocations", coverage.invocations.to_string()),
            ("unpriced invocations", coverage.unpriced.to_string()),
            (
                "invocations priced with the catalog's defaults",
                coverage.defaulted.to_string(),
            ),
            (
                "invocations priced with the region or architecture of the catalog's functions",
                coverage.configured.to_string(),
            ),
        ];
        assumptions.extend(warnings.iter().map(|w| ("warning", w.clone())));
        Ok(CostReport {
            sections: vec![
                Section {
                    name: "spend",
                    batches: spend,
                },
                Section {
                    name: "months",
                    batches: months,
                },
                Section {
                    name: "assumptions",
                    batches: assumption_table(&assumptions)?,
                },
            ],
            warnings,
            coverage,
            copied_prices,
            dedicated_elsewhere: None,
        })
    }
}

/// Those of `places` (provider, region, architecture) the catalog prices with prices copied
/// from another region (`faasobs cost catalog --copy-prices`), in order, once each.
pub(crate) fn copied_prices<'a>(
    catalog: &Catalog,
    places: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<CopiedPrices> {
    let mut places: Vec<_> = places.into_iter().collect();
    places.sort_unstable();
    places.dedup();
    places
        .into_iter()
        .filter_map(|(provider, region, architecture)| {
            let from = catalog.function_prices.iter().find_map(|p| {
                (p.provider == provider && p.region == region && p.architecture == architecture)
                    .then_some(p.copied_from.as_deref())
                    .flatten()
            })?;
            Some(CopiedPrices {
                place: format!("{provider} {region} {architecture}"),
                region: region.to_string(),
                from: from.to_string(),
            })
        })
        .collect()
}

/// What the ephemeral storage of the priced functions was taken to be.
pub(crate) fn ephemeral_storage_assumption(catalog: &Catalog) -> String {
    let sized: std::collections::BTreeSet<&str> = catalog
        .functions
        .iter()
        .filter(|f| f.ephemeral_storage_mb.is_some())
        .map(|f| f.name.as_str())
        .collect();
    let included = "the included size, which costs nothing (Lambda: 512 MB)";
    match sized.len() {
        0 => format!(
            "{included}, for every function: nothing stored says it; the catalog's [[functions]] \
             can (ephemeral_storage_mb, docs/cost.md)"
        ),
        n => format!(
            "as the catalog's [[functions]] give it for {n} function{}; {included} for the others",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// A two-column table of what a result rests on.
pub(crate) fn assumption_table(rows: &[(&str, String)]) -> Result<Vec<RecordBatch>, AnalyzerError> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(name, value)| json!({"assumption": name, "value": value}))
        .collect();
    table(
        &[("assumption", DataType::Utf8), ("value", DataType::Utf8)],
        &rows,
    )
}
