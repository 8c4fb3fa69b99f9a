//! Pulling a resolved image into a target root: layers download (the next one while the
//! current one unpacks, each through a small bounded channel), are hashed, decompressed and
//! unpacked in order as they arrive. No layer is held in memory or written to a temporary file.
//!
//! When this fails, the target holds the layers unpacked so far (partly, for the failing one)
//! and must not be booted: the caller reformats or wipes it. Nothing outside the target is
//! touched.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::decompress::{self, CompressionError};
use crate::fetch::{FetchError, Msg};
use crate::resolve::{Image, ResolveError};
use crate::root::Root;
use crate::unpack::{UnpackError, UnpackOptions, UnpackStats, Unpacker, human};

/// Chunks buffered per layer between the download and the unpacker.
const CHANNEL_CHUNKS: usize = 16;
/// Layers downloading at once: the one being unpacked and the next.
const LAYERS_IN_FLIGHT: usize = 2;
/// Bytes between two progress reports within a layer.
const PROGRESS_STEP: u64 = 1 << 20;

/// Where a pull stands, reported to the progress callback.
#[derive(Debug, Clone)]
pub struct Progress {
    /// 1-based index of the layer being unpacked.
    pub layer: usize,
    pub layers: usize,
    pub digest: String,
    /// Compressed bytes of this layer consumed so far, and its size.
    pub layer_bytes: u64,
    pub layer_size: u64,
    /// Compressed bytes of all layers consumed so far, and their total.
    pub bytes: u64,
    pub total_bytes: u64,
    /// Layers completely unpacked and verified.
    pub layers_done: usize,
}

/// Receives progress reports (from the unpacking thread).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a finished pull did.
#[derive(Debug, Clone, Copy)]
pub struct PullSummary {
    pub layers: usize,
    pub compressed_bytes: u64,
    pub stats: UnpackStats,
}

/// What failed in one layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Refused(#[from] ResolveError),
    #[error("opening the target root {0}")]
    Target(PathBuf, #[source] io::Error),
    #[error("writing the staged OCI layout at {0}")]
    Layout(PathBuf, #[source] io::Error),
    #[error("staging the image's manifest")]
    Manifest(#[source] Box<FetchError>),
    #[error("layer {index} of {count} ({digest}, {size} compressed)")]
    Layer {
        index: usize,
        count: usize,
        digest: String,
        size: String,
        #[source]
        source: Box<LayerError>,
    },
    #[error(
        "out of space unpacking layer {index} of {count} ({digest}): the image's layers are {compressed} compressed; give the root filesystem more room (Kickstand plans 3× the compressed size)"
    )]
    NoSpace {
        index: usize,
        count: usize,
        digest: String,
        compressed: String,
        #[source]
        source: Box<UnpackError>,
    },
}

/// Reads a layer's bytes from the download channel; remembers why the download failed.
struct ChannelReader<'a> {
    rx: mpsc::Receiver<Msg>,
    current: Bytes,
    done: bool,
    failed: Option<FetchError>,
    progress: &'a mut Reporter,
    /// Where the layer's bytes are copied as they arrive (staging), and that file's path.
    copy: Option<(std::fs::File, PathBuf)>,
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            if self.failed.is_some() {
                return Err(io::Error::other("the layer download failed"));
            }
            match self.rx.blocking_recv() {
                Some(Msg::Data(b)) => {
                    if let Some((file, path)) = &mut self.copy {
                        io::Write::write_all(file, &b).map_err(|e| {
                            io::Error::new(e.kind(), format!("copying to {}: {e}", path.display()))
                        })?;
                    }
                    self.progress.advance(b.len() as u64);
                    self.current = b;
                }
                Some(Msg::Done) => self.done = true,
                Some(Msg::Failed(e)) => self.failed = Some(e),
                None => self.failed = Some(FetchError::Aborted),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

impl ChannelReader<'_> {
    /// Reads to the end of the blob so the digest verdict arrives, discarding trailing bytes
    /// the tar reader did not need (padding after the archive's end).
    fn finish(&mut self) -> Result<(), FetchError> {
        let mut sink = [0u8; 64 * 1024];
        loop {
            match self.read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(_) => return Err(self.failed.take().unwrap_or(FetchError::Aborted)),
            }
        }
    }
}

struct Reporter {
    callback: Option<ProgressFn>,
    state: Progress,
    last: u64,
}

impl Reporter {
    fn advance(&mut self, n: u64) {
        self.state.layer_bytes += n;
        self.state.bytes += n;
        if self.state.layer_bytes - self.last >= PROGRESS_STEP {
            self.last = self.state.layer_bytes;
            self.report();
        }
    }

    fn report(&self) {
        if let Some(cb) = &self.callback {
            cb(&self.state);
        }
    }
}

/// Pulls `image` into the directory `target`, applying whiteouts layer by layer.
/// Refuses images that must be deployed the bootc way.
pub async fn pull_into(
    image: &Image,
    target: &Path,
    opts: UnpackOptions,
    progress: Option<ProgressFn>,
) -> Result<PullSummary, PullError> {
    image.facts.ensure_flat()?;
    pull(image, target, None, opts, progress).await
}

