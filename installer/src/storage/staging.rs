//! Where a bootc image is staged (its OCI layout and unpacked root, see
//! [`crate::steps::stage`]) before its own bootc installs it, decided at planning — before any
//! disk is touched — from the manifest's compressed size. Pure, like the rest of the planner.
//!
//! The need is [`STAGING_FACTOR`] × the compressed layers: the unpacked root (3×, the
//! planner's [`super::plan::IMAGE_MARGIN`]) plus the layout itself (1×). bootc refuses a
//! non-empty target root, so the staging goes, in this order of preference:
//! 1. **RAM** (a tmpfs) when `MemAvailable` less [`RAM_RESERVE`] for bootc and the installer
//!    holds the need;
//! 2. a **swap area of the plan** (partition, LUKS container or logical volume) that holds the
//!    need plus ext4's overhead ([`on_device`]): a temporary ext4 is made on it, and after bootc
//!    it becomes a swap area again with the same UUID and label, as `/etc/fstab` names it;
//! 3. a **temporary partition** in space the layout leaves free on a disk the plan writes, or
//!    on another disk the kickstart clears that gets nothing else: added after the storage
//!    step, removed after bootc (its signatures wiped, its GPT entry deleted; a disk that was
//!    blank gets its partition table wiped again). The `--grow` partition is never shrunk to
//!    make room: giving the space back means resizing a mounted root's partition and filesystem
//!    after bootc wrote to it, where a failure leaves a smaller or broken root;
//! 4. otherwise the install is refused, naming the need and every place looked at.

use super::alloc::{largest_free, usable_region};
use super::layout::{Content, DeviceRef, LUKS2_HEADER, StoragePlan, TableAction};
use super::request::StorageRequest;
use super::select::{check_writable, select};
use crate::hardware::Hardware;
use crate::units::{MIB, align_up, human};
use std::fmt::Write;
use std::path::PathBuf;

/// Staging takes this many times the image's compressed layers.
pub const STAGING_FACTOR: u64 = 4;

/// RAM left to bootc and the installer besides a tmpfs staging area.
pub const RAM_RESERVE: u64 = 256 * MIB;

/// An ext4 journal's size on the devices staging uses (mke2fs's default for 1–128 GiB).
const EXT4_JOURNAL: u64 = 64 * MIB;

/// What staging the image needs, in bytes.
pub fn needed(compressed: u64) -> u64 {
    compressed.saturating_mul(STAGING_FACTOR)
}

/// The size a device must have to hold `need` bytes in a temporary ext4 (made with `-m 0`):
/// the need, 1/16 more for inode tables and other metadata, and the journal.
pub fn on_device(need: u64) -> u64 {
    align_up(need + need / 16 + EXT4_JOURNAL, MIB)
}

/// What the staging decision needs besides the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingInput {
    /// The image's compressed layers, from its manifest.
    pub compressed: u64,
    /// `MemAvailable` (capped by `--staging-ram-limit`).
    pub mem_available: u64,
}

/// Where the image is staged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingPlan {
    /// Compressed layer bytes.
    pub compressed: u64,
    /// [`needed`] bytes.
    pub need: u64,
    /// RAM usable for staging (`MemAvailable` less [`RAM_RESERVE`]).
    pub ram: u64,
    /// The place chosen.
    pub area: StagingArea,
}

/// A staging place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagingArea {
    /// A tmpfs of `size` bytes (capped at the RAM usable, so an image larger than estimated
    /// fails with "no space" rather than exhausting memory).
    Ram {
        /// tmpfs size.
        size: u64,
    },
    /// The plan's swap area on `device` (`size` bytes usable), a temporary ext4 until bootc is
    /// done.
    Swap {
        /// The partition or logical volume (the opened LUKS device when encrypted).
        device: DeviceRef,
        /// Bytes the staging filesystem gets.
        size: u64,
    },
    /// A temporary partition.
    Partition(TempPartition),
}

/// A temporary partition for staging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPartition {
    /// Disk kernel name.
    pub disk: String,
    /// Disk device node.
    pub path: PathBuf,
    /// Disk size in bytes.
    pub disk_size: u64,
    /// Logical sector size.
    pub sector_size: u64,
    /// GPT partition number.
    pub number: u32,
    /// Start in bytes (1 MiB aligned).
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The disk is not otherwise written (blank, cleared by the kickstart): a GPT is written
    /// for staging and wiped again afterwards.
    pub new_table: bool,
}

