//! Pricing: one invocation at the marginal price, and a month of an account's use with tiers and
//! the free tier.
//!
//! These are plain functions of the catalog and the numbers, so that the SQL functions, the
//! reports and the scenarios all price the same way, and tests can check them by hand.

use std::collections::BTreeMap;

use super::catalog::{BillingRule, Catalog, CatalogError, FunctionPrice, Tier};

/// What pricing needs to know about one invocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationFacts<'a> {
    pub provider: Option<&'a str>,
    pub region: Option<&'a str>,
    pub architecture: Option<&'a str>,
    pub memory_size_mb: Option<f64>,
    pub max_memory_used_mb: Option<f64>,
    /// ns since the epoch: picks the prices and rules in effect.
    pub start_ns: i64,
    pub duration_ms: Option<f64>,
    /// The billed duration the platform reported, which is trusted when present.
    pub billed_duration_ms: Option<i64>,
    pub init_duration_ms: Option<f64>,
    pub cold_start: bool,
    pub status: &'a str,
    /// The configured timeout, when known: a timed-out invocation is billed up to it.
    pub timeout_ms: Option<f64>,
    /// The function's configured ephemeral storage, MB, when known: the part above the price's
    /// included size is billed for the billed duration.
    pub ephemeral_storage_mb: Option<f64>,
}

/// The cost of one invocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvocationCost<'c> {
    pub price: &'c FunctionPrice,
    /// Whether the provider, region or architecture came from the catalog's defaults.
    pub defaulted: bool,
    pub billed_ms: f64,
    /// The part of `billed_ms` that is the init phase.
    pub init_billed_ms: f64,
    pub billed_memory_mb: f64,
    pub gb_s: f64,
    pub ghz_s: f64,
    pub request_usd: f64,
    /// Duration charge at the first tier's (marginal) price, init included.
    pub duration_usd: f64,
    /// The part of `duration_usd` that pays for the init phase.
    pub init_usd: f64,
    /// GB-seconds of ephemeral storage above the included size.
    pub ephemeral_storage_gb_s: f64,
    pub ephemeral_storage_usd: f64,
    pub total_usd: f64,
}

/// The configured timeout, read from Lambda's `Task timed out after 6.00 seconds` message.
pub fn timeout_from_message(message: &str) -> Option<f64> {
    let rest = &message[message.find("timed out after ")? + "timed out after ".len()..];
    let seconds: f64 = rest.split_whitespace().next()?.parse().ok()?;
    (seconds.is_finite() && seconds > 0.0).then_some(seconds * 1000.0)
}

/// Rounds a duration up to the billing granularity, and to at least the minimum.
pub fn round_up_to_granularity(ms: f64, granularity_ms: u32, minimum_ms: u32) -> f64 {
    let g = granularity_ms.max(1) as f64;
    // A hair below a step is floating-point noise, not a reason to bill one more step.
    let steps = ((ms.max(0.0) - 1e-9) / g).ceil().max(0.0);
    (steps * g).max(minimum_ms as f64)
}

impl BillingRule {
    /// The billed duration of `ms` of billable time under this rule.
    pub fn billed_ms(&self, ms: f64) -> f64 {
        round_up_to_granularity(ms, self.granularity_ms, self.minimum_billed_ms)
    }
}

/// The cost of one invocation, or `None` when it cannot be priced because its memory size or its
/// duration (measured or billed) is unknown; a throttled invocation is always free. A provider,
/// region or architecture the catalog has no price for is an error.
pub fn price_invocation<'c>(
    catalog: &'c Catalog,
    facts: &InvocationFacts,
) -> Result<Option<InvocationCost<'c>>, CatalogError> {
    Pricer::new(catalog).price(facts)
}

/// Equality of two short texts, inlined: the pricer compares its key for every row, and `memcmp`
/// was visible in the cost query's profile (shared with the group-by's string comparisons; this
/// came in with the session's other per-row changes and was not measured on its own).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// ns in a UTC day: the catalog's prices and rules take effect on dates.
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// The UTC day (ns from, ns to) of the instant `ns`: the catalog's answers for an invocation that
/// started at `ns` hold for every invocation that started that day (with the same provider,
/// region and architecture), which needs no new [`Pricer::select`].
pub fn utc_day(ns: i64) -> (i64, i64) {
    let day = ns.div_euclid(NANOS_PER_DAY);
    // Saturating: the last day a nanosecond time can hold ends past `i64::MAX`.
    (
        day.saturating_mul(NANOS_PER_DAY),
        (day + 1).saturating_mul(NANOS_PER_DAY),
    )
}

