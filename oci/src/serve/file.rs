//! One file as an HTTP response: Content-Length, ETag (If-None-Match, If-Range), a single byte
//! Range (206/416), HEAD without a body, and the body streamed from disk in large chunks. Used
//! for boot files and registry blobs alike.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use std::io::SeekFrom;
use std::ops::RangeInclusive;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Read size for streaming bodies: large enough that a 1 GiB file is a few thousand reads.
const CHUNK: usize = 256 * 1024;

/// How the response describes the file.
#[derive(Debug, Clone, Default)]
pub struct FileMeta {
    pub content_type: Option<String>,
    /// A strong ETag (with quotes); derived from size and mtime when `None`.
    pub etag: Option<String>,
    /// Extra headers (e.g. `Docker-Content-Digest`).
    pub extra: Vec<(header::HeaderName, HeaderValue)>,
}

/// Serves `path`. Returns 404 when it does not exist or is not a regular file.
pub async fn respond(
    method: &Method,
    headers: &HeaderMap,
    path: &Path,
    meta: FileMeta,
) -> Response<Body> {
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return status(StatusCode::NOT_FOUND),
    };
    let md = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        _ => return status(StatusCode::NOT_FOUND),
    };
    let len = md.len();
    let etag = meta.etag.clone().unwrap_or_else(|| {
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("\"{len:x}-{mtime:x}\"")
    });
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(
            header::CONTENT_TYPE,
            meta.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
    for (k, v) in &meta.extra {
        builder = builder.header(k, v);
    }
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if inm.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .expect("valid response");
        }
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => match parse_range(r, len) {
            Ok(r) => r,
            Err(Unsatisfiable) => {
                return builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                    .header(header::CONTENT_LENGTH, "0")
                    .body(Body::empty())
                    .expect("valid response");
            }
        },
        _ => None,
    };
    let (start, count) = match &range {
        Some(r) => {
            builder = builder.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{len}", r.start(), r.end()),
            );
            (*r.start(), r.end() - r.start() + 1)
        }
        None => (0, len),
    };
    builder = builder.header(header::CONTENT_LENGTH, count.to_string());
    if method == Method::HEAD {
        return builder.body(Body::empty()).expect("valid response");
    }
    let mut file = file;
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let stream = ReaderStream::with_capacity(file.take(count), CHUNK);
    builder
        .body(Body::from_stream(stream))
        .expect("valid response")
}

/// An empty response with this status.
pub fn status(code: StatusCode) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .expect("valid response")
}

/// A `Range` that no byte of the file satisfies (answered with 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Parses a `Range` header for a file of `len` bytes. `Ok(None)`: serve it whole (not a
/// `bytes` range, or several ranges, which we answer with the whole file as RFC 9110 allows);
/// `Err`: unsatisfiable (416).
pub fn parse_range(value: &str, len: u64) -> Result<Option<RangeInclusive<u64>>, Unsatisfiable> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        len.saturating_sub(n)..=len - 1
    } else {
        let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().map_err(|_| Unsatisfiable)?
        };
        if start >= len || end < start {
            return Err(Unsatisfiable);
        }
        start..=end.min(len - 1)
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::{Unsatisfiable, parse_range};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..=9)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..=99)));
        assert_eq!(parse_range("bytes=90-1000", 100), Ok(Some(90..=99)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..=99)));
        assert_eq!(parse_range("bytes=-1000", 100), Ok(Some(0..=99)));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=5-4", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=x-4", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-0", 0), Err(Unsatisfiable));
    }
}