/// No place holds the staging: every place looked at, with its room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "staging the bootc image needs about {} ({STAGING_FACTOR}× its {} of compressed layers: \
     the unpacked root and the OCI layout) and no place holds it: {}; give the machine more \
     RAM, add a swap area of at least {} (`part swap --size={}`), leave that much free space \
     on a disk the kickstart uses, or add a disk `clearpart` clears (installing from a host: \
     `--staging-dir DIR` on a filesystem with room); nothing was written to any disk",
    human(*.need),
    human(*.compressed),
    .looked.join("; "),
    human(on_device(*.need)),
    on_device(*.need) / MIB
)]
pub struct NoRoom {
    /// Compressed layer bytes.
    pub compressed: u64,
    /// Bytes needed.
    pub need: u64,
    /// Each place looked at and what it has.
    pub looked: Vec<String>,
}

/// Decides where the image is staged; see the module documentation for the order.
pub fn place(
    req: &StorageRequest,
    hw: &Hardware,
    plan: &StoragePlan,
    input: StagingInput,
) -> Result<StagingPlan, NoRoom> {
    let need = needed(input.compressed);
    let ram = input.mem_available.saturating_sub(RAM_RESERVE);
    let staging = |area| StagingPlan {
        compressed: input.compressed,
        need,
        ram,
        area,
    };
    if need <= ram {
        return Ok(staging(StagingArea::Ram { size: ram }));
    }
    let device_need = on_device(need);
    let mut looked = vec![format!(
        "RAM has {} (MemAvailable {} less {} for bootc and the installer)",
        human(ram),
        human(input.mem_available),
        human(RAM_RESERVE)
    )];
    let swaps = swap_areas(plan);
    if let Some((device, size)) = swaps.iter().find(|(_, size)| *size >= device_need) {
        return Ok(staging(StagingArea::Swap {
            device: device.clone(),
            size: *size,
        }));
    }
    looked.push(if swaps.is_empty() {
        "the plan has no swap area".to_string()
    } else {
        let list: Vec<String> = swaps
            .iter()
            .map(|(d, s)| format!("{d} has {}", human(*s)))
            .collect();
        format!(
            "swap areas too small (a temporary ext4 needs {}): {}",
            human(device_need),
            list.join(", ")
        )
    });
    let gaps = free_gaps(req, hw, plan);
    if let Some(g) = gaps.iter().find(|g| g.end - g.start >= device_need) {
        return Ok(staging(StagingArea::Partition(TempPartition {
            disk: g.disk.clone(),
            path: g.path.clone(),
            disk_size: g.disk_size,
            sector_size: g.sector_size,
            number: g.number,
            start: g.start,
            size: device_need,
            new_table: g.new_table,
        })));
    }
    let list: Vec<String> = gaps
        .iter()
        .filter(|g| g.end > g.start)
        .map(|g| format!("{} has {}", g.disk, human(g.end - g.start)))
        .collect();
    looked.push(if list.is_empty() {
        "no disk of the plan has free space, and no other disk is cleared".to_string()
    } else {
        format!("free space too small: {}", list.join(", "))
    });
    Err(NoRoom {
        compressed: input.compressed,
        need,
        looked,
    })
}

/// The plan's swap areas with the bytes a filesystem on them gets, partitions first.
fn swap_areas(plan: &StoragePlan) -> Vec<(DeviceRef, u64)> {
    let is_swap = |c: &Content| matches!(c.opened(), Content::Swap { .. });
    let mut out = Vec::new();
    for d in &plan.disks {
        for p in d.partitions.iter().filter(|p| is_swap(&p.content)) {
            let header = match p.content {
                Content::Encrypted { .. } => LUKS2_HEADER,
                _ => 0,
            };
            let device = DeviceRef::Partition {
                disk: d.name.clone(),
                number: p.number,
            };
            out.push((device, p.size.saturating_sub(header)));
        }
    }
    for vg in &plan.volume_groups {
        for lv in vg.volumes.iter().filter(|lv| is_swap(&lv.content)) {
            let device = DeviceRef::LogicalVolume {
                vg: vg.name.clone(),
                lv: lv.name.clone(),
            };
            out.push((device, lv.size));
        }
    }
    out
}

/// The largest free region of a disk the staging may use.
#[derive(Debug)]
struct Gap {
    disk: String,
    path: PathBuf,
    disk_size: u64,
    sector_size: u64,
    number: u32,
    start: u64,
    end: u64,
    new_table: bool,
}

