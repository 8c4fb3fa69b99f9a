//! Manual LVM layouts: `part pv.N` partitions become physical volumes (LUKS under them with
//! `--encrypted`), `volgroup` makes a volume group on them and `logvol` its logical volumes,
//! thin pools and thin volumes.
//!
//! [`check`] runs before any partition is placed (names, references, mount points); [`size`]
//! once the physical volume partitions have their sizes. Sizes follow Anaconda (blivet's
//! `grow_lvm`): fixed `--size` volumes first (a thin pool at least the fixed thin volumes in
//! it plus its metadata), then `--percent` volumes take their share of what the fixed ones
//! leave, then `--grow` volumes share the rest in proportion to their sizes, up to
//! `--maxsize`. Everything is whole extents (LVM rounds a size up to an extent); one extent,
//! `--reserved-space`/`--reserved-percent` and the spare copy of the largest pool metadata
//! (LVM's `pmspare`) stay free. A pool's metadata is `--metadatasize` or, as `autopart`, 0.1 %
//! of the pool (at least 4 MiB), taken from the pool's size; its thin volumes then share the
//! pool's data the same way (a thin `--percent` is of its pool). Differences from Anaconda:
//! a `part pv.N` no `volgroup` uses, and `logvol none` outside a thin pool, are refused
//! rather than made and left unused.

use super::alloc::{Want, allocate};
use super::error::PlanError;
use super::layout::{
    Content, DiskPlan, Filesystem, FsType, LUKS2_HEADER, LogicalVolume, ThinPool, VolumeGroup,
};
use super::luks;
use super::lvm::{EXTENT, PV_DATA_START, pool_metadata};
use super::plan::{check_label, invalid};
use super::request::{LogVolRequest, LvKind, Origin, StorageRequest, VolGroupRequest};
use crate::hardware::{Firmware, Hardware};
use crate::units::{KIB, MIB, align_down, align_up, human};
use std::collections::BTreeMap;

/// What the partition planner needs to know about the volume groups.
#[derive(Debug, Default)]
pub(super) struct Groups {
    /// `pv.N` → the volume group that uses it.
    pub owner: BTreeMap<String, String>,
    /// Mount points of logical volumes (and `swap`s are not listed), with their lines.
    pub mounts: Vec<(String, Origin)>,
}

/// LVM's rule for names (blivet's `is_lvm_name_valid`): letters, digits and `+_.-`, not
/// starting with `-`, not `.` or `..`, at most 55 characters.
fn lvm_name_error(name: &str) -> Option<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+_.-".contains(c);
    if name.is_empty() || name == "." || name == ".." {
        return Some("it is empty, `.` or `..`".into());
    }
    if name.starts_with('-') {
        return Some("it starts with `-`".into());
    }
    if let Some(c) = name.chars().find(|c| !ok_char(*c)) {
        return Some(format!(
            "`{c}` is not allowed (letters, digits and + _ . - are)"
        ));
    }
    if name.len() > 55 {
        return Some(format!(
            "it has {} characters, at most 55 are allowed",
            name.len()
        ));
    }
    None
}

/// LVM's further rules for logical volume names: reserved words and suffixes.
fn lv_name_error(name: &str) -> Option<String> {
    if let Some(e) = lvm_name_error(name) {
        return Some(e);
    }
    for word in ["snapshot", "pvmove"] {
        if name.contains(word) {
            return Some(format!("LVM reserves names containing `{word}`"));
        }
    }
    const SUFFIXES: &[&str] = &[
        "_cdata", "_cmeta", "_corig", "_mlog", "_mimage", "_pmspare", "_rimage", "_rmeta",
        "_tdata", "_tmeta", "_vorigin", "_vdata",
    ];
    SUFFIXES
        .iter()
        .find(|s| name.contains(*s))
        .map(|s| format!("LVM reserves names containing `{s}` for its internal volumes"))
}

/// Names of volume groups on disks the plan leaves alone (the clash is decided here, not at
/// `vgcreate` after the disks were written), with where each was seen.
pub(super) fn existing(hw: &Hardware, cleared: &[usize]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, d) in hw.disks.iter().enumerate() {
        if cleared.contains(&i) {
            continue;
        }
        for s in d.signatures.iter().filter(|s| s.kind == "LVM2_member") {
            if let Some(vg) = &s.label {
                out.push((vg.clone(), d.name.clone()));
            }
        }
        for p in &d.partitions {
            if let Some(vg) = p
                .signature
                .as_ref()
                .filter(|s| s.kind == "LVM2_member")
                .and_then(|s| s.label.as_ref())
            {
                out.push((vg.clone(), format!("{} partition {}", d.name, p.number)));
            }
        }
    }
    out
}

/// Refuses a new volume group named like one that stays on the disks.
pub(super) fn check_unused_name(
    name: &str,
    command: &str,
    origin: Origin,
    existing: &[(String, String)],
) -> Result<(), PlanError> {
    if let Some((_, at)) = existing.iter().find(|(vg, _)| vg == name) {
        return Err(invalid(
            origin,
            format!(
                "{command}: a volume group named {name} already exists ({at}), and that disk is \
                 not cleared; choose another name or clear it with `clearpart`"
            ),
        ));
    }
    Ok(())
}

