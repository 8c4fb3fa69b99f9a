//! `plan`: kickstart storage commands + hardware + image facts → [`StoragePlan`]. Pure: no
//! I/O, the same input always gives the same plan.

use super::alloc::{Want, allocate, usable_region};
use super::error::PlanError;
use super::guid;
use super::layout::{
    Content, DiskPlan, Filesystem, FsType, ImageCheck, LUKS2_HEADER, PlannedPartition, StoragePlan,
    Subvolume, TableAction,
};
use super::request::{
    AutoKind, AutoPart, BootLocation, Origin, PartRequest, RaidRequest, StorageRequest,
};
use super::select::{
    Selection, check_list, check_writable, refuse_boot_medium, resolve, select, table_action,
};
use super::{luks, lvm, raid, volgroup};
use crate::hardware::{Firmware, Hardware};
use crate::units::{GIB, MIB, align_down, align_up};
use std::collections::BTreeMap;

/// BIOS boot partition size.
pub const BIOS_BOOT_SIZE: u64 = MIB;
/// EFI System Partition size.
pub const ESP_SIZE: u64 = 600 * MIB;
/// `/boot` size (Anaconda's since 2025).
pub const BOOT_SIZE: u64 = 2 * GIB;
/// The root filesystem must hold this many times the image's compressed layers.
pub const IMAGE_MARGIN: u64 = 3;

/// What the image's manifest and config say, before any layer is pulled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFacts {
    /// Sum of the compressed layer sizes, None when the manifest was not resolved.
    pub compressed_size: Option<u64>,
    /// The image config's labels.
    pub labels: BTreeMap<String, String>,
}

/// A partition request before it is placed.
#[derive(Debug, Clone)]
struct Req {
    want: Want,
    disk: usize,
    type_guid: &'static str,
    name: String,
    content: Content,
    /// Sort key: boot loader partitions first, then `/boot`, then the rest in kickstart order.
    rank: u8,
}

