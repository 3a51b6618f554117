//! Parquet files on S3-compatible object storage (`s3://BUCKET/PREFIX`).
//!
//! A store may keep its Parquet files in a bucket while its WAL, its `LOCK` and its import ledger
//! stay in the local data directory: a write is acknowledged once it is synced to the local WAL,
//! as always, and a flushed segment is deleted only once its Parquet files are in the bucket (an
//! S3 PUT is whole and durable when it is answered). The directory remembers the bucket in
//! `DATA/parquet-store`, so every later command on it (imports, compaction, queries) reads and
//! writes the same files.
//!
//! The bucket is configured by the `AWS_*` environment variables that `object_store`'s
//! `AmazonS3Builder::from_env` reads: `AWS_REGION`, the credentials (or the instance's),
//! `AWS_ENDPOINT_URL` for an S3-compatible server and `AWS_ALLOW_HTTP=true` for an `http://` one.

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use url::Url;

use super::StoreError;
use super::writer::Objects;

/// The file in a data directory that names the bucket its Parquet files are kept in.
pub const PARQUET_STORE_FILE: &str = "parquet-store";

/// The schemes read as object storage.
const OBJECT_STORE_SCHEMES: &[&str] = &["s3", "s3a"];

/// What the environment variables that configure a bucket are, for errors to name.
pub const CONFIGURED_BY: &str = "object storage is configured by AWS_ENDPOINT_URL, AWS_REGION, \
     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; an http:// endpoint needs AWS_ALLOW_HTTP=true";

/// A location that looks like a URL faasobs does not read.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error(
        "{0}: faasobs reads object storage at s3://BUCKET/PREFIX (S3 and S3-compatible stores); \
         other schemes are not supported"
    )]
    UnsupportedScheme(String),
    #[error("{0}: not a URL faasobs can read ({1}); object storage is given as s3://BUCKET/PREFIX")]
    Invalid(String, url::ParseError),
    #[error("{0}: names no bucket; object storage is given as s3://BUCKET/PREFIX")]
    NoBucket(String),
}

