//! Request bodies: the size limits and the bounded decompression every HTTP endpoint applies.
//!
//! A body is refused before it is read when its declared length is over the limit, and while it is
//! read when it grows past it; a compressed body (gzip, deflate, zstd: the encodings the
//! OpenTelemetry exporters offer) is inflated only up to the decompressed limit, so a small
//! request that would inflate to gigabytes (a bomb) is refused, never inflated.

use std::io::Read;

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body inflates past the limit of {limit} bytes")]
    InflatesTooLarge { limit: usize },
    #[error("request body is not valid {encoding}: {why}")]
    BadCompression { encoding: &'static str, why: String },
    #[error("unsupported Content-Encoding {0:?} (gzip, deflate, zstd and identity are accepted)")]
    UnsupportedEncoding(String),
}

/// Decodes a body by its `Content-Encoding`, inflating it up to `max_decompressed` bytes.
pub fn decode_content(
    encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
) -> Result<Vec<u8>, BodyError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => inflate_gzip(body, max_decompressed),
        Some("deflate") => inflate_deflate(body, max_decompressed),
        Some("zstd") => match zstd::stream::read::Decoder::new(body) {
            Ok(decoder) => inflate("zstd", decoder, max_decompressed),
            Err(e) => Err(BodyError::BadCompression {
                encoding: "zstd",
                why: e.to_string(),
            }),
        },
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

/// Inflates gzip, refusing output past `limit` bytes.
pub fn inflate_gzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    inflate("gzip", flate2::read::MultiGzDecoder::new(body), limit)
}

/// Inflates HTTP's `deflate`: zlib (RFC 1950), as the exporters send it, or a raw deflate stream,
/// as some clients send it in its place; refusing output past `limit` bytes.
fn inflate_deflate(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let zlib_header = body.len() >= 2
        && body[0] & 0x0f == 8
        && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
    let raw = || inflate("deflate", flate2::read::DeflateDecoder::new(body), limit);
    if !zlib_header {
        return raw();
    }
    match inflate("deflate", flate2::read::ZlibDecoder::new(body), limit) {
        // A raw stream whose first bytes happen to read as a zlib header.
        Err(BodyError::BadCompression { .. }) => raw(),
        inflated => inflated,
    }
}

/// Reads `decoder` to its end, refusing output past `limit` bytes.
fn inflate(encoding: &'static str, decoder: impl Read, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::BadCompression {
            encoding,
            why: e.to_string(),
        })?;
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

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 19).unwrap()
    }

    /// Every encoding gives back what was compressed, and a bomb of each stops at the limit.
    #[test]
    fn a_bomb_of_any_encoding_stops_at_the_limit() {
        type Compress = fn(&[u8]) -> Vec<u8>;
        let compressors: [(&str, Compress); 4] = [
            ("gzip", gzip),
            ("deflate", zlib),
            ("deflate", raw_deflate),
            ("zstd", zstd),
        ];
        for (encoding, compress) in compressors {
            let bomb = compress(&vec![0u8; 50 * 1024 * 1024]);
            assert!(bomb.len() < 100 * 1024, "{encoding}");
            assert_eq!(
                decode_content(Some(encoding), &bomb, 1024 * 1024),
                Err(BodyError::InflatesTooLarge { limit: 1024 * 1024 }),
                "{encoding}"
            );
            let hello = decode_content(Some(encoding), &compress(b"hello"), 5);
            assert_eq!(hello.unwrap(), b"hello", "{encoding}");
        }
    }

    #[test]
    fn encodings_are_checked() {
        assert!(matches!(
            decode_content(Some("br"), b"x", 10),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        for encoding in ["gzip", "deflate", "zstd"] {
            let error = decode_content(Some(encoding), b"not compressed", 10).unwrap_err();
            assert!(
                matches!(error, BodyError::BadCompression { encoding: e, .. } if e == encoding),
                "{error}"
            );
        }
        assert_eq!(decode_content(None, b"x", 10).unwrap(), b"x");
    }
}
