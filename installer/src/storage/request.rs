//! The storage part of a kickstart, as the planner needs it.
//!
//! [`super::from_kickstart`] fills this from the grammar's AST; keeping the planner's input
//! separate means the planner and its tests do not change when the AST does. (The one type
//! shared with the grammar is [`Secret`], so a passphrase is never a plain `String` here.)

pub use kickstand_grammar::Secret;

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
    /// Storage commands and options this version cannot carry out (the `btrfs` command,
    /// existing devices reused, LVM caches, …), with where they were given: answered with "not
    /// supported yet".
    pub unsupported: Vec<Unsupported>,
    /// `raid`, in kickstart order (every member is a `part raid.N` of [`Self::parts`]).
    pub raids: Vec<RaidRequest>,
    /// `volgroup`, in kickstart order (every physical volume is a `part pv.N` or a
    /// `raid pv.N`).
    pub volgroups: Vec<VolGroupRequest>,
    /// `logvol`, in kickstart order (every volume group is one of [`Self::volgroups`], every
    /// thin pool a `--thinpool` volume of that group: the grammar checked the names).
    pub logvols: Vec<LogVolRequest>,
}

/// LUKS encryption of one device: `--encrypted` with its options.
///
/// A missing passphrase means the kickstart gave none; Anaconda would ask on the console, an
/// unattended install has to refuse it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionRequest {
    /// `--passphrase=` (redacted in `Debug`; [`Secret::expose`] gives it to cryptsetup).
    pub passphrase: Option<Secret>,
    /// `--luks-version=` (`luks1`, `luks2`); `None`: LUKS2, as Anaconda.
    pub luks_version: Option<String>,
    /// `--cipher=` (e.g. `aes-xts-plain64`); `None`: cryptsetup's default.
    pub cipher: Option<String>,
    /// `--pbkdf=` (`argon2id`, `argon2i`, `pbkdf2`).
    pub pbkdf: Option<String>,
    /// `--pbkdf-memory=` in KiB.
    pub pbkdf_memory_kib: Option<u64>,
    /// `--pbkdf-time=` in milliseconds (cryptsetup `--iter-time`).
    pub pbkdf_time_ms: Option<u64>,
    /// `--pbkdf-iterations=` (cryptsetup `--pbkdf-force-iterations`).
    pub pbkdf_iterations: Option<u64>,
}

/// RAID level of a `raid` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidLevel {
    Raid0,
    Raid1,
    Raid4,
    Raid5,
    Raid6,
    Raid10,
}

impl RaidLevel {
    /// The `mdadm --level=` value.
    pub fn mdadm(self) -> &'static str {
        match self {
            RaidLevel::Raid0 => "0",
            RaidLevel::Raid1 => "1",
            RaidLevel::Raid4 => "4",
            RaidLevel::Raid5 => "5",
            RaidLevel::Raid6 => "6",
            RaidLevel::Raid10 => "10",
        }
    }
}

/// One `raid` command: an md array over `part raid.N` members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidRequest {
    /// A mount point, `swap`, `pv.N` (the array is an LVM physical volume) or `none`.
    pub mntpoint: String,
    /// `--device=`: the array's name (`md0`, `root`).
    pub device: String,
    /// `--level=`.
    pub level: RaidLevel,
    /// The `raid.N` members, in order.
    pub members: Vec<String>,
    /// `--spares=`: how many of the members are spares.
    pub spares: u64,
    /// `--chunksize=` in KiB.
    pub chunksize_kib: Option<u64>,
    /// `--fstype=`.
    pub fstype: Option<String>,
    /// `--label=`.
    pub label: Option<String>,
    /// `--fsoptions=`.
    pub fsoptions: Option<String>,
    /// `--mkfsoptions=`.
    pub mkfsoptions: Option<String>,
    /// `--encrypted` and its options: LUKS on the array.
    pub encryption: Option<EncryptionRequest>,
    /// Where it was given.
    pub origin: Origin,
}

