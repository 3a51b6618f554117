//! `faasobs ingest`: import files into the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use faasobs_collector::ingest::{
    CHUNK_BYTES, FileIngest, FilePiece, IngestError, InputFormat, Rejection, ingest_bytes,
    split_file,
};
use faasobs_collector::model::{Records, UNKNOWN_FUNCTION};
use faasobs_collector::store::{
    EncodedRows, RowEncoder, Store, StoreConfig, StoreError, StoreHandle, WalMode, batch_threads,
};
use faasobs_sample_traces::output::{manifest, render_files};
use faasobs_sample_traces::workload::SAMPLE_SEED;
use faasobs_sample_traces::{SimulatedInvocation, Workload, simulate};

use super::import_ledger::{ContentHash, ContentHasher, ImportLedger, InputStamp, StoredInput};

/// Records are stored in writes of at most this many.
const WRITE_CHUNK: usize = 20_000;
// A Lambda log stream's batches are taken as writes whole.
const _: () = assert!(faasobs_collector::model::BATCH_ROWS <= WRITE_CHUNK);

/// An import keeps its store's WAL in memory: its input can be read again after a crash, and
/// writing, syncing and reading back the segments on disk was about a tenth of its CPU.
const IMPORT_WAL: WalMode = WalMode::InMemory;

