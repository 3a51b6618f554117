//! One writer per bucket prefix: the claim a data directory holds on the prefix its Parquet files
//! are kept in.
//!
//! Files are named by WAL segment ids, which each data directory numbers on its own. Two
//! directories writing one prefix would write the same names, overwriting each other's files, and
//! one's compaction would name a file across the other's ids and hide its rows. So a store that
//! keeps its files in a bucket first claims the prefix: the object `PREFIX/faasobs-writer.json`
//! ([`CLAIM_OBJECT`]) names the directory (a random id kept in `DATA/claim-id`, with its host,
//! path and process, for people to read).
//!
//! - A directory that finds the claim naming another refuses to open, unless told to take the
//!   prefix over (that directory is gone: a rebuilt machine). A directory that takes over numbers
//!   its segments [`TAKEOVER_ID_GAP`] above the prefix's files, so that no id the other directory
//!   may still hold in its WAL is ever used again.
//! - The claim is written with conditional requests (`If-None-Match`, `If-Match`), so of two
//!   directories claiming at once, one wins. Before each flush, compaction or retention, the store
//!   checks that the object is still the one it wrote; taken over, it writes nothing more to the
//!   prefix, and its segments wait in its WAL. Opened again, it finds files above the ids it
//!   reserved ([`crate::wal::RESERVED_IDS_FILE`]) and numbers its waiting segments after them.
//! - A store that closes with nothing waiting deletes its claim; one that crashed or closed with
//!   segments waiting keeps it, and its own directory takes it back when it opens.

use std::path::Path;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::writer::Objects;

/// The object, at the root of a store's prefix, that names the directory writing it.
pub const CLAIM_OBJECT: &str = "faasobs-writer.json";

/// The file in a data directory that keeps the random id its claims name it by.
pub const DIRECTORY_ID_FILE: &str = "claim-id";

/// How far above the prefix's files a directory that takes a prefix over numbers its segments:
/// above any id the directory it took over from can have used (it reserves ids a thousand at a
/// time, [`crate::wal::IDS_RESERVED_AHEAD`]; 2^32 ids last a thousand years of flushes).
pub const TAKEOVER_ID_GAP: u64 = 1 << 32;

/// What the claim object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Claimant {
    directory_id: String,
    host: String,
    data_dir: String,
    pid: u32,
    since: String,
}

impl Claimant {
    fn describe(&self) -> String {
        format!(
            "data directory {} on {} (process {}, since {})",
            self.data_dir, self.host, self.pid, self.since
        )
    }
}

/// A claim this process holds on a prefix.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The entity tag of the claim object as written.
    version: UpdateVersion,
    /// The claim replaced another directory's.
    pub took_over: bool,
}