/// The largest free region of each disk the plan writes (after its new and kept partitions),
/// then of each writable disk `clearpart` clears that the plan leaves blank.
fn free_gaps(req: &StorageRequest, hw: &Hardware, plan: &StoragePlan) -> Vec<Gap> {
    let mut out = Vec::new();
    for d in &plan.disks {
        let mut taken: Vec<(u64, u64, u32)> = d
            .partitions
            .iter()
            .map(|p| (p.start, p.start + p.size, p.number))
            .collect();
        if let TableAction::Edit { kept, .. } = &d.table {
            taken.extend(kept.iter().map(|p| (p.start, p.start + p.size, p.number)));
        }
        let numbers: Vec<u32> = taken.iter().map(|t| t.2).collect();
        let Some(number) = (1u32..=128).find(|n| !numbers.contains(n)) else {
            continue;
        };
        let region = usable_region(d.size, d.sector_size);
        let spans: Vec<(u64, u64)> = taken.iter().map(|t| (t.0, t.1)).collect();
        let (start, end) = largest_free(region, &spans);
        out.push(Gap {
            disk: d.name.clone(),
            path: d.path.clone(),
            disk_size: d.size,
            sector_size: d.sector_size,
            number,
            start,
            end,
            new_table: false,
        });
    }
    // A disk cleared but given no partitions stays out of the plan when it was blank.
    if let Ok(sel) = select(req, hw) {
        for &i in &sel.clear {
            let disk = &hw.disks[i];
            if plan.disks.iter().any(|d| d.name == disk.name) || check_writable(disk).is_err() {
                continue;
            }
            let (start, end) = usable_region(disk.size, disk.logical_sector_size);
            out.push(Gap {
                disk: disk.name.clone(),
                path: disk.path.clone(),
                disk_size: disk.size,
                sector_size: disk.logical_sector_size,
                number: 1,
                start,
                end,
                new_table: true,
            });
        }
    }
    out
}

