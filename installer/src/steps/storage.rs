//! The storage step: carries out a [`StoragePlan`] on the disks.
//!
//! Order: refuse disks that are in use (exclusive open) or changed since planning, wipe old
//! signatures, write the GPT and protective MBR, tell the kernel (BLKRRPART or BLKPG) and wait
//! for the partition nodes, create and start the md arrays, format and open the LUKS
//! containers (on partitions and arrays), make the LVM physical
//! volumes, volume groups, thin pools and logical volumes, make the filesystems, create btrfs
//! subvolumes, mount the tree under the target root.
//!
//! On failure after the first write, every disk written so far is left unbootable rather than
//! half-installed: the logical volumes are deactivated, the LUKS devices closed and the md
//! arrays stopped, then a disk
//! that got a new table has both partition tables zeroed; a disk whose table was edited gets
//! its original table back (removed partitions stay wiped). The error says which.

use crate::disk::fstab::FstabEntry;
use crate::disk::mount::{MountTree, Mounted};
use crate::disk::{blkpg, gpt, luks, lvm, mdadm, mkfs, wipe};
use crate::storage::{Content, DeviceRef, DiskPlan, FsType, MdArray, StoragePlan, TableAction};
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
    /// Filesystem or swap UUID (None for BIOS boot and LVM physical volumes).
    pub uuid: Option<String>,
    /// The LUKS container on it, opened.
    pub luks: Option<luks::Opened>,
}

/// One logical volume the step made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeVolume {
    /// Volume group.
    pub vg: String,
    /// Logical volume.
    pub lv: String,
    /// `/dev/mapper/VG-LV`.
    pub node: PathBuf,
    /// Filesystem or swap UUID.
    pub uuid: Option<String>,
    /// The LUKS container on it (`logvol --encrypted`), opened.
    pub luks: Option<luks::Opened>,
}

/// One md array the step created and started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeArray {
    /// The array, as started (name, `/dev/mdN`, array UUID).
    pub started: mdadm::Started,
    /// Filesystem or swap UUID.
    pub uuid: Option<String>,
    /// The LUKS container on it, opened.
    pub luks: Option<luks::Opened>,
}

/// The device-mapper devices and md arrays the step activated: deactivated (LUKS devices on
/// logical volumes, volume groups, LUKS devices on partitions and arrays, then arrays) when
/// dropped, after the mounts are gone.
#[derive(Debug, Default)]
struct Stack {
    lv_luks: Vec<String>,
    vgs: Vec<String>,
    luks: Vec<String>,
    arrays: Vec<PathBuf>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for name in self.lv_luks.iter().rev() {
            luks::close(name);
        }
        for vg in self.vgs.iter().rev() {
            lvm::deactivate(vg);
        }
        for name in self.luks.iter().rev() {
            luks::close(name);
        }
        for node in self.arrays.iter().rev() {
            mdadm::stop(node);
        }
    }
}

/// What the storage step leaves for the next steps: the target tree, mounted (unmounted when
/// this is dropped, then its logical volumes deactivated and LUKS devices closed), and the
/// names and UUIDs for `/etc/fstab`, `/etc/crypttab` and the boot loader.
#[derive(Debug)]
pub struct Prepared {
    /// The plan that was carried out.
    pub plan: StoragePlan,
    /// The target root.
    pub target: PathBuf,
    /// Every new partition.
    pub partitions: Vec<MadePartition>,
    /// Every new logical volume.
    pub volumes: Vec<MadeVolume>,
    /// Every new md array.
    pub arrays: Vec<MadeArray>,
    // Dropped in this order: unmount, then deactivate.
    mounts: MountTree,
    _stack: Stack,
}

