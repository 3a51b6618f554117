//! faasobs-analyzer: DataFusion over the store's Parquet files.
//!
//! - [`location`]: where a store is read from, a local directory or S3-compatible object storage;
//! - [`listed_objects`]: a bucket whose listed files' `HEAD`s are answered from the listing;
//! - [`session`]: a DataFusion session tuned for this data (pruning, filter pushdown, page index,
//!   a memory limit) with the `invocations`, `spans`, `logs` and `resources` tables registered
//!   over the current Parquet files of a store (`spans` and `logs` joining their
//!   resources' attributes back);
//! - [`invocations_view`]: the `invocations` view, final rows passed through and fragments merged;
//! - [`query`]: running user SQL read-only, and printing results;
//! - [`reports`]: the built-in reports (`summary`, `coldstarts`, `errors`, `concurrency`);
//! - [`concurrency`]: the O(n log n) sweep behind concurrency, and its SQL aggregates;
//! - [`max_text`]: `max` for the merging view's text columns, without a copy per group;
//! - [`percentile`]: DataFusion's `percentile_cont`, fixed for groups of one row each;
//! - [`shared_percentiles`]: p50, p95 and p99 of one column from one copy of its values;
//! - [`run_sums`]: partial sums grouped by one key add up each run of that key first;
//! - [`utc_date_trunc`]: DataFusion's `date_trunc`, with UTC times truncated by arithmetic;
//! - [`cost`]: the pricing catalog, per-invocation and monthly cost, and the what-if scenarios.

pub mod concurrency;
pub mod cost;
pub mod invocations_view;
pub mod listed_objects;
pub mod location;
pub mod max_text;
pub mod percentile;
pub mod query;
pub mod reports;
pub mod run_sums;
pub mod session;
pub mod shared_percentiles;
pub mod utc_date_trunc;

pub use session::{Analyzer, AnalyzerError};

/// The version of the DataFusion engine the analyzer runs on (recorded with benchmark results).
pub const DATAFUSION_VERSION: &str = datafusion::DATAFUSION_VERSION;

/// Deterministic pseudo-random numbers for tests: `next(n)` is in `0..n` (xorshift64).
#[cfg(test)]
pub(crate) fn test_numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}
