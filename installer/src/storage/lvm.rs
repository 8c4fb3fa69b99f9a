//! LVM layouts of `autopart --type=lvm|thinp`, as Anaconda makes them: one physical volume
//! partition over the space left after the boot partitions, a volume group on it, a `root`
//! logical volume (1 GiB, or what the image needs, growing up to 70 GiB) and a `home` volume
//! (500 MiB, growing) when the group has at least 50 GiB. With `thinp` the volumes are thin, in
//! a thin pool `pool00` that takes the group's space. No swap volume: image installs have none
//! unless asked (`DESIGN.md`).
//!
//! Sizes are decided here, before any disk is touched, in whole extents.

use super::alloc::{Want, allocate};
use super::error::PlanError;
use super::layout::{
    Content, Filesystem, FsType, LUKS2_HEADER, LogicalVolume, ThinPool, VolumeGroup,
};
use super::request::Origin;
use crate::units::{GIB, MIB, align_down, align_up, human};

/// The volume group `autopart` makes.
pub const AUTOPART_VG: &str = "kickstand";
/// Physical extent size (LVM's default).
pub const EXTENT: u64 = 4 * MIB;
/// The thin pool of `autopart --type=thinp` (Anaconda's name).
pub const POOL: &str = "pool00";
/// Where `pvcreate` starts the extents (its default data alignment).
pub(super) const PV_DATA_START: u64 = MIB;
/// `root`: base size, and the most it grows to.
const ROOT_BASE: u64 = GIB;
const ROOT_MAX: u64 = 70 * GIB;
/// `home`: base size, and the volume group size it needs to be made at all.
const HOME_BASE: u64 = 500 * MIB;
const HOME_NEEDS: u64 = 50 * GIB;
/// Room the planner keeps for LVM's own use beyond the volumes (thin metadata and its spare,
/// the free extent), when sizing the physical volume partition.
const OVERHEAD: u64 = 64 * MIB;

/// A volume group `autopart` asked for, sized once its physical volume partition is placed.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub vg: String,
    pub thin: bool,
    pub fstype: FsType,
    /// Smallest root: the filesystem's minimum or 3 × the image, whichever is larger.
    pub root_min: u64,
    pub home: bool,
    pub encrypted: bool,
    pub origin: Origin,
}

impl Pending {
    /// The smallest physical volume partition that holds the volumes.
    pub fn min_partition(&self) -> u64 {
        let luks = if self.encrypted { LUKS2_HEADER } else { 0 };
        align_up(self.root_min.max(ROOT_BASE), EXTENT) + OVERHEAD + PV_DATA_START + luks
    }
}

/// Bytes of whole extents a physical volume partition of `size` provides.
pub fn pv_bytes(size: u64, encrypted: bool) -> u64 {
    let luks = if encrypted { LUKS2_HEADER } else { 0 };
    align_down(size.saturating_sub(luks + PV_DATA_START), EXTENT)
}

/// Thin pool metadata for `data` bytes: 0.1 %, at least 4 MiB, whole extents.
pub(super) fn pool_metadata(data: u64) -> u64 {
    align_up((data / 1000).max(4 * MIB), EXTENT)
}

