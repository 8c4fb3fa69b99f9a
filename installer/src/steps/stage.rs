//! Staging a bootc image before its own bootc installs it: the image's OCI layout (every
//! blob digest-verified while it streams) and its unpacked root, in RAM — a tmpfs under
//! `/run/kickstand/` that [`Staging`] unmounts and removes when dropped, whatever happened.
//!
//! RAM staging needs nothing from the target, so it runs before the storage step: an image
//! whose staging fails (too big for RAM, a digest mismatch, no `/usr/bin/bootc`) is refused
//! with every disk untouched. The room needed is estimated as 4× the layers' compressed size
//! (the unpacked root, 3× as the planner assumes for the root filesystem, plus the layout
//! itself), against `MemAvailable` less [`RAM_RESERVE`] for bootc and the installer; the tmpfs
//! is capped at what is available, so an image larger than estimated fails with "no space"
//! instead of exhausting the machine's memory.
//!
//! In host mode, `--staging-dir DIR` stages in a directory on the host's own filesystems
//! instead ([`Staging::in_dir`]): checked against the filesystem's free space, refused when it
//! lives on one of the disks being installed, and removed afterwards. Staging on a partition
//! the plan reserves (for machines with little RAM, booted into the installer) is not built
//! yet: such images are refused with the sizes named.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use kickstand_oci::pull::{self, ProgressFn};
use kickstand_oci::resolve::Image;
use kickstand_oci::unpack::{UnpackOptions, human};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::deploy::TargetRoot;
use crate::hardware::Disk;
use crate::progress::Reporter;

/// RAM left to bootc and the installer besides the staging area.
pub const RAM_RESERVE: u64 = 256 << 20;

/// Where staging areas are made.
pub const STAGING_PARENT: &str = "/run/kickstand";

/// Where the staged layout appears inside the staged root, for bootc's `--source-imgref`.
pub const LAYOUT_IN_ROOT: &str = "/var/tmp/kickstand-image";

/// The path of bootc inside the image.
pub const BOOTC: &str = "/usr/bin/bootc";

/// A staged image: `root` (unpacked) and `layout` (OCI layout, tag `latest`) on a tmpfs, or
/// in a directory of the host's (`--staging-dir`).
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    pub root: PathBuf,
    pub layout: PathBuf,
    mounted: bool,
}

