//! Request bodies: the size limits and the bounded gzip inflation every HTTP endpoint applies.
//!
//! A body is refused before it is read when its declared length is over the limit, and while it is
//! read when it grows past it; a gzip body is inflated only up to the decompressed limit, so a
//! small request that would inflate to gigabytes (a gzip bomb) is refused, never inflated.

use std::io::Read;

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body inflates past the limit of {limit} bytes")]
    InflatesTooLarge { limit: usize },
    #[error("request body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("unsupported Content-Encoding {0:?} (gzip and identity are accepted)")]
    UnsupportedEncoding(String),
}

/// Decodes a body by its `Content-Encoding`, inflating gzip up to `max_decompressed` bytes.
pub fn decode_content(
    encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
) -> Result<Vec<u8>, BodyError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => inflate_gzip(body, max_decompressed),
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

/// Inflates gzip, refusing output past `limit` bytes.
pub fn inflate_gzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::InflatesTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024);
        assert_eq!(
            inflate_gzip(&bomb, 1024 * 1024),
            Err(BodyError::InflatesTooLarge { limit: 1024 * 1024 })
        );
        assert_eq!(inflate_gzip(&gzip(b"hello"), 5).unwrap(), b"hello");
    }

    #[test]
    fn encodings_are_checked() {
        assert!(matches!(
            decode_content(Some("br"), b"x", 10),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode_content(Some("gzip"), b"not gzip", 10),
            Err(BodyError::BadGzip(_))
        ));
        assert_eq!(decode_content(None, b"x", 10).unwrap(), b"x");
    }
}
