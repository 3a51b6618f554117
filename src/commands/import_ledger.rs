//! The import ledger: which inputs `faasobs ingest` has stored into a data directory, so that
//! importing the same unchanged file again skips it instead of storing its log lines twice
//! (invocations merge by request id and spans by their ids, but log lines have no id to merge by).
//!
//! `DATA/imported.ndjson` holds one JSON object per input read to its end and stored: the file's
//! absolute path, its size and modification time when the import began (the quick check `rsync`
//! makes), how many records it gave and when. A sample workload is named by what its manifest
//! says (seed, window, invocations), whether `faasobs demo` sent it, `faasobs ingest` imported the
//! built-in one, or `faasobs ingest` read a folder `faasobs gen` wrote: they are the same records.
//! Entries are appended once the store has flushed them; a damaged line is skipped with a warning.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use faasobs_sample_traces::output::Manifest;
use serde::{Deserialize, Serialize};

/// The ledger's file name in the data directory.
pub const LEDGER_FILE: &str = "imported.ndjson";

/// What identifies an input for the ledger: a file as it was when the import began, or a sample
/// workload (see [`InputStamp::of_sample`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputStamp {
    /// The file's absolute path, or `sample workload (seed N, START to END, M invocations)`.
    pub input: String,
    /// The file's size in bytes (none for the sample).
    pub bytes: Option<u64>,
    /// The file's modification time, ns since the epoch (none for the sample).
    pub modified_ns: Option<i64>,
}

impl InputStamp {
    /// The stamp of `file` now; `None` when it cannot be read (the import then reports why).
    pub fn of_file(file: &Path) -> Option<InputStamp> {
        let path = std::fs::canonicalize(file).ok()?;
        let metadata = std::fs::metadata(&path).ok()?;
        let modified = metadata.modified().ok()?;
        let modified_ns = match modified.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        Some(InputStamp {
            input: path.display().to_string(),
            bytes: Some(metadata.len()),
            modified_ns: Some(modified_ns),
        })
    }

    /// The stamp of the sample workload `manifest` describes.
    pub fn of_sample(manifest: &Manifest) -> InputStamp {
        InputStamp {
            input: format!(
                "sample workload (seed {}, {} to {}, {} invocations)",
                manifest.seed, manifest.start, manifest.end, manifest.invocations
            ),
            bytes: None,
            modified_ns: None,
        }
    }

    /// The stamp of the sample workload a folder `faasobs gen` wrote holds, from its
    /// `manifest.json`; `None` for any other folder.
    pub fn of_sample_folder(folder: &Path) -> Option<InputStamp> {
        let text = std::fs::read(folder.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_slice(&text).ok()?;
        Some(InputStamp::of_sample(&manifest))
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    stamp: InputStamp,
    records: usize,
    /// RFC 3339, UTC.
    imported_at: String,
}

/// The ledger of one data directory, as read when the import began.
pub struct ImportLedger {
    path: PathBuf,
    /// When each stamp was imported (the latest time).
    imported: HashMap<InputStamp, String>,
}

impl ImportLedger {
    /// Reads the ledger of `data` (empty when the directory or the file does not exist yet).
    pub fn read(data: &Path) -> anyhow::Result<ImportLedger> {
        let path = data.join(LEDGER_FILE);
        let mut imported = HashMap::new();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => {
                    imported.insert(entry.stamp, entry.imported_at);
                }
                Err(e) => tracing::warn!(
                    "{}:{}: not a ledger entry, skipped: {e}",
                    path.display(),
                    n + 1
                ),
            }
        }
        Ok(ImportLedger { path, imported })
    }

    /// When `stamp` was imported into this data directory, if it was.
    pub fn imported_at(&self, stamp: &InputStamp) -> Option<&str> {
        self.imported.get(stamp).map(String::as_str)
    }

    /// Appends the inputs just stored (each with its record count) and syncs the file.
    pub fn append(&mut self, stored: &[(InputStamp, usize)]) -> anyhow::Result<()> {
        if stored.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut lines = String::new();
        for (stamp, records) in stored {
            let entry = Entry {
                stamp: stamp.clone(),
                records: *records,
                imported_at: now.clone(),
            };
            lines.push_str(&serde_json::to_string(&entry)?);
            lines.push('\n');
            self.imported.insert(stamp.clone(), now.clone());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        file.write_all(lines.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_known_until_it_changes_and_damaged_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let input = dir.path().join("logs.ndjson");
        std::fs::write(&input, "{}\n").unwrap();
        let stamp = InputStamp::of_file(&input).unwrap();

        let mut ledger = ImportLedger::read(&data).unwrap();
        assert_eq!(ledger.imported_at(&stamp), None);
        ledger
            .append(&[(stamp.clone(), 3), (sample(42), 10)])
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join(LEDGER_FILE))
            .unwrap()
            .write_all(b"{torn\n")
            .unwrap();

        let ledger = ImportLedger::read(&data).unwrap();
        assert!(ledger.imported_at(&stamp).is_some());
        assert!(ledger.imported_at(&sample(42)).is_some());
        assert!(ledger.imported_at(&sample(7)).is_none());
        // Relative and absolute names of one file are one input.
        let relative = spelled_with_a_detour(&input);
        assert_eq!(InputStamp::of_file(&relative).as_ref(), Some(&stamp));

        // Appended to, it is another input.
        std::fs::write(&input, "{}\n{}\n").unwrap();
        let changed = InputStamp::of_file(&input).unwrap();
        assert_ne!(changed, stamp);
        assert_eq!(ledger.imported_at(&changed), None);
    }

    fn sample(seed: u64) -> InputStamp {
        let workload = faasobs_sample_traces::Workload::sample(seed);
        let invocations = faasobs_sample_traces::simulate(&workload);
        InputStamp::of_sample(&faasobs_sample_traces::output::manifest(
            &workload,
            &invocations,
        ))
    }

    /// `path` through a `..` detour, so it is spelled differently from its canonical form.
    fn spelled_with_a_detour(path: &Path) -> PathBuf {
        let parent = path.parent().unwrap();
        parent
            .join("..")
            .join(parent.file_name().unwrap())
            .join(path.file_name().unwrap())
    }
}
