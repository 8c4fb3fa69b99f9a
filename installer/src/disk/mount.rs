//! Mounting the new filesystems under the target root, parents first, and unmounting them in
//! reverse order on drop (retrying while the kernel is busy, then detaching lazily).

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// One mount, undone on drop.
#[derive(Debug)]
pub struct Mounted {
    target: PathBuf,
}

/// Splits fstab-style options into mount(2) flags and the filesystem's own data string.
pub fn split_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match opt {
            "defaults" | "rw" | "auto" | "noauto" | "nofail" | "user" | "nouser" | "_netdev" => {}
            "ro" => flags |= MsFlags::MS_RDONLY,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            "lazytime" => flags |= MsFlags::MS_LAZYTIME,
            o if o.starts_with("x-") => {}
            o => data.push(o),
        }
    }
    (flags, data.join(","))
}

impl Mounted {
    /// Mounts `source` (type `fstype`, fstab-style `options`) on `target`, creating `target`.
    pub fn mount(source: &Path, target: &Path, fstype: &str, options: &str) -> Result<Mounted> {
        std::fs::create_dir_all(target)
            .with_context(|| format!("creating mount point {}", target.display()))?;
        let (flags, data) = split_options(options);
        nix::mount::mount(
            Some(source),
            target,
            Some(fstype),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .with_context(|| {
            format!(
                "mounting {} ({fstype}, options \"{options}\") on {}",
                source.display(),
                target.display()
            )
        })?;
        tracing::debug!(source = %source.display(), target = %target.display(), "mounted");
        Ok(Mounted {
            target: target.to_path_buf(),
        })
    }

    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for attempt in 0..20 {
            match nix::mount::umount2(&self.target, MntFlags::empty()) {
                Ok(()) => return,
                Err(nix::errno::Errno::EBUSY) if attempt < 19 => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    tracing::warn!(target = %self.target.display(), error = %e, "unmount failed; detaching lazily");
                    let _ = nix::mount::umount2(&self.target, MntFlags::MNT_DETACH);
                    return;
                }
            }
        }
    }
}

/// The mounted target tree; unmounted child-first on drop.
#[derive(Debug, Default)]
pub struct MountTree {
    mounts: Vec<Mounted>,
}

impl MountTree {
    /// Adds a mount (parents must be pushed before children).
    pub fn push(&mut self, m: Mounted) {
        self.mounts.push(m);
    }

    /// Mount points, in mount order.
    pub fn targets(&self) -> impl Iterator<Item = &Path> {
        self.mounts.iter().map(Mounted::target)
    }
}

impl Drop for MountTree {
    fn drop(&mut self) {
        while let Some(m) = self.mounts.pop() {
            drop(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_and_data() {
        let (flags, data) = split_options("defaults,noatime,subvol=root,nodev,compress=zstd:1");
        assert_eq!(flags, MsFlags::MS_NOATIME | MsFlags::MS_NODEV);
        assert_eq!(data, "subvol=root,compress=zstd:1");
    }
}
