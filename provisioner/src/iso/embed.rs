//! The image an ISO carries: copied into `/container` as an OCI layout holding exactly that one
//! image (its manifest, config and layers, each blob checked against its digest while it is
//! copied), so the installer resolves it without a tag. The image comes from another layout or
//! from a registry, pulled with `kickstand-oci` (the linux/amd64 manifest of an index, layers
//! streamed to disk and digest-checked, never held in memory), reached as the installer's host
//! mode reaches it: `--authfile`, `--insecure-registry`, `--ca-file`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kickstand_oci::oci_spec::image::{ANNOTATION_REF_NAME, Descriptor};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::resolve::PullOptions;
use kickstand_oci::{Layout, LayoutWriter};

use super::EmbeddedImage;

/// Where `--embed-image` takes the image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `oci:DIR[:TAG]`.
    Layout { dir: PathBuf, tag: Option<String> },
    /// A registry reference (`registry.example:5000/app:1`, `docker://…`, `…@sha256:…`).
    Registry(kickstand_oci::oci_client::Reference),
}

/// How registries are reached (the installer's host-mode options of the same names).
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// A containers auth.json with credentials.
    pub authfile: Option<PathBuf>,
    /// `HOST:PORT` of registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// An image checked and ready to copy.
pub enum Resolved {
    Layout {
        dir: PathBuf,
        tag: Option<String>,
    },
    /// Resolved in a registry (manifest and config read, no layer yet), with the runtime its
    /// client lives on.
    Registry {
        reference: String,
        tag: String,
        image: Box<kickstand_oci::resolve::Image>,
        runtime: tokio::runtime::Runtime,
    },
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::Layout { dir, tag } => write!(f, "Layout({}, {tag:?})", dir.display()),
            Resolved::Registry { reference, .. } => write!(f, "Registry({reference})"),
        }
    }
}

impl Source {
    /// Parses `--embed-image`: `oci:DIR[:TAG]` or a registry reference (`docker://` optional).
    /// `oci-archive:` is refused with what to do instead.
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
            ImageSource::Registry(r) => Ok(Source::Registry(r)),
        }
    }
}

/// Checks that the image can be embedded: the layout opens, or the registry answers with a
/// manifest (linux/amd64, picked from an index), and its config reads and digest-checks.
/// Reads no layer.
pub fn check(source: &Source, registry: &RegistryOptions) -> Result<Resolved> {
    match source {
        Source::Layout { dir, tag } => {
            check_layout(dir, tag)?;
            Ok(Resolved::Layout {
                dir: dir.clone(),
                tag: tag.clone(),
            })
        }
        Source::Registry(reference) => resolve_registry(reference, registry),
    }
}

fn resolve_registry(
    reference: &kickstand_oci::oci_client::Reference,
    registry: &RegistryOptions,
) -> Result<Resolved> {
    let opts = PullOptions::from_flags(
        registry.authfile.as_deref(),
        &registry.insecure_registries,
        registry.ca_file.as_deref(),
    )
    .context("--authfile: reading the registry auth file")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("embed-image")
        .enable_all()
        .build()
        .context("starting the download runtime")?;
    let source = ImageSource::Registry(reference.clone());
    let image = runtime
        .block_on(kickstand_oci::resolve::resolve(&source, &opts))
        .with_context(|| format!("--embed-image: resolving {}", reference.whole()))?;
    Ok(Resolved::Registry {
        reference: reference.whole(),
        tag: reference.tag().unwrap_or("latest").to_owned(),
        image: Box::new(image),
        runtime,
    })
}

fn check_layout(dir: &Path, tag: &Option<String>) -> Result<()> {
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
    Ok(())
}

/// Copies the image of `resolved` into a new layout at `dest` (created; must not exist or be
/// empty). A failure leaves a partial layout without `index.json`, which readers refuse.
pub fn copy(resolved: &Resolved, dest: &Path) -> Result<EmbeddedImage> {
    match resolved {
        Resolved::Layout { dir, tag } => copy_layout(dir, tag, dest),
        Resolved::Registry {
            reference,
            tag,
            image,
            runtime,
        } => {
            let copied = runtime
                .block_on(kickstand_oci::copy::copy_to_layout(image, dest, tag))
                .with_context(|| format!("pulling {reference}"))?;
            Ok(EmbeddedImage {
                source: format!("docker://{reference}"),
                digest: copied.manifest_digest,
                tag: Some(tag.clone()),
                layers_size: copied.compressed_bytes,
            })
        }
    }
}

fn copy_layout(dir: &Path, tag: &Option<String>, dest: &Path) -> Result<EmbeddedImage> {
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
        for text in ["quay.io/org/app:1", "docker://quay.io/org/app:1"] {
            match Source::parse(text).unwrap() {
                Source::Registry(r) => assert_eq!(r.whole(), "quay.io/org/app:1"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = format!("{:#}", Source::parse("oci-archive:/a.tar").unwrap_err());
        assert!(e.contains("tar -xf /a.tar"), "{e}");
        assert!(Source::parse("oci:").is_err());
    }
}
