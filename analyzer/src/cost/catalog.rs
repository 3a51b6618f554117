//! The pricing catalog: what serverless functions, servers and containers cost, with the dates
//! and sources of each figure.
//!
//! A catalog is a TOML file (`default-pricing.toml` is built in; `--pricing FILE` replaces it).
//! Parsing rejects unknown keys, and [`Catalog::validate`] rejects what cannot be priced
//! consistently: tiers out of order, overlapping date ranges, a function price without billing
//! rules for its dates. Lookups that find nothing are errors that say what is missing, never a
//! zero.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The catalog shipped with faasobs.
pub const DEFAULT_CATALOG: &str = include_str!("default-pricing.toml");

/// Errors of loading a catalog or looking a price up in it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("pricing catalog {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error(
        "no {what} in pricing catalog {version} for {key} on {date}; add one to a copy of the catalog \
         (`faasobs cost catalog > pricing.toml`) and pass it with --pricing{hint}"
    )]
    Missing {
        what: &'static str,
        key: String,
        date: String,
        version: String,
        /// More on how to add it (empty, or starting with `; `).
        hint: String,
    },
}

/// A whole catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub catalog_version: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub defaults: Defaults,
    pub billing_rules: Vec<BillingRule>,
    pub function_prices: Vec<FunctionPrice>,
    #[serde(default)]
    pub cpu_allocations: Vec<CpuAllocation>,
    #[serde(default)]
    pub free_tiers: Vec<FreeTier>,
    #[serde(default)]
    pub servers: Vec<Server>,
    pub fleet: Fleet,
    #[serde(default)]
    pub containers: Vec<Container>,
    /// The task sizes container platforms run; a platform without any runs any size.
    #[serde(default)]
    pub container_task_sizes: Vec<ContainerTaskSize>,
    /// Where functions run, for their invocations that do not say it.
    #[serde(default)]
    pub functions: Vec<FunctionConfiguration>,
}

/// What an invocation that does not say where it ran is priced as.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub provider: String,
    pub region: String,
    pub architecture: String,
}

/// Where one function runs, for its invocations that do not say it: Lambda text logs carry
/// neither the region nor the architecture, and the OpenTelemetry SDKs' Lambda resources no
/// architecture. Pricing takes these before `[defaults]`; see
/// [`super::function_configurations`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfiguration {
    /// The function's name, as its invocations' `function_name`.
    pub name: String,
    /// Its region; an entry without one applies in every region of the function.
    pub region: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: Option<String>,
    /// Its configured ephemeral storage (`/tmp`), MB: what above the price's included size is
    /// billed per GB-second of its invocations' billed duration. Unknown, none is billed.
    pub ephemeral_storage_mb: Option<u32>,
    /// Where the entry came from.
    pub source: Option<String>,
}

/// The architectures functions are configured with.
pub const ARCHITECTURES: [&str; 2] = ["x86_64", "arm64"];

/// How a provider turns durations into billed durations, over a span of dates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingRule {
    pub provider: String,
    pub effective_from: Option<NaiveDate>,
    pub effective_until: Option<NaiveDate>,
    /// Billed durations are rounded up to a multiple of this.
    pub granularity_ms: u32,
    /// No invocation is billed less than this.
    pub minimum_billed_ms: u32,
    /// Whether a cold on-demand invocation's init duration is billed with it.
    pub init_billed_on_demand: bool,
    /// Memory is billed in steps of this many MB (Azure).
    pub memory_step_mb: Option<u32>,
    /// Billed memory is capped at this (Azure: 1.5 GB).
    pub max_billed_memory_mb: Option<u32>,
    /// The memory the invocation used is billed, not the configured size (Azure Consumption).
    #[serde(default)]
    pub bills_observed_memory: bool,
    pub source: String,
}

/// One tier of the monthly GB-second price.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The tier covers monthly GB-s up to this total; `None` for the last tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_gb_s: Option<f64>,
    pub usd_per_gb_s: f64,
}

/// The prices of functions of one provider, region and architecture over a span of dates.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionPrice {
    pub provider: String,
    pub region: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<NaiveDate>,
    pub request_usd_per_million: f64,
    pub tiers: Vec<Tier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_ghz_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_allocated_usd_per_gb_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_duration_usd_per_gb_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_usd_per_gb_s: Option<f64>,
    /// The ephemeral storage every function has without charge, MB; 512 (Lambda's) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_included_mb: Option<u32>,
    /// The region these prices were copied from (`faasobs cost catalog --copy-prices`): assumed,
    /// not read from the provider's page for this region, which reports say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    pub source: String,
}

