//! `faasobs cost`: spend from the observed history and the built-in pricing catalog.

use std::path::Path;

use faasobs_analyzer::cost::catalog::DEFAULT_CATALOG;
use faasobs_analyzer::cost::report::{CostReport, CostReportOptions, SpendGrouping};
use faasobs_analyzer::reports::{ReportOptions, render_report};
use faasobs_analyzer::session::TimeWindow;

use super::report::{Format, output_format, time_bounds};

#[derive(Debug, clap::Subcommand)]
pub enum CostCommand {
    /// Spend from the observed history: requests, GB-s, duration and request cost, cost per 1M
    /// invocations and the share INIT billing adds; and each month's bill with tiers.
    Report(CostReportConfig),
    /// Print the built-in pricing catalog (TOML), to edit and pass back with `--pricing FILE`.
    Catalog,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum By {
    Function,
    Day,
    Month,
}

/// What every `faasobs cost` subcommand that reads the store takes.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Only this function.
    #[arg(long)]
    pub function: Option<String>,
    /// Invocations that started at or after this time: RFC 3339, or a duration ago (1h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Invocations that started before this time: RFC 3339, or a duration ago (1h, 7d).
    #[arg(long)]
    pub until: Option<String>,
    /// Deduct each account's monthly free tier.
    #[arg(long)]
    pub free_tier: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Memory a report may use, in MiB, before it fails cleanly.
    #[arg(long, default_value_t = 2048, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
}

#[derive(Debug, clap::Args)]
pub struct CostReportConfig {
    /// How the spend rows are grouped.
    #[arg(long, value_enum, default_value_t = By::Function)]
    pub by: By,
    #[command(flatten)]
    pub selection: Selection,
}

pub async fn run(data: &Path, pricing: Option<&Path>, command: CostCommand) -> anyhow::Result<()> {
    match command {
        CostCommand::Catalog => {
            print!("{DEFAULT_CATALOG}");
            Ok(())
        }
        CostCommand::Report(config) => {
            let (filter, window) = selection_filter(&config.selection)?;
            let analyzer = super::query::open_analyzer(
                data,
                pricing,
                config.selection.memory_limit_mb,
                Some(window),
            )
            .await?;
            let options = CostReportOptions {
                by: match config.by {
                    By::Function => SpendGrouping::Function,
                    By::Day => SpendGrouping::Day,
                    By::Month => SpendGrouping::Month,
                },
                filter,
                free_tier: config.selection.free_tier,
            };
            print_report(
                analyzer.cost_report(&options).await?,
                config.selection.format,
            )
        }
    }
}

fn selection_filter(s: &Selection) -> anyhow::Result<(ReportOptions, TimeWindow)> {
    let (since, until) = time_bounds(&s.since, &s.until)?;
    let filter = ReportOptions {
        function: s.function.clone(),
        since,
        until,
        ..Default::default()
    };
    Ok((filter, TimeWindow { since, until }))
}

/// Prints the report on standard output and its warnings on standard error.
fn print_report(report: CostReport, format: Format) -> anyhow::Result<()> {
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}",
        render_report(&report.sections, output_format(format))?
    );
    Ok(())
}
