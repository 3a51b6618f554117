//! Where a session reads a store from: a local data directory, or a copy of one on S3-compatible
//! object storage (`s3://BUCKET/PREFIX`, for instance after `aws s3 sync DIR s3://BUCKET/PREFIX`).
//!
//! Both are read through `object_store`: the store's layout (`TABLE/DATE/HOUR/LO-HI.parquet`)
//! is the same in both, and the live files are told from superseded ones by their names alone,
//! so a copy that kept superseded files reads as the directory did. Only a local directory has
//! a write-ahead log to read unflushed rows from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::DataFusionError;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use url::Url;

/// The schemes `--data` reads as object storage.
const OBJECT_STORE_SCHEMES: &[&str] = &["s3", "s3a"];

/// Where a store is.
#[derive(Debug, Clone, PartialEq)]
pub enum DataLocation {
    /// A local data directory (it may not exist yet).
    Directory(PathBuf),
    /// A bucket, and a prefix within it, on S3-compatible object storage. Its endpoint,
    /// region and credentials come from the `AWS_*` environment variables.
    ObjectStore(Url),
}

/// A `--data` that looks like a URL faasobs does not read.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "{0}: faasobs reads object storage at s3://BUCKET/PREFIX (S3 and S3-compatible stores); \
         other schemes are not supported"
    )]
    UnsupportedScheme(String),
    #[error("{0}: not a URL faasobs can read ({1}); object storage is given as s3://BUCKET/PREFIX")]
    InvalidUrl(String, url::ParseError),
    #[error("{0}: names no bucket; object storage is given as s3://BUCKET/PREFIX")]
    NoBucket(String),
}

impl DataLocation {
    /// Reads `--data`: `s3://BUCKET[/PREFIX]` is object storage, anything without a scheme a
    /// local directory.
    pub fn parse(data: &Path) -> Result<DataLocation, LocationError> {
        let Some(text) = data.to_str() else {
            return Ok(DataLocation::Directory(data.to_path_buf()));
        };
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(DataLocation::Directory(data.to_path_buf()));
        };
        let is_scheme = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !is_scheme {
            return Ok(DataLocation::Directory(data.to_path_buf()));
        }
        if !OBJECT_STORE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(LocationError::UnsupportedScheme(text.to_string()));
        }
        let mut url =
            Url::parse(text).map_err(|e| LocationError::InvalidUrl(text.to_string(), e))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(LocationError::NoBucket(text.to_string()));
        }
        // The prefix is a folder: `s3://b/p` and `s3://b/p/` are the same store.
        let prefix = url.path().trim_matches('/').to_string();
        url.set_path(&format!("/{prefix}"));
        url.set_query(None);
        url.set_fragment(None);
        Ok(DataLocation::ObjectStore(url))
    }

    /// The local directory, when the store is one.
    pub fn directory(&self) -> Option<&Path> {
        match self {
            DataLocation::Directory(dir) => Some(dir),
            DataLocation::ObjectStore(_) => None,
        }
    }
}

impl<P: AsRef<Path> + ?Sized> From<&P> for DataLocation {
    /// A local directory (no scheme is read: see [`DataLocation::parse`]).
    fn from(dir: &P) -> DataLocation {
        DataLocation::Directory(dir.as_ref().to_path_buf())
    }
}

impl fmt::Display for DataLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataLocation::Directory(dir) => write!(f, "{}", dir.display()),
            DataLocation::ObjectStore(url) => {
                write!(f, "{}", url.as_str().trim_end_matches('/'))
            }
        }
    }
}

/// A store on object storage, opened: the bucket as DataFusion reads it, and the store's prefix
/// within it.
pub(crate) struct Bucket {
    /// `s3://BUCKET`, under which DataFusion finds [`Bucket::store`].
    pub url: Url,
    /// The whole bucket.
    pub store: Arc<dyn ObjectStore>,
    /// The store's folder in the bucket (empty: the bucket's root).
    pub prefix: ObjectPath,
}

impl Bucket {
    /// Opens the bucket of `url` with the `AWS_*` environment (endpoint, region, credentials,
    /// `AWS_ALLOW_HTTP`). Nothing is read yet.
    pub fn open(url: &Url) -> Result<Bucket, object_store::Error> {
        let store = AmazonS3Builder::from_env().with_url(url.as_str()).build()?;
        let mut bucket_url = url.clone();
        bucket_url.set_path("/");
        Ok(Bucket {
            url: bucket_url,
            store: Arc::new(store),
            prefix: ObjectPath::from_url_path(url.path())?,
        })
    }

    /// The store's own view of the bucket: paths relative to its prefix.
    pub fn within_prefix(&self) -> Arc<dyn ObjectStore> {
        if self.prefix.as_ref().is_empty() {
            Arc::clone(&self.store)
        } else {
            Arc::new(PrefixStore::new(
                Arc::clone(&self.store),
                self.prefix.clone(),
            ))
        }
    }

    /// The URL DataFusion reads the store's object `location` at.
    pub fn file_url(&self, location: &ObjectPath) -> Result<ListingTableUrl, DataFusionError> {
        let key = self.prefix.parts().chain(location.parts());
        ListingTableUrl::parse(format!(
            "{}{}",
            self.url.as_str(),
            ObjectPath::from_iter(key).as_ref()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DataLocation, LocationError> {
        DataLocation::parse(Path::new(text))
    }

    #[test]
    fn paths_are_directories_and_s3_urls_object_storage() {
        for dir in [
            "faasobs-data",
            "/var/lib/faasobs",
            "./a://b",
            "c:/data",
            "weird:name",
        ] {
            assert_eq!(parse(dir).unwrap(), DataLocation::Directory(dir.into()));
        }
        let url = |s: &str| DataLocation::ObjectStore(Url::parse(s).unwrap());
        assert_eq!(
            parse("s3://team/faasobs").unwrap(),
            url("s3://team/faasobs")
        );
        assert_eq!(
            parse("s3://team/faasobs/").unwrap(),
            url("s3://team/faasobs")
        );
        assert_eq!(parse("S3://team").unwrap(), url("s3://team/"));
        assert_eq!(
            parse("s3://team/a/b/").unwrap().to_string(),
            "s3://team/a/b"
        );
        assert_eq!(parse("s3://team").unwrap().directory(), None);
    }

    #[test]
    fn other_urls_are_refused_with_the_form_faasobs_reads() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert!(message("gs://bucket/x").contains("s3://BUCKET/PREFIX"));
        assert!(message("https://example.invalid/x").contains("not supported"));
        assert!(message("s3:///no-bucket").contains("names no bucket"));
    }

    #[test]
    fn file_urls_keep_the_prefix_and_the_object_path() {
        let bucket = |url: &str| Bucket {
            url: Url::parse("s3://team/").unwrap(),
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix: ObjectPath::from_url_path(Url::parse(url).unwrap().path()).unwrap(),
        };
        let location = ObjectPath::from("invocations/2026-11-24/13/1-1.parquet");
        assert_eq!(
            bucket("s3://team/a/b")
                .file_url(&location)
                .unwrap()
                .as_str(),
            "s3://team/a/b/invocations/2026-11-24/13/1-1.parquet"
        );
        assert_eq!(
            bucket("s3://team/").file_url(&location).unwrap().as_str(),
            "s3://team/invocations/2026-11-24/13/1-1.parquet"
        );
    }
}
