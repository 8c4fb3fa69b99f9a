//! The **tiny** test OS: a bootable container image made from Debian packages, small enough to
//! build in seconds and boot in one TCG minute, that reports on its console what an installer
//! made of it (see `tiny/boot-report.sh` for the `KICKSTAND-BOOTED` line).
//!
//! Contents (the image contract of `DESIGN.md`):
//! - busybox (busybox-static) with its applets as symlinks, merged `/usr` (`/bin` → `usr/bin`);
//! - the Debian kernel at `/usr/lib/modules/$KVER/vmlinuz` and an `initramfs.img` beside it
//!   ([`super::initramfs`]);
//! - systemd-boot at `/usr/lib/systemd/boot/efi/systemd-bootx64.efi` and BIOS GRUB
//!   (`/usr/lib/grub/i386-pc`, `grub-mkimage` with its libraries and loader);
//! - `/etc/passwd`, `group`, `shadow`, `gshadow`, `/etc/skel`; no `/etc/fstab` and no hostname:
//!   the installer writes them;
//! - layer 1 (gzip) holds the system; layer 2 (zstd) holds `/sbin/init` (a hard link to
//!   `/usr/lib/kickstand/boot-report`), deletes a file of layer 1 through a whiteout and empties
//!   a directory of layer 1 through an opaque whiteout. Layer 1 also has device nodes, an
//!   absolute symlink (`/var/run` → `/run`), a setuid file and a file owned by uid 1234.

use super::{Error, Result, copy_file, oci_error, symlink, write_file};
use crate::assets::Kernel;
use crate::cmd::run;
use kickstand_oci::{Compression, LayoutWriter, Meta, TreeOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tag of the image in its layout.
pub const TAG: &str = "latest";
/// Prefix of the line the tiny OS prints once booted.
pub const BOOTED: &str = "KICKSTAND-BOOTED";
/// `/sbin/init` of the image.
pub const BOOT_REPORT: &str = include_str!("tiny/boot-report.sh");
/// Modification time of every file (2026-01-01T00:00:00Z), for reproducible layers.
pub const MTIME: u64 = 1_767_225_600;
const CREATED: &str = "2026-01-01T00:00:00Z";
/// Bump when the recipe changes in a way the cache key does not see.
const RECIPE_VERSION: &str = "2";
/// Debian packages whose files go into the image; their versions key the cache.
const PACKAGES: &[&str] = &[
    "busybox-static",
    "systemd-boot-efi",
    "grub-pc-bin",
    "grub-common",
    "libc6",
    "cpio",
    // The initramfs's storage tools (super::initramfs::TOOLS).
    "lvm2",
    "cryptsetup-bin",
    "mdadm",
    "thin-provisioning-tools",
];
const SYSTEMD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const GRUB_I386_PC: &str = "/usr/lib/grub/i386-pc";
const GRUB_MKIMAGE: &str = "/usr/bin/grub-mkimage";

/// A built tiny image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TinyImage {
    /// The OCI image layout directory (image tagged [`TAG`]).
    pub layout: PathBuf,
    /// The kernel release inside (`$KVER`).
    pub kernel_version: String,
}

/// The tiny image for the Debian kernel of [`crate::assets::debian_kernel`], built into the
/// cache on first use and reused while its inputs (kernel, package versions, recipe) are the
/// same. The layout must not be modified: copy it to change it.
pub fn tiny() -> Result<TinyImage> {
    let kernel = crate::assets::debian_kernel()?;
    let key = cache_key(&kernel)?;
    let entry = crate::cache::entry("tiny-image", &key, |dir| {
        let t = std::time::Instant::now();
        build(&kernel, &dir.join("layout"))?;
        eprintln!(
            "qemu-harness: built the tiny test image ({key}) in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        Ok(())
    })?;
    Ok(TinyImage {
        layout: entry.join("layout"),
        kernel_version: kernel.version,
    })
}

/// What the image is made of: recipe, scripts, kernel package and Debian package versions.
fn cache_key(kernel: &Kernel) -> Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [RECIPE_VERSION, BOOT_REPORT, super::initramfs::INIT] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(super::initramfs::MODULES.join(",").as_bytes());
    h.update(super::initramfs::TOOLS.join(",").as_bytes());
    h.update(format!(
        "{} {} {}\0",
        kernel.package, kernel.package_version, kernel.version
    ));
    let versions = run(
        "reading Debian package versions",
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Package}=${Version}\\n"])
            .args(PACKAGES),
    )?;
    h.update(versions.as_bytes());
    Ok(format!(
        "{}-{}",
        kernel.version,
        &hex::encode(h.finalize())[..16]
    ))
}