/// Checks the `part pv.N`, `volgroup` and `logvol` commands before anything is placed.
pub(super) fn check(
    req: &StorageRequest,
    hw: &Hardware,
    cleared: &[usize],
) -> Result<Groups, PlanError> {
    let mut groups = Groups::default();
    let mut pv_lines: BTreeMap<&str, Origin> = BTreeMap::new();
    for p in req.parts.iter().filter(|p| p.mntpoint.starts_with("pv.")) {
        if let Some(first) = pv_lines.insert(&p.mntpoint, p.origin) {
            return Err(invalid(
                p.origin,
                format!(
                    "part {}: the physical volume is defined twice (first at {first}); give \
                     each `part pv.N` its own name",
                    p.mntpoint
                ),
            ));
        }
        if let Some(f) = p.fstype.as_deref().filter(|f| *f != "lvmpv") {
            return Err(invalid(
                p.origin,
                format!(
                    "part {} --fstype={f}: a pv.N partition is an LVM physical volume (drop \
                     --fstype)",
                    p.mntpoint
                ),
            ));
        }
    }
    let existing = existing(hw, cleared);
    let mut names: BTreeMap<&str, Origin> = BTreeMap::new();
    for vg in &req.volgroups {
        let what = format!("volgroup {}", vg.name);
        if let Some(e) = lvm_name_error(&vg.name) {
            return Err(invalid(
                vg.origin,
                format!("{what}: not a valid volume group name: {e}"),
            ));
        }
        if let Some(first) = names.insert(&vg.name, vg.origin) {
            return Err(invalid(
                vg.origin,
                format!("{what}: a volume group with this name is already defined at {first}"),
            ));
        }
        check_unused_name(&vg.name, &what, vg.origin, &existing)?;
        if let Some(kib) = vg.pesize_kib {
            if !kib.is_power_of_two() || !(1..=16 * 1024 * 1024).contains(&kib) {
                return Err(invalid(
                    vg.origin,
                    format!(
                        "{what} --pesize={kib}: expected a power of two between 1 and 16777216 \
                         KiB (e.g. 4096 for LVM's default 4 MiB)"
                    ),
                ));
            }
        }
        if vg.physvols.is_empty() {
            return Err(invalid(
                vg.origin,
                format!(
                    "{what}: no physical volumes (expected `volgroup {} pv.01 …`)",
                    vg.name
                ),
            ));
        }
        for pv in &vg.physvols {
            if req.raids.iter().any(|r| r.mntpoint == *pv) {
                return Err(PlanError::NotSupportedYet {
                    what: format!("{what} on the RAID device {pv} (LVM on software RAID)"),
                    origin: vg.origin,
                });
            }
            if !pv_lines.contains_key(pv.as_str()) {
                return Err(invalid(
                    vg.origin,
                    format!(
                        "{what}: physical volume {pv} is not defined (expected a `part {pv} \
                         --size=… ` command)"
                    ),
                ));
            }
            if let Some(other) = groups.owner.insert(pv.clone(), vg.name.clone()) {
                return Err(invalid(
                    vg.origin,
                    format!("{what}: physical volume {pv} already belongs to volume group {other}"),
                ));
            }
        }
    }
    if let Some((pv, origin)) = pv_lines
        .iter()
        .find(|(pv, _)| !groups.owner.contains_key(**pv))
    {
        return Err(invalid(
            *origin,
            format!(
                "part {pv}: no volgroup uses this physical volume (expected `volgroup NAME \
                 {pv}`, or drop the partition)"
            ),
        ));
    }
    let mut lv_names: BTreeMap<(&str, &str), Origin> = BTreeMap::new();
    for lv in &req.logvols {
        let what = describe(lv);
        if !names.contains_key(lv.vgname.as_str()) {
            return Err(invalid(
                lv.origin,
                format!(
                    "{what}: no volume group {} is defined (expected `volgroup {} pv.N…`; \
                     Kickstand does not use existing volume groups)",
                    lv.vgname, lv.vgname
                ),
            ));
        }
        if let Some(e) = lv_name_error(&lv.name) {
            return Err(invalid(
                lv.origin,
                format!("{what}: not a valid logical volume name: {e}"),
            ));
        }
        if let Some(first) = lv_names.insert((&lv.vgname, &lv.name), lv.origin) {
            return Err(invalid(
                lv.origin,
                format!(
                    "{what}: volume group {} already has a logical volume {} ({first})",
                    lv.vgname, lv.name
                ),
            ));
        }
        check_logvol(req, lv, &what)?;
        let m = lv.mntpoint.as_str();
        if m.starts_with('/') {
            groups.mounts.push((m.to_string(), lv.origin));
        }
    }
    // GRUB on BIOS reads the kernel from a plain /boot (as `autopart --noboot` with LVM).
    let root_on_lvm = groups.mounts.iter().find(|(m, _)| m == "/");
    let boot_part =
        req.parts.iter().any(|p| p.mntpoint == "/boot") || req.reqpart.is_some_and(|r| r.add_boot);
    if let (Some((_, origin)), Firmware::Bios, false) = (root_on_lvm, hw.firmware, boot_part) {
        return Err(invalid(
            *origin,
            "logvol / without a /boot partition: on BIOS firmware GRUB reads the kernel from a \
             plain /boot partition (add `part /boot --size=1024`)"
                .into(),
        ));
    }
    Ok(groups)
}