/// The device holding `d`'s filesystem (the opened LUKS device of an encrypted partition or
/// volume) and the filesystem's UUID.
fn fs_device<'a>(
    partitions: &'a [MadePartition],
    volumes: &'a [MadeVolume],
    arrays: &'a [MadeArray],
    d: &DeviceRef,
) -> Option<(&'a Path, Option<&'a str>)> {
    match d {
        DeviceRef::Array { name } => arrays.iter().find(|a| a.started.name == *name).map(|a| {
            let node = a
                .luks
                .as_ref()
                .map_or(a.started.node.as_path(), |l| l.path.as_path());
            (node, a.uuid.as_deref())
        }),
        DeviceRef::Partition { disk, number } => partitions
            .iter()
            .find(|p| p.disk == *disk && p.number == *number)
            .map(|p| {
                let node = p
                    .luks
                    .as_ref()
                    .map_or(p.node.as_path(), |l| l.path.as_path());
                (node, p.uuid.as_deref())
            }),
        DeviceRef::LogicalVolume { vg, lv } => volumes
            .iter()
            .find(|v| v.vg == *vg && v.lv == *lv)
            .map(|v| {
                let node = v
                    .luks
                    .as_ref()
                    .map_or(v.node.as_path(), |l| l.path.as_path());
                (node, v.uuid.as_deref())
            }),
    }
}

impl Prepared {
    /// The `/etc/fstab` entries of the new system, in mount order (swap last): logical volumes
    /// by their `/dev/mapper` name (as Anaconda writes them), everything else by UUID.
    pub fn fstab(&self) -> Vec<FstabEntry> {
        self.plan
            .mount_points()
            .into_iter()
            .filter_map(|m| {
                let (node, uuid) =
                    fs_device(&self.partitions, &self.volumes, &self.arrays, &m.device)?;
                let mut e = FstabEntry::new(uuid?, &m.mount, m.fstype, &m.options);
                if let DeviceRef::LogicalVolume { .. } = m.device {
                    e.spec = node.display().to_string();
                }
                Some(e)
            })
            .collect()
    }

    /// The UUID of the filesystem or swap on `d`.
    pub fn uuid_of(&self, d: &DeviceRef) -> Option<String> {
        fs_device(&self.partitions, &self.volumes, &self.arrays, d)
            .and_then(|(_, u)| u.map(str::to_string))
    }

    /// The device node holding `d`'s filesystem or swap (the opened LUKS device when
    /// encrypted).
    pub fn device_node(&self, d: &DeviceRef) -> Option<&Path> {
        fs_device(&self.partitions, &self.volumes, &self.arrays, d).map(|(node, _)| node)
    }

    /// What `root=` names: `/dev/mapper/VG-LV` for a logical volume, else `UUID=…`.
    pub fn root_spec(&self) -> Option<String> {
        let m = self
            .plan
            .mount_points()
            .into_iter()
            .find(|m| m.mount == "/")?;
        let (node, uuid) = fs_device(&self.partitions, &self.volumes, &self.arrays, &m.device)?;
        Some(match m.device {
            DeviceRef::LogicalVolume { .. } => node.display().to_string(),
            DeviceRef::Partition { .. } | DeviceRef::Array { .. } => format!("UUID={}", uuid?),
        })
    }

    /// Every opened LUKS container, on partitions then on arrays.
    fn opened_luks(&self) -> impl Iterator<Item = &luks::Opened> {
        let parts = self.partitions.iter().filter_map(|p| p.luks.as_ref());
        parts.chain(self.arrays.iter().filter_map(|a| a.luks.as_ref()))
    }

    /// Kernel arguments the image's initramfs (dracut) needs to reach the root and swap:
    /// `rd.md.uuid=UUID` for every md array (so `/boot` on RAID is there too for systems
    /// without udev's incremental assembly), `rd.luks.uuid=luks-UUID` for every LUKS
    /// container on a partition or array and for those on the root and swap volumes (the
    /// others are opened from crypttab after the switch to the root), `rd.lvm.lv=VG/LV` for
    /// the root and swap volumes.
    pub fn kernel_args(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .arrays
            .iter()
            .map(|a| format!("rd.md.uuid={}", a.started.uuid))
            .collect();
        out.extend(
            self.opened_luks()
                .map(|l| format!("rd.luks.uuid={}", l.name)),
        );
        for m in self.plan.mount_points() {
            if let DeviceRef::LogicalVolume { vg, lv } = &m.device {
                if m.mount == "/" || m.mount == "swap" {
                    out.push(format!("rd.lvm.lv={vg}/{lv}"));
                    let opened = self.volumes.iter().find(|v| v.vg == *vg && v.lv == *lv);
                    if let Some(l) = opened.and_then(|v| v.luks.as_ref()) {
                        out.push(format!("rd.luks.uuid={}", l.name));
                    }
                }
            }
        }
        out
    }

