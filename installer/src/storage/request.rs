//! The storage part of a kickstart, as the planner needs it.
//!
//! [`super::from_kickstart`] fills this from the grammar's AST; keeping the planner's input
//! separate means the planner and its tests do not change when the AST does.

/// Storage commands of one kickstart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageRequest {
    /// `zerombr`: disks with no valid partition table may be initialised.
    pub zerombr: bool,
    /// `clearpart`.
    pub clearpart: Option<ClearPart>,
    /// `ignoredisk`.
    pub ignoredisk: Option<IgnoreDisk>,
    /// `autopart`.
    pub autopart: Option<AutoPart>,
    /// `part`/`partition`, in kickstart order.
    pub parts: Vec<PartRequest>,
    /// `reqpart`.
    pub reqpart: Option<ReqPart>,
    /// `bootloader`.
    pub bootloader: BootloaderRequest,
    /// Storage commands that need device-mapper or md (`logvol`, `volgroup`, `raid`, `btrfs`),
    /// with where they were given: answered with "not supported yet".
    pub unsupported: Vec<Unsupported>,
}

/// Where a command was given, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// 1-based line in the kickstart, 0 when unknown.
    pub line: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str("kickstart")
        } else {
            write!(f, "line {}", self.line)
        }
    }
}

/// A storage command this version cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The command or option as written (`logvol`, `autopart --type=lvm`).
    pub what: String,
    /// Where it was given.
    pub origin: Origin,
}

/// `clearpart`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClearPart {
    /// `--all`, `--linux`, `--none` or `--list`.
    pub kind: ClearKind,
    /// `--drives=`: only these disks (drive specs).
    pub drives: Vec<String>,
    /// `--initlabel`: cleared disks get a new, empty partition table.
    pub initlabel: bool,
    /// `--disklabel=`: the partition table type (only `gpt` is written).
    pub disklabel: Option<String>,
    /// Where it was given.
    pub origin: Origin,
}

/// What `clearpart` removes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClearKind {
    /// `--none` (pykickstart's default): nothing.
    #[default]
    None,
    /// `--all`: every partition.
    All,
    /// `--linux`: Linux partitions only.
    Linux,
    /// `--list=sda2,sdb1`: these partitions.
    List(Vec<String>),
}

/// `ignoredisk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreDisk {
    /// `--only-use=`: only these disks are used.
    OnlyUse(Vec<String>),
    /// `--drives=`: these disks are ignored.
    Drives(Vec<String>),
}

/// `autopart`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoPart {
    /// `--type=`.
    pub kind: AutoKind,
    /// `--fstype=`.
    pub fstype: Option<String>,
    /// `--nohome`.
    pub nohome: bool,
    /// `--noboot`.
    pub noboot: bool,
    /// `--noswap`.
    pub noswap: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// `--passphrase`, `--luks-version`, `--cipher`, `--pbkdf*` (used with `--encrypted`).
    pub encryption: EncryptionRequest,
    /// Where it was given.
    pub origin: Origin,
}

/// The options of `--encrypted` (`autopart`, `part`, `logvol`, `raid`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionRequest {
    /// `--passphrase=` (shown as `********` by `Debug`).
    pub passphrase: Option<super::layout::Secret>,
    /// `--luks-version=` (`luks1`, `luks2`).
    pub luks_version: Option<String>,
    /// `--cipher=`.
    pub cipher: Option<String>,
    /// `--pbkdf=`.
    pub pbkdf: Option<String>,
    /// `--pbkdf-memory=` (KiB).
    pub pbkdf_memory: Option<u64>,
    /// `--pbkdf-time=` (ms).
    pub pbkdf_time: Option<u64>,
    /// `--pbkdf-iterations=`.
    pub pbkdf_iterations: Option<u64>,
    /// `--escrowcert=` was given.
    pub escrowcert: bool,
    /// `--backuppassphrase` was given.
    pub backuppassphrase: bool,
}

/// `autopart --type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoKind {
    /// Plain partitions (the default for image installs).
    #[default]
    Plain,
    /// A btrfs volume with subvolumes for `/` and `/home`.
    Btrfs,
    /// LVM: a volume group over the root space with a `root` (and `home`) logical volume.
    Lvm,
    /// LVM thin provisioning: the same volumes, thin, in a thin pool.
    ThinP,
}

/// One `part`/`partition` command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartRequest {
    /// The first argument: a mount point, `swap`, `biosboot`, `raid.N`, `pv.N`, `btrfs.N`.
    pub mntpoint: String,
    /// `--size=` in MiB.
    pub size_mib: Option<u64>,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize=` in MiB.
    pub maxsize_mib: Option<u64>,
    /// `--fstype=`.
    pub fstype: Option<String>,
    /// `--ondisk=`/`--ondrive=`.
    pub ondisk: Option<String>,
    /// `--label=`.
    pub label: Option<String>,
    /// `--fsoptions=`.
    pub fsoptions: Option<String>,
    /// `--mkfsoptions=`.
    pub mkfsoptions: Option<String>,
    /// `--recommended` (swap sized from RAM).
    pub recommended: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// The options of `--encrypted`.
    pub encryption: EncryptionRequest,
    /// Where it was given.
    pub origin: Origin,
}

/// `reqpart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqPart {
    /// `--add-boot`: also a `/boot` partition.
    pub add_boot: bool,
}

/// `bootloader`, the parts that decide storage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootloaderRequest {
    /// `--boot-drive=`: the disk that gets the boot loader (and `autopart`'s layout).
    pub boot_drive: Option<String>,
    /// `--location=`.
    pub location: BootLocation,
}

/// `bootloader --location=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootLocation {
    /// `mbr` (default): the boot loader goes to the disk (BIOS boot partition or ESP).
    #[default]
    Mbr,
    /// `partition`: into the first sector of the `/boot` partition.
    Partition,
    /// `boot`: as Anaconda, the same as `partition` on x86.
    Boot,
    /// `none`: no boot loader is installed; no boot loader partitions are added.
    None,
}