impl FunctionPrice {
    /// The marginal price of the first tier, which per-invocation costs use.
    pub fn tier1_usd_per_gb_s(&self) -> f64 {
        self.tiers[0].usd_per_gb_s
    }

    /// The price of one request.
    pub fn usd_per_request(&self) -> f64 {
        self.request_usd_per_million / 1e6
    }

    /// The ephemeral storage functions have without charge, MB.
    pub fn ephemeral_storage_included_mb(&self) -> u32 {
        self.ephemeral_storage_included_mb
            .unwrap_or(LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB)
    }

    /// The billed GB-seconds of `storage_mb` of ephemeral storage over `billed_ms`: the part
    /// above the included size, and only where these prices charge for storage.
    #[inline]
    pub fn ephemeral_storage_gb_s(&self, storage_mb: f64, billed_ms: f64) -> f64 {
        if self.ephemeral_storage_usd_per_gb_s.is_none() {
            return 0.0;
        }
        let extra_mb = (storage_mb - self.ephemeral_storage_included_mb() as f64).max(0.0);
        billed_ms / 1000.0 * extra_mb / 1024.0
    }

    /// The charge for `gb_s` GB-seconds of ephemeral storage (untiered).
    #[inline]
    pub fn ephemeral_storage_usd(&self, gb_s: f64) -> f64 {
        gb_s * self.ephemeral_storage_usd_per_gb_s.unwrap_or(0.0)
    }
}

/// The ephemeral storage every Lambda function has without charge, and the least it can be
/// configured with, MB.
pub const LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB: u32 = 512;
/// The most ephemeral storage a Lambda function can be configured with, MB.
pub const LAMBDA_MAX_EPHEMERAL_STORAGE_MB: u32 = 10_240;

/// The CPU clock a provider allocates with a memory size (Google Cloud Functions 1st gen).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuAllocation {
    pub provider: String,
    pub memory_mb: u32,
    pub ghz: f64,
}

/// A provider's monthly free tier, per account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeTier {
    pub provider: String,
    pub requests_per_month: u64,
    pub gb_s_per_month: f64,
    pub ghz_s_per_month: Option<f64>,
    pub source: String,
}

/// A dedicated server type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub name: String,
    pub vcpu: u32,
    pub memory_gib: f64,
    pub usd_per_hour: f64,
    /// For burstable types: the share of each vCPU it may use on average without extra charge.
    pub burstable_baseline: Option<f64>,
    pub source: String,
}

/// What a fleet of servers needs besides the servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// The AWS region whose prices the servers, this fleet's load balancer and volumes, and the
    /// containers are, when the catalog says: `cost compare` warns of functions that run in
    /// another.
    pub region: Option<String>,
    pub load_balancer_usd_per_hour: f64,
    pub load_balancer_source: String,
    pub volume_gb_per_server: f64,
    pub volume_usd_per_gb_month: f64,
    pub volume_source: String,
}

/// A container platform priced per vCPU-hour and GB-hour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub architecture: String,
    pub usd_per_vcpu_hour: f64,
    pub usd_per_gb_hour: f64,
    pub source: String,
}

/// One vCPU size a container platform runs, and the memory sizes it allows with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerTaskSize {
    /// The platform (a `containers` name).
    pub name: String,
    pub vcpu: f64,
    pub memory_gb: Vec<f64>,
    pub source: String,
}

fn date_of(time_ns: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_nanos(time_ns).date_naive()
}

/// Sizes as text with their unit, runs of three or more evenly spaced ones as a span:
/// `0.5, 1 or 2 GB`; `8 to 30 GB in steps of 1 GB`.
fn spans_of(sizes: &[f64], unit: &str) -> String {
    let mut parts = Vec::new();
    let mut start = 0;
    while start < sizes.len() {
        let mut end = start + 1;
        if let [first, second, ..] = sizes[start..] {
            while end < sizes.len() && sizes[end] - sizes[end - 1] == second - first {
                end += 1;
            }
        }
        if end - start >= 3 {
            let step = sizes[start + 1] - sizes[start];
            parts.push(format!(
                "{} to {} {unit} in steps of {step} {unit}",
                sizes[start],
                sizes[end - 1]
            ));
        } else {
            end = start + 1;
            parts.push(format!("{} {unit}", sizes[start]));
        }
        start = end;
    }
    // One unit at the end of a plain list: "0.5, 1 or 2 GB".
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => {
            let rest: Vec<_> = rest
                .iter()
                .map(|part| part.strip_suffix(&format!(" {unit}")).unwrap_or(part))
                .collect();
            format!("{} or {last}", rest.join(", "))
        }
        None => String::new(),
    }
}