/// Prices invocations one after another as [`price_invocation`] does, remembering the catalog's
/// answers while the provider, region, architecture and day stay the same, as they do over long
/// runs of rows. (Searching the catalog for every row, with a date conversion each time, was
/// about a third of the cost query's time on the benchmark's 10M invocations.)
pub struct Pricer<'c> {
    catalog: &'c Catalog,
    last: Option<Lookup<'c>>,
    /// Whether the selected provider, region or architecture came from the catalog's defaults.
    defaulted: bool,
}

/// The catalog's answers for one provider, region, architecture and day.
struct Lookup<'c> {
    provider: String,
    region: String,
    architecture: String,
    day: i64,
    rule: &'c BillingRule,
    price: &'c FunctionPrice,
    /// `price.usd_per_request()`, divided once rather than for every row.
    usd_per_request: f64,
    /// The last memory size's CPU allocation.
    ghz: Option<(f64, Option<f64>)>,
}

impl Lookup<'_> {
    /// The CPU clock the provider allocates with `memory` MB, remembered for the next row, which
    /// usually has the same memory size.
    fn cpu_ghz(&mut self, catalog: &Catalog, memory: f64) -> Option<f64> {
        match self.ghz {
            Some((m, ghz)) if m == memory => ghz,
            _ => {
                let ghz = catalog.cpu_ghz(&self.provider, memory);
                self.ghz = Some((memory, ghz));
                ghz
            }
        }
    }

    /// GB-seconds, GHz-seconds and their charge at the first tier's price for `billed_ms` of
    /// `memory` MB.
    #[inline(always)]
    fn duration_charge(
        &mut self,
        catalog: &Catalog,
        billed_ms: f64,
        memory: f64,
    ) -> (f64, f64, f64) {
        let price = self.price;
        let gb_s = gb_seconds(billed_ms, memory);
        let ghz_s = match price.usd_per_ghz_s {
            Some(_) => billed_ms / 1000.0 * self.cpu_ghz(catalog, memory).unwrap_or(0.0),
            None => 0.0,
        };
        (gb_s, ghz_s, first_tier_usd(price, gb_s, ghz_s))
    }
}

/// GB-seconds of `billed_ms` at `memory` MB.
#[inline(always)]
fn gb_seconds(billed_ms: f64, memory: f64) -> f64 {
    billed_ms / 1000.0 * memory / 1024.0
}

/// The charge for `gb_s` GB-seconds and `ghz_s` GHz-seconds at the first tier's price.
#[inline(always)]
fn first_tier_usd(price: &FunctionPrice, gb_s: f64, ghz_s: f64) -> f64 {
    gb_s * price.tier1_usd_per_gb_s() + ghz_s * price.usd_per_ghz_s.unwrap_or(0.0)
}

/// The selected prices where an invocation's cost is a function of its billed duration and
/// configured memory alone: the rule bills the configured memory as it is (no observed memory,
/// steps or cap) and the price has no CPU-clock part (AWS Lambda). See
/// [`Pricer::selected_flat_rate`].
#[derive(Debug, Clone, Copy)]
pub struct FlatRate<'c> {
    price: &'c FunctionPrice,
    request_usd: f64,
}

impl FlatRate<'_> {
    /// [`Pricer::selected_total_usd_reported`] of an invocation billed `billed_duration_ms` at
    /// `memory_size_mb` (more than zero) under these prices: the same number, to the bit.
    #[inline(always)]
    pub fn total_usd(&self, billed_duration_ms: i64, memory_size_mb: f64) -> f64 {
        let billed_ms = billed_duration_ms.max(0) as f64;
        self.request_usd + first_tier_usd(self.price, gb_seconds(billed_ms, memory_size_mb), 0.0)
    }

    /// The ephemeral storage charge [`Pricer::selected_total_usd_reported`] adds for
    /// `storage_mb` over `billed_duration_ms`: the same number, to the bit.
    #[inline(always)]
    pub fn ephemeral_storage_usd(&self, billed_duration_ms: i64, storage_mb: f64) -> f64 {
        let billed_ms = billed_duration_ms.max(0) as f64;
        ephemeral_storage_charge(self.price, Some(storage_mb), billed_ms).1
    }
}

