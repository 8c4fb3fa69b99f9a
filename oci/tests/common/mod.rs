//! Test images built in memory: tar layers (including hostile ones the `tar` crate's safe API
//! would refuse to write), OCI manifests and configs, and minimal OCI layouts on disk.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Builds one uncompressed tar layer.
pub struct LayerBuilder(tar::Builder<Vec<u8>>);

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    }

    /// Appends an entry with a raw name (no checks: `..` and absolute names allowed).
    pub fn raw(mut self, mut h: tar::Header, name: &str, link: Option<&str>, data: &[u8]) -> Self {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            gnu.linkname = [0; 100];
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub fn dir(self, name: &str, mode: u32) -> Self {
        self.raw(
            Self::header(tar::EntryType::Directory, mode),
            name,
            None,
            b"",
        )
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_with(name, data, 0o644, 0, 0)
    }

    pub fn file_with(self, name: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        self.raw(h, name, None, data)
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            Self::header(tar::EntryType::Symlink, 0o777),
            name,
            Some(target),
            b"",
        )
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            Self::header(tar::EntryType::Link, 0o644),
            name,
            Some(target),
            b"",
        )
    }

    pub fn node(self, name: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(kind, 0o620);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, name, None, b"")
    }

    /// A file carrying pax extended attributes (`SCHILY.xattr.*`).
    pub fn file_xattrs(mut self, name: &str, data: &[u8], xattrs: &[(&str, &[u8])]) -> Self {
        let pax: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.0
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        let h = Self::header(tar::EntryType::Regular, 0o644);
        self.raw(h, name, None, data)
    }

    pub fn build(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.into(),
            digest: sha256(&data),
            data,
        }
    }

    fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// An image: config, layers and the manifest tying them together.
#[derive(Clone, Debug)]
pub struct TestImage {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Blob,
}

pub fn image(layers: Vec<Blob>, labels: &[(&str, &str)]) -> TestImage {
    image_for(layers, labels, "amd64")
}

pub fn image_for(layers: Vec<Blob>, labels: &[(&str, &str)], arch: &str) -> TestImage {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.clone()).collect();
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest).unwrap(),
    );
    TestImage {
        config,
        layers,
        manifest,
    }
}

fn write_blob(dir: &Path, blob: &Blob) {
    let hex = blob.digest.strip_prefix("sha256:").unwrap();
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(hex), &blob.data).unwrap();
}

/// Writes a minimal OCI layout with `img` tagged `tag`.
pub fn write_layout(dir: &Path, img: &TestImage, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for b in img.layers.iter().chain([&img.config, &img.manifest]) {
        write_blob(dir, b);
    }
    let mut desc = img.manifest.descriptor();
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [desc]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Writes a layout whose tag names an image index holding `images` (one per platform).
pub fn write_index_layout(dir: &Path, images: &[(&TestImage, &str)], tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for (img, arch) in images {
        for b in img.layers.iter().chain([&img.config, &img.manifest]) {
            write_blob(dir, b);
        }
        let mut d = img.manifest.descriptor();
        d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        manifests.push(d);
    }
    let nested = Blob::new(
        "application/vnd.oci.image.index.v1+json",
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
            .unwrap(),
    );
    write_blob(dir, &nested);
    let mut desc = nested.descriptor();
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [desc]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The error and its causes, as the installer prints them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s += &format!(": {c}");
        cur = c.source();
    }
    s
}

/// Debian's docker-registry, killed on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's docker-registry on a free loopback port, storing into a temporary directory.
pub fn start_registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.path().join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(dir.path().join("registry.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "docker-registry did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry {
        child,
        addr,
        _dir: dir,
    }
}
