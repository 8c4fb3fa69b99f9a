//! The install medium (`inst.repo=`, else `inst.stage2=`): the installer ISO on an optical
//! drive, or `dd`ed to a disk (its iso9660 on the whole device or on a partition), found by
//! label, UUID or name and mounted read-only at `/run/install/repo` before the kickstart is
//! read — where Anaconda mounts it, so a kickstart written for a bootc-image-builder ISO
//! (`ostreecontainer --url=/run/install/repo/container --transport=oci`) works unchanged.
//!
//! Being mounted is what keeps the medium safe: disk discovery marks a disk with a device
//! mounted here as the installer's boot medium, which no `clearpart`, `autopart`,
//! `ignoredisk` or `--ondisk` may select. A failure leaves nothing mounted at
//! `/run/install/repo` (a bind mount's source may stay at `/run/install/source`).

use super::fetch::{find_device, mount_read_only, optical_drives};
use crate::boot::cmdline::{DeviceSpec, InstallMedium};
use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount, umount};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the medium (or its `hd:…:/PATH` directory) is mounted.
pub const REPO: &str = "/run/install/repo";
/// Where the medium is mounted when only a directory of it is the repository.
pub const SOURCE: &str = "/run/install/source";
/// How long a medium may take to appear (USB sticks are scanned after a delay).
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

/// A mounted install medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    /// The block device: `/dev/sr0`, `/dev/vdb`, `/dev/sdb1`.
    pub device: PathBuf,
    /// The whole disk the device is (or is a partition of): `sr0`, `vdb`, `sdb`.
    pub disk: String,
    /// The file system type it mounted as.
    pub fs: &'static str,
}

/// Finds `medium` (waiting up to [`WAIT`] for it to appear) and mounts it at [`REPO`].
pub fn mount_medium(medium: &InstallMedium) -> Result<Mounted> {
    let started = Instant::now();
    let (device, path) = loop {
        match find(medium) {
            Ok(found) => break found,
            Err(e) if started.elapsed() >= WAIT => {
                return Err(e.context(format!(
                    "the install medium did not appear within {}s (block devices: {})",
                    WAIT.as_secs(),
                    block_devices().join(" ")
                )));
            }
            Err(_) => std::thread::sleep(POLL),
        }
    };
    let fs = if path == "/" {
        mount_read_only(&device, Path::new(REPO))?
    } else {
        let fs = mount_read_only(&device, Path::new(SOURCE))?;
        let dir = Path::new(SOURCE).join(path.trim_start_matches('/'));
        if !dir.is_dir() {
            let _ = umount(SOURCE);
            bail!(
                "{path} on {} is not a directory (an install tree or the ISO's root is \
                 expected; ISO files inside a file system are not supported)",
                device.display()
            );
        }
        std::fs::create_dir_all(REPO).with_context(|| format!("creating {REPO}"))?;
        mount(
            Some(&dir),
            REPO,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting {} on {REPO}", dir.display()))?;
        fs
    };
    let name = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Mounted {
        disk: whole_disk(Path::new("/sys"), &name),
        device,
        fs,
    })
}

/// The device holding `medium` and the path on it. A `cdrom` without a device is the first
/// optical drive whose disc mounts.
fn find(medium: &InstallMedium) -> Result<(PathBuf, String)> {
    match medium {
        InstallMedium::Disk { device, path } => Ok((find_device(device)?, path.clone())),
        InstallMedium::Cdrom(Some(device)) => Ok((find_device(device)?, "/".into())),
        InstallMedium::Cdrom(None) => {
            let probe = Path::new("/run/kickstand/media");
            let mut errors = Vec::new();
            for drive in optical_drives() {
                let dev = Path::new("/dev").join(&drive);
                match mount_read_only(&dev, probe) {
                    Ok(_) => {
                        let _ = umount(probe);
                        return Ok((dev, "/".into()));
                    }
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
            if errors.is_empty() {
                bail!("cdrom: this machine has no optical drive");
            }
            bail!(
                "cdrom: no optical drive holds a readable disc ({})",
                errors.join("; ")
            )
        }
        InstallMedium::Remote(url) => bail!("{url} is not a local medium"),
    }
}

/// What the medium is called in messages: `hd:LABEL=X`, `cdrom`.
pub fn describe(medium: &InstallMedium) -> String {
    let spec = |d: &DeviceSpec| match d {
        DeviceSpec::Label(l) => format!("LABEL={l}"),
        DeviceSpec::Uuid(u) => format!("UUID={u}"),
        DeviceSpec::PartLabel(l) => format!("PARTLABEL={l}"),
        DeviceSpec::Path(p) => p.clone(),
    };
    match medium {
        InstallMedium::Disk { device, path } if path == "/" => format!("hd:{}", spec(device)),
        InstallMedium::Disk { device, path } => format!("hd:{}:{path}", spec(device)),
        InstallMedium::Cdrom(None) => "cdrom".into(),
        InstallMedium::Cdrom(Some(d)) => format!("cdrom:{}", spec(d)),
        InstallMedium::Remote(url) => url.clone(),
    }
}

/// The whole disk `name` belongs to: its parent in sysfs when it is a partition (`sdb1` →
/// `sdb`, `nvme0n1p2` → `nvme0n1`), else itself.
pub fn whole_disk(sysfs: &Path, name: &str) -> String {
    let link = sysfs.join("class/block").join(name);
    if link.join("partition").exists()
        && let Ok(real) = std::fs::canonicalize(&link)
        && let Some(parent) = real.parent().and_then(Path::file_name)
    {
        return parent.to_string_lossy().into_owned();
    }
    name.to_string()
}

/// `/sys/class/block` names, for the message when the medium is missing.
fn block_devices() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by(|a, b| crate::hardware::natural_cmp(a, b));
    if names.is_empty() {
        names.push("none".into());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_belongs_to_its_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let sys = tmp.path();
        let devices = sys.join("devices/pci0000:00/0000:00:05.0/virtio2/block");
        std::fs::create_dir_all(devices.join("vdb/vdb1")).unwrap();
        std::fs::write(devices.join("vdb/vdb1/partition"), "1\n").unwrap();
        std::fs::create_dir_all(sys.join("devices/virtual/block/sr0")).unwrap();
        std::fs::create_dir_all(sys.join("class/block")).unwrap();
        for (name, target) in [
            ("vdb", devices.join("vdb")),
            ("vdb1", devices.join("vdb/vdb1")),
            ("sr0", sys.join("devices/virtual/block/sr0")),
        ] {
            std::os::unix::fs::symlink(target, sys.join("class/block").join(name)).unwrap();
        }
        assert_eq!(whole_disk(sys, "vdb1"), "vdb");
        assert_eq!(whole_disk(sys, "vdb"), "vdb");
        assert_eq!(whole_disk(sys, "sr0"), "sr0");
        assert_eq!(whole_disk(sys, "missing"), "missing");
    }

    #[test]
    fn media_are_named_as_on_the_command_line() {
        let label = DeviceSpec::Label("KS ISO".into());
        assert_eq!(
            describe(&InstallMedium::Disk {
                device: label.clone(),
                path: "/".into()
            }),
            "hd:LABEL=KS ISO"
        );
        assert_eq!(
            describe(&InstallMedium::Disk {
                device: DeviceSpec::Path("/dev/sdb1".into()),
                path: "/repo".into()
            }),
            "hd:/dev/sdb1:/repo"
        );
        assert_eq!(describe(&InstallMedium::Cdrom(None)), "cdrom");
        assert_eq!(
            describe(&InstallMedium::Cdrom(Some(label))),
            "cdrom:LABEL=KS ISO"
        );
    }
}
