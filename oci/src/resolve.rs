//! Resolving an image before any disk is touched: the manifest for linux/amd64 (picked from an
//! index), the config and its labels, the layers' digests and compressed sizes, and which way
//! the image must be deployed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_client::Client;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use serde::Deserialize;

use crate::auth::AuthFile;
use crate::fetch::{Blobs, RetryPolicy};
use crate::local::{self, Local};
use crate::reference::ImageSource;
use crate::unpack::human;

/// The platform Kickstand installs.
pub const OS: &str = "linux";
pub const ARCH: &str = "amd64";

/// One layer as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFacts {
    pub digest: String,
    pub media_type: String,
    /// Compressed size in bytes.
    pub size: u64,
}

/// How an image is deployed, decided from its config labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployWay {
    /// Unpacked into the root filesystem.
    Flat,
    /// Installed by the image's own bootc (ostree based images).
    Bootc,
}

/// What is known about an image once resolved.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// The source, as `TRANSPORT:REF`.
    pub source: String,
    /// Digest of the platform manifest.
    pub manifest_digest: String,
    pub layers: Vec<LayerFacts>,
    pub labels: BTreeMap<String, String>,
    pub deploy: DeployWay,
}

impl ImageFacts {
    /// Sum of the layers' compressed sizes.
    pub fn compressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// Refuses images that must not be flat-deployed (ostree/bootc ones), naming the reason.
    pub fn ensure_flat(&self) -> Result<(), ResolveError> {
        match self.deploy {
            DeployWay::Flat => Ok(()),
            DeployWay::Bootc => Err(ResolveError::Bootc {
                image: self.source.clone(),
                why: bootc_reason(&self.labels).unwrap_or("it was named by the bootc command"),
            }),
        }
    }
}

/// Options for reaching registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub auth: AuthFile,
    /// `HOST:PORT` of registries that are reached over plain HTTP (and only those).
    pub insecure_registries: Vec<String>,
    /// A PEM bundle of CAs trusted in addition to the system's.
    pub extra_ca_file: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// The image was named by the `bootc` command: it goes the bootc way whatever its labels.
    pub named_by_bootc: bool,
}

