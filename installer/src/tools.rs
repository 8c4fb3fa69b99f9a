//! Every external program the installer runs, in one list.
//!
//! The initramfs builder reads [`ALL`] to decide which binaries (and their libraries) go into the
//! installer initramfs; [`missing`] lets the installer refuse to start a step whose tools are
//! absent, before any disk is touched.

/// One external program and why the installer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Program name, looked up on `PATH`.
    pub program: &'static str,
    /// Debian package that ships it.
    pub package: &'static str,
    /// What the installer uses it for.
    pub why: &'static str,
    /// Only used in host mode (never inside the installer initramfs).
    pub host_only: bool,
}

const fn tool(program: &'static str, package: &'static str, why: &'static str) -> Tool {
    Tool {
        program,
        package,
        why,
        host_only: false,
    }
}

/// `mkfs.xfs`: the default root and `/boot` filesystem.
pub const MKFS_XFS: Tool = tool("mkfs.xfs", "xfsprogs", "make xfs filesystems (the default)");
/// `mkfs.ext4` (also ext2/ext3 through `-t`).
pub const MKFS_EXT4: Tool = tool("mkfs.ext4", "e2fsprogs", "make ext2/ext3/ext4 filesystems");
/// `mkfs.btrfs`.
pub const MKFS_BTRFS: Tool = tool("mkfs.btrfs", "btrfs-progs", "make btrfs filesystems");
/// `btrfs`: subvolumes of `autopart --type=btrfs`.
pub const BTRFS: Tool = tool("btrfs", "btrfs-progs", "create btrfs subvolumes");
/// `mkswap`.
pub const MKSWAP: Tool = tool("mkswap", "util-linux", "make swap areas");
/// `mkfs.vfat`: the EFI System Partition, written at an offset of the whole disk.
pub const MKFS_VFAT: Tool = tool(
    "mkfs.vfat",
    "dosfstools",
    "make the EFI System Partition (FAT) with --offset, no mount needed",
);
/// `mmd`: directories on the ESP without mounting it.
pub const MMD: Tool = tool(
    "mmd",
    "mtools",
    "create directories on the ESP without mounting it",
);
/// `mcopy`: files onto the ESP without mounting it.
pub const MCOPY: Tool = tool(
    "mcopy",
    "mtools",
    "copy files onto the ESP without mounting it",
);
/// `blkid`: filesystem UUIDs for `/etc/fstab` and the boot loader.
pub const BLKID: Tool = tool(
    "blkid",
    "util-linux",
    "read filesystem UUIDs for /etc/fstab and boot entries",
);
/// `mdir`: checks what the boot loader step wrote onto the ESP.
pub const MDIR: Tool = tool("mdir", "mtools", "list the ESP without mounting it");
/// `chroot`: the image's own `grub-mkimage` runs inside the unpacked image.
pub const CHROOT: Tool = tool(
    "chroot",
    "coreutils",
    "run the image's own boot loader tools inside the target",
);
/// `grub-mkimage`: BIOS GRUB core image (the image's own, or the host's of the same version).
pub const GRUB_MKIMAGE: Tool = tool(
    "grub-mkimage",
    "grub-common",
    "build the BIOS GRUB core image when the image's own cannot run",
);
/// `busybox`: the shell and utilities of `%pre`/`%post` scripts in the installer initramfs.
pub const BUSYBOX: Tool = tool(
    "busybox",
    "busybox-static",
    "run %pre/%post scripts (sh and the usual utilities)",
);
/// `lvm`: physical volumes, volume groups and logical volumes (`autopart --type=lvm|thinp`).
pub const LVM: Tool = tool(
    "lvm",
    "lvm2",
    "create LVM physical volumes, volume groups and logical volumes",
);
/// `thin_check`: LVM runs it when it activates a thin pool.
pub const THIN_CHECK: Tool = tool(
    "thin_check",
    "thin-provisioning-tools",
    "check thin pool metadata (LVM runs it when activating a thin pool)",
);
/// `cryptsetup`: LUKS2 containers of `--encrypted`.
pub const CRYPTSETUP: Tool = tool(
    "cryptsetup",
    "cryptsetup-bin",
    "format and open LUKS containers (--encrypted)",
);
/// `mdadm`: software RAID arrays.
pub const MDADM: Tool = tool("mdadm", "mdadm", "create software RAID (md) arrays");
/// `losetup`: disk image files in host mode.
pub const LOSETUP: Tool = Tool {
    program: "losetup",
    package: "util-linux",
    why: "attach disk image files to loop devices (host mode)",
    host_only: true,
};

/// Every external program the installer runs. The initramfs builder packs all entries that are
/// not `host_only`.
pub const ALL: &[Tool] = &[
    MKFS_XFS,
    MKFS_EXT4,
    MKFS_BTRFS,
    BTRFS,
    MKSWAP,
    MKFS_VFAT,
    MMD,
    MCOPY,
    MDIR,
    BLKID,
    CHROOT,
    GRUB_MKIMAGE,
    BUSYBOX,
    LVM,
    THIN_CHECK,
    CRYPTSETUP,
    MDADM,
    LOSETUP,
];

/// The tools of `wanted` that are not on `PATH`.
pub fn missing(wanted: &[Tool]) -> Vec<Tool> {
    wanted
        .iter()
        .filter(|t| find(t.program).is_none())
        .copied()
        .collect()
}

/// Finds `program` on `PATH` (plus the sbin directories, which a non-login shell may omit).
pub fn find(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_listed_once() {
        let mut names: Vec<_> = ALL.iter().map(|t| t.program).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
