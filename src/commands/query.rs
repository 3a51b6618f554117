//! `faasobs query` and `faasobs summary`: SQL over the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::Catalog;
use faasobs_analyzer::listed_objects::is_listing_outdated;
use faasobs_analyzer::location::DataLocation;
use faasobs_analyzer::query::{
    DEFAULT_TABLE_ROWS, OutputFormat, ResultWriter, first_rows, render, write_parquet_stream,
};
use faasobs_analyzer::session::{AnalyzerConfig, AnalyzerError, TimeWindow};
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
    /// The rows a table shows at most (0: all); the rest are counted and said. The other
    /// formats write every row, a batch at a time.
    #[arg(long, default_value_t = DEFAULT_TABLE_ROWS)]
    pub max_rows: usize,
}

/// The pricing catalog: the file given with `--pricing`, else the built-in one.
pub fn load_catalog(pricing: Option<&Path>) -> anyhow::Result<Arc<Catalog>> {
    Ok(Arc::new(match pricing {
        Some(path) => Catalog::load(path)?,
        None => Catalog::builtin(),
    }))
}

/// Openings of the store a command makes at most for one query whose files changed after they
/// were listed ([`run_on_analyzer`]).
const OPENINGS: usize = 3;

/// True when `error` came from reading a file that changed after the store was listed: the
/// query runs again on a new listing.
fn listing_outdated(error: &anyhow::Error) -> bool {
    error.chain().any(is_listing_outdated)
}

/// What to do, said before the error, when `error` is a query's over the memory limit of
/// `memory_limit_mb` MiB (what could not spill): DataFusion's message names its operators and
/// their bytes, not the flag.
pub fn memory_limit_hint(error: &anyhow::Error, memory_limit_mb: usize) -> Option<String> {
    error
        .downcast_ref::<AnalyzerError>()
        .is_some_and(AnalyzerError::is_over_memory_limit)
        .then(|| {
            format!(
                "the query needs more memory than its limit of {memory_limit_mb} MiB: give it \
                 more with --memory-limit-mb, or ask for less (a narrower --since/--until or \
                 WHERE, fewer groups)"
            )
        })
}

/// Opens the analyzer over `data` (a directory, or `s3://BUCKET/PREFIX`) with a pricing
/// catalog, a memory limit (MiB) and, for reports, a time window (saying so on standard error
/// when `data` holds no rows at all), and runs `work` on it; returns the analyzer with what
/// `work` answered. When a file the opening listed has changed by the time `work` reads it (a
/// closing store, the end of `collect`, an import or `compact`, deletes the files its compaction
/// replaced at once; an hour's lone file is rewritten in place), the store is opened again and
/// `work` run again, up to [`OPENINGS`] openings in all. A query over its memory limit fails
/// saying first what to do ([`memory_limit_hint`]).
pub async fn run_on_analyzer<T>(
    data: &Path,
    pricing: Option<&Path>,
    memory_limit_mb: usize,
    window: Option<TimeWindow>,
    work: impl AsyncFn(&Analyzer) -> anyhow::Result<T>,
) -> anyhow::Result<(Analyzer, T)> {
    let catalog = load_catalog(pricing)?;
    let reopen =
        async || open_analyzer_quietly(data, catalog.clone(), memory_limit_mb, window).await;
    let mut analyzer = reopen().await?;
    if analyzer.holds_nothing() {
        eprintln!("{}", empty_store_note(analyzer.location()));
    }
    match on_current_listing(&mut analyzer, reopen, work).await {
        Ok(answer) => Ok((analyzer, answer)),
        Err(e) => Err(match memory_limit_hint(&e, memory_limit_mb) {
            Some(hint) => e.context(hint),
            None => e,
        }),
    }
}

/// Runs `work` on `analyzer`, and again on a new opening of the store (`reopen`, which becomes
/// `analyzer`) when a file the opening listed changed before `work` read it, up to [`OPENINGS`]
/// openings in all.
pub async fn on_current_listing<T>(
    analyzer: &mut Analyzer,
    mut reopen: impl AsyncFnMut() -> anyhow::Result<Analyzer>,
    work: impl AsyncFn(&Analyzer) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut openings = 1;
    loop {
        match work(analyzer).await {
            Err(e) if openings < OPENINGS && listing_outdated(&e) => {
                tracing::info!("{e:#}; listing the store again");
                *analyzer = reopen().await?;
                openings += 1;
            }
            answered => return answered,
        }
    }
}

/// Opens the analyzer with the pricing catalog loaded, and nothing said of an empty store (for
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
    if matches!(config.format, Format::Parquet) && config.output.is_none() {
        anyhow::bail!("--format parquet writes a file: give it with --output FILE");
    }
    run_on_analyzer(
        data,
        pricing,
        config.memory_limit_mb,
        None,
        async |analyzer| write_result(analyzer, &config).await,
    )
    .await?;
    Ok(())
}