/// Lays out the storage commands of a kickstart on the hardware.
pub fn plan_request(
    req: &StorageRequest,
    hw: &Hardware,
    image: &ImageFacts,
) -> Result<StoragePlan, PlanError> {
    check_supported(req)?;
    if let Some(label) = req.clearpart.as_ref().and_then(|c| c.disklabel.as_deref()) {
        if !label.eq_ignore_ascii_case("gpt") {
            return Err(PlanError::DiskLabel(label.to_string()));
        }
    }
    if let Some(super::request::ClearKind::List(items)) = req.clearpart.as_ref().map(|c| &c.kind) {
        check_list(items, hw)?;
    }
    let sel = select(req, hw)?;
    let groups = volgroup::check(req, hw, &sel.clear)?;
    if let Some(auto) = req
        .autopart
        .as_ref()
        .filter(|a| matches!(a.kind, AutoKind::Lvm | AutoKind::ThinP))
    {
        let existing = volgroup::existing(hw, &sel.clear);
        volgroup::check_unused_name(lvm::AUTOPART_VG, "autopart", auto.origin, &existing)?;
    }
    let boot_disk = boot_disk(req, hw, &sel)?;
    let image_need = image.compressed_size.map(|c| c * IMAGE_MARGIN);
    let (mut reqs, pending_vg) = match &req.autopart {
        Some(auto) => autopart(req, auto, hw, boot_disk, image_need)?,
        None => (parts(req, hw, &sel, boot_disk, &groups)?, None),
    };
    reqs.sort_by_key(|r| r.rank);

    let mut disks = Vec::new();
    let mut untouched = Vec::new();
    for (i, disk) in hw.disks.iter().enumerate() {
        let mine: Vec<&Req> = reqs.iter().filter(|r| r.disk == i).collect();
        let cleared = sel.clear.contains(&i);
        if mine.is_empty() && !cleared {
            untouched.push(disk.describe());
            continue;
        }
        let action = table_action(req, disk, cleared)?;
        if mine.is_empty() {
            let nothing = match &action {
                TableAction::New { erases } => erases.is_none(),
                TableAction::Edit { removed, .. } => removed.is_empty(),
            };
            if nothing {
                untouched.push(disk.describe());
                continue;
            }
        }
        check_writable(disk)?;
        let region = match &action {
            TableAction::New { .. } => usable_region(disk.size, disk.logical_sector_size),
            TableAction::Edit { kept, .. } => {
                largest_gap(disk.size, disk.logical_sector_size, kept)
            }
        };
        let wants: Vec<Want> = mine.iter().map(|r| r.want.clone()).collect();
        let placed = allocate(&disk.name, disk.size, region, &wants)?;
        let used_numbers: Vec<u32> = match &action {
            TableAction::Edit { kept, .. } => kept.iter().map(|p| p.number).collect(),
            TableAction::New { .. } => Vec::new(),
        };
        let mut numbers = (1u32..).filter(|n| !used_numbers.contains(n));
        let partitions = mine
            .iter()
            .zip(placed)
            .map(|(r, (start, size))| PlannedPartition {
                number: numbers.next().unwrap_or(1),
                start,
                size,
                type_guid: r.type_guid,
                name: r.name.clone(),
                content: r.content.clone(),
                origin: r.want.origin,
            })
            .collect();
        disks.push(DiskPlan {
            name: disk.name.clone(),
            path: disk.path.clone(),
            description: disk.describe(),
            size: disk.size,
            sector_size: disk.logical_sector_size,
            table: action,
            partitions,
            bootable_pmbr: hw.firmware == Firmware::Bios && i == boot_disk,
        });
    }
    let mut volume_groups = Vec::new();
    if let Some(p) = &pending_vg {
        let pv = disks
            .iter()
            .flat_map(|d| &d.partitions)
            .find(|part| matches!(part.content.opened(), Content::PhysicalVolume { vg } if *vg == p.vg))
            .expect("autopart planned the physical volume partition");
        volume_groups.push(lvm::volume_group(p, pv.size)?);
    }
    volume_groups.extend(volgroup::size(req, &disks, hw.memory_bytes)?);
    let md_arrays = raid::arrays(req, &disks)?;
    let mut plan = StoragePlan {
        firmware: hw.firmware,
        disks,
        untouched,
        boot_disk: (req.bootloader.location != BootLocation::None)
            .then(|| hw.disks[boot_disk].name.clone()),
        boot_location: req.bootloader.location,
        image: ImageCheck::NotKnown,
        volume_groups,
        md_arrays,
    };
    check_boot_disks(&plan)?;
    if let (Some(compressed), Some(root)) = (image.compressed_size, plan.root_size()) {
        let needed = compressed * IMAGE_MARGIN;
        if root < needed {
            return Err(PlanError::ImageTooBig {
                root,
                needed,
                compressed,
                margin: IMAGE_MARGIN,
            });
        }
        plan.image = ImageCheck::Fits {
            compressed,
            needed,
            root,
        };
    }
    Ok(plan)
}

fn check_supported(req: &StorageRequest) -> Result<(), PlanError> {
    let unsupported = |what: String, origin| Err(PlanError::NotSupportedYet { what, origin });
    if let Some(u) = req.unsupported.first() {
        return unsupported(u.what.clone(), u.origin);
    }
    if let Some(auto) = &req.autopart {
        if !req.parts.is_empty() || req.reqpart.is_some() || !req.raids.is_empty() {
            return Err(PlanError::Invalid {
                origin: auto.origin,
                message: "autopart cannot be combined with part, raid or reqpart (use one or \
                          the other)"
                    .into(),
            });
        }
    } else if req.parts.is_empty() && req.reqpart.is_none() {
        return Err(PlanError::Invalid {
            origin: Origin::default(),
            message: "the kickstart has no storage layout: add `autopart` or `part` commands"
                .into(),
        });
    }
    for p in &req.parts {
        let m = p.mntpoint.as_str();
        if m.starts_with("btrfs.") {
            return unsupported(format!("part {m}"), p.origin);
        }
    }
    Ok(())
}