/// `v > 0`, false for NaN.
pub(crate) fn positive(v: f64) -> bool {
    v > 0.0
}

/// `v >= 0`, false for NaN.
pub(crate) fn non_negative(v: f64) -> bool {
    v >= 0.0
}

fn covers(from: Option<NaiveDate>, until: Option<NaiveDate>, date: NaiveDate) -> bool {
    from.is_none_or(|f| f <= date) && until.is_none_or(|u| date < u)
}

fn overlap(
    a: (Option<NaiveDate>, Option<NaiveDate>),
    b: (Option<NaiveDate>, Option<NaiveDate>),
) -> bool {
    let starts_before_end = |from: Option<NaiveDate>, until: Option<NaiveDate>| match (from, until)
    {
        (Some(f), Some(u)) => f < u,
        _ => true,
    };
    starts_before_end(a.0, b.1) && starts_before_end(b.0, a.1)
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Catalog {
        Catalog::parse(DEFAULT_CATALOG, "(built in)").expect("the built-in catalog is valid")
    }

    /// Reads and validates a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Invalid {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Catalog::parse(&text, &origin)
    }

    /// Parses and validates a catalog; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let invalid = |message: String| CatalogError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let catalog: Catalog = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        catalog.validate().map_err(invalid)?;
        Ok(catalog)
    }

    /// Checks what the types cannot: ordering, ranges, and that every price can be billed.
    pub fn validate(&self) -> Result<(), String> {
        if self.currency != "USD" {
            return Err(format!(
                "currency {:?}: only USD is supported",
                self.currency
            ));
        }
        if !positive(self.hours_per_month) {
            return Err("hours_per_month must be positive".into());
        }
        for (i, rule) in self.billing_rules.iter().enumerate() {
            if rule.granularity_ms == 0 {
                return Err(format!(
                    "billing_rules[{i}] ({}): granularity_ms must be at least 1",
                    rule.provider
                ));
            }
            for other in &self.billing_rules[..i] {
                if other.provider == rule.provider
                    && overlap(
                        (other.effective_from, other.effective_until),
                        (rule.effective_from, rule.effective_until),
                    )
                {
                    return Err(format!(
                        "billing_rules[{i}] ({}): its dates overlap another rule of the same provider",
                        rule.provider
                    ));
                }
            }
        }
        for (i, price) in self.function_prices.iter().enumerate() {
            let name = format!(
                "function_prices[{i}] ({} {} {})",
                price.provider, price.region, price.architecture
            );
            if price.tiers.is_empty() {
                return Err(format!("{name}: no tiers"));
            }
            if price.copied_from.as_deref() == Some(price.region.as_str()) {
                return Err(format!("{name}: copied_from names its own region"));
            }
            let optional = [
                price.usd_per_ghz_s,
                price.provisioned_allocated_usd_per_gb_s,
                price.provisioned_duration_usd_per_gb_s,
                price.ephemeral_storage_usd_per_gb_s,
            ];
            if !non_negative(price.request_usd_per_million)
                || optional.iter().flatten().any(|p| !non_negative(*p))
            {
                return Err(format!("{name}: prices must not be negative"));
            }
            let mut previous = 0.0;
            for (t, tier) in price.tiers.iter().enumerate() {
                let last = t + 1 == price.tiers.len();
                match (tier.up_to_gb_s, last) {
                    (None, true) => {}
                    (None, false) => {
                        return Err(format!("{name}: only the last tier may omit up_to_gb_s"));
                    }
                    (Some(_), true) => {
                        return Err(format!(
                            "{name}: the last tier must omit up_to_gb_s (it covers all further use)"
                        ));
                    }
                    (Some(up_to), false) if up_to <= previous => {
                        return Err(format!("{name}: tier up_to_gb_s values must increase"));
                    }
                    (Some(up_to), false) => previous = up_to,
                }
                if !non_negative(tier.usd_per_gb_s) {
                    return Err(format!("{name}: a negative or missing tier price"));
                }
            }
            for other in &self.function_prices[..i] {
                if (&other.provider, &other.region, &other.architecture)
                    == (&price.provider, &price.region, &price.architecture)
                    && overlap(
                        (other.effective_from, other.effective_until),
                        (price.effective_from, price.effective_until),
                    )
                {
                    return Err(format!(
                        "{name}: its dates overlap another price of the same provider, region and architecture"
                    ));
                }
            }
            if !self
                .billing_rules
                .iter()
                .any(|r| r.provider == price.provider)
            {
                return Err(format!(
                    "{name}: no billing_rules for provider {}",
                    price.provider
                ));
            }
            if price.usd_per_ghz_s.is_some()
                && !self
                    .cpu_allocations
                    .iter()
                    .any(|c| c.provider == price.provider)
            {
                return Err(format!(
                    "{name}: usd_per_ghz_s needs cpu_allocations for provider {}",
                    price.provider
                ));
            }
        }
        for server in &self.servers {
            if server.vcpu == 0
                || !positive(server.memory_gib)
                || !non_negative(server.usd_per_hour)
            {
                return Err(format!(
                    "servers {}: vcpu, memory_gib and usd_per_hour must be positive",
                    server.name
                ));
            }
            if server
                .burstable_baseline
                .is_some_and(|b| !(b > 0.0 && b <= 1.0))
            {
                return Err(format!(
                    "servers {}: burstable_baseline is a fraction of each vCPU, in (0, 1]",
                    server.name
                ));
            }
        }
        for c in &self.containers {
            if !(non_negative(c.usd_per_vcpu_hour) && non_negative(c.usd_per_gb_hour)) {
                return Err(format!(
                    "containers {} {}: prices must not be negative",
                    c.name, c.architecture
                ));
            }
        }
        for size in &self.container_task_sizes {
            if !(positive(size.vcpu) && size.memory_gb.iter().all(|&gb| positive(gb))) {
                return Err(format!(
                    "container_task_sizes {} {} vCPU: sizes must be positive",
                    size.name, size.vcpu
                ));
            }
        }
        for (i, function) in self.functions.iter().enumerate() {
            let name = format!("functions[{i}] ({})", function.name);
            if function.name.is_empty() {
                return Err(format!("functions[{i}]: name must not be empty"));
            }
            if function.region.is_none()
                && function.architecture.is_none()
                && function.ephemeral_storage_mb.is_none()
            {
                return Err(format!(
                    "{name}: give its region, its architecture or its ephemeral storage"
                ));
            }
            if let Some(mb) = function.ephemeral_storage_mb
                && !(LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB..=LAMBDA_MAX_EPHEMERAL_STORAGE_MB)
                    .contains(&mb)
            {
                return Err(format!(
                    "{name}: ephemeral_storage_mb {mb}: expected {LAMBDA_INCLUDED_EPHEMERAL_STORAGE_MB} \
                     to {LAMBDA_MAX_EPHEMERAL_STORAGE_MB} (Lambda's sizes)"
                ));
            }
            if let Some(architecture) = &function.architecture
                && !ARCHITECTURES.contains(&architecture.as_str())
            {
                return Err(format!(
                    "{name}: architecture {architecture:?}: expected x86_64 or arm64"
                ));
            }
            if self.functions[..i]
                .iter()
                .any(|other| (&other.name, &other.region) == (&function.name, &function.region))
            {
                return Err(format!(
                    "{name}: listed twice{}",
                    match &function.region {
                        Some(region) => format!(" in {region}"),
                        None => " without a region".to_string(),
                    }
                ));
            }
        }
        let fleet = &self.fleet;
        if ![
            fleet.load_balancer_usd_per_hour,
            fleet.volume_gb_per_server,
            fleet.volume_usd_per_gb_month,
        ]
        .iter()
        .all(|v| non_negative(*v))
        {
            return Err("fleet: prices and sizes must not be negative".into());
        }
        Ok(())
    }

    fn missing(&self, what: &'static str, key: String, time_ns: i64, hint: String) -> CatalogError {
        CatalogError::Missing {
            what,
            key,
            date: date_of(time_ns).to_string(),
            version: self.catalog_version.clone(),
            hint,
        }
    }

    /// Whether the catalog has function prices for `provider` in `region`, at any date and for
    /// any architecture.
    pub fn prices_region(&self, provider: &str, region: &str) -> bool {
        self.function_prices
            .iter()
            .any(|p| p.provider == provider && p.region == region)
    }

    /// `[[function_prices]]` for region `to` with every price the catalog has for region `from`
    /// (of each provider, architecture and date range that has it), as TOML to append to the
    /// catalog's text: for a region whose prices are those of another (AWS Lambda charges most
    /// commercial regions what it charges us-east-1). Each copy says where it came from, which
    /// the cost reports repeat as a warning. An error when `from` has no prices or `to` has some.
    pub fn copy_prices_toml(&self, from: &str, to: &str) -> Result<String, String> {
        if from == to {
            return Err(format!("--copy-prices {from}:{to}: the same region twice"));
        }
        let copies: Vec<FunctionPrice> = self
            .function_prices
            .iter()
            .filter(|p| p.region == from)
            .map(|p| FunctionPrice {
                region: to.to_string(),
                copied_from: Some(from.to_string()),
                source: format!(
                    "{from}'s prices, copied by `faasobs cost catalog --copy-prices {from}:{to}`: \
                     check them against the provider's page for {to} ({from}: {})",
                    p.source
                ),
                ..p.clone()
            })
            .collect();
        if copies.is_empty() {
            let mut regions: Vec<&str> = self
                .function_prices
                .iter()
                .map(|p| p.region.as_str())
                .collect();
            regions.sort_unstable();
            regions.dedup();
            return Err(format!(
                "--copy-prices {from}:{to}: the catalog has no function prices for {from} (it has \
                 {})",
                regions.join(", ")
            ));
        }
        if self.function_prices.iter().any(|p| p.region == to) {
            return Err(format!(
                "--copy-prices {from}:{to}: the catalog has function prices for {to} already"
            ));
        }
        #[derive(Serialize)]
        struct Copies {
            function_prices: Vec<FunctionPrice>,
        }
        let toml = toml::to_string(&Copies {
            function_prices: copies,
        })
        .map_err(|e| format!("--copy-prices {from}:{to}: {e}"))?;
        Ok(format!(
            "\n# {to}: the prices of {from}, copied by `faasobs cost catalog --copy-prices \
             {from}:{to}`; check them\n# against the provider's page for {to} before relying on \
             them.\n{toml}"
        ))
    }

    /// Whether every billing rule and function price the catalog has is the same at every
    /// instant from `from_ns` to `to_ns` (ns since the epoch): none starts or ends on a day
    /// after `from_ns`'s and up to `to_ns`'s.
    pub fn same_prices_between(&self, from_ns: i64, to_ns: i64) -> bool {
        let (first, last) = (date_of(from_ns), date_of(to_ns));
        let rules = self
            .billing_rules
            .iter()
            .map(|r| (r.effective_from, r.effective_until));
        let prices = self
            .function_prices
            .iter()
            .map(|p| (p.effective_from, p.effective_until));
        rules
            .chain(prices)
            .flat_map(|(from, until)| [from, until])
            .flatten()
            .all(|change| change <= first || last < change)
    }

    /// Whether some billing rule of `provider`, at any date, bills the memory an invocation
    /// used rather than its configured size.
    pub fn may_bill_observed_memory(&self, provider: &str) -> bool {
        self.billing_rules
            .iter()
            .any(|r| r.provider == provider && r.bills_observed_memory)
    }

    /// The billing rule of a provider at an instant (ns since the epoch).
    pub fn billing_rule(&self, provider: &str, time_ns: i64) -> Result<&BillingRule, CatalogError> {
        let date = date_of(time_ns);
        self.billing_rules
            .iter()
            .find(|r| r.provider == provider && covers(r.effective_from, r.effective_until, date))
            .ok_or_else(|| {
                self.missing(
                    "billing rule",
                    format!("provider {provider}"),
                    time_ns,
                    String::new(),
                )
            })
    }

    /// The function prices of a provider, region and architecture at an instant.
    pub fn function_price(
        &self,
        provider: &str,
        region: &str,
        architecture: &str,
        time_ns: i64,
    ) -> Result<&FunctionPrice, CatalogError> {
        let date = date_of(time_ns);
        self.function_prices
            .iter()
            .find(|p| {
                p.provider == provider
                    && p.region == region
                    && p.architecture == architecture
                    && covers(p.effective_from, p.effective_until, date)
            })
            .ok_or_else(|| {
                // Another region of the provider with a price for the architecture that day.
                let other = self.function_prices.iter().find(|p| {
                    p.provider == provider
                        && p.region != region
                        && p.architecture == architecture
                        && p.copied_from.is_none()
                        && covers(p.effective_from, p.effective_until, date)
                });
                let hint = other.map_or_else(String::new, |other| {
                    format!(
                        "; where {region} charges what {from} does, `faasobs cost catalog \
                         --copy-prices {from}:{region} > pricing.toml` writes that catalog \
                         (check the provider's page)",
                        from = other.region
                    )
                });
                self.missing(
                    "function price",
                    format!("{provider} {region} {architecture}"),
                    time_ns,
                    hint,
                )
            })
    }

    /// The GHz a provider allocates with a memory size: that of the smallest listed size at least
    /// as large.
    pub fn cpu_ghz(&self, provider: &str, memory_mb: f64) -> Option<f64> {
        self.cpu_allocations
            .iter()
            .filter(|c| c.provider == provider && c.memory_mb as f64 >= memory_mb)
            .min_by_key(|c| c.memory_mb)
            .or_else(|| {
                self.cpu_allocations
                    .iter()
                    .filter(|c| c.provider == provider)
                    .max_by_key(|c| c.memory_mb)
            })
            .map(|c| c.ghz)
    }

    /// A provider's free tier.
    pub fn free_tier(&self, provider: &str) -> Option<&FreeTier> {
        self.free_tiers.iter().find(|f| f.provider == provider)
    }

    /// Whether container platform `name` runs tasks of `vcpu` and `memory_gb`; if not, the
    /// sizes it runs, as text for an error. A platform without task sizes runs any.
    pub fn container_task_size(&self, name: &str, vcpu: f64, memory_gb: f64) -> Result<(), String> {
        let sizes: Vec<_> = self
            .container_task_sizes
            .iter()
            .filter(|size| size.name == name)
            .collect();
        if sizes.is_empty() {
            return Ok(());
        }
        match sizes.iter().find(|size| size.vcpu == vcpu) {
            Some(size) if size.memory_gb.contains(&memory_gb) => Ok(()),
            Some(size) => Err(format!(
                "{name} runs {vcpu} vCPU tasks with {}",
                spans_of(&size.memory_gb, "GB")
            )),
            None => Err(format!(
                "{name} runs tasks of {}",
                spans_of(
                    &sizes.iter().map(|size| size.vcpu).collect::<Vec<_>>(),
                    "vCPU"
                )
            )),
        }
    }

    /// A container platform's prices for an architecture.
    pub fn container(&self, name: &str, architecture: &str) -> Option<&Container> {
        self.containers
            .iter()
            .find(|c| c.name == name && c.architecture == architecture)
    }
}

