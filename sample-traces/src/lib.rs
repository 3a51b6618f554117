//! faasobs-sample-traces: realistic serverless workloads, so every faasobs command works out of
//! the box.
//!
//! - [`workload`]: the functions of a workload (runtime, memory, architecture, trigger, traffic);
//! - [`simulate`](mod@simulate): arrivals and a keep-alive model of execution environments, from which cold
//!   starts, throttles, errors, timeouts and long-tailed durations follow; deterministic per seed;
//! - [`output`]: the simulated invocations written as real inputs (OTLP protobuf and JSON, Lambda
//!   text logs) plus a manifest of what was generated;
//! - [`replay`]: the same traffic sent live through the OpenTelemetry SDK's OTLP exporter.

pub mod output;
pub mod replay;
pub mod simulate;
pub mod workload;

pub use output::{Manifest, write_workload};
pub use simulate::{SimulatedInvocation, simulate};
pub use workload::Workload;
