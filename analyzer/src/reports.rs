//! Built-in reports, each one SQL query over the registered tables.

use arrow::record_batch::RecordBatch;

use crate::session::{Analyzer, AnalyzerError};

/// Per function: invocations, errors, cold starts, duration percentiles and memory.
pub const SUMMARY_SQL: &str = "\
SELECT function_name,
       count(*) AS invocations,
       sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS errors,
       round(avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END) * 100, 2) AS error_pct,
       sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
       round(avg(CASE WHEN cold_start THEN 1.0 ELSE 0.0 END) * 100, 2) AS cold_start_pct,
       round(approx_percentile_cont(duration_ms, 0.5), 1) AS p50_ms,
       round(approx_percentile_cont(duration_ms, 0.95), 1) AS p95_ms,
       round(approx_percentile_cont(duration_ms, 0.99), 1) AS p99_ms,
       max(max_memory_used_mb) AS max_memory_mb,
       max(memory_size_mb) AS memory_size_mb
FROM invocations
GROUP BY function_name
ORDER BY invocations DESC, function_name";

impl Analyzer {
    /// The summary report.
    pub async fn summary(&self) -> Result<Vec<RecordBatch>, AnalyzerError> {
        self.query(SUMMARY_SQL).await
    }
}
