//! Shared helpers for Kickstand's end-to-end tests (the tests live in `tests/tests/`): the
//! binaries under test, host-mode installs onto disk image files, small OCI images made for
//! one test, and reading an installed disk back.

pub mod netinstall;
pub mod serve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kickstand_oci::oci_spec::image::ConfigBuilder;
use kickstand_oci::{Compression, ImageSpec, LayoutWriter, Meta};

/// A Kickstand binary (`kickstand`, `kickstand-installer`): from `KICKSTAND_BIN_DIR` (set by
/// `cargo xtask test` to the one release build), else the one beside the running test in its
/// profile directory (`target/<profile>/`), built first with cargo when missing.
pub fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("KICKSTAND_BIN_DIR") {
        let p = PathBuf::from(dir).join(name);
        assert!(
            p.is_file(),
            "{} is missing from KICKSTAND_BIN_DIR (run `cargo build --release --bins`)",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf();
    let p = profile_dir.join(name);
    if !p.is_file() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "-p",
            "kickstand-installer",
            "-p",
            "kickstand-provisioner",
            "--bins",
        ])
        .current_dir(workspace_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(
            status.success() && p.is_file(),
            "cargo build of {name} failed"
        );
    }
    p
}

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `kickstand-installer`.
pub fn installer() -> PathBuf {
    bin("kickstand-installer")
}

/// The Debian kernel and the installer initramfs for it, built once per test process.
pub fn kernel_and_initramfs() -> &'static (qemu_harness::Kernel, PathBuf) {
    static BUILT: OnceLock<(qemu_harness::Kernel, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let kernel = qemu_harness::debian_kernel().expect("the Debian kernel (cargo xtask assets)");
        let dir = std::env::temp_dir().join(format!("kickstand-initrd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("initrd.img");
        let started = std::time::Instant::now();
        let result = Command::new(bin("kickstand"))
            .args(["initramfs", "build", "--output"])
            .arg(&out)
            .arg("--kernel-modules")
            .arg(&kernel.modules_dir)
            .arg("--kernel")
            .arg(&kernel.vmlinuz)
            .arg("--installer")
            .arg(bin("kickstand-installer"))
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "kickstand initramfs build failed:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        eprintln!(
            "built the installer initramfs ({} bytes) in {:.1}s",
            std::fs::metadata(&out).unwrap().len(),
            started.elapsed().as_secs_f64()
        );
        (kernel, out)
    })
}

/// A sparse disk image file of `size` bytes.
pub fn disk_file(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

/// Writes recognisable bytes where a partition table and the first filesystems would go (the
/// first 4 MiB and the last 1 MiB of `disk`) and returns its [`written_regions`], to compare
/// after an install that must not touch the disk.
pub fn mark_disk(disk: &Path) -> (Vec<u8>, Vec<u8>, u64) {
    use std::io::{Seek, SeekFrom, Write};
    let pattern: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    f.write_all(&pattern).unwrap();
    f.seek(SeekFrom::End(-(1 << 20))).unwrap();
    f.write_all(&pattern[..1 << 20]).unwrap();
    drop(f);
    written_regions(disk)
}

/// The disk's first 4 MiB and last 1 MiB (where partition tables and the first filesystems
/// go) and its allocated blocks (any other write to the sparse file allocates some).
pub fn written_regions(disk: &Path) -> (Vec<u8>, Vec<u8>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(disk).unwrap();
    let mut head = vec![0; 4 << 20];
    f.read_exact(&mut head).unwrap();
    let mut tail = vec![0; 1 << 20];
    f.seek(SeekFrom::End(-(1 << 20))).unwrap();
    f.read_exact(&mut tail).unwrap();
    (head, tail, f.metadata().unwrap().blocks())
}

/// Runs `kickstand-installer install --kickstart KS --disk DISK:vda EXTRA...`, printing its
/// output (shown when the test fails).
pub fn install(dir: &Path, ks: &str, disk: &Path, extra: &[&str]) -> Output {
    let ks_path = dir.join("ks.cfg");
    std::fs::write(&ks_path, ks).unwrap();
    let out = Command::new(installer())
        .arg("install")
        .arg("--kickstart")
        .arg(&ks_path)
        .arg("--disk")
        .arg(format!("{}:vda", disk.display()))
        .args(extra)
        .env("KICKSTAND_LOG", "info")
        .output()
        .unwrap();
    eprintln!(
        "installer exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A new ed25519 key pair in `dir` (`id_ed25519`): (public key line, SHA256 fingerprint).
pub fn ssh_key(dir: &Path) -> (String, String) {
    let key = dir.join("id_ed25519");
    let fingerprint = qemu_harness::ssh::keygen(&key).unwrap_or_else(|e| panic!("{e}"));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (public.trim().to_owned(), fingerprint)
}

/// A one-layer linux/amd64 image tagged `latest` in a new layout at `dir`, holding `files`
/// (path, contents) and carrying `labels`. For images that must be refused.
pub fn small_image(dir: &Path, files: &[(&str, &str)], labels: &[(&str, &str)]) -> PathBuf {
    let layout = LayoutWriter::create(dir).unwrap();
    let mut layer = layout.layer(Compression::Gzip).unwrap();
    let mtime = 1_767_225_600;
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut p = Path::new(path).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    for d in dirs {
        layer
            .dir(d.to_str().unwrap(), Meta::root(0o755, mtime))
            .unwrap();
    }
    for (path, contents) in files {
        layer
            .file_bytes(path, Meta::root(0o644, mtime), contents.as_bytes())
            .unwrap();
    }
    let layer = layout.commit_layer(layer, "kickstand test image").unwrap();
    finish_image(layout, layer, labels)
}

/// Writes the image of the one `layer` carrying `labels`, tagged `latest`, and closes the
/// layout.
pub fn finish_image(
    mut layout: LayoutWriter,
    layer: kickstand_oci::Layer,
    labels: &[(&str, &str)],
) -> PathBuf {
    let config = ConfigBuilder::default()
        .labels(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
        .build()
        .unwrap();
    layout
        .write_image(
            &[layer],
            ImageSpec {
                tag: "latest".into(),
                config,
                created: "2026-01-01T00:00:00Z".into(),
                annotations: HashMap::new(),
            },
        )
        .unwrap();
    layout.finish().unwrap()
}

/// The (start, size) in bytes of the partition of `disk` with GPT type `type_guid`.
pub fn partition(disk: &Path, type_guid: &str) -> Option<(u64, u64)> {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let ss = json["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    json["partitiontable"]["partitions"]
        .as_array()?
        .iter()
        .find(|p| {
            p["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(type_guid))
        })
        .map(|p| {
            (
                p["start"].as_u64().unwrap() * ss,
                p["size"].as_u64().unwrap() * ss,
            )
        })
}

/// GPT type of the x86-64 root partition.
pub const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Mounts the partition at `(start, size)` of `disk` read-only (through a loop device) for
/// as long as the value lives.
#[derive(Debug)]
pub struct MountedPartition {
    pub dir: tempfile::TempDir,
}

impl MountedPartition {
    pub fn new(disk: &Path, (start, size): (u64, u64)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-o", &format!("ro,loop,offset={start},sizelimit={size}")])
            .arg(disk)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        MountedPartition { dir }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }
}

impl Drop for MountedPartition {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
