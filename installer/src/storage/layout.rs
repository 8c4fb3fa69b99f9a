//! The planner's output: which disks get which partitions and filesystems. Printable
//! ([`super::report`]) and carried out by [`crate::steps::storage`].

use super::request::{BootLocation, Origin, RaidLevel};
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
    /// LVM volume groups made on the new partitions (their physical volumes are partitions
    /// whose content is [`Content::PhysicalVolume`], possibly inside [`Content::Encrypted`]).
    pub volume_groups: Vec<VolumeGroup>,
    /// Software RAID (md) arrays over new partitions (their members are partitions whose
    /// content is [`Content::RaidMember`]).
    pub md_arrays: Vec<MdArray>,
}

/// A software RAID (md) array, sized at planning from its smallest member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdArray {
    /// `raid --device=` (`md0`, `root`): `/dev/mdN` for `mdN`, else `/dev/md/NAME`.
    pub name: String,
    /// RAID level.
    pub level: RaidLevel,
    /// Superblock format: `1.0` (at the end: firmware and boot loaders read a member as a
    /// plain filesystem) for `/boot` and `/boot/efi`, `1.2` (4 KiB from the start) otherwise.
    pub metadata: &'static str,
    /// Member partitions, in the `raid` command's order (spares last).
    pub members: Vec<MdMember>,
    /// How many of the members are spares.
    pub spares: u64,
    /// `--chunksize` in KiB (striped levels), None for mdadm's default (512 KiB).
    pub chunk_kib: Option<u64>,
    /// Usable bytes of the array (approximate: mdadm's reservation for its superblock and
    /// bitmap is estimated).
    pub size: u64,
    /// What goes onto the array.
    pub content: Content,
    /// The `raid` command it comes from.
    pub origin: Origin,
}

/// One member partition of an md array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdMember {
    /// Its `raid.N` name in the kickstart.
    pub name: String,
    /// Disk kernel name.
    pub disk: String,
    /// Partition number.
    pub number: u32,
}

impl MdArray {
    /// The node `mdadm --create` is given (`/dev/mdN` or `/dev/md/NAME`).
    pub fn node(&self) -> PathBuf {
        if is_md_number(&self.name) {
            PathBuf::from("/dev").join(&self.name)
        } else {
            PathBuf::from("/dev/md").join(&self.name)
        }
    }
}

/// `md0`, `md127`: names the kernel uses for numbered arrays.
pub fn is_md_number(name: &str) -> bool {
    name.strip_prefix("md")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An LVM volume group and its logical volumes, sizes decided at planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    /// Name (`/dev/mapper/NAME-LV`).
    pub name: String,
    /// Physical extent size in bytes (every LV size is a multiple of it).
    pub extent_size: u64,
    /// Bytes of extents the physical volumes provide (one extent is kept free).
    pub size: u64,
    /// Thin pools the thin volumes take their blocks from (made before the volumes).
    pub thin_pools: Vec<ThinPool>,
    /// Logical volumes, in creation order.
    pub volumes: Vec<LogicalVolume>,
    /// The kickstart command it comes from.
    pub origin: Origin,
}

/// An LVM thin pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinPool {
    /// LV name (`pool00`, as Anaconda).
    pub name: String,
    /// Data size in bytes.
    pub size: u64,
    /// Metadata size in bytes (LVM keeps a spare of the same size in the volume group).
    pub metadata_size: u64,
    /// `--chunksize` in bytes (None: LVM's default).
    pub chunk_size: Option<u64>,
}

/// An LVM logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    /// LV name (`root`, `home`, `swap`).
    pub name: String,
    /// Size in bytes (virtual size for a thin volume).
    pub size: u64,
    /// The thin pool of the group it is a thin volume in (None: a linear volume).
    pub thin_pool: Option<String>,
    /// What goes into it: a filesystem or swap.
    pub content: Content,
}

impl VolumeGroup {
    /// `/dev/mapper/` name of one of its volumes (LVM doubles `-` inside names).
    pub fn mapper_name(&self, lv: &str) -> String {
        format!("{}-{}", self.name.replace('-', "--"), lv.replace('-', "--"))
    }
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
    /// An LVM physical volume of the volume group `vg`.
    PhysicalVolume {
        /// Volume group name.
        vg: String,
    },
    /// A member of the md array `array` (the kickstart's `raid.N` name `member`).
    RaidMember {
        /// `raid --device=` of the array.
        array: String,
        /// The `part raid.N` name.
        member: String,
    },
    /// A LUKS container; `inner` goes onto the opened device (`/dev/mapper/luks-UUID`).
    Encrypted {
        /// How the container is made.
        luks: Luks,
        /// What the opened device holds.
        inner: Box<Content>,
    },
}

impl Content {
    /// The content once any encryption is opened.
    pub fn opened(&self) -> &Content {
        match self {
            Content::Encrypted { inner, .. } => inner.opened(),
            c => c,
        }
    }
}

/// Bytes a LUKS2 header takes at the start of its device (cryptsetup's default data offset).
pub const LUKS2_HEADER: u64 = 16 << 20;

/// How a LUKS container is made (`--encrypted` and its options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luks {
    /// `luks2` (default) or `luks1`.
    pub version: String,
    /// `--cipher` (cryptsetup's default when None: aes-xts-plain64).
    pub cipher: Option<String>,
    /// `--pbkdf` (argon2id, argon2i, pbkdf2).
    pub pbkdf: Option<String>,
    /// `--pbkdf-memory` in KiB.
    pub pbkdf_memory: Option<u64>,
    /// `--pbkdf-time` in milliseconds.
    pub pbkdf_time: Option<u64>,
    /// `--pbkdf-iterations`.
    pub pbkdf_iterations: Option<u64>,
    /// The passphrase (never printed: see [`Secret`]).
    pub passphrase: Secret,
}

