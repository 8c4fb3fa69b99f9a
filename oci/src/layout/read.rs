//! Reading an OCI image layout: index → manifest (through nested indexes by platform) → config
//! and layer descriptors, with every blob checked against its digest as it is read.

use super::write::ref_name;
use crate::compression::Compression;
use crate::digest::VerifyingReader;
use crate::error::{Error, Result, io};
use oci_spec::image::{
    Arch, Descriptor, Digest, DigestAlgorithm, ImageConfiguration, ImageIndex, ImageManifest,
    MediaType, OciLayout, Os,
};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest manifest, index or config accepted (they are small JSON documents).
const JSON_LIMIT: u64 = 4 << 20;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// An opened layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    index: ImageIndex,
}

/// One image of a layout, resolved: its manifest, config and where they came from.
#[derive(Debug, Clone)]
pub struct Image {
    /// The descriptor of the manifest (its digest identifies the image).
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl Image {
    /// The layer descriptors, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// The labels of the image config (`containers.bootc`, …).
    pub fn label(&self, name: &str) -> Option<&str> {
        self.config
            .labels_of_config()
            .and_then(|l| l.get(name))
            .map(String::as_str)
    }
}

impl Layout {
    /// Opens the layout in `dir`: checks `oci-layout` and reads `index.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let not_layout = |reason: String| Error::NotALayout {
            path: dir.to_owned(),
            reason,
        };
        let header_path = dir.join("oci-layout");
        let header = std::fs::read(&header_path)
            .map_err(|e| not_layout(format!("cannot read oci-layout: {e}")))?;
        let header: OciLayout = serde_json::from_slice(&header).map_err(|source| Error::Json {
            path: header_path.clone(),
            what: "the oci-layout file",
            source,
        })?;
        if header.image_layout_version() != "1.0.0" {
            return Err(not_layout(format!(
                "imageLayoutVersion is {:?}, expected \"1.0.0\"",
                header.image_layout_version()
            )));
        }
        let index_path = dir.join("index.json");
        let index = std::fs::read(&index_path)
            .map_err(|e| not_layout(format!("cannot read index.json: {e}")))?;
        let index = serde_json::from_slice(&index).map_err(|source| Error::Json {
            path: index_path,
            what: "the image index",
            source,
        })?;
        Ok(Self {
            root: dir.to_owned(),
            index,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The tags (`org.opencontainers.image.ref.name`) listed in `index.json`.
    pub fn tags(&self) -> Vec<String> {
        self.index
            .manifests()
            .iter()
            .filter_map(ref_name)
            .map(str::to_owned)
            .collect()
    }

    /// Resolves the image tagged `tag`, or the only image when `tag` is `None`, to its linux/amd64
    /// manifest and config. Both are read and digest-checked; the layers are not touched.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Image> {
        let manifests = self.index.manifests();
        let descriptor = match tag {
            Some(tag) => manifests
                .iter()
                .find(|d| ref_name(d) == Some(tag))
                .ok_or_else(|| Error::TagNotFound {
                    path: self.root.clone(),
                    tag: tag.to_owned(),
                    available: self.tags(),
                })?,
            None => match manifests.as_slice() {
                [only] => only,
                _ => {
                    return Err(Error::AmbiguousImage {
                        path: self.root.clone(),
                        count: manifests.len(),
                        available: self.tags(),
                    });
                }
            },
        };
        self.resolve_descriptor(descriptor.clone(), 0)
    }

    fn resolve_descriptor(&self, descriptor: Descriptor, depth: usize) -> Result<Image> {
        let media_type = descriptor.media_type().to_string();
        if is_index(descriptor.media_type()) {
            if depth > 4 {
                return Err(Error::NotALayout {
                    path: self.root.clone(),
                    reason: "image indexes nest more than 4 deep".into(),
                });
            }
            let index: ImageIndex = self.read_json(&descriptor, "an image index")?;
            let wanted = index.manifests().iter().find(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|p| *p.architecture() == Arch::Amd64 && *p.os() == Os::Linux)
            });
            let Some(wanted) = wanted else {
                let available = index
                    .manifests()
                    .iter()
                    .map(|d| match d.platform() {
                        Some(p) => format!("{}/{}", p.os(), p.architecture()),
                        None => "no platform".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Error::NoPlatform {
                    platform: "linux/amd64".into(),
                    digest: descriptor.digest().to_string(),
                    available,
                });
            };
            return self.resolve_descriptor(wanted.clone(), depth + 1);
        }
        if !(*descriptor.media_type() == MediaType::ImageManifest || media_type == DOCKER_MANIFEST)
        {
            return Err(Error::UnexpectedMediaType {
                what: format!("manifest {}", descriptor.digest()),
                media_type,
                expected: "an OCI image manifest or index",
            });
        }
        let manifest: ImageManifest = self.read_json(&descriptor, "an image manifest")?;
        let config_media = manifest.config().media_type();
        if !(*config_media == MediaType::ImageConfig || config_media.as_ref() == DOCKER_CONFIG) {
            return Err(Error::UnexpectedMediaType {
                what: format!("the config of manifest {}", descriptor.digest()),
                media_type: config_media.to_string(),
                expected: "application/vnd.oci.image.config.v1+json",
            });
        }
        for layer in manifest.layers() {
            if Compression::from_media_type(layer.media_type()).is_none() {
                return Err(Error::UnexpectedMediaType {
                    what: format!("layer {}", layer.digest()),
                    media_type: layer.media_type().to_string(),
                    expected: "a tar layer (plain, gzip or zstd)",
                });
            }
        }
        let config: ImageConfiguration = self.read_json(manifest.config(), "an image config")?;
        Ok(Image {
            manifest_descriptor: descriptor,
            manifest,
            config,
        })
    }

