//! `faasobs cost`: spend from the observed history, scenarios side by side, and the built-in
//! pricing catalog.

use std::path::{Path, PathBuf};

use anyhow::Context;

use faasobs_analyzer::cost::Catalog;
use faasobs_analyzer::cost::catalog::DEFAULT_CATALOG;
use faasobs_analyzer::cost::function_configurations;
use faasobs_analyzer::cost::report::{CostReport, CostReportOptions, SpendGrouping};
use faasobs_analyzer::cost::scenarios::{CompareOptions, DEFAULT_MEMORY_HEADROOM};
use faasobs_analyzer::reports::{Places, render_report};

use super::report::{Format, InvocationSelection, output_format};

#[derive(Debug, clap::Subcommand)]
pub enum CostCommand {
    /// Spend from the observed history: requests, GB-s, duration, request and ephemeral storage
    /// cost, cost per 1M invocations and the share INIT billing adds; and each month's bill with
    /// tiers.
    Report(CostReportConfig),
    /// Scenarios side by side, projected to a month: as observed, memory right-sized, arm64,
    /// provisioned concurrency, dedicated servers, containers, and the break-even volumes.
    Compare(CompareConfig),
    /// Print the built-in pricing catalog (TOML), to edit and pass back with `--pricing FILE`;
    /// with `--pricing FILE`, that catalog. Its flags add entries: where functions run and their
    /// ephemeral storage (`--lambda-functions`, `--from-store`), a region priced as another
    /// (`--copy-prices`).
    Catalog(CatalogConfig),
}

#[derive(Debug, clap::Args)]
pub struct CatalogConfig {
    /// What `aws lambda list-functions` printed (JSON; `-` reads standard input; repeat for
    /// several regions or accounts): add each function's region and architecture to the catalog as
    /// `[[functions]]`, which price its invocations that do not say them (Lambda text logs say
    /// neither), and its ephemeral storage where above the included 512 MB, which is billed.
    #[arg(long, value_name = "FILE")]
    pub lambda_functions: Vec<PathBuf>,
    /// Add `[[functions]]` from the store's own invocations: for each function some of whose
    /// invocations do not say their region or architecture (head sampling leaves untraced
    /// invocations to logs, which say no architecture), what its other invocations say, where
    /// they agree.
    #[arg(long)]
    pub from_store: bool,
    /// Add prices for region TO, copied from region FROM (repeatable), for a region the catalog
    /// does not price: AWS Lambda charges most commercial regions what it charges us-east-1, a
    /// few more. Each copy says where it came from, and cost reports warn of it: check the
    /// provider's page for TO.
    #[arg(long, value_name = "FROM:TO", value_parser = region_pair)]
    pub copy_prices: Vec<(String, String)>,
}

/// `FROM:TO`, two region names.
fn region_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
            Ok((from.trim().to_string(), to.trim().to_string()))
        }
        _ => Err(format!(
            "expected FROM:TO, two regions (us-east-1:eu-west-1), not {text:?}"
        )),
    }
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
    #[command(flatten)]
    pub invocations: InvocationSelection,
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

#[derive(Debug, clap::Args)]
pub struct CompareConfig {
    #[command(flatten)]
    pub selection: Selection,
    /// The fraction of a duration that scales with CPU (0 to 1). Default: fitted per function
    /// from history at two or more memory sizes, else 0.5.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_bound_fraction: Option<f64>,
    /// The p95 duration (ms) a memory size must keep. Default: each function's observed p95.
    #[arg(long, allow_hyphen_values = true)]
    pub max_p95_ms: Option<f64>,
    /// The memory a size must leave above a function's peak memory used, as a fraction of that
    /// peak (0.1: 10 % more). A smaller size is never recommended: it would run out of memory.
    #[arg(long, default_value_t = DEFAULT_MEMORY_HEADROOM, allow_hyphen_values = true)]
    pub memory_headroom: f64,
    /// arm64 duration as a multiple of x86_64's (0.9: 10 % faster on arm64).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub arm_duration_factor: f64,
    /// Provisioned concurrency levels to price, per function.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 5])]
    pub provisioned: Vec<u32>,
    /// Size servers for this percentile of the per-minute peak concurrency (100: the peak).
    #[arg(long, default_value_t = 100.0, allow_hyphen_values = true)]
    pub percentile: f64,
    /// CPU utilization servers and tasks are sized for at that concurrency.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub target_utilization: f64,
    /// The fewest servers or tasks; the load still fits with one fewer.
    #[arg(long, default_value_t = 2)]
    pub redundancy: u32,
    /// Memory of each server kept for the OS, runtime and application (GiB).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub server_reserved_memory_gib: f64,
    /// Fargate task vCPU.
    #[arg(long, default_value_t = 0.25, allow_hyphen_values = true)]
    pub task_vcpu: f64,
    /// Fargate task memory (GB).
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub task_memory_gb: f64,
}

