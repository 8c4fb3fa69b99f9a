//! Errors of layout reading and writing.

use std::path::PathBuf;

/// Why an OCI layout could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout { path: PathBuf, reason: String },
    #[error("{path}: invalid JSON for {what}")]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "tag {tag:?} is not in the layout {path} (index.json names: {})",
        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
    )]
    TagNotFound {
        path: PathBuf,
        tag: String,
        available: Vec<String>,
    },
    #[error(
        "the layout {path} holds {count} images; name one with a tag (index.json names: {})",
        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
    )]
    AmbiguousImage {
        path: PathBuf,
        count: usize,
        available: Vec<String>,
    },
    #[error("{what} has media type {media_type}, expected {expected}")]
    UnexpectedMediaType {
        what: String,
        media_type: String,
        expected: &'static str,
    },
    #[error("no manifest for {platform} in the image index {digest} (it has: {available})")]
    NoPlatform {
        platform: String,
        digest: String,
        available: String,
    },
    #[error("unsupported digest {0}: only sha256 is supported")]
    UnsupportedDigest(String),
    #[error("{what} is {size} bytes, more than the {limit} bytes allowed for JSON documents")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("{0}")]
    Spec(#[from] oci_spec::OciSpecError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
