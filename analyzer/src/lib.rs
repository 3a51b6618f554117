//! faasobs-analyzer: DataFusion over the store's Parquet files.
//!
//! - [`session`]: a DataFusion session tuned for this data (pruning, filter pushdown, page index,
//!   a memory limit) with the `invocations`, `spans` and `logs` tables registered over the current
//!   Parquet files of a data directory;
//! - [`query`]: running user SQL read-only, and printing results;
//! - [`reports`]: the built-in reports (the summary per function, so far).

pub mod query;
pub mod reports;
pub mod session;

pub use session::{Analyzer, AnalyzerError};