fn boot_disk(req: &StorageRequest, hw: &Hardware, sel: &Selection) -> Result<usize, PlanError> {
    if let Some(spec) = &req.bootloader.boot_drive {
        let i = resolve("bootloader --boot-drive", std::slice::from_ref(spec), hw)?[0];
        refuse_boot_medium("bootloader --boot-drive", &hw.disks[i])?;
        if !sel.usable.contains(&i) {
            return Err(PlanError::Unusable {
                command: "bootloader --boot-drive".into(),
                disk: hw.disks[i].name.clone(),
                why: "ignoredisk excludes it".into(),
            });
        }
        return Ok(i);
    }
    sel.usable.first().copied().ok_or_else(|| {
        let why = if hw.disks.is_empty() {
            "no disks were found".to_string()
        } else if req.ignoredisk.is_some() {
            "ignoredisk leaves none".to_string()
        } else {
            "every disk is removable or the installer's boot medium (name one with \
             `ignoredisk --only-use=`)"
                .to_string()
        };
        PlanError::NoDisk {
            why,
            seen: hw.disks.iter().map(|d| d.describe()).collect(),
        }
    })
}

fn fs_content(fstype: FsType, mount: &str, label: Option<String>) -> Content {
    Content::Filesystem(Filesystem {
        fstype,
        label,
        mount: Some(mount.to_string()),
        options: None,
        mkfs_options: Vec::new(),
        subvolumes: Vec::new(),
    })
}

fn bios_boot(disk: usize, origin: Origin) -> Req {
    Req {
        want: fixed("BIOS boot", origin, BIOS_BOOT_SIZE),
        disk,
        type_guid: guid::BIOS_BOOT,
        name: "BIOS boot".into(),
        content: Content::BiosBoot,
        rank: 0,
    }
}

fn esp(disk: usize, origin: Origin) -> Req {
    Req {
        want: Want {
            min: Some((FsType::Vfat.min_size(), "vfat")),
            ..fixed("/boot/efi", origin, ESP_SIZE)
        },
        disk,
        type_guid: guid::ESP,
        name: "EFI System Partition".into(),
        content: fs_content(FsType::Vfat, "/boot/efi", None),
        rank: 0,
    }
}

fn boot(disk: usize, origin: Origin, fstype: FsType) -> Req {
    Req {
        want: fixed("/boot", origin, BOOT_SIZE),
        disk,
        type_guid: guid::LINUX_FS,
        name: "boot".into(),
        content: fs_content(fstype, "/boot", Some("boot".into())),
        rank: 1,
    }
}

fn fixed(what: &str, origin: Origin, size: u64) -> Want {
    Want {
        what: what.into(),
        origin,
        base: size,
        grow: false,
        max: None,
        min: None,
    }
}

/// The boot loader partition the firmware needs, unless `bootloader --location=none`.
fn firmware_partition(
    req: &StorageRequest,
    hw: &Hardware,
    disk: usize,
    origin: Origin,
) -> Option<Req> {
    if req.bootloader.location == BootLocation::None {
        return None;
    }
    Some(match hw.firmware {
        Firmware::Bios => bios_boot(disk, origin),
        Firmware::Uefi => esp(disk, origin),
    })
}