/// Reads `text` as a place on object storage: `s3://BUCKET[/PREFIX]`, its prefix a folder
/// (`s3://b/p` and `s3://b/p/` are the same). `None`: not a URL (a local path); another scheme
/// is an error.
pub fn parse_url(text: &str) -> Result<Option<Url>, UrlError> {
    let Some((scheme, _)) = text.split_once("://") else {
        return Ok(None);
    };
    let is_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Ok(None);
    }
    if !OBJECT_STORE_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(UrlError::UnsupportedScheme(text.to_string()));
    }
    let mut url = Url::parse(text).map_err(|e| UrlError::Invalid(text.to_string(), e))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoBucket(text.to_string()));
    }
    let prefix = url.path().trim_matches('/').to_string();
    url.set_path(&format!("/{prefix}"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(Some(url))
}

/// `url` as people write it: without the slash after a bucket's name.
pub fn display_url(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// A bucket, and the store's folder in it.
pub struct Bucket {
    /// `s3://BUCKET/`.
    pub url: Url,
    /// The whole bucket.
    pub store: Arc<dyn ObjectStore>,
    /// The store's folder in the bucket (empty: the bucket's root).
    pub prefix: ObjectPath,
}

impl Bucket {
    /// Opens the bucket of `url` (from [`parse_url`]) with the `AWS_*` environment. Nothing is
    /// read or written yet.
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

    /// The store's objects in the bucket: paths relative to its prefix, nothing local.
    pub fn objects(&self) -> Objects {
        let store: Arc<dyn ObjectStore> = if self.prefix.as_ref().is_empty() {
            Arc::clone(&self.store)
        } else {
            Arc::new(PrefixStore::new(
                Arc::clone(&self.store),
                self.prefix.clone(),
            ))
        };
        Objects {
            store,
            local_root: None,
            scratch: None,
        }
    }

    /// The key in the bucket of the store's object `location`.
    pub fn key(&self, location: &ObjectPath) -> ObjectPath {
        ObjectPath::from_iter(self.prefix.parts().chain(location.parts()))
    }
}

/// The bucket `data_dir` keeps its Parquet files in (`DATA/parquet-store`), if it names one.
pub fn remembered(data_dir: &Path) -> Result<Option<Url>, StoreError> {
    let path = data_dir.join(PARQUET_STORE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    match parse_url(text.trim()) {
        Ok(Some(url)) => Ok(Some(url)),
        Ok(None) => Err(StoreError::ParquetStore(format!(
            "{}: names no s3:// URL ({:?})",
            path.display(),
            text.trim()
        ))),
        Err(e) => Err(StoreError::ParquetStore(format!("{}: {e}", path.display()))),
    }
}

/// Records in `data_dir` that its Parquet files are kept at `url`, durably.
pub fn remember(data_dir: &Path, url: &Url) -> Result<(), StoreError> {
    let contents = format!("{}\n", display_url(url));
    crate::wal::replace_file_durably(data_dir, PARQUET_STORE_FILE, &contents).map_err(|source| {
        StoreError::Io {
            path: data_dir.join(PARQUET_STORE_FILE),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_are_object_storage_and_paths_are_not() {
        for path in [
            "faasobs-data",
            "/var/lib/faasobs",
            "./a://b",
            "c:/data",
            "weird:name",
        ] {
            assert!(parse_url(path).unwrap().is_none(), "{path}");
        }
        let url = |s: &str| Some(Url::parse(s).unwrap());
        assert_eq!(
            parse_url("s3://team/faasobs").unwrap(),
            url("s3://team/faasobs")
        );
        assert_eq!(
            parse_url("s3://team/faasobs/").unwrap(),
            url("s3://team/faasobs")
        );
        assert_eq!(parse_url("S3://team").unwrap(), url("s3://team/"));
        assert_eq!(
            display_url(&parse_url("s3://team/a/b/").unwrap().unwrap()),
            "s3://team/a/b"
        );
        assert_eq!(
            display_url(&parse_url("s3://team").unwrap().unwrap()),
            "s3://team"
        );
    }

    #[test]
    fn other_urls_are_refused_with_the_form_faasobs_reads() {
        let message = |text: &str| parse_url(text).unwrap_err().to_string();
        assert!(message("gs://bucket/x").contains("s3://BUCKET/PREFIX"));
        assert!(message("https://example.invalid/x").contains("not supported"));
        assert!(message("s3:///no-bucket").contains("names no bucket"));
    }

    #[test]
    fn keys_keep_the_prefix_and_the_object_path() {
        let location = ObjectPath::from("invocations/2026-11-24/13/1-1.parquet");
        for (url, key) in [
            ("s3://team/a/b", "a/b/invocations/2026-11-24/13/1-1.parquet"),
            ("s3://team", "invocations/2026-11-24/13/1-1.parquet"),
        ] {
            let bucket = Bucket::open(&parse_url(url).unwrap().unwrap()).unwrap();
            assert_eq!(bucket.key(&location).as_ref(), key);
            assert_eq!(bucket.url.as_str(), "s3://team/");
        }
    }

    #[test]
    fn a_directory_remembers_its_bucket_and_a_garbled_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(remembered(dir.path()).unwrap(), None);
        let url = parse_url("s3://team/faasobs/").unwrap().unwrap();
        remember(dir.path(), &url).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PARQUET_STORE_FILE)).unwrap(),
            "s3://team/faasobs\n"
        );
        assert_eq!(remembered(dir.path()).unwrap(), Some(url));
        std::fs::write(dir.path().join(PARQUET_STORE_FILE), "/elsewhere\n").unwrap();
        let error = remembered(dir.path()).unwrap_err().to_string();
        assert!(error.contains("names no s3:// URL"), "{error}");
    }
}
