//! Disk discovery from sysfs (`/sys/block`), the device nodes and `/proc`.
//!
//! The roots are parameters so tests run against a fake tree in a temporary directory (plain
//! files stand in for device nodes). Skipped: `ram*`, `zram*`, `sr*` (optical drives), `dm-*`
//! (device-mapper children), `md*`, `nbd*`, `fd*`, `mtdblock*`, empty devices, and loop devices
//! unless the operator named them.

use super::probe::{TableKind, probe_disk};
use super::{Disk, Firmware};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where discovery looks: `/sys`, `/dev` and `/proc`, or a fake tree in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// sysfs root (`/sys`).
    pub sysfs: PathBuf,
    /// Device directory (`/dev`): `NAME` is opened to probe, `disk/by-id` and `disk/by-path`
    /// are read when udev made them.
    pub dev: PathBuf,
    /// procfs root (`/proc`): `self/mountinfo`, `swaps`, `cmdline`.
    pub proc: PathBuf,
}

impl Roots {
    /// The running system's roots.
    pub fn system() -> Self {
        Roots {
            sysfs: "/sys".into(),
            dev: "/dev".into(),
            proc: "/proc".into(),
        }
    }
}

/// Where PID 1 mounts the install medium (`crate::pid1::medium`): a disk with a device mounted
/// there is the installer's boot medium.
const INSTALL_MEDIUM_MOUNTS: &[&str] = &["/run/install/repo", "/run/install/source"];

const SKIPPED_PREFIXES: &[&str] = &["ram", "zram", "sr", "dm-", "md", "nbd", "fd", "mtdblock"];

/// The disks of the machine, in natural name order. `named` lists kernel names the operator
/// asked for explicitly (host mode `--disk`): they are included even when they are loop
/// devices, and an unreadable named disk is an error rather than skipped.
pub fn discover(roots: &Roots, named: &[String]) -> io::Result<Vec<Disk>> {
    scan(roots, named, false)
}

/// Only the disks in `named` (host mode: the installer never even reads the host's other
/// disks), in natural name order.
pub fn discover_only(roots: &Roots, named: &[String]) -> io::Result<Vec<Disk>> {
    scan(roots, named, true)
}

fn scan(roots: &Roots, named: &[String], only_named: bool) -> io::Result<Vec<Disk>> {
    let block = roots.sysfs.join("block");
    let mut names: Vec<String> = fs::read_dir(&block)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", block.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by(|a, b| super::natural_cmp(a, b));
    let boot_labels = boot_labels(&roots.proc);
    let mounts = mounted_devices(&roots.proc);
    let mut disks = Vec::new();
    for name in names {
        let is_named = named.contains(&name);
        if only_named && !is_named {
            continue;
        }
        if !is_named
            && (name.starts_with("loop") || SKIPPED_PREFIXES.iter().any(|p| name.starts_with(p)))
        {
            continue;
        }
        let disk = read_disk(roots, &name, &boot_labels, &mounts);
        match disk {
            Ok(Some(disk)) => disks.push(disk),
            Ok(None) if is_named => {
                return Err(io::Error::other(format!(
                    "{name} has no medium (size 0): is the image file empty?"
                )));
            }
            Ok(None) => {}
            Err(e) if is_named => return Err(e),
            Err(e) => tracing::warn!(disk = %name, error = %e, "skipping disk that cannot be read"),
        }
    }
    Ok(disks)
}

