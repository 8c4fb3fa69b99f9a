//! The planner's output: which disks get which partitions and filesystems. Printable
//! ([`super::report`]) and carried out by [`crate::steps::storage`].

use super::request::{BootLocation, Origin};
use crate::hardware::{ExistingPartition, Firmware};
use std::path::PathBuf;

/// Everything the storage step will do, decided before any disk is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePlan {
    /// Firmware the layout is for.
    pub firmware: Firmware,
    /// Disks that will be written, in disk order.
    pub disks: Vec<DiskPlan>,
    /// Disks seen and left alone, described.
    pub untouched: Vec<String>,
    /// Kernel name of the disk that gets the boot loader, if one is installed.
    pub boot_disk: Option<String>,
    /// `bootloader --location`.
    pub boot_location: BootLocation,
    /// How the root size compares with the image.
    pub image: ImageCheck,
}

/// The root filesystem against the image's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCheck {
    /// The image's size is not known yet (its manifest was not resolved): not checked.
    NotKnown,
    /// The root holds `root` bytes, at least `needed` (3 × `compressed`).
    Fits {
        /// Compressed layer bytes from the manifest.
        compressed: u64,
        /// `compressed` × the margin.
        needed: u64,
        /// Size of the filesystem holding `/`.
        root: u64,
    },
}

/// What happens to one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    /// Kernel name (`vda`, `loop3`).
    pub name: String,
    /// Device node.
    pub path: PathBuf,
    /// One-line description for messages.
    pub description: String,
    /// Size in bytes.
    pub size: u64,
    /// Logical sector size.
    pub sector_size: u64,
    /// Whether the old contents go entirely, or a partition table is edited.
    pub table: TableAction,
    /// New partitions, in disk order.
    pub partitions: Vec<PlannedPartition>,
    /// Mark the protective MBR bootable (BIOS firmware boot disk; some BIOSes want it).
    pub bootable_pmbr: bool,
}

/// How the partition table of a disk is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAction {
    /// Signatures wiped and a new GPT written. `erases` says what was on the disk, if anything.
    New {
        /// What the disk held before ("gpt with 3 partitions: xfs, swap").
        erases: Option<String>,
    },
    /// The existing GPT is edited: `removed` partitions go (their signatures wiped), `kept`
    /// stay where they are.
    Edit {
        /// Partitions left in place.
        kept: Vec<ExistingPartition>,
        /// Partitions removed.
        removed: Vec<ExistingPartition>,
    },
}

impl DiskPlan {
    /// Whether existing data on this disk is destroyed.
    pub fn erases_data(&self) -> bool {
        match &self.table {
            TableAction::New { erases } => erases.is_some(),
            TableAction::Edit { removed, .. } => !removed.is_empty(),
        }
    }
}

/// One new partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// GPT partition number.
    pub number: u32,
    /// Start in bytes (1 MiB aligned).
    pub start: u64,
    /// Size in bytes (a multiple of 1 MiB).
    pub size: u64,
    /// GPT type GUID (lower-case text).
    pub type_guid: &'static str,
    /// GPT partition name.
    pub name: String,
    /// What goes into it.
    pub content: Content,
    /// The kickstart command it comes from.
    pub origin: Origin,
}

/// The contents of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// BIOS boot partition: raw GRUB core image, no filesystem.
    BiosBoot,
    /// A swap area.
    Swap {
        /// `mkswap -L`.
        label: Option<String>,
        /// Extra `mkswap` arguments.
        mkfs_options: Vec<String>,
    },
    /// A filesystem.
    Filesystem(Filesystem),
}

/// A filesystem to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// Type.
    pub fstype: FsType,
    /// Label.
    pub label: Option<String>,
    /// Where it is mounted (None for a btrfs volume whose subvolumes are mounted instead).
    pub mount: Option<String>,
    /// Mount options for fstab (`--fsoptions`), None for `defaults`.
    pub options: Option<String>,
    /// Extra mkfs arguments (`--mkfsoptions`, shell-split).
    pub mkfs_options: Vec<String>,
    /// btrfs subvolumes, created at the top level and mounted with `subvol=`.
    pub subvolumes: Vec<Subvolume>,
}

