//! The storage step: carries out a [`StoragePlan`] on the disks.
//!
//! Order: refuse disks that are in use (exclusive open) or changed since planning, wipe old
//! signatures, write the GPT and protective MBR, tell the kernel (BLKRRPART or BLKPG) and wait
//! for the partition nodes, make the filesystems, create btrfs subvolumes, mount the tree under
//! the target root.
//!
//! On failure after the first write, every disk written so far is left unbootable rather than
//! half-installed: a disk that got a new table has both partition tables zeroed; a disk whose
//! table was edited gets its original table back (removed partitions stay wiped). The error
//! says which.

use crate::disk::fstab::FstabEntry;
use crate::disk::mount::{MountTree, Mounted};
use crate::disk::{blkpg, gpt, mkfs, wipe};
use crate::storage::{Content, DiskPlan, FsType, StoragePlan, TableAction};
use crate::tools::{self, Tool};
use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How the storage step runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the tree is mounted (`/mnt/sysroot` in the installer).
    pub target: PathBuf,
    /// Mount the ESP at `/boot/efi` (inside the installer VM). On a host it stays unmounted:
    /// its files are written with mtools.
    pub mount_esp: bool,
}

/// One partition the step made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadePartition {
    /// Disk kernel name.
    pub disk: String,
    /// Partition number.
    pub number: u32,
    /// Device node.
    pub node: PathBuf,
    /// Filesystem or swap UUID (None for BIOS boot).
    pub uuid: Option<String>,
}

/// What the storage step leaves for the next steps: the target tree, mounted (unmounted when
/// this is dropped), and the UUIDs for `/etc/fstab` and the boot loader.
#[derive(Debug)]
pub struct Prepared {
    /// The plan that was carried out.
    pub plan: StoragePlan,
    /// The target root.
    pub target: PathBuf,
    /// Every new partition.
    pub partitions: Vec<MadePartition>,
    mounts: MountTree,
}

impl Prepared {
    /// The `/etc/fstab` entries of the new system, by UUID, in mount order (swap last).
    pub fn fstab(&self) -> Vec<FstabEntry> {
        self.plan
            .mount_points()
            .into_iter()
            .filter_map(|m| {
                let uuid = self
                    .partitions
                    .iter()
                    .find(|p| p.disk == m.disk && p.number == m.number)?
                    .uuid
                    .clone()?;
                Some(FstabEntry::new(&uuid, &m.mount, m.fstype, &m.options))
            })
            .collect()
    }

    /// Mounted directories, in mount order.
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.mounts.targets().map(Path::to_path_buf).collect()
    }

    /// The partition node of `disk`'s partition `number`.
    pub fn node(&self, disk: &str, number: u32) -> Option<&Path> {
        self.partitions
            .iter()
            .find(|p| p.disk == disk && p.number == number)
            .map(|p| p.node.as_path())
    }
}

/// The external programs a plan needs.
pub fn needed_tools(plan: &StoragePlan) -> Vec<Tool> {
    let mut out = vec![tools::BLKID];
    for p in plan.disks.iter().flat_map(|d| &d.partitions) {
        let t: &[Tool] = match &p.content {
            Content::BiosBoot => &[],
            Content::Swap { .. } => &[tools::MKSWAP],
            Content::Filesystem(fs) => match fs.fstype {
                FsType::Xfs => &[tools::MKFS_XFS],
                FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => &[tools::MKFS_EXT4],
                FsType::Btrfs if fs.subvolumes.is_empty() => &[tools::MKFS_BTRFS],
                FsType::Btrfs => &[tools::MKFS_BTRFS, tools::BTRFS],
                FsType::Vfat => &[tools::MKFS_VFAT],
            },
        };
        for tool in t {
            if !out.contains(tool) {
                out.push(*tool);
            }
        }
    }
    out
}

/// A disk opened for writing, with what is needed to undo the write.
struct Open {
    file: File,
    undo: Undo,
}

enum Undo {
    Destroy,
    Restore(wipe::SavedTable),
}

fn open_exclusive(disk: &DiskPlan) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL)
        .open(&disk.path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                anyhow::anyhow!(
                    "disk {} ({}) is in use: mounted, used as swap, or held by another device; \
                     nothing was written",
                    disk.name,
                    disk.path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("opening {}", disk.path.display()))
            }
        })?;
    let size = blkpg::device_size(&file)
        .with_context(|| format!("{} is not a block device", disk.path.display()))?;
    if size != disk.size {
        bail!(
            "disk {} is now {} bytes but was {} when the plan was made; nothing was written",
            disk.name,
            size,
            disk.size
        );
    }
    Ok(file)
}

