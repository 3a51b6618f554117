//! `faasobs report`: the built-in reports on cold starts, errors, concurrency and a summary.

use std::path::Path;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::query::{OutputFormat, nearest_name, render, text_column};
use faasobs_analyzer::reports::{
    ALL_FUNCTIONS, FunctionPlaces, Places, ReportKind, ReportOptions, Section, parse_time_bound,
    render_report,
};
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
    #[arg(long, value_parser = parse_step)]
    pub step: Option<Duration>,
    /// Concurrency limit for headroom (AWS's default account limit is 1000).
    #[arg(long, default_value_t = 1000, value_parser = parse_limit, allow_hyphen_values = true)]
    pub limit: i64,
    #[command(flatten)]
    pub output: ReportOutput,
}

/// How a report is computed and printed: `report` and `summary` alike.
#[derive(Debug, clap::Args)]
pub struct ReportOutput {
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

/// `faasobs summary`: the summary report on its own, without its section's name: a table, CSV,
/// or a JSON array of its rows.
#[derive(Debug, clap::Args)]
pub struct SummaryConfig {
    #[command(flatten)]
    pub selection: InvocationSelection,
    #[command(flatten)]
    pub output: ReportOutput,
}

impl SummaryConfig {
    /// The whole history as a table, as `faasobs summary` prints it without options.
    pub fn whole_history() -> SummaryConfig {
        SummaryConfig {
            selection: InvocationSelection::default(),
            output: ReportOutput {
                approximate: false,
                format: Format::Table,
                memory_limit_mb: 2048,
            },
        }
    }
}

/// Which invocations a report covers: `--function`, `--region`, `--account`, `--since`, `--until`
/// (reports and `cost`).
#[derive(Debug, Default, clap::Args)]
pub struct InvocationSelection {
    /// Only this function.
    #[arg(long)]
    pub function: Option<String>,
    /// Only invocations that say they ran in this region (`cloud.region`). Invocations whose
    /// sources do not say it (Lambda text logs alone, CloudWatch payloads) are left out.
    #[arg(long)]
    pub region: Option<String>,
    /// Only invocations that say they ran in this account (`cloud.account.id`, a CloudWatch
    /// payload's owner). Invocations whose sources do not say it (Lambda text logs alone) are
    /// left out.
    #[arg(long)]
    pub account: Option<String>,
    /// Invocations that started at or after this time: RFC 3339, a date or date and time in UTC
    /// (2026-11-23, 2026-11-23 09:30), or a duration ago (1h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Invocations that started before this time: RFC 3339, a date or date and time in UTC
    /// (2026-11-23, 2026-11-23 09:30), or a duration ago (1h, 7d).
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
            region: self.region.clone(),
            account: self.account.clone(),
            since,
            until,
            ..Default::default()
        };
        Ok((options, TimeWindow { since, until }))
    }
}

/// Parses `--step`: a duration, not zero.
fn parse_step(text: &str) -> Result<Duration, String> {
    super::parse_nonzero_duration(
        text,
        "a step of 0 makes no time buckets: give their width (e.g. 1m, 1h)",
    )
}

/// Parses `--limit`: a concurrency limit, at least 1.
fn parse_limit(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(limit) if limit >= 1 => Ok(limit),
        _ => Err(format!(
            "{text:?} is no concurrency limit: give a whole number of at least 1 (AWS's default account limit is 1000)"
        )),
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
        approximate: config.output.approximate,
        ..selected
    };
    let kind = match config.kind {
        Kind::Summary => ReportKind::Summary,
        Kind::Coldstarts => ReportKind::Coldstarts,
        Kind::Errors => ReportKind::Errors,
        Kind::Concurrency => ReportKind::Concurrency,
    };
    let format = output_format(config.output.format);
    let (analyzer, (sections, places)) = super::query::run_on_analyzer(
        data,
        pricing,
        config.output.memory_limit_mb,
        Some(window),
        async |analyzer| report_and_places(analyzer, kind, &options).await,
    )
    .await?;
    super::print_rendered(&render_report(&sections, format)?);
    // The concurrency report adds an account-wide row unless it is of one function.
    let account_wide = kind == ReportKind::Concurrency && options.function.is_none();
    warn_of_places(&places, account_wide);
    if kind == ReportKind::Coldstarts {
        note_inferred_cold_starts(&sections)?;
    }
    explain_empty_report(&analyzer, &config.selection, no_rows(&sections, &[])).await
}