fn attr(dir: &Path, name: &str) -> Option<String> {
    let s = fs::read_to_string(dir.join(name)).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn num(dir: &Path, name: &str) -> Option<u64> {
    attr(dir, name)?.parse().ok()
}

fn read_disk(
    roots: &Roots,
    name: &str,
    boot_labels: &BTreeSet<String>,
    mounts: &MountState,
) -> io::Result<Option<Disk>> {
    let dir = roots.sysfs.join("block").join(name);
    let size = num(&dir, "size").unwrap_or(0) * 512;
    if size == 0 {
        return Ok(None);
    }
    let logical = num(&dir, "queue/logical_block_size").unwrap_or(512);
    let mut disk = Disk {
        name: name.to_string(),
        path: roots.dev.join(name),
        size,
        logical_sector_size: logical,
        physical_sector_size: num(&dir, "queue/physical_block_size").unwrap_or(logical),
        rotational: num(&dir, "queue/rotational") == Some(1),
        removable: num(&dir, "removable") == Some(1),
        read_only: num(&dir, "ro") == Some(1),
        model: attr(&dir, "device/model"),
        serial: attr(&dir, "serial").or_else(|| attr(&dir, "device/serial")),
        wwn: attr(&dir, "wwid")
            .or_else(|| attr(&dir, "device/wwid"))
            .or_else(|| attr(&dir, "device/wwn")),
        is_loop: name.starts_with("loop"),
        ..Disk::default()
    };
    let device = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    disk.by_id = links_to(&roots.dev.join("disk/by-id"), "disk/by-id", name);
    if disk.by_id.is_empty() {
        disk.by_id = synthesized_by_id(&disk, &device);
    }
    disk.by_path = links_to(&roots.dev.join("disk/by-path"), "disk/by-path", name);
    if disk.by_path.is_empty() {
        disk.by_path = synthesized_by_path(&device);
    }

    let mut devs = vec![(name.to_string(), attr(&dir, "dev"))];
    for entry in fs::read_dir(&dir)?.filter_map(|e| e.ok()) {
        let child = entry.path();
        if child.join("partition").exists() {
            devs.push((
                entry.file_name().to_string_lossy().into_owned(),
                attr(&child, "dev"),
            ));
            if let Some(holder) = first_entry(&child.join("holders")) {
                disk.in_use = Some(format!(
                    "partition {} is used by {holder}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    if let Some(holder) = first_entry(&dir.join("holders")) {
        disk.in_use = Some(format!("it is used by {holder} (device-mapper or md)"));
    }
    let mut holds_the_medium = false;
    for (dev_name, majmin) in &devs {
        if let Some(target) = majmin.as_ref().and_then(|m| mounts.mounted.get(m)) {
            disk.in_use = Some(format!("{dev_name} is mounted at {target}"));
            holds_the_medium |= INSTALL_MEDIUM_MOUNTS.contains(&target.as_str());
        }
        if mounts.swaps.contains(dev_name) {
            disk.in_use = Some(format!("{dev_name} is in use as swap"));
        }
    }

    let mut file = fs::File::open(&disk.path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", disk.path.display())))?;
    match probe_disk(&mut file, size, logical) {
        Ok(contents) => {
            disk.table = contents.table;
            disk.partitions = contents.partitions;
            disk.signatures = contents.signatures;
        }
        Err(e) => disk.table = TableKind::Unreadable(format!("reading it failed: {e}")),
    }
    let labels_here = disk
        .signatures
        .iter()
        .chain(disk.partitions.iter().filter_map(|p| p.signature.as_ref()))
        .filter_map(|s| s.label.as_ref());
    disk.boot_medium = holds_the_medium
        || disk.signatures.iter().any(|s| s.kind == "iso9660")
        || labels_here.into_iter().any(|l| boot_labels.contains(l));
    Ok(Some(disk))
}

fn first_entry(dir: &Path) -> Option<String> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .min()
}

/// Names in a udev `disk/by-*` directory whose symlink points at `name`.
fn links_to(dir: &Path, prefix: &str, name: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            fs::read_link(e.path())
                .ok()
                .and_then(|t| t.file_name().map(|f| f == name))
                .unwrap_or(false)
        })
        .map(|e| format!("{prefix}/{}", e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// The names udev's rules would give, for when there is no udev (the installer initramfs).
fn synthesized_by_id(disk: &Disk, device: &Path) -> Vec<String> {
    let clean = |s: &str| {
        s.trim()
            .replace(|c: char| c.is_whitespace() || c == '/', "_")
    };
    let dev = device.to_string_lossy();
    let mut ids = Vec::new();
    if let Some(serial) = &disk.serial {
        if dev.contains("/virtio") {
            ids.push(format!("disk/by-id/virtio-{}", clean(serial)));
        } else if let Some(model) = &disk.model {
            let bus = if disk.name.starts_with("nvme") {
                "nvme"
            } else if dev.contains("/ata") {
                "ata"
            } else if dev.contains("/usb") {
                "usb"
            } else {
                "scsi"
            };
            ids.push(format!(
                "disk/by-id/{bus}-{}_{}",
                clean(model),
                clean(serial)
            ));
        }
    }
    if let Some(wwn) = &disk.wwn {
        let id = wwn
            .strip_prefix("naa.")
            .map(|n| format!("0x{n}"))
            .unwrap_or_else(|| clean(wwn));
        ids.push(format!("disk/by-id/wwn-{id}"));
    }
    ids
}

/// `pci-DOMAIN:BUS:SLOT.FN` of the controller, as udev's path_id names virtio and NVMe disks.
fn synthesized_by_path(device: &Path) -> Vec<String> {
    let is_pci = |s: &str| {
        let b = s.as_bytes();
        b.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
    };
    device
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|c| is_pci(c))
        .map(|pci| vec![format!("disk/by-path/pci-{pci}")])
        .unwrap_or_default()
}

#[derive(Debug, Default)]
struct MountState {
    /// `MAJ:MIN` → mount point.
    mounted: std::collections::BTreeMap<String, String>,
    /// Kernel names of active swap devices.
    swaps: BTreeSet<String>,
}

fn mounted_devices(proc: &Path) -> MountState {
    let mut state = MountState::default();
    if let Ok(info) = fs::read_to_string(proc.join("self/mountinfo")) {
        for line in info.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if let (Some(majmin), Some(target)) = (fields.get(2), fields.get(4)) {
                state
                    .mounted
                    .entry(majmin.to_string())
                    .or_insert_with(|| target.to_string());
            }
        }
    }
    if let Ok(swaps) = fs::read_to_string(proc.join("swaps")) {
        for line in swaps.lines().skip(1) {
            if let Some(dev) = line.split_whitespace().next() {
                if let Some(name) = dev.strip_prefix("/dev/") {
                    state.swaps.insert(name.to_string());
                }
            }
        }
    }
    state
}

/// Filesystem labels the kernel command line says the installer came from
/// (`inst.stage2=hd:LABEL=X`, `inst.ks=hd:LABEL=X:/ks.cfg`, `root=live:LABEL=X`,
/// `kickstand.bootmedium=LABEL=X`).
fn boot_labels(proc: &Path) -> BTreeSet<String> {
    let cmdline = fs::read_to_string(proc.join("cmdline")).unwrap_or_default();
    cmdline
        .split_whitespace()
        .filter_map(|arg| arg.split_once('='))
        .filter(|(k, _)| {
            matches!(
                *k,
                "inst.stage2" | "inst.ks" | "inst.repo" | "root" | "kickstand.bootmedium"
            )
        })
        .filter_map(|(_, v)| {
            let v = v
                .trim_start_matches("hd:")
                .trim_start_matches("cdrom:")
                .trim_start_matches("live:");
            let label = v.strip_prefix("LABEL=")?;
            let label = label.split(':').next().unwrap_or(label);
            Some(label.replace("\\x20", " "))
        })
        .collect()
}

/// UEFI when `SYSFS/firmware/efi` exists, BIOS otherwise.
pub fn firmware_from_sysfs(sysfs: &Path) -> Firmware {
    if sysfs.join("firmware/efi").exists() {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// `MemTotal` from `PROC/meminfo`, in bytes (0 when unknown).
pub fn memory_from_meminfo(proc: &Path) -> u64 {
    fs::read_to_string(proc.join("meminfo"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests;