/// Carries out `plan`. See the module documentation for what a failure leaves behind.
pub fn run(plan: &StoragePlan, options: &Options) -> Result<Prepared> {
    let missing = tools::missing(&needed_tools(plan));
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|t| format!("{} (package {}: {})", t.program, t.package, t.why))
            .collect();
        bail!("missing programs, nothing was written: {}", list.join("; "));
    }
    // Open everything first: a busy disk stops the install before any disk is written.
    let mut open = Vec::new();
    for disk in &plan.disks {
        let file = open_exclusive(disk)?;
        let undo = match disk.table {
            TableAction::New { .. } => Undo::Destroy,
            TableAction::Edit { .. } => Undo::Restore(wipe::SavedTable::read(&file, disk.size)?),
        };
        open.push(Open { file, undo });
    }
    let mut made = Vec::new();
    let result = (|| -> Result<MountTree> {
        for (disk, o) in plan.disks.iter().zip(open.iter_mut()) {
            made.extend(partition(disk, &mut o.file)?);
        }
        // mkfs opens the partitions exclusively: trade the whole-disk claims for plain opens.
        for (disk, o) in plan.disks.iter().zip(open.iter_mut()) {
            o.file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&disk.path)
                .with_context(|| format!("reopening {}", disk.path.display()))?;
        }
        format(plan, &mut made)?;
        mount_tree(plan, &made, options)
    })();
    match result {
        Ok(mounts) => Ok(Prepared {
            plan: plan.clone(),
            target: options.target.clone(),
            partitions: made,
            mounts,
        }),
        Err(err) => {
            let undone = undo_all(plan, &open);
            Err(err.context(undone))
        }
    }
}

/// Wipes, writes the table and announces the partitions of one disk.
fn partition(disk: &DiskPlan, file: &mut File) -> Result<Vec<MadePartition>> {
    let what = || format!("partitioning {} ({})", disk.name, disk.path.display());
    match &disk.table {
        TableAction::New { erases } => {
            if let Some(e) = erases {
                tracing::info!(disk = %disk.name, erases = %e, "erasing");
            }
            wipe::wipe_signatures(file, 0, disk.size).with_context(what)?;
        }
        TableAction::Edit { removed, .. } => {
            for p in removed {
                tracing::info!(disk = %disk.name, partition = p.number, "removing partition");
                wipe::wipe_signatures(file, p.start, p.size).with_context(what)?;
            }
        }
    }
    for p in &disk.partitions {
        wipe::wipe_signatures(file, p.start, p.size).with_context(what)?;
    }
    gpt::write(file, disk).with_context(what)?;
    let mut table: Vec<(u32, u64, u64)> = disk
        .partitions
        .iter()
        .map(|p| (p.number, p.start, p.size))
        .collect();
    if let TableAction::Edit { kept, .. } = &disk.table {
        table.extend(kept.iter().map(|p| (p.number, p.start, p.size)));
    }
    let probe = crate::hardware::Disk {
        path: disk.path.clone(),
        ..Default::default()
    };
    let nodes = blkpg::announce(file, &disk.name, |n| probe.partition_path(n), &table)
        .with_context(what)?;
    Ok(disk
        .partitions
        .iter()
        .zip(nodes)
        .map(|(p, node)| MadePartition {
            disk: disk.name.clone(),
            number: p.number,
            node,
            uuid: None,
        })
        .collect())
}

fn format(plan: &StoragePlan, made: &mut [MadePartition]) -> Result<()> {
    for disk in &plan.disks {
        for p in &disk.partitions {
            let m = made
                .iter_mut()
                .find(|m| m.disk == disk.name && m.number == p.number)
                .context("partition node missing")?;
            let what = || format!("formatting partition {} of {}", p.number, disk.name);
            m.uuid = mkfs::make(&disk.path, disk.sector_size, p, &m.node).with_context(what)?;
            mkfs::make_subvolumes(p, &m.node).with_context(what)?;
        }
    }
    Ok(())
}

fn mount_tree(plan: &StoragePlan, made: &[MadePartition], options: &Options) -> Result<MountTree> {
    let mut tree = MountTree::default();
    for m in plan.mount_points() {
        let Some(fstype) = m.fstype else { continue };
        if fstype == FsType::Vfat && !options.mount_esp {
            tracing::info!(mount = %m.mount, "not mounting the ESP on the host (written with mtools)");
            continue;
        }
        let node = made
            .iter()
            .find(|p| p.disk == m.disk && p.number == m.number)
            .map(|p| p.node.clone())
            .context("partition node missing")?;
        let target = options.target.join(m.mount.trim_start_matches('/'));
        tree.push(Mounted::mount(&node, &target, fstype.name(), &m.options)?);
    }
    Ok(tree)
}

/// Leaves every written disk unbootable; returns what was done, for the error message.
fn undo_all(plan: &StoragePlan, open: &[Open]) -> String {
    let mut said = Vec::new();
    for (disk, o) in plan.disks.iter().zip(open) {
        let _ = blkpg::forget_partitions(&o.file, &disk.name);
        let done = match &o.undo {
            Undo::Destroy => wipe::destroy_table(&o.file, disk.size).map(|()| {
                format!(
                    "{}: new partition table wiped, the disk is blank",
                    disk.name
                )
            }),
            Undo::Restore(saved) => saved.restore(&o.file).map(|()| {
                format!(
                    "{}: original partition table restored (removed partitions stay wiped)",
                    disk.name
                )
            }),
        };
        said.push(done.unwrap_or_else(|e| {
            format!(
                "{}: could not undo the partitioning ({e:#}); do not boot from it",
                disk.name
            )
        }));
    }
    format!("the storage step failed; {}", said.join("; "))
}
