//! Which disks the kickstart uses and which it clears (DESIGN.md, "Which disks"), and what
//! happens to the old contents of each disk that is written.

use super::error::PlanError;
use super::layout::TableAction;
use super::request::{ClearKind, IgnoreDisk, StorageRequest};
use crate::hardware::{Disk, ExistingPartition, Hardware, TableKind, match_drives};

/// The disks the planner may write to.
#[derive(Debug)]
pub(super) struct Selection {
    /// Indexes of disks not ignored (and not removable or the boot medium unless named).
    pub usable: Vec<usize>,
    /// Indexes of disks `clearpart` clears.
    pub clear: Vec<usize>,
}

/// Resolves drive specs of `command` to disk indexes.
pub(super) fn resolve(
    command: &str,
    specs: &[String],
    hw: &Hardware,
) -> Result<Vec<usize>, PlanError> {
    match_drives(specs, &hw.disks).map_err(|error| PlanError::Drive {
        command: command.to_string(),
        error,
    })
}

/// Applies `ignoredisk` and `clearpart --drives`.
pub(super) fn select(req: &StorageRequest, hw: &Hardware) -> Result<Selection, PlanError> {
    let default_ok = |d: &Disk| !d.removable && !d.boot_medium;
    let usable: Vec<usize> = match &req.ignoredisk {
        Some(IgnoreDisk::OnlyUse(specs)) => {
            let named = resolve("ignoredisk --only-use", specs, hw)?;
            for &i in &named {
                refuse_boot_medium("ignoredisk --only-use", &hw.disks[i])?;
            }
            named
        }
        Some(IgnoreDisk::Drives(specs)) => {
            let ignored = resolve("ignoredisk --drives", specs, hw)?;
            (0..hw.disks.len())
                .filter(|i| !ignored.contains(i) && default_ok(&hw.disks[*i]))
                .collect()
        }
        None => (0..hw.disks.len())
            .filter(|i| default_ok(&hw.disks[*i]))
            .collect(),
    };
    let mut clear = Vec::new();
    if let Some(cp) = &req.clearpart {
        let clears_something = cp.initlabel || cp.kind != ClearKind::None;
        if clears_something {
            if cp.drives.is_empty() {
                clear = usable.clone();
            } else {
                for i in resolve("clearpart --drives", &cp.drives, hw)? {
                    let disk = &hw.disks[i];
                    refuse_boot_medium("clearpart --drives", disk)?;
                    if !usable.contains(&i) {
                        return Err(PlanError::Unusable {
                            command: "clearpart --drives".into(),
                            disk: disk.name.clone(),
                            why: "ignoredisk excludes it".into(),
                        });
                    }
                    clear.push(i);
                }
            }
        }
    }
    Ok(Selection { usable, clear })
}

pub(super) fn refuse_boot_medium(command: &str, disk: &Disk) -> Result<(), PlanError> {
    if disk.boot_medium {
        return Err(PlanError::Unusable {
            command: command.into(),
            disk: disk.name.clone(),
            why: "it is the medium the installer booted from (its ISO or USB stick), never an \
                  install target"
                .into(),
        });
    }
    Ok(())
}

/// Refuses disks that are mounted, held by another device, or read-only.
pub(super) fn check_writable(disk: &Disk) -> Result<(), PlanError> {
    let why = if let Some(why) = &disk.in_use {
        why.clone()
    } else if disk.read_only {
        "it is read-only".into()
    } else {
        return Ok(());
    };
    Err(PlanError::Unusable {
        command: "the layout".into(),
        disk: disk.name.clone(),
        why,
    })
}

/// A human summary of what is on a disk: "gpt with 2 partitions (xfs, swap)".
pub fn describe_contents(disk: &Disk) -> Option<String> {
    if let TableKind::Unreadable(why) = &disk.table {
        return Some(format!("an unreadable partition table ({why})"));
    }
    if !disk.partitions.is_empty() {
        return Some(format!(
            "{} with {} partition{} ({})",
            disk.table,
            disk.partitions.len(),
            if disk.partitions.len() == 1 { "" } else { "s" },
            describe_partitions(&disk.partitions)
        ));
    }
    if let Some(sig) = disk.signatures.first() {
        return Some(format!("{sig} on the whole disk"));
    }
    (disk.table != TableKind::None).then(|| format!("an empty {} partition table", disk.table))
}

