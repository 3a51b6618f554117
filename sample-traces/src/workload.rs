//! The workloads: the functions, their configuration and their traffic.

/// How invocations of a function arrive.
#[derive(Debug, Clone, Copy)]
pub enum Arrivals {
    /// A Poisson process.
    Poisson { per_second: f64 },
    /// Bursts: a Poisson process whose rate switches between a base and a burst rate, with
    /// exponentially distributed burst and gap lengths.
    Bursty {
        base_per_second: f64,
        burst_per_second: f64,
        mean_burst_s: f64,
        mean_gap_s: f64,
    },
    /// A schedule (a cron-like timer).
    Every { seconds: f64 },
}

/// How the function's traces reach faasobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrumentation {
    /// Platform logs only.
    None,
    /// OpenTelemetry, exported as OTLP protobuf.
    OtlpProtobuf,
    /// OpenTelemetry, exported as OTLP JSON.
    OtlpJson,
}

/// One function of the workload.
#[derive(Debug, Clone)]
pub struct FunctionProfile {
    pub name: &'static str,
    pub runtime: &'static str,
    /// The `process.runtime.*` name and version its instrumentation reports.
    pub runtime_name: &'static str,
    pub runtime_version: &'static str,
    pub runtime_arn_version: &'static str,
    pub architecture: &'static str,
    pub memory_mb: i32,
    pub timeout_ms: f64,
    pub trigger: &'static str,
    pub arrivals: Arrivals,
    pub median_ms: f64,
    pub sigma: f64,
    pub init_median_ms: f64,
    pub error_rate: f64,
    pub oom_rate: f64,
    pub errors: &'static [(&'static str, &'static str)],
    pub concurrency_limit: usize,
    pub instrumentation: Instrumentation,
}

/// A workload: functions, a window of time and a seed.
#[derive(Debug, Clone)]
pub struct Workload {
    pub seed: u64,
    /// Start of the window, ns since the epoch.
    pub start_ns: i64,
    pub duration_ns: i64,
    /// Multiplies every arrival rate.
    pub scale: f64,
    pub region: &'static str,
    pub account_id: &'static str,
    pub functions: Vec<FunctionProfile>,
}

/// Start of the built-in sample's window: 2026-11-23T09:00:00Z.
pub const SAMPLE_START_NS: i64 = 1_795_424_400_000_000_000;

/// Length of the built-in sample's window: ten minutes.
pub const SAMPLE_DURATION_NS: i64 = 600_000_000_000;

/// The seed of the checked-in sample set.
pub const SAMPLE_SEED: u64 = 42;

impl Workload {
    /// The built-in sample workload: six functions with different runtimes, memory sizes,
    /// architectures, triggers and traffic shapes over ten minutes.
    pub fn sample(seed: u64) -> Workload {
        Workload {
            seed,
            start_ns: SAMPLE_START_NS,
            duration_ns: SAMPLE_DURATION_NS,
            scale: 1.0,
            region: "us-east-1",
            account_id: "123456789012",
            functions: default_functions(),
        }
    }
}