/// Claims the prefix of `objects` for the data directory `data_dir` (canonical). A claim of
/// another directory is refused with [`StoreError::Claimed`], or replaced when `take_over`.
pub async fn claim(
    objects: &Objects,
    data_dir: &Path,
    prefix: &str,
    take_over: bool,
) -> Result<Claim, StoreError> {
    let ours = Claimant {
        directory_id: directory_id(data_dir)?,
        host: host_name(),
        data_dir: data_dir.display().to_string(),
        pid: std::process::id(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let body = serde_json::to_vec_pretty(&ours).expect("a claim serializes");
    let path = ObjectPath::from(CLAIM_OBJECT);
    // Two rounds at most: a claim written by another directory between our read and our write
    // makes the write fail, and the next round reads it.
    for _ in 0..2 {
        // The other directory whose claim this one replaces, described.
        let (mode, replaced) = match objects.store.get(&path).await {
            Err(object_store::Error::NotFound { .. }) => (PutMode::Create, None),
            Err(e) => return Err(e.into()),
            Ok(found) => {
                let version = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let theirs: Option<Claimant> = serde_json::from_slice(&found.bytes().await?).ok();
                let same = theirs
                    .as_ref()
                    .is_some_and(|t| t.directory_id == ours.directory_id);
                let who = theirs
                    .map_or_else(|| format!("an unreadable {CLAIM_OBJECT}"), |t| t.describe());
                if !same && !take_over {
                    return Err(StoreError::Claimed(format!(
                        "{prefix} is written by {who}: one data directory writes a prefix, since \
                         each names its files by its own segment ids. Give this one another \
                         prefix, or, if that directory is gone for good (a rebuilt machine), \
                         start this one with --take-over"
                    )));
                }
                (PutMode::Update(version), (!same).then_some(who))
            }
        };
        let options = PutOptions {
            mode,
            ..Default::default()
        };
        match objects
            .store
            .put_opts(&path, body.clone().into(), options)
            .await
        {
            Ok(result) => {
                if let Some(who) = &replaced {
                    tracing::warn!("took {prefix} over from {who}");
                }
                return Ok(Claim {
                    version: UpdateVersion {
                        e_tag: result.e_tag,
                        version: result.version,
                    },
                    took_over: replaced.is_some(),
                });
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Claimed(format!(
        "{prefix}: another data directory claimed it at the same time as this one"
    )))
}

/// What became of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// The claim object is the one this claim wrote.
    Held,
    /// There is no claim object (deleted, or the bucket made anew).
    Missing,
    /// Another claim replaced it: another directory took the prefix over.
    Replaced,
}

impl Claim {
    /// Whether the claim object is still the one this claim wrote.
    pub async fn state(&self, objects: &Objects) -> Result<ClaimState, StoreError> {
        match objects.store.head(&ObjectPath::from(CLAIM_OBJECT)).await {
            Ok(meta)
                if meta.e_tag == self.version.e_tag && meta.version == self.version.version =>
            {
                Ok(ClaimState::Held)
            }
            Ok(_) => Ok(ClaimState::Replaced),
            Err(object_store::Error::NotFound { .. }) => Ok(ClaimState::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the claim object if it is still this claim's.
    pub async fn release(&self, objects: &Objects) -> Result<(), StoreError> {
        if self.state(objects).await? == ClaimState::Held {
            objects
                .store
                .delete(&ObjectPath::from(CLAIM_OBJECT))
                .await?;
        }
        Ok(())
    }
}

/// The random id of the data directory `data_dir`, made and kept there the first time.
fn directory_id(data_dir: &Path) -> Result<String, StoreError> {
    let path = data_dir.join(DIRECTORY_ID_FILE);
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let id = hex::encode(rand::random::<[u8; 16]>());
    crate::wal::replace_file_durably(data_dir, DIRECTORY_ID_FILE, &format!("{id}\n"))
        .map_err(io)?;
    Ok(id)
}

/// This machine's name, for people reading a claim.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use std::sync::Arc;

    /// A second directory is refused while the first holds the claim; its own directory takes
    /// the claim back; a take-over replaces it, after which the first no longer holds it.
    #[tokio::test]
    async fn one_directory_holds_a_prefix_until_another_takes_it_over() {
        let objects = Objects {
            store: Arc::new(InMemory::new()),
            local_root: None,
            scratch: None,
        };
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();

        let held = claim(&objects, first.path(), "s3://b/p", false)
            .await
            .unwrap();
        assert!(!held.took_over);
        assert_eq!(held.state(&objects).await.unwrap(), ClaimState::Held);
        let refused = claim(&objects, second.path(), "s3://b/p", false)
            .await
            .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains(&first.path().display().to_string())
                && message.contains("--take-over"),
            "{message}"
        );
        assert_eq!(
            held.state(&objects).await.unwrap(),
            ClaimState::Held,
            "a refusal changes nothing"
        );

        // The same directory again (a restart after a crash): its claim, written anew.
        let again = claim(&objects, first.path(), "s3://b/p", false)
            .await
            .unwrap();
        assert!(!again.took_over);
        assert_eq!(again.state(&objects).await.unwrap(), ClaimState::Held);

        let taken = claim(&objects, second.path(), "s3://b/p", true)
            .await
            .unwrap();
        assert!(taken.took_over);
        assert_eq!(again.state(&objects).await.unwrap(), ClaimState::Replaced);
        again.release(&objects).await.unwrap();
        assert_eq!(
            taken.state(&objects).await.unwrap(),
            ClaimState::Held,
            "not released by the other"
        );
        taken.release(&objects).await.unwrap();
        assert_eq!(taken.state(&objects).await.unwrap(), ClaimState::Missing);
    }
}