/// Builds the tiny image for `kernel` as a new layout in `out` (created; must be empty).
pub fn build(kernel: &Kernel, out: &Path) -> Result<()> {
    let work = tempfile::tempdir().map_err(Error::io("creating a temporary directory", "/tmp"))?;
    let base = work.path().join("base");
    stage_base(kernel, &base, work.path())?;

    let layout = LayoutWriter::create(out).map_err(oci_error("creating the layout"))?;
    let layer_error =
        |e: std::io::Error| Error::Asset(format!("writing a layer of the tiny image: {e}"));
    let root = |mode| Meta::root(mode, MTIME);

    let mut system = layout
        .layer(Compression::Gzip)
        .map_err(oci_error("starting layer 1"))?;
    system
        .append_tree(
            &base,
            "",
            TreeOptions {
                owner: Some((0, 0)),
                mtime: Some(MTIME),
            },
        )
        .map_err(layer_error)?;
    system
        .char_device("dev/console", 5, 1, root(0o600))
        .map_err(layer_error)?;
    system
        .char_device("dev/null", 1, 3, root(0o666))
        .map_err(layer_error)?;
    system
        .file_bytes("usr/bin/kickstand-setuid", root(0o4755), b"#!/bin/sh\nid\n")
        .map_err(layer_error)?;
    let user = Meta {
        uid: 1234,
        gid: 1234,
        ..root(0o640)
    };
    system
        .file_bytes(
            "var/lib/kickstand/owned-by-1234",
            user,
            b"owned by uid 1234\n",
        )
        .map_err(layer_error)?;
    let system = layout
        .commit_layer(
            system,
            "kickstand tiny image: busybox, kernel, initramfs, boot loaders",
        )
        .map_err(oci_error("writing layer 1"))?;

    let init = super::report_layer(
        &layout,
        Compression::Zstd,
        "usr/sbin/init",
        MTIME,
        "kickstand tiny image: /sbin/init boot report",
    )?;
    super::finish_image(
        layout,
        &[system, init],
        super::ImageInfo {
            title: "kickstand-tiny",
            description: "Kickstand's tiny bootable test OS (busybox, Debian kernel, \
                          systemd-boot, GRUB)",
            kernel: &kernel.version,
            path: "/usr/sbin:/usr/bin",
            tag: TAG,
            created: CREATED,
        },
    )
}

/// Stages layer 1's tree in `base` (root-owned entries are set by the layer writer).
fn stage_base(kernel: &Kernel, base: &Path, work: &Path) -> Result<()> {
    for (dir, mode) in [
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("var/lib", 0o755),
        ("root", 0o700),
        ("home", 0o755),
        ("boot", 0o755),
        ("mnt", 0o755),
        ("usr/lib64", 0o755),
        ("etc/kickstand", 0o755),
    ] {
        let d = base.join(dir);
        std::fs::create_dir_all(&d).map_err(Error::io("creating", &d))?;
        super::set_mode(&d, mode)?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        symlink(target, &base.join(link))?;
    }
    symlink("/run", &base.join("var/run"))?;

    // busybox and its applets (not init: /sbin/init is the boot report of layer 2).
    copy_file(
        Path::new(super::BUSYBOX),
        &base.join("usr/bin/busybox"),
        0o755,
    )?;
    let applets = run(
        "listing busybox applets",
        Command::new(super::BUSYBOX).arg("--list-full"),
    )?;
    let mut links = BTreeSet::new();
    for applet in applets.lines() {
        let applet = applet.trim().trim_start_matches("usr/");
        let (dir, name) = applet.split_once('/').unwrap_or(("bin", applet));
        if name.is_empty() || matches!(name, "init" | "linuxrc" | "busybox") {
            continue;
        }
        let dir = if dir == "sbin" { "usr/sbin" } else { "usr/bin" };
        links.insert((dir, name.to_owned()));
    }
    for (dir, name) in links {
        let target = if dir == "usr/bin" {
            "busybox"
        } else {
            "../bin/busybox"
        };
        symlink(target, &base.join(dir).join(name))?;
    }

    // The kernel and its initramfs.
    let modules = base.join("usr/lib/modules").join(&kernel.version);
    copy_file(&kernel.vmlinuz, &modules.join("vmlinuz"), 0o644)?;
    let initramfs_work = work.join("initramfs");
    std::fs::create_dir_all(&initramfs_work).map_err(Error::io("creating", &initramfs_work))?;
    super::initramfs::build(
        kernel,
        &initramfs_work,
        &modules.join("initramfs.img"),
        MTIME,
    )?;
    super::set_mode(&modules.join("initramfs.img"), 0o644)?;

    // Boot loaders: systemd-boot for UEFI, GRUB's i386-pc modules and grub-mkimage for BIOS.
    copy_file(
        Path::new(SYSTEMD_BOOT),
        &base.join(SYSTEMD_BOOT.trim_start_matches('/')),
        0o644,
    )?;
    copy_tree(
        Path::new(GRUB_I386_PC),
        &base.join(GRUB_I386_PC.trim_start_matches('/')),
    )?;
    copy_file(
        Path::new(GRUB_MKIMAGE),
        &base.join(GRUB_MKIMAGE.trim_start_matches('/')),
        0o755,
    )?;
    copy_libraries(Path::new(GRUB_MKIMAGE), base)?;

    // Users, groups and the files the boot report checks.
    let etc = base.join("etc");
    let files: [(&str, &[u8], u32); 7] = [
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/shadow", b"root:*:20454:0:99999:7:::\n", 0o640),
        (
            "etc/group",
            b"root:x:0:\nwheel:x:10:\nusers:x:100:\n",
            0o644,
        ),
        ("etc/gshadow", b"root:*::\nwheel:*::\nusers:*::\n", 0o640),
        ("etc/profile", b"export PATH=/usr/sbin:/usr/bin\n", 0o644),
        ("etc/skel/.profile", b"# ~/.profile of a new user\n", 0o644),
        (
            "usr/lib/os-release",
            b"NAME=\"Kickstand tiny test OS\"\nID=kickstand-tiny\n\
              PRETTY_NAME=\"Kickstand tiny test OS\"\n",
            0o644,
        ),
    ];
    for (path, content, mode) in files {
        write_file(&base.join(path), content, mode)?;
    }
    symlink("../usr/lib/os-release", &etc.join("os-release"))?;
    write_file(
        &etc.join("kickstand/removed-by-whiteout"),
        b"layer 2 deletes this\n",
        0o644,
    )?;
    let opaque = base.join("usr/share/kickstand/opaque");
    write_file(&opaque.join("old-a"), b"hidden by layer 2\n", 0o644)?;
    write_file(&opaque.join("old-b"), b"hidden by layer 2\n", 0o644)?;
    Ok(())
}

