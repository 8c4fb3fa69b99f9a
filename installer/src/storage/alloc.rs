//! Places partitions on one disk: fixed sizes first, then `--grow` partitions share what is
//! left in proportion to their base sizes, up to their `--maxsize`. Everything is 1 MiB aligned.

use super::error::PlanError;
use super::request::Origin;
use crate::units::{MIB, align_down, align_up};

/// One partition to place.
#[derive(Debug, Clone)]
pub(super) struct Want {
    /// For messages: `/boot`, `swap`, `BIOS boot`.
    pub what: String,
    /// Where it was asked for.
    pub origin: Origin,
    /// Size before growing (bytes).
    pub base: u64,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize` (bytes).
    pub max: Option<u64>,
    /// Smallest size its contents allow, and the filesystem name for the message.
    pub min: Option<(u64, &'static str)>,
}

/// Bytes of a GPT's backup copy at the end of the disk (header sector + 128 entries × 128 B).
pub(super) fn gpt_tail(sector_size: u64) -> u64 {
    sector_size + 128 * 128
}

/// The 1 MiB-aligned region `[start, end)` a new GPT leaves for partitions.
pub(super) fn usable_region(disk_size: u64, sector_size: u64) -> (u64, u64) {
    let end = align_down(disk_size.saturating_sub(gpt_tail(sector_size)), MIB);
    (MIB, end.max(MIB))
}

/// `(start, size)` for each of `wants`, in order, inside `[start, end)`.
pub(super) fn allocate(
    disk: &str,
    disk_size: u64,
    (start, end): (u64, u64),
    wants: &[Want],
) -> Result<Vec<(u64, u64)>, PlanError> {
    let available = end - start;
    let mut sizes: Vec<u64> = wants.iter().map(|w| align_up(w.base, MIB)).collect();
    let needed: u64 = sizes.iter().sum::<u64>()
        + wants
            .iter()
            .filter(|w| w.grow && w.base == 0)
            .map(|w| w.min.map_or(MIB, |m| m.0))
            .sum::<u64>();
    if needed > available {
        return Err(PlanError::TooSmall {
            disk: disk.to_string(),
            disk_size,
            available,
            needed,
            parts: wants
                .iter()
                .zip(&sizes)
                .map(|(w, s)| {
                    let s = if *s == 0 {
                        w.min.map_or(MIB, |m| m.0)
                    } else {
                        *s
                    };
                    (w.what.clone(), s)
                })
                .collect(),
        });
    }
    let mut extra = available - sizes.iter().sum::<u64>();
    let mut open: Vec<usize> = (0..wants.len()).filter(|&i| wants[i].grow).collect();
    while extra >= MIB && !open.is_empty() {
        let weights: Vec<u128> = open.iter().map(|&i| sizes[i].max(MIB) as u128).collect();
        let total: u128 = weights.iter().sum();
        let mut given = 0;
        let mut still_open = Vec::new();
        for (k, &i) in open.iter().enumerate() {
            let mut share = if k + 1 == open.len() {
                extra - given
            } else {
                align_down((extra as u128 * weights[k] / total) as u64, MIB)
            };
            if let Some(max) = wants[i].max {
                let room = align_down(max, MIB).saturating_sub(sizes[i]);
                if share >= room {
                    share = room;
                } else {
                    still_open.push(i);
                }
            } else {
                still_open.push(i);
            }
            sizes[i] += share;
            given += share;
        }
        extra -= given;
        if given == 0 {
            break;
        }
        open = still_open;
    }
    let mut at = start;
    let mut out = Vec::with_capacity(wants.len());
    for (w, &size) in wants.iter().zip(&sizes) {
        if size == 0 {
            return Err(PlanError::GrowNothing {
                what: w.what.clone(),
                origin: w.origin,
                disk: disk.to_string(),
            });
        }
        if let Some((min, fstype)) = w.min {
            if size < min {
                return Err(PlanError::BelowMinimum {
                    what: w.what.clone(),
                    origin: w.origin,
                    size,
                    min,
                    fstype: fstype.to_string(),
                });
            }
        }
        out.push((at, size));
        at += size;
    }
    Ok(out)
}

/// The largest 1 MiB-aligned region of `region` outside `taken` (`[start, end)` spans).
pub(super) fn largest_free(region: (u64, u64), taken: &[(u64, u64)]) -> (u64, u64) {
    let (first, last) = region;
    let mut taken = taken.to_vec();
    taken.sort_unstable();
    let mut best = (first, first);
    let mut at = first;
    for (s, e) in taken.into_iter().chain(std::iter::once((last, last))) {
        let gap = (align_up(at, MIB), align_down(s.min(last), MIB));
        if gap.1 > gap.0 && gap.1 - gap.0 > best.1 - best.0 {
            best = gap;
        }
        at = at.max(e);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GIB;

    fn want(what: &str, base_mib: u64, grow: bool, max_mib: Option<u64>) -> Want {
        Want {
            what: what.into(),
            origin: Origin::default(),
            base: base_mib * MIB,
            grow,
            max: max_mib.map(|m| m * MIB),
            min: None,
        }
    }

    #[test]
    fn grow_shares_by_base_size_and_respects_maxsize() {
        let region = (MIB, MIB + 10 * GIB);
        let got = allocate(
            "vda",
            11 * GIB,
            region,
            &[
                want("a", 1024, true, None),
                want("b", 1024, true, Some(2048)),
                want("c", 2048, false, None),
            ],
        )
        .unwrap();
        assert_eq!(got[1].1, 2048 * MIB, "b is capped at its maxsize");
        assert_eq!(got[2].1, 2048 * MIB);
        assert_eq!(got[0].1, 10 * GIB - 4096 * MIB, "a takes the rest");
        assert_eq!(got[0].0, MIB);
        assert_eq!(got[2].0 + got[2].1, MIB + 10 * GIB);
    }

    #[test]
    fn too_small_lists_every_partition() {
        let err = allocate(
            "vda",
            GIB,
            (MIB, GIB - MIB),
            &[want("/", 2048, false, None)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("disk vda is 1 GiB (1022 MiB usable"), "{err}");
        assert!(err.contains("needs at least 2 GiB: / 2 GiB"), "{err}");
    }

    #[test]
    fn grow_with_no_room_is_an_error() {
        let err = allocate(
            "vda",
            GIB,
            (MIB, MIB + 100 * MIB),
            &[want("/data", 100, false, None), want("/", 0, true, None)],
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::TooSmall { .. }), "{err}");
    }

    #[test]
    fn usable_region_leaves_room_for_the_backup_gpt() {
        assert_eq!(usable_region(8 * GIB, 512), (MIB, 8 * GIB - MIB));
        assert_eq!(usable_region(8 * GIB, 4096), (MIB, 8 * GIB - MIB));
    }

    #[test]
    fn the_largest_gap_skips_taken_spans() {
        let region = (MIB, 100 * MIB);
        assert_eq!(largest_free(region, &[]), (MIB, 100 * MIB));
        assert_eq!(
            largest_free(region, &[(MIB, 10 * MIB), (50 * MIB, 60 * MIB)]),
            (10 * MIB, 50 * MIB)
        );
        assert_eq!(largest_free(region, &[(MIB, 100 * MIB)]), (MIB, MIB));
    }
}
