//! The **debian** test OS: a real Debian bookworm as a bootable container image, for the tests
//! that need a full system after an install (systemd, sshd, `hostnamectl`).
//!
//! Made by `debian/build-rootfs.sh` in a private mount namespace: `debootstrap
//! --variant=minbase` from the Debian archive, then systemd, openssh-server, udev, dbus, the
//! same kernel package as [`crate::assets::debian_kernel`], systemd-boot (`systemd-boot-efi`),
//! BIOS GRUB (`grub-pc-bin`) and initramfs-tools, whose `initramfs.img` (only the storage and
//! file system modules of [`MODULES`], zstd) sits beside `vmlinuz` in
//! `/usr/lib/modules/$KVER` as the image contract wants. No documentation, manual pages or
//! translations (dpkg `path-exclude`), no SSH host keys (made on first boot), empty
//! `/etc/hostname` and `/etc/machine-id`, no `/etc/fstab`: the installer writes them.
//!
//! Booted, it runs the tiny image's boot report as a systemd unit (after sshd started) with
//! its `KICKSTAND-BOOTED` line on the serial console, and stays up; a getty runs on `ttyS0`,
//! every Ethernet NIC is configured by DHCP (systemd-networkd), and what a TCG boot does not
//! need is masked (time sync, apt and man-db timers, the VT getty).
//!
//! Layer 1 (zstd) is the Debian root plus the files the report's unpack checks need; layer 2
//! (gzip) adds the report and a hard link to it, deletes a file of layer 1 through a whiteout
//! and replaces a directory's contents through an opaque whiteout — as in [`super::tiny`].

use super::tiny::{BOOT_REPORT, MTIME};
use super::{Error, Result, oci_error};
use crate::assets::Kernel;
use crate::cmd::run;
use kickstand_oci::{Compression, LayoutWriter, Meta, TreeOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The tag of the image in its layout.
pub const TAG: &str = "latest";
/// The Debian release.
pub const SUITE: &str = "bookworm";
/// Where debootstrap and apt fetch packages (this machine's apt sources name the same).
pub const MIRROR: &str = "http://deb.debian.org/debian";
pub const SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";
/// Installed on top of minbase (the kernel package comes from [`crate::assets`]).
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "systemd-boot-efi",
    "grub-pc-bin",
    "initramfs-tools",
    "zstd",
    "kmod",
    "xxd",
];
/// The modules of the image's initramfs (`MODULES=list`): virtio, SCSI, NVMe and AHCI disks,
/// and the root file systems the installer can make (ext4, xfs, btrfs).
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "nvme",
    "ahci",
    "crc32c_generic",
    "ext4",
    "xfs",
    "btrfs",
];
/// The root file system recipe.
pub const BUILD_SCRIPT: &str = include_str!("debian/build-rootfs.sh");
const CREATED: &str = "2026-01-01T00:00:00Z";
/// Bump when the recipe changes in a way the cache key does not see.
const RECIPE_VERSION: &str = "1";

/// A built debian image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianImage {
    /// The OCI image layout directory (image tagged [`TAG`]).
    pub layout: PathBuf,
    /// The kernel release inside (`$KVER`).
    pub kernel_version: String,
    /// `package=version` of every installed package, one a line.
    pub packages: String,
    /// Size of the layout's blobs (compressed layers, config, manifest), bytes.
    pub size: u64,
}

/// The debian image, built into the cache on first use (several minutes: see the README) and
/// reused while its inputs (recipe, package list, kernel package version) are the same. Needs
/// root and the Debian archive. Concurrent callers wait for one build. The layout must not be
/// modified: copy it to change it.
///
/// The archive is not a snapshot: a rebuild with the same key may get newer package versions
/// (the kernel's version is pinned and part of the key). `packages.txt` in the cache entry
/// records what a build installed.
pub fn debian() -> Result<DebianImage> {
    let kernel = crate::assets::debian_kernel()?;
    let key = cache_key(&kernel);
    let entry = crate::cache::entry("debian-image", &key, |dir| {
        let t = Instant::now();
        build(&kernel, dir)?;
        let size = layout_size(&dir.join("layout"))?;
        eprintln!(
            "qemu-harness: built the debian test image ({key}) in {:.0}s, {:.1} MiB",
            t.elapsed().as_secs_f64(),
            size as f64 / (1024.0 * 1024.0)
        );
        Ok(())
    })?;
    let layout = entry.join("layout");
    let packages_file = entry.join("packages.txt");
    Ok(DebianImage {
        size: layout_size(&layout)?,
        packages: std::fs::read_to_string(&packages_file)
            .map_err(Error::io("reading", packages_file))?,
        layout,
        kernel_version: kernel.version,
    })
}

/// What the image is made of: recipe, scripts, package and module lists, kernel package.
fn cache_key(kernel: &Kernel) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [
        RECIPE_VERSION,
        BUILD_SCRIPT,
        BOOT_REPORT,
        SUITE,
        MIRROR,
        SECURITY_MIRROR,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(PACKAGES.join(",").as_bytes());
    h.update([0]);
    h.update(MODULES.join(",").as_bytes());
    h.update(format!("\0{}={}\0", kernel.package, kernel.package_version));
    format!("{}-{}", kernel.version, &hex::encode(h.finalize())[..16])
}