fn describe(lv: &LogVolRequest) -> String {
    format!(
        "logvol {} --vgname={} --name={}",
        lv.mntpoint, lv.vgname, lv.name
    )
}

/// Checks of one `logvol` that need no sizes.
fn check_logvol(req: &StorageRequest, lv: &LogVolRequest, what: &str) -> Result<(), PlanError> {
    let m = lv.mntpoint.as_str();
    match &lv.kind {
        LvKind::ThinPool { .. } => {
            if m != "none" {
                return Err(invalid(
                    lv.origin,
                    format!(
                        "{what}: a thin pool holds thin volumes, not a filesystem (expected \
                         `logvol none --thinpool …`)"
                    ),
                ));
            }
            if lv.encryption.is_some() {
                return Err(invalid(
                    lv.origin,
                    format!(
                        "{what} --encrypted: a thin pool cannot be encrypted (encrypt its thin \
                         volumes, or the physical volumes)"
                    ),
                ));
            }
        }
        LvKind::Thin { pool } => {
            let defined = req.logvols.iter().any(|p| {
                p.vgname == lv.vgname
                    && p.name == *pool
                    && matches!(p.kind, LvKind::ThinPool { .. })
            });
            if !defined {
                return Err(invalid(
                    lv.origin,
                    format!(
                        "{what} --thin: volume group {} has no thin pool {pool} (expected \
                         `logvol none --vgname={} --name={pool} --thinpool --size=…`)",
                        lv.vgname, lv.vgname
                    ),
                ));
            }
        }
        LvKind::Linear => {}
    }
    if matches!(lv.kind, LvKind::ThinPool { .. }) {
        return Ok(());
    }
    if m == "/boot" || m.starts_with("/boot/") {
        return Err(invalid(
            lv.origin,
            format!(
                "{what}: {m} cannot be on LVM: the firmware and boot loader read it from a plain \
                 partition (use `part {m} …`)"
            ),
        ));
    }
    if !(m.starts_with('/') || m == "swap") {
        return Err(invalid(
            lv.origin,
            format!("{what}: expected a mount point (/…) or swap as the first argument"),
        ));
    }
    if lv.recommended && m != "swap" {
        return Err(invalid(
            lv.origin,
            format!("{what} --recommended: only a swap volume is sized from the memory"),
        ));
    }
    Ok(())
}

/// What goes into a volume, its smallest size and the filesystem's name for messages.
type Filling = (Content, u64, &'static str);

/// What goes into a (non-pool) logical volume.
fn content(lv: &LogVolRequest, what: &str) -> Result<Filling, PlanError> {
    let mkfs_options = match &lv.mkfsoptions {
        Some(o) => shlex::split(o).ok_or_else(|| {
            invalid(
                lv.origin,
                format!("{what} --mkfsoptions={o}: unbalanced quotes"),
            )
        })?,
        None => Vec::new(),
    };
    let fstype = lv.fstype.as_deref();
    let (inner, min, fs_name) = if lv.mntpoint == "swap" || fstype == Some("swap") {
        let c = Content::Swap {
            label: lv.label.clone(),
            mkfs_options,
        };
        (c, 40 * KIB, "swap")
    } else {
        let fs = match fstype {
            None => FsType::Xfs,
            Some(f) => FsType::parse(f)
                .filter(|t| *t != FsType::Vfat || f == "vfat")
                .ok_or_else(|| {
                    invalid(
                        lv.origin,
                        format!(
                            "{what} --fstype={f}: expected xfs, ext4, ext3, ext2, vfat or swap"
                        ),
                    )
                })?,
        };
        check_label(what, fs, lv.label.as_deref(), lv.origin)?;
        let c = Content::Filesystem(Filesystem {
            fstype: fs,
            label: lv.label.clone(),
            mount: Some(lv.mntpoint.clone()),
            options: lv.fsoptions.clone(),
            mkfs_options,
            subvolumes: Vec::new(),
        });
        (c, fs.min_size(), fs.name())
    };
    match &lv.encryption {
        Some(e) => {
            let luks = luks::from_request(e, &format!("{what} --encrypted"), lv.origin)?;
            let c = Content::Encrypted {
                luks,
                inner: Box::new(inner),
            };
            Ok((c, min + LUKS2_HEADER, fs_name))
        }
        None => Ok((inner, min, fs_name)),
    }
}

/// One volume (or pool) competing for space.
struct Item<'a> {
    lv: &'a LogVolRequest,
    /// Bytes before growing (whole extents).
    base: u64,
    content: Option<Filling>,
}

impl Item<'_> {
    fn want(&self, vg: &str) -> Want {
        Want {
            what: format!(
                "logical volume {vg}/{} ({})",
                self.lv.name, self.lv.mntpoint
            ),
            origin: self.lv.origin,
            base: self.base,
            grow: self.lv.grow,
            max: self.lv.maxsize_mib.map(|m| m * MIB),
            min: self.content.as_ref().map(|(_, min, fs)| (*min, *fs)),
        }
    }
}

/// The fixed size a volume asks for (`--size`, or the RAM rule for `--recommended` swap), in
/// whole units; 0 for a `--percent` volume.
fn fixed_size(lv: &LogVolRequest, memory: u64, unit: u64) -> u64 {
    let bytes = if lv.recommended {
        super::plan::recommended_swap(memory)
    } else {
        lv.size_mib.unwrap_or(0) * MIB
    };
    align_up(bytes, unit)
}