/// The whole disks (kernel names) under block device `major:minor`: the disk of a partition,
/// and the disks under a device-mapper or md device (`slaves/`), recursively.
fn disks_under(major: u64, minor: u64) -> Vec<String> {
    fn walk(dev: &Path, out: &mut Vec<String>) {
        let Ok(dev) = dev.canonicalize() else { return };
        let slaves: Vec<PathBuf> = std::fs::read_dir(dev.join("slaves"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if !slaves.is_empty() {
            for s in slaves {
                walk(&s, out);
            }
            return;
        }
        let disk = if dev.join("partition").exists() {
            dev.parent().map(Path::to_path_buf)
        } else {
            Some(dev)
        };
        if let Some(name) = disk.and_then(|d| d.file_name().map(|n| n.to_string_lossy().into())) {
            out.push(name);
        }
    }
    let mut out = Vec::new();
    walk(
        Path::new(&format!("/sys/dev/block/{major}:{minor}")),
        &mut out,
    );
    out
}

/// RAM the staging of an image of `compressed` bytes needs (see the module documentation).
pub fn needed(compressed: u64) -> u64 {
    compressed.saturating_mul(4)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (0 when unknown).
fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The tmpfs size for staging an image of `compressed` bytes when `mem_available` bytes of RAM
/// are available, or why it does not fit (sizes named).
fn fits_in_ram(compressed: u64, mem_available: u64) -> Result<u64> {
    let need = needed(compressed);
    let available = mem_available.saturating_sub(RAM_RESERVE);
    if need > available {
        bail!(
            "the image does not fit in RAM for staging: it needs about {} (4× its {} of \
             compressed layers: the unpacked root and the OCI layout) and {} of RAM is \
             available (MemAvailable less {} for bootc and the installer); staging on a \
             reserved partition is not supported yet, so give the machine more RAM (installing \
             from a host: `--staging-dir DIR` on a filesystem with room); nothing was written \
             to any disk",
            human(need),
            human(compressed),
            human(available),
            human(RAM_RESERVE)
        );
    }
    Ok(available)
}

impl Staging {
    /// Mounts a tmpfs for an image of `compressed` bytes, or says why it does not fit.
    pub fn in_ram(compressed: u64) -> Result<Staging> {
        let available = fits_in_ram(compressed, mem_available())?;
        let dir = Path::new(STAGING_PARENT).join(format!("staging-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut staging = Staging {
            root: dir.join("root"),
            layout: dir.join("layout"),
            dir,
            mounted: false,
        };
        let options = format!("size={available},mode=0755");
        mount(
            Some("kickstand-staging"),
            &staging.dir,
            Some("tmpfs"),
            MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .with_context(|| format!("mounting a tmpfs on {}", staging.dir.display()))?;
        staging.mounted = true;
        for d in [&staging.root, &staging.layout] {
            std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(staging)
    }

    /// A staging directory under `parent` (host mode's `--staging-dir`) for an image of
    /// `compressed` bytes, or why not: `parent` must exist, have room for [`needed`] bytes,
    /// and not be on one of `targets`.
    pub fn in_dir(parent: &Path, compressed: u64, targets: &[Disk]) -> Result<Staging> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(parent)
            .with_context(|| format!("--staging-dir {}", parent.display()))?;
        if !meta.is_dir() {
            bail!("--staging-dir {}: not a directory", parent.display());
        }
        let dev = meta.dev();
        let on = disks_under(nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
        if let Some(t) = targets.iter().find(|t| on.contains(&t.name)) {
            bail!(
                "--staging-dir {} is on {} ({}), a disk this install erases; give a directory \
                 on another disk; nothing was written",
                parent.display(),
                t.name,
                t.path.display()
            );
        }
        let fs = nix::sys::statvfs::statvfs(parent).with_context(|| {
            format!("--staging-dir {}: reading its free space", parent.display())
        })?;
        let free = fs.blocks_available() as u64 * fs.fragment_size() as u64;
        let need = needed(compressed);
        if need > free {
            bail!(
                "--staging-dir {}: the image needs about {} there (4× its {} of compressed \
                 layers) and its filesystem has {} free; nothing was written to any disk",
                parent.display(),
                human(need),
                human(compressed),
                human(free)
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("kickstand-staging.")
            .tempdir_in(parent)
            .with_context(|| format!("creating a staging directory in {}", parent.display()))?
            .keep();
        let staging = Staging {
            root: dir.join("root"),
            layout: dir.join("layout"),
            dir,
            mounted: false,
        };
        for d in [&staging.root, &staging.layout] {
            std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(staging)
    }

    /// Where the image is staged, for messages.
    fn place(&self) -> &'static str {
        if self.mounted { "in RAM" } else { "on disk" }
    }

    /// Streams `image` into the staging area and checks it carries [`BOOTC`].
    pub fn fill(
        &self,
        rt: &tokio::runtime::Runtime,
        image: &Image,
        reporter: &Reporter,
    ) -> Result<()> {
        let r = reporter.clone();
        let progress: ProgressFn = Arc::new(move |p| r.pull(p));
        let summary = rt
            .block_on(pull::stage(
                image,
                &self.root,
                &self.layout,
                UnpackOptions::default(),
                Some(progress),
            ))
            .with_context(|| {
                format!(
                    "staging {} {} at {}; nothing was written to any disk",
                    image.facts.source,
                    self.place(),
                    self.dir.display()
                )
            })?;
        reporter.flush();
        let root = TargetRoot::new(&self.root);
        let bootc = root.resolve(BOOTC).ok().filter(|p| p.is_file());
        if bootc.is_none() {
            bail!(
                "{} is labelled as a bootc image but has no {BOOTC}: Kickstand installs such \
                 images with the image's own bootc (an ostree image unpacked flat does not \
                 boot); nothing was written to any disk",
                image.facts.source
            );
        }
        reporter.info(&format!(
            "image staged {} at {}: {} entries, {} of file contents, and its OCI layout",
            self.place(),
            self.dir.display(),
            summary.stats.entries,
            human(summary.stats.bytes)
        ));
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.mounted
            && let Err(e) = umount2(&self.dir, MntFlags::MNT_DETACH)
        {
            tracing::warn!(dir = %self.dir.display(), "unmounting the staging tmpfs: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::{RAM_RESERVE, fits_in_ram};
    use std::path::Path;

    #[test]
    fn staging_needs_four_times_the_compressed_size_besides_the_reserve() {
        const MIB: u64 = 1 << 20;
        let mem = RAM_RESERVE + 400 * MIB;
        assert_eq!(fits_in_ram(100 * MIB, mem).unwrap(), 400 * MIB);
        let err = format!("{:#}", fits_in_ram(100 * MIB + 1, mem).unwrap_err());
        assert!(err.contains("needs about 400.0 MiB"), "{err}");
        assert!(err.contains("400.0 MiB of RAM is available"), "{err}");
        assert!(err.contains("not supported yet"), "{err}");
        assert!(fits_in_ram(1, 0).is_err());
    }

    #[test]
    fn a_staging_dir_on_no_block_device_belongs_to_no_disk() {
        // /proc is not on a block device (major 0).
        assert!(super::disks_under(0, 99_999).is_empty());
    }

    #[test]
    fn the_root_filesystem_is_on_a_whole_disk_of_sys_block() {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata("/").unwrap().dev();
        let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
        if major == 0 {
            eprintln!("/ is not on a block device here (overlay or tmpfs): nothing to check");
            return;
        }
        let disks = super::disks_under(major, minor);
        assert!(!disks.is_empty(), "{major}:{minor}");
        for d in disks {
            assert!(Path::new("/sys/block").join(&d).exists(), "{d}");
        }
    }
}