/// `faasobs summary` (and the demo's last table): the summary report's rows alone.
pub async fn summary(
    data: &Path,
    pricing: Option<&Path>,
    config: SummaryConfig,
) -> anyhow::Result<()> {
    let (selected, window) = config.selection.options()?;
    let options = ReportOptions {
        approximate: config.output.approximate,
        ..selected
    };
    let (analyzer, (sections, places)) = super::query::run_on_analyzer(
        data,
        pricing,
        config.output.memory_limit_mb,
        Some(window),
        async |analyzer| report_and_places(analyzer, ReportKind::Summary, &options).await,
    )
    .await?;
    let rows = sections.iter().flat_map(|s| s.batches.iter().cloned());
    let batches: Vec<_> = rows.collect();
    super::print_rendered(&render(&batches, output_format(config.output.format))?);
    warn_of_places(&places, false);
    explain_empty_report(&analyzer, &config.selection, no_rows(&sections, &[])).await
}

/// A report and the regions and accounts its functions ran in (for [`warn_of_places`]).
async fn report_and_places(
    analyzer: &Analyzer,
    kind: ReportKind,
    options: &ReportOptions,
) -> anyhow::Result<(Vec<Section>, Places)> {
    let sections = analyzer.report(kind, options).await?;
    Ok((sections, analyzer.places(options).await?))
}

/// How many function names a note lists before it says how many more there are.
const NAMES_LISTED: usize = 12;

/// Says on standard error which function names' rows add up invocations of more than one region
/// or account, and, for a report with account-wide rows (`account_wide`), when the whole
/// selection does: Lambda's concurrency limit is per account and region.
pub fn warn_of_places(places: &Places, account_wide: bool) {
    for warning in place_warnings(places, account_wide) {
        eprintln!("warning: {warning}");
    }
}

fn place_warnings(places: &Places, account_wide: bool) -> Vec<String> {
    let several: Vec<(&str, &FunctionPlaces)> = places.functions_in_several().collect();
    let mut warnings: Vec<String> = several
        .iter()
        .take(NAMES_LISTED)
        .map(|(name, places)| {
            format!(
                "{name} ran in {}: its rows add them together; {} one",
                places.describe(),
                flags_that_pick(places)
            )
        })
        .collect();
    if several.len() > NAMES_LISTED {
        warnings.push(format!(
            "and {} more functions ran in more than one region or account",
            several.len() - NAMES_LISTED
        ));
    }
    let all = places.all();
    if account_wide && all.several() {
        warnings.push(format!(
            "the {ALL_FUNCTIONS} rows add up invocations of {}, while Lambda's concurrency limit \
             is per account and region; {} one",
            all.describe(),
            flags_that_pick(&all)
        ));
    }
    warnings
}

/// The flags that select one of the places that differ.
fn flags_that_pick(places: &FunctionPlaces) -> &'static str {
    match (places.regions.len() > 1, places.accounts.len() > 1) {
        (true, true) => "--region and --account pick",
        (true, false) => "--region picks",
        _ => "--account picks",
    }
}

/// Says on standard error how many of the cold starts of a `coldstarts` report are inferred
/// (the first invocation received of an instance, for invocations no source said anything of),
/// since head sampling makes that guess count an instance's first sampled invocation.
fn note_inferred_cold_starts(sections: &[Section]) -> anyhow::Result<()> {
    let Some(by_function) = sections.iter().find(|s| s.name == "by_function") else {
        return Ok(());
    };
    let total = |column: &str| -> anyhow::Result<i64> {
        let mut sum = 0;
        for batch in &by_function.batches {
            let Some(values) = batch.column_by_name(column) else {
                continue;
            };
            let values = arrow::compute::cast(values, &arrow::datatypes::DataType::Int64)?;
            sum += arrow::compute::sum(values.as_primitive::<Int64Type>()).unwrap_or(0);
        }
        Ok(sum)
    };
    let (cold, inferred) = (total("cold_starts")?, total("inferred_cold_starts")?);
    if inferred > 0 {
        eprintln!(
            "note: {inferred} of {cold} cold starts are inferred: no source said whether those \
             invocations were cold, so each instance's first invocation received counts (with \
             head sampling, its first sampled one); `faas.coldstart` or the platform's logs \
             give evidence"
        );
    }
    Ok(())
}

/// Whether the sections have no rows, leaving out those named in `besides` (a cost report's
/// assumptions, which it always lists).
pub fn no_rows(sections: &[Section], besides: &[&str]) -> bool {
    sections
        .iter()
        .filter(|s| !besides.contains(&s.name))
        .all(|s| s.batches.iter().all(|b| b.num_rows() == 0))
}

