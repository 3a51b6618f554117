//! One module per subcommand, each with its config struct and a `run` function.

/// `println!` for what a command says on standard output, through [`print_rendered`]: a reader
/// that went away (`| head`) ends it quietly instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::commands::print_rendered(&format!($($arg)*))
    };
}

pub mod bench;
pub mod collect;
pub mod compact;
pub mod cost;
pub mod demo;
pub mod generate;
pub mod import_ledger;
pub mod ingest;
pub mod query;
pub mod report;
pub mod sql;
pub mod tui;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use faasobs_analyzer::location::DataLocation;
use faasobs_collector::store::{SCRATCH_DIR, WAL_DIR, claim, object_storage};
use faasobs_collector::wal;

/// Refuses a store on object storage for `command`, which writes a local data directory (its
/// write-ahead log and Parquet files); the reading commands take either.
pub fn refuse_object_storage(data: &DataLocation, command: &str) -> anyhow::Result<()> {
    match data {
        DataLocation::Directory(_) => Ok(()),
        DataLocation::ObjectStore(_) => anyhow::bail!(
            "faasobs {command} writes a local data directory, not {data}: query, sql, report, \
             summary, cost and tui --no-listen read object storage. Store into a directory whose collector keeps \
             its Parquet files there (`collect --parquet-store {data}`), or copy a directory's \
             files there (e.g. `aws s3 sync DIR {data}`)"
        ),
    }
}

