//! The image an ISO carries: copied into `/container` as an OCI layout holding exactly that one
//! image (its manifest, config and layers, each blob checked against its digest while it is
//! copied), so the installer resolves it without a tag.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kickstand_oci::oci_spec::image::{ANNOTATION_REF_NAME, Descriptor};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::{Layout, LayoutWriter};

use super::EmbeddedImage;

/// Where `--embed-image` takes the image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `oci:DIR[:TAG]`.
    Layout { dir: PathBuf, tag: Option<String> },
}

impl Source {
    /// Parses `--embed-image`: `oci:DIR[:TAG]`. Registry references and `oci-archive:` are
    /// refused with what to do instead.
    pub fn parse(text: &str) -> Result<Source> {
        let source = if text.starts_with("oci:") || text.starts_with("oci-archive:") {
            ImageSource::from_imgref(text)
        } else {
            ImageSource::from_ostreecontainer(text, None)
        }
        .with_context(|| format!("--embed-image {text:?}"))?;
        match source {
            ImageSource::OciLayout { dir, tag } => Ok(Source::Layout { dir, tag }),
            ImageSource::OciArchive { file, .. } => bail!(
                "--embed-image {text:?}: oci-archive is not supported here; unpack it \
                 (`mkdir DIR && tar -xf {} -C DIR`) and give oci:DIR",
                file.display()
            ),
            ImageSource::Registry(r) => bail!(
                "--embed-image {text:?}: embedding from a registry is not supported yet; copy the \
                 image into a layout first (`skopeo copy docker://{} oci:DIR:TAG`) and give oci:DIR:TAG",
                r.whole()
            ),
        }
    }
}

/// Checks that the image can be embedded: the layout opens and the image resolves to a
/// linux/amd64 manifest whose config reads and digest-checks. Reads no layer.
pub fn check(source: &Source) -> Result<kickstand_oci::Image> {
    let Source::Layout { dir, tag } = source;
    let layout = Layout::open(dir)
        .with_context(|| format!("--embed-image: opening the OCI layout {}", dir.display()))?;
    let image = layout.resolve(tag.as_deref()).with_context(|| {
        format!(
            "--embed-image: finding the image in the OCI layout {}",
            dir.display()
        )
    })?;
    for layer in image.layers() {
        let path = layout.blob_path(layer.digest())?;
        let size = std::fs::metadata(&path)
            .with_context(|| format!("--embed-image: layer {} is missing", layer.digest()))?
            .len();
        if size != layer.size() {
            bail!(
                "--embed-image: layer {} is {size} bytes in {}, the manifest says {}",
                layer.digest(),
                dir.display(),
                layer.size()
            );
        }
    }
    Ok(image)
}

/// Copies the image of `source` into a new layout at `dest` (created; must not exist or be
/// empty). A failure leaves a partial layout without `index.json`, which readers refuse.
pub fn copy(source: &Source, dest: &Path) -> Result<EmbeddedImage> {
    let Source::Layout { dir, tag } = source;
    let layout = Layout::open(dir)?;
    let image = layout.resolve(tag.as_deref())?;
    let mut writer = LayoutWriter::create(dest)?;
    let mut blobs: Vec<&Descriptor> = vec![&image.manifest_descriptor, image.manifest.config()];
    blobs.extend(image.layers());
    for descriptor in blobs {
        copy_blob(&layout, &writer, descriptor)?;
    }
    let mut entry = Descriptor::new(
        image.manifest_descriptor.media_type().clone(),
        image.manifest_descriptor.size(),
        image.manifest_descriptor.digest().clone(),
    );
    let name = tag.clone().unwrap_or_else(|| "latest".to_string());
    entry.set_annotations(Some([(ANNOTATION_REF_NAME.to_string(), name)].into()));
    writer.add_manifest(entry);
    writer.finish()?;
    Ok(EmbeddedImage {
        source: format!(
            "oci:{}{}",
            dir.display(),
            tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default()
        ),
        digest: image.manifest_descriptor.digest().to_string(),
        tag: tag.clone(),
        layers_size: image.layers().iter().map(|l| l.size()).sum(),
    })
}

fn copy_blob(layout: &Layout, writer: &LayoutWriter, descriptor: &Descriptor) -> Result<()> {
    let what = || format!("copying blob {}", descriptor.digest());
    let mut reader = layout.open_blob(descriptor).with_context(what)?;
    let mut blob = writer.blob().with_context(what)?;
    std::io::copy(&mut reader, &mut blob).with_context(what)?;
    blob.flush().with_context(what)?;
    let written = blob
        .commit(descriptor.media_type().clone())
        .with_context(what)?;
    if written.digest() != descriptor.digest() {
        bail!(
            "blob {} was copied as {}",
            descriptor.digest(),
            written.digest()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_unsupported_ones_say_what_to_do() {
        assert_eq!(
            Source::parse("oci:/srv/app:1").unwrap(),
            Source::Layout {
                dir: "/srv/app".into(),
                tag: Some("1".into())
            }
        );
        let e = format!("{:#}", Source::parse("quay.io/org/app:1").unwrap_err());
        assert!(e.contains("skopeo copy docker://quay.io/org/app:1"), "{e}");
        let e = format!("{:#}", Source::parse("oci-archive:/a.tar").unwrap_err());
        assert!(e.contains("tar -xf /a.tar"), "{e}");
        assert!(Source::parse("oci:").is_err());
    }
}
