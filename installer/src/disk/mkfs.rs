//! Making filesystems with the real tools, and reading back their UUIDs.

use crate::cmd::Cmd;
use crate::storage::{Content, FsType, PlannedPartition};
use crate::tools;
use anyhow::{Context, Result};
use std::path::Path;

/// Makes what `part` plans on `node` (the partition's device). The ESP is written through the
/// whole disk at its offset with `mkfs.vfat --offset`, the same way in every mode, so nothing
/// needs a vfat driver or a mount. Returns the new filesystem's UUID (None for BIOS boot).
pub fn make(
    disk: &Path,
    sector_size: u64,
    part: &PlannedPartition,
    node: &Path,
) -> Result<Option<String>> {
    let label_args = |flag: &str, label: &Option<String>| -> Vec<String> {
        label
            .iter()
            .flat_map(|l| [flag.to_string(), l.clone()])
            .collect()
    };
    match &part.content {
        Content::BiosBoot => return Ok(None),
        Content::Swap {
            label,
            mkfs_options,
        } => {
            Cmd::new(
                tools::MKSWAP,
                format!("making swap on partition {}", part.number),
            )
            .args(label_args("-L", label))
            .args(mkfs_options)
            .arg(node)
            .run()?;
        }
        Content::Filesystem(fs) => {
            let what = format!(
                "making the {} filesystem for {}",
                fs.fstype,
                fs.mount.as_deref().unwrap_or("the btrfs volume")
            );
            let cmd = match fs.fstype {
                FsType::Xfs => Cmd::new(tools::MKFS_XFS, what)
                    .arg("-f")
                    .args(label_args("-L", &fs.label)),
                FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => Cmd::new(tools::MKFS_EXT4, what)
                    .args(["-F", "-q", "-t", fs.fstype.name()])
                    .args(label_args("-L", &fs.label)),
                FsType::Btrfs => Cmd::new(tools::MKFS_BTRFS, what)
                    .arg("-f")
                    .args(label_args("-L", &fs.label)),
                FsType::Vfat => {
                    // --offset counts sectors of -S bytes; the block count is in KiB; -I
                    // because the whole disk, which mkfs.vfat is given, has partitions.
                    Cmd::new(tools::MKFS_VFAT, what)
                        .args(["-I", "-F", "32", "-S"])
                        .arg(sector_size.to_string())
                        .arg(format!("--offset={}", part.start / sector_size))
                        .args(label_args("-n", &fs.label))
                        .args(&fs.mkfs_options)
                        .arg(disk)
                        .arg((part.size / 1024).to_string())
                }
            };
            let cmd = if fs.fstype == FsType::Vfat {
                cmd
            } else {
                cmd.args(&fs.mkfs_options).arg(node)
            };
            cmd.run()?;
        }
    }
    uuid(node).map(Some)
}

/// The UUID of the filesystem or swap area on `node`, probed directly (`blkid -p`, no cache).
pub fn uuid(node: &Path) -> Result<String> {
    let out = Cmd::new(
        tools::BLKID,
        format!("reading the UUID of {}", node.display()),
    )
    .args(["-p", "-s", "UUID", "-o", "value"])
    .arg(node)
    .run()?;
    let uuid = out.trim().to_string();
    if uuid.is_empty() {
        anyhow::bail!("{} has no filesystem UUID after mkfs", node.display());
    }
    Ok(uuid)
}

/// Creates the btrfs subvolumes of `part` (mounting the volume in a temporary directory).
pub fn make_subvolumes(part: &PlannedPartition, node: &Path) -> Result<()> {
    let Content::Filesystem(fs) = &part.content else {
        return Ok(());
    };
    if fs.subvolumes.is_empty() {
        return Ok(());
    }
    let dir = tempfile::Builder::new()
        .prefix("kickstand-btrfs.")
        .tempdir()
        .context("temporary mount point for the btrfs volume")?;
    let mounted = super::mount::Mounted::mount(node, dir.path(), "btrfs", "")?;
    for sv in &fs.subvolumes {
        Cmd::new(
            tools::BTRFS,
            format!("creating the btrfs subvolume {} for {}", sv.name, sv.mount),
        )
        .args(["subvolume", "create"])
        .arg(dir.path().join(&sv.name))
        .run()?;
    }
    drop(mounted);
    Ok(())
}