/// The dry-run line(s) saying where the image is staged.
pub fn render(s: &StagingPlan) -> String {
    let mut out = format!(
        "Staging (bootc image): about {} ({STAGING_FACTOR}× {} compressed) ",
        human(s.need),
        human(s.compressed)
    );
    let _ = match &s.area {
        StagingArea::Ram { size } => write!(out, "in RAM (a tmpfs of at most {})", human(*size)),
        StagingArea::Swap { device, size } => write!(
            out,
            "on the swap area {device} ({}; RAM has {}): a temporary ext4 until bootc is done, \
             then a swap area again with the same UUID",
            human(*size),
            human(s.ram)
        ),
        StagingArea::Partition(p) => write!(
            out,
            "on a temporary partition {} of {} ({} at {}; RAM has {}), removed after bootc{}",
            p.number,
            p.disk,
            human(p.size),
            human(p.start),
            human(s.ram),
            if p.new_table {
                " (the disk is blank again afterwards)"
            } else {
                ""
            }
        ),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{Disk, Firmware};
    use crate::storage::from_kickstart::request;
    use crate::storage::{ImageFacts, plan};
    use crate::units::GIB;
    use kickstand_grammar as ks;

    fn hw(disks: &[(&str, u64)]) -> Hardware {
        Hardware {
            disks: disks
                .iter()
                .map(|(name, size)| Disk {
                    name: name.to_string(),
                    path: format!("/dev/{name}").into(),
                    size: *size,
                    logical_sector_size: 512,
                    physical_sector_size: 512,
                    ..Disk::default()
                })
                .collect(),
            firmware: Firmware::Uefi,
            memory_bytes: 2 * GIB,
        }
    }

    /// Plans `text` on `hw` and decides the staging of a `compressed`-byte image with
    /// `mem` bytes of RAM available.
    fn decide(text: &str, hw: &Hardware, compressed: u64, mem: u64) -> Result<StagingPlan, NoRoom> {
        let parsed = ks::parse("ks.cfg", text, &ks::NoIncludes);
        assert!(parsed.errors().next().is_none());
        let k = parsed.kickstart;
        let p = plan(&k, hw, &ImageFacts::default()).expect("planned");
        place(
            &request(&k),
            hw,
            &p,
            StagingInput {
                compressed,
                mem_available: mem,
            },
        )
    }

    const AUTOPART: &str = "clearpart --all --initlabel\nautopart --fstype=ext4\n";

    #[test]
    fn ram_first_when_memory_holds_four_times_the_compressed_size() {
        let hw = hw(&[("vda", 20 * GIB)]);
        let mem = RAM_RESERVE + 400 * MIB;
        let s = decide(AUTOPART, &hw, 100 * MIB, mem).unwrap();
        assert_eq!(s.area, StagingArea::Ram { size: 400 * MIB });
        assert_eq!((s.need, s.ram), (400 * MIB, 400 * MIB));
        assert!(render(&s).contains("about 400 MiB (4× 100 MiB compressed) in RAM"));
    }

    #[test]
    fn a_swap_area_big_enough_comes_next() {
        let hw = hw(&[("vda", 20 * GIB)]);
        let ks = "clearpart --all --initlabel\npart /boot/efi --size=600\n\
                  part swap --size=100\npart swap --size=2048\npart / --grow\n";
        let s = decide(ks, &hw, 300 * MIB, GIB).unwrap();
        // The 100 MiB swap is too small for 1.2 GiB + ext4's overhead; the 2 GiB one holds it.
        let StagingArea::Swap { device, size } = &s.area else {
            panic!("{s:?}")
        };
        assert_eq!(*size, 2 * GIB);
        assert!(
            matches!(device, DeviceRef::Partition { number: 3, .. }),
            "{device}"
        );
        assert!(render(&s).contains("on the swap area vda partition 3 (2 GiB"));
    }

    #[test]
    fn a_swap_logical_volume_counts() {
        let hw = hw(&[("vda", 20 * GIB)]);
        let text = "clearpart --all --initlabel\nautopart --type=lvm\n";
        let k = ks::parse("ks.cfg", text, &ks::NoIncludes).kickstart;
        let mut p = plan(&k, &hw, &ImageFacts::default()).expect("planned");
        let vg = &mut p.volume_groups[0];
        let swap = crate::storage::LogicalVolume {
            name: "swap".into(),
            size: 1500 * MIB,
            thin_pool: None,
            content: Content::Swap {
                label: None,
                mkfs_options: Vec::new(),
            },
        };
        vg.volumes.push(swap);
        let input = StagingInput {
            compressed: 300 * MIB,
            mem_available: 0,
        };
        let s = place(&request(&k), &hw, &p, input).unwrap();
        assert!(
            matches!(&s.area, StagingArea::Swap { device: DeviceRef::LogicalVolume { lv, .. }, size } if lv == "swap" && *size == 1500 * MIB),
            "{s:?}"
        );
    }

    #[test]
    fn free_space_the_layout_leaves_gets_a_temporary_partition() {
        let hw = hw(&[("vda", 20 * GIB)]);
        let ks = "clearpart --all --initlabel\npart /boot/efi --size=600\n\
                  part / --size=8192\n";
        let s = decide(ks, &hw, 500 * MIB, 0).unwrap();
        let StagingArea::Partition(p) = &s.area else {
            panic!("{s:?}")
        };
        assert_eq!((p.disk.as_str(), p.number, p.new_table), ("vda", 3, false));
        assert_eq!(p.start, MIB + 600 * MIB + 8192 * MIB);
        assert_eq!(p.size, 2189 * MIB);
        assert!(render(&s).contains("on a temporary partition 3 of vda"));
    }

    #[test]
    fn a_second_cleared_disk_takes_it_when_the_root_grows_over_the_first() {
        let hw = hw(&[("vda", 20 * GIB), ("vdb", 4 * GIB)]);
        let s = decide(AUTOPART, &hw, 500 * MIB, 0).unwrap();
        let StagingArea::Partition(p) = &s.area else {
            panic!("{s:?}")
        };
        assert_eq!((p.disk.as_str(), p.number, p.new_table), ("vdb", 1, true));
        assert_eq!(p.start, MIB);
        assert!(render(&s).contains("blank again afterwards"));
    }

    #[test]
    fn a_disk_ignored_or_not_cleared_is_never_used() {
        let hw = hw(&[("vda", 20 * GIB), ("vdb", 4 * GIB)]);
        let ks = "ignoredisk --only-use=vda\nclearpart --all --initlabel\nautopart\n";
        let e = decide(ks, &hw, 500 * MIB, 0).unwrap_err();
        assert_eq!(e.looked.len(), 3, "{e}");
        let ks = "clearpart --all --drives=vda --initlabel\nautopart\n";
        assert!(decide(ks, &hw, 500 * MIB, 0).is_err());
    }

    #[test]
    fn no_room_names_the_need_and_every_place_looked_at() {
        let hw = hw(&[("vda", 20 * GIB)]);
        let e = decide(AUTOPART, &hw, 100 * MIB, RAM_RESERVE + 100 * MIB)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs about 400 MiB (4× its 100 MiB"), "{e}");
        assert!(
            e.contains("RAM has 100 MiB (MemAvailable 356 MiB less 256 MiB"),
            "{e}"
        );
        assert!(e.contains("the plan has no swap area"), "{e}");
        assert!(e.contains("no disk of the plan has free space"), "{e}");
        assert!(e.contains("`part swap --size=489`"), "{e}");
        assert!(e.contains("nothing was written to any disk"), "{e}");
        let ks = "clearpart --all --initlabel\npart /boot/efi --size=600\n\
                  part swap --size=100\npart / --grow\n";
        let e = decide(ks, &hw, 100 * MIB, 0).unwrap_err().to_string();
        assert!(
            e.contains(
                "swap areas too small (a temporary ext4 needs 489 MiB): vda partition 2 has 100 MiB"
            ),
            "{e}"
        );
    }
}
