//! `faasobs gen`: write a sample workload as input files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use faasobs_analyzer::reports::parse_time_bound;
use faasobs_sample_traces::workload::SAMPLE_SEED;
use faasobs_sample_traces::{Workload, simulate, write_workload};

#[derive(Debug, clap::Args)]
pub struct GenConfig {
    /// Output folder.
    #[arg(long, default_value = "faasobs-sample")]
    pub out: PathBuf,
    /// Random seed; the same seed and window give the same files.
    #[arg(long, default_value_t = SAMPLE_SEED)]
    pub seed: u64,
    /// Length of the window.
    #[arg(long, default_value = "10m", value_parser = super::parse_duration)]
    pub duration: Duration,
    /// Start of the window: RFC 3339, a date or date and time in UTC (2026-11-23,
    /// 2026-11-23 09:30), or a duration ago (1h, 7d); default 2026-11-23T09:00:00Z, the
    /// checked-in sample's.
    #[arg(long)]
    pub start: Option<String>,
    /// Multiplies every function's arrival rate.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub scale: f64,
}

pub fn run(config: GenConfig) -> anyhow::Result<()> {
    let mut workload = Workload::sample(config.seed);
    anyhow::ensure!(
        !config.duration.is_zero(),
        "--duration must be longer than nothing (e.g. 10m)"
    );
    workload.duration_ns =
        i64::try_from(config.duration.as_nanos()).context("duration too long")?;
    anyhow::ensure!(
        config.scale > 0.0 && config.scale.is_finite(),
        "--scale must be a positive number, not {}",
        config.scale
    );
    workload.scale = config.scale;
    if let Some(start) = &config.start {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        workload.start_ns =
            parse_time_bound(start, now).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    }
    let invocations = simulate(&workload);
    let manifest = write_workload(&workload, &invocations, &config.out)
        .with_context(|| format!("writing {}", config.out.display()))?;
    say!(
        "wrote {} invocations ({} cold starts) of {} functions from {} to {} into {}",
        manifest.invocations,
        manifest.cold_starts,
        manifest.by_function.len(),
        manifest.start,
        manifest.end,
        config.out.display()
    );
    Ok(())
}
