//! Writing an OCI image layout: `oci-layout`, `index.json` and content-addressed blobs that are
//! hashed while they stream to disk.

use crate::compression::Compression;
use crate::digest::HashingWriter;
use crate::error::{Error, Result, io};
use crate::layer::LayerWriter;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, Config, Descriptor, Digest, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    OciLayoutBuilder, Os, RootFsBuilder,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A layout being written. Blobs land in `blobs/sha256/` as soon as they are committed;
/// `index.json` is written by [`LayoutWriter::finish`], so a writer dropped early leaves a
/// directory with blobs and `oci-layout` but no `index.json`, which readers refuse.
#[derive(Debug)]
pub struct LayoutWriter {
    root: PathBuf,
    manifests: Vec<Descriptor>,
}

/// A committed layer: its descriptor for the manifest and its `diff_id` for the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// What made the layer, for the config's history.
    pub created_by: String,
}

/// What [`LayoutWriter::write_image`] needs besides the layers.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The tag (`org.opencontainers.image.ref.name` in `index.json`).
    pub tag: String,
    /// The runtime config: labels, command, environment.
    pub config: Config,
    /// Creation time, RFC 3339; fixed for reproducible images.
    pub created: String,
    /// Annotations of the manifest.
    pub annotations: HashMap<String, String>,
}

impl LayoutWriter {
    /// Starts a layout in `dir`, which is created if missing and must otherwise be empty.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let not_empty = std::fs::read_dir(dir)
            .map_err(io("reading", dir))?
            .next()
            .is_some();
        if not_empty {
            return Err(Error::NotALayout {
                path: dir.to_owned(),
                reason: "the directory to write a new layout into is not empty".into(),
            });
        }
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(io("creating", &blobs))?;
        let header = OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()?;
        write_json_file(&dir.join("oci-layout"), &header)?;
        Ok(Self {
            root: dir.to_owned(),
            manifests: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A writer for one blob; [`BlobWriter::commit`] moves it to its content address.
    pub fn blob(&self) -> Result<BlobWriter> {
        let dir = self.root.join("blobs").join("sha256");
        let file = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&dir)
            .map_err(io("creating a blob in", &dir))?;
        let handle = file
            .as_file()
            .try_clone()
            .map_err(io("opening", file.path()))?;
        Ok(BlobWriter {
            out: HashingWriter::new(BufWriter::with_capacity(256 * 1024, handle)),
            file,
            dir,
        })
    }

    /// Writes `content` as a blob.
    pub fn write_blob(&self, media_type: MediaType, content: &[u8]) -> Result<Descriptor> {
        let mut blob = self.blob()?;
        blob.write_all(content)
            .map_err(io("writing a blob in", &self.root))?;
        blob.commit(media_type)
    }

    /// Writes `value` as a JSON blob with sorted object keys, so equal values give equal digests.
    pub fn write_json(
        &self,
        media_type: MediaType,
        value: &impl serde::Serialize,
    ) -> Result<Descriptor> {
        self.write_blob(media_type, &canonical_json(value)?)
    }

    /// Starts a layer blob.
    pub fn layer(&self, compression: Compression) -> Result<LayerWriter<BlobWriter>> {
        LayerWriter::new(self.blob()?, compression).map_err(io("starting a layer in", &self.root))
    }

    /// Finishes `layer` and commits its blob.
    pub fn commit_layer(
        &self,
        layer: LayerWriter<BlobWriter>,
        created_by: impl Into<String>,
    ) -> Result<Layer> {
        let media_type = layer.compression().media_type();
        let (blob, tar) = layer
            .finish()
            .map_err(io("finishing a layer in", &self.root))?;
        Ok(Layer {
            descriptor: blob.commit(media_type)?,
            diff_id: tar.diff_id,
            created_by: created_by.into(),
        })
    }

    /// Writes the config and manifest of a linux/amd64 image made of `layers` (bottom first) and
    /// lists it in the index under `spec.tag`.
    pub fn write_image(&mut self, layers: &[Layer], spec: ImageSpec) -> Result<Descriptor> {
        let history = layers
            .iter()
            .map(|l| {
                HistoryBuilder::default()
                    .created(spec.created.clone())
                    .created_by(l.created_by.clone())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(
                layers
                    .iter()
                    .map(|l| l.diff_id.to_string())
                    .collect::<Vec<_>>(),
            )
            .build()?;
        let config = ImageConfigurationBuilder::default()
            .created(spec.created.clone())
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(spec.config)
            .rootfs(rootfs)
            .history(history)
            .build()?;
        let config = self.write_json(MediaType::ImageConfig, &config)?;
        let mut manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(
                layers
                    .iter()
                    .map(|l| l.descriptor.clone())
                    .collect::<Vec<_>>(),
            );
        if !spec.annotations.is_empty() {
            manifest = manifest.annotations(spec.annotations);
        }
        let mut descriptor = self.write_json(MediaType::ImageManifest, &manifest.build()?)?;
        descriptor.set_annotations(Some(HashMap::from([(
            ANNOTATION_REF_NAME.to_owned(),
            spec.tag,
        )])));
        self.add_manifest(descriptor.clone());
        Ok(descriptor)
    }

    /// Lists an already written manifest (or index) in `index.json`; a manifest with the same
    /// `org.opencontainers.image.ref.name` is replaced.
    pub fn add_manifest(&mut self, descriptor: Descriptor) {
        let name = ref_name(&descriptor).map(str::to_owned);
        if name.is_some() {
            self.manifests.retain(|d| ref_name(d) != name.as_deref());
        }
        self.manifests.push(descriptor);
    }

    /// Writes `index.json` (atomically) and returns the layout's directory.
    pub fn finish(self) -> Result<PathBuf> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(self.manifests)
            .build()?;
        write_json_file(&self.root.join("index.json"), &index)?;
        Ok(self.root)
    }
}

pub(crate) fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

/// Streams one blob to a temporary file in `blobs/sha256/` while hashing it. Dropping it without
/// [`BlobWriter::commit`] removes the temporary file.
#[derive(Debug)]
pub struct BlobWriter {
    out: HashingWriter<BufWriter<File>>,
    file: tempfile::NamedTempFile,
    dir: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.written()
    }

    /// Flushes the blob to disk and renames it to `blobs/sha256/<digest>`.
    pub fn commit(self, media_type: MediaType) -> Result<Descriptor> {
        let (buffered, digest, size) = self.out.finish();
        let handle = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("writing", self.file.path()))?;
        handle.sync_all().map_err(io("syncing", self.file.path()))?;
        let path = self.dir.join(digest.digest());
        self.file
            .persist(&path)
            .map_err(|e| e.error)
            .map_err(io("storing blob", &path))?;
        set_mode(&path, 0o644)?;
        Ok(Descriptor::new(media_type, size, digest))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// JSON with object keys sorted (through `serde_json::Value`), whatever map type `value` uses.
pub(crate) fn canonical_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    let json = |source| Error::Json {
        path: PathBuf::new(),
        what: "a value to write",
        source,
    };
    let mut value = serde_json::to_value(value).map_err(json)?;
    value.sort_all_objects();
    serde_json::to_vec(&value).map_err(json)
}

fn write_json_file(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let bytes = canonical_json(value)?;
    let dir = path.parent().expect("layout files have a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating a file in", dir))?;
    tmp.write_all(&bytes).map_err(io("writing", path))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(io("writing", path))?;
    set_mode(path, 0o644)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("setting the mode of", path))
}