/// Parses `--parquet-store` (`collect`, `ingest`): an `s3://` URL, not a local path.
pub fn parse_parquet_store(text: &str) -> Result<url::Url, String> {
    match object_storage::parse_url(text) {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Err(format!(
            "{text:?} is not on object storage: give s3://BUCKET/PREFIX (a local data \
             directory is --data)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The signals that ask the process to stop: Ctrl-C, or SIGTERM (how service managers and
/// `timeout` stop a process), listened for from the moment this is made, so that one sent before
/// it is awaited still counts. Listened for only once awaited, a SIGTERM sent right after the
/// collector said it was listening killed it by the signal's default action, without its flush
/// (found by a test that stops a collector as soon as it has started).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    pub fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Resolves once one of the signals has arrived since [`StopSignals::listen`].
    pub async fn requested(self) {
        #[cfg(unix)]
        {
            async fn received(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = received(self.interrupt) => {}
                _ = received(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves when the process is asked to stop ([`StopSignals`], listened for from the first
/// poll on).
pub async fn stop_requested() {
    StopSignals::listen().requested().await
}

/// Runs a command whose queries may spill to the temporary folder until it ends or the process
/// is asked to stop. Stopping drops the running query, and with it the spill files: a query
/// killed by the signal's default action left gigabytes behind (benchmarks, 100M invocations).
pub async fn until_stopped(
    command: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::select! {
        result = command => result,
        _ = stop_requested() => Err(anyhow::anyhow!(
            "stopped before the end; temporary (spill) files were deleted"
        )),
    }
}

/// Prints a rendered result on standard output with one newline at its end: CSV and NDJSON
/// renderings end with one already, a table does not, and a blank last line would read as an
/// empty record to the tools these formats are for. A reader that went away (`| head`) ends the
/// output quietly, as it does other command-line tools' (`println!` panicked).
pub fn print_rendered(text: &str) {
    let (mut out, _) = StandardOutput::new();
    let _ = out.write_all(text.trim_end_matches('\n').as_bytes());
    out.end_line();
}

/// Standard output for a result written a batch at a time: buffered, passed on 64 KiB at a
/// time, and quiet when its reader went away. [`Printed`] tells what became of it.
pub struct StandardOutput {
    buffer: Vec<u8>,
    printed: Arc<Printed>,
}

/// What a [`StandardOutput`] passed on to standard output.
#[derive(Debug, Default)]
pub struct Printed {
    bytes: AtomicUsize,
    ended_line: AtomicBool,
    reader_gone: AtomicBool,
}

impl Printed {
    /// Bytes passed on to standard output (not those still buffered).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether standard output's reader went away (a broken pipe).
    pub fn reader_gone(&self) -> bool {
        self.reader_gone.load(Ordering::Relaxed)
    }
}

impl StandardOutput {
    const PASS_ON_AT: usize = 64 << 10;

    pub fn new() -> (Self, Arc<Printed>) {
        let printed = Arc::new(Printed::default());
        let out = StandardOutput {
            buffer: Vec::new(),
            printed: Arc::clone(&printed),
        };
        (out, printed)
    }

    fn pass_on(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() || self.printed.reader_gone() {
            self.buffer.clear();
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(&self.buffer).and_then(|()| out.flush()) {
            Ok(()) => {
                let p = &self.printed;
                p.bytes.fetch_add(self.buffer.len(), Ordering::Relaxed);
                p.ended_line
                    .store(self.buffer.ends_with(b"\n"), Ordering::Relaxed);
                self.buffer.clear();
                Ok(())
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    self.printed.reader_gone.store(true, Ordering::Relaxed);
                }
                self.buffer.clear();
                Err(e)
            }
        }
    }

    /// Passes on what is buffered and ends the output with a newline unless it ends with one
    /// already (an empty output is one empty line, as `println!` printed it). A failure to
    /// write, other than a reader that went away, is said on standard error.
    pub fn end_line(mut self) {
        let ended = self.pass_on().and_then(|()| {
            if self.printed.bytes() == 0 || !self.printed.ended_line.load(Ordering::Relaxed) {
                self.buffer.push(b'\n');
                self.pass_on()
            } else {
                Ok(())
            }
        });
        if let Err(e) = ended
            && !self.printed.reader_gone()
        {
            eprintln!("error: writing to standard output: {e}");
        }
    }
}

impl Write for StandardOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= Self::PASS_ON_AT {
            self.pass_on()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.pass_on()
    }
}

/// Parses durations like `30d`, `12h`, `10m`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 30d, 12h, 10m)"))
}

/// Parses a duration that must not be zero; `zero` says why not.
pub fn parse_nonzero_duration(text: &str, zero: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        duration if duration.is_zero() => Err(zero.into()),
        duration => Ok(duration),
    }
}

/// Parses a retention (`collect` and `compact`): a duration, not zero, which would delete every
/// partition at once.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(
        text,
        "a retention of 0 would delete every partition: give how long to keep data (e.g. 30d)",
    )
}

/// `data` and those of its parent folders that do not exist yet, `data` first.
pub fn missing_folders(data: &Path) -> Vec<PathBuf> {
    data.ancestors()
        .take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// Removes the store a command created and stored nothing into (an import of nothing, a store
/// whose opening was refused): its lock file, the bucket it would have kept its Parquet files in
/// and its claim's id, its WAL folder (empty but for the segment ids a store with a bucket
/// reserves) and its scratch folder (empty), then the folders made for it (`folders_made`, the data directory first). Anything else found there (written by something
/// else meanwhile) keeps its folder, and the folders above it; says whether the data directory
/// was removed.
pub fn remove_empty_store(folders_made: &[PathBuf]) -> bool {
    let Some(data) = folders_made.first() else {
        return false;
    };
    let _ = std::fs::remove_file(data.join("LOCK"));
    let _ = std::fs::remove_file(data.join(object_storage::PARQUET_STORE_FILE));
    let _ = std::fs::remove_file(data.join(WAL_DIR).join(wal::RESERVED_IDS_FILE));
    let _ = std::fs::remove_file(data.join(claim::DIRECTORY_ID_FILE));
    let _ = std::fs::remove_dir(data.join(SCRATCH_DIR));
    let _ = std::fs::remove_dir(data.join(WAL_DIR));
    let removed = folders_made
        .iter()
        .take_while(|folder| std::fs::remove_dir(folder).is_ok())
        .count();
    removed > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SIGTERM that arrives after the signals are listened for and before they are awaited
    /// is counted, not left to its default action, which would end this test's process. The
    /// collector listens before it says it listens: a SIGTERM sent as soon as it said so killed
    /// it without its flush when the signals were listened for only once awaited.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_stop_signal_sent_before_it_is_awaited_still_stops() {
        let signals = StopSignals::listen();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(std::time::Duration::from_secs(10), signals.requested())
            .await
            .expect("the signal sent before the wait is received");
    }
}