/// One `volgroup` command: an LVM volume group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolGroupRequest {
    /// The group's name.
    pub name: String,
    /// The `pv.N` physical volumes (partitions or arrays), in order.
    pub physvols: Vec<String>,
    /// `--pesize=` in KiB (a power of two); `None`: LVM's default, 4 MiB.
    pub pesize_kib: Option<u64>,
    /// `--reserved-space=` in MiB left unallocated.
    pub reserved_space_mib: Option<u64>,
    /// `--reserved-percent=` of the group left unallocated (1–99).
    pub reserved_percent: Option<u64>,
    /// Where it was given.
    pub origin: Origin,
}

/// What kind of logical volume a `logvol` makes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LvKind {
    /// A plain (linear) volume.
    #[default]
    Linear,
    /// `--thinpool`: a thin pool (its mount point is `none`).
    ThinPool {
        /// `--chunksize=` in KiB.
        chunksize_kib: Option<u64>,
        /// `--metadatasize=` in MiB.
        metadatasize_mib: Option<u64>,
    },
    /// `--thin --poolname=POOL`: a thin volume in pool `pool` of the same group.
    Thin { pool: String },
}

/// One `logvol` command: an LVM logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogVolRequest {
    /// A mount point, `swap` or `none`.
    pub mntpoint: String,
    /// `--vgname=`.
    pub vgname: String,
    /// `--name=`.
    pub name: String,
    /// `--size=` in MiB (for a thin volume: its virtual size).
    pub size_mib: Option<u64>,
    /// `--percent=` of the group's free space (1–100).
    pub percent: Option<u64>,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize=` in MiB.
    pub maxsize_mib: Option<u64>,
    /// `--recommended` (swap sized from RAM).
    pub recommended: bool,
    /// Linear, thin pool or thin volume.
    pub kind: LvKind,
    /// `--fstype=`.
    pub fstype: Option<String>,
    /// `--label=`.
    pub label: Option<String>,
    /// `--fsoptions=`.
    pub fsoptions: Option<String>,
    /// `--mkfsoptions=`.
    pub mkfsoptions: Option<String>,
    /// `--encrypted` and its options: LUKS on the volume.
    pub encryption: Option<EncryptionRequest>,
    /// Where it was given.
    pub origin: Origin,
}

/// Where a command was given, for messages: `file:line:column` of the command's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// The kickstart (or `%include`d) file's name as given; empty when unknown.
    pub file: &'static str,
    /// 1-based line in that file, 0 when unknown.
    pub line: u32,
    /// 1-based column of the command's name, 0 when unknown.
    pub column: u32,
}

impl Origin {
    /// A command at `line` of an unnamed kickstart (tests, requests built by code).
    pub const fn line(line: u32) -> Origin {
        Origin {
            file: "",
            line,
            column: 0,
        }
    }

    /// Where `file` `line` `column` is, the file name interned (see [`intern`]).
    pub fn at(file: &str, line: u32, column: u32) -> Origin {
        Origin {
            file: intern(file),
            line,
            column,
        }
    }
}

/// The one `'static` copy of a kickstart file name. A kickstart names a handful of files
/// (itself and its `%include`s), each kept once for the life of the process, so that
/// [`Origin`] stays `Copy` through the planner.
fn intern(file: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static FILES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = files.get(file) {
        return known;
    }
    let leaked: &'static str = Box::leak(file.to_string().into_boxed_str());
    files.insert(leaked);
    leaked
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.file, self.column) {
            (0, _, _) => f.write_str("kickstart"),
            (line, "", _) => write!(f, "line {line}"),
            (line, file, 0) => write!(f, "{file}:{line}"),
            (line, file, column) => write!(f, "{file}:{line}:{column}"),
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
    /// Where it was given.
    pub origin: Origin,
    /// `--encrypted` and its options (`None`: not encrypted).
    pub encryption: Option<EncryptionRequest>,
}

/// `autopart --type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoKind {
    /// Plain partitions (the default for image installs).
    #[default]
    Plain,
    /// A btrfs volume with subvolumes for `/` and `/home`.
    Btrfs,
    /// LVM: a volume group over the root partition space with `root` (and `home`, `swap`)
    /// logical volumes.
    Lvm,
    /// LVM thin provisioning: as `Lvm`, the volumes thin in one pool.
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
    /// Where it was given.
    pub origin: Origin,
    /// `--encrypted` and its options (`None`: not encrypted).
    pub encryption: Option<EncryptionRequest>,
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
