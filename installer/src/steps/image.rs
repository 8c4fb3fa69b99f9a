//! The image step, in two halves.
//!
//! [`resolve`] runs before the storage step touches any disk: the kickstart's
//! `ostreecontainer`/`bootc` reference is parsed, the manifest for linux/amd64 and the config
//! are fetched, the deploy way is decided (an ostree/bootc image goes to [`super::stage`] and
//! [`super::bootc`], never here), and the layers' compressed size is handed to the planner
//! (the root must hold 3× that).
//!
//! [`pull`] streams the layers into the mounted target root, then writes `/etc/fstab` and
//! `/etc/kickstand/image.json`. When it fails, the target holds the layers unpacked so far and
//! no boot loader: the disk does not boot, and the error names the layer (a digest mismatch,
//! a refused path, a full filesystem).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use kickstand_grammar::Kickstart;
use kickstand_oci::pull::{self, PullSummary};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::resolve::{self, DeployWay, Image, PullOptions};
use kickstand_oci::unpack::UnpackOptions;

use crate::deploy::{TargetRoot, record::ImageRecord};
use crate::disk::fstab::FstabEntry;
use crate::progress::Reporter;

/// How registries are reached.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// A containers `auth.json` (`--authfile`, `REGISTRY_AUTH_FILE`, `kickstand.authfile=`).
    pub authfile: Option<PathBuf>,
    /// `HOST:PORT` of registries reached over plain HTTP (`--insecure-registry`,
    /// `kickstand.insecure_registry=`); every other registry is HTTPS with verified TLS.
    pub insecure_registries: Vec<String>,
    /// A PEM file of CAs trusted besides the system's (`--ca-file`).
    pub ca_file: Option<PathBuf>,
}

/// The image the kickstart names.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Parsed source.
    pub source: ImageSource,
    /// As the kickstart wrote it (recorded in `/etc/kickstand/image.json`).
    pub reference: String,
    /// Named by the `bootc` command: always the bootc way.
    pub by_bootc: bool,
    /// `ostreecontainer --no-signature-verification`.
    pub no_signature_verification: bool,
}

/// The image named by `ostreecontainer` or `bootc`, `None` when neither is present.
pub fn wanted(ks: &Kickstart) -> Result<Option<Wanted>> {
    if let Some(o) = &ks.ostreecontainer {
        let source = ImageSource::from_ostreecontainer(&o.url, o.transport.as_deref())
            .context("ostreecontainer --url")?;
        return Ok(Some(Wanted {
            source,
            reference: o.url.clone(),
            by_bootc: false,
            no_signature_verification: o.no_signature_verification,
        }));
    }
    if let Some(b) = &ks.bootc {
        let source = ImageSource::from_imgref(&b.source_imgref).context("bootc --source-imgref")?;
        return Ok(Some(Wanted {
            source,
            reference: b
                .target_imgref
                .clone()
                .unwrap_or_else(|| b.source_imgref.clone()),
            by_bootc: true,
            no_signature_verification: false,
        }));
    }
    Ok(None)
}

/// A tokio runtime for the registry client and the streaming pull.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("image")
        .enable_all()
        .build()
        .context("starting the image download runtime")
}

/// Resolves the image and decides its deploy way. Touches no disk.
pub fn resolve(
    rt: &tokio::runtime::Runtime,
    wanted: &Wanted,
    registry: &RegistryOptions,
    reporter: &Reporter,
) -> Result<Image> {
    let opts = PullOptions {
        named_by_bootc: wanted.by_bootc,
        ..PullOptions::from_flags(
            registry.authfile.as_deref(),
            &registry.insecure_registries,
            registry.ca_file.as_deref(),
        )
        .context("reading the registry auth file")?
    };
    let image = rt
        .block_on(resolve::resolve(&wanted.source, &opts))
        .with_context(|| format!("resolving the image {}", wanted.source))?;
    reporter.info(&format!(
        "image {} resolved: manifest {}, {} layers, {} compressed; deployed {}",
        image.facts.source,
        image.facts.manifest_digest,
        image.facts.layers.len(),
        kickstand_oci::unpack::human(image.facts.compressed_size()),
        match image.facts.deploy {
            DeployWay::Flat => "flat (unpacked into the root filesystem)",
            DeployWay::Bootc => "by the image's own bootc",
        }
    ));
    if !wanted.no_signature_verification {
        reporter.warn(
            "image signatures are not verified yet (containers policy.json / sigstore): only \
             the digests of the manifest and every layer were checked; \
             `ostreecontainer --no-signature-verification` silences this",
        );
    }
    Ok(image)
}

/// The planner's view of a resolved image.
pub fn facts(image: &Image) -> crate::storage::ImageFacts {
    crate::storage::ImageFacts {
        compressed_size: Some(image.facts.compressed_size()),
        labels: image.facts.labels.clone(),
    }
}

/// Pulls the image into `target` (the mounted root), then writes `/etc/fstab` and the image
/// record, and creates the mount points. See the module documentation for what a failure
/// leaves.
pub fn pull(
    rt: &tokio::runtime::Runtime,
    image: &Image,
    wanted: &Wanted,
    target: &Path,
    fstab: &[FstabEntry],
    reporter: &Reporter,
) -> Result<PullSummary> {
    let r = reporter.clone();
    let progress: pull::ProgressFn = Arc::new(move |p| r.pull(p));
    let summary = rt
        .block_on(pull::pull_into(
            image,
            target,
            UnpackOptions::default(),
            Some(progress),
        ))
        .with_context(|| {
            format!(
                "pulling {} into {}; the disk holds a partial image and no boot loader",
                image.facts.source,
                target.display()
            )
        })?;
    reporter.flush();
    let root = TargetRoot::new(target);
    root.write(
        "/etc/fstab",
        crate::disk::fstab::render(fstab).as_bytes(),
        0o644,
    )
    .context("writing /etc/fstab")?;
    // Mount points inside mounted filesystems (`/boot/efi` on a separate `/boot`, which the
    // host does not mount) must exist for the installed system's `mount -a`.
    for e in fstab.iter().filter(|e| e.file.starts_with('/')) {
        root.create_dir_all(&e.file)
            .with_context(|| format!("creating the mount point {}", e.file))?;
    }
    ImageRecord::now(&wanted.reference, &image.facts.manifest_digest)
        .write(&root)
        .context("recording the installed image")?;
    reporter.info(&format!(
        "image unpacked: {} entries, {} of file contents",
        summary.stats.entries,
        kickstand_oci::unpack::human(summary.stats.bytes)
    ));
    Ok(summary)
}