/// Stages `image` for its own bootc: unpacks it into `root` (as [`pull_into`]) while writing
/// every layer's verified bytes into a new OCI layout at `layout`, then its manifest, config,
/// `index.json` (tag `latest`) and `oci-layout`. A failure leaves both partly written; the
/// caller removes them.
pub async fn stage(
    image: &Image,
    root: &Path,
    layout: &Path,
    opts: UnpackOptions,
    progress: Option<ProgressFn>,
) -> Result<PullSummary, PullError> {
    let staged = |e: io::Error| PullError::Layout(layout.to_path_buf(), e);
    std::fs::create_dir_all(layout.join("blobs/sha256")).map_err(staged)?;
    let summary = pull(image, root, Some(layout.to_path_buf()), opts, progress).await?;
    crate::copy::write_image_files(image, layout, "latest").await?;
    Ok(summary)
}

async fn pull(
    image: &Image,
    target: &Path,
    tee: Option<PathBuf>,
    opts: UnpackOptions,
    progress: Option<ProgressFn>,
) -> Result<PullSummary, PullError> {
    let root = Root::open(target).map_err(|e| PullError::Target(target.to_path_buf(), e))?;
    let layers = image.facts.layers.clone();
    let (downloads, receivers) = start_downloads(image);
    let compressed = image.facts.compressed_size();
    let unpack = tokio::task::spawn_blocking(move || {
        unpack_all(&root, &layers, receivers, opts, progress, compressed, tee)
    });
    let result = unpack.await.expect("unpack thread panicked");
    // On failure the receivers are gone and the downloads stop at their next send.
    downloads.abort();
    result
}

/// Starts downloading `image`'s layers, [`LAYERS_IN_FLIGHT`] at a time and in order, each
/// into its own channel of [`CHANNEL_CHUNKS`] chunks; returns the download task (abort it when
/// the consumer gives up) and one receiver per layer.
pub(crate) fn start_downloads(
    image: &Image,
) -> (tokio::task::JoinHandle<()>, Vec<mpsc::Receiver<Msg>>) {
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in &image.facts.layers {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        senders.push(tx);
        receivers.push(rx);
    }
    let blobs = image.blobs.clone();
    let layers = image.facts.layers.clone();
    let downloads = tokio::spawn(async move {
        futures::stream::iter(layers.into_iter().zip(senders))
            .map(|(layer, tx)| {
                let blobs = blobs.clone();
                async move { blobs.fetch(&layer, tx).await }
            })
            .buffered(LAYERS_IN_FLIGHT)
            .for_each(|()| async {})
            .await;
    });
    (downloads, receivers)
}

fn unpack_all(
    root: &Root,
    layers: &[crate::resolve::LayerFacts],
    receivers: Vec<mpsc::Receiver<Msg>>,
    opts: UnpackOptions,
    progress: Option<ProgressFn>,
    compressed: u64,
    tee: Option<PathBuf>,
) -> Result<PullSummary, PullError> {
    let count = layers.len();
    let mut unpacker = Unpacker::new(root, opts);
    let mut reporter = Reporter {
        callback: progress,
        state: Progress {
            layer: 0,
            layers: count,
            digest: String::new(),
            layer_bytes: 0,
            layer_size: 0,
            bytes: 0,
            total_bytes: compressed,
            layers_done: 0,
        },
        last: 0,
    };
    for (i, (layer, rx)) in layers.iter().zip(receivers).enumerate() {
        reporter.state.layer = i + 1;
        reporter.state.digest = layer.digest.clone();
        reporter.state.layer_bytes = 0;
        reporter.state.layer_size = layer.size;
        reporter.last = 0;
        reporter.report();
        let wrap = |source: LayerError| match source {
            LayerError::Unpack(source @ UnpackError::NoSpace { .. }) => PullError::NoSpace {
                index: i + 1,
                count,
                digest: layer.digest.clone(),
                compressed: human(compressed),
                source: Box::new(source),
            },
            source => PullError::Layer {
                index: i + 1,
                count,
                digest: layer.digest.clone(),
                size: human(layer.size),
                source: Box::new(source),
            },
        };
        tracing::info!(layer = i + 1, of = count, digest = %layer.digest, "unpacking layer");
        let copy = match &tee {
            Some(dir) => {
                let member = crate::local::blob_path(&layer.digest)
                    .map_err(|e| wrap(LayerError::Fetch(e.into())))?;
                let path = dir.join(member);
                let file =
                    std::fs::File::create(&path).map_err(|e| PullError::Layout(path.clone(), e))?;
                Some((file, path))
            }
            None => None,
        };
        let mut chan = ChannelReader {
            rx,
            current: Bytes::new(),
            done: false,
            failed: None,
            progress: &mut reporter,
            copy,
        };
        let unpacked = unpack_one(&mut unpacker, &mut chan, &layer.media_type);
        // The download's verdict comes first: a tampered or truncated layer is reported as
        // such even when it also broke the decompressor or the tar reader.
        let needs_verdict = matches!(
            &unpacked,
            Ok(())
                | Err(LayerError::Compression(_))
                | Err(LayerError::Unpack(UnpackError::Stream(_)))
        );
        if needs_verdict {
            chan.finish().map_err(|e| wrap(e.into()))?;
        }
        unpacked.map_err(wrap)?;
        chan.progress.state.layers_done = i + 1;
        chan.progress.report();
    }
    Ok(PullSummary {
        layers: count,
        compressed_bytes: compressed,
        stats: unpacker.stats(),
    })
}

fn unpack_one(
    unpacker: &mut Unpacker<'_>,
    chan: &mut ChannelReader<'_>,
    media_type: &str,
) -> Result<(), LayerError> {
    let input = BufReader::with_capacity(256 * 1024, chan);
    let tar = decompress::decoder(input, media_type)?;
    unpacker.unpack_layer(tar)?;
    Ok(())
}
