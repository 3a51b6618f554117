//! `faasobs cost compare`: what the observed traffic would cost in other ways, side by side.
//!
//! Every scenario replays the invocations of the window (one row each, read from
//! `invocation_costs`) and projects the result to a month of `hours_per_month` hours:
//! - `observed`: serverless as it ran, tiers and (optionally) the free tier applied;
//! - `memory`: each AWS function at every Lambda memory size, durations rescaled by the CPU share
//!   the size buys (the question Lambda Power Tuning answers, from real traffic);
//! - `arm64`: each x86_64 AWS function on arm64, durations times `arm_duration_factor`;
//! - `provisioned`: provisioned concurrency at N per function, its charges and the cold starts it
//!   would have avoided, from a replay of the observed concurrency;
//! - `dedicated`: the cheapest server type and count that serve the observed (percentile)
//!   concurrency at a target utilization with redundancy, plus a load balancer and volumes;
//! - `containers`: Fargate tasks sized hour by hour from the observed hourly concurrency;
//! - `break_even`: the monthly request volume, scaling the observed traffic shape, at which each
//!   dedicated option becomes cheaper than serverless.
//!
//! The formulas are in `docs/cost.md`; every number a scenario rests on is printed in its
//! `assumptions` section.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use futures::StreamExt;
use serde_json::json;

use super::billing::{MonthlyUsage, bill_months};
use super::catalog::{Catalog, Container, Server, non_negative};
use super::report::{CostReport, DedicatedElsewhere, assumption_table};
use super::{table, usd};
use crate::reports::{ReportOptions, Section};
use crate::session::{Analyzer, AnalyzerError};

/// The memory sizes the `memory` scenario tries (MB), as the Lambda console offers them.
pub const LAMBDA_MEMORY_SIZES_MB: [f64; 12] = [
    128.0, 256.0, 512.0, 1024.0, 1536.0, 1769.0, 2048.0, 3008.0, 4096.0, 6144.0, 8192.0, 10240.0,
];

/// The memory at which AWS Lambda allocates one full vCPU (MB); CPU is proportional below it.
pub const FULL_VCPU_MEMORY_MB: f64 = 1769.0;

/// The fraction of one vCPU a Lambda function gets at a memory size, for single-threaded code
/// (more memory than [`FULL_VCPU_MEMORY_MB`] adds cores that one thread cannot use).
pub fn lambda_cpu_share(memory_mb: f64) -> f64 {
    (memory_mb / FULL_VCPU_MEMORY_MB).clamp(1e-6, 1.0)
}

/// The knobs of `faasobs cost compare`, with the defaults the CLI shows.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Function and time window (the other fields of the report options are not used).
    pub filter: ReportOptions,
    /// Deduct each account's monthly free tier from the serverless scenarios.
    pub free_tier: bool,
    /// The fraction of an invocation's duration that scales with CPU. `None`: fitted per function
    /// from history that ran at two or more memory sizes, else 0.5.
    pub cpu_bound_fraction: Option<f64>,
    /// The p95 duration (ms) a memory size must keep; `None`: each function's observed p95.
    pub max_p95_ms: Option<f64>,
    /// The memory a size must leave above a function's peak memory used, as a fraction of that
    /// peak (0.1: a size fits a function that used at most 1000 MB from 1100 MB up).
    pub memory_headroom: f64,
    /// arm64 duration as a multiple of x86_64's (1.0: as fast; 0.9: 10 % faster).
    pub arm_duration_factor: f64,
    /// Provisioned concurrency levels to try, per function.
    pub provisioned: Vec<u32>,
    /// Which percentile of the per-minute peak concurrency the servers must serve (100: the peak).
    pub percentile: f64,
    /// The CPU utilization servers and tasks are sized for at that concurrency.
    pub target_utilization: f64,
    /// The fewest servers or tasks; the load still fits with `redundancy - 1` of them down.
    pub redundancy: u32,
    /// Memory of each server kept for the operating system, runtime and application (GiB).
    pub server_reserved_memory_gib: f64,
    /// Fargate task size.
    pub task_vcpu: f64,
    pub task_memory_gb: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            filter: ReportOptions::default(),
            free_tier: false,
            cpu_bound_fraction: None,
            max_p95_ms: None,
            memory_headroom: DEFAULT_MEMORY_HEADROOM,
            arm_duration_factor: 1.0,
            provisioned: vec![1, 2, 5],
            percentile: 100.0,
            target_utilization: 0.5,
            redundancy: 2,
            server_reserved_memory_gib: 1.0,
            task_vcpu: 0.25,
            task_memory_gb: 0.5,
        }
    }
}

/// The default fraction of a duration that scales with CPU when history cannot tell.
pub const DEFAULT_CPU_BOUND_FRACTION: f64 = 0.5;

/// The default memory a right-sized function keeps above its peak memory used (a fraction of it).
pub const DEFAULT_MEMORY_HEADROOM: f64 = 0.1;

/// What the right-sized scenario kept each function within.
fn right_sized_detail(
    memory_headroom: f64,
    memory_use_unreported: usize,
    memory_short: usize,
) -> String {
    let mut detail = format!(
        "each AWS function at the cheapest memory size that keeps its p95 and its peak memory \
         used + {}% (see memory)",
        (memory_headroom * 100.0 * 1000.0).round() / 1000.0
    );
    if memory_short > 0 {
        let (need, have) = if memory_short == 1 {
            ("needs", "it has")
        } else {
            ("need", "they have")
        };
        detail.push_str(&format!(
            "; {memory_short} {need} more memory than {have} (peak used + headroom)"
        ));
    }
    if memory_use_unreported > 0 {
        detail.push_str(&format!(
            "; {memory_use_unreported} without reported memory use, sized by p95 alone"
        ));
    }
    detail
}

impl CompareOptions {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("--arm-duration-factor", self.arm_duration_factor),
            ("--target-utilization", self.target_utilization),
            ("--task-vcpu", self.task_vcpu),
            ("--task-memory-gb", self.task_memory_gb),
        ];
        for (flag, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{flag} must be a positive number, not {v}"));
            }
        }
        if self.target_utilization > 1.0 {
            return Err("--target-utilization is a fraction between 0 and 1".into());
        }
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err("--percentile must be in (0, 100]".into());
        }
        if let Some(f) = self.cpu_bound_fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err("--cpu-bound-fraction must be between 0 and 1".into());
        }
        if self.redundancy == 0 {
            return Err("--redundancy must be at least 1".into());
        }
        if let Some(p95) = self.max_p95_ms
            && !(p95.is_finite() && p95 > 0.0)
        {
            return Err(format!("--max-p95-ms must be a positive number, not {p95}"));
        }
        if self.provisioned.contains(&0) {
            return Err(
                "--provisioned levels must be at least 1 (0 is the serverless as observed scenario)"
                    .into(),
            );
        }
        if !(self.memory_headroom.is_finite() && self.memory_headroom >= 0.0) {
            return Err(format!(
                "--memory-headroom must be a fraction of 0 or more, not {}",
                self.memory_headroom
            ));
        }
        if !non_negative(self.server_reserved_memory_gib) {
            return Err("--server-reserved-memory-gib must not be negative".into());
        }
        Ok(())
    }
}

/// Where and as whom a function's invocations are priced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FunctionKey {
    function: String,
    account: String,
    provider: String,
    region: String,
    architecture: String,
}

/// One invocation of the window, as the scenarios need it.
#[derive(Debug, Clone)]
struct Invocation {
    key: usize,
    start_ns: i64,
    end_ns: i64,
    /// The run (without INIT), as measured.
    duration_ms: f64,
    init_billed_ms: f64,
    memory_mb: f64,
    max_memory_used_mb: Option<f64>,
    cold_start: bool,
    /// Not throttled: it ran and was billed.
    billed: bool,
    gb_s: f64,
    ghz_s: f64,
    /// The charge for ephemeral storage above the included size, which every scenario that runs
    /// the invocation on Lambda keeps as observed (storage is the function's, not its memory's).
    ephemeral_storage_usd: f64,
    total_usd: f64,
}

impl Invocation {
    /// 1 for a billed request, 0 for a throttle.
    fn requests(&self) -> f64 {
        if self.billed { 1.0 } else { 0.0 }
    }

    /// Its use as it was billed.
    fn observed_use(&self) -> Use {
        Use {
            requests: self.requests(),
            gb_s: self.gb_s,
            ghz_s: self.ghz_s,
            ephemeral_storage_usd: self.ephemeral_storage_usd,
        }
    }

    /// The billed duration had this invocation run `ms` of billable time, under the rule of its
    /// provider at its start.
    fn billed_ms_if(
        &self,
        catalog: &Catalog,
        key: &FunctionKey,
        ms: f64,
    ) -> Result<f64, AnalyzerError> {
        Ok(catalog
            .billing_rule(&key.provider, self.start_ns)?
            .billed_ms(ms))
    }
}

