//! One module per subcommand, each with its config struct and a `run` function.

pub mod bench;
pub mod collect;
pub mod compact;
pub mod cost;
pub mod demo;
pub mod generate;
pub mod ingest;
pub mod query;
pub mod report;
pub mod sql;
pub mod tui;

use std::time::Duration;

/// Parses durations like `30d`, `12h`, `10m`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 30d, 12h, 10m)"))
}