    /// Where the blob with `digest` lives; only sha256 digests are accepted, so the path never
    /// leaves `blobs/sha256/`.
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        if *digest.algorithm() != DigestAlgorithm::Sha256 {
            return Err(Error::UnsupportedDigest(digest.to_string()));
        }
        // oci-spec guarantees 64 lowercase hex digits for sha256.
        Ok(self.root.join("blobs").join("sha256").join(digest.digest()))
    }

    /// Opens a blob for reading; the reader fails at its end if size or digest do not match
    /// `descriptor`.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifyingReader<BufReader<File>>> {
        let path = self.blob_path(descriptor.digest())?;
        let file = File::open(&path).map_err(io("opening blob", &path))?;
        Ok(VerifyingReader::new(
            BufReader::with_capacity(256 * 1024, file),
            descriptor.digest().clone(),
            descriptor.size(),
        ))
    }

    /// Opens a layer as its uncompressed tar stream. The compressed bytes are digest-checked
    /// when the stream reaches its end; read it to the end before trusting what was unpacked.
    pub fn open_layer(&self, descriptor: &Descriptor) -> Result<Box<dyn Read>> {
        let compression =
            Compression::from_media_type(descriptor.media_type()).ok_or_else(|| {
                Error::UnexpectedMediaType {
                    what: format!("layer {}", descriptor.digest()),
                    media_type: descriptor.media_type().to_string(),
                    expected: "a tar layer (plain, gzip or zstd)",
                }
            })?;
        let blob = std::io::BufReader::new(self.open_blob(descriptor)?);
        let path = self.blob_path(descriptor.digest())?;
        compression
            .decoder(blob)
            .map_err(io("starting to decompress", path))
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<T> {
        if descriptor.size() > JSON_LIMIT {
            return Err(Error::TooLarge {
                what: format!("{what} {}", descriptor.digest()),
                size: descriptor.size(),
                limit: JSON_LIMIT,
            });
        }
        let path = self.blob_path(descriptor.digest())?;
        let mut bytes = Vec::new();
        self.open_blob(descriptor)?
            .read_to_end(&mut bytes)
            .map_err(io("reading blob", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, what, source })
    }
}

fn is_index(media_type: &MediaType) -> bool {
    *media_type == MediaType::ImageIndex || media_type.as_ref() == DOCKER_MANIFEST_LIST
}