/// The invocations of the window and how they project to a month.
struct History {
    keys: Vec<FunctionKey>,
    /// Sorted by key, then start time.
    invocations: Vec<Invocation>,
    /// The range of `invocations` of each key.
    ranges: Vec<std::ops::Range<usize>>,
    from_ns: i64,
    to_ns: i64,
    /// Months per window: multiplies anything counted in the window.
    month_factor: f64,
}

impl History {
    /// `6 functions`, or `6 functions (7 configurations)` when some run in several accounts,
    /// regions or architectures.
    fn describe_functions(&self) -> String {
        let functions: std::collections::BTreeSet<&str> =
            self.keys.iter().map(|k| k.function.as_str()).collect();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if functions.len() == self.keys.len() {
            plural(functions.len(), "function")
        } else {
            format!(
                "{} ({})",
                plural(functions.len(), "function"),
                plural(self.keys.len(), "configuration")
            )
        }
    }

    fn window_hours(&self) -> f64 {
        (self.to_ns - self.from_ns) as f64 / 3.6e12
    }

    /// A function's invocations in start order.
    fn of_key(&self, key: usize) -> impl Iterator<Item = &Invocation> {
        self.invocations[self.ranges[key].clone()].iter()
    }
}

/// Monthly use per account, provider, region and architecture, billed with tiers.
#[derive(Debug, Default, Clone)]
struct Usage(BTreeMap<UsageKey, Use>);

/// What a [`Usage`] adds up for one key.
#[derive(Debug, Default, Clone, Copy)]
struct Use {
    requests: f64,
    gb_s: f64,
    ghz_s: f64,
    ephemeral_storage_usd: f64,
}

/// Account, provider, region, architecture.
type UsageKey = (String, String, String, String);

/// A monthly cost as a function of the traffic scale.
type CostAtScale<'a> = Box<dyn Fn(f64) -> f64 + 'a>;

impl Usage {
    fn add(&mut self, key: &FunctionKey, architecture: &str, add: Use) {
        let entry = self
            .0
            .entry((
                key.account.clone(),
                key.provider.clone(),
                key.region.clone(),
                architecture.to_string(),
            ))
            .or_default();
        entry.requests += add.requests;
        entry.gb_s += add.gb_s;
        entry.ghz_s += add.ghz_s;
        entry.ephemeral_storage_usd += add.ephemeral_storage_usd;
    }

    /// Adds a function's invocations as they were billed.
    fn add_observed<'a>(
        &mut self,
        key: &FunctionKey,
        invocations: impl Iterator<Item = &'a Invocation>,
    ) {
        for i in invocations {
            self.add(key, &key.architecture, i.observed_use());
        }
    }

    /// The month's bill of this use times `scale`.
    fn bill(
        &self,
        catalog: &Catalog,
        scale: f64,
        at_ns: i64,
        free_tier: bool,
    ) -> Result<f64, AnalyzerError> {
        let usages: Vec<MonthlyUsage> = self
            .0
            .iter()
            .map(
                |((account, provider, region, architecture), used)| MonthlyUsage {
                    month: "projected".into(),
                    month_start_ns: at_ns,
                    account: account.clone(),
                    provider: provider.clone(),
                    region: region.clone(),
                    architecture: architecture.clone(),
                    requests: used.requests * scale,
                    gb_s: used.gb_s * scale,
                    ghz_s: used.ghz_s * scale,
                    ephemeral_storage_usd: used.ephemeral_storage_usd * scale,
                },
            )
            .collect();
        let bills = bill_months(catalog, &usages, free_tier)?;
        Ok(bills.iter().map(|b| b.total_usd).sum())
    }

    fn requests(&self) -> f64 {
        self.0.values().map(|v| v.requests).sum()
    }
}

/// How a function's duration changes with its memory size: `d(m) = a + b / share(m)` fitted to
/// history at several sizes, or, with one size, a CPU-bound fraction `f` of the duration that
/// scales with `1 / share(m)`.
#[derive(Debug, Clone, Copy)]
enum SpeedModel {
    Fitted { a: f64, b: f64 },
    Fraction(f64),
}

impl SpeedModel {
    /// Duration at `to_mb` as a multiple of the duration at `from_mb`.
    fn ratio(&self, from_mb: f64, to_mb: f64) -> f64 {
        let (s0, s1) = (lambda_cpu_share(from_mb), lambda_cpu_share(to_mb));
        match *self {
            SpeedModel::Fitted { a, b } => {
                let at = |s: f64| a + b / s;
                if at(s0) > 0.0 { at(s1) / at(s0) } else { 1.0 }
            }
            SpeedModel::Fraction(f) => (1.0 - f) + f * s0 / s1,
        }
    }

    /// The fraction of the duration at `memory_mb` that is CPU time.
    fn cpu_bound_fraction(&self, memory_mb: f64) -> f64 {
        match *self {
            SpeedModel::Fitted { a, b } => {
                let cpu = b / lambda_cpu_share(memory_mb);
                if a + cpu > 0.0 { cpu / (a + cpu) } else { 0.0 }
            }
            SpeedModel::Fraction(f) => f,
        }
    }

    fn describe(&self) -> String {
        match *self {
            SpeedModel::Fitted { a, b } => format!("fitted: {a:.1} ms + {b:.1} ms / cpu_share"),
            SpeedModel::Fraction(f) => format!("cpu-bound fraction {f}"),
        }
    }

    /// Weighted least squares of mean duration on `1 / share` over the sizes with at least
    /// `MIN_PER_SIZE` invocations; `None` with fewer than two such sizes.
    fn fit(durations_by_memory: &BTreeMap<i64, Vec<f64>>) -> Option<SpeedModel> {
        const MIN_PER_SIZE: usize = 5;
        let points: Vec<(f64, f64, f64)> = durations_by_memory
            .iter()
            .filter(|(_, d)| d.len() >= MIN_PER_SIZE)
            .map(|(m, d)| {
                let mean = d.iter().sum::<f64>() / d.len() as f64;
                (1.0 / lambda_cpu_share(*m as f64), mean, d.len() as f64)
            })
            .collect();
        let distinct_x = points.windows(2).any(|w| (w[0].0 - w[1].0).abs() > 1e-9);
        if points.len() < 2 || !distinct_x {
            return None;
        }
        let w: f64 = points.iter().map(|p| p.2).sum();
        let mean_x = points.iter().map(|p| p.2 * p.0).sum::<f64>() / w;
        let mean_y = points.iter().map(|p| p.2 * p.1).sum::<f64>() / w;
        let sxx: f64 = points.iter().map(|p| p.2 * (p.0 - mean_x).powi(2)).sum();
        let sxy: f64 = points
            .iter()
            .map(|p| p.2 * (p.0 - mean_x) * (p.1 - mean_y))
            .sum();
        let mut b = sxy / sxx;
        let mut a = mean_y - b * mean_x;
        if b < 0.0 {
            // Faster with less CPU: nothing here scales with CPU.
            b = 0.0;
            a = mean_y;
        }
        if a < 0.0 {
            a = 0.0;
            b = points.iter().map(|p| p.2 * p.0 * p.1).sum::<f64>()
                / points.iter().map(|p| p.2 * p.0 * p.0).sum::<f64>();
        }
        Some(SpeedModel::Fitted { a, b })
    }
}

/// The percentile of unsorted durations (`p` in (0, 100]) interpolated between the two nearest
/// ranks, as SQL's `percentile_cont` and the reports compute it, so that the p95 a memory size
/// must keep is the one `faasobs report summary` shows; 0 when empty.
fn duration_percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let position = (p / 100.0).clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    values[below] + (values[above] - values[below]) * (position - below as f64)
}

/// The nearest-rank percentile of unsorted values (`p` in (0, 100]), a value that occurred; 0
/// when empty.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// The CPU (vCPU) and memory (GiB) in use within one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct BucketDemand {
    peak_cpu: f64,
    peak_memory: f64,
    mean_cpu: f64,
    mean_memory: f64,
    /// The bucket's length in hours (the last one may be cut short by the window).
    hours: f64,
}

impl BucketDemand {
    /// The bucket's peak with the traffic scaled by `k`: the mean grows with `k`, the excess of
    /// the peak over the mean with `√k`, as fluctuations of independent arrivals do.
    fn scaled(&self, k: f64) -> (f64, f64) {
        let grow = |peak: f64, mean: f64| k * mean + k.sqrt() * (peak - mean).max(0.0);
        (
            grow(self.peak_cpu, self.mean_cpu),
            grow(self.peak_memory, self.mean_memory),
        )
    }
}

/// The starts and ends of the intervals `(start, end, vcpu, gib)` as `(time, vcpu, gib)` changes,
/// in time order: sorted once for every bucket size read from them.
struct DemandEvents(Vec<(i64, f64, f64)>);

impl DemandEvents {
    fn of(intervals: &[(i64, i64, f64, f64)]) -> DemandEvents {
        let mut events: Vec<(i64, f64, f64)> = Vec::with_capacity(intervals.len() * 2);
        for &(start, end, cpu, mem) in intervals {
            if end > start {
                events.push((start, cpu, mem));
                events.push((end, -cpu, -mem));
            }
        }
        events.sort_by_key(|e| e.0);
        DemandEvents(events)
    }
}

