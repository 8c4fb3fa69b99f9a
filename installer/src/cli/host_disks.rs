//! `--disk PATH[:NAME]` in host mode: block devices are used as they are, regular files are
//! attached to loop devices (detached when the install ends). Only these disks are ever seen
//! by the planner.

use crate::disk::loopdev::LoopDevice;
use anyhow::{Context, Result, bail};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// One `--disk` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskArg {
    /// Block device or image file.
    pub path: PathBuf,
    /// The name the kickstart uses for it (`vda`), if given as `PATH:NAME`.
    pub name: Option<String>,
}

impl std::str::FromStr for DiskArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !Path::new(s).exists() {
            if let Some((path, name)) = s.rsplit_once(':') {
                if !name.is_empty() && !name.contains('/') {
                    return Ok(DiskArg {
                        path: path.into(),
                        name: Some(name.into()),
                    });
                }
            }
        }
        Ok(DiskArg {
            path: s.into(),
            name: None,
        })
    }
}

/// The disks named on the command line, ready to discover.
#[derive(Debug)]
pub struct HostDisks {
    /// Kernel names, in command-line order, with the kickstart name given for each.
    pub disks: Vec<(String, Option<String>)>,
    /// Loop devices attached for image files; detached on drop.
    pub loops: Vec<LoopDevice>,
}

/// Resolves `--disk` arguments to kernel disk names, attaching image files.
pub fn resolve(args: &[DiskArg]) -> Result<HostDisks> {
    let mut out = HostDisks {
        disks: Vec::new(),
        loops: Vec::new(),
    };
    for arg in args {
        let meta = std::fs::metadata(&arg.path)
            .with_context(|| format!("--disk {}: cannot read it", arg.path.display()))?;
        let name = if meta.file_type().is_block_device() {
            kernel_name(&arg.path, &meta)?
        } else if meta.is_file() {
            if meta.len() == 0 {
                bail!(
                    "--disk {}: the image file is empty; create it with a size first \
                     (`truncate -s 20G {}`)",
                    arg.path.display(),
                    arg.path.display()
                );
            }
            let dev = LoopDevice::attach(&arg.path)?;
            let name = dev.name.clone();
            out.loops.push(dev);
            name
        } else {
            bail!(
                "--disk {}: expected a block device or a disk image file",
                arg.path.display()
            );
        };
        if out.disks.iter().any(|(n, _)| *n == name) {
            bail!("--disk {}: this disk is given twice", arg.path.display());
        }
        out.disks.push((name, arg.name.clone()));
    }
    Ok(out)
}

fn kernel_name(path: &Path, meta: &std::fs::Metadata) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}"))
        .with_context(|| format!("--disk {}: not a known block device", path.display()))?;
    if sys.join("partition").exists() {
        bail!(
            "--disk {}: this is a partition; give the whole disk",
            path.display()
        );
    }
    Ok(sys
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_argument_forms() {
        let a: DiskArg = "/tmp/does-not-exist/disk.raw:vda".parse().unwrap();
        assert_eq!(a.name.as_deref(), Some("vda"));
        assert_eq!(a.path, PathBuf::from("/tmp/does-not-exist/disk.raw"));
        let b: DiskArg = "/dev/loop0".parse().unwrap();
        assert_eq!(b.name, None);
    }
}
