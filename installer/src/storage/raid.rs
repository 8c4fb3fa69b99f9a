//! Software RAID of `part raid.N` and `raid MOUNT --level --device raid.N…`, checked as
//! pykickstart and Anaconda do and sized before any disk is touched:
//!
//! - every member is a `part raid.N`, used by exactly one array, and every `part raid.N` is
//!   used (Anaconda would make an orphan md member nobody assembles; Kickstand refuses it);
//! - an array has the members its level needs (0: 2, 1: 2, 4/5: 3, 6: 4, 10: 4), not counting
//!   `--spares`;
//! - the members of a redundant array sit on different disks (`--ondisk`): two on one disk
//!   lose the array with that disk, which Anaconda allows silently and Kickstand refuses;
//! - `/boot` and `/boot/efi` on RAID are level 1 with the superblock at the end (metadata
//!   1.0), so firmware and boot loaders read each member as a plain filesystem; every other
//!   array gets mdadm's default, 1.2 (Anaconda's choices);
//! - the array's size comes from its smallest member and its level.

use super::error::PlanError;
use super::guid;
use super::layout::{Content, DiskPlan, Filesystem, FsType, MdArray, MdMember};
use super::request::{Origin, RaidLevel, RaidRequest, StorageRequest};
use crate::units::{MIB, align_down, human};
use std::collections::BTreeMap;

/// Metadata 1.0 (superblock at the end) for filesystems firmware or boot loaders read.
pub const METADATA_END: &str = "1.0";
/// Metadata 1.2 (superblock 4 KiB from the start), mdadm's and Anaconda's default.
pub const METADATA_DEFAULT: &str = "1.2";

impl RaidLevel {
    /// Fewest active members (blivet's minimum, as pykickstart checks it).
    pub fn min_members(self) -> usize {
        match self {
            RaidLevel::Raid0 | RaidLevel::Raid1 => 2,
            RaidLevel::Raid4 | RaidLevel::Raid5 => 3,
            RaidLevel::Raid6 | RaidLevel::Raid10 => 4,
        }
    }

    /// Whether the array survives losing a member.
    pub fn redundant(self) -> bool {
        self != RaidLevel::Raid0
    }

    /// Usable bytes of `n` active members of `member` bytes each.
    pub fn capacity(self, n: u64, member: u64) -> u64 {
        match self {
            RaidLevel::Raid0 => n * member,
            RaidLevel::Raid1 => member,
            RaidLevel::Raid4 | RaidLevel::Raid5 => (n - 1) * member,
            RaidLevel::Raid6 => (n - 2) * member,
            // mdadm's default layout n2: two copies of every chunk.
            RaidLevel::Raid10 => n * member / 2,
        }
    }

    /// `RAID1`, as the dry run shows it.
    pub fn name(self) -> String {
        format!("RAID{}", self.mdadm())
    }
}