/// The memory an invocation is billed for under `rule`: the configured size, or the observed one
/// (read only then) where the rule bills that, rounded up to the rule's step and capped; `None`
/// when unknown.
#[inline(always)]
fn billed_memory_mb(
    rule: &BillingRule,
    memory_size_mb: Option<f64>,
    max_memory_used_mb: impl FnOnce() -> Option<f64>,
) -> Option<f64> {
    let configured = memory_size_mb.filter(|m| *m > 0.0);
    let memory = if rule.bills_observed_memory {
        max_memory_used_mb().filter(|m| *m > 0.0).or(configured)
    } else {
        configured
    };
    memory.map(|mut m| {
        if let Some(step) = rule.memory_step_mb.filter(|s| *s > 0) {
            m = (m / step as f64).ceil() * step as f64;
        }
        if let Some(cap) = rule.max_billed_memory_mb {
            m = m.min(cap as f64);
        }
        m
    })
}

impl<'c> Pricer<'c> {
    pub fn new(catalog: &'c Catalog) -> Pricer<'c> {
        Pricer {
            catalog,
            last: None,
            defaulted: false,
        }
    }

    /// Selects the prices and rules for an invocation of `provider`, `region` and `architecture`
    /// (the catalog's defaults for those unknown) that started at `start_ns`, for
    /// [`Pricer::price_selected`]. Cheap when they are the ones already selected.
    pub fn select(
        &mut self,
        provider: Option<&str>,
        region: Option<&str>,
        architecture: Option<&str>,
        start_ns: i64,
    ) -> Result<(), CatalogError> {
        let defaults = &self.catalog.defaults;
        self.defaulted = provider.is_none() || region.is_none() || architecture.is_none();
        let provider = provider.unwrap_or(&defaults.provider);
        let region = region.unwrap_or(&defaults.region);
        let architecture = architecture.unwrap_or(&defaults.architecture);
        let day = start_ns.div_euclid(NANOS_PER_DAY);
        let known = self.last.as_ref().is_some_and(|l| {
            l.day == day
                && same_text(&l.provider, provider)
                && same_text(&l.region, region)
                && same_text(&l.architecture, architecture)
        });
        if !known {
            let price = self
                .catalog
                .function_price(provider, region, architecture, start_ns)?;
            self.last = Some(Lookup {
                provider: provider.to_string(),
                region: region.to_string(),
                architecture: architecture.to_string(),
                day,
                rule: self.catalog.billing_rule(provider, start_ns)?,
                price,
                usd_per_request: price.usd_per_request(),
                ghz: None,
            });
        }
        Ok(())
    }

    /// The cost of one invocation; see [`price_invocation`]. Inlined into each caller, so that a
    /// caller that keeps only the total does not compute the rest (the init share's division
    /// was a visible part of the cost query).
    #[inline(always)]
    pub fn price(
        &mut self,
        facts: &InvocationFacts,
    ) -> Result<Option<InvocationCost<'c>>, CatalogError> {
        self.select(
            facts.provider,
            facts.region,
            facts.architecture,
            facts.start_ns,
        )?;
        Ok(self.price_selected(facts))
    }

    /// [`Pricer::price`] for an invocation whose provider, region, architecture and day are the
    /// ones last [selected](Pricer::select): a caller that knows its rows share them (the SQL
    /// functions compare each row's key with the row that selected) prices them without
    /// comparing texts again.
    ///
    /// # Panics
    /// When nothing was selected.
    #[inline(always)]
    pub fn price_selected(&mut self, facts: &InvocationFacts) -> Option<InvocationCost<'c>> {
        let catalog = self.catalog;
        let defaulted = self.defaulted;
        let lookup = self.last.as_mut().expect("select before price_selected");
        debug_assert!(
            facts.start_ns.div_euclid(NANOS_PER_DAY) == lookup.day
                && facts.provider.is_none_or(|p| p == lookup.provider)
                && facts.region.is_none_or(|r| r == lookup.region)
                && facts.architecture.is_none_or(|a| a == lookup.architecture),
            "priced with another invocation's selection: {facts:?}"
        );
        let (rule, price, request_usd) = (lookup.rule, lookup.price, lookup.usd_per_request);
        let memory = billed_memory_mb(rule, facts.memory_size_mb, || facts.max_memory_used_mb);

