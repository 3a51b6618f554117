//! `faasobs query` and `faasobs summary`: SQL over the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::Catalog;
use faasobs_analyzer::location::DataLocation;
use faasobs_analyzer::query::{OutputFormat, render, write_parquet};
use faasobs_analyzer::session::{AnalyzerConfig, TimeWindow};
use faasobs_collector::store::object_storage::{CONFIGURED_BY, remembered};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct QueryConfig {
    /// The SQL query (read-only: SELECT, EXPLAIN, SHOW, DESCRIBE).
    pub sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the result to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Memory a query may use, in MiB, before it fails cleanly.
    #[arg(long, default_value_t = 2048, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
}

/// The pricing catalog: the file given with `--pricing`, else the built-in one.
pub fn load_catalog(pricing: Option<&Path>) -> anyhow::Result<Arc<Catalog>> {
    Ok(Arc::new(match pricing {
        Some(path) => Catalog::load(path)?,
        None => Catalog::builtin(),
    }))
}

/// Opens the analyzer over `data` (a directory, or `s3://BUCKET/PREFIX`) with a pricing
/// catalog, a memory limit (MiB) and, for reports, a time window; says so on standard error when
/// `data` holds no rows at all.
pub async fn open_analyzer(
    data: &Path,
    pricing: Option<&Path>,
    memory_limit_mb: usize,
    window: Option<TimeWindow>,
) -> anyhow::Result<Analyzer> {
    let analyzer =
        open_analyzer_quietly(data, load_catalog(pricing)?, memory_limit_mb, window).await?;
    if analyzer.holds_nothing() {
        eprintln!("{}", empty_store_note(analyzer.location()));
    }
    Ok(analyzer)
}

/// [`open_analyzer`] with the pricing catalog loaded, and nothing said of an empty store (for
/// opening it again, as the SQL shell does before a statement).
pub async fn open_analyzer_quietly(
    data: &Path,
    catalog: Arc<Catalog>,
    memory_limit_mb: usize,
    window: Option<TimeWindow>,
) -> anyhow::Result<Analyzer> {
    let location = DataLocation::parse(data)?;
    Analyzer::open(
        location.clone(),
        AnalyzerConfig {
            memory_limit_bytes: memory_limit_mb * 1024 * 1024,
            window,
            catalog,
            ..Default::default()
        },
    )
    .await
    .with_context(|| {
        // A directory may keep its Parquet files in a bucket too.
        let in_bucket = match &location {
            DataLocation::Directory(dir) => remembered(dir).is_ok_and(|url| url.is_some()),
            DataLocation::ObjectStore(_) => true,
        };
        match in_bucket {
            true => format!("opening {location} ({CONFIGURED_BY})"),
            false => format!("opening {location}"),
        }
    })
}

/// What a reading command says of a store without any rows (a first run, or a `--data` that
/// names the wrong folder or prefix): its tables are empty, not missing.
pub fn empty_store_note(data: &DataLocation) -> String {
    match data {
        DataLocation::Directory(dir) => {
            let state = if dir.exists() {
                "holds no data yet"
            } else {
                "does not exist (reading does not create it)"
            };
            format!(
                "note: {} {state}; `faasobs demo`, `faasobs ingest FILES` or `faasobs collect` \
                 store some there",
                dir.display()
            )
        }
        DataLocation::ObjectStore(_) => format!(
            "note: {data} holds no faasobs files (none under invocations/, spans/, logs/ or \
             resources/); a collector keeps its Parquet files there with `collect \
             --parquet-store {data}`, or copy a data directory's files there"
        ),
    }
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: QueryConfig) -> anyhow::Result<()> {
    let analyzer = open_analyzer(data, pricing, config.memory_limit_mb, None).await?;
    let (schema, batches) = analyzer.query_with_schema(&config.sql).await?;
    let format = match config.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Ndjson => OutputFormat::Ndjson,
        Format::Parquet => {
            let Some(path) = &config.output else {
                anyhow::bail!("--format parquet writes a file: give it with --output FILE");
            };
            write_parquet(path, schema, &batches)
                .with_context(|| format!("writing {}", path.display()))?;
            say_written(path, &batches);
            return Ok(());
        }
    };
    let text = render(&batches, format)?;
    match config.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            say_written(&path, &batches);
        }
        None => super::print_rendered(&text),
    }
    Ok(())
}

/// Says on standard error how many rows went to `--output` (standard output stays empty).
fn say_written(path: &Path, batches: &[arrow::record_batch::RecordBatch]) {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    eprintln!("wrote {rows} rows to {}", path.display());
}
