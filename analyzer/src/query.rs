//! Running user SQL, read-only, and printing the result.
//!
//! DDL (`CREATE`, including `CREATE EXTERNAL TABLE` over arbitrary paths), DML (`INSERT`, `COPY`)
//! and statements (`SET`, transactions) are refused before planning: SQL from users cannot create,
//! copy or write files.

use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;

use crate::session::{Analyzer, AnalyzerError};

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

impl Analyzer {
    /// Runs one read-only SQL statement and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyzerError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self
            .context()
            .sql_with_options(sql, options)
            .await
            .map_err(|e| match e {
                datafusion::error::DataFusionError::Plan(m) if m.contains("not supported") => {
                    AnalyzerError::NotReadOnly(m)
                }
                other => AnalyzerError::DataFusion(other),
            })?;
        Ok(frame.collect().await?)
    }
}

/// Renders batches in the chosen format.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, AnalyzerError> {
    Ok(match format {
        OutputFormat::Table => arrow::util::pretty::pretty_format_batches(batches)?.to_string(),
        OutputFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for b in batches {
                    writer.write(b)?;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
            String::from_utf8_lossy(&writer.into_inner()).into_owned()
        }
        OutputFormat::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
            String::from_utf8_lossy(&writer.into_inner()).into_owned()
        }
    })
}
