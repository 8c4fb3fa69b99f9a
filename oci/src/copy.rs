//! Copying a resolved image (from a registry, a layout or an archive) into a new OCI image
//! layout, as `kickstand iso build --embed-image` puts it at `/container` and as bootc staging
//! needs it. Layers download as they do for a pull ([`crate::pull`]: two at a time, each through
//! a small bounded channel, hashed on the way) and stream into a temporary file in
//! `blobs/sha256/`, renamed to its digest only once the whole blob matched it; no layer is held
//! in memory.
//!
//! A failure leaves blobs (and possibly a `.incoming-*` file) but no `index.json`, which
//! readers refuse; the caller removes the directory.

use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fetch::{FetchError, Msg};
use crate::pull::{LayerError, PullError, start_downloads};
use crate::resolve::Image;
use crate::unpack::human;

/// What a finished copy wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySummary {
    /// Digest of the image's (platform) manifest, as listed in `index.json`.
    pub manifest_digest: String,
    pub layers: usize,
    /// Sum of the layers' sizes.
    pub compressed_bytes: u64,
}

/// Copies `image` into a new layout at `layout` (created; an existing directory must be
/// empty) and lists it in `index.json` under `tag`.
pub async fn copy_to_layout(
    image: &Image,
    layout: &Path,
    tag: &str,
) -> Result<CopySummary, PullError> {
    let staged = |e: io::Error| PullError::Layout(layout.to_path_buf(), e);
    if std::fs::read_dir(layout).is_ok_and(|mut d| d.next().is_some()) {
        return Err(staged(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the directory to copy the image into is not empty",
        )));
    }
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(staged)?;
    let layers = image.facts.layers.clone();
    let (downloads, receivers) = start_downloads(image);
    let dir = blobs.clone();
    let written = tokio::task::spawn_blocking(move || {
        let count = layers.len();
        for (i, (layer, rx)) in layers.iter().zip(receivers).enumerate() {
            tracing::info!(layer = i + 1, of = count, digest = %layer.digest, size = layer.size, "copying layer");
            write_blob(&dir, &layer.digest, rx)
                .map_err(|e| PullError::Layout(dir.clone(), e))?
                .map_err(|source| PullError::Layer {
                    index: i + 1,
                    count,
                    digest: layer.digest.clone(),
                    size: human(layer.size),
                    source: Box::new(LayerError::Fetch(source)),
                })?;
        }
        Ok::<_, PullError>(count)
    })
    .await
    .expect("copy thread panicked");
    // On failure the receivers are gone and the downloads stop at their next send.
    downloads.abort();
    let count = written?;
    write_image_files(image, layout, tag).await?;
    Ok(CopySummary {
        manifest_digest: image.facts.manifest_digest.clone(),
        layers: count,
        compressed_bytes: image.facts.compressed_size(),
    })
}

/// Streams one blob from the download channel into `dir`, under its digest once verified.
/// The outer error is a local write failure, the inner one the download's.
fn write_blob(
    dir: &Path,
    digest: &str,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
) -> io::Result<Result<(), FetchError>> {
    let name = match crate::local::blob_path(digest) {
        Ok(member) => Path::new(&member)
            .file_name()
            .expect("a blob path ends in its digest")
            .to_owned(),
        Err(e) => return Ok(Err(e.into())),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempfile_in(dir)?;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(bytes)) => file.write_all(&bytes)?,
            Some(Msg::Done) => break,
            Some(Msg::Failed(e)) => return Ok(Err(e)),
            None => return Ok(Err(FetchError::Aborted)),
        }
    }
    file.as_file().sync_all()?;
    file.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(Ok(()))
}

/// Writes `image`'s manifest and config blobs, `index.json` (the manifest tagged `tag`) and
/// `oci-layout` into `layout`, whose layer blobs are already there.
pub(crate) async fn write_image_files(
    image: &Image,
    layout: &Path,
    tag: &str,
) -> Result<(), PullError> {
    let staged = |e: io::Error| PullError::Layout(layout.to_path_buf(), e);
    let manifest = image
        .blobs
        .manifest(&image.facts.manifest_digest)
        .await
        .map_err(|e| PullError::Manifest(Box::new(e)))?;
    let write = |digest: &str, data: &[u8]| -> Result<(), PullError> {
        let member =
            crate::local::blob_path(digest).map_err(|e| PullError::Manifest(Box::new(e.into())))?;
        std::fs::write(layout.join(member), data).map_err(staged)
    };
    write(&image.facts.manifest_digest, &manifest)?;
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&*image.config)));
    write(&config_digest, &image.config)?;
    let wire: serde_json::Value = serde_json::from_slice(&manifest).unwrap_or_default();
    let media_type = wire["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": image.facts.manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).map_err(staged)?;
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(staged)?;
    Ok(())
}