/// Copies the shared libraries `ldd` lists for `program` (and the dynamic loader) into
/// `root/usr/lib/x86_64-linux-gnu`, and `root/usr/lib64/ld-linux-x86-64.so.2` to the loader.
/// Libraries already there (from another program) are kept.
pub(super) fn copy_libraries(program: &Path, root: &Path) -> Result<()> {
    let ldd = run(
        &format!("listing the libraries of {}", program.display()),
        Command::new("ldd").arg(program),
    )?;
    let libdir = root.join("usr/lib/x86_64-linux-gnu");
    for line in ldd.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let name = Path::new(path)
            .file_name()
            .expect("a library path has a file name");
        if libdir.join(name).exists() {
            continue;
        }
        let real = std::fs::canonicalize(path).map_err(Error::io("resolving", path))?;
        copy_file(&real, &libdir.join(name), 0o755)?;
        if name == "ld-linux-x86-64.so.2" {
            symlink(
                "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                &root.join("usr/lib64/ld-linux-x86-64.so.2"),
            )?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for rel in super::sorted_tree(from)? {
        let rel = rel.strip_prefix(".").unwrap_or(&rel);
        let src = from.join(rel);
        let dst = to.join(rel);
        let md = src.symlink_metadata().map_err(Error::io("reading", &src))?;
        if md.is_dir() {
            std::fs::create_dir_all(&dst).map_err(Error::io("creating", &dst))?;
        } else if md.is_file() {
            copy_file(&src, &dst, 0o644)?;
        }
    }
    Ok(())
}

/// The fields of a `KICKSTAND-BOOTED` line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootReport {
    pub fields: Vec<(String, String)>,
}

impl BootReport {
    /// Parses the line (anything before `KICKSTAND-BOOTED` is ignored); `None` if it has none.
    pub fn parse(line: &str) -> Option<Self> {
        let (_, rest) = line.split_once(BOOTED)?;
        let fields = rest
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(Self { fields })
    }

    /// The value of `field` (`-` means none).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
    }

    /// The `keys=` entries as `(user, fingerprint, perms)`.
    pub fn keys(&self) -> Vec<(String, String, String)> {
        let Some(keys) = self.get("keys").filter(|k| *k != "-") else {
            return Vec::new();
        };
        keys.split(',')
            .filter_map(|k| {
                // user:SHA256:fingerprint:perms (perms is `ok` or `bad(…;…)`).
                let (user, rest) = k.split_once(':')?;
                let (fp, perms) = rest.rsplit_once(':')?;
                Some((user.to_owned(), fp.to_owned(), perms.to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_boot_report() {
        let line = "[  12.3] KICKSTAND-BOOTED hostname=tiny users=root,admin \
            keys=admin:SHA256:ThoNk5OVksVp6qEPW43EiZV6VY6+wHKABg1VQEbbzXM:ok root=/dev/vda2 \
            rootfs=ext4 fstab=ok mounts=- firmware=UEFI unpack=ok kernel=6.1.0-40-amd64";
        let r = BootReport::parse(line).unwrap();
        assert_eq!(r.get("hostname"), Some("tiny"));
        assert_eq!(r.get("firmware"), Some("UEFI"));
        assert_eq!(
            r.keys(),
            [(
                "admin".to_owned(),
                "SHA256:ThoNk5OVksVp6qEPW43EiZV6VY6+wHKABg1VQEbbzXM".to_owned(),
                "ok".to_owned()
            )]
        );
        assert_eq!(BootReport::parse("KICKSTAND-INITRAMFS-FAILED x"), None);
    }
}
