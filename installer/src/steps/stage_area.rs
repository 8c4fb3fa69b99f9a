//! The staging area on a disk, for machines whose RAM cannot hold the image (decided at
//! planning by [`crate::storage::staging`]): a temporary ext4 on the plan's swap area, or on a
//! temporary partition in space the layout leaves free. Made after the storage step, given
//! back after bootc — or on the way out of a failure.
//!
//! What a half-done step leaves behind: [`DiskArea::give_back`] says what it restored and, when
//! it fails, what remains (a swap area still holding an ext4 is no swap until `mkswap -U UUID`;
//! a temporary partition left in the GPT is harmless space the layout does not use).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::disk::{blkpg, gpt, wipe};
use crate::hardware::{Disk, ExistingPartition};
use crate::steps::storage::Prepared;
use crate::storage::staging::{StagingArea, StagingPlan, TempPartition};
use crate::storage::{Content, DiskPlan, Filesystem, FsType, PlannedPartition, TableAction, guid};
use crate::tools;

/// The label of the temporary ext4 (and the GPT name of a temporary partition).
pub const LABEL: &str = "kickstand-stage";

/// A disk area holding a temporary ext4 for staging.
#[derive(Debug)]
pub struct DiskArea {
    /// The device the ext4 is on.
    pub node: PathBuf,
    /// For messages: "the swap area vda partition 3", "temporary partition 1 of vdb".
    pub what: String,
    restore: Restore,
}

#[derive(Debug)]
enum Restore {
    /// Made a swap area again with these.
    Swap {
        uuid: String,
        label: Option<String>,
        mkfs_options: Vec<String>,
    },
    /// Removed; the PMBR keeps its boot flag.
    Partition {
        part: TempPartition,
        bootable_pmbr: bool,
    },
}

impl DiskArea {
    /// Makes the area `staging` plans (not RAM) on the storage `prepared` made, with an empty
    /// ext4 on it. A failure here leaves a temporary partition in the GPT at worst (the error
    /// says so).
    pub fn make(staging: &StagingPlan, prepared: &Prepared) -> Result<DiskArea> {
        let area = match &staging.area {
            StagingArea::Ram { .. } => anyhow::bail!("RAM staging needs no disk area"),
            StagingArea::Swap { device, .. } => {
                let node = prepared
                    .device_node(device)
                    .with_context(|| format!("no device was made for the swap area {device}"))?
                    .to_path_buf();
                let uuid = prepared
                    .uuid_of(device)
                    .with_context(|| format!("the swap area {device} has no UUID"))?;
                let (label, mkfs_options) = prepared
                    .plan
                    .devices()
                    .into_iter()
                    .find(|(d, _)| d == device)
                    .and_then(|(_, c)| match c.opened() {
                        Content::Swap {
                            label,
                            mkfs_options,
                        } => Some((label.clone(), mkfs_options.clone())),
                        _ => None,
                    })
                    .with_context(|| format!("{device} is not a swap area of the plan"))?;
                DiskArea {
                    node,
                    what: format!("the swap area {device}"),
                    restore: Restore::Swap {
                        uuid,
                        label,
                        mkfs_options,
                    },
                }
            }
            StagingArea::Partition(part) => {
                let bootable_pmbr = prepared
                    .plan
                    .disks
                    .iter()
                    .find(|d| d.name == part.disk)
                    .is_some_and(|d| d.bootable_pmbr);
                let node = add_partition(part, bootable_pmbr)?;
                DiskArea {
                    node,
                    what: format!("temporary partition {} of {}", part.number, part.disk),
                    restore: Restore::Partition {
                        part: part.clone(),
                        bootable_pmbr,
                    },
                }
            }
        };
        let made = Cmd::new(
            tools::MKFS_EXT4,
            format!("making the staging filesystem on {}", area.what),
        )
        .args(["-F", "-q", "-t", "ext4", "-m", "0", "-L", LABEL])
        .arg(&area.node)
        .run();
        if let Err(e) = made {
            let left = area.give_back();
            return Err(anyhow::Error::new(e).context(describe(&left)));
        }
        Ok(area)
    }

