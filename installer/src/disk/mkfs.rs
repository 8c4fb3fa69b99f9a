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
    match &part.content {
        Content::Filesystem(fs) if fs.fstype == FsType::Vfat => {
            // --offset counts sectors of -S bytes; the block count is in KiB; -I because the
            // whole disk, which mkfs.vfat is given, has partitions.
            let what = format!(
                "making the vfat filesystem for {}",
                fs.mount.as_deref().unwrap_or("partition")
            );
            Cmd::new(tools::MKFS_VFAT, what)
                .args(["-I", "-F", "32", "-S"])
                .arg(sector_size.to_string())
                .arg(format!("--offset={}", part.start / sector_size))
                .args(label_args("-n", &fs.label))
                .args(&fs.mkfs_options)
                .arg(disk)
                .arg((part.size / 1024).to_string())
                .run()?;
            uuid(node).map(Some)
        }
        Content::BiosBoot
        | Content::PhysicalVolume { .. }
        | Content::RaidMember { .. }
        | Content::Encrypted { .. } => Ok(None),
        content => make_on(content, node, &format!("partition {}", part.number)),
    }
}

/// Makes the swap area or (non-FAT) filesystem `content` on the device `node` (a partition, an
/// opened LUKS device, an md array or a logical volume, `what` in messages); returns its UUID.
/// (On an array, vfat is made here too: the ESP mirror is written through the array.)
pub fn make_on(content: &Content, node: &Path, what: &str) -> Result<Option<String>> {
    match content {
        Content::Swap {
            label,
            mkfs_options,
        } => {
            Cmd::new(tools::MKSWAP, format!("making swap on {what}"))
                .args(label_args("-L", label))
                .args(mkfs_options)
                .arg(node)
                .run()?;
        }
        Content::Filesystem(fs) => {
            let what = format!(
                "making the {} filesystem for {} on {what}",
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
                FsType::Vfat => Cmd::new(tools::MKFS_VFAT, what)
                    .args(["-F", "32"])
                    .args(label_args("-n", &fs.label)),
            };
            cmd.args(&fs.mkfs_options).arg(node).run()?;
        }
        Content::BiosBoot
        | Content::PhysicalVolume { .. }
        | Content::RaidMember { .. }
        | Content::Encrypted { .. } => {
            return Ok(None);
        }
    }
    uuid(node).map(Some)
}

/// `-L LABEL` (or another flag) when there is a label.
fn label_args(flag: &str, label: &Option<String>) -> Vec<String> {
    label
        .iter()
        .flat_map(|l| [flag.to_string(), l.clone()])
        .collect()
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

/// Creates the btrfs subvolumes of `content` on `node` (mounting the volume in a temporary
/// directory).
pub fn make_subvolumes(content: &Content, node: &Path) -> Result<()> {
    let Content::Filesystem(fs) = content.opened() else {
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