/// `autopart`'s partitions, and the volume group to size once they are placed (LVM types).
fn autopart(
    req: &StorageRequest,
    auto: &AutoPart,
    hw: &Hardware,
    disk: usize,
    image_need: Option<u64>,
) -> Result<(Vec<Req>, Option<lvm::Pending>), PlanError> {
    let fstype = match (&auto.fstype, auto.kind) {
        (None, AutoKind::Btrfs) => FsType::Btrfs,
        (None, _) => FsType::Xfs,
        (Some(f), kind) => match FsType::parse(f) {
            Some(FsType::Vfat) | None => {
                return Err(PlanError::Invalid {
                    origin: auto.origin,
                    message: format!(
                        "autopart --fstype={f}: expected xfs, ext4, ext3, ext2 or btrfs"
                    ),
                });
            }
            Some(t) if kind == AutoKind::Btrfs && t != FsType::Btrfs => {
                return Err(PlanError::Invalid {
                    origin: auto.origin,
                    message: format!(
                        "autopart --type=btrfs --fstype={f}: a btrfs layout is btrfs (drop --fstype)"
                    ),
                });
            }
            Some(t) => t,
        },
    };
    let lvm_kind = matches!(auto.kind, AutoKind::Lvm | AutoKind::ThinP);
    let luks = auto
        .encryption
        .as_ref()
        .map(|e| luks::from_request(e, "autopart --encrypted", auto.origin))
        .transpose()?;
    if auto.noboot && hw.firmware == Firmware::Bios && (lvm_kind || luks.is_some()) {
        return Err(PlanError::Invalid {
            origin: auto.origin,
            message: "autopart --noboot with LVM or --encrypted: on BIOS firmware GRUB reads the \
                      kernel from a plain /boot partition (drop --noboot)"
                .into(),
        });
    }
    let mut out: Vec<Req> = firmware_partition(req, hw, disk, auto.origin)
        .into_iter()
        .collect();
    if !auto.noboot {
        // /boot has the root's filesystem; under btrfs it is ext4, as Fedora's btrfs layout.
        let boot_fs = if fstype == FsType::Btrfs {
            FsType::Ext4
        } else {
            fstype
        };
        out.push(boot(disk, auto.origin, boot_fs));
    }
    let min = fstype
        .min_size()
        .max(image_need.map_or(0, |n| align_up(n, MIB)));
    let what = match image_need {
        Some(n) => format!("/ (3 × image {})", crate::units::human(n / IMAGE_MARGIN)),
        None => "/".to_string(),
    };
    let encrypt = |content: Content| match &luks {
        Some(l) => Content::Encrypted {
            luks: l.clone(),
            inner: Box::new(content),
        },
        None => content,
    };
    if lvm_kind {
        let pending = lvm::Pending {
            vg: lvm::AUTOPART_VG.into(),
            thin: auto.kind == AutoKind::ThinP,
            fstype,
            root_min: min,
            home: !auto.nohome,
            encrypted: luks.is_some(),
            origin: auto.origin,
        };
        let size = pending.min_partition();
        out.push(Req {
            want: Want {
                what: format!("LVM physical volume ({})", pending.vg),
                origin: auto.origin,
                base: size,
                grow: true,
                max: None,
                min: Some((size, "LVM")),
            },
            disk,
            type_guid: if luks.is_some() {
                guid::LUKS
            } else {
                guid::LVM
            },
            name: "lvm".into(),
            content: encrypt(Content::PhysicalVolume {
                vg: pending.vg.clone(),
            }),
            rank: 3,
        });
        return Ok((out, Some(pending)));
    }
    let min = if luks.is_some() {
        min + crate::storage::layout::LUKS2_HEADER
    } else {
        min
    };
    let content = if auto.kind == AutoKind::Btrfs {
        let mut subvolumes = vec![Subvolume {
            name: "root".into(),
            mount: "/".into(),
        }];
        if !auto.nohome {
            subvolumes.push(Subvolume {
                name: "home".into(),
                mount: "/home".into(),
            });
        }
        Content::Filesystem(Filesystem {
            fstype,
            label: Some("root".into()),
            mount: None,
            options: None,
            mkfs_options: Vec::new(),
            subvolumes,
        })
    } else {
        fs_content(fstype, "/", Some("root".into()))
    };
    out.push(Req {
        want: Want {
            what,
            origin: auto.origin,
            base: min,
            grow: true,
            max: None,
            min: Some((min, fstype.name())),
        },
        disk,
        type_guid: guid::ROOT_X86_64,
        name: "root".into(),
        content: encrypt(content),
        rank: 3,
    });
    Ok((out, None))
}