/// Sizes every volume group of `req` once its physical volume partitions are placed.
pub(super) fn size(
    req: &StorageRequest,
    disks: &[DiskPlan],
    memory: u64,
) -> Result<Vec<VolumeGroup>, PlanError> {
    req.volgroups
        .iter()
        .map(|vg| size_group(req, vg, disks, memory))
        .collect()
}

fn size_group(
    req: &StorageRequest,
    vg: &VolGroupRequest,
    disks: &[DiskPlan],
    memory: u64,
) -> Result<VolumeGroup, PlanError> {
    let pe = vg.pesize_kib.map_or(EXTENT, |k| k * KIB);
    // Sizes are whole extents and whole MiB (the allocator's unit).
    let unit = pe.max(MIB);
    let total: u64 = disks
        .iter()
        .flat_map(|d| &d.partitions)
        .filter(
            |p| matches!(p.content.opened(), Content::PhysicalVolume { vg: v } if *v == vg.name),
        )
        .map(|p| {
            let luks = if matches!(p.content, Content::Encrypted { .. }) {
                LUKS2_HEADER
            } else {
                0
            };
            align_down(p.size.saturating_sub(luks + PV_DATA_START), pe)
        })
        .sum();
    let reserved = match (vg.reserved_space_mib, vg.reserved_percent) {
        (Some(mib), _) => mib * MIB,
        (None, Some(pct)) => total / 100 * pct,
        (None, None) => 0,
    };
    let reserved = align_up(reserved, pe);
    let lvs: Vec<&LogVolRequest> = req.logvols.iter().filter(|l| l.vgname == vg.name).collect();
    let usable = total.saturating_sub(pe + reserved);
    let meta_of = |lv: &LogVolRequest, pool_size: u64| match &lv.kind {
        LvKind::ThinPool {
            metadatasize_mib: Some(m),
            ..
        } => align_up(m * MIB, unit),
        _ => align_up(pool_metadata(pool_size), unit),
    };
    // LVM's spare copy of the largest pool metadata, estimated from the whole group (the
    // most any pool can get), so it never runs short.
    let pmspare = lvs
        .iter()
        .filter(|l| matches!(l.kind, LvKind::ThinPool { .. }))
        .map(|l| meta_of(l, usable))
        .max()
        .unwrap_or(0);

    let mut items = Vec::new();
    for lv in lvs
        .iter()
        .filter(|l| !matches!(l.kind, LvKind::Thin { .. }))
    {
        let what = describe(lv);
        let mut base = fixed_size(lv, memory, unit);
        let content = match lv.kind {
            LvKind::ThinPool { .. } => {
                // At least the fixed thin volumes in it, and its metadata (no overcommit).
                let thin: u64 = thin_in(&lvs, &lv.name)
                    .iter()
                    .map(|t| fixed_size(t, memory, unit))
                    .sum();
                if thin > 0 {
                    base = base.max(thin + meta_of(lv, thin));
                }
                None
            }
            _ => Some(content(lv, &what)?),
        };
        if lv.size_mib.is_some_and(|s| s * MIB < pe) && !lv.grow {
            return Err(invalid(
                lv.origin,
                format!(
                    "{what} --size={}: a logical volume is at least one extent ({})",
                    lv.size_mib.unwrap_or(0),
                    human(pe)
                ),
            ));
        }
        items.push(Item { lv, base, content });
    }
    let percents: u64 = items.iter().filter_map(|i| i.lv.percent).sum();
    if percents > 100 {
        return Err(invalid(
            vg.origin,
            format!(
                "volgroup {}: its logical volumes ask for {percents} % of its free space \
                 (--percent), at most 100 % can be given",
                vg.name
            ),
        ));
    }
    let space = Space {
        total,
        usable,
        reserved,
        unit,
    };
    let mut placed = place(&vg.name, vg.origin, &items, &space, pmspare)?;
    // The spare was estimated from the whole group: with the pools' real metadata known,
    // give what it does not need back to the volumes (once; kept only if it still fits).
    let pools_meta = |sizes: &[u64]| {
        items
            .iter()
            .zip(sizes)
            .filter(|(i, _)| matches!(i.lv.kind, LvKind::ThinPool { .. }))
            .map(|(i, s)| meta_of(i.lv, *s))
            .max()
            .unwrap_or(0)
    };
    let needed_spare = pools_meta(&placed);
    if needed_spare < pmspare {
        if let Ok(again) = place(&vg.name, vg.origin, &items, &space, needed_spare) {
            if pools_meta(&again) <= needed_spare {
                placed = again;
            }
        }
    }
    let mut thin_pools = Vec::new();
    let mut sizes: BTreeMap<&str, SizedVolume> = BTreeMap::new();
    for (item, size) in items.into_iter().zip(placed) {
        if let LvKind::ThinPool { chunksize_kib, .. } = item.lv.kind {
            let meta = meta_of(item.lv, size);
            let data = size.saturating_sub(meta);
            let pool_what = format!("thin pool {}/{}", vg.name, item.lv.name);
            let thin = thin_in(&lvs, &item.lv.name);
            for (t, s) in size_thin(&pool_what, item.lv.origin, data, &thin, memory, unit)? {
                sizes.insert(&t.name, s);
            }
            thin_pools.push(ThinPool {
                name: item.lv.name.clone(),
                size: data,
                metadata_size: meta,
                chunk_size: chunksize_kib.map(|k| k * KIB),
            });
        } else {
            sizes.insert(&item.lv.name, (size, item.content));
        }
    }
    let mut volumes = Vec::new();
    for lv in lvs
        .iter()
        .filter(|l| !matches!(l.kind, LvKind::ThinPool { .. }))
    {
        let (size, content) = sizes
            .remove(lv.name.as_str())
            .expect("every volume was sized");
        let (content, _, _) = content.expect("volumes have contents");
        volumes.push(LogicalVolume {
            name: lv.name.clone(),
            size,
            thin_pool: match &lv.kind {
                LvKind::Thin { pool } => Some(pool.clone()),
                _ => None,
            },
            content,
        });
    }
    Ok(VolumeGroup {
        name: vg.name.clone(),
        extent_size: pe,
        size: total,
        thin_pools,
        volumes,
        origin: vg.origin,
    })
}