        if facts.status == "throttled" {
            // A throttled request never ran and is not billed, whatever is known of it.
            return Some(InvocationCost {
                price,
                defaulted,
                billed_ms: 0.0,
                init_billed_ms: 0.0,
                billed_memory_mb: memory.unwrap_or(0.0),
                gb_s: 0.0,
                ghz_s: 0.0,
                request_usd: 0.0,
                duration_usd: 0.0,
                init_usd: 0.0,
                ephemeral_storage_gb_s: 0.0,
                ephemeral_storage_usd: 0.0,
                total_usd: 0.0,
            });
        }
        let memory = memory?;
        let init_ms = if facts.cold_start && rule.init_billed_on_demand {
            facts.init_duration_ms.unwrap_or(0.0).max(0.0)
        } else {
            0.0
        };
        let billed_ms = match (facts.billed_duration_ms, facts.duration_ms) {
            (Some(reported), _) => reported.max(0) as f64,
            (None, Some(duration)) => {
                let mut run = duration.max(0.0);
                if facts.status == "timeout"
                    && let Some(timeout) = facts.timeout_ms
                {
                    run = run.min(timeout);
                }
                rule.billed_ms(run + init_ms)
            }
            (None, None) => return None,
        };
        // Of a reported billed duration, INIT can have been billed only what the run left of it:
        // a SnapStart restore (its `init_duration_ms`) is billed less than it lasted.
        let init_billed_ms = match (facts.billed_duration_ms, facts.duration_ms) {
            (Some(_), Some(run)) if billed_ms >= run => init_ms.min(billed_ms - run),
            _ => init_ms.min(billed_ms),
        };
        let (gb_s, ghz_s, duration_usd) = lookup.duration_charge(catalog, billed_ms, memory);
        let init_usd = if billed_ms > 0.0 {
            duration_usd * init_billed_ms / billed_ms
        } else {
            0.0
        };
        let (ephemeral_storage_gb_s, ephemeral_storage_usd) =
            ephemeral_storage_charge(price, facts.ephemeral_storage_mb, billed_ms);
        Some(InvocationCost {
            price,
            defaulted,
            billed_ms,
            init_billed_ms,
            billed_memory_mb: memory,
            gb_s,
            ghz_s,
            request_usd,
            duration_usd,
            init_usd,
            ephemeral_storage_gb_s,
            ephemeral_storage_usd,
            total_usd: request_usd + duration_usd + ephemeral_storage_usd,
        })
    }

    /// The selected prices as a [`FlatRate`], when they are one.
    pub fn selected_flat_rate(&self) -> Option<FlatRate<'c>> {
        let lookup = self.last.as_ref()?;
        let rule = lookup.rule;
        let flat = !rule.bills_observed_memory
            && rule.memory_step_mb.is_none_or(|step| step == 0)
            && rule.max_billed_memory_mb.is_none()
            && lookup.price.usd_per_ghz_s.is_none();
        flat.then_some(FlatRate {
            price: lookup.price,
            request_usd: lookup.usd_per_request,
        })
    }

    /// The `total_usd` of [`Pricer::price_selected`] for an invocation that was not throttled
    /// and whose billed duration the platform reported: then only that duration and the memory
    /// sizes count, not the measured or init duration, a cold start or a timeout. The cost
    /// query prices nearly every row this way, without gathering the rest of its facts; the
    /// memory used is asked for only under a rule that bills it.
    ///
    /// # Panics
    /// When nothing was selected.
    #[inline(always)]
    pub fn selected_total_usd_reported(
        &mut self,
        billed_duration_ms: i64,
        memory_size_mb: Option<f64>,
        max_memory_used_mb: impl FnOnce() -> Option<f64>,
        ephemeral_storage_mb: Option<f64>,
    ) -> Option<f64> {
        let catalog = self.catalog;
        let lookup = self.last.as_mut().expect("select before pricing");
        let memory = billed_memory_mb(lookup.rule, memory_size_mb, max_memory_used_mb)?;
        let billed_ms = billed_duration_ms.max(0) as f64;
        let (_, _, duration_usd) = lookup.duration_charge(catalog, billed_ms, memory);
        let (_, storage_usd) =
            ephemeral_storage_charge(lookup.price, ephemeral_storage_mb, billed_ms);
        Some(lookup.usd_per_request + duration_usd + storage_usd)
    }
}

/// GB-seconds of `storage_mb` of ephemeral storage (none when unknown) billed for `billed_ms`,
/// and their charge under `price`.
#[inline(always)]
fn ephemeral_storage_charge(
    price: &FunctionPrice,
    storage_mb: Option<f64>,
    billed_ms: f64,
) -> (f64, f64) {
    match storage_mb {
        None => (0.0, 0.0),
        Some(mb) => {
            let gb_s = price.ephemeral_storage_gb_s(mb, billed_ms);
            (gb_s, price.ephemeral_storage_usd(gb_s))
        }
    }
}

/// The price of a month's GB-seconds through the tiers.
pub fn tiered_usd(tiers: &[Tier], gb_s: f64) -> f64 {
    let mut usd = 0.0;
    let mut lower = 0.0;
    for tier in tiers {
        let upper = tier.up_to_gb_s.unwrap_or(f64::INFINITY);
        if gb_s > lower {
            usd += (gb_s.min(upper) - lower) * tier.usd_per_gb_s;
        }
        lower = upper;
    }
    usd
}

