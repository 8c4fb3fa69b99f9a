//! Staging a bootc image before its own bootc installs it: the image's OCI layout (every
//! blob digest-verified while it streams) and its unpacked root, where the plan put it
//! ([`crate::storage::staging`] decides, before any disk is touched):
//! - in RAM — a tmpfs under `/run/kickstand/`, capped at the RAM available so an image larger
//!   than estimated fails with "no space" instead of exhausting the machine's memory. RAM
//!   staging needs nothing from the target, so it runs before the storage step: an image
//!   whose staging fails (a digest mismatch, no `/usr/bin/bootc`) is refused with every disk
//!   untouched;
//! - on a disk ([`Staging::on_disk`], after the storage step): a temporary ext4 on the plan's
//!   swap area or on a temporary partition ([`super::stage_area`]), given back afterwards;
//! - in host mode with `--staging-dir DIR`, in a directory on the host's own filesystems
//!   ([`Staging::in_dir`]): checked against the filesystem's free space, refused when it
//!   lives on one of the disks being installed.
//!
//! [`Staging::remove`] (or dropping it, on the way out of an error) unmounts the staging
//! area, removes it and gives a disk area back; `remove` says what it left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use kickstand_oci::pull::{self, ProgressFn};
use kickstand_oci::resolve::Image;
use kickstand_oci::unpack::{UnpackOptions, human};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::stage_area::{self, DiskArea};
use crate::deploy::TargetRoot;
use crate::hardware::Disk;
use crate::progress::Reporter;
use crate::storage::staging::{STAGING_FACTOR, needed};

/// Where staging areas are made.
pub const STAGING_PARENT: &str = "/run/kickstand";

/// Where the staged layout appears inside the staged root, for bootc's `--source-imgref`.
pub const LAYOUT_IN_ROOT: &str = "/var/tmp/kickstand-image";

/// The path of bootc inside the image.
pub const BOOTC: &str = "/usr/bin/bootc";

/// A staged image: `root` (unpacked) and `layout` (OCI layout, tag `latest`) on a tmpfs, on a
/// temporary ext4 on a disk, or in a directory of the host's (`--staging-dir`).
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    pub root: PathBuf,
    pub layout: PathBuf,
    mounted: bool,
    /// The disk area under the mount, given back once unmounted.
    area: Option<DiskArea>,
    /// Already removed (by [`Staging::remove`]).
    removed: bool,
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

/// `MemAvailable` from `/proc/meminfo`, in bytes (0 when unknown).
pub fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

impl Staging {
    /// Mounts a tmpfs of `size` bytes (the plan's [`crate::storage::staging::StagingArea::Ram`]).
    pub fn in_ram(size: u64) -> Result<Staging> {
        let options = format!("size={size},mode=0755");
        Staging::mounted(Path::new("kickstand-staging"), "tmpfs", &options, None)
    }

    /// Mounts the temporary ext4 of `area` (made by [`DiskArea::make`]). When the mount fails
    /// the area is given back and the error says how that went.
    pub fn on_disk(area: DiskArea) -> Result<Staging> {
        let node = area.node.clone();
        Staging::mounted(&node, "ext4", "", Some(area))
    }

    fn mounted(
        source: &Path,
        fstype: &str,
        options: &str,
        area: Option<DiskArea>,
    ) -> Result<Staging> {
        let dir = Path::new(STAGING_PARENT).join(format!("staging-{}", std::process::id()));
        let mut staging = Staging {
            root: dir.join("root"),
            layout: dir.join("layout"),
            dir,
            mounted: false,
            area,
            removed: false,
        };
        let made = (|| -> Result<()> {
            std::fs::create_dir_all(&staging.dir)
                .with_context(|| format!("creating {}", staging.dir.display()))?;
            mount(
                Some(source),
                &staging.dir,
                Some(fstype),
                MsFlags::MS_NODEV,
                (!options.is_empty()).then_some(options),
            )
            .with_context(|| {
                format!(
                    "mounting the staging area ({fstype} on {}) at {}",
                    source.display(),
                    staging.dir.display()
                )
            })?;
            staging.mounted = true;
            for d in [&staging.root, &staging.layout] {
                std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
            }
            Ok(())
        })();
        match made {
            Ok(()) => Ok(staging),
            Err(e) => Err(e.context(staging.remove())),
        }
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
                "--staging-dir {}: the image needs about {} there ({STAGING_FACTOR}× its {} of \
                 compressed layers) and its filesystem has {} free; nothing was written to any disk",
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
            area: None,
            removed: false,
        };
        for d in [&staging.root, &staging.layout] {
            std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(staging)
    }

    /// Where the image is staged, for messages.
    fn place(&self) -> String {
        match (&self.area, self.mounted) {
            (Some(a), _) => format!("on {}", a.what),
            (None, true) => "in RAM".into(),
            (None, false) => "on disk".into(),
        }
    }

    /// What the disks hold when staging fails.
    fn written(&self) -> &'static str {
        if self.area.is_some() {
            "the disks are partitioned and hold no system yet"
        } else {
            "nothing was written to any disk"
        }
    }

    /// Unmounts and removes the staging area and gives a disk area back; says what was done or
    /// what is left behind.
    pub fn remove(&mut self) -> String {
        if self.removed {
            return "the staging area was already removed".into();
        }
        self.removed = true;
        let mut left = Vec::new();
        if self.mounted {
            self.mounted = false;
            if let Err(e) = unmount(&self.dir) {
                left.push(format!("{} still mounted ({e})", self.dir.display()));
            }
        }
        if left.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let area = match self.area.take() {
            Some(a) if left.is_empty() => Some(stage_area::describe(&a.give_back())),
            Some(a) => {
                left.push(format!("{} still holds the staging ext4", a.what));
                None
            }
            None => None,
        };
        match (left.is_empty(), area) {
            (true, Some(a)) => format!(
                "the staging area at {} was removed; {a}",
                self.dir.display()
            ),
            (true, None) => format!("the staging area at {} was removed", self.dir.display()),
            (false, _) => format!("the staging area was NOT removed: {}", left.join("; ")),
        }
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
                    "staging {} {} at {}; {}",
                    image.facts.source,
                    self.place(),
                    self.dir.display(),
                    self.written()
                )
            })?;
        reporter.flush();
        let root = TargetRoot::new(&self.root);
        let bootc = root.resolve(BOOTC).ok().filter(|p| p.is_file());
        if bootc.is_none() {
            bail!(
                "{} is labelled as a bootc image but has no {BOOTC}: Kickstand installs such \
                 images with the image's own bootc (an ostree image unpacked flat does not \
                 boot); {}",
                image.facts.source,
                self.written()
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

/// Unmounts `dir`, waiting a little while it is busy, detaching it lazily as a last resort
/// (then an error: the device may still be held).
fn unmount(dir: &Path) -> nix::Result<()> {
    for _ in 0..20 {
        match umount2(dir, MntFlags::empty()) {
            Err(nix::errno::Errno::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            r => return r,
        }
    }
    umount2(dir, MntFlags::MNT_DETACH)?;
    Err(nix::errno::Errno::EBUSY)
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.removed {
            let done = self.remove();
            tracing::info!("{done}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

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