    /// `/etc/crypttab` of the new system (None without LUKS): each container by UUID, opened
    /// as `luks-UUID` with the passphrase asked at boot.
    pub fn crypttab(&self) -> Option<String> {
        let lines: Vec<String> = self
            .opened_luks()
            .chain(self.volumes.iter().filter_map(|v| v.luks.as_ref()))
            .map(|l| format!("{} UUID={} none luks\n", l.name, l.uuid))
            .collect();
        (!lines.is_empty()).then(|| {
            format!(
                "# /etc/crypttab written by kickstand-installer\n{}",
                lines.concat()
            )
        })
    }

    /// `mdadm.conf` of the new system (None without arrays): an `ARRAY` line per array, by
    /// UUID, named `/dev/md/NAME`.
    pub fn mdadm_conf(&self) -> Option<String> {
        let lines: Vec<String> = self
            .plan
            .md_arrays
            .iter()
            .filter_map(|a| {
                let made = self.arrays.iter().find(|m| m.started.name == a.name)?;
                Some(mdadm::conf_line(a, &made.started))
            })
            .collect();
        (!lines.is_empty()).then(|| {
            format!(
                "# mdadm.conf written by kickstand-installer; arrays by UUID (mdadm --detail \
                 --scan)\n{}",
                lines.concat()
            )
        })
    }

