//! Downloading one layer's bytes into a bounded channel, hashing them on the way.
//!
//! Registry downloads that break off resume where they stopped with a Range request (the
//! hash continues across the resume), retrying with exponential backoff; whatever happened,
//! the whole blob's sha256 is checked before the consumer is told the layer is complete.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use oci_client::client::BlobResponse;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::Sender;

use crate::local::{self, Local, LocalError};
use crate::resolve::LayerFacts;

/// Size of the chunks read from local files.
const LOCAL_CHUNK: usize = 256 * 1024;

/// What the downloader tells the unpacker.
#[derive(Debug)]
pub enum Msg {
    Data(Bytes),
    /// The whole blob arrived and matched its digest.
    Done,
    Failed(FetchError),
}

/// How often and how patiently a registry download is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in a row that make no progress before giving up.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        (self.initial_backoff * factor).min(self.max_backoff)
    }
}

/// Why a layer's bytes could not be obtained intact.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "digest mismatch: the content hashes to {actual} but the manifest says {expected}; the layer is corrupt or was tampered with"
    )]
    DigestMismatch { expected: String, actual: String },
    #[error("the source sent more than the {expected} bytes the manifest gives")]
    TooLong { expected: u64 },
    #[error("the source ended after {actual} of the {expected} bytes the manifest gives")]
    TooShort { expected: u64, actual: u64 },
    #[error("the download failed after {attempts} attempt(s), at byte {offset} of {size}")]
    Registry {
        attempts: u32,
        offset: u64,
        size: u64,
        #[source]
        source: Box<OciDistributionError>,
    },
    #[error("the download failed after {attempts} attempt(s), at byte {offset} of {size}")]
    Transfer {
        attempts: u32,
        offset: u64,
        size: u64,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("fetching the manifest {digest}")]
    Manifest {
        digest: String,
        #[source]
        source: Box<OciDistributionError>,
    },
    #[error("the download task stopped before the layer was complete")]
    Aborted,
}

/// Where blobs come from.
pub enum Blobs {
    Registry {
        client: Client,
        reference: Reference,
        auth: oci_client::secrets::RegistryAuth,
        retry: RetryPolicy,
    },
    Local(Local),
}

impl fmt::Debug for Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blobs::Registry { reference, .. } => write!(f, "Blobs::Registry({reference})"),
            Blobs::Local(l) => write!(f, "Blobs::Local({l:?})"),
        }
    }
}

/// Hash and size bookkeeping across attempts.
struct Progress {
    hasher: Sha256,
    offset: u64,
    size: u64,
}

enum Attempt {
    Complete,
    ReceiverGone,
    Transient(Transient),
}

enum Transient {
    Registry(OciDistributionError),
    Io(io::Error),
}

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transient::Registry(e) => write!(f, "{e}"),
            Transient::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Errors worth another attempt: transport failures, 5xx and 429.
fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        _ => false,
    }
}

