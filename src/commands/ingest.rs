//! `faasobs ingest`: import files into the store.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use faasobs_collector::ingest::{
    CHUNK_BYTES, FileIngest, IngestError, InputFormat, Rejection, ingest_bytes,
    ingest_file_in_chunks,
};
use faasobs_collector::model::Records;
use faasobs_collector::store::{EncodedRows, Store, StoreConfig, StoreError, StoreHandle};
use faasobs_sample_traces::output::render_files;
use faasobs_sample_traces::workload::SAMPLE_SEED;
use faasobs_sample_traces::{Workload, simulate};

/// Records are stored in writes of at most this many.
const WRITE_CHUNK: usize = 20_000;

#[derive(Debug, clap::Args)]
pub struct IngestConfig {
    /// Files or folders (read recursively) to import; `-` reads standard input. With none, the
    /// built-in sample workload is imported.
    pub files: Vec<PathBuf>,
    /// The function a Lambda text log belongs to (default: the name of the file's folder).
    #[arg(long)]
    pub function: Option<String>,
}

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("reading folder {}", dir.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("reading folder {}", dir.display()))?;
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n != "manifest.json") {
                    files.push(p);
                }
            }
        }
    }
    Ok(files)
}

/// Tallies what an import read, for the closing summary.
#[derive(Default)]
struct Tally {
    by_format: BTreeMap<InputFormat, (usize, usize)>,
    rejected: Vec<String>,
    failed: Vec<String>,
    stored: usize,
}

pub(crate) async fn store_records(store: &StoreHandle, records: Records) -> anyhow::Result<usize> {
    let total = records.len();
    for chunk in in_chunks(records) {
        store.write(&chunk).await?;
    }
    Ok(total)
}

/// `records` as writes of at most [`WRITE_CHUNK`] rows of one table each, the rows moved into
/// each chunk as it is taken (they used to be copied, strings and attributes included).
fn in_chunks(records: Records) -> impl Iterator<Item = Records> {
    let Records {
        invocations,
        spans,
        logs,
    } = records;
    chunks_of(invocations, |invocations| Records {
        invocations,
        ..Default::default()
    })
    .chain(chunks_of(spans, |spans| Records {
        spans,
        ..Default::default()
    }))
    .chain(chunks_of(logs, |logs| Records {
        logs,
        ..Default::default()
    }))
}

fn chunks_of<T>(
    rows: Vec<T>,
    records: impl Fn(Vec<T>) -> Records,
) -> impl Iterator<Item = Records> {
    let mut rows = rows.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<T> = rows.by_ref().take(WRITE_CHUNK).collect();
        (!chunk.is_empty()).then(|| records(chunk))
    })
}

/// A piece of an input, normalized and encoded for the WAL.
struct EncodedPiece {
    format: InputFormat,
    rows: usize,
    writes: Vec<EncodedRows>,
    rejected: Vec<Rejection>,
}

impl EncodedPiece {
    fn of(file: FileIngest) -> Result<EncodedPiece, StoreError> {
        Ok(EncodedPiece {
            format: file.format,
            rows: file.records.len(),
            // Each chunk's records are freed as soon as it is encoded.
            writes: in_chunks(file.records)
                .map(|chunk| StoreHandle::encode_rows(&chunk))
                .collect::<Result<_, _>>()?,
            rejected: file.rejected,
        })
    }
}

impl Tally {
    async fn take(
        &mut self,
        name: &str,
        result: Result<EncodedPiece, String>,
        first_piece_of_file: bool,
        store: &StoreHandle,
    ) -> anyhow::Result<()> {
        match result {
            Ok(piece) => {
                let entry = self.by_format.entry(piece.format).or_default();
                entry.0 += usize::from(first_piece_of_file);
                entry.1 += piece.rows;
                for r in &piece.rejected {
                    self.rejected
                        .push(format!("{name}:{}: {}", r.line, r.reason));
                }
                for rows in piece.writes {
                    store
                        .write_encoded(rows)
                        .await
                        .with_context(|| format!("storing {name}"))?;
                }
                self.stored += piece.rows;
            }
            Err(e) => self.failed.push(e),
        }
        Ok(())
    }
}