/// One month of use of one account in one provider, region and architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyUsage {
    pub month: String,
    /// An instant in the month (ns), which picks the prices in effect.
    pub month_start_ns: i64,
    pub account: String,
    pub provider: String,
    pub region: String,
    pub architecture: String,
    /// Billed requests (throttled ones excluded).
    pub requests: f64,
    pub gb_s: f64,
    pub ghz_s: f64,
    /// The invocations' ephemeral storage charges, summed: untiered and outside the free tier,
    /// so the sum of each invocation's at the price of its day is the month's.
    pub ephemeral_storage_usd: f64,
}

/// The bill of one [`MonthlyUsage`].
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyBill {
    pub usage: MonthlyUsage,
    pub free_requests: f64,
    pub free_gb_s: f64,
    pub request_usd: f64,
    pub duration_usd: f64,
    /// Ephemeral storage, untiered and not in the free tier.
    pub ephemeral_storage_usd: f64,
    pub total_usd: f64,
}

/// Bills months of use: requests at their price, GB-seconds through the tiers of their region and
/// architecture, and, with `free_tier`, each account's monthly free allowance deducted first;
/// ephemeral storage as its invocations were charged, which no tier or free tier changes.
///
/// Providers do not say how the free allowance is split when an account uses several regions or
/// architectures in a month; here it goes to the usage with the highest first-tier price first
/// (the split that saves the most), in a stable order.
pub fn bill_months(
    catalog: &Catalog,
    usages: &[MonthlyUsage],
    free_tier: bool,
) -> Result<Vec<MonthlyBill>, CatalogError> {
    let mut prices = Vec::with_capacity(usages.len());
    for u in usages {
        prices.push(catalog.function_price(
            &u.provider,
            &u.region,
            &u.architecture,
            u.month_start_ns,
        )?);
    }
    let mut free = vec![(0.0, 0.0, 0.0); usages.len()];
    if free_tier {
        let mut groups: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
        for (i, u) in usages.iter().enumerate() {
            groups
                .entry((&u.month, &u.account, &u.provider))
                .or_default()
                .push(i);
        }
        for ((_, _, provider), mut members) in groups {
            let Some(allowance) = catalog.free_tier(provider) else {
                continue;
            };
            members.sort_by(|&a, &b| {
                prices[b]
                    .tier1_usd_per_gb_s()
                    .total_cmp(&prices[a].tier1_usd_per_gb_s())
                    .then_with(|| usages[a].region.cmp(&usages[b].region))
                    .then_with(|| usages[a].architecture.cmp(&usages[b].architecture))
            });
            let mut requests_left = allowance.requests_per_month as f64;
            let mut gb_s_left = allowance.gb_s_per_month;
            let mut ghz_s_left = allowance.ghz_s_per_month.unwrap_or(0.0);
            for i in members {
                let take = |left: &mut f64, used: f64| {
                    let t = used.min(*left).max(0.0);
                    *left -= t;
                    t
                };
                free[i] = (
                    take(&mut requests_left, usages[i].requests),
                    take(&mut gb_s_left, usages[i].gb_s),
                    take(&mut ghz_s_left, usages[i].ghz_s),
                );
            }
        }
    }
    Ok(usages
        .iter()
        .zip(prices)
        .zip(free)
        .map(|((u, price), (free_requests, free_gb_s, free_ghz_s))| {
            let request_usd = (u.requests - free_requests) * price.usd_per_request();
            let duration_usd = tiered_usd(&price.tiers, u.gb_s - free_gb_s)
                + (u.ghz_s - free_ghz_s) * price.usd_per_ghz_s.unwrap_or(0.0);
            let ephemeral_storage_usd = u.ephemeral_storage_usd;
            MonthlyBill {
                usage: u.clone(),
                free_requests,
                free_gb_s,
                request_usd,
                duration_usd,
                ephemeral_storage_usd,
                total_usd: request_usd + duration_usd + ephemeral_storage_usd,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    //! Every expected value here is computed by hand from the catalog's list prices.
    use super::*;

    /// 2026-03-10T12:00:00Z.
    const MARCH_2026: i64 = 1_773_144_000_000_000_000;
    /// 2020-06-09T15:02:26Z.
    const JUNE_2020: i64 = 1_591_714_946_000_000_000;
    /// 2024-05-01T00:00:00Z.
    const MAY_2024: i64 = 1_714_521_600_000_000_000;
    /// 2021-05-01T00:00:00Z.
    const MAY_2021: i64 = 1_619_827_200_000_000_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
    }

    fn facts(start_ns: i64) -> InvocationFacts<'static> {
        InvocationFacts {
            provider: Some("aws"),
            region: Some("us-east-1"),
            architecture: Some("x86_64"),
            memory_size_mb: Some(1024.0),
            start_ns,
            duration_ms: Some(250.4),
            status: "success",
            ..Default::default()
        }
    }

    #[test]
    fn x86_and_arm64_invocations_at_the_marginal_price() {
        let c = Catalog::builtin();
        // x86, 1024 MB, 250.4 ms -> billed 251 ms = 0.251 GB-s.
        let x86 = price_invocation(&c, &facts(MARCH_2026)).unwrap().unwrap();
        assert_eq!(x86.billed_ms, 251.0);
        assert!(close(x86.gb_s, 0.251));
        assert!(close(x86.duration_usd, 0.251 * 0.0000166667));
        assert!(close(x86.total_usd, 0.0000002 + 0.251 * 0.0000166667));
        // arm64, 512 MB, 100 ms -> 0.05 GB-s at $0.0000133334.
        let arm = price_invocation(
            &c,
            &InvocationFacts {
                architecture: Some("arm64"),
                memory_size_mb: Some(512.0),
                duration_ms: Some(100.0),
                ..facts(MARCH_2026)
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(arm.billed_ms, 100.0);
        assert!(close(arm.total_usd, 0.0000002 + 0.05 * 0.0000133334));
    }

    #[test]
    fn one_pricer_over_changing_days_and_places_prices_each_as_alone() {
        let c = Catalog::builtin();
        let sequence = [
            facts(MARCH_2026),
            facts(MARCH_2026 + 1),
            // Another rule (100 ms steps) and another day, then back.
            InvocationFacts {
                duration_ms: Some(101.3),
                ..facts(JUNE_2020)
            },
            InvocationFacts {
                duration_ms: Some(101.3),
                ..facts(MARCH_2026)
            },
            InvocationFacts {
                architecture: Some("arm64"),
                ..facts(MARCH_2026)
            },
            InvocationFacts {
                region: None,
                memory_size_mb: Some(2048.0),
                ..facts(MARCH_2026)
            },
        ];
        let mut pricer = Pricer::new(&c);
        for f in &sequence {
            assert_eq!(
                pricer.price(f).unwrap(),
                price_invocation(&c, f).unwrap(),
                "{f:?}"
            );
        }
        let in_2020 = pricer.price(&sequence[2]).unwrap().unwrap();
        assert_eq!(in_2020.billed_ms, 200.0);
    }

    #[test]
    fn the_utc_day_of_an_instant_holds_it_even_at_the_ends_of_time() {
        let (from, to) = utc_day(MARCH_2026);
        assert!((from..to).contains(&MARCH_2026));
        assert_eq!(to - from, NANOS_PER_DAY);
        assert_eq!(from % NANOS_PER_DAY, 0);
        // The last day of nanosecond time ends after `i64::MAX`: the range stops there.
        let last = i64::MAX - 1;
        let day = last.div_euclid(NANOS_PER_DAY);
        let (from, to) = utc_day(last);
        assert_eq!((from, to), (day * NANOS_PER_DAY, i64::MAX));
        assert!((from..to).contains(&last));
        // Before 1970 too.
        let (from, to) = utc_day(-1);
        assert_eq!((from, to), (-NANOS_PER_DAY, 0));
    }

    #[test]
    fn a_2020_invocation_is_rounded_up_to_100_ms() {
        let c = Catalog::builtin();
        let cost = price_invocation(
            &c,
            &InvocationFacts {
                duration_ms: Some(101.3),
                memory_size_mb: Some(128.0),
                ..facts(JUNE_2020)
            },
        )
        .unwrap()
        .unwrap();
        // 101.3 ms -> 200 ms; 0.2 s * 0.125 GB = 0.025 GB-s.
        assert_eq!(cost.billed_ms, 200.0);
        assert!(close(cost.gb_s, 0.025));
        assert!(close(cost.total_usd, 0.0000002 + 0.025 * 0.0000166667));
        // Even a 3 ms invocation was billed 100 ms.
        let short = price_invocation(
            &c,
            &InvocationFacts {
                duration_ms: Some(3.0),
                ..facts(JUNE_2020)
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(short.billed_ms, 100.0);
    }

    #[test]
    fn a_snapstart_restore_is_billed_for_its_billed_part_only() {
        let c = Catalog::builtin();
        // REPORT: Duration 49 ms, Billed Duration 49 ms, Restore Duration 400.12 ms, Billed
        // Restore Duration 118 ms: stored as billed 167 ms and init 400.12 ms.
        let restored = InvocationFacts {
            duration_ms: Some(49.0),
            billed_duration_ms: Some(167),
            init_duration_ms: Some(400.12),
            cold_start: true,
            ..facts(MARCH_2026)
        };
        let cost = price_invocation(&c, &restored).unwrap().unwrap();
        assert_eq!(cost.billed_ms, 167.0);
        assert!(close(cost.init_billed_ms, 118.0), "{}", cost.init_billed_ms);
        assert!(close(cost.init_usd, cost.duration_usd * 118.0 / 167.0));
    }

    #[test]
    fn init_is_billed_for_a_cold_on_demand_invocation_in_2026_but_not_in_2024() {
        let c = Catalog::builtin();
        let cold = |start| InvocationFacts {
            duration_ms: Some(1233.96),
            init_duration_ms: Some(463.512),
            cold_start: true,
            ..facts(start)
        };
        let cost_2026 = price_invocation(&c, &cold(MARCH_2026)).unwrap().unwrap();
        // The observed Lambda REPORT: billed 1698 ms = ceil(1233.96 + 463.512).
        assert_eq!(cost_2026.billed_ms, 1698.0);
        assert!(close(cost_2026.init_billed_ms, 463.512));
        assert!(close(cost_2026.gb_s, 1.698));
        assert!(close(cost_2026.init_usd, 0.463512 * 0.0000166667));
        let cost_2024 = price_invocation(&c, &cold(MAY_2024)).unwrap().unwrap();
        assert_eq!(cost_2024.billed_ms, 1234.0);
        assert_eq!(cost_2024.init_usd, 0.0);
        // A billed duration the platform reported is trusted as is.
        let reported = price_invocation(
            &c,
            &InvocationFacts {
                billed_duration_ms: Some(12),
                ..cold(MAY_2024)
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(reported.billed_ms, 12.0);
    }

    #[test]
    fn a_timeout_is_billed_up_to_the_configured_timeout() {
        let c = Catalog::builtin();
        let timeout =
            timeout_from_message("2026-03-10T12:00:03Z abc Task timed out after 3.00 seconds");
        assert_eq!(timeout, Some(3000.0));
        let cost = price_invocation(
            &c,
            &InvocationFacts {
                duration_ms: Some(3003.52),
                status: "timeout",
                timeout_ms: timeout,
                ..facts(MARCH_2026)
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(cost.billed_ms, 3000.0);
        assert!(close(cost.gb_s, 3.0));
    }

    #[test]
    fn throttles_are_free_and_unknown_memory_is_unpriced_not_zero() {
        let c = Catalog::builtin();
        let throttled = price_invocation(
            &c,
            &InvocationFacts {
                status: "throttled",
                ..facts(MARCH_2026)
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(throttled.total_usd, 0.0);
        // Throttles are free even when nothing else is known of them (they never ran).
        let bare_throttle = InvocationFacts {
            status: "throttled",
            memory_size_mb: None,
            duration_ms: None,
            billed_duration_ms: None,
            ..facts(MARCH_2026)
        };
        assert_eq!(
            price_invocation(&c, &bare_throttle)
                .unwrap()
                .unwrap()
                .total_usd,
            0.0
        );
        let unknown = InvocationFacts {
            memory_size_mb: None,
            ..facts(MARCH_2026)
        };
        assert_eq!(price_invocation(&c, &unknown).unwrap(), None);
        let defaulted = InvocationFacts {
            region: None,
            ..facts(MARCH_2026)
        };
        assert!(price_invocation(&c, &defaulted).unwrap().unwrap().defaulted);
    }

    fn usage(architecture: &str, requests: f64, gb_s: f64) -> MonthlyUsage {
        MonthlyUsage {
            month: "2026-03".into(),
            month_start_ns: MARCH_2026,
            account: "123456789012".into(),
            provider: "aws".into(),
            region: "us-east-1".into(),
            architecture: architecture.into(),
            requests,
            gb_s,
            ghz_s: 0.0,
            ephemeral_storage_usd: 0.0,
        }
    }

    /// Storage above the included 512 MB is billed for the billed duration, reported or computed,
    /// at its flat price, with the free tier taking none of it; unknown storage bills nothing.
    #[test]
    fn ephemeral_storage_above_the_included_size_is_billed_for_the_billed_duration() {
        let c = Catalog::builtin();
        // 10,240 MB of storage: 9.5 GB above the included 512 MB, for 251 ms.
        let storage = InvocationFacts {
            ephemeral_storage_mb: Some(10_240.0),
            ..facts(MARCH_2026)
        };
        let with = price_invocation(&c, &storage).unwrap().unwrap();
        let without = price_invocation(&c, &facts(MARCH_2026)).unwrap().unwrap();
        assert!(close(with.ephemeral_storage_gb_s, 0.251 * 9.5));
        assert!(close(
            with.ephemeral_storage_usd,
            0.251 * 9.5 * 0.0000000309
        ));
        assert!(close(
            with.total_usd,
            without.total_usd + 0.251 * 9.5 * 0.0000000309
        ));
        assert_eq!(with.duration_usd, without.duration_usd);
        assert_eq!(
            (
                without.ephemeral_storage_gb_s,
                without.ephemeral_storage_usd
            ),
            (0.0, 0.0)
        );
        // The included size itself costs nothing.
        let included = InvocationFacts {
            ephemeral_storage_mb: Some(512.0),
            ..facts(MARCH_2026)
        };
        assert_eq!(
            price_invocation(&c, &included).unwrap().unwrap().total_usd,
            without.total_usd
        );
        // A reported billed duration prices it the same way, on the fast path too.
        let reported = InvocationFacts {
            billed_duration_ms: Some(251),
            ..storage
        };
        let mut pricer = Pricer::new(&c);
        let total = pricer.price(&reported).unwrap().unwrap().total_usd;
        assert_eq!(total, with.total_usd);
        assert_eq!(
            pricer.selected_total_usd_reported(251, Some(1024.0), || None, Some(10_240.0)),
            Some(total)
        );
        // A throttle never ran and holds no storage.
        let throttled = InvocationFacts {
            status: "throttled",
            ..storage
        };
        assert_eq!(
            price_invocation(&c, &throttled).unwrap().unwrap().total_usd,
            0.0
        );

        // A month: storage as charged, outside the free tier.
        let month = MonthlyUsage {
            ephemeral_storage_usd: 0.0309,
            ..usage("x86_64", 100.0, 10.0)
        };
        let bill = &bill_months(&c, &[month], true).unwrap()[0];
        assert_eq!(bill.ephemeral_storage_usd, 0.0309);
        assert_eq!(bill.total_usd, 0.0309);

        // Before 24 Mar 2022 every function had 512 MB, without charge: a size the catalog gives
        // today is not billed for an older invocation.
        let older = InvocationFacts {
            start_ns: MAY_2021,
            ..storage
        };
        let older = price_invocation(&c, &older).unwrap().unwrap();
        assert_eq!(older.ephemeral_storage_usd, 0.0);
        assert_eq!(older.total_usd, older.request_usd + older.duration_usd);
    }

    #[test]
    fn a_month_crossing_the_first_tier_boundary() {
        let c = Catalog::builtin();
        // 7 billion GB-s on x86: 6e9 at tier 1, 1e9 at tier 2.
        let bills = bill_months(&c, &[usage("x86_64", 10_000_000.0, 7e9)], false).unwrap();
        let expected_duration = 6e9 * 0.0000166667 + 1e9 * 0.000015;
        assert!(close(bills[0].duration_usd, expected_duration));
        assert!(close(bills[0].request_usd, 2.0));
        assert!(close(bills[0].total_usd, expected_duration + 2.0));
        assert!(close(expected_duration, 115_000.2));
    }

    #[test]
    fn the_free_tier_on_and_off() {
        let c = Catalog::builtin();
        // 3M requests and 1.2M GB-s on x86 plus 500k GB-s on arm64.
        let usages = [
            usage("x86_64", 3_000_000.0, 1_200_000.0),
            usage("arm64", 500_000.0, 500_000.0),
        ];
        let off = bill_months(&c, &usages, false).unwrap();
        assert!(close(off[0].total_usd, 0.6 + 1_200_000.0 * 0.0000166667));
        assert!(close(off[1].total_usd, 0.1 + 500_000.0 * 0.0000133334));
        let on = bill_months(&c, &usages, true).unwrap();
        // The 400k GB-s and 1M requests go to x86 (the higher price) first.
        assert_eq!(on[0].free_gb_s, 400_000.0);
        assert_eq!(on[0].free_requests, 1_000_000.0);
        assert!(close(on[0].total_usd, 0.4 + 800_000.0 * 0.0000166667));
        assert_eq!(on[1].free_gb_s, 0.0);
        assert!(close(on[1].total_usd, off[1].total_usd));
        // A small month is free.
        let small = bill_months(&c, &[usage("x86_64", 900_000.0, 300_000.0)], true).unwrap();
        assert_eq!(small[0].total_usd, 0.0);
    }
}