/// A passphrase: the grammar's [`kickstand_grammar::Secret`], redacted in `Debug`, `Display`
/// and JSON; only `expose` gives it, to cryptsetup's stdin.
pub use kickstand_grammar::Secret;

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

/// A block device of the plan that holds a filesystem or swap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceRef {
    /// A new partition (or the LUKS device opened on it).
    Partition {
        /// Disk kernel name.
        disk: String,
        /// Partition number on it.
        number: u32,
    },
    /// An LVM logical volume.
    LogicalVolume {
        /// Volume group.
        vg: String,
        /// Logical volume.
        lv: String,
    },
    /// An md array (or the LUKS device opened on it).
    Array {
        /// `raid --device=`.
        name: String,
    },
}

impl std::fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceRef::Partition { disk, number } => write!(f, "{disk} partition {number}"),
            DeviceRef::LogicalVolume { vg, lv } => write!(f, "logical volume {vg}/{lv}"),
            DeviceRef::Array { name } => write!(f, "RAID array {name}"),
        }
    }
}

/// One line of the mount tree: what is mounted where, in mount order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// The device holding it.
    pub device: DeviceRef,
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
        for (device, content) in self.devices() {
            let entry = |mount: &str, fstype, options: Option<String>| MountPoint {
                device: device.clone(),
                mount: mount.to_string(),
                fstype,
                options: options.unwrap_or_else(|| "defaults".into()),
            };
            match content.opened() {
                Content::BiosBoot
                | Content::PhysicalVolume { .. }
                | Content::RaidMember { .. }
                | Content::Encrypted { .. } => {}
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

    /// Every partition, md array and logical volume with its content, partitions first in disk
    /// order, then arrays, then logical volumes.
    pub fn devices(&self) -> Vec<(DeviceRef, &Content)> {
        let parts = self.disks.iter().flat_map(|d| {
            d.partitions.iter().map(move |p| {
                let r = DeviceRef::Partition {
                    disk: d.name.clone(),
                    number: p.number,
                };
                (r, &p.content)
            })
        });
        let lvs = self.volume_groups.iter().flat_map(|vg| {
            vg.volumes.iter().map(move |lv| {
                let r = DeviceRef::LogicalVolume {
                    vg: vg.name.clone(),
                    lv: lv.name.clone(),
                };
                (r, &lv.content)
            })
        });
        let arrays = self.md_arrays.iter().map(|a| {
            let r = DeviceRef::Array {
                name: a.name.clone(),
            };
            (r, &a.content)
        });
        parts.chain(arrays).chain(lvs).collect()
    }

    /// The size of the filesystem that holds `/` (a LUKS header subtracted).
    pub fn root_size(&self) -> Option<u64> {
        let holds_root = |c: &Content| match c.opened() {
            Content::Filesystem(fs) => {
                fs.mount.as_deref() == Some("/") || fs.subvolumes.iter().any(|s| s.mount == "/")
            }
            _ => false,
        };
        let header = |c: &Content| match c {
            Content::Encrypted { .. } => LUKS2_HEADER,
            _ => 0,
        };
        let parts = self
            .disks
            .iter()
            .flat_map(|d| &d.partitions)
            .map(|p| (p.size, &p.content));
        let lvs = self
            .volume_groups
            .iter()
            .flat_map(|vg| &vg.volumes)
            .map(|lv| (lv.size, &lv.content));
        let arrays = self.md_arrays.iter().map(|a| (a.size, &a.content));
        parts
            .chain(arrays)
            .chain(lvs)
            .find(|(_, c)| holds_root(c))
            .map(|(size, c)| size.saturating_sub(header(c)))
    }

    /// The volume group `name`.
    pub fn volume_group(&self, name: &str) -> Option<&VolumeGroup> {
        self.volume_groups.iter().find(|vg| vg.name == name)
    }

    /// Whether the plan needs device-mapper (LVM or LUKS).
    pub fn needs_device_mapper(&self) -> bool {
        !self.volume_groups.is_empty()
            || self
                .devices()
                .iter()
                .any(|(_, c)| matches!(c, Content::Encrypted { .. }))
    }

    /// The md array `name`.
    pub fn md_array(&self, name: &str) -> Option<&MdArray> {
        self.md_arrays.iter().find(|a| a.name == name)
    }

    /// The md array holding the filesystem mounted at `mount`, if that is on an array.
    pub fn array_for_mount(&self, mount: &str) -> Option<&MdArray> {
        let m = self.mount_points().into_iter().find(|m| m.mount == mount)?;
        match m.device {
            DeviceRef::Array { name } => self.md_array(&name),
            _ => None,
        }
    }

    /// The disks the boot loader goes onto: the boot disk and, when the filesystem the boot
    /// loader reads (`/boot`, else `/`; the ESP under UEFI) is a RAID array, every disk holding
    /// one of its members, so any one of them boots.
    pub fn boot_disks(&self) -> Vec<String> {
        let Some(first) = &self.boot_disk else {
            return Vec::new();
        };
        let mut out = vec![first.clone()];
        let read_by_loader = match self.firmware {
            Firmware::Uefi => self.array_for_mount("/boot/efi"),
            Firmware::Bios => self
                .array_for_mount("/boot")
                .or_else(|| self.array_for_mount("/")),
        };
        if let Some(a) = read_by_loader.filter(|a| a.level == RaidLevel::Raid1) {
            for m in &a.members {
                if !out.contains(&m.disk) {
                    out.push(m.disk.clone());
                }
            }
        }
        out
    }
}
