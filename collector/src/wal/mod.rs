//! The write-ahead log: every accepted record is here, on disk and synced, before the sender
//! is told it is stored.
//!
//! # On-disk format (version 2)
//!
//! The log is a folder of segment files named `{id:020}.wal`, where `id` is a strictly increasing
//! segment number. Exactly one segment, the one with the highest id, is open for appending.
//!
//! A segment starts with a 16-byte header:
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `FAASWAL\n` |
//! | 8..12 | format version, u32 little-endian (= 2) |
//! | 12..16 | reserved, zero |
//!
//! followed by records, each a 16-byte frame header and a payload:
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | record magic `0xFA_A5_0B_5E`, u32 little-endian |
//! | 4 | record version (= 1) |
//! | 5 | table tag: 1 `invocations`, 2 `spans`, 3 `logs` |
//! | 6..8 | reserved, zero |
//! | 8..12 | payload length in bytes, u32 little-endian |
//! | 12..16 | CRC-32 (ISO-HDLC, as zlib) of bytes 4..12 of the frame followed by the payload |
//! | 16.. | payload: one Arrow IPC stream holding the table's schema and one record batch |
//!
//! Version 1 differed only in its 12-byte header (no reserved bytes); its segments are still
//! read. With 16 bytes, every payload starts 8-byte aligned in the file, and so in a mapping of
//! it: its arrays are decoded in place.
//!
//! # Invariants
//! - A write is acknowledged only after its frames are written and the segment file is synced
//!   (`fdatasync`); many concurrent writes share one sync (group commit).
//! - A write's frames are appended whole or not at all: a failed append is cut off again.
//! - Reading stops at the first frame that is incomplete or fails its CRC. At the end of the
//!   newest segment that is a write torn by a crash, which was never acknowledged; anywhere else
//!   it is damage, and the segment is kept (renamed `.wal.damaged`) for inspection.
//! - A segment is deleted only after every record in it is in Parquet files that are durably in
//!   place (see `store`).
//!
//! A store opened for an import may keep its segments in memory instead ([`MemorySegment`],
//! `store::WalMode::InMemory`): no segment is written here then, and a crash loses the rows not
//! yet in Parquet, which the import's input still holds.
//!
//! A store whose Parquet files are in a bucket also keeps [`RESERVED_IDS_FILE`] here: a bound on
//! the segment ids it may have used, for a start while the bucket does not answer.

mod memory;
mod segment;

pub use memory::MemorySegment;
pub(crate) use segment::decode_payload;
pub use segment::{
    SegmentContents, SegmentWriter, encode_frame, read_closed_segment, read_segment,
};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write-ahead log {path}: not a faasobs WAL segment (bad header)")]
    BadHeader { path: PathBuf },
    #[error("write-ahead log {path}: unsupported format version {version}")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("write-ahead log record could not be encoded: {0}")]
    Encode(#[source] arrow::error::ArrowError),
}

impl WalError {
    pub(crate) fn io(path: &Path, source: io::Error) -> WalError {
        WalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The file name of segment `id`.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// The ids and paths of the segments in `dir`, oldest first.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push((id, entry.path()));
    }
    segments.sort();
    Ok(segments)
}

/// The file in the WAL folder of a store that keeps its Parquet files in a bucket, holding a
/// bound on the segment ids the store may have used: every id used is below it. The ids are
/// otherwise learned from the names of the files in the bucket, which a collector that starts
/// while the bucket does not answer cannot list; reusing an id would have a new file take the
/// name of a stored one, or be superseded by it.
pub const RESERVED_IDS_FILE: &str = "reserved-ids";

/// How many segment ids a store reserves at a time: an id is used every flush (10 s by
/// default), so the file is written again every few hours.
pub const IDS_RESERVED_AHEAD: u64 = 1024;

/// The bound of the segment ids reserved in the WAL folder `dir`, if any (see
/// [`RESERVED_IDS_FILE`]).
pub fn reserved_ids(dir: &Path) -> Result<Option<u64>, WalError> {
    let path = dir.join(RESERVED_IDS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            WalError::io(
                &path,
                io::Error::new(io::ErrorKind::InvalidData, "not a segment id"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WalError::io(&path, e)),
    }
}

/// Records durably, in the WAL folder `dir`, that the segment ids below `bound` may be used.
pub fn reserve_ids(dir: &Path, bound: u64) -> Result<(), WalError> {
    replace_file_durably(dir, RESERVED_IDS_FILE, &format!("{bound}\n"))
        .map_err(|e| WalError::io(&dir.join(RESERVED_IDS_FILE), e))
}

/// Writes the small file `dir/name` anew, durably: staged beside it, synced, renamed over it and
/// the folder synced, so that a crash leaves the old file or the new one, whole.
pub fn replace_file_durably(dir: &Path, name: &str, contents: &str) -> io::Result<()> {
    let staged = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&staged)?;
    io::Write::write_all(&mut file, contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(&staged, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

/// Syncs a directory so that files created, renamed or deleted in it stay so after a crash.
pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))
}

/// Deletes a segment whose records are durably in Parquet.
pub fn remove_segment(dir: &Path, id: u64) -> Result<(), WalError> {
    let path = dir.join(segment_file_name(id));
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(WalError::io(&path, e)),
    }
    sync_dir(dir)
}

/// Gives the segments `segments` (ids and paths, oldest first) the ids `from`, `from + 1`, … in
/// the same order, as files of `dir`; returns them as [`list_segments`] would. A segment's file
/// holds no id: its name is its id.
pub fn renumber_segments(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    from: u64,
) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut renumbered = Vec::with_capacity(segments.len());
    for (new_id, (_, path)) in (from..).zip(segments) {
        let new_path = dir.join(segment_file_name(new_id));
        fs::rename(path, &new_path).map_err(|e| WalError::io(path, e))?;
        renumbered.push((new_id, new_path));
    }
    sync_dir(dir)?;
    Ok(renumbered)
}

/// Keeps a damaged segment aside, under `.wal.damaged`, so that it is not replayed again.
pub fn set_aside_damaged(path: &Path) -> Result<PathBuf, WalError> {
    let aside = path.with_extension("wal.damaged");
    fs::rename(path, &aside).map_err(|e| WalError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(aside)
}
