//! The store's files as DataFusion reads them: the files the analyzer listed when it opened are
//! known, so their `HEAD`s are answered from that listing, and reading one that is no longer the
//! file listed fails with [`ListingOutdated`].
//!
//! DataFusion's `ListingTable` sends a `HEAD` for each file URL it is given, at every scan, to
//! learn its size. On a local directory that is a `stat`; on S3 it was a billed request per file
//! per query (hundreds for a month of hours), and several queries make one dashboard refresh.
//! Every other request goes to the store. A listed file can be gone or different when its bytes
//! are read: a closing store deletes the files its compaction replaced at once, and an hour's
//! lone file is rewritten in place. On a local directory DataFusion took a file gone at its `HEAD`
//! for an empty folder and read nothing, so the query answered without that file's rows; now the
//! query fails with [`ListingOutdated`], and the commands open the store again and rerun it
//! ([`is_listing_outdated`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions,
};

/// A listed file that is gone, or is another file, when its bytes are read: the store changed
/// after the listing, and a query reading it must list the store again.
#[derive(Debug)]
pub struct ListingOutdated {
    pub location: Path,
}

/// What a [`ListingOutdated`] says, for those that have its message alone (the dashboard's
/// failed loads).
pub const LISTING_OUTDATED_SAYS: &str = "changed after the store was listed";

impl fmt::Display for ListingOutdated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {LISTING_OUTDATED_SAYS} (a compaction replaced it); run the query again",
            self.location
        )
    }
}

impl std::error::Error for ListingOutdated {}

/// True when `error`, or an error it came from, is a [`ListingOutdated`].
pub fn is_listing_outdated(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<ListingOutdated>())
}

fn outdated(location: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "listed files",
        source: Box::new(ListingOutdated {
            location: location.clone(),
        }),
    }
}

/// The same object, by size and entity tag (when both have one; the times' precision differs
/// between a listing and a read on S3).
fn same_object(listed: &ObjectMeta, read: &ObjectMeta) -> bool {
    let tag = |meta: &ObjectMeta| {
        meta.e_tag
            .as_deref()
            .map(|tag| tag.trim_start_matches("W/").trim_matches('"').to_string())
    };
    listed.size == read.size
        && match (tag(listed), tag(read)) {
            (Some(listed), Some(read)) => listed == read,
            _ => true,
        }
}

/// `inner` with the `HEAD` of each object in `listed` answered from it.
#[derive(Debug)]
pub struct ListedObjects {
    inner: Arc<dyn ObjectStore>,
    listed: HashMap<Path, ObjectMeta>,
    /// `inner` is the local file system, where a `stat` is cheap and reading ranges without one
    /// opens a file once for them all.
    local: bool,
}

impl ListedObjects {
    /// `inner` (a bucket), knowing `listed` (each with its whole key in `inner`).
    pub fn new(inner: Arc<dyn ObjectStore>, listed: impl IntoIterator<Item = ObjectMeta>) -> Self {
        let listed = listed
            .into_iter()
            .map(|meta| (meta.location.clone(), meta))
            .collect();
        ListedObjects {
            inner,
            listed,
            local: false,
        }
    }

    /// The local file system, knowing `listed` (each by its absolute path).
    pub fn local(listed: impl IntoIterator<Item = ObjectMeta>) -> Self {
        ListedObjects {
            local: true,
            ..ListedObjects::new(Arc::new(LocalFileSystem::new()), listed)
        }
    }

    /// The listed object a `HEAD` (options with nothing but `head` set) asks for.
    fn answers_head(&self, location: &Path, options: &GetOptions) -> Option<&ObjectMeta> {
        let plain_head = options.head
            && options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.range.is_none()
            && options.version.is_none();
        plain_head.then(|| self.listed.get(location)).flatten()
    }
}

impl fmt::Display for ListedObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} objects listed)", self.inner, self.listed.len())
    }
}