/// Sizes the volume group of `p` on a physical volume partition of `partition` bytes.
pub(super) fn volume_group(p: &Pending, partition: u64) -> Result<VolumeGroup, PlanError> {
    let total = pv_bytes(partition, p.encrypted);
    // One extent stays free (LVM rounds metadata areas; a full group refuses some changes).
    let usable = total.saturating_sub(EXTENT);
    let (space, thin_pool) = if p.thin {
        let meta = pool_metadata(usable);
        // The pool's metadata and the spare copy LVM keeps for repairs.
        let data = align_down(usable.saturating_sub(2 * meta), EXTENT);
        (
            data,
            Some(ThinPool {
                name: POOL.into(),
                size: data,
                metadata_size: meta,
                chunk_size: None,
            }),
        )
    } else {
        (usable, None)
    };
    let root_base = p.root_min.max(ROOT_BASE);
    let mut wants = vec![Want {
        what: format!("logical volume {}/root (/)", p.vg),
        origin: p.origin,
        base: root_base,
        grow: true,
        max: Some(ROOT_MAX.max(root_base)),
        min: Some((p.root_min, p.fstype.name())),
    }];
    let home = p.home && space >= HOME_NEEDS;
    if home {
        wants.push(Want {
            what: format!("logical volume {}/home (/home)", p.vg),
            origin: p.origin,
            base: HOME_BASE,
            grow: true,
            max: None,
            min: Some((p.fstype.min_size(), p.fstype.name())),
        });
    }
    let needed = align_up(root_base, EXTENT);
    if space < needed {
        return Err(PlanError::Invalid {
            origin: p.origin,
            message: format!(
                "volume group {} would have {} for logical volumes but root needs {}; use a \
                 bigger disk",
                p.vg,
                human(space),
                human(needed)
            ),
        });
    }
    let placed = allocate(&format!("volume group {}", p.vg), total, (0, space), &wants)?;
    let mut volumes = Vec::new();
    for ((want, (_, size)), (name, mount)) in wants
        .iter()
        .zip(placed)
        .zip([("root", "/"), ("home", "/home")])
    {
        let size = align_down(size, EXTENT);
        if let Some((min, fstype)) = want.min {
            if size < min {
                return Err(PlanError::BelowMinimum {
                    what: want.what.clone(),
                    origin: p.origin,
                    size,
                    min,
                    fstype: fstype.to_string(),
                });
            }
        }
        volumes.push(LogicalVolume {
            name: name.into(),
            size,
            thin_pool: p.thin.then(|| POOL.to_string()),
            content: Content::Filesystem(Filesystem {
                fstype: p.fstype,
                label: Some(name.into()),
                mount: Some(mount.into()),
                options: None,
                mkfs_options: Vec::new(),
                subvolumes: Vec::new(),
            }),
        });
    }
    Ok(VolumeGroup {
        name: p.vg.clone(),
        extent_size: EXTENT,
        size: total,
        thin_pools: thin_pool.into_iter().collect(),
        volumes,
        origin: p.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(thin: bool, encrypted: bool) -> Pending {
        Pending {
            vg: AUTOPART_VG.into(),
            thin,
            fstype: FsType::Xfs,
            root_min: FsType::Xfs.min_size(),
            home: true,
            encrypted,
            origin: Origin::default(),
        }
    }

    #[test]
    fn small_group_has_root_only_filling_it() {
        let vg = volume_group(&pending(false, false), 10 * GIB).unwrap();
        assert_eq!(
            vg.size,
            10 * GIB - 4 * MIB,
            "1 MiB of metadata rounds to an extent"
        );
        assert_eq!(vg.volumes.len(), 1);
        assert_eq!(vg.volumes[0].name, "root");
        assert_eq!(vg.volumes[0].size, vg.size - EXTENT);
        assert_eq!(vg.volumes[0].size % EXTENT, 0);
        assert_eq!(vg.mapper_name("root"), "kickstand-root");
    }

    #[test]
    fn big_group_caps_root_at_70_gib_and_gives_home_the_rest() {
        let vg = volume_group(&pending(false, false), 500 * GIB).unwrap();
        let sizes: Vec<(&str, u64)> = vg
            .volumes
            .iter()
            .map(|v| (v.name.as_str(), v.size))
            .collect();
        assert_eq!(sizes[0], ("root", 70 * GIB));
        assert_eq!(sizes[1].0, "home");
        assert!(sizes[1].1 > 400 * GIB, "{sizes:?}");
        assert!(sizes[0].1 + sizes[1].1 <= vg.size - EXTENT);
    }

    #[test]
    fn thin_volumes_fit_in_the_pool_next_to_its_metadata() {
        let vg = volume_group(&pending(true, true), 8 * GIB).unwrap();
        let pool = &vg.thin_pools[0];
        assert_eq!(vg.size, pv_bytes(8 * GIB, true));
        assert!(pool.size + 2 * pool.metadata_size + EXTENT <= vg.size);
        assert!(
            vg.volumes
                .iter()
                .all(|v| v.thin_pool.as_deref() == Some(POOL))
        );
        assert!(vg.volumes.iter().map(|v| v.size).sum::<u64>() <= pool.size);
    }

    #[test]
    fn a_group_too_small_for_root_is_refused() {
        let mut p = pending(false, false);
        p.root_min = 2 * GIB;
        let err = volume_group(&p, GIB).unwrap_err().to_string();
        assert!(err.contains("volume group kickstand"), "{err}");
        assert!(p.min_partition() > 2 * GIB);
    }
}