/// A normalized piece encoded for the WAL, or why it could not be read. Encoding happens on the
/// reading thread, which made the records and so frees them best.
fn encoded(
    result: Result<FileIngest, IngestError>,
) -> anyhow::Result<Result<EncodedPiece, String>> {
    match result {
        Ok(file) => Ok(Ok(EncodedPiece::of(file).context("encoding for the WAL")?)),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// How many normalized pieces the reading thread may hold ready beyond the one being stored: one,
/// so an import holds at most three pieces (being read, ready, being stored).
const READ_AHEAD_PIECES: usize = 1;

/// What the reading thread hands to the storing task.
enum ReadStep {
    /// A file, or a piece of a large one, normalized and encoded.
    Piece {
        name: String,
        result: Result<EncodedPiece, String>,
        first_piece_of_file: bool,
    },
    /// A file was read to its end (its size, for the progress bar).
    FileDone { bytes: u64 },
}

/// Reads and normalizes `files` in order, sending each piece to `pieces`; stops early, without
/// error, when the storing side has gone (it failed and reports why).
fn read_files(
    files: &[PathBuf],
    function: Option<&str>,
    pieces: &tokio::sync::mpsc::Sender<ReadStep>,
) -> anyhow::Result<()> {
    for file in files {
        let send = |name: &str, result, first_piece_of_file| -> anyhow::Result<bool> {
            Ok(pieces
                .blocking_send(ReadStep::Piece {
                    name: name.to_string(),
                    result: encoded(result)?,
                    first_piece_of_file,
                })
                .is_ok())
        };
        if file.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            if !send("<stdin>", ingest_bytes(&bytes, function, None), true)? {
                return Ok(());
            }
            continue;
        }
        let name = file.display().to_string();
        // Large NDJSON files come in pieces, each normalized while the one before is stored.
        match ingest_file_in_chunks(file, function, CHUNK_BYTES) {
            Ok(read) => {
                for (n, piece) in read.enumerate() {
                    if !send(&name, piece, n == 0)? {
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                if !send(&name, Err(e), true)? {
                    return Ok(());
                }
            }
        }
        let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        if pieces.blocking_send(ReadStep::FileDone { bytes }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

pub async fn run(data: &Path, config: IngestConfig) -> anyhow::Result<()> {
    let store = Store::open(StoreConfig::new(data))
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let handle = store.handle();
    let mut tally = Tally::default();
    if config.files.is_empty() {
        eprintln!("no files given: importing the built-in sample workload (seed {SAMPLE_SEED})");
        let workload = Workload::sample(SAMPLE_SEED);
        for (path, bytes) in render_files(&workload, &simulate(&workload)) {
            let function = path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let stream = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let result = ingest_bytes(
                &bytes,
                config.function.as_deref().or(function.as_deref()),
                stream,
            );
            tally
                .take(&path.display().to_string(), encoded(result)?, true, &handle)
                .await?;
        }
    } else {
        let files = expand(&config.files)?;
        let total_bytes: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        // Drawn on standard error, and only when it is a terminal.
        let progress = indicatif::ProgressBar::new(total_bytes).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .expect("a valid progress template"),
        );
        // A thread reads and normalizes the inputs while this task stores what it read before,
        // so parsing and the WAL's encoding and syncing use both cores.
        let (pieces, mut read) = tokio::sync::mpsc::channel(READ_AHEAD_PIECES);
        let function = config.function.clone();
        let reader = std::thread::Builder::new()
            .name("ingest-reader".into())
            .spawn(move || read_files(&files, function.as_deref(), &pieces))
            .context("starting the reading thread")?;
        while let Some(step) = read.recv().await {
            match step {
                ReadStep::Piece {
                    name,
                    result,
                    first_piece_of_file,
                } => {
                    if first_piece_of_file {
                        progress.set_message(name.clone());
                    }
                    tally
                        .take(&name, result, first_piece_of_file, &handle)
                        .await?;
                }
                ReadStep::FileDone { bytes } => progress.inc(bytes),
            }
        }
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reading thread panicked"))??;
        progress.finish_and_clear();
    }
    drop(handle);
    store.close().await.context("flushing the store")?;
    for (format, (files, records)) in &tally.by_format {
        println!(
            "{:<32} {files:>6} files {records:>10} records",
            format.name()
        );
    }
    println!("stored {} records in {}", tally.stored, data.display());
    if !tally.rejected.is_empty() {
        println!("{} lines rejected:", tally.rejected.len());
        for r in tally.rejected.iter().take(50) {
            println!("  {r}");
        }
        if tally.rejected.len() > 50 {
            println!("  ... and {} more", tally.rejected.len() - 50);
        }
    }
    if !tally.failed.is_empty() {
        for f in &tally.failed {
            eprintln!("error: {f}");
        }
        anyhow::bail!("{} of the inputs could not be read", tally.failed.len());
    }
    Ok(())
}
