//! Disk image files as block devices (host mode): attached with `losetup`, and on drop the
//! partitions added with BLKPG are removed before the device is detached, so the next user
//! of the loop device sees no stale partitions.

use crate::cmd::Cmd;
use crate::tools;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// A loop device attached to an image file; detached on drop.
#[derive(Debug)]
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub path: PathBuf,
    /// `loopN`.
    pub name: String,
    file: PathBuf,
}

impl LoopDevice {
    /// Attaches `file` to a free loop device. Refuses a file already attached elsewhere.
    pub fn attach(file: &Path) -> Result<LoopDevice> {
        let file = std::fs::canonicalize(file)
            .with_context(|| format!("disk image {}", file.display()))?;
        let existing = Cmd::new(
            tools::LOSETUP,
            format!("checking whether {} is attached", file.display()),
        )
        .arg("-j")
        .arg(&file)
        .run()?;
        if let Some(line) = existing.lines().next() {
            let dev = line.split(':').next().unwrap_or(line);
            bail!(
                "disk image {} is already attached to {dev}: it may be in use (detach it with \
                 `losetup -d {dev}` if it is not)",
                file.display()
            );
        }
        let out = Cmd::new(
            tools::LOSETUP,
            format!("attaching {} to a loop device", file.display()),
        )
        .args(["--find", "--show"])
        .arg(&file)
        .run()?;
        let path = PathBuf::from(out.trim());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("losetup printed no device")?;
        tracing::info!(file = %file.display(), device = %path.display(), "attached disk image");
        Ok(LoopDevice { path, name, file })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Ok(f) = std::fs::File::open(&self.path) {
            if let Err(e) = super::blkpg::forget_partitions(&f, &self.name) {
                tracing::warn!(device = %self.path.display(), error = %format!("{e:#}"), "removing partitions");
            }
        }
        for attempt in 0..10 {
            let detached = Cmd::new(tools::LOSETUP, format!("detaching {}", self.path.display()))
                .arg("-d")
                .arg(&self.path)
                .run();
            match detached {
                Ok(_) => {
                    tracing::info!(file = %self.file.display(), device = %self.path.display(), "detached disk image");
                    return;
                }
                Err(e) if attempt == 9 => {
                    tracing::warn!(error = %e, "could not detach the loop device");
                }
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(100 << attempt.min(4)))
                }
            }
        }
    }
}
