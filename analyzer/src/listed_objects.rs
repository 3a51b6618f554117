//! A bucket as DataFusion reads it: the files the analyzer listed when it opened are known, so
//! their `HEAD`s are answered from that listing instead of the bucket.
//!
//! DataFusion's `ListingTable` sends a `HEAD` for each file URL it is given, at every scan, to
//! learn its size. On a local directory that is a `stat`; on S3 it was a billed request per file
//! per query (hundreds for a month of hours), and several queries make one dashboard refresh.
//! Every other request goes to the bucket. A listed file deleted since (by a closing store,
//! which deletes the files its compaction replaced at once) still fails when its bytes are read,
//! as it would have between a `HEAD` and a `GET`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// `inner` with the `HEAD` of each object in `listed` answered from it.
#[derive(Debug)]
pub struct ListedObjects {
    inner: Arc<dyn ObjectStore>,
    listed: HashMap<Path, ObjectMeta>,
}

impl ListedObjects {
    /// `inner`, knowing `listed` (each with its whole key in `inner`).
    pub fn new(inner: Arc<dyn ObjectStore>, listed: impl IntoIterator<Item = ObjectMeta>) -> Self {
        let listed = listed
            .into_iter()
            .map(|meta| (meta.location.clone(), meta))
            .collect();
        ListedObjects { inner, listed }
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
            None => self.inner.get_opts(location, options).await,
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
        let mut listed = bucket.head(&listed_path).await.unwrap();
        listed.size = 1234;
        let store = ListedObjects::new(bucket.clone(), [listed.clone()]);

        assert_eq!(store.head(&listed_path).await.unwrap(), listed);
        assert_eq!(store.head(&other_path).await.unwrap().size, 4);
        let bytes = store
            .get(&listed_path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"PAR1");
        let conditional = GetOptions {
            if_match: Some("no such etag".into()),
            head: true,
            ..Default::default()
        };
        assert!(store.get_opts(&listed_path, conditional).await.is_err());

        // Deleted since the listing: its HEAD still answers, its bytes do not.
        bucket.delete(&listed_path).await.unwrap();
        assert_eq!(store.head(&listed_path).await.unwrap().size, 1234);
        let gone = store.get(&listed_path).await;
        assert!(
            matches!(gone, Err(object_store::Error::NotFound { .. })),
            "{gone:?}"
        );
    }
}