/// Anaconda's swap size for `--recommended` (no hibernation).
pub fn recommended_swap(memory: u64) -> u64 {
    let size = if memory < 2 * GIB {
        2 * memory
    } else if memory < 8 * GIB {
        memory
    } else if memory < 64 * GIB {
        memory / 2
    } else {
        4 * GIB
    };
    align_down(size, MIB).max(MIB)
}

pub(super) fn invalid(origin: Origin, message: String) -> PlanError {
    PlanError::Invalid { origin, message }
}

/// Refuses a `--label` longer than `fs` keeps (`what` names the command).
pub(super) fn check_label(
    what: &str,
    fs: FsType,
    label: Option<&str>,
    origin: Origin,
) -> Result<(), PlanError> {
    match label {
        Some(label) if label.len() > fs.max_label() => Err(invalid(
            origin,
            format!(
                "{what} --label={label}: {fs} labels hold at most {} characters",
                fs.max_label()
            ),
        )),
        _ => Ok(()),
    }
}

fn parts(
    req: &StorageRequest,
    hw: &Hardware,
    sel: &Selection,
    boot_disk: usize,
    groups: &volgroup::Groups,
) -> Result<Vec<Req>, PlanError> {
    let mut out = Vec::new();
    let mut mounts: BTreeMap<String, Origin> = BTreeMap::new();
    let owners = raid::owners(req)?;
    for (m, origin) in &groups.mounts {
        if let Some(first) = mounts.insert(m.clone(), *origin) {
            return Err(PlanError::DuplicateMount {
                mount: m.clone(),
                first,
                second: *origin,
            });
        }
    }
    for p in &req.parts {
        let r = part(p, hw, sel, boot_disk, &owners, groups)?;
        let mount = match r.content.opened() {
            Content::Filesystem(fs) => fs.mount.clone(),
            _ => None,
        };
        if let Some(m) = mount {
            if let Some(first) = mounts.insert(m.clone(), p.origin) {
                return Err(PlanError::DuplicateMount {
                    mount: m,
                    first,
                    second: p.origin,
                });
            }
        }
        out.push(r);
    }
    for r in &req.raids {
        if r.mntpoint.starts_with('/') {
            if let Some(first) = mounts.insert(r.mntpoint.clone(), r.origin) {
                return Err(PlanError::DuplicateMount {
                    mount: r.mntpoint.clone(),
                    first,
                    second: r.origin,
                });
            }
        }
    }
    let has = |out: &[Req], guid: &str| out.iter().any(|r| r.type_guid == guid);
    if let Some(rp) = req.reqpart {
        let origin = Origin::default();
        if !has(&out, guid::BIOS_BOOT) && !has(&out, guid::ESP) {
            out.extend(firmware_partition(req, hw, boot_disk, origin));
        }
        if rp.add_boot && !mounts.contains_key("/boot") {
            out.push(boot(boot_disk, origin, FsType::Xfs));
            mounts.insert("/boot".into(), origin);
        }
    }
    if !mounts.contains_key("/") {
        return Err(invalid(
            Origin::default(),
            "no partition is mounted at / (root): add `part / --fstype=xfs --grow` or use \
             `autopart`"
                .into(),
        ));
    }
    if req.bootloader.location != BootLocation::None {
        let (needed, hint, guid) = match hw.firmware {
            Firmware::Bios => (
                "a BIOS boot partition on the GPT disk",
                "part biosboot --fstype=biosboot --size=1",
                guid::BIOS_BOOT,
            ),
            Firmware::Uefi => (
                "an EFI System Partition",
                "part /boot/efi --fstype=efi --size=600",
                guid::ESP,
            ),
        };
        if !has(&out, guid) {
            return Err(PlanError::MissingBootPartition {
                firmware: hw.firmware,
                needed,
                hint,
            });
        }
    }
    Ok(out)
}

