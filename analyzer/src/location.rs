//! Where a session reads a store from: a local data directory, or a copy of one on S3-compatible
//! object storage (`s3://BUCKET/PREFIX`, for instance after `aws s3 sync DIR s3://BUCKET/PREFIX`).
//!
//! Both are read through `object_store`: the store's layout (`TABLE/DATE/HOUR/LO-HI.parquet`)
//! is the same in both, and the live files are told from superseded ones by their names alone,
//! so a copy that kept superseded files reads as the directory did. A directory whose collector
//! keeps its Parquet files in a bucket (`DATA/parquet-store`,
//! [`faasobs_collector::store::object_storage`]) is read from both: the files from the bucket,
//! the rows not flushed yet from its WAL. Only a local directory has a WAL.

use std::fmt;
use std::path::{Path, PathBuf};

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::DataFusionError;
use faasobs_collector::store::object_storage::{Bucket, UrlError, display_url, parse_url};
use object_store::path::Path as ObjectPath;
use url::Url;

/// Where a store is.
#[derive(Debug, Clone, PartialEq)]
pub enum DataLocation {
    /// A local data directory (it may not exist yet).
    Directory(PathBuf),
    /// A bucket, and a prefix within it, on S3-compatible object storage. Its endpoint,
    /// region and credentials come from the `AWS_*` environment variables.
    ObjectStore(Url),
}

impl DataLocation {
    /// Reads `--data`: `s3://BUCKET[/PREFIX]` is object storage, anything without a scheme a
    /// local directory; another scheme is an error.
    pub fn parse(data: &Path) -> Result<DataLocation, UrlError> {
        let url = match data.to_str() {
            Some(text) => parse_url(text)?,
            None => None,
        };
        Ok(match url {
            Some(url) => DataLocation::ObjectStore(url),
            None => DataLocation::Directory(data.to_path_buf()),
        })
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
            DataLocation::ObjectStore(url) => f.write_str(display_url(url)),
        }
    }
}

/// The URL DataFusion reads the store's object `location` in `bucket` at.
pub(crate) fn file_url(
    bucket: &Bucket,
    location: &ObjectPath,
) -> Result<ListingTableUrl, DataFusionError> {
    ListingTableUrl::parse(format!(
        "{}{}",
        bucket.url.as_str(),
        bucket.key(location).as_ref()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_directories_and_s3_urls_object_storage() {
        let parse = |text: &str| DataLocation::parse(Path::new(text)).unwrap();
        assert_eq!(
            parse("faasobs-data"),
            DataLocation::Directory("faasobs-data".into())
        );
        assert_eq!(parse("s3://team/a/b/").to_string(), "s3://team/a/b");
        assert_eq!(parse("s3://team").directory(), None);
        assert!(DataLocation::parse(Path::new("gs://team")).is_err());
    }

    #[test]
    fn file_urls_keep_the_prefix_and_the_object_path() {
        let location = ObjectPath::from("invocations/2026-11-24/13/1-1.parquet");
        for (url, file) in [
            (
                "s3://team/a/b",
                "s3://team/a/b/invocations/2026-11-24/13/1-1.parquet",
            ),
            (
                "s3://team/",
                "s3://team/invocations/2026-11-24/13/1-1.parquet",
            ),
        ] {
            let bucket = Bucket::open(&parse_url(url).unwrap().unwrap()).unwrap();
            assert_eq!(file_url(&bucket, &location).unwrap().as_str(), file);
        }
    }
}