fn default_functions() -> Vec<FunctionProfile> {
    vec![
        FunctionProfile {
            name: "checkout-api",
            runtime: "nodejs20.x",
            runtime_name: "nodejs",
            runtime_version: "20.18.1",
            runtime_arn_version: "nodejs:20.v42",
            architecture: "x86_64",
            memory_mb: 1024,
            timeout_ms: 6000.0,
            trigger: "http",
            arrivals: Arrivals::Poisson { per_second: 1.0 },
            median_ms: 45.0,
            sigma: 0.6,
            init_median_ms: 380.0,
            error_rate: 0.015,
            oom_rate: 0.0,
            errors: &[
                (
                    "TypeError",
                    "Cannot read properties of undefined (reading 'sku')",
                ),
                ("PaymentDeclined", "card declined for order {n}"),
            ],
            concurrency_limit: 1000,
            instrumentation: Instrumentation::OtlpProtobuf,
        },
        FunctionProfile {
            name: "image-resize",
            runtime: "python3.12",
            runtime_name: "cpython",
            runtime_version: "3.12.7",
            runtime_arn_version: "python:3.12.v38",
            architecture: "arm64",
            memory_mb: 2048,
            timeout_ms: 15000.0,
            trigger: "datasource",
            arrivals: Arrivals::Bursty {
                base_per_second: 0.05,
                burst_per_second: 4.0,
                mean_burst_s: 20.0,
                mean_gap_s: 120.0,
            },
            median_ms: 800.0,
            sigma: 0.5,
            init_median_ms: 900.0,
            error_rate: 0.01,
            oom_rate: 0.008,
            errors: &[(
                "PIL.UnidentifiedImageError",
                "cannot identify image file uploads/{n}.jpg",
            )],
            concurrency_limit: 1000,
            instrumentation: Instrumentation::OtlpJson,
        },
        FunctionProfile {
            name: "orders-worker",
            runtime: "java21",
            runtime_name: "java",
            runtime_version: "21.0.5",
            runtime_arn_version: "java:21.v27",
            architecture: "x86_64",
            memory_mb: 512,
            timeout_ms: 3000.0,
            trigger: "pubsub",
            arrivals: Arrivals::Poisson { per_second: 0.5 },
            median_ms: 160.0,
            sigma: 0.7,
            init_median_ms: 2600.0,
            error_rate: 0.02,
            oom_rate: 0.0,
            errors: &[(
                "software.amazon.awssdk.services.dynamodb.model.ConditionalCheckFailedException",
                "The conditional request failed for order {n}",
            )],
            concurrency_limit: 1000,
            instrumentation: Instrumentation::OtlpProtobuf,
        },
        FunctionProfile {
            name: "auth-edge",
            runtime: "provided.al2023",
            runtime_name: "rust",
            runtime_version: "1.83",
            runtime_arn_version: "provided:al2023.v88",
            architecture: "arm64",
            memory_mb: 128,
            timeout_ms: 3000.0,
            trigger: "http",
            arrivals: Arrivals::Poisson { per_second: 1.0 },
            median_ms: 4.0,
            sigma: 0.4,
            init_median_ms: 28.0,
            error_rate: 0.005,
            oom_rate: 0.0,
            errors: &[("Unauthorized", "token expired for subject {n}")],
            concurrency_limit: 1000,
            instrumentation: Instrumentation::None,
        },
        FunctionProfile {
            name: "nightly-report",
            runtime: "python3.12",
            runtime_name: "cpython",
            runtime_version: "3.12.7",
            runtime_arn_version: "python:3.12.v38",
            architecture: "x86_64",
            memory_mb: 3008,
            timeout_ms: 30000.0,
            trigger: "timer",
            arrivals: Arrivals::Every { seconds: 60.0 },
            median_ms: 9000.0,
            sigma: 0.6,
            init_median_ms: 1200.0,
            error_rate: 0.0,
            oom_rate: 0.0,
            errors: &[("ReportError", "query {n} failed")],
            concurrency_limit: 1000,
            instrumentation: Instrumentation::None,
        },
        FunctionProfile {
            name: "search-suggest",
            runtime: "nodejs20.x",
            runtime_name: "nodejs",
            runtime_version: "20.18.1",
            runtime_arn_version: "nodejs:20.v42",
            architecture: "arm64",
            memory_mb: 256,
            timeout_ms: 3000.0,
            trigger: "http",
            arrivals: Arrivals::Poisson { per_second: 0.6 },
            median_ms: 350.0,
            sigma: 0.5,
            init_median_ms: 310.0,
            error_rate: 0.01,
            oom_rate: 0.0,
            errors: &[("Error", "upstream index timeout after {n} ms")],
            concurrency_limit: 1,
            instrumentation: Instrumentation::OtlpJson,
        },
    ]
}

impl Workload {
    /// A benchmark workload: `functions` functions over `duration_ns`, built from the sample's six
    /// profiles (runtimes, memory sizes, triggers, instrumentation) in turn, with Zipf-skewed
    /// popularity (the `k`-th most popular function gets a rate proportional to `1 / k^1.1`) and
    /// rates chosen so that the window holds about `invocations` invocations in all.
    pub fn bench(seed: u64, functions: usize, invocations: u64, duration_ns: i64) -> Workload {
        const SKEW: f64 = 1.1;
        let templates = default_functions();
        let weights: Vec<f64> = (1..=functions)
            .map(|k| 1.0 / (k as f64).powf(SKEW))
            .collect();
        let total_weight: f64 = weights.iter().sum();
        let seconds = duration_ns as f64 / 1e9;
        let functions = weights
            .iter()
            .enumerate()
            .map(|(k, weight)| {
                let template = &templates[k % templates.len()];
                let per_second = invocations as f64 * weight / total_weight / seconds;
                FunctionProfile {
                    // Names live as long as the program; a benchmark builds one workload.
                    name: Box::leak(format!("{}-{k:03}", template.name).into_boxed_str()),
                    arrivals: Arrivals::Poisson { per_second },
                    // The sample's deliberately tiny limit (search-suggest) would throttle most
                    // of a popular function's traffic.
                    concurrency_limit: 1000,
                    ..template.clone()
                }
            })
            .collect();
        Workload {
            seed,
            start_ns: SAMPLE_START_NS,
            duration_ns,
            scale: 1.0,
            region: "us-east-1",
            account_id: "123456789012",
            functions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bench_workload_has_skewed_rates_that_add_up_to_the_target() {
        let hour = 3_600_000_000_000;
        let w = Workload::bench(1, 200, 10_000_000, 24 * hour);
        assert_eq!(w.functions.len(), 200);
        let rate = |f: &FunctionProfile| match f.arrivals {
            Arrivals::Poisson { per_second } => per_second,
            _ => panic!("bench arrivals are Poisson"),
        };
        let total: f64 = w.functions.iter().map(rate).sum::<f64>() * 24.0 * 3600.0;
        assert!((total - 1e7).abs() < 1.0, "{total}");
        assert!(rate(&w.functions[0]) > 100.0 * rate(&w.functions[199]));
        assert_eq!(w.functions[7].name, "image-resize-007");
    }
}