/// A btrfs subvolume and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subvolume {
    /// Name at the top level of the volume (`root`, `home`).
    pub name: String,
    /// Mount point.
    pub mount: String,
}

/// Filesystems the installer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    /// xfs (the default).
    Xfs,
    /// ext2.
    Ext2,
    /// ext3.
    Ext3,
    /// ext4.
    Ext4,
    /// btrfs.
    Btrfs,
    /// FAT (the ESP).
    Vfat,
}

impl FsType {
    /// Parses a kickstart `--fstype`; `efi` is the ESP's FAT.
    pub fn parse(s: &str) -> Option<FsType> {
        Some(match s {
            "xfs" => FsType::Xfs,
            "ext2" => FsType::Ext2,
            "ext3" => FsType::Ext3,
            "ext4" => FsType::Ext4,
            "btrfs" => FsType::Btrfs,
            "vfat" | "efi" => FsType::Vfat,
            _ => return None,
        })
    }

    /// The kernel's (and fstab's, and blkid's) name.
    pub fn name(self) -> &'static str {
        match self {
            FsType::Xfs => "xfs",
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Btrfs => "btrfs",
            FsType::Vfat => "vfat",
        }
    }

    /// Smallest filesystem the mkfs tool makes (xfs refuses below 300 MiB).
    pub fn min_size(self) -> u64 {
        use crate::units::MIB;
        match self {
            FsType::Xfs => 300 * MIB,
            FsType::Btrfs => 256 * MIB,
            FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => 16 * MIB,
            FsType::Vfat => 33 * MIB,
        }
    }

    /// Longest label the filesystem stores.
    pub fn max_label(self) -> usize {
        match self {
            FsType::Xfs => 12,
            FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => 16,
            FsType::Btrfs => 255,
            FsType::Vfat => 11,
        }
    }
}

impl std::fmt::Display for FsType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of the mount tree: what is mounted where, in mount order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Disk kernel name.
    pub disk: String,
    /// Partition number on it.
    pub number: u32,
    /// Mount point (`/`, `/boot`, `/boot/efi`) or `swap`.
    pub mount: String,
    /// Filesystem type, None for swap.
    pub fstype: Option<FsType>,
    /// Mount options (with `subvol=` for btrfs subvolumes), `defaults` when none were given.
    pub options: String,
}

impl StoragePlan {
    /// Every mount point and swap area, parents before children (`/`, `/boot`, `/boot/efi`).
    pub fn mount_points(&self) -> Vec<MountPoint> {
        let mut out = Vec::new();
        for disk in &self.disks {
            for part in &disk.partitions {
                let entry = |mount: &str, fstype, options: Option<String>| MountPoint {
                    disk: disk.name.clone(),
                    number: part.number,
                    mount: mount.to_string(),
                    fstype,
                    options: options.unwrap_or_else(|| "defaults".into()),
                };
                match &part.content {
                    Content::BiosBoot => {}
                    Content::Swap { .. } => out.push(entry("swap", None, None)),
                    Content::Filesystem(fs) => {
                        if let Some(m) = &fs.mount {
                            out.push(entry(m, Some(fs.fstype), fs.options.clone()));
                        }
                        for sv in &fs.subvolumes {
                            let mut opts = format!("subvol={}", sv.name);
                            if let Some(o) = fs.options.as_deref().filter(|o| *o != "defaults") {
                                opts = format!("{o},{opts}");
                            }
                            out.push(entry(&sv.mount, Some(fs.fstype), Some(opts)));
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            let depth = |m: &str| if m == "/" { 0 } else { m.matches('/').count() };
            (a.mount == "swap", depth(&a.mount), &a.mount).cmp(&(
                b.mount == "swap",
                depth(&b.mount),
                &b.mount,
            ))
        });
        out
    }

    /// The size of the filesystem that holds `/`.
    pub fn root_size(&self) -> Option<u64> {
        self.disks
            .iter()
            .flat_map(|d| &d.partitions)
            .find_map(|p| match &p.content {
                Content::Filesystem(fs)
                    if fs.mount.as_deref() == Some("/")
                        || fs.subvolumes.iter().any(|s| s.mount == "/") =>
                {
                    Some(p.size)
                }
                _ => None,
            })
    }
}