/// The peak and the time-weighted mean of the total CPU and memory of the intervals behind
/// `events` within each bucket `[from + k*step, from + (k+1)*step)` up to `to`; intervals are
/// half-open, as for concurrency.
fn demand_series(events: &DemandEvents, from: i64, to: i64, step: i64) -> Vec<BucketDemand> {
    let events = &events.0;
    let buckets = if to > from {
        ((to - from - 1) / step + 1) as usize
    } else {
        0
    };
    let mut out = vec![BucketDemand::default(); buckets];
    let (mut cpu, mut mem) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < events.len() && events[i].0 < from {
        cpu += events[i].1;
        mem += events[i].2;
        i += 1;
    }
    for (k, slot) in out.iter_mut().enumerate() {
        let bucket_start = from + k as i64 * step;
        let bucket_end = (bucket_start + step).min(to);
        if events.get(i).is_none_or(|e| e.0 > bucket_start) {
            slot.peak_cpu = cpu.max(0.0);
            slot.peak_memory = mem.max(0.0);
        }
        let (mut cpu_ns, mut mem_ns, mut last) = (0.0, 0.0, bucket_start);
        while i < events.len() && events[i].0 < bucket_end {
            let t = events[i].0;
            cpu_ns += cpu.max(0.0) * (t - last) as f64;
            mem_ns += mem.max(0.0) * (t - last) as f64;
            last = t;
            while i < events.len() && events[i].0 == t {
                cpu += events[i].1;
                mem += events[i].2;
                i += 1;
            }
            slot.peak_cpu = slot.peak_cpu.max(cpu);
            slot.peak_memory = slot.peak_memory.max(mem);
        }
        cpu_ns += cpu.max(0.0) * (bucket_end - last) as f64;
        mem_ns += mem.max(0.0) * (bucket_end - last) as f64;
        let length = (bucket_end - bucket_start).max(1) as f64;
        slot.mean_cpu = cpu_ns / length;
        slot.mean_memory = mem_ns / length;
        slot.hours = length / 3.6e12;
    }
    out
}

/// The observed demand on dedicated capacity, which any traffic scale can be read from.
struct DemandProfile {
    minutes: Vec<BucketDemand>,
    hours: Vec<BucketDemand>,
    average_vcpu: f64,
    percentile: f64,
}

impl DemandProfile {
    /// What a fleet must serve with the traffic scaled by `k`.
    fn at(&self, k: f64) -> Demand {
        let (mut cpu, mut mem): (Vec<f64>, Vec<f64>) =
            self.minutes.iter().map(|b| b.scaled(k)).unzip();
        Demand {
            vcpu: percentile(&mut cpu, self.percentile),
            memory_gib: percentile(&mut mem, self.percentile),
            average_vcpu: self.average_vcpu * k,
        }
    }

    /// Each hour's peak (vCPU, GiB) and length with the traffic scaled by `k`.
    fn hourly(&self, k: f64) -> Vec<(f64, f64, f64)> {
        self.hours
            .iter()
            .map(|b| {
                let (cpu, mem) = b.scaled(k);
                (cpu, mem, b.hours)
            })
            .collect()
    }
}

/// What a dedicated fleet must serve, at 1× the observed traffic.
#[derive(Debug, Clone, Copy)]
struct Demand {
    /// vCPU busy at the chosen percentile of the per-minute peaks.
    vcpu: f64,
    /// Memory (GiB) in use at that percentile.
    memory_gib: f64,
    /// vCPU busy on average over the window.
    average_vcpu: f64,
}

/// One sized fleet of one server type.
#[derive(Debug, Clone)]
struct Fleet<'c> {
    server: &'c Server,
    count: u32,
    limited_by: &'static str,
    servers_usd: f64,
    load_balancer_usd: f64,
    volumes_usd: f64,
}

impl Fleet<'_> {
    fn total_usd(&self) -> f64 {
        self.servers_usd + self.load_balancer_usd + self.volumes_usd
    }
}

/// Every server type that can serve `demand`, sized and priced, cheapest first.
fn fleets<'c>(catalog: &'c Catalog, o: &CompareOptions, demand: Demand) -> Vec<Fleet<'c>> {
    let hours = catalog.hours_per_month;
    let mut out: Vec<Fleet> = catalog
        .servers
        .iter()
        .filter_map(|server| {
            let usable_gib = server.memory_gib - o.server_reserved_memory_gib;
            if usable_gib <= 0.0 {
                return None;
            }
            let for_cpu = (demand.vcpu / (server.vcpu as f64 * o.target_utilization)).ceil();
            let for_memory = (demand.memory_gib / usable_gib).ceil();
            let needed = for_cpu.max(for_memory).max(1.0);
            let redundant = (needed + (o.redundancy - 1) as f64).max(o.redundancy as f64);
            let (mut count, mut limited_by) = if redundant <= o.redundancy as f64 {
                (o.redundancy as f64, "redundancy")
            } else if for_cpu >= for_memory {
                (redundant, "cpu")
            } else {
                (redundant, "memory")
            };
            if let Some(baseline) = server.burstable_baseline {
                let for_credits = (demand.average_vcpu / (baseline * server.vcpu as f64)).ceil();
                if for_credits > count {
                    count = for_credits;
                    limited_by = "cpu credits";
                }
            }
            if count > u32::MAX as f64 {
                return None;
            }
            Some(Fleet {
                server,
                count: count as u32,
                limited_by,
                servers_usd: count * server.usd_per_hour * hours,
                load_balancer_usd: catalog.fleet.load_balancer_usd_per_hour * hours,
                volumes_usd: count
                    * catalog.fleet.volume_gb_per_server
                    * catalog.fleet.volume_usd_per_gb_month,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.total_usd()
            .total_cmp(&b.total_usd())
            .then(a.server.name.cmp(&b.server.name))
    });
    out
}

/// Fargate tasks sized hour by hour.
#[derive(Debug, Clone, Copy)]
struct ContainerCost {
    average_tasks: f64,
    max_tasks: f64,
    tasks_usd: f64,
    load_balancer_usd: f64,
}

fn container_cost(
    catalog: &Catalog,
    o: &CompareOptions,
    container: &Container,
    hourly: &[(f64, f64, f64)],
    window_hours: f64,
) -> ContainerCost {
    let task_usd_per_hour =
        o.task_vcpu * container.usd_per_vcpu_hour + o.task_memory_gb * container.usd_per_gb_hour;
    let r = o.redundancy as f64;
    let (mut task_hours, mut max_tasks) = (0.0, 0.0f64);
    for &(cpu, mem, hours) in hourly {
        let needed = (cpu / (o.task_vcpu * o.target_utilization))
            .ceil()
            .max((mem / o.task_memory_gb).ceil())
            .max(1.0);
        let tasks = (needed + r - 1.0).max(r);
        task_hours += tasks * hours;
        max_tasks = max_tasks.max(tasks);
    }
    let monthly_task_hours = task_hours * catalog.hours_per_month / window_hours.max(1e-9);
    ContainerCost {
        average_tasks: task_hours / window_hours.max(1e-9),
        max_tasks,
        tasks_usd: monthly_task_hours * task_usd_per_hour,
        load_balancer_usd: catalog.fleet.load_balancer_usd_per_hour * catalog.hours_per_month,
    }
}

/// The lowest traffic scale on a log grid from 1/1000 to 100,000 at which `dedicated(k)` is at
/// most `serverless(k)`, refined by bisection. `Err(true)`: dedicated is cheaper even at the
/// lowest scale; `Err(false)`: serverless is cheaper even at the highest.
fn break_even_scale(
    serverless: impl Fn(f64) -> Result<f64, AnalyzerError>,
    dedicated: impl Fn(f64) -> f64,
) -> Result<Result<f64, bool>, AnalyzerError> {
    let grid: Vec<f64> = (-36..=60).map(|i| 10f64.powf(i as f64 / 12.0)).collect();
    let cheaper = |k: f64| -> Result<bool, AnalyzerError> { Ok(dedicated(k) <= serverless(k)?) };
    if cheaper(grid[0])? {
        return Ok(Err(true));
    }
    for pair in grid.windows(2) {
        if cheaper(pair[1])? {
            let (mut lo, mut hi) = (pair[0], pair[1]);
            for _ in 0..40 {
                let mid = (lo * hi).sqrt();
                if cheaper(mid)? { hi = mid } else { lo = mid }
            }
            return Ok(Ok(hi));
        }
    }
    Ok(Err(false))
}

/// For each key, the key its invocations belong to: one without billed invocations (`billed`,
/// by key: only throttles) goes into the only key of its function with billed invocations, if it
/// has just one; every other key stays itself. Keys that go elsewhere keep no invocation.
fn unbilled_into_their_function(keys: &[FunctionKey], billed: &[bool]) -> Vec<usize> {
    let mut billed_keys_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, key) in keys.iter().enumerate().filter(|(k, _)| billed[*k]) {
        billed_keys_of.entry(&key.function).or_default().push(k);
    }
    (0..keys.len())
        .map(|k| match billed_keys_of.get(keys[k].function.as_str()) {
            Some(only) if !billed[k] && only.len() == 1 => only[0],
            _ => k,
        })
        .collect()
}