/// The built-in catalog plus prices for AWS in ap-southeast-1 on x86_64 (a region whose name is
/// too long to be inline in a view) that change on `date` (`YYYY-MM-DD`), for tests.
#[cfg(test)]
pub(crate) fn with_a_price_change(date: &str) -> Catalog {
    let price = |dates: &str, request_usd_per_million: f64, usd_per_gb_s: f64| {
        format!(
            "\n[[function_prices]]\nprovider = \"aws\"\nregion = \"ap-southeast-1\"\n\
             architecture = \"x86_64\"\n{dates}\n\
             request_usd_per_million = {request_usd_per_million}\n\
             tiers = [{{ usd_per_gb_s = {usd_per_gb_s} }}]\nsource = \"test\"\n"
        )
    };
    let prices = price(&format!("effective_until = \"{date}\""), 0.20, 0.0000166667)
        + &price(&format!("effective_from = \"{date}\""), 0.30, 0.00002);
    Catalog::parse(&format!("{DEFAULT_CATALOG}{prices}"), "test").expect("a valid catalog")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON_2026: i64 = 1_780_000_000_000_000_000; // 2026-05-28

    /// Fargate runs only its task sizes, and a refusal lists them; a platform the catalog gives
    /// no sizes for runs any.
    #[test]
    fn fargate_runs_only_its_task_sizes() {
        let c = Catalog::builtin();
        for (vcpu, gb) in [
            (0.25, 0.5),
            (0.25, 2.0),
            (1.0, 8.0),
            (4.0, 30.0),
            (16.0, 120.0),
        ] {
            assert_eq!(
                c.container_task_size("fargate", vcpu, gb),
                Ok(()),
                "{vcpu} {gb}"
            );
        }
        assert_eq!(
            c.container_task_size("fargate", 0.3, 0.5).unwrap_err(),
            "fargate runs tasks of 0.25, 0.5, 1, 2, 4, 8 or 16 vCPU"
        );
        assert_eq!(
            c.container_task_size("fargate", 0.25, 3.0).unwrap_err(),
            "fargate runs 0.25 vCPU tasks with 0.5, 1 or 2 GB"
        );
        assert_eq!(
            c.container_task_size("fargate", 8.0, 18.0).unwrap_err(),
            "fargate runs 8 vCPU tasks with 16 to 60 GB in steps of 4 GB"
        );
        assert_eq!(c.container_task_size("other", 0.3, 0.1), Ok(()));
        assert_eq!(
            spans_of(&[0.5, 1.0, 2.0, 3.0, 4.0], "GB"),
            "0.5 or 1 to 4 GB in steps of 1 GB"
        );
    }

    #[test]
    fn the_builtin_catalog_is_valid_and_dated() {
        let c = Catalog::builtin();
        let x86 = c
            .function_price("aws", "us-east-1", "x86_64", NOON_2026)
            .unwrap();
        assert_eq!(x86.tier1_usd_per_gb_s(), 0.0000166667);
        assert!(
            c.billing_rule("aws", NOON_2026)
                .unwrap()
                .init_billed_on_demand
        );
        // 2020-06-01: 100 ms rounding, init not billed.
        let rule_2020 = c.billing_rule("aws", 1_590_969_600_000_000_000).unwrap();
        assert_eq!(rule_2020.granularity_ms, 100);
        assert!(!rule_2020.init_billed_on_demand);
        // arm64 did not exist in 2020.
        assert!(
            c.function_price("aws", "us-east-1", "arm64", 1_590_969_600_000_000_000)
                .is_err()
        );
    }

    #[test]
    fn prices_are_the_same_between_two_instants_unless_an_entry_starts_or_ends_between_their_days()
    {
        const DAY: i64 = 86_400_000_000_000;
        let c = Catalog::builtin();
        // The AWS rule of 2025-08-01 (effective_from) and the one until then (effective_until).
        let change = 1_754_006_400_000_000_000; // 2025-08-01T00:00:00Z
        assert!(c.same_prices_between(NOON_2026, NOON_2026 + 3 * DAY));
        assert!(c.same_prices_between(change, change + DAY - 1));
        assert!(c.same_prices_between(change - DAY, change - 1));
        assert!(!c.same_prices_between(change - 1, change));
        assert!(!c.same_prices_between(change - 30 * DAY, NOON_2026));
        // 2020-12-01 ends one AWS rule and starts the next.
        assert!(!c.same_prices_between(
            1_590_969_600_000_000_000, // 2020-06-01
            1_609_459_200_000_000_000  // 2021-01-01
        ));

        assert!(c.may_bill_observed_memory("azure"));
        assert!(!c.may_bill_observed_memory("aws"));
        assert!(!c.may_bill_observed_memory("gcp"));
    }

    #[test]
    fn a_missing_region_is_an_error_naming_it() {
        let err = Catalog::builtin()
            .function_price("aws", "eu-north-9", "x86_64", NOON_2026)
            .unwrap_err()
            .to_string();
        assert!(err.contains("aws eu-north-9 x86_64"), "{err}");
        assert!(err.contains("--pricing"), "{err}");
    }

    #[test]
    fn unknown_keys_and_inconsistent_tiers_are_refused() {
        let typo = DEFAULT_CATALOG.replacen("granularity_ms = 100", "granularity = 100", 1);
        let err = Catalog::parse(&typo, "typo.toml").unwrap_err().to_string();
        assert!(
            err.contains("typo.toml") && err.contains("granularity"),
            "{err}"
        );

        let unordered = DEFAULT_CATALOG.replacen(
            "up_to_gb_s = 15_000_000_000.0",
            "up_to_gb_s = 5_000_000_000.0",
            1,
        );
        let err = Catalog::parse(&unordered, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must increase"), "{err}");

        let overlapping = DEFAULT_CATALOG.replacen(
            "effective_until = \"2020-12-01\"",
            "effective_until = \"2021-12-01\"",
            1,
        );
        let err = Catalog::parse(&overlapping, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlap"), "{err}");
    }

    /// Copied prices are the originals in another region, for every architecture and date range,
    /// each saying where it came from; the copy loads, and a missing price names the copy to make.
    #[test]
    fn a_region_s_prices_copy_into_another_whole_and_marked() {
        let builtin = Catalog::builtin();
        let err = builtin
            .function_price("aws", "eu-west-1", "arm64", NOON_2026)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "; where eu-west-1 charges what us-east-1 does, `faasobs cost catalog \
                 --copy-prices us-east-1:eu-west-1 > pricing.toml` writes that catalog (check \
                 the provider's page)"
            ),
            "{err}"
        );
        let toml = builtin.copy_prices_toml("us-east-1", "eu-west-1").unwrap();
        let copied = Catalog::parse(&format!("{DEFAULT_CATALOG}{toml}"), "t").unwrap();
        let originals: Vec<&FunctionPrice> = builtin
            .function_prices
            .iter()
            .filter(|p| p.region == "us-east-1")
            .collect();
        let copies: Vec<&FunctionPrice> = copied
            .function_prices
            .iter()
            .filter(|p| p.region == "eu-west-1")
            .collect();
        assert_eq!(copies.len(), originals.len());
        assert_eq!(copies.len(), 4);
        for (copy, original) in copies.iter().zip(&originals) {
            assert_eq!(copy.copied_from.as_deref(), Some("us-east-1"));
            assert!(copy.source.contains(&original.source), "{}", copy.source);
            assert_eq!(
                FunctionPrice {
                    region: "us-east-1".into(),
                    copied_from: None,
                    source: original.source.clone(),
                    ..(*copy).clone()
                },
                **original
            );
        }
        for architecture in ["x86_64", "arm64"] {
            let price = |region| {
                copied
                    .function_price("aws", region, architecture, NOON_2026)
                    .unwrap()
                    .tiers
                    .clone()
            };
            assert_eq!(price("eu-west-1"), price("us-east-1"));
        }
        // A copy is not offered as the source of another.
        let err = copied
            .function_price("aws", "eu-north-1", "x86_64", NOON_2026)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--copy-prices us-east-1:eu-north-1"), "{err}");
        assert_eq!(
            Catalog::parse(
                &format!(
                    "{DEFAULT_CATALOG}{}",
                    toml.replace("copied_from = \"us-east-1\"", "copied_from = \"eu-west-1\"")
                ),
                "t"
            )
            .unwrap_err()
            .to_string(),
            "pricing catalog t: function_prices[6] (aws eu-west-1 x86_64): copied_from names its \
             own region"
        );
    }

    #[test]
    fn functions_are_refused_without_a_place_with_another_architecture_or_storage_or_twice() {
        let with = |functions: &str| {
            Catalog::parse(&format!("{DEFAULT_CATALOG}\n{functions}"), "f.toml")
                .map(|c| c.functions.len())
                .map_err(|e| e.to_string())
        };
        let function = |region: &str, architecture: &str| {
            format!("[[functions]]\nname = \"resize\"\n{region}{architecture}")
        };
        let (east, arm) = ("region = \"us-east-1\"\n", "architecture = \"arm64\"\n");
        assert_eq!(with(&function(east, arm)), Ok(1));
        assert_eq!(with(&(function(east, arm) + &function("", arm))), Ok(2));
        assert_eq!(
            with(&function("", "")).unwrap_err(),
            "pricing catalog f.toml: functions[0] (resize): give its region, its architecture or \
             its ephemeral storage"
        );
        // Ephemeral storage alone places nothing but is an entry; Lambda's sizes only.
        let storage = |mb: u32| format!("ephemeral_storage_mb = {mb}\n");
        assert_eq!(with(&function("", &storage(10_240))), Ok(1));
        for mb in [511, 10_241] {
            assert_eq!(
                with(&function(east, &storage(mb))).unwrap_err(),
                format!(
                    "pricing catalog f.toml: functions[0] (resize): ephemeral_storage_mb {mb}: \
                     expected 512 to 10240 (Lambda's sizes)"
                )
            );
        }
        assert_eq!(
            with(&function(east, "architecture = \"aarch64\"\n")).unwrap_err(),
            "pricing catalog f.toml: functions[0] (resize): architecture \"aarch64\": expected \
             x86_64 or arm64"
        );
        assert_eq!(
            with(&(function(east, arm) + &function(east, ""))).unwrap_err(),
            "pricing catalog f.toml: functions[1] (resize): listed twice in us-east-1"
        );
        assert!(
            with("[[functions]]\nname = \"\"\narchitecture = \"arm64\"\n")
                .unwrap_err()
                .ends_with("functions[0]: name must not be empty")
        );
    }
}