/// A volume group's space, for [`place`].
struct Space {
    /// Bytes of extents on the physical volumes.
    total: u64,
    /// What the volumes may take (one extent and the reserved space kept free).
    usable: u64,
    reserved: u64,
    /// Sizes are multiples of this (the extent, at least 1 MiB).
    unit: u64,
}

/// Final sizes of `items` (fixed, then `--percent`, then `--grow`) with `pmspare` bytes kept
/// for LVM's spare pool metadata.
fn place(
    vg: &str,
    origin: Origin,
    items: &[Item],
    space: &Space,
    pmspare: u64,
) -> Result<Vec<u64>, PlanError> {
    let Space {
        total,
        usable,
        reserved,
        unit,
    } = *space;
    let fixed: u64 = items.iter().map(|i| i.base).sum();
    let basis = usable.saturating_sub(pmspare + fixed);
    let bases: Vec<u64> = items
        .iter()
        .map(|i| match i.lv.percent {
            Some(pct) => align_down(basis / 100 * pct, unit).max(unit),
            None => i.base,
        })
        .collect();
    let needed: u64 = pmspare + bases.iter().map(|b| (*b).max(unit)).sum::<u64>();
    if needed > usable {
        let mut parts: Vec<String> = items
            .iter()
            .zip(&bases)
            .map(|(i, b)| format!("{} {}", i.lv.name, human((*b).max(unit))))
            .collect();
        if pmspare > 0 {
            parts.push(format!("thin pool metadata spare {}", human(pmspare)));
        }
        return Err(invalid(
            origin,
            format!(
                "volume group {vg} has {} for logical volumes ({} on its physical volumes, less \
                 one extent{}) but they need {}, {} too much: {}; make them smaller or give \
                 the physical volumes more space",
                human(usable),
                human(total),
                if reserved > 0 {
                    format!(" and {} reserved", human(reserved))
                } else {
                    String::new()
                },
                human(needed),
                human(needed - usable),
                parts.join(" + ")
            ),
        ));
    }
    let wants: Vec<Want> = items
        .iter()
        .zip(&bases)
        .map(|(i, b)| Want {
            base: *b,
            ..i.want(vg)
        })
        .collect();
    let placed = allocate(
        &format!("volume group {vg}"),
        total,
        (0, usable - pmspare),
        &wants,
    )?;
    Ok(items
        .iter()
        .zip(bases)
        .zip(placed)
        .map(|((i, base), (_, got))| {
            if i.lv.grow {
                align_down(got, unit)
            } else {
                base
            }
        })
        .collect())
}

/// The thin volumes of `pool`, in kickstart order.
fn thin_in<'a>(lvs: &[&'a LogVolRequest], pool: &str) -> Vec<&'a LogVolRequest> {
    lvs.iter()
        .copied()
        .filter(|l| matches!(&l.kind, LvKind::Thin { pool: p } if p == pool))
        .collect()
}

/// A volume's size and what goes into it (none for a pool).
type SizedVolume = (u64, Option<Filling>);

