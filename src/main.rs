//! `faasobs`: observability and cost analysis for serverless functions.
//!
//! The binary is a thin clap front: each subcommand owns one config struct in [`commands`] and
//! calls into the library crates (`faasobs-collector`, `faasobs-analyzer`,
//! `faasobs-sample-traces`).

mod commands;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faasobs_analyzer::location::DataLocation;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Observability and cost analysis for serverless functions.
#[derive(Debug, Parser)]
#[command(name = "faasobs", version, about, long_about = None)]
struct Cli {
    /// The data directory (write-ahead log and Parquet files); reading commands also take
    /// s3://BUCKET/PREFIX.
    ///
    /// The reading commands (query, sql, report, summary, cost, tui --no-listen) also read a
    /// store's Parquet files on S3-compatible object storage, s3://BUCKET/PREFIX, configured by
    /// the AWS_* environment variables (see collect --parquet-store).
    #[arg(
        long,
        global = true,
        env = "FAASOBS_DATA",
        default_value = "faasobs-data"
    )]
    data: PathBuf,

    /// A pricing catalog (TOML) to use instead of the built-in one (`faasobs cost catalog` prints
    /// the built-in one to start from).
    #[arg(long, global = true, env = "FAASOBS_PRICING")]
    pricing: Option<PathBuf>,

    /// Log more (-v: debug, -vv: trace). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// The format of faasobs' own log on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FAASOBS_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the sample workload, send it through the OpenTelemetry SDK to a collector on
    /// loopback, store it, and print the summary report.
    Demo(commands::demo::DemoConfig),
    /// Receive OTLP (gRPC and HTTP), Lambda and CloudWatch logs and store them until interrupted
    /// (Ctrl-C or SIGTERM).
    Collect(commands::collect::CollectConfig),
    /// Import files (OTLP protobuf/JSON, Lambda text and JSON logs, CloudWatch payloads and
    /// exports, Powertools logs); with no files, the built-in sample workload.
    Ingest(commands::ingest::IngestConfig),
    /// Run one read-only SQL query over the invocations, spans and logs tables.
    Query(commands::query::QueryConfig),
    /// An interactive SQL shell (line editing, history, \dt, \d TABLE).
    Sql(commands::sql::SqlConfig),
    /// Reports: summary, coldstarts, errors, concurrency (`--format table|json|csv`).
    Report(commands::report::ReportConfig),
    /// Per function: invocations, errors, cold starts, duration percentiles, memory: the
    /// `report summary` table on its own (`--format json` gives an array of its rows).
    Summary(commands::report::SummaryConfig),
    /// Cost: spend from history (`report`), scenarios side by side with break-even volumes
    /// (`compare`), and the built-in pricing catalog (`catalog`).
    #[command(subcommand)]
    Cost(commands::cost::CostCommand),
    /// A live terminal dashboard: functions, cold starts, errors, concurrency and cost. Also
    /// receives, as `collect` does, unless --no-listen (its own log goes to DATA/faasobs-tui.log;
    /// none when it only views a directory that does not exist).
    Tui(commands::tui::TuiConfig),
    /// Replay the WAL, compact partitions (each hour's invocation fragments merged by request id)
    /// and apply retention, then exit.
    Compact(commands::compact::CompactConfig),
    /// Write a sample workload as input files (OTLP and Lambda logs) with a manifest.
    Gen(commands::generate::GenConfig),
    /// Benchmark ingest, logs, storage, queries and the dashboard against DuckDB and a
    /// decode-only loop; writes DIR/results.md (see docs/benchmarks.md). Use a release build.
    Bench(commands::bench::BenchConfig),
}

/// Where faasobs' own log goes.
enum LogTo {
    StandardError,
    /// The dashboard owns the terminal, so its log goes to a file, or nowhere when there is
    /// none: never over the screen.
    DashboardFile(Option<PathBuf>),
}

/// The dashboard's log file, `DATA/faasobs-tui.log`; none when it only views a data directory
/// that does not exist, which viewing does not create.
fn dashboard_log_file(data: &Path, config: &commands::tui::TuiConfig) -> Option<PathBuf> {
    let directory = DataLocation::parse(data).ok()?.directory()?.to_path_buf();
    (!config.no_listen || directory.is_dir()).then(|| directory.join("faasobs-tui.log"))
}

/// Refuses `--data` on object storage (or a URL faasobs does not read) for the commands that
/// write a local data directory, a receiving dashboard among them, before they create anything.
fn refuse_object_storage_for_writers(cli: &Cli) -> anyhow::Result<()> {
    let command = match &cli.command {
        Command::Demo(_) => "demo",
        Command::Collect(_) => "collect",
        Command::Ingest(_) => "ingest",
        Command::Compact(_) => "compact",
        Command::Tui(c) if !c.no_listen => "tui",
        _ => return Ok(()),
    };
    commands::refuse_object_storage(&DataLocation::parse(&cli.data)?, command)
}

/// Sets up faasobs' own log (see [`LogTo`]). A dashboard whose log file cannot be opened (a data
/// directory it may not write, say) writes no log rather than over its screen.
fn init_logging(verbose: u8, format: LogFormat, log: LogTo) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let open_dashboard_log = |path: &Path| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    // Colours only for a person at a terminal: not in a file, a pipe or a journal, nor when
    // NO_COLOR (no-color.org) asks for none.
    let colours = matches!(log, LogTo::StandardError)
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let writer = match log {
        LogTo::StandardError => BoxMakeWriter::new(std::io::stderr),
        LogTo::DashboardFile(path) => match path.as_deref().map(open_dashboard_log) {
            Some(Ok(file)) => BoxMakeWriter::new(std::sync::Mutex::new(file)),
            _ => BoxMakeWriter::new(std::io::sink),
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// An error and its causes on one line, each cause once: some errors (DataFusion's among them)
/// repeat their cause in their own message.
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match &cli.command {
        Command::Tui(tui) => LogTo::DashboardFile(dashboard_log_file(&cli.data, tui)),
        _ => LogTo::StandardError,
    };
    init_logging(cli.verbose, cli.log_format, log);
    let result = match refuse_object_storage_for_writers(&cli) {
        Err(refused) => Err(refused),
        Ok(()) => run(cli).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command `cli` names.
async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(c) => commands::demo::run(&cli.data, c).await,
        Command::Collect(c) => commands::collect::run(&cli.data, c).await,
        Command::Ingest(c) => commands::ingest::run(&cli.data, c).await,
        Command::Query(c) => {
            commands::until_stopped(commands::query::run(&cli.data, cli.pricing.as_deref(), c))
                .await
        }
        Command::Sql(c) => commands::sql::run(&cli.data, cli.pricing.as_deref(), c).await,
        Command::Report(c) => {
            commands::until_stopped(commands::report::run(&cli.data, cli.pricing.as_deref(), c))
                .await
        }
        Command::Cost(c) => {
            commands::until_stopped(commands::cost::run(&cli.data, cli.pricing.as_deref(), c)).await
        }
        Command::Summary(c) => {
            commands::until_stopped(commands::report::summary(
                &cli.data,
                cli.pricing.as_deref(),
                c,
            ))
            .await
        }
        Command::Tui(c) => commands::tui::run(&cli.data, cli.pricing.as_deref(), c).await,
        Command::Compact(c) => commands::compact::run(&cli.data, c).await,
        Command::Gen(c) => commands::generate::run(c),
        Command::Bench(c) => commands::bench::run(c).await,
    }
}
