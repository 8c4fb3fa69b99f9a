//! `/etc/fstab` lines for the new filesystems, by UUID. The image deploy step writes them into
//! the unpacked root (`Prepared::fstab`).

use crate::storage::FsType;
use std::fmt::Write;

/// One fstab line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// `UUID=…`.
    pub spec: String,
    /// Mount point, or `none` for swap.
    pub file: String,
    /// Filesystem type (`swap` for swap).
    pub vfstype: String,
    /// Mount options.
    pub options: String,
    /// fsck pass: 1 for an ext root, 2 for other ext and vfat, 0 for xfs/btrfs/swap
    /// (their fsck is a no-op).
    pub passno: u8,
}

impl FstabEntry {
    /// The entry for a filesystem of type `fstype` (None for swap) with `uuid` at `mount`.
    pub fn new(uuid: &str, mount: &str, fstype: Option<FsType>, options: &str) -> FstabEntry {
        let (file, vfstype, passno) = match fstype {
            None => ("none".to_string(), "swap".to_string(), 0),
            Some(t @ (FsType::Ext2 | FsType::Ext3 | FsType::Ext4)) => (
                mount.to_string(),
                t.name().to_string(),
                if mount == "/" { 1 } else { 2 },
            ),
            Some(FsType::Vfat) => (mount.to_string(), "vfat".to_string(), 2),
            Some(t) => (mount.to_string(), t.name().to_string(), 0),
        };
        let options = match (fstype, options) {
            // The ESP holds boot loader files only root should read.
            (Some(FsType::Vfat), "defaults") => "umask=0077,shortname=winnt".to_string(),
            (_, o) => o.to_string(),
        };
        FstabEntry {
            spec: format!("UUID={uuid}"),
            file,
            vfstype,
            options,
            passno,
        }
    }
}

/// The text of an fstab with `entries`, aligned, with a header saying who wrote it.
pub fn render(entries: &[FstabEntry]) -> String {
    let mut out = String::from("# /etc/fstab written by kickstand-installer\n");
    for e in entries {
        let _ = writeln!(
            out,
            "{:<42} {:<12} {:<6} {} 0 {}",
            e.spec, e.file, e.vfstype, e.options, e.passno
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_by_type() {
        let root = FstabEntry::new("a-b", "/", Some(FsType::Ext4), "defaults");
        assert_eq!((root.passno, root.vfstype.as_str()), (1, "ext4"));
        let esp = FstabEntry::new("1234-ABCD", "/boot/efi", Some(FsType::Vfat), "defaults");
        assert_eq!(esp.options, "umask=0077,shortname=winnt");
        let swap = FstabEntry::new("c", "swap", None, "defaults");
        assert_eq!(
            (swap.file.as_str(), swap.vfstype.as_str()),
            ("none", "swap")
        );
        let text = render(&[root, esp, swap]);
        assert!(text.contains("UUID=a-b"));
        assert_eq!(text.lines().count(), 4);
    }
}
