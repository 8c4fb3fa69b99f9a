//! Why a kickstart cannot be laid out on the disks found. Every message says what was
//! expected, what was found and, where it helps, what to write instead.

use super::request::Origin;
use crate::hardware::{DriveSpecError, Firmware};
use crate::units::human;

/// A planning failure; nothing has been written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Layouts Kickstand parses but does not lay out yet (LVM on RAID, reusing existing
    /// volumes, the `btrfs` command).
    #[error(
        "{what}{} is not supported yet by the planner; lay it out with `autopart`, `part`, \
         `raid` or `volgroup`/`logvol` on partitions instead",
        at(.origin)
    )]
    NotSupportedYet { what: String, origin: Origin },
    /// A drive name in a command matched nothing. (The spec error is part of the message, not
    /// a separate cause: `{:#}` would print it twice.)
    #[error("{command}: {error}")]
    Drive {
        command: String,
        error: DriveSpecError,
    },
    /// No disk is left to install to.
    #[error("no disk to install to: {why} (disks seen: {})", list(.seen))]
    NoDisk { why: String, seen: Vec<String> },
    /// A named disk may not be used.
    #[error("{command} names {disk}, which cannot be used: {why}")]
    Unusable {
        command: String,
        disk: String,
        why: String,
    },
    /// A disk to be written holds partitions the kickstart does not allow to remove.
    #[error(
        "disk {disk} already has partitions ({found}) and {clear}; add `clearpart --all \
         --drives={disk}` (or `--linux`) to allow removing them"
    )]
    HasPartitions {
        disk: String,
        found: String,
        clear: String,
    },
    /// A disk to be written has no valid partition table and `zerombr` was not given.
    #[error(
        "disk {disk} has {found} and no usable partition table; add `zerombr` (or `clearpart \
         --all --drives={disk}`) to allow initialising it"
    )]
    NeedsInit { disk: String, found: String },
    /// Partitions to keep sit in an MBR table, which the installer does not edit.
    #[error(
        "disk {disk} has an MBR (msdos) partition table with partitions to keep ({kept}); the \
         installer writes GPT only, so it can only replace the whole table: clear the disk \
         with `clearpart --all --drives={disk}`"
    )]
    MbrKept { disk: String, kept: String },
    /// `clearpart --disklabel` asks for a table other than GPT.
    #[error("clearpart --disklabel={0}: only gpt is supported (expected `--disklabel=gpt`)")]
    DiskLabel(String),
    /// The partitions for a disk do not fit.
    #[error(
        "disk {disk} is {} ({} usable for partitions) but the layout needs at least {}: {}",
        human(*.disk_size), human(*.available), human(*.needed), parts_list(.parts)
    )]
    TooSmall {
        disk: String,
        disk_size: u64,
        available: u64,
        needed: u64,
        parts: Vec<(String, u64)>,
    },
    /// A partition would be smaller than its filesystem allows.
    #[error("{what}{} gets {} but {fstype} needs at least {}", at(.origin), human(*.size), human(*.min))]
    BelowMinimum {
        what: String,
        origin: Origin,
        size: u64,
        min: u64,
        fstype: String,
    },
    /// A `--grow` partition has no space to grow into and no size of its own.
    #[error(
        "{what}{} has --grow but no space is left on {disk} to grow into (the partitions \
         before it fill the disk); give it a --size or use a bigger disk",
        at(.origin)
    )]
    GrowNothing {
        what: String,
        origin: Origin,
        disk: String,
    },
    /// A partition has neither a size nor `--grow`.
    #[error("{what}{} has no size: give --size=MiB, --grow or (for swap) --recommended", at(.origin))]
    NoSize { what: String, origin: Origin },
    /// The same mount point twice.
    #[error("mount point {mount} is given twice{}", twice(.first, .second))]
    DuplicateMount {
        mount: String,
        first: Origin,
        second: Origin,
    },
    /// The root filesystem cannot hold the image.
    #[error(
        "the root filesystem is {} but the image needs at least {} ({} compressed × {margin}); \
         use a bigger disk or give / more space",
        human(*.root), human(*.needed), human(*.compressed)
    )]
    ImageTooBig {
        root: u64,
        needed: u64,
        compressed: u64,
        margin: u64,
    },
    /// A boot partition the firmware needs is missing from a `part` layout.
    #[error(
        "{firmware} firmware needs {needed}, and the kickstart has none: add `{hint}` or `reqpart`"
    )]
    MissingBootPartition {
        firmware: Firmware,
        needed: &'static str,
        hint: &'static str,
    },
    /// Anything else the kickstart asks for that makes no sense here.
    #[error("{message}{}", at(.origin))]
    Invalid { origin: Origin, message: String },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn parts_list(parts: &[(String, u64)]) -> String {
    parts
        .iter()
        .map(|(what, size)| format!("{what} {}", human(*size)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// " (FILE:LINE:COLUMN)" when the place is known.
fn at(origin: &Origin) -> String {
    if origin.line == 0 {
        String::new()
    } else {
        format!(" ({origin})")
    }
}

fn twice(first: &Origin, second: &Origin) -> String {
    if first.line == 0 || second.line == 0 {
        String::new()
    } else {
        format!(" ({first} and {second})")
    }
}