impl Analyzer {
    async fn load_history(&self, o: &CompareOptions) -> Result<History, AnalyzerError> {
        let filter = o.filter.filter();
        let mut batches = self
            .query_stream(&format!(
                "SELECT function_name, coalesce(account_id, '') AS account_id, pricing_provider, \
                 pricing_region, pricing_architecture, CAST(start_time AS BIGINT) AS start_ns, \
                 CAST(end_time AS BIGINT) AS end_ns, CAST(duration_ms AS DOUBLE) AS duration_ms, \
                 billed_ms, init_billed_ms, billed_memory_mb, \
                 CAST(memory_size_mb AS DOUBLE) AS memory_size_mb, \
                 CAST(max_memory_used_mb AS DOUBLE) AS max_memory_used_mb, \
                 coalesce(cold_start, false) AS cold_start, coalesce(status, '') <> 'throttled' AS billed, \
                 gb_seconds, ghz_seconds, cost_usd, ephemeral_storage_usd \
                 FROM invocation_costs WHERE {filter} AND cost_usd IS NOT NULL"
            ))
            .await?;
        // The rows come a batch at a time, each dropped once read (the history is held once, not
        // twice), in file order: nothing here needs them in time order, they are sorted by key
        // and start below. A function's rows are mostly neighbours, so a row usually has the key
        // of the row before it; comparing with that one spares building a key (five strings) and
        // looking it up for every row. Keys are numbered as first seen, then renumbered in their
        // own order below.
        let mut keys: BTreeMap<FunctionKey, usize> = BTreeMap::new();
        let mut invocations = Vec::new();
        while let Some(b) = batches.next().await {
            let b = b?;
            let text = |i: usize| crate::query::text_column(b.column(i));
            let (function, account, provider, region, arch) =
                (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
            let int = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
            let (start, end) = (int(5), int(6));
            let num = |i: usize| b.column(i).as_primitive::<Float64Type>().clone();
            let (
                duration,
                billed_ms,
                init_billed,
                billed_memory,
                memory,
                max_memory,
                gb_s,
                ghz_s,
                cost,
                storage_usd,
            ) = (
                num(7),
                num(8),
                num(9),
                num(10),
                num(11),
                num(12),
                num(15),
                num(16),
                num(17),
                num(18),
            );
            let (cold, billed) = (
                b.column(13).as_boolean().clone(),
                b.column(14).as_boolean().clone(),
            );
            let opt = |a: &arrow::array::Float64Array, r: usize| a.is_valid(r).then(|| a.value(r));
            let function_at = |r: usize| function.is_valid(r).then(|| function.value(r));
            let same_key = |r: usize, before: usize| {
                function_at(r) == function_at(before)
                    && account.value(r) == account.value(before)
                    && provider.value(r) == provider.value(before)
                    && region.value(r) == region.value(before)
                    && arch.value(r) == arch.value(before)
            };
            let mut key = 0;
            for r in 0..b.num_rows() {
                if r == 0 || !same_key(r, r - 1) {
                    let of_row = FunctionKey {
                        function: function_at(r).unwrap_or_default().to_string(),
                        account: account.value(r).to_string(),
                        provider: provider.value(r).to_string(),
                        region: region.value(r).to_string(),
                        architecture: arch.value(r).to_string(),
                    };
                    let next = keys.len();
                    key = *keys.entry(of_row).or_insert(next);
                }
                let init_billed_ms = opt(&init_billed, r).unwrap_or(0.0);
                let duration_ms = opt(&duration, r).unwrap_or_else(|| {
                    (opt(&billed_ms, r).unwrap_or(0.0) - init_billed_ms).max(0.0)
                });
                let start_ns = start.value(r);
                let end_ns = if end.is_valid(r) {
                    end.value(r)
                } else {
                    start_ns + (duration_ms * 1e6) as i64
                };
                invocations.push(Invocation {
                    key,
                    start_ns,
                    end_ns,
                    duration_ms,
                    init_billed_ms,
                    memory_mb: opt(&memory, r).or(opt(&billed_memory, r)).unwrap_or(128.0),
                    max_memory_used_mb: opt(&max_memory, r),
                    cold_start: cold.is_valid(r) && cold.value(r),
                    billed: billed.is_valid(r) && billed.value(r),
                    gb_s: opt(&gb_s, r).unwrap_or(0.0),
                    ghz_s: opt(&ghz_s, r).unwrap_or(0.0),
                    ephemeral_storage_usd: opt(&storage_usd, r).unwrap_or(0.0),
                    total_usd: opt(&cost, r).unwrap_or(0.0),
                });
            }
        }
        if invocations.is_empty() {
            return Err(AnalyzerError::InvalidReport(
                "no priced invocations in the window: nothing to compare (check --function, --since \
                 and --until, and that the invocations have a memory size and a duration)"
                    .into(),
            ));
        }
        // Keys in their own order (function, account, provider, region, architecture), so that
        // every table lists functions the same way whatever order the files were read in.
        let mut rank_of_first_seen = vec![0; keys.len()];
        for (rank, first_seen) in keys.values().enumerate() {
            rank_of_first_seen[*first_seen] = rank;
        }
        let mut billed = vec![false; keys.len()];
        for i in invocations.iter().filter(|i| i.billed) {
            billed[rank_of_first_seen[i.key]] = true;
        }
        let ordered: Vec<FunctionKey> = keys.into_keys().collect();
        // Throttles say neither memory, architecture nor account (the platform never ran them),
        // so the catalog's defaults made them a configuration of their own; they belong to the
        // one configuration of their function that ran, when there is one.
        let into = unbilled_into_their_function(&ordered, &billed);
        let mut renumbered = vec![usize::MAX; ordered.len()];
        let mut kept = Vec::with_capacity(ordered.len());
        for (k, key) in ordered.into_iter().enumerate() {
            if into[k] == k {
                renumbered[k] = kept.len();
                kept.push(key);
            }
        }
        for invocation in &mut invocations {
            invocation.key = renumbered[into[rank_of_first_seen[invocation.key]]];
        }
        let ordered = kept;
        let from_ns = o
            .filter
            .since
            .unwrap_or_else(|| invocations.iter().map(|i| i.start_ns).min().unwrap_or(0));
        let to_ns = o
            .filter
            .until
            .unwrap_or_else(|| {
                invocations
                    .iter()
                    .map(|i| i.end_ns.max(i.start_ns))
                    .max()
                    .unwrap_or(0)
            })
            .max(from_ns + 1_000_000_000);
        let window_hours = (to_ns - from_ns) as f64 / 3.6e12;
        // Ties broken by end and cold start, so the replays below (provisioned concurrency serves
        // the first comers) do not depend on the order the files were read in. Unstable: no
        // scratch copy of the history (half of it, hundreds of MB at 10M invocations).
        invocations.sort_unstable_by_key(|i| (i.key, i.start_ns, i.end_ns, !i.cold_start));
        let mut ranges = vec![0..0; ordered.len()];
        let mut first = 0;
        for (n, i) in invocations.iter().enumerate() {
            if n + 1 == invocations.len() || invocations[n + 1].key != i.key {
                ranges[i.key] = first..n + 1;
                first = n + 1;
            }
        }
        Ok(History {
            keys: ordered,
            invocations,
            ranges,
            from_ns,
            to_ns,
            month_factor: self.catalog().hours_per_month / window_hours,
        })
    }

    /// `faasobs cost compare`.
    pub async fn cost_compare(&self, o: &CompareOptions) -> Result<CostReport, AnalyzerError> {
        o.validate().map_err(AnalyzerError::InvalidReport)?;
        let catalog = self.catalog();
        for container in &catalog.containers {
            catalog
                .container_task_size(&container.name, o.task_vcpu, o.task_memory_gb)
                .map_err(|sizes| {
                    AnalyzerError::InvalidReport(format!(
                        "--task-vcpu {} with --task-memory-gb {} is not a task size {} runs: {sizes}",
                        o.task_vcpu, o.task_memory_gb, container.name
                    ))
                })?;
        }
        let history = self.load_history(o).await?;
        let at_ns = history.to_ns;
        let mf = history.month_factor;
        let coverage = self.pricing_coverage(&o.filter.filter()).await?;
        let mut warnings = coverage.warnings(self);
        let copied_prices = super::report::copied_prices(
            catalog,
            history.keys.iter().flat_map(|k| {
                // The arm64 what-if prices x86_64 functions with their region's arm64 prices.
                [k.architecture.as_str(), "arm64"]
                    .map(|architecture| (k.provider.as_str(), k.region.as_str(), architecture))
            }),
        );
        warnings.extend(
            copied_prices
                .iter()
                .map(super::report::CopiedPrices::warning),
        );
        let dedicated_elsewhere = dedicated_elsewhere(catalog, &history.keys);
        warnings.extend(
            dedicated_elsewhere
                .as_ref()
                .map(DedicatedElsewhere::warning),
        );
        if history.window_hours() < 24.0 {
            warnings.push(format!(
                "the projection to a month rests on {:.2} hours of history; daily and weekly cycles \
                 are not in it",
                history.window_hours()
            ));
        }

        // Per function: speed model, modal memory, observed p95.
        let mut models = Vec::with_capacity(history.keys.len());
        let mut modal_memory = Vec::with_capacity(history.keys.len());
        let mut p95 = Vec::with_capacity(history.keys.len());
        // The most memory any invocation of the function used; `None` where none reported it.
        let mut peak_memory_used = Vec::with_capacity(history.keys.len());
        for key in 0..history.keys.len() {
            peak_memory_used.push(
                history
                    .of_key(key)
                    .filter_map(|i| i.max_memory_used_mb)
                    .filter(|m| *m > 0.0)
                    .max_by(f64::total_cmp),
            );
            let mut by_memory: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for i in history.of_key(key).filter(|i| i.billed) {
                by_memory
                    .entry(i.memory_mb.round() as i64)
                    .or_default()
                    .push(i.duration_ms);
            }
            let model = match o.cpu_bound_fraction {
                Some(f) => SpeedModel::Fraction(f),
                None => SpeedModel::fit(&by_memory)
                    .unwrap_or(SpeedModel::Fraction(DEFAULT_CPU_BOUND_FRACTION)),
            };
            models.push(model);
            modal_memory.push(
                by_memory
                    .iter()
                    .max_by_key(|(m, d)| (d.len(), Reverse(**m)))
                    .map(|(m, _)| *m as f64)
                    .unwrap_or(128.0),
            );
            let mut d: Vec<f64> = by_memory.values().flatten().copied().collect();
            p95.push(duration_percentile(&mut d, 95.0));
        }

        // Observed.
        let mut observed_usage = Usage::default();
        let mut observed_rows = Vec::new();
        for (k, key) in history.keys.iter().enumerate() {
            let (mut requests, mut gb_s, mut spent, mut cold, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
            observed_usage.add_observed(key, history.of_key(k));
            for i in history.of_key(k) {
                n += 1;
                requests += i.requests();
                gb_s += i.gb_s;
                spent += i.total_usd;
                cold += if i.cold_start { 1.0 } else { 0.0 };
            }
            observed_rows.push(json!({
                "function_name": key.function, "account_id": key.account, "provider": key.provider,
                "region": key.region, "architecture": key.architecture, "memory_mb": modal_memory[k],
                "invocations": n as i64, "monthly_requests": (requests * mf).round(),
                "monthly_gb_seconds": (gb_s * mf * 1000.0).round() / 1000.0,
                "p95_ms": (p95[k] * 1000.0).round() / 1000.0,
                "peak_memory_used_mb": peak_memory_used[k],
                "monthly_cold_starts": (cold * mf).round(),
                "monthly_usd_at_tier1": usd(spent * mf),
                "speed_model": models[k].describe(),
            }));
        }
        let observed_usd = observed_usage.bill(catalog, mf, at_ns, o.free_tier)?;
        let monthly_requests = observed_usage.requests() * mf;

        // Memory what-if and arm64 (AWS functions only).
        let mut memory_rows = Vec::new();
        let mut right_sized_usage = Usage::default();
        let mut arm_usage = Usage::default();
        let mut arm_rows = Vec::new();
        let mut memory_use_unreported = 0usize;
        let mut memory_short = 0usize;
        for (k, key) in history.keys.iter().enumerate() {
            let price =
                catalog.function_price(&key.provider, &key.region, &key.architecture, at_ns)?;
            if key.provider != "aws" {
                right_sized_usage.add_observed(key, history.of_key(k));
                arm_usage.add_observed(key, history.of_key(k));
                continue;
            }
            let limit = o.max_p95_ms.unwrap_or(p95[k]);
            if peak_memory_used[k].is_none() {
                memory_use_unreported += 1;
            }
            let mut candidates = Vec::new();
            // Ephemeral storage is kept as observed whatever the memory size.
            let storage_usd: f64 = history.of_key(k).map(|i| i.ephemeral_storage_usd).sum();
            // The usual sizes and the function's own, which Lambda's 1 MB steps let be any.
            let mut sizes = LAMBDA_MEMORY_SIZES_MB.to_vec();
            if !sizes.contains(&modal_memory[k]) {
                sizes.push(modal_memory[k]);
                sizes.sort_by(f64::total_cmp);
            }
            for size in sizes {
                let (mut gb_s, mut requests, mut d) = (0.0, 0.0, Vec::new());
                for i in history.of_key(k).filter(|i| i.billed) {
                    let run = i.duration_ms * models[k].ratio(i.memory_mb, size);
                    let billed = i.billed_ms_if(catalog, key, run + i.init_billed_ms)?;
                    gb_s += billed / 1000.0 * size / 1024.0;
                    requests += 1.0;
                    d.push(run);
                }
                let monthly = (requests * price.usd_per_request()
                    + gb_s * price.tier1_usd_per_gb_s()
                    + storage_usd)
                    * mf;
                candidates.push((
                    size,
                    duration_percentile(&mut d, 95.0),
                    monthly,
                    gb_s,
                    requests,
                ));
            }
            let current = candidates
                .iter()
                .find(|c| c.0 == modal_memory[k])
                .map(|c| c.2);
            let meets_p95 = |c: &(f64, f64, f64, f64, f64)| c.1 <= limit * (1.0 + 1e-9);
            // A size below the memory the function was seen to use would run out of memory,
            // however fast or cheap the model makes it. Unreported memory use cannot rule a size
            // out.
            let fits_memory = |c: &(f64, f64, f64, f64, f64)| {
                peak_memory_used[k].map(|peak| c.0 >= peak * (1.0 + o.memory_headroom) - 1e-9)
            };
            let chosen = candidates
                .iter()
                .filter(|c| meets_p95(c) && fits_memory(c) != Some(false))
                .min_by(|a, b| a.2.total_cmp(&b.2))
                .map(|c| c.0);
            for c in &candidates {
                memory_rows.push(json!({
                    "function_name": key.function, "account_id": key.account,
                    "region": key.region, "architecture": key.architecture, "memory_mb": c.0,
                    "estimated_p95_ms": (c.1 * 1000.0).round() / 1000.0,
                    "monthly_usd_at_tier1": usd(c.2),
                    "difference_usd": current.map(|cur| usd(c.2 - cur)),
                    "meets_p95": meets_p95(c),
                    "fits_memory": fits_memory(c),
                    "current": c.0 == modal_memory[k],
                    "recommended": Some(c.0) == chosen,
                }));
            }
            if let Some(current) = candidates.iter().find(|c| c.0 == modal_memory[k])
                && fits_memory(current) == Some(false)
            {
                memory_short += 1;
            }
            match chosen.and_then(|m| candidates.iter().find(|c| c.0 == m)) {
                Some(c) => right_sized_usage.add(
                    key,
                    &key.architecture,
                    Use {
                        requests: c.4,
                        gb_s: c.3,
                        ghz_s: 0.0,
                        ephemeral_storage_usd: storage_usd,
                    },
                ),
                None => right_sized_usage.add_observed(key, history.of_key(k)),
            }

            // arm64.
            let arm_price = (key.architecture != "arm64")
                .then(|| {
                    catalog
                        .function_price(&key.provider, &key.region, "arm64", at_ns)
                        .ok()
                })
                .flatten();
            let (mut x_usd, mut a_usd, mut a_gb_s, mut requests) = (0.0, 0.0, 0.0, 0.0);
            if arm_price.is_some() {
                a_usd += storage_usd;
            }
            for i in history.of_key(k).filter(|i| i.billed) {
                let run = i.duration_ms * o.arm_duration_factor;
                let billed = i.billed_ms_if(catalog, key, run + i.init_billed_ms)?;
                let g = billed / 1000.0 * i.memory_mb / 1024.0;
                x_usd += i.total_usd;
                a_gb_s += g;
                requests += 1.0;
                if let Some(p) = arm_price {
                    a_usd += p.usd_per_request() + g * p.tier1_usd_per_gb_s();
                }
            }
            match arm_price {
                Some(p) => {
                    arm_usage.add(
                        key,
                        &p.architecture,
                        Use {
                            requests,
                            gb_s: a_gb_s,
                            ghz_s: 0.0,
                            ephemeral_storage_usd: storage_usd,
                        },
                    );
                    arm_rows.push(json!({
                        "function_name": key.function, "account_id": key.account,
                        "region": key.region, "from_architecture": key.architecture,
                        "monthly_usd_at_tier1": usd(x_usd * mf),
                        "arm64_monthly_usd_at_tier1": usd(a_usd * mf),
                        "difference_usd": usd((a_usd - x_usd) * mf),
                        "arm_duration_factor": o.arm_duration_factor,
                    }));
                }
                None => arm_usage.add_observed(key, history.of_key(k)),
            }
        }
        let right_sized_usd = right_sized_usage.bill(catalog, mf, at_ns, o.free_tier)?;
        let arm_usd = arm_usage.bill(catalog, mf, at_ns, o.free_tier)?;

        // Provisioned concurrency.
        let mut provisioned_rows = Vec::new();
        let mut provisioned_totals: Vec<(u32, f64, f64)> = Vec::new();
        for &n in &o.provisioned {
            let mut on_demand = Usage::default();
            let (mut pc_usd, mut avoided_total) = (0.0, 0.0);
            for (k, key) in history.keys.iter().enumerate() {
                let price =
                    catalog.function_price(&key.provider, &key.region, &key.architecture, at_ns)?;
                let (Some(alloc), Some(exec)) = (
                    price.provisioned_allocated_usd_per_gb_s,
                    price.provisioned_duration_usd_per_gb_s,
                ) else {
                    on_demand.add_observed(key, history.of_key(k));
                    continue;
                };
                let memory_gb = modal_memory[k] / 1024.0;
                let allocated_usd = n as f64 * memory_gb * catalog.hours_per_month * 3600.0 * alloc;
                let mut running: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
                let (mut served, mut avoided, mut exec_usd, mut od_usd) = (0.0, 0.0, 0.0, 0.0);
                let billed_count = history.of_key(k).filter(|i| i.billed).count() as f64;
                for i in history.of_key(k).filter(|i| i.billed) {
                    while running
                        .peek()
                        .is_some_and(|Reverse(end)| *end <= i.start_ns)
                    {
                        running.pop();
                    }
                    if running.len() < n as usize {
                        running.push(Reverse(i.end_ns.max(i.start_ns)));
                        // Provisioned environments are initialized: no INIT is billed.
                        let billed = i.billed_ms_if(catalog, key, i.duration_ms)?;
                        // Ephemeral storage is billed alike for provisioned environments.
                        exec_usd += price.usd_per_request()
                            + billed / 1000.0 * i.memory_mb / 1024.0 * exec
                            + i.ephemeral_storage_usd;
                        served += 1.0;
                        avoided += if i.cold_start { 1.0 } else { 0.0 };
                    } else {
                        on_demand.add(key, &key.architecture, i.observed_use());
                        od_usd += i.total_usd;
                    }
                }
                let total = allocated_usd + (exec_usd + od_usd) * mf;
                let observed_fn: f64 = history.of_key(k).map(|i| i.total_usd).sum::<f64>() * mf;
                pc_usd += allocated_usd + exec_usd * mf;
                avoided_total += avoided * mf;
                provisioned_rows.push(json!({
                    "function_name": key.function, "account_id": key.account,
                    "region": key.region, "architecture": key.architecture,
                    "provisioned_concurrency": n,
                    "memory_mb": modal_memory[k],
                    "allocated_usd": usd(allocated_usd),
                    "provisioned_execution_usd": usd(exec_usd * mf),
                    "on_demand_usd_at_tier1": usd(od_usd * mf),
                    "monthly_usd": usd(total),
                    "difference_usd": usd(total - observed_fn),
                    "served_share": (served / billed_count.max(1.0) * 10000.0).round() / 10000.0,
                    "monthly_cold_starts_avoided": (avoided * mf).round(),
                }));
            }
            let total = on_demand.bill(catalog, mf, at_ns, o.free_tier)? + pc_usd;
            provisioned_totals.push((n, total, avoided_total));
        }

        // Demand on dedicated capacity.
        let intervals: Vec<(i64, i64, f64, f64)> = history
            .invocations
            .iter()
            .filter(|i| i.billed)
            .map(|i| {
                let cpu =
                    models[i.key].cpu_bound_fraction(i.memory_mb) * lambda_cpu_share(i.memory_mb);
                let mem = i.max_memory_used_mb.unwrap_or(i.memory_mb) / 1024.0;
                let end = i.start_ns + (i.duration_ms * 1e6) as i64;
                (i.start_ns, end, cpu, mem)
            })
            .collect();
        let window_s = (history.to_ns - history.from_ns) as f64 / 1e9;
        let events = DemandEvents::of(&intervals);
        let profile = DemandProfile {
            minutes: demand_series(&events, history.from_ns, history.to_ns, 60_000_000_000),
            hours: demand_series(&events, history.from_ns, history.to_ns, 3_600_000_000_000),
            average_vcpu: intervals
                .iter()
                .map(|(s, e, cpu, _)| (e - s) as f64 / 1e9 * cpu)
                .sum::<f64>()
                / window_s,
            percentile: o.percentile,
        };
        let demand = profile.at(1.0);
        let hourly = profile.hourly(1.0);
        let options = fleets(catalog, o, demand);
        let Some(cheapest) = options.first().cloned() else {
            return Err(AnalyzerError::InvalidReport(format!(
                "no server in the catalog has memory left after --server-reserved-memory-gib {}",
                o.server_reserved_memory_gib
            )));
        };
        let dedicated_rows: Vec<serde_json::Value> = options
            .iter()
            .map(|f| {
                json!({
                    "server": f.server.name, "count": f.count, "vcpu": f.server.vcpu,
                    "memory_gib": f.server.memory_gib, "limited_by": f.limited_by,
                    "servers_usd": usd(f.servers_usd), "load_balancer_usd": usd(f.load_balancer_usd),
                    "volumes_usd": usd(f.volumes_usd), "monthly_usd": usd(f.total_usd()),
                    "difference_usd": usd(f.total_usd() - observed_usd),
                })
            })
            .collect();
        let mut container_rows = Vec::new();
        let mut container_totals = Vec::new();
        for c in catalog.containers.iter() {
            let cost = container_cost(catalog, o, c, &hourly, history.window_hours());
            let total = cost.tasks_usd + cost.load_balancer_usd;
            container_rows.push(json!({
                "platform": c.name, "architecture": c.architecture, "task_vcpu": o.task_vcpu,
                "task_memory_gb": o.task_memory_gb,
                "average_tasks": (cost.average_tasks * 100.0).round() / 100.0,
                "max_tasks": cost.max_tasks, "tasks_usd": usd(cost.tasks_usd),
                "load_balancer_usd": usd(cost.load_balancer_usd), "monthly_usd": usd(total),
                "difference_usd": usd(total - observed_usd),
            }));
            container_totals.push((c, total));
        }

        // Break-even.
        let serverless = |k: f64| observed_usage.bill(catalog, mf * k, at_ns, o.free_tier);
        let mut break_even_rows = Vec::new();
        let mut dedicated_options: Vec<(String, CostAtScale)> = vec![(
            "dedicated servers (cheapest fleet at each volume)".into(),
            Box::new(|k: f64| {
                fleets(catalog, o, profile.at(k))
                    .first()
                    .map_or(f64::INFINITY, |f| f.total_usd())
            }),
        )];
        for c in &catalog.containers {
            let profile = &profile;
            let window_hours = history.window_hours();
            dedicated_options.push((
                format!("containers: {} {}", c.name, c.architecture),
                Box::new(move |k: f64| {
                    let cost = container_cost(catalog, o, c, &profile.hourly(k), window_hours);
                    cost.tasks_usd + cost.load_balancer_usd
                }),
            ));
        }
        for (name, dedicated) in &dedicated_options {
            let row = match break_even_scale(serverless, dedicated)? {
                Ok(k) => json!({
                    "option": name, "traffic_scale": (k * 1e6).round() / 1e6,
                    "break_even_monthly_requests": (k * monthly_requests).round(),
                    "serverless_usd": usd(serverless(k)?), "dedicated_usd": usd(dedicated(k)),
                    "note": if k <= 1.0 { "cheaper than serverless at the observed volume" } else { "serverless is cheaper at the observed volume" },
                }),
                Err(true) => json!({
                    "option": name, "traffic_scale": null, "break_even_monthly_requests": null,
                    "serverless_usd": null, "dedicated_usd": null,
                    "note": "cheaper than serverless even at 1/1000 of the observed volume",
                }),
                Err(false) => json!({
                    "option": name, "traffic_scale": null, "break_even_monthly_requests": null,
                    "serverless_usd": null, "dedicated_usd": null,
                    "note": "serverless is cheaper even at 100,000 times the observed volume",
                }),
            };
            break_even_rows.push(row);
        }

        // Side by side.
        let mut scenario_rows = vec![
            json!({"scenario": "serverless as observed", "monthly_usd": usd(observed_usd),
                   "difference_usd": 0.0, "detail": format!("{}; free tier {}", history.describe_functions(), if o.free_tier { "deducted" } else { "not deducted" })}),
            json!({"scenario": "serverless, memory right-sized", "monthly_usd": usd(right_sized_usd),
                   "difference_usd": usd(right_sized_usd - observed_usd),
                   "detail": right_sized_detail(o.memory_headroom, memory_use_unreported, memory_short)}),
            json!({"scenario": "serverless, arm64", "monthly_usd": usd(arm_usd),
                   "difference_usd": usd(arm_usd - observed_usd),
                   "detail": format!("x86_64 AWS functions on arm64, duration x {}", o.arm_duration_factor)}),
        ];
        for (n, total, avoided) in &provisioned_totals {
            scenario_rows.push(json!({"scenario": format!("serverless, provisioned concurrency {n}"),
                "monthly_usd": usd(*total), "difference_usd": usd(total - observed_usd),
                "detail": format!("{n} per function; avoids {} cold starts a month", avoided.round())}));
        }
        scenario_rows.push(json!({"scenario": format!("dedicated servers: {} x {}", cheapest.count, cheapest.server.name),
            "monthly_usd": usd(cheapest.total_usd()), "difference_usd": usd(cheapest.total_usd() - observed_usd),
            "detail": format!("{:.3} vCPU and {:.3} GiB at p{} of per-minute peaks; limited by {}; with load balancer and volumes",
                demand.vcpu, demand.memory_gib, o.percentile, cheapest.limited_by)}));
        for (c, total) in &container_totals {
            scenario_rows.push(json!({"scenario": format!("containers: {} {}", c.name, c.architecture),
                "monthly_usd": usd(*total), "difference_usd": usd(total - observed_usd),
                "detail": format!("{} vCPU / {} GB tasks sized per hour; with load balancer", o.task_vcpu, o.task_memory_gb)}));
        }

        let assumptions = vec![
            ("pricing catalog", catalog.catalog_version.clone()),
            ("window", format!(
                "{} to {} ({:.3} hours)",
                chrono::DateTime::from_timestamp_nanos(history.from_ns).to_rfc3339(),
                chrono::DateTime::from_timestamp_nanos(history.to_ns).to_rfc3339(),
                history.window_hours()
            )),
            ("month", format!("{} hours; window counts times {:.4}", catalog.hours_per_month, mf)),
            ("monthly requests (projected)", format!("{}", monthly_requests.round())),
            ("free tier", if o.free_tier { "deducted from serverless".into() } else { "not deducted (--free-tier to deduct it)".to_string() }),
            ("serverless totals", "tiers applied per account, region and architecture; per-function rows at the first-tier price".into()),
            ("cpu share", format!("min(memory_mb / {FULL_VCPU_MEMORY_MB}, 1) vCPU; single-threaded code gains nothing above that")),
            ("duration model", match o.cpu_bound_fraction {
                Some(f) => format!("cpu-bound fraction {f} for every function (--cpu-bound-fraction)"),
                None => format!("fitted per function where history has two or more memory sizes, else cpu-bound fraction {DEFAULT_CPU_BOUND_FRACTION}"),
            }),
            ("memory p95 limit", match o.max_p95_ms { Some(ms) => format!("{ms} ms"), None => "each function's observed p95".into() }),
            ("memory headroom", format!(
                "a size fits a function from its peak memory used x {} up (--memory-headroom {}); a function that reports no memory used is sized by p95 alone",
                1.0 + o.memory_headroom, o.memory_headroom
            )),
            ("ephemeral storage", format!(
                "{}; kept as observed in the memory, arm64 and provisioned what-ifs",
                super::report::ephemeral_storage_assumption(catalog)
            )),
            ("arm64 duration factor", o.arm_duration_factor.to_string()),
            ("provisioned concurrency", format!("{:?} per function, allocated all month; INIT of served invocations not billed", o.provisioned)),
            ("dedicated demand", format!(
                "per running invocation: cpu_share x cpu-bound fraction vCPU and its max memory used; p{} of per-minute peaks: {:.4} vCPU, {:.4} GiB; average {:.4} vCPU",
                o.percentile, demand.vcpu, demand.memory_gib, demand.average_vcpu
            )),
            ("target utilization", o.target_utilization.to_string()),
            ("redundancy", format!("at least {} servers or tasks; sized to carry the load with {} down", o.redundancy, o.redundancy - 1)),
            ("server reserved memory", format!("{} GiB per server", o.server_reserved_memory_gib)),
            ("burstable servers", "only where the average vCPU stays within the baseline of the fleet".into()),
            ("server prices", distinct_sources(catalog.servers.iter().map(|s| s.source.as_str()))),
            ("container prices", distinct_sources(catalog.containers.iter().map(|c| c.source.as_str()))),
            ("load balancer", catalog.fleet.load_balancer_source.clone()),
            ("volumes", format!("{} GB per server; {}", catalog.fleet.volume_gb_per_server, catalog.fleet.volume_source)),
            ("containers", format!("{} vCPU / {} GB tasks; per hour: max(redundancy, needed + redundancy - 1) tasks", o.task_vcpu, o.task_memory_gb)),
            ("break-even", "traffic scaled by k with the same shape: serverless use grows k times; each bucket's mean demand grows k times and its peak's excess over the mean sqrt(k) times; fleets and tasks are re-sized at each k".into()),
        ];
        let mut assumptions: Vec<(&str, String)> = assumptions;
        assumptions.extend(warnings.iter().map(|w| ("warning", w.clone())));

        let sections = vec![
            Section {
                name: "scenarios",
                batches: table(
                    &[
                        ("scenario", DataType::Utf8),
                        ("monthly_usd", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                        ("detail", DataType::Utf8),
                    ],
                    &scenario_rows,
                )?,
            },
            Section {
                name: "observed",
                batches: table(
                    &[
                        ("function_name", DataType::Utf8),
                        ("account_id", DataType::Utf8),
                        ("provider", DataType::Utf8),
                        ("region", DataType::Utf8),
                        ("architecture", DataType::Utf8),
                        ("memory_mb", DataType::Float64),
                        ("invocations", DataType::Int64),
                        ("monthly_requests", DataType::Float64),
                        ("monthly_gb_seconds", DataType::Float64),
                        ("p95_ms", DataType::Float64),
                        ("peak_memory_used_mb", DataType::Float64),
                        ("monthly_cold_starts", DataType::Float64),
                        ("monthly_usd_at_tier1", DataType::Float64),
                        ("speed_model", DataType::Utf8),
                    ],
                    &observed_rows,
                )?,
            },
            Section {
                name: "memory",
                batches: table(
                    &[
                        ("function_name", DataType::Utf8),
                        ("account_id", DataType::Utf8),
                        ("region", DataType::Utf8),
                        ("architecture", DataType::Utf8),
                        ("memory_mb", DataType::Float64),
                        ("estimated_p95_ms", DataType::Float64),
                        ("monthly_usd_at_tier1", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                        ("meets_p95", DataType::Boolean),
                        ("fits_memory", DataType::Boolean),
                        ("current", DataType::Boolean),
                        ("recommended", DataType::Boolean),
                    ],
                    &memory_rows,
                )?,
            },
            Section {
                name: "arm64",
                batches: table(
                    &[
                        ("function_name", DataType::Utf8),
                        ("account_id", DataType::Utf8),
                        ("region", DataType::Utf8),
                        ("from_architecture", DataType::Utf8),
                        ("monthly_usd_at_tier1", DataType::Float64),
                        ("arm64_monthly_usd_at_tier1", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                        ("arm_duration_factor", DataType::Float64),
                    ],
                    &arm_rows,
                )?,
            },
            Section {
                name: "provisioned",
                batches: table(
                    &[
                        ("function_name", DataType::Utf8),
                        ("account_id", DataType::Utf8),
                        ("region", DataType::Utf8),
                        ("architecture", DataType::Utf8),
                        ("provisioned_concurrency", DataType::Int64),
                        ("memory_mb", DataType::Float64),
                        ("allocated_usd", DataType::Float64),
                        ("provisioned_execution_usd", DataType::Float64),
                        ("on_demand_usd_at_tier1", DataType::Float64),
                        ("monthly_usd", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                        ("served_share", DataType::Float64),
                        ("monthly_cold_starts_avoided", DataType::Float64),
                    ],
                    &provisioned_rows,
                )?,
            },
            Section {
                name: "dedicated",
                batches: table(
                    &[
                        ("server", DataType::Utf8),
                        ("count", DataType::Int64),
                        ("vcpu", DataType::Int64),
                        ("memory_gib", DataType::Float64),
                        ("limited_by", DataType::Utf8),
                        ("servers_usd", DataType::Float64),
                        ("load_balancer_usd", DataType::Float64),
                        ("volumes_usd", DataType::Float64),
                        ("monthly_usd", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                    ],
                    &dedicated_rows,
                )?,
            },
            Section {
                name: "containers",
                batches: table(
                    &[
                        ("platform", DataType::Utf8),
                        ("architecture", DataType::Utf8),
                        ("task_vcpu", DataType::Float64),
                        ("task_memory_gb", DataType::Float64),
                        ("average_tasks", DataType::Float64),
                        ("max_tasks", DataType::Float64),
                        ("tasks_usd", DataType::Float64),
                        ("load_balancer_usd", DataType::Float64),
                        ("monthly_usd", DataType::Float64),
                        ("difference_usd", DataType::Float64),
                    ],
                    &container_rows,
                )?,
            },
            Section {
                name: "break_even",
                batches: table(
                    &[
                        ("option", DataType::Utf8),
                        ("traffic_scale", DataType::Float64),
                        ("break_even_monthly_requests", DataType::Float64),
                        ("serverless_usd", DataType::Float64),
                        ("dedicated_usd", DataType::Float64),
                        ("note", DataType::Utf8),
                    ],
                    &break_even_rows,
                )?,
            },
            Section {
                name: "assumptions",
                batches: assumption_table(&assumptions)?,
            },
        ];
        Ok(CostReport {
            sections,
            warnings,
            coverage,
            copied_prices,
            dedicated_elsewhere,
        })
    }
}

/// The AWS functions of `keys` that run in a region other than the one the catalog's servers,
/// fleet and containers are priced in (`[fleet] region`), whose prices differ by region.
fn dedicated_elsewhere(catalog: &Catalog, keys: &[FunctionKey]) -> Option<DedicatedElsewhere> {
    let priced_in = catalog.fleet.region.as_deref()?;
    let mut regions: Vec<String> = keys
        .iter()
        .filter(|k| k.provider == "aws" && k.region != priced_in)
        .map(|k| k.region.clone())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    (!regions.is_empty()).then(|| DedicatedElsewhere {
        priced_in: priced_in.to_string(),
        regions,
    })
}

/// The sources of a catalog's entries, each once, in order: where the dedicated alternatives'
/// prices come from (their region among them), beside the functions' own.
fn distinct_sources<'a>(sources: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for source in sources {
        if !seen.contains(&source) {
            seen.push(source);
        }
    }
    seen.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options no scenario could be priced with are refused, each naming its flag.
    #[test]
    fn options_out_of_range_are_refused_by_their_flag() {
        let refused = |change: fn(&mut CompareOptions)| {
            let mut options = CompareOptions::default();
            change(&mut options);
            options.validate().unwrap_err()
        };
        assert!(CompareOptions::default().validate().is_ok());
        for (change, flag) in [
            (
                (|o| o.max_p95_ms = Some(-5.0)) as fn(&mut CompareOptions),
                "--max-p95-ms",
            ),
            (|o| o.max_p95_ms = Some(0.0), "--max-p95-ms"),
            (|o| o.provisioned = vec![1, 0], "--provisioned"),
            (|o| o.arm_duration_factor = -1.0, "--arm-duration-factor"),
            (|o| o.redundancy = 0, "--redundancy"),
            (|o| o.cpu_bound_fraction = Some(1.5), "--cpu-bound-fraction"),
            (|o| o.memory_headroom = -0.1, "--memory-headroom"),
            (|o| o.memory_headroom = f64::NAN, "--memory-headroom"),
        ] {
            let error = refused(change);
            assert!(error.starts_with(flag), "{flag}: {error}");
        }
    }

    #[test]
    fn cpu_share_is_proportional_below_one_vcpu_and_capped_above() {
        assert!((lambda_cpu_share(1769.0 / 2.0) - 0.5).abs() < 1e-12);
        assert_eq!(lambda_cpu_share(10240.0), 1.0);
    }

    #[test]
    fn fraction_model_halves_the_cpu_part_when_cpu_doubles() {
        let m = SpeedModel::Fraction(0.5);
        // 256 -> 512 MB doubles the CPU share: 0.5 + 0.5 / 2 = 0.75.
        assert!((m.ratio(256.0, 512.0) - 0.75).abs() < 1e-12);
        // Above one vCPU nothing changes.
        assert!((m.ratio(2048.0, 4096.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fit_recovers_a_known_duration_curve() {
        // d(m) = 20 + 30 / share(m), five invocations at each of three sizes.
        let mut by_memory = BTreeMap::new();
        for m in [256i64, 512, 1024] {
            let d = 20.0 + 30.0 / lambda_cpu_share(m as f64);
            by_memory.insert(m, vec![d; 5]);
        }
        let Some(SpeedModel::Fitted { a, b }) = SpeedModel::fit(&by_memory) else {
            panic!("three sizes fit a model");
        };
        assert!(
            (a - 20.0).abs() < 1e-6 && (b - 30.0).abs() < 1e-6,
            "a={a} b={b}"
        );
        let one_size: BTreeMap<i64, Vec<f64>> = [(256, vec![100.0; 10])].into();
        assert!(SpeedModel::fit(&one_size).is_none());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 95.0), 95.0);
        assert_eq!(percentile(&mut v, 100.0), 100.0);
        assert_eq!(percentile(&mut [], 50.0), 0.0);
    }

    #[test]
    fn duration_percentile_interpolates_as_percentile_cont() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        // Position 0.95 * 99 = 94.05: between 95 and 96.
        assert!((duration_percentile(&mut v, 95.0) - 95.05).abs() < 1e-9);
        assert_eq!(duration_percentile(&mut v, 100.0), 100.0);
        assert_eq!(duration_percentile(&mut [7.0], 95.0), 7.0);
        assert_eq!(duration_percentile(&mut [], 95.0), 0.0);
    }

    #[test]
    fn demand_series_counts_half_open_intervals() {
        let s = 1_000_000_000i64;
        // Two overlapping in the first bucket, one touching the next bucket's start (not in it).
        let intervals = [
            (0, 30 * s, 0.5, 0.25),
            (10 * s, 60 * s, 0.5, 0.25),
            (60 * s, 70 * s, 0.1, 0.1),
        ];
        let series = demand_series(&DemandEvents::of(&intervals), 0, 120 * s, 60 * s);
        let peaks: Vec<(f64, f64)> = series.iter().map(|b| (b.peak_cpu, b.peak_memory)).collect();
        assert_eq!(peaks, vec![(1.0, 0.5), (0.1, 0.1)]);
        // Means: (30 s + 50 s) x 0.5 vCPU over 60 s; 10 s x 0.1 over 60 s.
        assert!((series[0].mean_cpu - 40.0 / 60.0).abs() < 1e-12);
        assert!((series[1].mean_cpu - 1.0 / 60.0).abs() < 1e-12);
        assert!((series[0].hours - 1.0 / 60.0).abs() < 1e-12);
        // Scaled 4x: mean x4, excess of the peak over the mean x2.
        let (cpu, _) = series[0].scaled(4.0);
        assert!((cpu - (4.0 * 40.0 / 60.0 + 2.0 * (1.0 - 40.0 / 60.0))).abs() < 1e-12);
    }

    fn server(
        name: &str,
        vcpu: u32,
        memory_gib: f64,
        usd_per_hour: f64,
        burstable: Option<f64>,
    ) -> Server {
        Server {
            name: name.into(),
            vcpu,
            memory_gib,
            usd_per_hour,
            burstable_baseline: burstable,
            source: String::new(),
        }
    }

    #[test]
    fn fleet_sizing_applies_redundancy_utilization_memory_and_credits() {
        let mut catalog = Catalog::builtin();
        catalog.servers = vec![
            server("burst", 2, 2.0, 0.01, Some(0.2)),
            server("steady", 2, 4.0, 0.05, None),
        ];
        let o = CompareOptions::default();
        // Tiny demand: redundancy sets the count; the burstable one is cheapest.
        let small = Demand {
            vcpu: 0.1,
            memory_gib: 0.2,
            average_vcpu: 0.01,
        };
        let f = fleets(&catalog, &o, small);
        assert_eq!(
            (f[0].server.name.as_str(), f[0].count, f[0].limited_by),
            ("burst", 2, "redundancy")
        );
        // 3 vCPU at 50 %: 3 servers of 2 vCPU, plus one for redundancy.
        let busy = Demand {
            vcpu: 3.0,
            memory_gib: 0.5,
            average_vcpu: 0.5,
        };
        let steady = fleets(&catalog, &o, busy)
            .into_iter()
            .find(|f| f.server.name == "steady")
            .unwrap();
        assert_eq!((steady.count, steady.limited_by), (4, "cpu"));
        // An average of 2 vCPU needs 2 / (0.2 * 2) = 5 burstable servers for credits.
        let sustained = Demand {
            vcpu: 3.0,
            memory_gib: 0.5,
            average_vcpu: 2.0,
        };
        let burst = fleets(&catalog, &o, sustained)
            .into_iter()
            .find(|f| f.server.name == "burst")
            .unwrap();
        assert_eq!((burst.count, burst.limited_by), (5, "cpu credits"));
        let hours = catalog.hours_per_month;
        let expected = 5.0 * 0.01 * hours + 0.0225 * hours + 5.0 * 20.0 * 0.08;
        assert!((burst.total_usd() - expected).abs() < 1e-9);
    }

    #[test]
    fn break_even_finds_the_crossing() {
        // Serverless $10 per unit of scale; dedicated a flat $50: they cross at k = 5.
        let k = break_even_scale(|k| Ok(10.0 * k), |_| 50.0)
            .unwrap()
            .unwrap();
        assert!((k - 5.0).abs() < 1e-6, "{k}");
        assert!(matches!(
            break_even_scale(|k| Ok(10.0 * k), |_| 1e-9).unwrap(),
            Err(true)
        ));
        assert!(matches!(
            break_even_scale(|_| Ok(0.0), |_| 50.0).unwrap(),
            Err(false)
        ));
    }
}
