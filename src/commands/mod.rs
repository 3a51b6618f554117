//! One module per subcommand, each with its config struct and a `run` function.

pub mod bench;
pub mod collect;
pub mod compact;
pub mod cost;
pub mod demo;
pub mod generate;
pub mod import_ledger;
pub mod ingest;
pub mod query;
pub mod report;
pub mod sql;
pub mod tui;

use std::time::Duration;

use faasobs_analyzer::location::DataLocation;
use faasobs_collector::store::object_storage;

/// Refuses a store on object storage for `command`, which writes a local data directory (its
/// write-ahead log and Parquet files); the reading commands take either.
pub fn refuse_object_storage(data: &DataLocation, command: &str) -> anyhow::Result<()> {
    match data {
        DataLocation::Directory(_) => Ok(()),
        DataLocation::ObjectStore(_) => anyhow::bail!(
            "faasobs {command} writes a local data directory, not {data}: query, sql, report, \
             summary, cost and tui --no-listen read object storage. Store into a directory whose collector keeps \
             its Parquet files there (`collect --parquet-store {data}`), or copy a directory's \
             files there (e.g. `aws s3 sync DIR {data}`)"
        ),
    }
}

/// Parses `--parquet-store` (`collect`, `ingest`): an `s3://` URL, not a local path.
pub fn parse_parquet_store(text: &str) -> Result<url::Url, String> {
    match object_storage::parse_url(text) {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Err(format!(
            "{text:?} is not on object storage: give s3://BUCKET/PREFIX (a local data \
             directory is --data)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Resolves when the process is asked to stop: Ctrl-C, or SIGTERM (how service managers and
/// `timeout` stop a process).
pub async fn stop_requested() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Runs a command whose queries may spill to the temporary folder until it ends or the process
/// is asked to stop. Stopping drops the running query, and with it the spill files: a query
/// killed by the signal's default action left gigabytes behind (benchmarks, 100M invocations).
pub async fn until_stopped(
    command: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::select! {
        result = command => result,
        _ = stop_requested() => Err(anyhow::anyhow!(
            "stopped before the end; temporary (spill) files were deleted"
        )),
    }
}

/// Prints a rendered result on standard output with one newline at its end: CSV and NDJSON
/// renderings end with one already, a table does not, and a blank last line would read as an
/// empty record to the tools these formats are for.
pub fn print_rendered(text: &str) {
    println!("{}", text.trim_end_matches('\n'));
}

/// Parses durations like `30d`, `12h`, `10m`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 30d, 12h, 10m)"))
}

/// Parses a duration that must not be zero; `zero` says why not.
pub fn parse_nonzero_duration(text: &str, zero: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        duration if duration.is_zero() => Err(zero.into()),
        duration => Ok(duration),
    }
}

/// Parses a retention (`collect` and `compact`): a duration, not zero, which would delete every
/// partition at once.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(
        text,
        "a retention of 0 would delete every partition: give how long to keep data (e.g. 30d)",
    )
}
