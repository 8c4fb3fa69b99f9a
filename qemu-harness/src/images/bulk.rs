//! A generated **bulk** image for the pull and install benchmarks: [`LAYERS`] gzip layers of
//! 1 MiB files totalling a given size, with content that compresses about 2:1 (like the
//! binaries and text of an OS image), optionally on top of another image's layers (the tiny
//! image, so the result is bootable and a whole install can run). Deterministic: the same size
//! and base give the same digests.

use super::{Error, Result, oci_error};
use kickstand_oci::oci_spec::image::{Config, Descriptor};
use kickstand_oci::{Compression, ImageSpec, Layer, Layout, LayoutWriter, Meta};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Generated layers (each holds a quarter of the bytes).
pub const LAYERS: usize = 4;
/// Size of each generated file.
pub const FILE_SIZE: usize = 1 << 20;
/// The tag of the image in its layout.
pub const TAG: &str = "bench";
const MTIME: u64 = 1_700_000_000;
const CREATED: &str = "2026-01-01T00:00:00Z";

/// A written bulk image.
#[derive(Debug, Clone)]
pub struct BulkImage {
    /// The OCI layout directory (image tagged [`TAG`]).
    pub layout: PathBuf,
    /// Every layer of the image, bottom first (the base's, then the generated ones).
    pub layers: Vec<Descriptor>,
    /// Bytes of file content in the generated layers.
    pub generated_bytes: u64,
}

/// The benchmark size in MiB of files: `KICKSTAND_BENCH_MIB`, else 1024.
pub fn size_mib() -> usize {
    std::env::var("KICKSTAND_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// A scratch directory for a benchmark, removed on drop: in `KICKSTAND_BENCH_DIR`, else
/// `/var/tmp` (on disk: `/tmp` may be a small tmpfs).
pub fn scratch_dir() -> Result<tempfile::TempDir> {
    let parent = std::env::var("KICKSTAND_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    tempfile::tempdir_in(&parent).map_err(Error::io("creating a benchmark directory in", &parent))
}

/// Writes a new layout in `out` (created; must be empty) holding one image: the layers of the
/// image tagged `base.1` in layout `base.0` (copied, config kept), then [`LAYERS`] generated
/// gzip layers with `mib` MiB of files under `/usr/share/bench/`.
pub fn write(out: &Path, mib: usize, base: Option<(&Path, &str)>) -> Result<BulkImage> {
    let mut layout = LayoutWriter::create(out).map_err(oci_error("creating the layout"))?;
    let (mut layers, config) = match base {
        Some((dir, tag)) => copy_base(&layout, dir, tag)?,
        None => (Vec::new(), Config::default()),
    };
    let files_per_layer = (mib * (1 << 20) / FILE_SIZE).div_ceil(LAYERS);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; FILE_SIZE];
    let layer_error = |e: std::io::Error| Error::Asset(format!("writing a bulk layer: {e}"));
    for l in 0..LAYERS {
        let mut w = layout
            .layer(Compression::Gzip)
            .map_err(oci_error("starting a bulk layer"))?;
        for f in 0..files_per_layer {
            fill(&mut buf, &mut seed);
            w.file_bytes(
                &format!("usr/share/bench/l{l}/f{f}.bin"),
                Meta::root(0o644, MTIME),
                &buf,
            )
            .map_err(layer_error)?;
        }
        layers.push(
            layout
                .commit_layer(w, format!("kickstand bench: generated layer {l}"))
                .map_err(oci_error("writing a bulk layer"))?,
        );
    }
    layout
        .write_image(
            &layers,
            ImageSpec {
                tag: TAG.to_owned(),
                config,
                created: CREATED.to_owned(),
                annotations: HashMap::new(),
            },
        )
        .map_err(oci_error("writing the manifest"))?;
    let layout = layout.finish().map_err(oci_error("writing index.json"))?;
    Ok(BulkImage {
        layout,
        layers: layers.into_iter().map(|l| l.descriptor).collect(),
        generated_bytes: (LAYERS * files_per_layer * FILE_SIZE) as u64,
    })
}

/// Hard-links (or copies) the layer blobs of `dir`'s image `tag` into `layout`; returns them
/// with their diff IDs, and the image's runtime config.
fn copy_base(layout: &LayoutWriter, dir: &Path, tag: &str) -> Result<(Vec<Layer>, Config)> {
    let base = Layout::open(dir).map_err(oci_error("opening the base layout"))?;
    let image = base
        .resolve(Some(tag))
        .map_err(oci_error("resolving the base image"))?;
    let diff_ids = image.config.rootfs().diff_ids();
    let mut layers = Vec::new();
    for (i, descriptor) in image.layers().iter().enumerate() {
        let from = base
            .blob_path(descriptor.digest())
            .map_err(oci_error("locating a base layer"))?;
        let to = layout
            .root()
            .join("blobs/sha256")
            .join(descriptor.digest().digest());
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(Error::io("copying", &from))?;
        }
        let diff_id = diff_ids
            .get(i)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| Error::Asset(format!("base layer {i} of {dir:?} has no diff_id")))?;
        layers.push(Layer {
            descriptor: descriptor.clone(),
            diff_id,
            created_by: format!("base layer {i}"),
        });
    }
    Ok((layers, image.config.config().clone().unwrap_or_default()))
}

/// Content that compresses about 2:1: xorshift noise and repeated text, 4 KiB blocks each.
fn fill(buf: &mut [u8], seed: &mut u64) {
    for (i, chunk) in buf.chunks_mut(4096).enumerate() {
        if i % 2 == 0 {
            for b in chunk.iter_mut() {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *b = *seed as u8;
            }
        } else {
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = b"usr/lib/x86_64-linux-gnu/libexample.so.1 "[j % 41];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bulk_image_is_a_readable_layout() {
        let dir = tempfile::tempdir().unwrap();
        let image = write(&dir.path().join("layout"), 2, None).unwrap();
        assert_eq!(image.layers.len(), LAYERS);
        assert_eq!(image.generated_bytes, (LAYERS * FILE_SIZE) as u64);
        let layout = Layout::open(&image.layout).unwrap();
        let resolved = layout.resolve(Some(TAG)).unwrap();
        assert_eq!(resolved.layers(), image.layers.as_slice());
        let mut tar = tar::Archive::new(layout.open_layer(&image.layers[0]).unwrap());
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["usr/share/bench/l0/f0.bin"]);
    }
}
