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
//!
//! A file's entry also holds a hash of its bytes, as the import read them ([`ContentHash`]), so
//! the same bytes written again (a new modification time) or copied to another path are known
//! too. A file is hashed again before an import only when its size is that of a file the ledger
//! holds, or of another input of the same import: files of other sizes cannot be the same.

use std::collections::HashMap;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use faasobs_sample_traces::output::Manifest;
use serde::{Deserialize, Serialize};
use twox_hash::XxHash64;

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

/// The hash of a file's bytes: XXH64 with seed 0 (a published, stable algorithm; the odds that
/// two different files of one size share it are one in 2^64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(u64);

impl ContentHash {
    /// Reads `path` to its end, hashing its bytes.
    pub fn of_file(path: &Path) -> std::io::Result<ContentHash> {
        let mut hasher = ContentHasher::default();
        std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
        Ok(hasher.finish())
    }

    fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    fn from_hex(text: &str) -> Option<ContentHash> {
        u64::from_str_radix(text, 16).ok().map(ContentHash)
    }
}

/// Hashes a file's bytes handed to it in order, as an import reads them.
pub struct ContentHasher(XxHash64);

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher(XxHash64::with_seed(0))
    }
}

impl ContentHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    pub fn finish(&self) -> ContentHash {
        ContentHash(self.0.finish())
    }
}

/// Bytes written are hashed (so `std::io::copy` can hash a file).
impl Write for ContentHasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An input an import read to its end and stored, for [`ImportLedger::append`].
#[derive(Debug, Clone)]
pub struct StoredInput {
    pub stamp: InputStamp,
    /// The records it gave.
    pub records: usize,
    /// The hash of its bytes, for a file.
    pub content: Option<ContentHash>,
}

/// One line of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    stamp: InputStamp,
    records: usize,
    /// [`ContentHash`] in hexadecimal (none for the sample, and in ledgers written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_xxh64: Option<String>,
    /// RFC 3339, UTC.
    imported_at: String,
}

/// The ledger of one data directory, as read when the import began.
pub struct ImportLedger {
    path: PathBuf,
    /// When each stamp was imported (the latest time).
    imported: HashMap<InputStamp, String>,
    /// Each file content stored, by size and then hash, with the input that had it and when.
    contents: HashMap<u64, HashMap<ContentHash, (String, String)>>,
}

impl ImportLedger {
    /// Reads the ledger of `data` (empty when the directory or the file does not exist yet).
    pub fn read(data: &Path) -> anyhow::Result<ImportLedger> {
        let path = data.join(LEDGER_FILE);
        let mut ledger = ImportLedger {
            path,
            imported: HashMap::new(),
            contents: HashMap::new(),
        };
        let text = match std::fs::read_to_string(&ledger.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", ledger.path.display())),
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => ledger.remember(entry),
                Err(e) => tracing::warn!(
                    "{}:{}: not a ledger entry, skipped: {e}",
                    ledger.path.display(),
                    n + 1
                ),
            }
        }
        Ok(ledger)
    }

    fn remember(&mut self, entry: Entry) {
        let content = entry
            .content_xxh64
            .as_deref()
            .and_then(ContentHash::from_hex);
        if let (Some(bytes), Some(content)) = (entry.stamp.bytes, content) {
            self.contents.entry(bytes).or_default().insert(
                content,
                (entry.stamp.input.clone(), entry.imported_at.clone()),
            );
        }
        self.imported.insert(entry.stamp, entry.imported_at);
    }

    /// When `stamp` was imported into this data directory, if it was.
    pub fn imported_at(&self, stamp: &InputStamp) -> Option<&str> {
        self.imported.get(stamp).map(String::as_str)
    }

    /// Whether the ledger holds the content of a file of `bytes` bytes (so a file of that size
    /// is worth hashing).
    pub fn holds_content_of_size(&self, bytes: u64) -> bool {
        self.contents.contains_key(&bytes)
    }

    /// The input that had these bytes, and when it was imported, if one did.
    pub fn imported_content(&self, bytes: u64, content: ContentHash) -> Option<(&str, &str)> {
        self.contents
            .get(&bytes)?
            .get(&content)
            .map(|(input, when)| (input.as_str(), when.as_str()))
    }

    /// Appends the inputs just stored and syncs the file.
    pub fn append(&mut self, stored: &[StoredInput]) -> anyhow::Result<()> {
        if stored.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut lines = String::new();
        for input in stored {
            let entry = Entry {
                stamp: input.stamp.clone(),
                records: input.records,
                content_xxh64: input.content.map(ContentHash::to_hex),
                imported_at: now.clone(),
            };
            lines.push_str(&serde_json::to_string(&entry)?);
            lines.push('\n');
            self.remember(entry);
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
        let content = ContentHash::of_file(&input).unwrap();
        ledger
            .append(&[
                StoredInput {
                    stamp: stamp.clone(),
                    records: 3,
                    content: Some(content),
                },
                StoredInput {
                    stamp: sample(42),
                    records: 10,
                    content: None,
                },
            ])
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

        // Its bytes are known by size and hash, whatever the path or time.
        assert!(ledger.holds_content_of_size(3));
        assert!(!ledger.holds_content_of_size(4));
        let (by, _) = ledger.imported_content(3, content).unwrap();
        assert_eq!(by, stamp.input);

        // Appended to, it is another input, with other bytes.
        std::fs::write(&input, "{}\n{}\n").unwrap();
        let changed = InputStamp::of_file(&input).unwrap();
        assert_ne!(changed, stamp);
        assert_eq!(ledger.imported_at(&changed), None);
        let changed_content = ContentHash::of_file(&input).unwrap();
        assert_ne!(changed_content, content);
        assert_eq!(ledger.imported_content(6, changed_content), None);
    }

    /// The hash of bytes handed over in pieces is the hash of the whole file (an import hashes
    /// its pieces as they are read), and it is XXH64's: the ledger's hashes stay comparable.
    #[test]
    fn bytes_hashed_in_pieces_hash_as_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.ndjson");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut hasher = ContentHasher::default();
        for piece in bytes.chunks(777_777) {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), ContentHash::of_file(&path).unwrap());
        // XXH64 of "abc" with seed 0, as the algorithm's reference implementation gives it.
        let mut abc = ContentHasher::default();
        abc.update(b"abc");
        assert_eq!(abc.finish().to_hex(), "44bc2cf5ad770999");
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
