//! Times the peak-concurrency query over a Parquet file of invocations, as faasobs runs it (the
//! `peak_concurrency` sweep aggregate in DataFusion), to compare with other engines on the same
//! file. See `analyzer/benches/concurrency_vs_duckdb.sh`.
//!
//! Usage: `concurrency_peak FILE.parquet [RUNS]`; the file needs `function_name`, `start_time`
//! and `end_time` (timestamps of any unit). Prints the best time and a checksum of the result.

use std::time::Instant;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use faasobs_analyzer::concurrency::{peak_concurrency_time_udaf, peak_concurrency_udaf};

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: concurrency_peak FILE.parquet [RUNS]");
    let runs: usize = args
        .next()
        .map_or(3, |r| r.parse().expect("RUNS is a number"));
    let ctx = SessionContext::new();
    ctx.register_udaf(peak_concurrency_udaf());
    ctx.register_udaf(peak_concurrency_time_udaf());
    ctx.register_parquet("invocations", &path, ParquetReadOptions::default())
        .await?;
    let sql = "SELECT function_name, peak_concurrency(\
        arrow_cast(start_time, 'Timestamp(Nanosecond, Some(\"UTC\"))'), \
        arrow_cast(end_time, 'Timestamp(Nanosecond, Some(\"UTC\"))')) AS peak \
        FROM invocations GROUP BY function_name";
    let mut best = f64::INFINITY;
    let mut checksum = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let batches = ctx.sql(sql).await?.collect().await?;
        best = best.min(started.elapsed().as_secs_f64());
        checksum = batches
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
            .sum::<i64>();
    }
    println!("faasobs (DataFusion + sweep): best of {runs}: {best:.3} s, sum of peaks {checksum}");
    Ok(())
}