fn part(
    p: &PartRequest,
    hw: &Hardware,
    sel: &Selection,
    boot_disk: usize,
    owners: &BTreeMap<String, &RaidRequest>,
    groups: &volgroup::Groups,
) -> Result<Req, PlanError> {
    let m = p.mntpoint.as_str();
    let what = format!("part {m}");
    let disk = match &p.ondisk {
        Some(spec) => {
            let command = format!("part {m} --ondisk");
            let i = resolve(&command, std::slice::from_ref(spec), hw)?[0];
            refuse_boot_medium(&command, &hw.disks[i])?;
            if !sel.usable.contains(&i) {
                return Err(PlanError::Unusable {
                    command,
                    disk: hw.disks[i].name.clone(),
                    why: "ignoredisk excludes it".into(),
                });
            }
            i
        }
        None => boot_disk,
    };
    let fstype = p.fstype.as_deref();
    let mkfs_options = match &p.mkfsoptions {
        Some(o) => shlex::split(o).ok_or_else(|| {
            invalid(
                p.origin,
                format!("{what} --mkfsoptions={o}: unbalanced quotes"),
            )
        })?,
        None => Vec::new(),
    };
    let size = p.size_mib.map(|s| s * MIB);
    let need_size = |default: Option<u64>| -> Result<u64, PlanError> {
        match (size, default) {
            (Some(s), _) => Ok(s),
            (None, _) if p.grow => Ok(0),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(PlanError::NoSize {
                what: what.clone(),
                origin: p.origin,
            }),
        }
    };
    let want = |base: u64, min: Option<(u64, &'static str)>| Want {
        what: what.clone(),
        origin: p.origin,
        base,
        grow: p.grow,
        max: p.maxsize_mib.map(|m| m * MIB),
        min,
    };
    let (type_guid, name, content, base, min, rank) = if let Some(r) = owners.get(m) {
        if p.encryption.is_some() {
            return Err(invalid(
                p.origin,
                format!(
                    "{what} --encrypted: encrypt the array instead (`raid … --encrypted`), as \
                     Anaconda does; its members hold md's superblock"
                ),
            ));
        }
        let content = Content::RaidMember {
            array: r.device.clone(),
            member: m.to_string(),
        };
        let base = need_size(None)?;
        let min = Some((4 * MIB, "an md member"));
        (
            raid::member_type(r),
            format!("raid-{}", r.device),
            content,
            base,
            min,
            raid::member_rank(r),
        )
    } else if m == "biosboot" || fstype == Some("biosboot") {
        let base = need_size(Some(BIOS_BOOT_SIZE))?;
        (
            guid::BIOS_BOOT,
            "BIOS boot".to_string(),
            Content::BiosBoot,
            base,
            None,
            0,
        )
    } else if let Some(vg) = groups.owner.get(m) {
        let base = need_size(None)?;
        // The PV's metadata and at least one extent, inside the LUKS container if any.
        let luks = p.encryption.as_ref().map_or(0, |_| LUKS2_HEADER);
        let min = lvm::PV_DATA_START + lvm::EXTENT + luks;
        let type_guid = if p.encryption.is_some() {
            guid::LUKS
        } else {
            guid::LVM
        };
        let content = Content::PhysicalVolume { vg: vg.clone() };
        (
            type_guid,
            m.to_string(),
            content,
            base,
            Some((min, "LVM")),
            2,
        )
    } else if m == "swap" || fstype == Some("swap") {
        let base = if p.recommended {
            recommended_swap(hw.memory_bytes)
        } else {
            need_size(None)?
        };
        let content = Content::Swap {
            label: p.label.clone(),
            mkfs_options,
        };
        (
            guid::SWAP,
            "swap".to_string(),
            content,
            base,
            Some((40 * 1024, "swap")),
            2,
        )
    } else if m.starts_with('/') {
        let fs = match fstype {
            None if m == "/boot/efi" => FsType::Vfat,
            None => FsType::Xfs,
            Some(f) => FsType::parse(f).ok_or_else(|| {
                invalid(
                    p.origin,
                    format!(
                        "{what} --fstype={f}: expected xfs, ext4, ext3, ext2, btrfs, vfat, efi, \
                             swap or biosboot"
                    ),
                )
            })?,
        };
        let esp = m == "/boot/efi" || fstype == Some("efi");
        if esp && fs != FsType::Vfat {
            return Err(invalid(
                p.origin,
                format!("{what}: the EFI System Partition must be vfat (found --fstype={fs})"),
            ));
        }
        check_label(&what, fs, p.label.as_deref(), p.origin)?;
        let content = Content::Filesystem(Filesystem {
            fstype: fs,
            label: p.label.clone(),
            mount: Some(m.to_string()),
            options: p.fsoptions.clone(),
            mkfs_options,
            subvolumes: Vec::new(),
        });
        let (type_guid, name, rank) = if esp {
            (guid::ESP, "EFI System Partition".to_string(), 0)
        } else if m == "/boot" {
            (guid::LINUX_FS, "boot".to_string(), 1)
        } else if m == "/" {
            (guid::ROOT_X86_64, "root".to_string(), 2)
        } else {
            (
                guid::for_mount(m),
                m.trim_start_matches('/').replace('/', "-"),
                2,
            )
        };
        let default = esp.then_some(ESP_SIZE);
        let base = need_size(default)?;
        (
            type_guid,
            name,
            content,
            base,
            Some((fs.min_size(), fs.name())),
            rank,
        )
    } else {
        return Err(invalid(
            p.origin,
            format!("{what}: expected a mount point (/…), swap or biosboot as the first argument"),
        ));
    };
    let content = if let Some(encryption) = &p.encryption {
        if matches!(&content, Content::BiosBoot) || type_guid == guid::ESP || m == "/boot" {
            return Err(invalid(
                p.origin,
                format!(
                    "{what} --encrypted: the firmware and boot loader read this partition, so it \
                     cannot be encrypted (drop --encrypted)"
                ),
            ));
        }
        let luks = luks::from_request(encryption, &format!("{what} --encrypted"), p.origin)?;
        Content::Encrypted {
            luks,
            inner: Box::new(content),
        }
    } else {
        content
    };
    Ok(Req {
        want: want(base, min),
        disk,
        type_guid,
        name,
        content,
        rank,
    })
}

