//! What the installer knows about the machine: disks (from sysfs and the disks' first bytes)
//! and firmware. Discovery does I/O; everything downstream ([`crate::storage::plan`]) takes a
//! [`Hardware`] value and is pure.

mod discover;
mod names;
mod probe;

pub use discover::{Roots, discover, discover_only, firmware_from_sysfs, memory_from_meminfo};
pub use names::{DriveSpecError, match_drives, natural_cmp};
pub use probe::{DiskContents, Signature, TableKind, guid_text, probe_disk};

use std::path::PathBuf;

/// Firmware the installed system boots with; decides ESP vs BIOS boot partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS): a 1 MiB BIOS boot partition for GRUB's core image.
    Bios,
    /// UEFI (OVMF): an EFI System Partition.
    Uefi,
}

impl std::fmt::Display for Firmware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        })
    }
}

/// The machine as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// Candidate disks in a stable order (natural sort of kernel names).
    pub disks: Vec<Disk>,
    /// Firmware of the target machine.
    pub firmware: Firmware,
    /// Installed memory in bytes (for `--recommended` swap).
    pub memory_bytes: u64,
}

/// One whole disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disk {
    /// Kernel name, e.g. `vda`, `nvme0n1`, `loop3`.
    pub name: String,
    /// Device node, e.g. `/dev/vda`.
    pub path: PathBuf,
    /// Extra names the operator gave this disk (host mode `--disk FILE:NAME`).
    pub aliases: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Logical sector size (LBA size) in bytes.
    pub logical_sector_size: u64,
    /// Physical sector size in bytes.
    pub physical_sector_size: u64,
    /// Spinning disk.
    pub rotational: bool,
    /// Removable medium (USB stick, card reader).
    pub removable: bool,
    /// Read-only device.
    pub read_only: bool,
    /// Model string, if the device reports one.
    pub model: Option<String>,
    /// Serial number, if the device reports one.
    pub serial: Option<String>,
    /// World Wide Name, if the device reports one.
    pub wwn: Option<String>,
    /// `disk/by-id/…` names (without `/dev/`).
    pub by_id: Vec<String>,
    /// `disk/by-path/…` names (without `/dev/`).
    pub by_path: Vec<String>,
    /// The partition table found on the disk.
    pub table: TableKind,
    /// Existing partitions.
    pub partitions: Vec<ExistingPartition>,
    /// Signatures on the whole disk (a filesystem written without a partition table, an ISO).
    pub signatures: Vec<Signature>,
    /// Why the disk may not be written (mounted, held by another device), if it is in use.
    pub in_use: Option<String>,
    /// This is the medium the installer booted from (ISO, USB stick): never selected.
    pub boot_medium: bool,
    /// A loop device (only a candidate when named by the operator).
    pub is_loop: bool,
}

impl Disk {
    /// `/dev/NAME` of partition `number`: `vda1`, `nvme0n1p1`, `loop0p1`.
    pub fn partition_path(&self, number: u32) -> PathBuf {
        let dev = self.path.to_string_lossy();
        if dev.ends_with(|c: char| c.is_ascii_digit()) {
            PathBuf::from(format!("{dev}p{number}"))
        } else {
            PathBuf::from(format!("{dev}{number}"))
        }
    }

    /// A one-line description for messages: `vda (20 GiB, QEMU HARDDISK)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({}", self.name, crate::units::human(self.size));
        if let Some(model) = &self.model {
            s.push_str(", ");
            s.push_str(model);
        }
        if self.removable {
            s.push_str(", removable");
        }
        if self.boot_medium {
            s.push_str(", installer boot medium");
        }
        if !self.aliases.is_empty() {
            s.push_str(", named ");
            s.push_str(&self.aliases.join(", "));
        }
        s.push(')');
        s
    }

    /// Whether the disk holds anything: partitions, a partition table or signatures.
    pub fn has_data(&self) -> bool {
        !self.partitions.is_empty() || self.table != TableKind::None || !self.signatures.is_empty()
    }
}

/// A partition that exists on a disk before the install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPartition {
    /// Partition number (1-based).
    pub number: u32,
    /// Start in bytes.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPT type GUID (lower-case text) or MBR type (`0x83`).
    pub type_id: String,
    /// Filesystem or other signature found in it, if any.
    pub signature: Option<Signature>,
}

impl ExistingPartition {
    /// Whether `clearpart --linux` removes it: Linux partition types, or a Linux signature.
    pub fn is_linux(&self) -> bool {
        const LINUX_TYPES: &[&str] = &[
            "0x83",
            "0x82",
            "0x8e",
            "0xfd",
            crate::storage::guid::LINUX_FS,
            crate::storage::guid::SWAP,
            crate::storage::guid::ROOT_X86_64,
            crate::storage::guid::USR_X86_64,
            crate::storage::guid::HOME,
            crate::storage::guid::SRV,
            crate::storage::guid::VAR,
            crate::storage::guid::VAR_TMP,
            crate::storage::guid::XBOOTLDR,
            "e6d6d379-f507-44c2-a23c-238f2a3df928", // LVM
            "a19d880f-05fc-4d3b-a006-743f0f84911e", // RAID
            "ca7d7ccb-63ed-4c53-861c-1742536059cc", // LUKS
        ];
        LINUX_TYPES.contains(&self.type_id.as_str())
            || self.signature.as_ref().is_some_and(Signature::is_linux)
    }
}
