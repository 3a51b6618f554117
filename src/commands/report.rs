//! `faasobs report`: the built-in reports on cold starts, errors, concurrency and a summary.

use std::path::Path;
use std::time::Duration;

use faasobs_analyzer::query::OutputFormat;
use faasobs_analyzer::reports::{ReportKind, ReportOptions, parse_time_bound, render_report};
use faasobs_analyzer::session::TimeWindow;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// Per function: invocations, errors, cold starts, duration percentiles, peak concurrency,
    /// memory.
    Summary,
    /// Cold starts per function and per runtime/memory/architecture, init percentiles, over time.
    #[value(alias = "cold-starts")]
    Coldstarts,
    /// Error rate over time; errors grouped by class, type and normalized message.
    Errors,
    /// Peak concurrency per function and account-wide, a time series, headroom to a limit.
    Concurrency,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportConfig {
    /// Which report.
    #[arg(value_enum)]
    pub kind: Kind,
    #[command(flatten)]
    pub selection: InvocationSelection,
    /// Width of the time buckets of series (default: 1h; 1m for concurrency).
    #[arg(long, value_parser = super::parse_duration)]
    pub step: Option<Duration>,
    /// Concurrency limit for headroom (AWS's default account limit is 1000).
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Approximate percentiles (t-digest) instead of exact ones.
    #[arg(long)]
    pub approximate: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Memory a report may use, in MiB, before it fails cleanly.
    #[arg(long, default_value_t = 2048, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
}

/// Which invocations a report covers: `--function`, `--since`, `--until` (reports and `cost`).
#[derive(Debug, clap::Args)]
pub struct InvocationSelection {
    /// Only this function.
    #[arg(long)]
    pub function: Option<String>,
    /// Invocations that started at or after this time: RFC 3339, or a duration ago (1h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Invocations that started before this time: RFC 3339, or a duration ago (1h, 7d).
    #[arg(long)]
    pub until: Option<String>,
}

impl InvocationSelection {
    /// The report options (function and time bounds in ns; the rest default) and the matching
    /// window of partitions to open.
    pub fn options(&self) -> anyhow::Result<(ReportOptions, TimeWindow)> {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let bound = |text: &Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
            text.as_deref()
                .map(|t| parse_time_bound(t, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
                .transpose()
        };
        let (since, until) = (bound(&self.since, "since")?, bound(&self.until, "until")?);
        if let (Some(since), Some(until)) = (since, until)
            && until <= since
        {
            anyhow::bail!(
                "--until ({}) is not after --since ({}): the window holds no time (a duration \
                 counts back from now, so `--since 3h --until 1h` is the two hours between)",
                self.until.as_deref().unwrap_or_default(),
                self.since.as_deref().unwrap_or_default()
            );
        }
        let options = ReportOptions {
            function: self.function.clone(),
            since,
            until,
            ..Default::default()
        };
        Ok((options, TimeWindow { since, until }))
    }
}

/// The analyzer's rendering of a report format.
pub fn output_format(format: Format) -> OutputFormat {
    match format {
        Format::Table => OutputFormat::Table,
        Format::Json => OutputFormat::Json,
        Format::Csv => OutputFormat::Csv,
    }
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: ReportConfig) -> anyhow::Result<()> {
    let (selected, window) = config.selection.options()?;
    let options = ReportOptions {
        step: config
            .step
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).max(1)),
        limit: config.limit,
        approximate: config.approximate,
        ..selected
    };
    let kind = match config.kind {
        Kind::Summary => ReportKind::Summary,
        Kind::Coldstarts => ReportKind::Coldstarts,
        Kind::Errors => ReportKind::Errors,
        Kind::Concurrency => ReportKind::Concurrency,
    };
    let format = output_format(config.format);
    let analyzer =
        super::query::open_analyzer(data, pricing, config.memory_limit_mb, Some(window)).await?;
    let sections = analyzer.report(kind, &options).await?;
    println!("{}", render_report(&sections, format)?);
    Ok(())
}