#[derive(Debug, clap::Args)]
pub struct IngestConfig {
    /// Files or folders (read recursively) to import; `-` reads standard input. With none, the
    /// built-in sample workload is imported.
    pub files: Vec<PathBuf>,
    /// The function a Lambda text log belongs to (default: the name of the file's folder).
    #[arg(long)]
    pub function: Option<String>,
    /// Import inputs again that this data directory's ledger (`imported.ndjson`) says were
    /// imported before, unchanged or with the same bytes; their log lines are then stored twice.
    #[arg(long)]
    pub again: bool,
    /// Keep the Parquet files in this bucket of S3-compatible object storage
    /// (s3://BUCKET/PREFIX, configured by the AWS_* environment variables) instead of the data
    /// directory, which remembers the bucket for every later command (as `collect`'s).
    #[arg(long, value_parser = super::parse_parquet_store, env = "FAASOBS_PARQUET_STORE")]
    pub parquet_store: Option<url::Url>,
    /// Write the bucket prefix even when another data directory's claim on it names that
    /// directory: it is gone for good (a rebuilt machine). Its files stay; this directory numbers
    /// its own after them. Two directories writing one prefix at once overwrite each other's files.
    #[arg(long)]
    pub take_over: bool,
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

/// How standard input is named in messages.
const STDIN_NAME: &str = "<stdin>";

/// Tallies what an import read, for the closing summary.
#[derive(Default)]
struct Tally {
    by_format: BTreeMap<InputFormat, (usize, usize)>,
    rejected: Vec<String>,
    failed: Vec<String>,
    stored: usize,
    /// Inputs given (files, folders expanded, standard input).
    inputs: usize,
    /// Inputs read to their end and stored, every piece of them taken (not those that failed).
    inputs_read: usize,
    /// The input whose first pieces were taken but not its end yet, and the records taken of it.
    in_part: Option<(String, usize)>,
    /// The last input that could not be read.
    unreadable: Option<String>,
    /// The inputs read to their end and stored, in order.
    completed: Vec<CompletedInput>,
    /// Inputs some of whose rows named no function, and how many rows.
    of_unknown_function: BTreeMap<String, usize>,
}

/// An input read to its end and stored.
struct CompletedInput {
    name: String,
    /// The records it gave.
    records: usize,
    /// The hash of its bytes as they were read (none for standard input).
    content: Option<ContentHash>,
}

pub(crate) async fn store_records(store: &StoreHandle, records: Records) -> anyhow::Result<usize> {
    let total = records.len();
    for chunk in in_chunks(records) {
        store.write(&chunk).await?;
    }
    Ok(total)
}

/// `records` as writes of at most [`WRITE_CHUNK`] rows of one table each (the resources they
/// refer to in one write ahead of them), the rows moved into each chunk as it is taken (they
/// used to be copied, strings and attributes included).
fn in_chunks(records: Records) -> impl Iterator<Item = Records> {
    let Records {
        invocations,
        invocation_batches,
        span_batches,
        logs,
        log_batches,
        resource_batches,
    } = records;
    // The resources first, in one write: no span or log is stored before its resource.
    let resources = (!resource_batches.is_empty()).then(|| Records {
        resource_batches,
        ..Default::default()
    });
    resources
        .into_iter()
        .chain(chunks_of(invocations, |invocations| Records {
            invocations,
            ..Default::default()
        }))
        // Built a batch of at most `model::BATCH_ROWS` rows at a time, each is one write already.
        .chain(invocation_batches.into_iter().map(|batch| Records {
            invocation_batches: vec![batch],
            ..Default::default()
        }))
        .chain(span_batches.into_iter().map(|batch| Records {
            span_batches: vec![batch],
            ..Default::default()
        }))
        .chain(chunks_of(logs, |logs| Records {
            logs,
            ..Default::default()
        }))
        .chain(log_batches.into_iter().map(|batch| Records {
            log_batches: vec![batch],
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
    /// Of those rows, the ones stored under [`UNKNOWN_FUNCTION`]: their lines named no function.
    rows_of_unknown_function: usize,
    writes: Vec<EncodedRows>,
    rejected: Vec<Rejection>,
}

impl EncodedPiece {
    fn of(file: FileIngest) -> Result<EncodedPiece, StoreError> {
        Ok(EncodedPiece {
            format: file.format,
            rows: file.records.len(),
            rows_of_unknown_function: file.records.rows_of_unknown_function(),
            // Each chunk's records are freed as soon as it is encoded.
            writes: in_chunks(file.records)
                .map(|chunk| RowEncoder::sorting_rows(IMPORT_WAL).encode(&chunk))
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
                if piece.rows_of_unknown_function > 0 {
                    *self
                        .of_unknown_function
                        .entry(name.to_string())
                        .or_default() += piece.rows_of_unknown_function;
                }
                for rows in piece.writes {
                    store
                        .write_encoded(rows)
                        .await
                        .with_context(|| format!("storing {name}"))?;
                }
                self.stored += piece.rows;
                let taken_of_input = match self.in_part.take() {
                    Some((input, taken)) if input == name => taken,
                    _ => 0,
                };
                self.in_part = Some((name.to_string(), taken_of_input + piece.rows));
            }
            Err(e) => {
                self.failed.push(e);
                self.unreadable = Some(name.to_string());
            }
        }
        Ok(())
    }

    /// Notes that input `name` was read to its end; `content` is the hash of what was read.
    fn input_done(&mut self, name: &str, content: Option<ContentHash>) {
        let records = match self.in_part.take() {
            Some((input, records)) if input == name => records,
            other => {
                self.in_part = other;
                0
            }
        };
        if self.unreadable.as_deref() != Some(name) {
            self.inputs_read += 1;
            self.completed.push(CompletedInput {
                name: name.to_string(),
                records,
                content,
            });
        }
    }

    /// Why an import stopped before its end, and what of its inputs it stored.
    fn interrupted(&self) -> anyhow::Error {
        let mut message = format!(
            "interrupted: {} of {} inputs were read to their end and stored",
            self.inputs_read, self.inputs
        );
        if let Some((input, records)) = &self.in_part {
            message.push_str(&format!(
                ", and the first {records} records of {input} (importing it again whole \
                 would store their log lines twice; the same import run again skips the inputs \
                 read to their end)"
            ));
        }
        anyhow::anyhow!(message)
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

/// What a normalizing thread hands to the storing task.
enum ReadStep {
    /// A file, or a piece of a large one, normalized and encoded.
    Piece {
        name: String,
        result: Result<EncodedPiece, String>,
        first_piece_of_file: bool,
    },
    /// A file was read to its end (its size, for the progress bar, and the hash of its bytes);
    /// its pieces come before.
    FileDone {
        name: String,
        bytes: u64,
        content: Option<ContentHash>,
    },
}

/// What the splitting thread hands to a normalizing thread.
enum ReadJob {
    Piece {
        name: String,
        piece: Result<FilePiece, IngestError>,
        first_piece_of_file: bool,
    },
    /// Standard input, read whole.
    Stdin {
        bytes: Vec<u8>,
        function: Option<String>,
    },
    FileDone {
        name: String,
        bytes: u64,
        content: Option<ContentHash>,
    },
}

impl ReadJob {
    /// Normalizes and encodes the job's piece (on a normalizing thread).
    fn run(self) -> anyhow::Result<ReadStep> {
        Ok(match self {
            ReadJob::Piece {
                name,
                piece,
                first_piece_of_file,
            } => ReadStep::Piece {
                name,
                result: encoded(piece.and_then(FilePiece::ingest))?,
                first_piece_of_file,
            },
            ReadJob::Stdin { bytes, function } => ReadStep::Piece {
                name: STDIN_NAME.into(),
                result: encoded(ingest_bytes(&bytes, function.as_deref(), None))?,
                first_piece_of_file: true,
            },
            ReadJob::FileDone {
                name,
                bytes,
                content,
            } => ReadStep::FileDone {
                name,
                bytes,
                content,
            },
        })
    }
}

/// Pieces of a large file are this big when normalized on `threads` threads at once, so the
/// pieces in flight (one read ahead, one being normalized and one encoded per thread, one being
/// stored) take about as much memory as [`CHUNK_BYTES`] pieces on one thread did.
fn piece_bytes(threads: usize) -> usize {
    (CHUNK_BYTES / threads.max(1)).max(1 << 20)
}

/// Splits `files` into pieces in order and deals them round-robin to `jobs`, one queue per
/// normalizing thread; stops early, without error, when the normalizing side has gone.
fn split_files(
    files: &[PathBuf],
    function: Option<&str>,
    piece_bytes: usize,
    jobs: &[std::sync::mpsc::SyncSender<ReadJob>],
) -> anyhow::Result<()> {
    let mut next = 0usize;
    let mut deal = |job: ReadJob| -> bool {
        let sent = jobs[next % jobs.len()].send(job).is_ok();
        next += 1;
        sent
    };
    for file in files {
        if file.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            let function = function.map(String::from);
            let done = ReadJob::FileDone {
                name: STDIN_NAME.into(),
                bytes: 0,
                content: None,
            };
            if !deal(ReadJob::Stdin { bytes, function }) || !deal(done) {
                return Ok(());
            }
            continue;
        }
        let name = file.display().to_string();
        // Large NDJSON files come in pieces, normalized on several threads while the pieces
        // before are stored. Their bytes are hashed for the import ledger as they go by; a file
        // read whole by a normalizing thread, or a compressed one (whose pieces are what it
        // holds, not its bytes, which the ledger compares), is hashed here on its own.
        let mut hasher = ContentHasher::default();
        let mut read_whole = false;
        match split_file(file, function, piece_bytes) {
            Ok(pieces) => {
                for (n, piece) in pieces.enumerate() {
                    match &piece {
                        Ok(FilePiece::Lines {
                            lines,
                            inflated: false,
                            ..
                        }) => hasher.update(lines),
                        Ok(FilePiece::Lines { .. } | FilePiece::Whole { .. }) => read_whole = true,
                        Err(_) => {}
                    }
                    let job = ReadJob::Piece {
                        name: name.clone(),
                        piece,
                        first_piece_of_file: n == 0,
                    };
                    if !deal(job) {
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                let job = ReadJob::Piece {
                    name: name.clone(),
                    piece: Err(e),
                    first_piece_of_file: true,
                };
                if !deal(job) {
                    return Ok(());
                }
            }
        }
        let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let content = if read_whole {
            ContentHash::of_file(file).ok()
        } else {
            Some(hasher.finish())
        };
        if !deal(ReadJob::FileDone {
            name,
            bytes,
            content,
        }) {
            return Ok(());
        }
    }
    Ok(())
}

/// Normalizes the jobs of one queue in order, sending each result to `steps`; stops early,
/// without error, when the storing side has gone (it failed and reports why).
fn normalize_jobs(
    jobs: std::sync::mpsc::Receiver<ReadJob>,
    steps: tokio::sync::mpsc::Sender<ReadStep>,
) -> anyhow::Result<()> {
    for job in jobs {
        if steps.blocking_send(job.run()?).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The threads of an import's reading side: one splits the inputs into pieces and deals them
/// round-robin to the normalizing threads; the storing task takes their results round-robin, so
/// it stores the pieces in the order of the inputs.
struct Readers {
    steps: Vec<tokio::sync::mpsc::Receiver<ReadStep>>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
    next: usize,
}

impl Readers {
    /// Starts `count` normalizing threads over `files` split into pieces of `piece_bytes`.
    fn start(
        files: Vec<PathBuf>,
        function: Option<String>,
        count: usize,
        piece_bytes: usize,
    ) -> anyhow::Result<Readers> {
        let count = count.max(1);
        let mut jobs = Vec::with_capacity(count);
        let mut steps = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count + 1);
        for n in 0..count {
            // A piece is handed over only when its thread is ready for it (the splitting thread
            // holds the one it read ahead), and one result per thread waits to be stored.
            let (job_sender, job_queue) = std::sync::mpsc::sync_channel(0);
            let (step_sender, step_queue) = tokio::sync::mpsc::channel(1);
            jobs.push(job_sender);
            steps.push(step_queue);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ingest-normalize-{n}"))
                    .spawn(move || normalize_jobs(job_queue, step_sender))
                    .context("starting a normalizing thread")?,
            );
        }
        threads.push(
            std::thread::Builder::new()
                .name("ingest-split".into())
                .spawn(move || split_files(&files, function.as_deref(), piece_bytes, &jobs))
                .context("starting the splitting thread")?,
        );
        Ok(Readers {
            steps,
            threads,
            next: 0,
        })
    }

    /// The next step in the order of the inputs; `None` once all are read. Jobs are dealt in
    /// turn, so when the queue whose turn it is has ended, every later one has too.
    async fn next(&mut self) -> Option<ReadStep> {
        let count = self.steps.len();
        let step = self.steps[self.next % count].recv().await;
        self.next += 1;
        step
    }

    /// Waits for the threads; the first error any of them met.
    fn finish(self) -> anyhow::Result<()> {
        drop(self.steps);
        let mut result = Ok(());
        for thread in self.threads {
            let outcome = thread
                .join()
                .map_err(|_| anyhow::anyhow!("a reading thread panicked"))
                .and_then(|r| r);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

/// Refuses inputs that do not exist before anything is opened or stored, so a mistyped path
/// neither creates a store nor leaves part of an import behind.
fn check_inputs_exist(paths: &[PathBuf]) -> anyhow::Result<()> {
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-" && !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "no such file or folder: {} (nothing was imported)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The inputs to read and their ledger stamps (none for standard input, or a file that cannot be
/// stamped), leaving out those the ledger holds unless `again` (unchanged since, or the same
/// bytes at another path or time), and the second of two inputs that are one file or hold the
/// same bytes; says on standard error which were left out.
fn inputs_not_imported_before(
    files: Vec<PathBuf>,
    ledger: &ImportLedger,
    again: bool,
) -> Vec<(PathBuf, Option<InputStamp>)> {
    let stamped: Vec<(PathBuf, Option<InputStamp>)> = files
        .into_iter()
        .map(|file| {
            let stamp = (file.as_os_str() != "-")
                .then(|| InputStamp::of_file(&file))
                .flatten();
            (file, stamp)
        })
        .collect();
    // Only a file whose size the ledger holds, or another input has, can hold the same bytes:
    // only such files are hashed before the import.
    let mut inputs_of_size: HashMap<u64, usize> = HashMap::new();
    for bytes in stamped
        .iter()
        .filter_map(|(_, stamp)| stamp.as_ref()?.bytes)
    {
        *inputs_of_size.entry(bytes).or_default() += 1;
    }
    let worth_hashing = |bytes: u64| {
        inputs_of_size.get(&bytes).is_some_and(|&n| n > 1) || ledger.holds_content_of_size(bytes)
    };
    let mut skipped = Vec::new();
    let mut inputs = Vec::new();
    let mut taken = HashSet::new();
    let mut contents_taken: HashMap<(u64, ContentHash), String> = HashMap::new();
    for (file, stamp) in stamped {
        if let Some(stamp) = &stamp {
            if let Some(when) = ledger.imported_at(stamp).filter(|_| !again) {
                skipped.push(format!("{} (imported {when})", file.display()));
                continue;
            }
            // A file named twice (itself, or within a folder also named) is read once.
            if !taken.insert(stamp.clone()) {
                skipped.push(format!("{} (named twice)", file.display()));
                continue;
            }
            let content = stamp
                .bytes
                .filter(|&bytes| worth_hashing(bytes))
                .and_then(|bytes| Some((bytes, ContentHash::of_file(&file).ok()?)));
            if let Some((bytes, content)) = content {
                if let Some((input, when)) =
                    ledger.imported_content(bytes, content).filter(|_| !again)
                {
                    skipped.push(format!(
                        "{} (the same bytes as {input}, imported {when})",
                        file.display()
                    ));
                    continue;
                }
                if let Some(earlier) = contents_taken.get(&(bytes, content)) {
                    skipped.push(format!(
                        "{} (the same bytes as {earlier}, named before it)",
                        file.display()
                    ));
                    continue;
                }
                contents_taken.insert((bytes, content), file.display().to_string());
            }
        }
        inputs.push((file, stamp));
    }
    if !skipped.is_empty() {
        eprintln!(
            "note: skipping {} inputs imported into this data directory before (unchanged since, \
             or the same bytes at another path or time), or named twice (--again imports those \
             imported before anyway):",
            skipped.len()
        );
        for name in skipped.iter().take(10) {
            eprintln!("  {name}");
        }
        if skipped.len() > 10 {
            eprintln!("  ... and {} more", skipped.len() - 10);
        }
    }
    inputs
}

/// Imports the built-in sample workload's files, rendered in memory.
async fn import_sample(
    workload: &Workload,
    invocations: &[SimulatedInvocation],
    function_given: Option<&str>,
    tally: &mut Tally,
    handle: &StoreHandle,
) -> anyhow::Result<()> {
    eprintln!("no files given: importing the built-in sample workload (seed {SAMPLE_SEED})");
    for (path, bytes) in render_files(workload, invocations) {
        let function = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let stream = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let result = ingest_bytes(&bytes, function_given.or(function.as_deref()), stream);
        tally
            .take(&path.display().to_string(), encoded(result)?, true, handle)
            .await?;
    }
    Ok(())
}

/// Imports `files` in order, normalized on several threads; whether it was asked to stop before
/// the end (Ctrl-C, SIGTERM).
async fn import_files(
    files: Vec<PathBuf>,
    function: Option<String>,
    tally: &mut Tally,
    handle: &StoreHandle,
) -> anyhow::Result<bool> {
    let mut interrupted = false;
    tally.inputs = files.len();
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
    // Threads read and normalize the inputs while this task stores what they read before,
    // so parsing and the WAL's encoding and syncing use every core.
    let threads = batch_threads();
    let mut readers = Readers::start(files, function, threads, piece_bytes(threads))?;
    let stop = super::stop_requested();
    tokio::pin!(stop);
    loop {
        let step = tokio::select! {
            _ = &mut stop => {
                interrupted = true;
                break;
            }
            step = readers.next() => step,
        };
        let Some(step) = step else { break };
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
                    .take(&name, result, first_piece_of_file, handle)
                    .await?;
            }
            ReadStep::FileDone {
                name,
                bytes,
                content,
            } => {
                tally.input_done(&name, content);
                progress.inc(bytes);
            }
        }
    }
    progress.finish_and_clear();
    if interrupted {
        // The reading threads stop at their next hand-over; one blocked on its input
        // (standard input, a pipe) is not waited for.
        drop(readers);
        eprintln!(
            "interrupted: storing what was read so far (press Ctrl-C again to quit without it)"
        );
    } else {
        readers.finish()?;
    }
    Ok(interrupted)
}

/// The paths to read, leaving out the folders `faasobs gen` wrote whose sample workload the
/// ledger holds (unless `again`; says so on standard error), and the sample workloads of those
/// left in, each with its folder.
fn sample_folders_not_stored(
    paths: &[PathBuf],
    ledger: &ImportLedger,
    again: bool,
) -> (Vec<PathBuf>, Vec<(InputStamp, Option<String>)>) {
    let mut kept = Vec::with_capacity(paths.len());
    let mut samples = Vec::new();
    for path in paths {
        let sample = path
            .is_dir()
            .then(|| InputStamp::of_sample_folder(path))
            .flatten();
        match sample {
            Some(sample) => match ledger.imported_at(&sample).filter(|_| !again) {
                Some(when) => eprintln!(
                    "note: skipping {}: it holds the {}, which this data directory holds \
                     already (stored {when}; --again imports it anyway)",
                    path.display(),
                    sample.input
                ),
                None => {
                    samples.push((sample, Some(path.display().to_string())));
                    kept.push(path.clone());
                }
            },
            None => kept.push(path.clone()),
        }
    }
    (kept, samples)
}

/// What an import reads: the built-in sample workload, simulated, or files.
enum Inputs {
    Sample {
        workload: Workload,
        invocations: Vec<SimulatedInvocation>,
    },
    Files(Vec<PathBuf>),
}

pub async fn run(data: &Path, config: IngestConfig) -> anyhow::Result<()> {
    check_inputs_exist(&config.files)?;
    let mut ledger = ImportLedger::read(data)?;
    // What is to be read: the files not imported before, or the sample workload.
    let mut stamps: BTreeMap<String, InputStamp> = BTreeMap::new();
    // Sample workloads (the built-in one, or folders `faasobs gen` wrote, with the folder) go
    // into the ledger as such too, once wholly stored: `faasobs demo` stores the same records.
    let mut samples: Vec<(InputStamp, Option<String>)> = Vec::new();
    let inputs = if config.files.is_empty() {
        let workload = Workload::sample(SAMPLE_SEED);
        let invocations = simulate(&workload);
        let sample = InputStamp::of_sample(&manifest(&workload, &invocations));
        if let Some(when) = ledger.imported_at(&sample).filter(|_| !config.again) {
            say!(
                "{} already holds the built-in sample workload (imported {when}); --again \
                 imports it anyway",
                data.display()
            );
            return Ok(());
        }
        samples.push((sample, None));
        Inputs::Sample {
            workload,
            invocations,
        }
    } else {
        let (paths, folders) = sample_folders_not_stored(&config.files, &ledger, config.again);
        samples.extend(folders);
        let inputs = inputs_not_imported_before(expand(&paths)?, &ledger, config.again);
        if inputs.is_empty() {
            say!("nothing to import: stored 0 records in {}", data.display());
            return Ok(());
        }
        let mut files = Vec::with_capacity(inputs.len());
        for (file, stamp) in inputs {
            if let Some(stamp) = stamp {
                stamps.insert(file.display().to_string(), stamp);
            }
            files.push(file);
        }
        Inputs::Files(files)
    };
    // A first import that stores nothing (no input in a format faasobs reads) leaves no store,
    // nor the folders it made for it.
    let folders_made = super::missing_folders(data);
    let store = Store::open(StoreConfig {
        wal: IMPORT_WAL,
        // Closed segments wait for the flusher in memory: two at most, not the collector's four.
        max_pending_segments: 2,
        parquet_store: config.parquet_store.clone(),
        take_over_prefix: config.take_over,
        ..StoreConfig::for_batch(data)
    })
    .await
    .inspect_err(|_| {
        // Refused (a bucket prefix another directory writes, say): nothing is left behind.
        super::remove_empty_store(&folders_made);
    })
    .with_context(|| format!("opening the store in {}", data.display()))?;
    let handle = store.handle();
    let mut tally = Tally::default();
    // Whether the import was asked to stop before its end (Ctrl-C, SIGTERM).
    let interrupted = match inputs {
        Inputs::Sample {
            workload,
            invocations,
        } => {
            let function = config.function.as_deref();
            import_sample(&workload, &invocations, function, &mut tally, &handle).await?;
            false
        }
        Inputs::Files(files) => {
            import_files(files, config.function.clone(), &mut tally, &handle).await?
        }
    };
    drop(handle);
    tokio::select! {
        closed = store.close() => {
            closed.context("flushing the store")?;
        }
        _ = super::stop_requested() => anyhow::bail!(
            "interrupted while flushing: the records read since the last flush were not stored"
        ),
    }
    // Stored and flushed: the inputs read to their end go into the ledger. Failing to write it
    // loses nothing stored; importing them again would then store their log lines twice.
    let mut stored_inputs: Vec<StoredInput> = tally
        .completed
        .iter()
        .filter_map(|input| {
            Some(StoredInput {
                stamp: stamps.get(&input.name)?.clone(),
                records: input.records,
                content: input.content,
            })
        })
        .collect();
    if !interrupted && tally.failed.is_empty() {
        for (sample, folder) in samples {
            // The records of the folder's files, or of the whole import of the built-in sample.
            let records = match folder {
                Some(folder) => tally
                    .completed
                    .iter()
                    .filter(|input| Path::new(&input.name).starts_with(&folder))
                    .map(|input| input.records)
                    .sum(),
                None => tally.stored,
            };
            stored_inputs.push(StoredInput {
                stamp: sample,
                records,
                content: None,
            });
        }
    }
    // A store removed for holding nothing keeps no ledger either.
    let store_removed =
        !folders_made.is_empty() && tally.stored == 0 && super::remove_empty_store(&folders_made);
    if !store_removed && let Err(e) = ledger.append(&stored_inputs) {
        eprintln!(
            "warning: the import ledger was not updated ({e:#}); importing these inputs again would store their log lines twice"
        );
    }
    for (format, (files, records)) in &tally.by_format {
        say!(
            "{:<32} {files:>6} files {records:>10} records",
            format.name()
        );
    }
    if store_removed {
        say!("stored 0 records; {} was not created", data.display());
    } else {
        say!("stored {} records in {}", tally.stored, data.display());
    }
    if !tally.rejected.is_empty() {
        say!("{} lines rejected:", tally.rejected.len());
        for r in tally.rejected.iter().take(50) {
            say!("  {r}");
        }
        if tally.rejected.len() > 50 {
            say!("  ... and {} more", tally.rejected.len() - 50);
        }
    }
    for (input, &rows) in &tally.of_unknown_function {
        let (records, name, were) = match rows {
            1 => ("1 record".to_string(), "names", "was"),
            n => (format!("{n} records"), "name", "were"),
        };
        eprintln!(
            "note: {input}: {records} {name} no function and {were} stored under function \"{UNKNOWN_FUNCTION}\"; import it with --function NAME (a Lambda text log names its function only by its folder, as in …/FUNCTION/STREAM.log)"
        );
    }
    for f in &tally.failed {
        eprintln!("error: {f}");
    }
    if interrupted {
        return Err(tally.interrupted());
    }
    if !tally.failed.is_empty() {
        anyhow::bail!("{} of the inputs could not be read", tally.failed.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasobs_collector::ingest::ingest_file;

    fn powertools_line(i: usize) -> String {
        serde_json::json!({
            "level": "INFO",
            "message": format!("step {i}"),
            "timestamp": format!("2026-11-23T09:{:02}:{:02}.000Z", (i / 60) % 60, i % 60),
            "function_name": "checkout",
            "function_request_id": format!("r-{}", i / 3),
        })
        .to_string()
    }

    /// Pieces normalized on several threads reach the storing side in the order of the inputs:
    /// rejected lines come numbered and in order, and every file's pieces come before its end,
    /// which carries the hash of its bytes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_normalized_on_several_threads_are_taken_in_the_order_of_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut expected_rejections = Vec::new();
        // The second file gzip-compressed: read in pieces as it is inflated, yet hashed as the
        // bytes it has on disk.
        for f in 0..2 {
            let mut text = String::new();
            for i in 0..3000 {
                if i % 250 == 7 {
                    text.push_str("{not json\n");
                }
                text.push_str(&powertools_line(i));
                text.push('\n');
            }
            let path = if f == 0 {
                let path = dir.path().join("logs-0.ndjson");
                std::fs::write(&path, &text).unwrap();
                path
            } else {
                let path = dir.path().join("logs-1.ndjson.gz");
                let mut gz = flate2::write::GzEncoder::new(
                    std::fs::File::create(&path).unwrap(),
                    flate2::Compression::default(),
                );
                std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
                gz.finish().unwrap();
                path
            };
            let whole = ingest_file(&path, None).unwrap();
            expected_rejections.extend(whole.rejected.iter().map(|r| (f, r.line)));
            files.push(path);
        }
        let mut readers = Readers::start(files.clone(), None, 3, 4096).unwrap();
        let (mut pieces, mut rows, mut rejections, mut done) = (0, 0, Vec::new(), 0);
        while let Some(step) = readers.next().await {
            match step {
                ReadStep::Piece { name, result, .. } => {
                    let piece = result.unwrap();
                    let f = files.iter().position(|p| p.display().to_string() == name);
                    assert_eq!(f, Some(done), "a piece of {name} after its file ended");
                    pieces += 1;
                    rows += piece.rows;
                    rejections.extend(piece.rejected.iter().map(|r| (done, r.line)));
                }
                ReadStep::FileDone { content, .. } => {
                    // Hashed piece by piece as it was read, the file hashes as it does whole
                    // (what a later import compares it with).
                    let whole = ContentHash::of_file(&files[done]).unwrap();
                    assert_eq!(content, Some(whole));
                    done += 1;
                }
            }
        }
        readers.finish().unwrap();
        assert_eq!(done, 2);
        assert!(pieces > 20, "{pieces} pieces");
        assert_eq!(rejections.len(), 24);
        assert_eq!(rejections, expected_rejections);
        // 3,000 logs and 1,000 invocation fragments per file (ids repeat within pieces only).
        assert!(rows >= 2 * 4000, "{rows} rows");
    }

    #[test]
    fn pieces_shrink_with_the_threads_that_hold_them() {
        assert_eq!(piece_bytes(1), CHUNK_BYTES);
        assert_eq!(piece_bytes(2), CHUNK_BYTES / 2);
        assert_eq!(piece_bytes(1 << 20), 1 << 20);
    }
}