pub(super) fn describe_partitions(parts: &[ExistingPartition]) -> String {
    parts
        .iter()
        .map(|p| {
            let what = p
                .signature
                .as_ref()
                .map_or_else(|| "no filesystem".to_string(), |s| s.to_string());
            format!("{} {what} {}", p.number, crate::units::human(p.size))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `item` (from `clearpart --list`) names partition `number` of `disk`.
fn names_partition(item: &str, disk: &Disk, number: u32) -> bool {
    let item = item.strip_prefix("/dev/").unwrap_or(item);
    let node = disk.partition_path(number);
    let node_name = node.file_name().map(|n| n.to_string_lossy().into_owned());
    node_name.as_deref() == Some(item)
        || disk.aliases.iter().any(|a| {
            let sep = if a.ends_with(|c: char| c.is_ascii_digit()) {
                "p"
            } else {
                ""
            };
            item == format!("{a}{sep}{number}")
        })
}

/// Checks that every `clearpart --list` entry names an existing partition.
pub(super) fn check_list(items: &[String], hw: &Hardware) -> Result<(), PlanError> {
    for item in items {
        let found = hw.disks.iter().any(|d| {
            d.partitions
                .iter()
                .any(|p| names_partition(item, d, p.number))
        });
        if !found {
            let seen: Vec<String> = hw
                .disks
                .iter()
                .flat_map(|d| {
                    d.partitions.iter().map(|p| {
                        d.partition_path(p.number)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    })
                })
                .collect();
            return Err(PlanError::Invalid {
                origin: Default::default(),
                message: format!(
                    "clearpart --list names {item}, which is not a partition (partitions seen: {})",
                    if seen.is_empty() {
                        "none".into()
                    } else {
                        seen.join(", ")
                    }
                ),
            });
        }
    }
    Ok(())
}

/// What happens to the old contents of `disk`, which the plan writes to. `cleared` says
/// whether `clearpart` covers it.
pub(super) fn table_action(
    req: &StorageRequest,
    disk: &Disk,
    cleared: bool,
) -> Result<TableAction, PlanError> {
    let erases = describe_contents(disk);
    let cp = req.clearpart.as_ref();
    let kind = cp.map(|c| &c.kind).unwrap_or(&ClearKind::None);
    let initlabel = cp.is_some_and(|c| c.initlabel);
    if cleared && (initlabel || *kind == ClearKind::All) {
        return Ok(TableAction::New { erases });
    }
    let removes = |p: &ExistingPartition| {
        cleared
            && match kind {
                ClearKind::Linux => p.is_linux(),
                ClearKind::List(items) => items.iter().any(|i| names_partition(i, disk, p.number)),
                ClearKind::All => true,
                ClearKind::None => false,
            }
    };
    let needs_init = || {
        if req.zerombr {
            Ok(TableAction::New {
                erases: erases.clone(),
            })
        } else {
            Err(PlanError::NeedsInit {
                disk: disk.name.clone(),
                found: erases.clone().unwrap_or_default(),
            })
        }
    };
    if matches!(disk.table, TableKind::Unreadable(_)) {
        return needs_init();
    }
    if disk.partitions.is_empty() {
        let linux_sig = disk.signatures.iter().all(|s| s.is_linux());
        if disk.signatures.is_empty() || (cleared && *kind == ClearKind::Linux && linux_sig) {
            return Ok(TableAction::New { erases });
        }
        return needs_init();
    }
    let (removed, kept): (Vec<_>, Vec<_>) = disk.partitions.iter().cloned().partition(removes);
    if kept.is_empty() {
        return Ok(TableAction::New { erases });
    }
    if removed.is_empty() {
        // Nothing is cleared here: partitions stay, so the layout must not go on this disk.
        let clear = match cp {
            None => "there is no clearpart command".to_string(),
            Some(c) if !cleared && !c.drives.is_empty() => {
                "clearpart --drives does not include it".to_string()
            }
            Some(c) if c.kind == ClearKind::None && !c.initlabel => {
                "clearpart --none keeps them".to_string()
            }
            Some(_) => "clearpart keeps all of them".to_string(),
        };
        return Err(PlanError::HasPartitions {
            disk: disk.name.clone(),
            found: format!("{}: {}", disk.table, describe_partitions(&kept)),
            clear,
        });
    }
    if disk.table == TableKind::Msdos {
        return Err(PlanError::MbrKept {
            disk: disk.name.clone(),
            kept: describe_partitions(&kept),
        });
    }
    Ok(TableAction::Edit { kept, removed })
}