impl Blobs {
    /// The platform manifest `digest` as the source stores it, its digest checked (staging
    /// writes it into an OCI layout byte for byte).
    pub async fn manifest(&self, digest: &str) -> Result<Vec<u8>, FetchError> {
        let data = match self {
            Blobs::Registry {
                client,
                reference,
                auth,
                ..
            } => {
                let by_digest = reference.clone_with_digest(digest.to_string());
                let accepted = [
                    oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
                    oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE,
                ];
                let (bytes, _) = client
                    .pull_manifest_raw(&by_digest, auth, &accepted)
                    .await
                    .map_err(|e| FetchError::Manifest {
                        digest: digest.to_string(),
                        source: Box::new(e),
                    })?;
                bytes.to_vec()
            }
            Blobs::Local(l) => {
                let (file, len) = l.open(&local::blob_path(digest)?)?;
                let mut out = Vec::new();
                io::Read::read_to_end(&mut io::Read::take(file, len), &mut out).map_err(|e| {
                    FetchError::Transfer {
                        attempts: 1,
                        offset: 0,
                        size: len,
                        source: e,
                    }
                })?;
                out
            }
        };
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        if actual != digest {
            return Err(FetchError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(data)
    }

    /// Sends `layer`'s bytes to `tx`, then [`Msg::Done`] once the digest matched, or
    /// [`Msg::Failed`]. Stops quietly when the receiver is gone (the unpacker gave up).
    pub async fn fetch(&self, layer: &LayerFacts, tx: Sender<Msg>) {
        let mut p = Progress {
            hasher: Sha256::new(),
            offset: 0,
            size: layer.size,
        };
        let res = match local::blob_path(&layer.digest) {
            Err(e) => Err(FetchError::Local(e)),
            Ok(path) => match self {
                Blobs::Registry {
                    client,
                    reference,
                    retry,
                    ..
                } => fetch_registry(client, reference, retry, layer, &mut p, &tx).await,
                Blobs::Local(local) => fetch_local(local, &path, &mut p, &tx).await,
            },
        };
        let msg = match res {
            Ok(false) => return,
            Ok(true) => {
                let actual = format!("sha256:{}", hex::encode(p.hasher.finalize()));
                if actual == layer.digest {
                    Msg::Done
                } else {
                    Msg::Failed(FetchError::DigestMismatch {
                        expected: layer.digest.clone(),
                        actual,
                    })
                }
            }
            Err(e) => Msg::Failed(e),
        };
        let _ = tx.send(msg).await;
    }
}

/// Returns Ok(false) when the receiver went away.
async fn send(p: &mut Progress, tx: &Sender<Msg>, chunk: Bytes) -> Result<bool, FetchError> {
    if p.offset + chunk.len() as u64 > p.size {
        return Err(FetchError::TooLong { expected: p.size });
    }
    p.hasher.update(&chunk);
    p.offset += chunk.len() as u64;
    Ok(tx.send(Msg::Data(chunk)).await.is_ok())
}

async fn fetch_local(
    local: &Local,
    member: &str,
    p: &mut Progress,
    tx: &Sender<Msg>,
) -> Result<bool, FetchError> {
    let (file, len) = local.open(member)?;
    if len != p.size {
        return Err(FetchError::TooShort {
            expected: p.size,
            actual: len,
        });
    }
    let mut file = tokio::fs::File::from_std(file).take(len);
    loop {
        let mut buf = BytesMut::with_capacity(LOCAL_CHUNK);
        let n = file
            .read_buf(&mut buf)
            .await
            .map_err(|e| FetchError::Transfer {
                attempts: 1,
                offset: p.offset,
                size: p.size,
                source: e,
            })?;
        if n == 0 {
            break;
        }
        if !send(p, tx, buf.freeze()).await? {
            return Ok(false);
        }
    }
    if p.offset != p.size {
        return Err(FetchError::TooShort {
            expected: p.size,
            actual: p.offset,
        });
    }
    Ok(true)
}

async fn fetch_registry(
    client: &Client,
    reference: &Reference,
    retry: &RetryPolicy,
    layer: &LayerFacts,
    p: &mut Progress,
    tx: &Sender<Msg>,
) -> Result<bool, FetchError> {
    let desc = OciDescriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size as i64,
        ..Default::default()
    };
    let mut failures = 0u32;
    loop {
        let before = p.offset;
        let err = match attempt(client, reference, &desc, p, tx).await? {
            Attempt::Complete => return Ok(true),
            Attempt::ReceiverGone => return Ok(false),
            Attempt::Transient(e) => e,
        };
        if p.offset > before {
            failures = 0;
        }
        failures += 1;
        if failures >= retry.attempts.max(1) {
            let (attempts, offset, size) = (failures, p.offset, p.size);
            return Err(match err {
                Transient::Registry(source) => FetchError::Registry {
                    attempts,
                    offset,
                    size,
                    source: Box::new(source),
                },
                Transient::Io(source) => FetchError::Transfer {
                    attempts,
                    offset,
                    size,
                    source,
                },
            });
        }
        let wait = retry.backoff(failures);
        tracing::warn!(
            layer = %layer.digest,
            offset = p.offset,
            size = p.size,
            "download interrupted ({err}); retrying in {wait:?} from byte {}",
            p.offset
        );
        tokio::time::sleep(wait).await;
    }
}

/// One request, from the current offset; a full answer to a Range request is skipped up to
/// the offset (its first bytes were already hashed and passed on).
async fn attempt(
    client: &Client,
    reference: &Reference,
    desc: &OciDescriptor,
    p: &mut Progress,
    tx: &Sender<Msg>,
) -> Result<Attempt, FetchError> {
    if p.offset == p.size {
        return Ok(Attempt::Complete);
    }
    let response = match client
        .pull_blob_stream_partial(reference, desc, p.offset, None)
        .await
    {
        Ok(r) => r,
        Err(e) if is_transient(&e) => return Ok(Attempt::Transient(Transient::Registry(e))),
        Err(source) => {
            return Err(FetchError::Registry {
                attempts: 1,
                offset: p.offset,
                size: p.size,
                source: Box::new(source),
            });
        }
    };
    let (stream, mut skip) = match response {
        BlobResponse::Partial(s) => (s, 0u64),
        BlobResponse::Full(s) => (s, p.offset),
    };
    let mut stream = stream.stream;
    while let Some(chunk) = stream.next().await {
        let mut chunk = match chunk {
            Ok(c) => c,
            Err(e) => return Ok(Attempt::Transient(Transient::Io(e))),
        };
        if skip > 0 {
            let n = skip.min(chunk.len() as u64) as usize;
            chunk.advance(n);
            skip -= n as u64;
            if chunk.is_empty() {
                continue;
            }
        }
        if !send(p, tx, chunk).await? {
            return Ok(Attempt::ReceiverGone);
        }
        if p.offset == p.size {
            // Not polled further: the blob is complete, the digest is checked by the caller.
            return Ok(Attempt::Complete);
        }
    }
    Ok(Attempt::Transient(Transient::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("connection closed at byte {} of {}", p.offset, p.size),
    ))))
}