/// Says on standard error why a report of `selection` came out `empty`: no function of that
/// name (with the nearest name and those there are), or no invocations in the window. A data
/// directory without any rows was already said to be empty when it was opened.
pub async fn explain_empty_report(
    analyzer: &Analyzer,
    selection: &InvocationSelection,
    empty: bool,
) -> anyhow::Result<()> {
    if !empty || analyzer.holds_nothing() {
        return Ok(());
    }
    let window = match (&selection.since, &selection.until) {
        (Some(since), Some(until)) => format!(" in the window --since {since} --until {until}"),
        (Some(since), None) => format!(" in the window --since {since}"),
        (None, Some(until)) => format!(" in the window --until {until}"),
        (None, None) => String::new(),
    };
    let place = match (&selection.region, &selection.account) {
        (Some(region), Some(account)) => format!(" in region {region} of account {account}"),
        (Some(region), None) => format!(" in region {region}"),
        (None, Some(account)) => format!(" of account {account}"),
        (None, None) => String::new(),
    };
    // The functions with invocations in the window's partitions (all of them without a window).
    let names = stored_function_names(analyzer).await?;
    let note = match &selection.function {
        Some(function) if !names.is_empty() && !names.contains(function) => {
            let had = if window.is_empty() {
                " stored".to_string()
            } else {
                window.clone()
            };
            let nearest = nearest_name(function, &names)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            format!(
                "no function named \"{function}\" has invocations{had}{nearest}; the \
                 functions that do are: {}",
                listed(&names)
            )
        }
        Some(function) => format!("no invocations of \"{function}\"{place} started{window}"),
        None => format!("no invocations{place} started{window}"),
    };
    // The regions and accounts stored, read once from the fragments when a place was given.
    let stored = if selection.region.is_some() || selection.account.is_some() {
        analyzer.places(&ReportOptions::default()).await?.all()
    } else {
        FunctionPlaces::default()
    };
    let mut stored_places = Vec::new();
    for (kind, values, given) in [
        ("region", &stored.regions, &selection.region),
        ("account", &stored.accounts, &selection.account),
    ] {
        if given.is_some() {
            let values: Vec<String> = values.iter().cloned().collect();
            stored_places.push(if values.is_empty() {
                format!("no stored invocation says its {kind}")
            } else {
                format!("the {kind}s stored are: {}", listed(&values))
            });
        }
    }
    if stored_places.is_empty() {
        eprintln!("note: {note}");
    } else {
        eprintln!("note: {note}; {}", stored_places.join("; "));
    }
    Ok(())
}

/// The first [`NAMES_LISTED`] of `names`, and how many more there are.
fn listed(names: &[String]) -> String {
    let mut listed = names
        .iter()
        .take(NAMES_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_LISTED {
        listed.push_str(&format!(", and {} more", names.len() - NAMES_LISTED));
    }
    listed
}

/// The names of the functions with invocations the analyzer reads, sorted.
async fn stored_function_names(analyzer: &Analyzer) -> anyhow::Result<Vec<String>> {
    let batches = analyzer
        .query("SELECT DISTINCT function_name FROM invocations ORDER BY function_name")
        .await?;
    let mut names = Vec::new();
    for batch in &batches {
        let column = text_column(batch.column(0))?;
        names.extend(column.iter().flatten().map(String::from));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_warned_of_per_function_and_for_the_account_wide_rows() {
        let mut places = Places::default();
        places.add("api", Some("us-east-1"), None);
        places.add("api", Some("eu-west-1"), Some("111111111111"));
        places.add("api", None, Some("111111111111"));
        places.add("worker", Some("us-east-1"), Some("111111111111"));
        places.add("worker", Some("us-east-1"), Some("222222222222"));
        places.add("cron", Some("us-east-1"), Some("111111111111"));
        places.add("cron", None, None);
        assert_eq!(
            place_warnings(&places, true),
            [
                "api ran in 2 regions (eu-west-1, us-east-1): its rows add them together; \
                 --region picks one",
                "worker ran in 2 accounts (111111111111, 222222222222): its rows add them \
                 together; --account picks one",
                "the (all) rows add up invocations of 2 regions (eu-west-1, us-east-1) and 2 \
                 accounts (111111111111, 222222222222), while Lambda's concurrency limit is per \
                 account and region; --region and --account pick one",
            ]
        );
        assert_eq!(place_warnings(&places, false).len(), 2);

        // One place each, however many functions: nothing to say.
        let mut one_place = Places::default();
        for function in ["a", "b"] {
            one_place.add(function, Some("us-east-1"), Some("111111111111"));
            one_place.add(function, None, None);
        }
        assert!(place_warnings(&one_place, true).is_empty());

        // Past NAMES_LISTED functions, how many more.
        let mut many = Places::default();
        for i in 0..NAMES_LISTED + 3 {
            for region in ["us-east-1", "us-west-2"] {
                many.add(&format!("f{i:02}"), Some(region), None);
            }
        }
        let warnings = place_warnings(&many, false);
        assert_eq!(warnings.len(), NAMES_LISTED + 1);
        assert_eq!(
            warnings.last().unwrap(),
            "and 3 more functions ran in more than one region or account"
        );
    }
}