    /// The started array `name`.
    pub fn array(&self, name: &str) -> Option<&MadeArray> {
        self.arrays.iter().find(|a| a.started.name == name)
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
    if !plan.volume_groups.is_empty() {
        out.push(tools::LVM);
    }
    if plan
        .volume_groups
        .iter()
        .any(|vg| !vg.thin_pools.is_empty())
    {
        out.push(tools::THIN_CHECK);
    }
    if !plan.md_arrays.is_empty() {
        out.push(tools::MDADM);
    }
    for (_, content) in plan.devices() {
        if let Content::Encrypted { .. } = content {
            if !out.contains(&tools::CRYPTSETUP) {
                out.push(tools::CRYPTSETUP);
            }
        }
        let t: &[Tool] = match content.opened() {
            Content::BiosBoot
            | Content::PhysicalVolume { .. }
            | Content::RaidMember { .. }
            | Content::Encrypted { .. } => &[],
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
    let result = (|| -> Result<(MountTree, Stack, Vec<MadeVolume>, Vec<MadeArray>)> {
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
        // Plain partitions first: the ESP is written through the whole disk, which can no
        // longer be opened exclusively once device-mapper holds one of its partitions.
        format_partitions(plan, &mut made)?;
        // On an error below, `stack` is dropped here first: volumes deactivated, LUKS closed.
        let mut stack = Stack::default();
        let mut arrays = md_arrays(plan, &made, &mut stack)?;
        let mut volumes = mapped_devices(plan, &mut made, &mut arrays, &mut stack)?;
        format_mapped(plan, &mut made, &mut volumes, &mut arrays, &mut stack)?;
        let mounts = mount_tree(plan, &made, &volumes, &arrays, options)?;
        Ok((mounts, stack, volumes, arrays))
    })();
    match result {
        Ok((mounts, stack, volumes, arrays)) => Ok(Prepared {
            plan: plan.clone(),
            target: options.target.clone(),
            partitions: made,
            volumes,
            arrays,
            mounts,
            _stack: stack,
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
            luks: None,
        })
        .collect())
}

/// Creates and starts the md arrays over their member partitions; each goes onto `stack` as
/// soon as it runs.
fn md_arrays(
    plan: &StoragePlan,
    made: &[MadePartition],
    stack: &mut Stack,
) -> Result<Vec<MadeArray>> {
    let mut out = Vec::new();
    for array in &plan.md_arrays {
        let members = array
            .members
            .iter()
            .map(|m| {
                made.iter()
                    .find(|p| p.disk == m.disk && p.number == m.number)
                    .map(|p| p.node.clone())
                    .context("partition node missing")
            })
            .collect::<Result<Vec<_>>>()?;
        let started = mdadm::create(array, &members)
            .with_context(|| format!("creating the RAID array {}", array.name))?;
        tracing::info!(array = %array.name, node = %started.node.display(), uuid = %started.uuid, "md array started");
        stack.arrays.push(started.node.clone());
        out.push(MadeArray {
            started,
            uuid: None,
            luks: None,
        });
    }
    Ok(out)
}

/// The array `a` of the plan, as made.
fn made_array<'a>(arrays: &'a mut [MadeArray], a: &MdArray) -> Result<&'a mut MadeArray> {
    arrays
        .iter_mut()
        .find(|m| m.started.name == a.name)
        .with_context(|| format!("RAID array {} missing", a.name))
}

/// Formats and opens the LUKS containers (on partitions and arrays), then makes the volume
/// groups and their volumes; each activated device goes onto `stack` as soon as it exists.
fn mapped_devices(
    plan: &StoragePlan,
    made: &mut [MadePartition],
    arrays: &mut [MadeArray],
    stack: &mut Stack,
) -> Result<Vec<MadeVolume>> {
    for a in &plan.md_arrays {
        let Content::Encrypted { luks: l, .. } = &a.content else {
            continue;
        };
        let m = made_array(arrays, a)?;
        let opened = luks::format_and_open(l, &m.started.node)
            .with_context(|| format!("encrypting the RAID array {}", a.name))?;
        tracing::info!(device = %opened.path.display(), "LUKS container opened");
        stack.luks.push(opened.name.clone());
        m.luks = Some(opened);
    }
    for disk in &plan.disks {
        for p in &disk.partitions {
            let Content::Encrypted { luks: l, .. } = &p.content else {
                continue;
            };
            let m = made
                .iter_mut()
                .find(|m| m.disk == disk.name && m.number == p.number)
                .context("partition node missing")?;
            let opened = luks::format_and_open(l, &m.node)
                .with_context(|| format!("encrypting partition {} of {}", p.number, disk.name))?;
            tracing::info!(device = %opened.path.display(), "LUKS container opened");
            stack.luks.push(opened.name.clone());
            m.luks = Some(opened);
        }
    }
    let mut volumes = Vec::new();
    for vg in &plan.volume_groups {
        let mut pvs = Vec::new();
        for disk in &plan.disks {
            for p in &disk.partitions {
                if !matches!(p.content.opened(), Content::PhysicalVolume { vg: v } if *v == vg.name)
                {
                    continue;
                }
                let m = made
                    .iter()
                    .find(|m| m.disk == disk.name && m.number == p.number)
                    .context("partition node missing")?;
                pvs.push(m.luks.as_ref().map_or(m.node.clone(), |l| l.path.clone()));
            }
        }
        stack.vgs.push(vg.name.clone());
        let nodes = lvm::create(vg, &pvs)
            .with_context(|| format!("creating the LVM volume group {}", vg.name))?;
        for (lv, node) in vg.volumes.iter().zip(nodes) {
            volumes.push(MadeVolume {
                vg: vg.name.clone(),
                lv: lv.name.clone(),
                node,
                uuid: None,
                luks: None,
            });
        }
    }
    Ok(volumes)
}

/// Makes the filesystems and swap areas that sit directly on partitions.
fn format_partitions(plan: &StoragePlan, made: &mut [MadePartition]) -> Result<()> {
    for disk in &plan.disks {
        for p in &disk.partitions {
            if matches!(p.content, Content::Encrypted { .. }) {
                continue;
            }
            let m = made
                .iter_mut()
                .find(|m| m.disk == disk.name && m.number == p.number)
                .context("partition node missing")?;
            let what = || format!("formatting partition {} of {}", p.number, disk.name);
            m.uuid = mkfs::make(&disk.path, disk.sector_size, p, &m.node).with_context(what)?;
            mkfs::make_subvolumes(&p.content, &m.node).with_context(what)?;
        }
    }
    Ok(())
}

/// Makes the filesystems and swap areas inside opened LUKS containers and on logical volumes
/// (formatting and opening the LUKS containers on logical volumes first).
fn format_mapped(
    plan: &StoragePlan,
    made: &mut [MadePartition],
    volumes: &mut [MadeVolume],
    arrays: &mut [MadeArray],
    stack: &mut Stack,
) -> Result<()> {
    for a in &plan.md_arrays {
        let m = made_array(arrays, a)?;
        let what = format!("RAID array {}", a.name);
        let (node, content) = match (&a.content, &m.luks) {
            (Content::Encrypted { inner, .. }, Some(l)) => (l.path.clone(), inner.as_ref()),
            (Content::Encrypted { .. }, None) => bail!("{what}: LUKS device missing"),
            (c, _) => (m.started.node.clone(), c),
        };
        m.uuid =
            mkfs::make_on(content, &node, &what).with_context(|| format!("formatting {what}"))?;
    }
    for disk in &plan.disks {
        for p in &disk.partitions {
            let Content::Encrypted { inner, .. } = &p.content else {
                continue;
            };
            let m = made
                .iter_mut()
                .find(|m| m.disk == disk.name && m.number == p.number)
                .context("partition node missing")?;
            let opened = m.luks.as_ref().context("LUKS device missing")?;
            let what = || format!("formatting partition {} of {}", p.number, disk.name);
            let on = format!("{} ({})", opened.path.display(), what());
            let uuid = mkfs::make_on(inner, &opened.path, &on).with_context(what)?;
            mkfs::make_subvolumes(inner, &opened.path).with_context(what)?;
            m.uuid = uuid;
        }
    }
    for vg in &plan.volume_groups {
        for lv in &vg.volumes {
            let v = volumes
                .iter_mut()
                .find(|v| v.vg == vg.name && v.lv == lv.name)
                .context("logical volume missing")?;
            let what = format!("logical volume {}/{}", vg.name, lv.name);
            let (content, node) = match &lv.content {
                Content::Encrypted { luks: l, inner } => {
                    let opened = luks::format_and_open(l, &v.node)
                        .with_context(|| format!("encrypting {what}"))?;
                    tracing::info!(device = %opened.path.display(), "LUKS container opened");
                    stack.lv_luks.push(opened.name.clone());
                    let node = opened.path.clone();
                    v.luks = Some(opened);
                    (inner.as_ref(), node)
                }
                c => (c, v.node.clone()),
            };
            v.uuid = mkfs::make_on(content, &node, &what)
                .with_context(|| format!("formatting {what}"))?;
        }
    }
    Ok(())
}

fn mount_tree(
    plan: &StoragePlan,
    made: &[MadePartition],
    volumes: &[MadeVolume],
    arrays: &[MadeArray],
    options: &Options,
) -> Result<MountTree> {
    let mut tree = MountTree::default();
    for m in plan.mount_points() {
        let Some(fstype) = m.fstype else { continue };
        let on_array = matches!(m.device, DeviceRef::Array { .. });
        if fstype == FsType::Vfat && !options.mount_esp && !on_array {
            tracing::info!(mount = %m.mount, "not mounting the ESP on the host (written with mtools)");
            continue;
        }
        let (node, _) = fs_device(made, volumes, arrays, &m.device)
            .with_context(|| format!("no device was made for {}", m.device))?;
        let target = options.target.join(m.mount.trim_start_matches('/'));
        tree.push(Mounted::mount(node, &target, fstype.name(), &m.options)?);
    }
    Ok(tree)
}

/// Writes the storage configuration the new system needs besides `/etc/fstab`:
/// `/etc/crypttab` when there are LUKS containers, `mdadm.conf` when there are md arrays
/// (`/etc/mdadm/mdadm.conf` where the image has `/etc/mdadm`, as Debian; else
/// `/etc/mdadm.conf`, as Fedora and RHEL).
pub fn write_config(root: &crate::deploy::TargetRoot, prepared: &Prepared) -> Result<()> {
    if let Some(text) = prepared.crypttab() {
        root.write("/etc/crypttab", text.as_bytes(), 0o600)
            .context("writing /etc/crypttab")?;
    }
    if let Some(text) = prepared.mdadm_conf() {
        let path = if root.exists("/etc/mdadm") {
            "/etc/mdadm/mdadm.conf"
        } else {
            "/etc/mdadm.conf"
        };
        root.write(path, text.as_bytes(), 0o644)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// Makes sure the kernel can carry out `plan`'s device-mapper layouts before anything is
/// written: with `load` (PID 1 of the installer initramfs) the modules are loaded first; on a
/// host whose kernel lacks them the install is refused.
pub fn check_kernel(plan: &StoragePlan, load: bool) -> Result<()> {
    check_md(plan, load)?;
    if !plan.needs_device_mapper() {
        return Ok(());
    }
    let encrypted = plan
        .devices()
        .iter()
        .any(|(_, c)| matches!(c, Content::Encrypted { .. }));
    let thin = plan
        .volume_groups
        .iter()
        .any(|vg| !vg.thin_pools.is_empty());
    let mut required = vec!["dm_mod"];
    if encrypted {
        required.push("dm_crypt");
    }
    if thin {
        required.push("dm_thin_pool");
    }
    if load {
        let dir = crate::pid1::kmod::modules_dir();
        let mut modules = crate::pid1::kmod::Modules::open(&dir)?;
        for m in &required {
            modules.load(m);
        }
        if encrypted {
            // LUKS2's default cipher and key slots through the kernel's crypto API, generic
            // code only (no AES-NI under QEMU's TCG).
            for m in LUKS_CRYPTO {
                modules.load(m);
            }
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|m| !Path::new("/sys/module").join(m).exists())
        .collect();
    if !missing.is_empty() {
        bail!(
            "this layout needs device-mapper ({}), and this kernel has no {} in /sys/module: \
             LVM and LUKS layouts are installed from Kickstand's installer initramfs, or on a \
             host whose kernel has device-mapper (modprobe {}); nothing was written",
            if encrypted { "LUKS" } else { "LVM" },
            missing.join(", "),
            missing.join(" ")
        );
    }
    Ok(())
}

/// The md driver and the RAID personalities `plan`'s arrays need, loaded first with `load`.
fn check_md(plan: &StoragePlan, load: bool) -> Result<()> {
    use crate::storage::request::RaidLevel;
    if plan.md_arrays.is_empty() {
        return Ok(());
    }
    let mut required = vec!["md_mod"];
    for a in &plan.md_arrays {
        let personality = match a.level {
            RaidLevel::Raid0 => "raid0",
            RaidLevel::Raid1 => "raid1",
            RaidLevel::Raid4 | RaidLevel::Raid5 | RaidLevel::Raid6 => "raid456",
            RaidLevel::Raid10 => "raid10",
        };
        if !required.contains(&personality) {
            required.push(personality);
        }
    }
    if load {
        let dir = crate::pid1::kmod::modules_dir();
        let mut modules = crate::pid1::kmod::Modules::open(&dir)?;
        for m in &required {
            modules.load(m);
        }
    }
    // A personality built into the kernel has no /sys/module entry; /proc/mdstat lists it.
    let mdstat = std::fs::read_to_string("/proc/mdstat").unwrap_or_default();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|m| {
            let personality = if *m == "raid456" { "raid5" } else { m };
            !Path::new("/sys/module").join(m).exists()
                && !mdstat.contains(&format!("[{personality}]"))
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "this layout needs software RAID (md), and this kernel has no {} in /sys/module: \
             RAID layouts are installed from Kickstand's installer initramfs, or on a host \
             whose kernel has md (modprobe {}); nothing was written",
            missing.join(", "),
            missing.join(" ")
        );
    }
    Ok(())
}

/// Crypto modules LUKS2 needs with the generic implementations.
const LUKS_CRYPTO: &[&str] = &[
    "aes_generic",
    "ecb",
    "xts",
    "sha256_generic",
    "af_alg",
    "algif_skcipher",
    "algif_hash",
];

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
