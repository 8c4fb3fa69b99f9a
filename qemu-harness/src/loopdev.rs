//! Loop devices for disk image files, detached on drop (with retries: the kernel may still
//! hold the device for a moment after a filesystem on it is unmounted).

use crate::cmd::run;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A loop device backed by an image file.
#[derive(Debug)]
pub struct LoopDevice {
    device: PathBuf,
    image: PathBuf,
}

impl LoopDevice {
    /// Attaches `image` to a free loop device.
    pub fn attach(image: &Path) -> Result<LoopDevice> {
        let out = run(
            "attaching a loop device",
            Command::new("losetup")
                .args(["--find", "--show"])
                .arg(image),
        )?;
        let device = out.trim();
        if !device.starts_with("/dev/loop") {
            return Err(Error::Asset(format!(
                "losetup --find --show {} printed {out:?}, not a loop device",
                image.display()
            )));
        }
        Ok(LoopDevice {
            device: PathBuf::from(device),
            image: image.to_path_buf(),
        })
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.device
    }

    /// The backing image file.
    pub fn image(&self) -> &Path {
        &self.image
    }
}

/// The loop devices currently backed by `image`.
pub fn devices_of(image: &Path) -> Vec<PathBuf> {
    run(
        "listing loop devices",
        Command::new("losetup").arg("-j").arg(image),
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| l.split(':').next())
    .map(PathBuf::from)
    .collect()
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        for attempt in 0..20 {
            match run(
                "detaching a loop device",
                Command::new("losetup").arg("-d").arg(&self.device),
            ) {
                Ok(_) => return,
                Err(e) if attempt == 19 => eprintln!("qemu-harness: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}