impl PullOptions {
    /// The options the command lines take (`--authfile`, `--insecure-registry`, `--ca-file`):
    /// credentials read from `authfile` when given, the rest as they are.
    pub fn from_flags(
        authfile: Option<&std::path::Path>,
        insecure_registries: &[String],
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, crate::auth::AuthError> {
        Ok(PullOptions {
            auth: match authfile {
                Some(path) => AuthFile::load(path)?,
                None => AuthFile::default(),
            },
            insecure_registries: insecure_registries.to_vec(),
            extra_ca_file: ca_file.map(std::path::Path::to_path_buf),
            ..PullOptions::default()
        })
    }
}

/// Why an image could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "{image}: this is an ostree/bootc image ({why}); it is installed by its own bootc, never unpacked flat (an ostree image unpacked flat does not boot)"
    )]
    Bootc { image: String, why: &'static str },
    #[error("fetching the manifest and config of {0} from the registry")]
    Registry(String, #[source] oci_client::errors::OciDistributionError),
    #[error("reading extra CA file {0}")]
    CaFile(String, #[source] std::io::Error),
    #[error("reading image {0}")]
    Local(String, #[source] local::LocalError),
    #[error("{0}: the image config is not valid JSON")]
    Config(String, #[source] serde_json::Error),
    #[error("{image} is built for {os}/{arch}; this installer needs linux/amd64")]
    Platform {
        image: String,
        os: String,
        arch: String,
    },
    #[error("{0} has no layers")]
    NoLayers(String),
    #[error("{image}: layer {digest} has a negative size in the manifest")]
    BadSize { image: String, digest: String },
}

/// An image resolved and ready to be pulled.
#[derive(Debug, Clone)]
pub struct Image {
    pub facts: ImageFacts,
    pub(crate) blobs: Arc<Blobs>,
    /// The config blob as the source serves it (written again when the image is staged).
    pub(crate) config: Arc<Vec<u8>>,
}

#[derive(Deserialize)]
struct ConfigWire {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    config: Option<ConfigInner>,
}

#[derive(Deserialize)]
struct ConfigInner {
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

fn bootc_reason(labels: &BTreeMap<String, String>) -> Option<&'static str> {
    let set = |k: &str| labels.get(k).is_some_and(|v| v == "1" || v == "true");
    if set("containers.bootc") {
        Some("label containers.bootc=1")
    } else if set("ostree.bootable") {
        Some("label ostree.bootable=1")
    } else {
        None
    }
}

/// Resolves `source`: manifest, config and layers, without downloading any layer.
pub async fn resolve(source: &ImageSource, opts: &PullOptions) -> Result<Image, ResolveError> {
    let shown = source.to_string();
    let (manifest_digest, layers, config, blobs) = match source {
        ImageSource::Registry(reference) => {
            let client = client(opts)?;
            let auth = opts.auth.lookup(reference);
            let (manifest, digest, config) = client
                .pull_manifest_and_config(reference, &auth)
                .await
                .map_err(|e| ResolveError::Registry(shown.clone(), e))?;
            let mut layers = Vec::new();
            for l in manifest.layers {
                let size = u64::try_from(l.size).map_err(|_| ResolveError::BadSize {
                    image: shown.clone(),
                    digest: l.digest.clone(),
                })?;
                layers.push(LayerFacts {
                    digest: l.digest,
                    media_type: l.media_type,
                    size,
                });
            }
            let blobs = Blobs::Registry {
                client,
                reference: reference.clone(),
                auth,
                retry: opts.retry.clone(),
            };
            (digest, layers, config.into_bytes(), blobs)
        }
        ImageSource::OciLayout { dir, tag } => {
            let local = Local::dir(dir.clone());
            local_manifest(local, tag.as_deref(), &shown).await?
        }
        ImageSource::OciArchive { file, tag } => {
            let f = file.clone();
            let local = tokio::task::spawn_blocking(move || Local::archive(f))
                .await
                .expect("archive scan panicked")
                .map_err(|e| ResolveError::Local(shown.clone(), e))?;
            local_manifest(local, tag.as_deref(), &shown).await?
        }
    };
    let raw_config = config;
    let config: ConfigWire =
        serde_json::from_slice(&raw_config).map_err(|e| ResolveError::Config(shown.clone(), e))?;
    if config.os != OS || config.architecture != ARCH {
        return Err(ResolveError::Platform {
            image: shown,
            os: config.os,
            arch: config.architecture,
        });
    }
    if layers.is_empty() {
        return Err(ResolveError::NoLayers(shown));
    }
    let labels = config.config.and_then(|c| c.labels).unwrap_or_default();
    let deploy = if opts.named_by_bootc || bootc_reason(&labels).is_some() {
        DeployWay::Bootc
    } else {
        DeployWay::Flat
    };
    let facts = ImageFacts {
        source: shown,
        manifest_digest,
        layers,
        labels,
        deploy,
    };
    tracing::info!(
        source = %facts.source,
        digest = %facts.manifest_digest,
        layers = facts.layers.len(),
        compressed = %human(facts.compressed_size()),
        "resolved image"
    );
    Ok(Image {
        facts,
        blobs: Arc::new(blobs),
        config: Arc::new(raw_config),
    })
}

async fn local_manifest(
    local: Local,
    tag: Option<&str>,
    shown: &str,
) -> Result<(String, Vec<LayerFacts>, Vec<u8>, Blobs), ResolveError> {
    let tag = tag.map(str::to_string);
    let (local, resolved) = tokio::task::spawn_blocking(move || {
        let r = local.resolve(tag.as_deref(), OS, ARCH);
        (local, r)
    })
    .await
    .expect("layout read panicked");
    let r = resolved.map_err(|e| ResolveError::Local(shown.to_string(), e))?;
    Ok((r.manifest_digest, r.layers, r.config, Blobs::Local(local)))
}

/// A registry client: TLS verified against the system CAs plus the extra CA file, plain HTTP
/// only for the registries listed as insecure, linux/amd64 chosen from indexes.
fn client(opts: &PullOptions) -> Result<Client, ResolveError> {
    let mut extra = Vec::new();
    if let Some(path) = &opts.extra_ca_file {
        let data =
            std::fs::read(path).map_err(|e| ResolveError::CaFile(path.display().to_string(), e))?;
        extra.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    let protocol = if opts.insecure_registries.is_empty() {
        ClientProtocol::Https
    } else {
        ClientProtocol::HttpsExcept(opts.insecure_registries.clone())
    };
    let config = ClientConfig {
        protocol,
        extra_root_certificates: extra,
        platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
        connect_timeout: Some(Duration::from_secs(30)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    Client::try_from(config)
        .map_err(|e| ResolveError::Registry("the registry client configuration".into(), e))
}