/// With `/boot` (or the root holding it, or the ESP) on a RAID1 array, the boot loader goes
/// onto every disk holding a member: under BIOS each such disk needs its own BIOS boot
/// partition for GRUB's core image.
fn check_boot_disks(plan: &StoragePlan) -> Result<(), PlanError> {
    if plan.firmware != Firmware::Bios {
        return Ok(());
    }
    let Some(array) = plan
        .array_for_mount("/boot")
        .or_else(|| plan.array_for_mount("/"))
    else {
        return Ok(());
    };
    for name in plan.boot_disks() {
        let Some(disk) = plan.disks.iter().find(|d| d.name == name) else {
            continue;
        };
        if !disk
            .partitions
            .iter()
            .any(|p| p.content == Content::BiosBoot)
        {
            return Err(invalid(
                array.origin,
                format!(
                    "RAID device {} holds /boot on disks {}: GRUB goes onto each of them so \
                     either boots alone, and BIOS firmware needs a BIOS boot partition on {name} \
                     for it (add `part biosboot --fstype=biosboot --size=1 --ondisk={name}`)",
                    array.name,
                    plan.boot_disks().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The largest 1 MiB-aligned free region between `kept` partitions.
fn largest_gap(
    disk_size: u64,
    sector_size: u64,
    kept: &[crate::hardware::ExistingPartition],
) -> (u64, u64) {
    let taken: Vec<(u64, u64)> = kept.iter().map(|p| (p.start, p.start + p.size)).collect();
    super::alloc::largest_free(usable_region(disk_size, sector_size), &taken)
}