/// Runs the query of `config` and writes its result where and as `config` says, a batch at a
/// time: only a table holds its rows, and at most `--max-rows` of them.
async fn write_result(analyzer: &Analyzer, config: &QueryConfig) -> anyhow::Result<()> {
    let stream = analyzer.query_stream(&config.sql).await?;
    let format = match config.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Ndjson => OutputFormat::Ndjson,
        Format::Parquet => {
            let path = config.output.as_deref().expect("checked before the query");
            let partial = partial_path(path);
            let written = write_parquet_stream(&partial, stream).await;
            let rows = into_place(&partial, path, written.map_err(Into::into))?;
            say_written(path, rows);
            return Ok(());
        }
    };
    if format == OutputFormat::Table {
        let limit = (config.max_rows > 0).then_some(config.max_rows);
        let first = first_rows(stream, limit).await?;
        let text = render(&first.batches, OutputFormat::Table)?;
        match &config.output {
            Some(path) => {
                let partial = partial_path(path);
                let written = std::fs::write(&partial, text).map_err(anyhow::Error::from);
                into_place(&partial, path, written)?;
                say_written(path, first.shown());
            }
            None => super::print_rendered(&text),
        }
        if first.total > first.shown() {
            eprintln!(
                "showing the first {} of {} rows: --max-rows N shows more (0: all), and \
                 --format csv, ndjson or parquet writes them all",
                first.shown(),
                first.total
            );
        }
        return Ok(());
    }
    match &config.output {
        Some(path) => {
            let partial = partial_path(path);
            let written = async {
                let file = std::fs::File::create(&partial)?;
                let writer = ResultWriter::new(format, std::io::BufWriter::new(file))
                    .expect("a table returned above");
                let (rows, mut file) = writer.write_stream(stream).await?;
                std::io::Write::flush(&mut file)?;
                anyhow::Ok(rows)
            }
            .await;
            let rows = into_place(&partial, path, written)?;
            say_written(path, rows);
        }
        None => {
            let (out, printed) = super::StandardOutput::new();
            let writer = ResultWriter::new(format, out).expect("a table returned above");
            match writer.write_stream(stream).await {
                Ok((_, out)) => out.end_line(),
                // `| head` read what it wanted.
                Err(_) if printed.reader_gone() => {}
                // A run again would print its rows twice.
                Err(e) if printed.bytes() > 0 => anyhow::bail!(
                    "{e:#}; the result was cut short after {} bytes of it were printed: run the \
                     query again",
                    printed.bytes()
                ),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Where `--output PATH` is written before it is whole: beside it, hidden, so that a query
/// that fails part way (or runs again on a new listing) leaves no half-written file under its
/// name, and an earlier file of that name stays until the new one replaces it.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Renames the `partial` output into place when it was `written`, else removes it.
fn into_place<T>(partial: &Path, path: &Path, written: anyhow::Result<T>) -> anyhow::Result<T> {
    let placed = written.and_then(|answer| {
        std::fs::rename(partial, path)?;
        Ok(answer)
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(partial);
    }
    placed.with_context(|| format!("writing {}", path.display()))
}

/// Says on standard error how many rows went to `--output` (standard output stays empty).
fn say_written(path: &Path, rows: usize) {
    eprintln!("wrote {rows} rows to {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasobs_analyzer::listed_objects::ListingOutdated;
    use faasobs_collector::model::{LogRecord, Records, Table};
    use faasobs_collector::store::flush::flush_records;
    use faasobs_collector::store::layout::{Partition, SegmentRange};
    use faasobs_collector::store::local_objects;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A query one of whose listed files a closing store deleted before the query read it runs
    /// again on a new listing and answers for the files there are; a query that fails otherwise
    /// runs once; one whose files keep changing gives up after `OPENINGS` openings.
    #[tokio::test]
    async fn a_query_whose_files_changed_after_the_listing_runs_again_on_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        for (segment, lines) in [(1, 3), (2, 4)] {
            let line = LogRecord {
                body: Some("line".into()),
                function_name: Some("fn".into()),
                ..Default::default()
            };
            let records = Records {
                logs: vec![line; lines],
                ..Default::default()
            };
            flush_records(&objects, segment, records.to_batches(), 1)
                .await
                .unwrap();
        }
        let first = Partition::of(Table::Logs, 0).file(SegmentRange::single(1));
        // Reads the rows, not only the footers' row counts.
        let count = "SELECT count(*) AS n FROM logs WHERE body LIKE 'line%'";
        let runs = AtomicUsize::new(0);
        let run = async |work: &dyn Fn(usize) -> Option<anyhow::Error>, sql: &str| {
            runs.store(0, Ordering::Relaxed);
            let answered = run_on_analyzer(dir.path(), None, 256, None, async |analyzer| {
                if let Some(error) = work(runs.fetch_add(1, Ordering::Relaxed)) {
                    return Err(error);
                }
                if runs.load(Ordering::Relaxed) == 1 {
                    objects.delete_all([&first]).await?;
                }
                let rows = analyzer.query(sql).await?;
                Ok(render(&rows, OutputFormat::Csv)?)
            })
            .await
            .map(|(_, answer)| answer);
            (answered, runs.load(Ordering::Relaxed))
        };

        let (answered, runs_made) = run(&|_| None, count).await;
        assert_eq!((answered.unwrap(), runs_made), ("n\n4\n".to_string(), 2));

        let (answered, runs_made) = run(&|_| None, "SELECT nothing FROM logs").await;
        assert!(answered.is_err());
        assert_eq!(runs_made, 1);

        let always_outdated = |_| {
            Some(anyhow::Error::new(ListingOutdated {
                location: first.clone(),
            }))
        };
        let (answered, runs_made) = run(&always_outdated, count).await;
        assert!(listing_outdated(&answered.unwrap_err()));
        assert_eq!(runs_made, OPENINGS);
    }
}