/// Sizes the thin volumes of one pool of `data` bytes, as the group's volumes are sized.
fn size_thin<'a>(
    pool: &str,
    origin: Origin,
    data: u64,
    thin: &[&'a LogVolRequest],
    memory: u64,
    unit: u64,
) -> Result<Vec<(&'a LogVolRequest, SizedVolume)>, PlanError> {
    let mut items = Vec::new();
    for lv in thin {
        let c = content(lv, &describe(lv))?;
        items.push(Item {
            lv,
            base: fixed_size(lv, memory, unit),
            content: Some(c),
        });
    }
    let fixed: u64 = items.iter().map(|i| i.base).sum();
    let percents: u64 = items.iter().filter_map(|i| i.lv.percent).sum();
    if percents > 100 {
        return Err(invalid(
            origin,
            format!(
                "{pool}: its thin volumes ask for {percents} % of it, at most 100 % can be given"
            ),
        ));
    }
    let basis = data.saturating_sub(fixed);
    for i in items.iter_mut() {
        if let Some(pct) = i.lv.percent {
            i.base = align_down(basis / 100 * pct, unit).max(unit);
        }
    }
    let needed: u64 = items.iter().map(|i| i.base.max(unit)).sum();
    if needed > data {
        return Err(invalid(
            origin,
            format!(
                "{pool} has {} for data but its thin volumes need {}, {} too much: {}; give \
                 the pool a bigger --size or --grow",
                human(data),
                human(needed),
                human(needed - data),
                items
                    .iter()
                    .map(|i| format!("{} {}", i.lv.name, human(i.base.max(unit))))
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        ));
    }
    let vg = &thin.first().map(|l| l.vgname.clone()).unwrap_or_default();
    let wants: Vec<Want> = items.iter().map(|i| i.want(vg)).collect();
    let placed = allocate(pool, data, (0, data), &wants)?;
    Ok(items
        .into_iter()
        .zip(placed)
        .map(|(i, (_, got))| {
            let size = if i.lv.grow {
                align_down(got, unit)
            } else {
                i.base
            };
            (i.lv, (size, i.content))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{Disk, ExistingPartition, Signature, TableKind};
    use crate::storage::from_kickstart::request;
    use crate::storage::layout::StoragePlan;
    use crate::storage::plan::{ImageFacts, plan_request};
    use crate::units::GIB;

    fn disk(name: &str, gib: u64) -> Disk {
        Disk {
            name: name.into(),
            path: format!("/dev/{name}").into(),
            size: gib * GIB,
            logical_sector_size: 512,
            physical_sector_size: 512,
            ..Disk::default()
        }
    }

    fn hw(firmware: Firmware, disks: &[(&str, u64)]) -> Hardware {
        Hardware {
            disks: disks.iter().map(|(n, g)| disk(n, *g)).collect(),
            firmware,
            memory_bytes: 4 * GIB,
        }
    }

    fn req(text: &str) -> StorageRequest {
        let parsed = kickstand_grammar::parse("ks.cfg", text, &kickstand_grammar::NoIncludes);
        let errors: Vec<String> = parsed.errors().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        request(&parsed.kickstart)
    }

    fn plan_on(r: &StorageRequest, hw: &Hardware) -> Result<StoragePlan, PlanError> {
        plan_request(r, hw, &ImageFacts::default())
    }

    fn plan(text: &str) -> StoragePlan {
        plan_on(&req(text), &hw(Firmware::Uefi, &[("vda", 20)])).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(r: &StorageRequest) -> String {
        match plan_on(r, &hw(Firmware::Uefi, &[("vda", 20)])) {
            Ok(p) => panic!("expected an error, got {p:#?}"),
            Err(e) => e.to_string(),
        }
    }

    fn error_of(text: &str) -> String {
        error(&req(text))
    }

    const BASE: &str = "clearpart --all\nreqpart\npart /boot --size=1024\npart pv.01 --grow\n\
                        volgroup vg0 pv.01\n";

    fn lv<'a>(p: &'a StoragePlan, name: &str) -> &'a LogicalVolume {
        p.volume_groups[0]
            .volumes
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    }

    #[test]
    fn fixed_then_grow_then_thin_volumes_in_their_pool() {
        let p = plan(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=4096\n\
             logvol swap --vgname=vg0 --name=swap --size=1000\n\
             logvol none --vgname=vg0 --name=pool --thinpool --size=1024 --grow\n\
             logvol /home --vgname=vg0 --name=home --thin --poolname=pool --size=500 --grow\n"
        ));
        let pv = &p.disks[0].partitions[2];
        assert_eq!(pv.type_guid, super::super::guid::LVM);
        assert!(matches!(&pv.content, Content::PhysicalVolume { vg } if vg == "vg0"));
        let vg = &p.volume_groups[0];
        assert_eq!(vg.size, align_down(pv.size - MIB, EXTENT));
        assert_eq!(lv(&p, "root").size, 4096 * MIB);
        assert_eq!(lv(&p, "swap").size, 1000 * MIB, "1000 MiB is whole extents");
        let pool = &vg.thin_pools[0];
        assert_eq!(
            pool.metadata_size,
            align_up(pool_metadata(pool.size), MIB).max(4 * MIB)
        );
        // The pool takes everything but one extent and the metadata spare.
        assert_eq!(
            4096 * MIB + 1000 * MIB + pool.size + pool.metadata_size * 2 + EXTENT,
            vg.size
        );
        let home = lv(&p, "home");
        assert_eq!(home.thin_pool.as_deref(), Some("pool"));
        assert_eq!(home.size, pool.size, "a growing thin volume fills its pool");
        assert!(vg.volumes.iter().all(|v| v.size % EXTENT == 0));
        let names: Vec<&str> = vg.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            ["root", "swap", "home"],
            "kickstart order, pools apart"
        );
    }

    #[test]
    fn percent_is_of_what_the_fixed_volumes_leave_and_grow_stops_at_maxsize() {
        let p = plan(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=4096\n\
             logvol /srv --vgname=vg0 --name=srv --percent=50\n\
             logvol /var --vgname=vg0 --name=var --size=1024 --grow --maxsize=2048\n"
        ));
        let vg = &p.volume_groups[0];
        let free = vg.size - EXTENT - 4096 * MIB - 1024 * MIB;
        assert_eq!(lv(&p, "srv").size, align_down(free / 100 * 50, EXTENT));
        assert_eq!(lv(&p, "var").size, 2048 * MIB);
    }

    #[test]
    fn extent_size_reserved_space_and_recommended_swap() {
        let p = plan(
            "clearpart --all\nreqpart\npart /boot --size=1024\npart pv.01 --grow\n\
             volgroup vg0 pv.01 --pesize=32768 --reserved-space=1000\n\
             logvol / --vgname=vg0 --name=root --size=1000 --grow\n\
             logvol swap --vgname=vg0 --name=swap --recommended\n",
        );
        let vg = &p.volume_groups[0];
        assert_eq!(vg.extent_size, 32 * MIB);
        assert_eq!(lv(&p, "swap").size, 4 * GIB, "4 GiB of memory");
        let root = lv(&p, "root").size;
        assert_eq!(root % (32 * MIB), 0);
        assert!(
            root + 4 * GIB + 32 * MIB + 1024 * MIB <= vg.size,
            "1000 MiB reserved"
        );
        assert!(root + 4 * GIB + 32 * MIB + 1024 * MIB + 32 * MIB > vg.size);
    }

    #[test]
    fn encrypted_physical_and_logical_volumes() {
        let p = plan(
            "clearpart --all\nreqpart\npart /boot --size=1024\n\
             part pv.01 --grow --encrypted --passphrase=pv-secret\nvolgroup vg0 pv.01\n\
             logvol / --vgname=vg0 --name=root --size=2000\n\
             logvol /data --vgname=vg0 --name=data --size=1000 --encrypted \
             --passphrase=lv-secret --fstype=ext4\n",
        );
        let pv = &p.disks[0].partitions[2];
        assert_eq!(pv.type_guid, super::super::guid::LUKS);
        assert!(matches!(
            pv.content.opened(),
            Content::PhysicalVolume { .. }
        ));
        let vg = &p.volume_groups[0];
        assert_eq!(vg.size, align_down(pv.size - MIB - LUKS2_HEADER, EXTENT));
        let data = lv(&p, "data");
        assert!(matches!(&data.content, Content::Encrypted { .. }));
        let mounts: Vec<String> = p.mount_points().into_iter().map(|m| m.mount).collect();
        assert_eq!(mounts, ["/", "/boot", "/data", "/boot/efi"]);
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn two_physical_volumes_on_two_disks() {
        let r = req(
            "clearpart --all\nreqpart\npart /boot --size=1024 --ondisk=vda\n\
             part pv.01 --grow --ondisk=vda\npart pv.02 --grow --ondisk=vdb\n\
             volgroup vg0 pv.01 pv.02\nlogvol / --vgname=vg0 --name=root --size=1 --grow\n",
        );
        let p = plan_on(&r, &hw(Firmware::Uefi, &[("vda", 10), ("vdb", 10)])).unwrap();
        let pvs: u64 = p
            .disks
            .iter()
            .flat_map(|d| &d.partitions)
            .filter(|x| matches!(x.content, Content::PhysicalVolume { .. }))
            .map(|x| align_down(x.size - MIB, EXTENT))
            .sum();
        assert_eq!(p.volume_groups[0].size, pvs);
        assert_eq!(p.volume_groups[0].volumes[0].size, pvs - EXTENT);
        assert!(pvs > 17 * GIB);
    }

    #[test]
    fn volumes_that_do_not_fit_say_by_how_much() {
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=15000\n\
             logvol /srv --vgname=vg0 --name=srv --size=5000\n"
        ));
        assert!(e.contains("volume group vg0 has"), "{e}");
        assert!(e.contains("too much: root 14.6 GiB + srv 4.8 GiB"), "{e}");
        assert!(e.contains("(ks.cfg:5:1)"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --percent=60\n\
             logvol /srv --vgname=vg0 --name=srv --percent=50\n"
        ));
        assert!(e.contains("ask for 110 %"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol none --vgname=vg0 --name=pool --thinpool --size=1000 \
             --metadatasize=500\n\
             logvol / --vgname=vg0 --name=root --thin --poolname=pool --size=600\n\
             logvol /srv --vgname=vg0 --name=srv --thin --poolname=pool --percent=50\n"
        ));
        assert!(e.contains("thin pool vg0/pool has"), "{e}");
        assert!(e.contains("too much"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=100\n"
        ));
        assert!(
            e.contains("vg0/root (/) (ks.cfg:6:1) gets 100 MiB but xfs needs"),
            "{e}"
        );
    }

    #[test]
    fn physical_volume_references_are_checked() {
        let e = error_of(&format!(
            "{BASE}part pv.02 --size=100\nlogvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        assert!(
            e.contains("part pv.02: no volgroup uses this physical volume"),
            "{e}"
        );
        assert!(e.contains("(ks.cfg:6:1)"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.parts.push(r.parts[1].clone());
        r.parts[2].origin = Origin::at("ks.cfg", 9, 1);
        let e = error(&r);
        assert!(
            e.contains("part pv.01: the physical volume is defined twice (first at ks.cfg:4:1)")
        );
        assert!(e.contains("(ks.cfg:9:1)"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.volgroups[0].physvols.push("pv.07".into());
        let e = error(&r);
        assert!(
            e.contains("volgroup vg0: physical volume pv.07 is not defined"),
            "{e}"
        );
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        let mut second = r.volgroups[0].clone();
        second.name = "vg1".into();
        r.volgroups.push(second);
        let e = error(&r);
        assert!(
            e.contains("pv.01 already belongs to volume group vg0"),
            "{e}"
        );
        let e = error_of(
            "reqpart\npart /boot --size=1024\npart pv.01 --size=1000 --fstype=xfs\n\
             volgroup vg0 pv.01\nlogvol / --vgname=vg0 --name=root --size=500\n",
        );
        assert!(
            e.contains("part pv.01 --fstype=xfs: a pv.N partition"),
            "{e}"
        );
    }

    #[test]
    fn group_and_volume_names_are_checked() {
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.volgroups[0].name = "-vg".into();
        r.logvols[0].vgname = "-vg".into();
        let e = error(&r);
        assert!(
            e.contains("volgroup -vg: not a valid volume group name: it starts"),
            "{e}"
        );
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=my_tmeta --size=1000\n"
        ));
        assert!(e.contains("LVM reserves names containing `_tmeta`"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=snapshot1 --size=1000\n"
        ));
        assert!(e.contains("`snapshot`"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=a/b --size=1000\n"
        ));
        assert!(e.contains("`/` is not allowed"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.logvols[0].vgname = "vg9".into();
        let e = error(&r);
        assert!(e.contains("no volume group vg9 is defined"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.logvols.push(r.logvols[0].clone());
        r.logvols[1].mntpoint = "/srv".into();
        let e = error(&r);
        assert!(e.contains("already has a logical volume root"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        ));
        r.volgroups[0].pesize_kib = Some(3);
        let e = error(&r);
        assert!(e.contains("--pesize=3: expected a power of two"), "{e}");
        let e = error_of(
            "reqpart\npart /boot --size=1024\npart pv.01 --grow\n\
             volgroup vg0 pv.01 --pesize=16384\n\
             logvol / --vgname=vg0 --name=root --size=1000\n\
             logvol /a --vgname=vg0 --name=a --size=8\n",
        );
        assert!(e.contains("at least one extent (16 MiB)"), "{e}");
    }

    #[test]
    fn an_existing_group_name_on_a_disk_left_alone_is_refused() {
        let mut h = hw(Firmware::Uefi, &[("vda", 20), ("vdb", 20)]);
        h.disks[1].table = TableKind::Gpt;
        h.disks[1].partitions.push(ExistingPartition {
            number: 1,
            start: MIB,
            size: GIB,
            type_id: super::super::guid::LVM.into(),
            signature: Some(Signature {
                kind: "LVM2_member",
                label: Some("vg0".into()),
            }),
        });
        let text = format!(
            "ignoredisk --only-use=vda\n{BASE}logvol / --vgname=vg0 --name=root --size=1000\n"
        );
        let e = plan_on(&req(&text), &h).unwrap_err().to_string();
        assert!(
            e.contains("a volume group named vg0 already exists (vdb partition 1)"),
            "{e}"
        );
        let e = plan_on(
            &req("clearpart --drives=vda --all\nautopart --type=lvm"),
            &h,
        );
        assert!(e.is_ok(), "{e:?}");
        h.disks[1].partitions[0].signature.as_mut().unwrap().label = Some("kickstand".into());
        let e = plan_on(
            &req("clearpart --drives=vda --all\nautopart --type=lvm"),
            &h,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("autopart: a volume group named kickstand"),
            "{e}"
        );
        // Cleared, the old group goes: the name is free.
        let text = format!("{BASE}logvol / --vgname=kickstand --name=root --size=1000\n")
            .replace("vg0", "kickstand");
        assert!(plan_on(&req(&text), &h).is_ok());
    }

    #[test]
    fn boot_and_mount_points_are_checked() {
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n\
             logvol /boot --vgname=vg0 --name=boot --size=1000\n"
        ));
        assert!(e.contains("/boot cannot be on LVM"), "{e}");
        let r = req("reqpart\npart pv.01 --grow\nvolgroup vg0 pv.01\n\
             logvol / --vgname=vg0 --name=root --size=1000\n");
        let e = plan_on(&r, &hw(Firmware::Bios, &[("vda", 20)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("GRUB reads the kernel from a plain /boot"),
            "{e}"
        );
        assert!(e.contains("(ks.cfg:4:1)"), "{e}");
        assert!(plan_on(&r, &hw(Firmware::Uefi, &[("vda", 20)])).is_ok());
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\npart / --size=1000\n"
        ));
        assert!(
            e.contains("mount point / is given twice (ks.cfg:6:1 and ks.cfg:7:1)"),
            "{e}"
        );
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n\
             logvol /x --vgname=vg0 --name=pool --thinpool --size=1000\n"
        ));
        assert!(
            e.contains("a thin pool holds thin volumes, not a filesystem"),
            "{e}"
        );
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000\n\
             logvol none --vgname=vg0 --name=pool --thinpool --size=1000 --encrypted \
             --passphrase=x\n"
        ));
        assert!(e.contains("a thin pool cannot be encrypted"), "{e}");
        let mut r = req(&format!(
            "{BASE}logvol none --vgname=vg0 --name=pool --thinpool --size=1000\n\
             logvol / --vgname=vg0 --name=root --thin --poolname=pool --size=500\n"
        ));
        r.logvols[1].kind = LvKind::Thin {
            pool: "other".into(),
        };
        let e = error(&r);
        assert!(e.contains("volume group vg0 has no thin pool other"), "{e}");
        let e = error_of(&format!(
            "{BASE}logvol / --vgname=vg0 --name=root --size=1000 --encrypted\n"
        ));
        assert!(e.contains("--encrypted needs --passphrase"), "{e}");
    }
}
