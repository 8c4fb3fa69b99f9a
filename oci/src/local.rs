//! Reading images from an OCI layout directory (`oci:`) or an OCI layout tar archive
//! (`oci-archive:`). The archive is never extracted: its members are located once and read in
//! place, so a layer streams straight from the archive file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::resolve::LayerFacts;

/// Largest JSON document (index, manifest, config) read into memory.
const MAX_JSON: u64 = 8 << 20;

/// Where the layout's files are.
#[derive(Debug, Clone)]
pub enum Local {
    Dir(PathBuf),
    Archive {
        file: PathBuf,
        /// Member path → (offset of its data in the archive, size).
        members: HashMap<String, (u64, u64)>,
    },
}

/// Why a layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("reading {0}")]
    Io(String, #[source] io::Error),
    #[error("{0} is not valid JSON of the expected kind")]
    Json(String, #[source] serde_json::Error),
    #[error(
        "{0} is missing: this is not an OCI image layout (expected oci-layout, index.json and blobs/)"
    )]
    Missing(String),
    #[error("digest {0:?} is not of the form sha256:<64 hex digits>")]
    BadDigest(String),
    #[error("blob {digest} does not match its digest (content hashes to {actual})")]
    DigestMismatch { digest: String, actual: String },
    #[error("blob {digest} is {actual} bytes, its descriptor says {expected}")]
    Size {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("the layout has no image tagged {tag:?} (tags: {available})")]
    NoTag { tag: String, available: String },
    #[error("the layout holds {0} images; name one as PATH:TAG (tags: {1})")]
    Ambiguous(usize, String),
    #[error("the layout's index has no image for {0}")]
    NoPlatform(String),
    #[error("descriptor {0} has media type {1:?}, expected an image manifest or index")]
    MediaType(String, String),
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// A manifest resolved from a layout.
#[derive(Debug)]
pub struct Resolved {
    pub manifest_digest: String,
    pub layers: Vec<LayerFacts>,
    pub config: Vec<u8>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn is_manifest(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.manifest.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.v2+json"
}

/// The layout path of a blob, refusing digests that are not plain sha256 (a digest is used as
/// a file name, so it must not be able to name anything else).
pub fn blob_path(digest: &str) -> Result<String, LocalError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(LocalError::BadDigest(digest.to_string())),
    }
}

impl Local {
    pub fn dir(path: PathBuf) -> Local {
        Local::Dir(path)
    }

    /// Indexes the members of an OCI layout tar archive (headers only; data is skipped).
    pub fn archive(file: PathBuf) -> Result<Local, LocalError> {
        let shown = file.display().to_string();
        let f = File::open(&file).map_err(|e| LocalError::Io(shown.clone(), e))?;
        let mut archive = tar::Archive::new(f);
        let mut members = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| LocalError::Io(shown.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LocalError::Io(shown.clone(), e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(|e| LocalError::Io(shown.clone(), e))?;
            let name = path.to_string_lossy().trim_start_matches("./").to_string();
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(Local::Archive { file, members })
    }

    fn shown(&self, member: &str) -> String {
        match self {
            Local::Dir(d) => d.join(member).display().to_string(),
            Local::Archive { file, .. } => format!("{} (member {member})", file.display()),
        }
    }

    /// Opens a member; returns the file positioned at its data and its size.
    pub fn open(&self, member: &str) -> Result<(File, u64), LocalError> {
        let shown = self.shown(member);
        match self {
            Local::Dir(d) => {
                let f = File::open(d.join(member)).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        LocalError::Missing(shown.clone())
                    } else {
                        LocalError::Io(shown.clone(), e)
                    }
                })?;
                let len = f
                    .metadata()
                    .map_err(|e| LocalError::Io(shown.clone(), e))?
                    .len();
                Ok((f, len))
            }
            Local::Archive { file, members } => {
                let &(offset, size) = members
                    .get(member)
                    .ok_or(LocalError::Missing(shown.clone()))?;
                let mut f = File::open(file).map_err(|e| LocalError::Io(shown.clone(), e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| LocalError::Io(shown.clone(), e))?;
                Ok((f, size))
            }
        }
    }

    fn read_small(&self, member: &str) -> Result<Vec<u8>, LocalError> {
        let (f, len) = self.open(member)?;
        let mut out = Vec::new();
        f.take(len.min(MAX_JSON))
            .read_to_end(&mut out)
            .map_err(|e| LocalError::Io(self.shown(member), e))?;
        Ok(out)
    }

    /// Reads a small blob and checks its size and digest.
    fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>, LocalError> {
        let data = self.read_small(&blob_path(&d.digest)?)?;
        if data.len() as u64 != d.size {
            return Err(LocalError::Size {
                digest: d.digest.clone(),
                expected: d.size,
                actual: data.len() as u64,
            });
        }
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        if actual != d.digest {
            return Err(LocalError::DigestMismatch {
                digest: d.digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Picks the manifest (by tag, or the only one) for `os`/`arch` and reads its config.
    pub fn resolve(&self, tag: Option<&str>, os: &str, arch: &str) -> Result<Resolved, LocalError> {
        self.open("oci-layout")?;
        let index_data = self.read_small("index.json")?;
        let index: Index = serde_json::from_slice(&index_data)
            .map_err(|e| LocalError::Json(self.shown("index.json"), e))?;
        let tags = || {
            let t: Vec<&str> = index
                .manifests
                .iter()
                .filter_map(|m| m.annotations.get(REF_NAME).map(String::as_str))
                .collect();
            if t.is_empty() {
                "none".to_string()
            } else {
                t.join(", ")
            }
        };
        let chosen = match tag {
            Some(tag) => index
                .manifests
                .iter()
                .find(|m| m.annotations.get(REF_NAME).is_some_and(|t| t == tag))
                .ok_or_else(|| LocalError::NoTag {
                    tag: tag.to_string(),
                    available: tags(),
                })?,
            None if index.manifests.len() == 1 => &index.manifests[0],
            None => return Err(LocalError::Ambiguous(index.manifests.len(), tags())),
        };
        let mut desc_data = self.read_blob(chosen)?;
        let mut digest = chosen.digest.clone();
        if is_index(&chosen.media_type) {
            let nested: Index = serde_json::from_slice(&desc_data)
                .map_err(|e| LocalError::Json(chosen.digest.clone(), e))?;
            let m = nested
                .manifests
                .iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == os && p.architecture == arch)
                })
                .ok_or_else(|| LocalError::NoPlatform(format!("{os}/{arch}")))?;
            desc_data = self.read_blob(m)?;
            digest = m.digest.clone();
        } else if !is_manifest(&chosen.media_type) {
            return Err(LocalError::MediaType(
                chosen.digest.clone(),
                chosen.media_type.clone(),
            ));
        }
        let manifest: Manifest =
            serde_json::from_slice(&desc_data).map_err(|e| LocalError::Json(digest.clone(), e))?;
        let config = self.read_blob(&manifest.config)?;
        let layers = manifest
            .layers
            .into_iter()
            .map(|l| LayerFacts {
                digest: l.digest,
                media_type: l.media_type,
                size: l.size,
            })
            .collect();
        Ok(Resolved {
            manifest_digest: digest,
            layers,
            config,
        })
    }
}