/// The array each `part raid.N` belongs to, after checking the `raid` commands against the
/// `part` commands (see the module documentation).
pub(super) fn owners(req: &StorageRequest) -> Result<BTreeMap<String, &RaidRequest>, PlanError> {
    let invalid = |origin, message| PlanError::Invalid { origin, message };
    let mut owners: BTreeMap<String, &RaidRequest> = BTreeMap::new();
    let mut devices: BTreeMap<&str, Origin> = BTreeMap::new();
    for r in &req.raids {
        let what = format!("raid {} --device={}", r.mntpoint, r.device);
        if let Some(first) = devices.insert(&r.device, r.origin) {
            return Err(invalid(
                r.origin,
                format!(
                    "{what}: a RAID device named {} is already defined ({first}); give each \
                     array its own --device name",
                    r.device
                ),
            ));
        }
        let valid_name = !r.device.is_empty()
            && r.device.len() <= 32
            && r.device
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            && !r.device.starts_with('.');
        if !valid_name {
            return Err(invalid(
                r.origin,
                format!(
                    "{what}: expected a device name of letters, digits, `_`, `-` and `.` (at \
                     most 32), such as md0 or root"
                ),
            ));
        }
        let active = (r.members.len() as u64).saturating_sub(r.spares);
        if r.spares >= r.members.len() as u64 || (active as usize) < r.level.min_members() {
            return Err(invalid(
                r.origin,
                format!(
                    "{what}: {} needs at least {} active members; {} given{} (add `part \
                     raid.N --ondisk=DISK` members)",
                    r.level.name(),
                    r.level.min_members(),
                    active,
                    if r.spares > 0 {
                        format!(" besides {} spare(s)", r.spares)
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        for m in &r.members {
            if !req.parts.iter().any(|p| p.mntpoint == *m) || !m.starts_with("raid.") {
                return Err(invalid(
                    r.origin,
                    format!(
                        "{what}: member {m} is not defined (expected a `part {m} --size=… \
                         --ondisk=DISK` command with a raid.N name)"
                    ),
                ));
            }
            if let Some(first) = owners.insert(m.clone(), r) {
                return Err(invalid(
                    r.origin,
                    format!(
                        "{what}: {m} is already a member of RAID device {} ({}); a partition \
                         belongs to one array",
                        first.device, first.origin
                    ),
                ));
            }
        }
        let mount = r.mntpoint.as_str();
        if mount.starts_with("pv.") {
            return Err(PlanError::NotSupportedYet {
                what: format!("{what} (an array as an LVM physical volume)"),
                origin: r.origin,
            });
        }
        if !(mount.starts_with('/') || mount == "swap") {
            return Err(invalid(
                r.origin,
                format!("{what}: expected a mount point (/…) or swap as the first argument"),
            ));
        }
        if (mount == "/boot" || mount == "/boot/efi") && r.level != RaidLevel::Raid1 {
            return Err(invalid(
                r.origin,
                format!(
                    "{what} --level={}: {mount} on RAID must be RAID1 (--level=1), so the \
                     firmware and the boot loader can read each member on its own",
                    r.level.mdadm()
                ),
            ));
        }
        if mount == "/boot/efi" && r.encryption.is_some()
            || mount == "/boot" && r.encryption.is_some()
        {
            return Err(invalid(
                r.origin,
                format!(
                    "{what} --encrypted: the firmware and boot loader read {mount}, so it \
                     cannot be encrypted (drop --encrypted)"
                ),
            ));
        }
    }
    for p in &req.parts {
        if p.mntpoint.starts_with("raid.") && !owners.contains_key(&p.mntpoint) {
            return Err(invalid(
                p.origin,
                format!(
                    "part {}: no raid command uses this member (expected it in a `raid MOUNT \
                     --level=1 --device=NAME {} …` command, or remove it)",
                    p.mntpoint, p.mntpoint
                ),
            ));
        }
    }
    Ok(owners)
}

/// The GPT type of a member of `r`: the ESP's for an ESP mirror (firmware looks for that
/// type and reads the member as FAT), Linux RAID otherwise.
pub(super) fn member_type(r: &RaidRequest) -> &'static str {
    if r.mntpoint == "/boot/efi" || r.fstype.as_deref() == Some("efi") {
        guid::ESP
    } else {
        guid::RAID
    }
}

/// Where a member sorts among the partitions of its disk: boot loader and `/boot` members
/// first, as their plain partitions would.
pub(super) fn member_rank(r: &RaidRequest) -> u8 {
    match r.mntpoint.as_str() {
        "/boot/efi" => 0,
        "/boot" => 1,
        _ => 2,
    }
}

/// Metadata format for the array mounted at `mount`.
pub fn metadata_for(mount: &str) -> &'static str {
    if mount == "/boot" || mount == "/boot/efi" {
        METADATA_END
    } else {
        METADATA_DEFAULT
    }
}

/// Bytes mdadm keeps for itself on a member of `size` bytes: with metadata 1.2 the data
/// starts after a headroom of up to 128 MiB that shrinks for small members (mdadm's rule,
/// at least 1 MiB); with 1.0 the superblock and bitmap sit in the last MiB or so. Rounded up
/// so the planned size is never more than the array gets.
pub fn reserved(metadata: &str, size: u64) -> u64 {
    if metadata == METADATA_END {
        return 2 * MIB;
    }
    let mut headroom = 128 * MIB;
    while headroom > MIB && headroom * 1024 > size {
        headroom /= 2;
    }
    headroom + MIB
}

/// The arrays of `req`, once their members are placed on `disks`.
pub(super) fn arrays(req: &StorageRequest, disks: &[DiskPlan]) -> Result<Vec<MdArray>, PlanError> {
    let mut out = Vec::new();
    for r in &req.raids {
        let what = format!("raid {} --device={}", r.mntpoint, r.device);
        let mut members = Vec::new();
        let mut sizes = Vec::new();
        for name in &r.members {
            let (disk, part) = disks
                .iter()
                .flat_map(|d| d.partitions.iter().map(move |p| (d, p)))
                .find(|(_, p)| {
                    matches!(&p.content, Content::RaidMember { member, .. } if member == name)
                })
                .expect("every raid.N member was planned as a partition");
            members.push(MdMember {
                name: name.clone(),
                disk: disk.name.clone(),
                number: part.number,
            });
            sizes.push(part.size);
        }
        if r.level.redundant() {
            for (i, a) in members.iter().enumerate() {
                if let Some(b) = members[..i].iter().find(|b| b.disk == a.disk) {
                    return Err(PlanError::Invalid {
                        origin: r.origin,
                        message: format!(
                            "{what}: members {} and {} are both on disk {}; a {} array is \
                             meant to survive a disk failure, so put each member on its own \
                             disk (`part {} --ondisk=OTHER_DISK`)",
                            b.name,
                            a.name,
                            a.disk,
                            r.level.name(),
                            a.name
                        ),
                    });
                }
            }
        }
        let metadata = metadata_for(&r.mntpoint);
        let smallest = sizes.iter().copied().min().unwrap_or(0);
        let member = align_down(smallest.saturating_sub(reserved(metadata, smallest)), MIB);
        let active = r.members.len() as u64 - r.spares;
        let size = r.level.capacity(active, member);
        let content = content(r, &what)?;
        if let Content::Filesystem(fs) = content.opened() {
            let header = match &content {
                Content::Encrypted { .. } => super::layout::LUKS2_HEADER,
                _ => 0,
            };
            if size.saturating_sub(header) < fs.fstype.min_size() {
                return Err(PlanError::BelowMinimum {
                    what: format!(
                        "{what} ({} of {} × {})",
                        r.level.name(),
                        active,
                        human(smallest)
                    ),
                    origin: r.origin,
                    size: size.saturating_sub(header),
                    min: fs.fstype.min_size(),
                    fstype: fs.fstype.name().into(),
                });
            }
        }
        out.push(MdArray {
            name: r.device.clone(),
            level: r.level,
            metadata,
            members,
            spares: r.spares,
            chunk_kib: r.chunksize_kib,
            size,
            content,
            origin: r.origin,
        });
    }
    Ok(out)
}

/// What goes onto the array: a filesystem (xfs unless `--fstype`; vfat for `/boot/efi`) or
/// swap, in LUKS with `--encrypted`.
fn content(r: &RaidRequest, what: &str) -> Result<Content, PlanError> {
    let invalid = |message: String| PlanError::Invalid {
        origin: r.origin,
        message,
    };
    let mkfs_options = match &r.mkfsoptions {
        Some(o) => shlex::split(o)
            .ok_or_else(|| invalid(format!("{what} --mkfsoptions={o}: unbalanced quotes")))?,
        None => Vec::new(),
    };
    let m = r.mntpoint.as_str();
    let fstype = r.fstype.as_deref();
    let inner = if m == "swap" || fstype == Some("swap") {
        Content::Swap {
            label: r.label.clone(),
            mkfs_options,
        }
    } else {
        let fs = match fstype {
            None if m == "/boot/efi" => FsType::Vfat,
            None => FsType::Xfs,
            Some(f) => FsType::parse(f).ok_or_else(|| {
                invalid(format!(
                    "{what} --fstype={f}: expected xfs, ext4, ext3, ext2, btrfs, vfat, efi or swap"
                ))
            })?,
        };
        if (m == "/boot/efi" || fstype == Some("efi")) && fs != FsType::Vfat {
            return Err(invalid(format!(
                "{what}: the EFI System Partition must be vfat (found --fstype={fs})"
            )));
        }
        super::plan::check_label(what, fs, r.label.as_deref(), r.origin)?;
        Content::Filesystem(Filesystem {
            fstype: fs,
            label: r.label.clone(),
            mount: Some(m.to_string()),
            options: r.fsoptions.clone(),
            mkfs_options,
            subvolumes: Vec::new(),
        })
    };
    Ok(match &r.encryption {
        Some(e) => Content::Encrypted {
            luks: super::luks::from_request(e, &format!("{what} --encrypted"), r.origin)?,
            inner: Box::new(inner),
        },
        None => inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::request::PartRequest;
    use crate::units::GIB;

    fn request(members: &[&[&str]], parts: &[&str], spares: u64) -> StorageRequest {
        let line = |n: usize| Origin::line(n as u32);
        StorageRequest {
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, m)| PartRequest {
                    mntpoint: m.to_string(),
                    size_mib: Some(1000),
                    origin: line(i + 1),
                    ..PartRequest::default()
                })
                .collect(),
            raids: members
                .iter()
                .enumerate()
                .map(|(i, m)| RaidRequest {
                    mntpoint: format!("/a{i}"),
                    device: format!("md{i}"),
                    level: RaidLevel::Raid1,
                    members: m.iter().map(|s| s.to_string()).collect(),
                    spares,
                    chunksize_kib: None,
                    fstype: None,
                    label: None,
                    fsoptions: None,
                    mkfsoptions: None,
                    encryption: None,
                    origin: line(parts.len() + i + 1),
                })
                .collect(),
            ..StorageRequest::default()
        }
    }

    fn refused(r: &StorageRequest) -> String {
        owners(r).expect_err("refused").to_string()
    }

    #[test]
    fn members_are_defined_used_once_and_enough() {
        let parts = ["raid.1", "raid.2", "raid.3"];
        assert!(owners(&request(&[&["raid.1", "raid.2", "raid.3"]], &parts, 0)).is_ok());
        let e = refused(&request(&[&["raid.1", "raid.9"]], &parts, 0));
        assert!(
            e.contains("member raid.9 is not defined") && e.contains("(line 4)"),
            "{e}"
        );
        let e = refused(&request(
            &[&["raid.1", "raid.2"], &["raid.2", "raid.3"]],
            &parts,
            0,
        ));
        assert!(
            e.contains("raid.2 is already a member of RAID device md0"),
            "{e}"
        );
        let e = refused(&request(&[&["raid.1", "raid.2"]], &parts, 0));
        assert!(
            e.contains("part raid.3: no raid command uses") && e.contains("(line 3)"),
            "{e}"
        );
        let e = refused(&request(&[&["raid.1", "raid.2", "raid.3"]], &parts, 2));
        assert!(
            e.contains("RAID1 needs at least 2 active members; 1 given besides 2"),
            "{e}"
        );
    }

    #[test]
    fn capacity_follows_the_level() {
        assert_eq!(RaidLevel::Raid1.capacity(2, GIB), GIB);
        assert_eq!(RaidLevel::Raid0.capacity(3, GIB), 3 * GIB);
        assert_eq!(RaidLevel::Raid5.capacity(4, GIB), 3 * GIB);
        assert_eq!(RaidLevel::Raid6.capacity(4, GIB), 2 * GIB);
        assert_eq!(RaidLevel::Raid10.capacity(4, GIB), 2 * GIB);
    }

    #[test]
    fn mdadm_keeps_less_headroom_on_small_members() {
        assert_eq!(reserved(METADATA_DEFAULT, 500 * GIB), 129 * MIB);
        assert_eq!(reserved(METADATA_DEFAULT, 2 * GIB), 3 * MIB);
        assert_eq!(reserved(METADATA_DEFAULT, 100 * MIB), 2 * MIB);
        assert_eq!(reserved(METADATA_END, 500 * GIB), 2 * MIB);
        assert_eq!(metadata_for("/boot"), "1.0");
        assert_eq!(metadata_for("/boot/efi"), "1.0");
        assert_eq!(metadata_for("/"), "1.2");
    }
}
