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
        Ok(self.query_with_schema(sql).await?.1)
    }

    /// Like [`Analyzer::query`], with the result's schema (known even when there are no rows).
    pub async fn query_with_schema(
        &self,
        sql: &str,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>), AnalyzerError> {
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
        let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
        Ok((schema, frame.collect().await?))
    }
}

/// Writes a result as a Parquet file (ZSTD), readable by any Parquet reader.
pub fn write_parquet(
    path: &std::path::Path,
    schema: arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), AnalyzerError> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let file = std::fs::File::create(path).map_err(|source| AnalyzerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|e| AnalyzerError::DataFusion(e.into()))?;
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| AnalyzerError::DataFusion(e.into()))?;
    }
    writer
        .close()
        .map_err(|e| AnalyzerError::DataFusion(e.into()))?;
    Ok(())
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