/// Builds the image for `kernel` into `out`: `out/layout` (the OCI layout) and
/// `out/packages.txt`. The root file system is staged in a temporary directory inside `out`
/// (removed afterwards, also on failure; [`crate::cache::entry`] removes a crashed build's).
pub fn build(kernel: &Kernel, out: &Path) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err(Error::Asset(
            "building the debian test image needs root (debootstrap, chroot, device nodes); \
             run it as root or use a cache that has it (KICKSTAND_CACHE)"
                .into(),
        ));
    }
    let work = tempfile::Builder::new()
        .prefix("staging-")
        .tempdir_in(out)
        .map_err(Error::io("creating a temporary directory in", out))?;
    let rootfs = work.path().join("root");
    stage_rootfs(kernel, &rootfs, &work.path().join("build.log"))?;
    let packages = run(
        "listing the image's packages",
        Command::new("dpkg-query")
            .arg("--admindir")
            .arg(rootfs.join("var/lib/dpkg"))
            .args(["-W", "-f", "${Package}=${Version}\\n"]),
    )?;
    super::write_file(&out.join("packages.txt"), packages.as_bytes(), 0o644)?;
    write_layout(kernel, &rootfs, &out.join("layout"))
}

/// Runs the build script in a private mount namespace, its output in `log` (whose end is in
/// the error when it fails). A failed run leaves a partial tree in `rootfs` and no mounts.
fn stage_rootfs(kernel: &Kernel, rootfs: &Path, log: &Path) -> Result<()> {
    let script = rootfs.with_file_name("build-rootfs.sh");
    super::write_file(&script, BUILD_SCRIPT.as_bytes(), 0o755)?;
    let log_file = std::fs::File::create(log).map_err(Error::io("creating", log))?;
    let stderr = log_file
        .try_clone()
        .map_err(Error::io("opening", log.to_owned()))?;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh"])
        .arg(&script)
        .env("TARGET", rootfs)
        .env("MIRROR", MIRROR)
        .env("SECURITY_MIRROR", SECURITY_MIRROR)
        .env("SUITE", SUITE)
        .env(
            "KERNEL",
            format!("{}={}", kernel.package, kernel.package_version),
        )
        .env("PACKAGES", PACKAGES.join(" "))
        .env("MODULES", MODULES.join(" "))
        .stdin(std::process::Stdio::null())
        .stdout(log_file)
        .stderr(stderr);
    let line = crate::cmd::display(&cmd);
    tracing::info!(command = %line, log = %log.display(), "building the debian root file system");
    let status = cmd.status().map_err(|source| Error::Spawn {
        what: "building the debian test image".into(),
        command: line.clone(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    Err(Error::Command {
        what: "building the debian test image".into(),
        command: line,
        status: status.to_string(),
        output: lines[lines.len().saturating_sub(60)..].join("\n"),
    })
}

/// Writes the two layers, config and manifest of the image.
fn write_layout(kernel: &Kernel, rootfs: &Path, out: &Path) -> Result<()> {
    let layout = LayoutWriter::create(out).map_err(oci_error("creating the layout"))?;
    let layer_error =
        |e: std::io::Error| Error::Asset(format!("writing a layer of the debian image: {e}"));
    let root = |mode| Meta::root(mode, MTIME);

    let mut system = layout
        .layer(Compression::Zstd)
        .map_err(oci_error("starting layer 1"))?;
    // Owners as debootstrap and dpkg made them (not all root: e.g. /var/mail).
    system
        .append_tree(rootfs, "", TreeOptions::default())
        .map_err(layer_error)?;
    // What the boot report's unpack checks look for (see `tiny/boot-report.sh`).
    for dir in [
        "etc/kickstand",
        "usr/share/kickstand",
        "usr/share/kickstand/opaque",
        "var/lib/kickstand",
    ] {
        system.dir(dir, root(0o755)).map_err(layer_error)?;
    }
    let files: [(&str, Meta, &[u8]); 5] = [
        (
            "etc/kickstand/removed-by-whiteout",
            root(0o644),
            b"layer 2 deletes this\n",
        ),
        (
            "usr/share/kickstand/opaque/old-a",
            root(0o644),
            b"hidden by layer 2\n",
        ),
        (
            "usr/share/kickstand/opaque/old-b",
            root(0o644),
            b"hidden by layer 2\n",
        ),
        ("usr/bin/kickstand-setuid", root(0o4755), b"#!/bin/sh\nid\n"),
        (
            "var/lib/kickstand/owned-by-1234",
            Meta {
                uid: 1234,
                gid: 1234,
                ..root(0o640)
            },
            b"owned by uid 1234\n",
        ),
    ];
    for (path, meta, content) in files {
        system
            .file_bytes(path, meta, content)
            .map_err(layer_error)?;
    }
    let system = layout
        .commit_layer(
            system,
            "kickstand debian image: debootstrap minbase, systemd, sshd, kernel, boot loaders",
        )
        .map_err(oci_error("writing layer 1"))?;

    let report = super::report_layer(
        &layout,
        Compression::Gzip,
        "usr/lib/kickstand/boot-report.hardlink",
        MTIME,
        "kickstand debian image: boot report",
    )?;
    super::finish_image(
        layout,
        &[system, report],
        super::ImageInfo {
            title: "kickstand-debian",
            description: &format!(
                "Kickstand's Debian {SUITE} test OS (minbase, systemd, openssh-server, \
                 systemd-boot, GRUB)"
            ),
            kernel: &kernel.version,
            path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            tag: TAG,
            created: CREATED,
        },
    )
}

/// The total size of a layout's blobs.
fn layout_size(layout: &Path) -> Result<u64> {
    let blobs = layout.join("blobs/sha256");
    let mut total = 0;
    for entry in std::fs::read_dir(&blobs).map_err(Error::io("listing", &blobs))? {
        let entry = entry.map_err(Error::io("listing", &blobs))?;
        total += entry
            .metadata()
            .map_err(Error::io("reading", entry.path()))?
            .len();
    }
    Ok(total)
}