#[async_trait]
impl ObjectStore for ListedObjects {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.answers_head(location, &options) {
            Some(meta) => Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                meta: meta.clone(),
                range: 0..meta.size,
                attributes: Default::default(),
            }),
            None => {
                let listed = self.listed.get(location);
                match self.inner.get_opts(location, options).await {
                    Ok(read) if listed.is_some_and(|listed| !same_object(listed, &read.meta)) => {
                        Err(outdated(location))
                    }
                    Err(object_store::Error::NotFound { .. }) if listed.is_some() => {
                        Err(outdated(location))
                    }
                    answered => answered,
                }
            }
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        // A file's footer is cached by its listed size and time, so its column chunks may be
        // the first of its bytes a query reads: they are checked too.
        let Some(listed) = self.listed.get(location) else {
            return self.inner.get_ranges(location, ranges).await;
        };
        if !self.local {
            // Each ranged GET answers the object's metadata as well, checked in `get_opts`.
            return object_store::coalesce_ranges(
                ranges,
                |range| self.get_range(location, range),
                object_store::OBJECT_STORE_COALESCE_DEFAULT,
            )
            .await;
        }
        // A `stat`, then the local store's own reading, which opens the file once for all the
        // ranges and reads only them.
        match self.inner.head(location).await {
            Ok(meta) if same_object(listed, &meta) => {}
            Ok(_) | Err(object_store::Error::NotFound { .. }) => return Err(outdated(location)),
            Err(e) => return Err(e),
        }
        match self.inner.get_ranges(location, ranges).await {
            Err(object_store::Error::NotFound { .. }) => Err(outdated(location)),
            answered => answered,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    /// A listed object's `HEAD` is answered from the listing (here a size the bucket does not
    /// have, to tell them apart); its bytes, conditional requests and unlisted objects come
    /// from the bucket.
    #[tokio::test]
    async fn a_listed_objects_head_comes_from_the_listing_and_everything_else_from_the_bucket() {
        let bucket = Arc::new(InMemory::new());
        let listed_path = Path::from("prefix/spans/2026-11-23/09/1-1.parquet");
        let other_path = Path::from("prefix/spans/2026-11-23/09/2-2.parquet");
        for path in [&listed_path, &other_path] {
            bucket
                .put(path, PutPayload::from_static(b"PAR1"))
                .await
                .unwrap();
        }
        let listed = bucket.head(&listed_path).await.unwrap();
        let store = ListedObjects::new(bucket.clone(), [listed.clone()]);
        let mut listed_otherwise = listed.clone();
        listed_otherwise.size = 1234;
        let store_listed_otherwise = ListedObjects::new(bucket.clone(), [listed_otherwise.clone()]);

        assert_eq!(
            store_listed_otherwise.head(&listed_path).await.unwrap(),
            listed_otherwise
        );
        assert_eq!(store.head(&other_path).await.unwrap().size, 4);
        let bytes = store
            .get(&listed_path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"PAR1");
        let ranges = store.get_ranges(&listed_path, &[0..2, 2..4]).await.unwrap();
        assert_eq!(ranges, [&b"PA"[..], &b"R1"[..]]);
        let conditional = GetOptions {
            if_match: Some("no such etag".into()),
            head: true,
            ..Default::default()
        };
        assert!(store.get_opts(&listed_path, conditional).await.is_err());
    }

    /// A listed object that is another object when its bytes are read (rewritten in place), or
    /// is gone (deleted), fails as `ListingOutdated`, in a bucket and on the local file system;
    /// its `HEAD` still answers from the listing. Unlisted objects are read as they are.
    #[tokio::test]
    async fn a_listed_object_changed_or_gone_is_outdated() {
        let dir = tempfile::tempdir().unwrap();
        let local_root = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let absolute =
            |path: &Path| Path::from_absolute_path(dir.path().join(path.as_ref())).unwrap();
        let in_memory = Arc::new(InMemory::new());
        let rewritten = Path::from("logs/2026-11-23/09/1-1.parquet");
        let deleted = Path::from("logs/2026-11-23/09/2-2.parquet");
        let unlisted = Path::from("logs/2026-11-23/09/3-3.parquet");
        let stores: [(Arc<dyn ObjectStore>, bool); 2] = [(in_memory, false), (local_root, true)];
        for (inner, local) in stores {
            let key = |path: &Path| if local { absolute(path) } else { path.clone() };
            for path in [&rewritten, &deleted, &unlisted] {
                inner
                    .put(path, PutPayload::from_static(b"PAR1 listed"))
                    .await
                    .unwrap();
            }
            let mut listed = Vec::new();
            for path in [&rewritten, &deleted] {
                let meta = inner.head(path).await.unwrap();
                listed.push(ObjectMeta {
                    location: key(path),
                    ..meta
                });
            }
            let store = match local {
                true => ListedObjects::local(listed),
                false => ListedObjects::new(Arc::clone(&inner), listed),
            };
            inner
                .put(&rewritten, PutPayload::from_static(b"PAR1 rewritten"))
                .await
                .unwrap();
            inner.delete(&deleted).await.unwrap();
            inner
                .put(&unlisted, PutPayload::from_static(b"PAR1 rewritten"))
                .await
                .unwrap();

            for path in [&rewritten, &deleted] {
                let path = key(path);
                assert_eq!(store.head(&path).await.unwrap().size, 11, "{path}");
                let error = store.get(&path).await.unwrap_err();
                assert!(is_listing_outdated(&error), "{path}: {error}");
                let error = store.get_ranges(&path, &[0..2, 2..4]).await.unwrap_err();
                assert!(is_listing_outdated(&error), "{path}: {error}");
            }
            let unlisted = key(&unlisted);
            let bytes = store.get_ranges(&unlisted, &[5..9, 9..14]).await.unwrap();
            assert_eq!(bytes, [&b"rewr"[..], &b"itten"[..]], "{unlisted}");
        }
    }
}
