//! Cost: what every invocation cost, what a month costs, and what it would cost otherwise.
//!
//! The pipeline's last step for money, in the order data flows:
//! - [`catalog`]: the versioned pricing catalog (TOML; built in, or `--pricing FILE`);
//! - [`function_configurations`]: where each function runs, for its invocations that do not
//!   say it (the catalog's `[[functions]]`, and reading them from `aws lambda list-functions`);
//! - [`billing`]: pricing one invocation and billing a month (tiers, free tier);
//! - [`reported_files`]: which stored files the cost view prices from reported billed durations
//!   alone, by their footers;
//! - [`sql`]: the same in SQL: `invocation_cost(...)`, `invocation_costs`, `monthly_costs`;
//! - [`report`]: `faasobs cost report`, spend by function, day or month;
//! - [`scenarios`]: `faasobs cost compare`, the what-ifs and the dedicated alternatives.
//!
//! Every formula is stated in `docs/cost.md`.

pub mod billing;
pub mod catalog;
pub mod function_configurations;
pub mod report;
pub mod reported_files;
pub mod scenarios;
pub mod sql;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::session::AnalyzerError;

pub use catalog::{Catalog, CatalogError};

/// Builds a one-batch table from JSON rows (objects keyed by column name) and column types.
pub(crate) fn table(
    columns: &[(&str, DataType)],
    rows: &[serde_json::Value],
) -> Result<Vec<RecordBatch>, AnalyzerError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, t)| Field::new(*name, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    Ok(match decoder.flush()? {
        Some(batch) => vec![batch],
        None => vec![RecordBatch::new_empty(schema)],
    })
}

/// Rounds money for display: to a millionth of a dollar.
pub(crate) fn usd(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}