pub async fn run(data: &Path, pricing: Option<&Path>, command: CostCommand) -> anyhow::Result<()> {
    match command {
        CostCommand::Catalog(config) => {
            let store = config.from_store.then_some(data);
            super::print_rendered(
                &catalog_text(
                    pricing,
                    &config.copy_prices,
                    &config.lambda_functions,
                    store,
                )
                .await?,
            );
            Ok(())
        }
        CostCommand::Report(config) => {
            let (filter, window) = config.selection.invocations.options()?;
            let options = CostReportOptions {
                by: match config.by {
                    By::Function => SpendGrouping::Function,
                    By::Day => SpendGrouping::Day,
                    By::Month => SpendGrouping::Month,
                },
                filter,
                free_tier: config.selection.free_tier,
            };
            let (analyzer, (report, places)) = super::query::run_on_analyzer(
                data,
                pricing,
                config.selection.memory_limit_mb,
                Some(window),
                async |analyzer| {
                    let report = analyzer.cost_report(&options).await?;
                    // Spend by day or month has no rows of one function to tell apart.
                    let places = match options.by {
                        SpendGrouping::Function => analyzer.places(&options.filter).await?,
                        SpendGrouping::Day | SpendGrouping::Month => Places::default(),
                    };
                    Ok((report, places))
                },
            )
            .await?;
            print_report(&report, config.selection.format)?;
            super::report::warn_of_places(&places, false);
            let empty = super::report::no_rows(&report.sections, &["assumptions"]);
            super::report::explain_empty_report(&analyzer, &config.selection.invocations, empty)
                .await
        }
        CostCommand::Compare(config) => {
            let s = &config.selection;
            let (filter, window) = s.invocations.options()?;
            let options = CompareOptions {
                filter,
                free_tier: s.free_tier,
                cpu_bound_fraction: config.cpu_bound_fraction,
                max_p95_ms: config.max_p95_ms,
                memory_headroom: config.memory_headroom,
                arm_duration_factor: config.arm_duration_factor,
                provisioned: config.provisioned,
                percentile: config.percentile,
                target_utilization: config.target_utilization,
                redundancy: config.redundancy,
                server_reserved_memory_gib: config.server_reserved_memory_gib,
                task_vcpu: config.task_vcpu,
                task_memory_gb: config.task_memory_gb,
            };
            let (_, report) = super::query::run_on_analyzer(
                data,
                pricing,
                s.memory_limit_mb,
                Some(window),
                async |analyzer| Ok(analyzer.cost_compare(&options).await?),
            )
            .await?;
            print_report(&report, s.format)
        }
    }
}

/// The catalog `cost catalog` prints: the `--pricing` file's text (the built-in catalog's
/// without one), with the prices `copies` copy from one region to another, the functions listed
/// in `lambda_functions` and, with a `store`, what its invocations say of their functions added;
/// checked to load.
async fn catalog_text(
    pricing: Option<&Path>,
    copies: &[(String, String)],
    lambda_functions: &[PathBuf],
    store: Option<&Path>,
) -> anyhow::Result<String> {
    let mut text = match pricing {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the pricing catalog {}", path.display()))?,
        None => DEFAULT_CATALOG.to_string(),
    };
    if copies.is_empty() && lambda_functions.is_empty() && store.is_none() {
        return Ok(text);
    }
    let origin = pricing.map_or_else(|| "(built in)".into(), |p| p.display().to_string());
    let mut catalog = Catalog::parse(&text, &origin)?;
    for (from, to) in copies {
        text.push_str(
            &catalog
                .copy_prices_toml(from, to)
                .map_err(anyhow::Error::msg)?,
        );
        // The next copy, and the listed functions' regions, see this one.
        catalog = Catalog::parse(&text, &format!("{origin} with the copied prices"))?;
    }
    let mut listed = Vec::new();
    for path in lambda_functions {
        let (json, origin) = if path.as_os_str() == "-" {
            let mut json = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut json)
                .context("reading standard input")?;
            (json, "standard input".to_string())
        } else {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            (json, path.display().to_string())
        };
        listed.extend(
            function_configurations::from_lambda_list_functions(&json, &origin)
                .map_err(anyhow::Error::msg)?,
        );
    }
    if let Some(data) = store {
        let (_, (stated, unsaid, unpriced)) =
            super::query::run_on_analyzer(data, pricing, 2048, None, async |analyzer| {
                let (stated, unsaid) = analyzer.stated_places().await?;
                Ok((stated, unsaid, analyzer.unpriced_regions(&catalog).await?))
            })
            .await?;
        for (provider, region) in unpriced {
            eprintln!(
                "note: the store has invocations in {provider} {region}, which this catalog has \
                 no prices for: cost reports stop at them; where {region} charges what another \
                 region does, --copy-prices FROM:{region} copies that region's (us-east-1 for \
                 most AWS regions; check the provider's page)"
            );
        }
        listed.extend(stated);
        if !unsaid.is_empty() {
            eprintln!(
                "note: none of the invocations of {} say their region or architecture: list \
                 them with --lambda-functions, or by hand",
                unsaid.join(", ")
            );
        }
    }
    if lambda_functions.is_empty() && store.is_none() {
        return Ok(text);
    }
    let (functions, notes) = function_configurations::functions_toml(&listed, &catalog);
    for note in notes {
        eprintln!("note: {note}");
    }
    text.push_str(&functions);
    // A function the catalog lists already, in the same region, is refused here, naming it.
    Catalog::parse(&text, &format!("{origin} with the listed functions"))?;
    Ok(text)
}

/// Prints the report on standard output and its warnings on standard error.
fn print_report(report: &CostReport, format: Format) -> anyhow::Result<()> {
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    super::print_rendered(&render_report(&report.sections, output_format(format))?);
    Ok(())
}