    /// Gives the area back (its ext4 must be unmounted): `mkswap` with the planned UUID and
    /// label, or the temporary partition removed. Returns what was done.
    pub fn give_back(&self) -> Result<String> {
        match &self.restore {
            Restore::Swap {
                uuid,
                label,
                mkfs_options,
            } => {
                Cmd::new(
                    tools::MKSWAP,
                    format!("making {} a swap area again", self.what),
                )
                .args(["-U", uuid])
                .args(label.iter().flat_map(|l| ["-L", l.as_str()]))
                .args(mkfs_options)
                .arg(&self.node)
                .run()?;
                Ok(format!("{} is a swap area again (UUID {uuid})", self.what))
            }
            Restore::Partition {
                part,
                bootable_pmbr,
            } => {
                remove_partition(part, *bootable_pmbr)?;
                Ok(format!(
                    "the {} was removed{}",
                    self.what,
                    if part.new_table {
                        " and the disk's partition table wiped"
                    } else {
                        ""
                    }
                ))
            }
        }
    }
}

/// For an error: what giving an area back did, or what it left.
pub fn describe(given_back: &Result<String>) -> String {
    match given_back {
        Ok(done) => format!("staging area: {done}"),
        Err(e) => format!("staging area NOT given back, left behind: {e:#}"),
    }
}

fn open(part: &TempPartition) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&part.path)
        .with_context(|| format!("opening {}", part.path.display()))
}

/// The one-partition view of `part`'s disk that [`gpt::write`] edits.
fn disk_plan(part: &TempPartition, table: TableAction, bootable_pmbr: bool) -> DiskPlan {
    DiskPlan {
        name: part.disk.clone(),
        path: part.path.clone(),
        description: part.disk.clone(),
        size: part.disk_size,
        sector_size: part.sector_size,
        table,
        partitions: Vec::new(),
        bootable_pmbr,
    }
}

/// Writes the temporary partition into the GPT (a new GPT on a disk the plan left blank) and
/// tells the kernel; returns its node.
fn add_partition(part: &TempPartition, bootable_pmbr: bool) -> Result<PathBuf> {
    let what = || format!("adding the temporary staging partition to {}", part.disk);
    let mut file = open(part).with_context(what)?;
    let table = if part.new_table {
        TableAction::New { erases: None }
    } else {
        TableAction::Edit {
            kept: Vec::new(),
            removed: Vec::new(),
        }
    };
    let mut plan = disk_plan(part, table, bootable_pmbr);
    plan.partitions.push(PlannedPartition {
        number: part.number,
        start: part.start,
        size: part.size,
        type_guid: guid::LINUX_FS,
        name: LABEL.into(),
        content: Content::Filesystem(Filesystem {
            fstype: FsType::Ext4,
            label: Some(LABEL.into()),
            mount: None,
            options: None,
            mkfs_options: Vec::new(),
            subvolumes: Vec::new(),
        }),
        origin: Default::default(),
    });
    wipe::wipe_signatures(&file, part.start, part.size).with_context(what)?;
    gpt::write(&mut file, &plan).with_context(what)?;
    let node = Disk {
        path: part.path.clone(),
        ..Default::default()
    }
    .partition_path(part.number);
    let added = blkpg::add_one(
        &file,
        &part.disk,
        &node,
        (part.number, part.start, part.size),
    );
    match added {
        Ok(node) => Ok(node),
        Err(e) => {
            let left = describe(
                &remove_partition(part, bootable_pmbr)
                    .map(|()| format!("the temporary partition {} was removed", part.number)),
            );
            Err(e.context(left).context(what()))
        }
    }
}

/// Wipes the temporary partition's signatures, removes it from the kernel and the GPT (or
/// wipes the GPT the staging wrote onto a blank disk).
fn remove_partition(part: &TempPartition, bootable_pmbr: bool) -> Result<()> {
    let what = || {
        format!(
            "removing the temporary staging partition {} of {}",
            part.number, part.disk
        )
    };
    let mut file = open(part).with_context(what)?;
    wipe::wipe_signatures(&file, part.start, part.size).with_context(what)?;
    if blkpg::kernel_partitions(&part.disk).contains(&part.number) {
        blkpg::delete_one(&file, &part.disk, part.number).with_context(what)?;
    }
    if part.new_table {
        return wipe::destroy_table(&file, part.disk_size).with_context(what);
    }
    let removed = ExistingPartition {
        number: part.number,
        start: part.start,
        size: part.size,
        type_id: guid::LINUX_FS.into(),
        signature: None,
    };
    let table = TableAction::Edit {
        kept: Vec::new(),
        removed: vec![removed],
    };
    gpt::write(&mut file, &disk_plan(part, table, bootable_pmbr)).with_context(what)
}
