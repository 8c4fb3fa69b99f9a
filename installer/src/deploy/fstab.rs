//! `/etc/fstab`, by filesystem UUID.

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// One mounted filesystem (or swap area) of the installed system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// Filesystem UUID (as `blkid` prints it).
    pub uuid: String,
    /// Mount point, or `none` for swap.
    pub mountpoint: String,
    /// Filesystem type (`xfs`, `ext4`, `vfat`, `btrfs`, `swap`).
    pub fstype: String,
    /// Mount options (`defaults` when empty).
    pub options: String,
    /// fsck pass: 1 for `/`, 2 for others that fsck checks, 0 for none.
    pub passno: u8,
}

/// The fstab text for `entries`, in the order given (parents before children).
pub fn render(entries: &[FstabEntry]) -> Result<String> {
    let mut out = String::from(
        "# /etc/fstab: written by kickstand-installer; filesystems by UUID (see blkid).\n\
         # <file system>                           <mount point>  <type>  <options>  <dump>  <pass>\n",
    );
    for e in entries {
        let bad = |s: &str| s.is_empty() || s.contains(char::is_whitespace) || s.contains('#');
        let options = if e.options.is_empty() {
            "defaults"
        } else {
            &e.options
        };
        if bad(&e.uuid) || bad(&e.mountpoint) || bad(&e.fstype) || bad(options) {
            return Err(DeployError::Invalid(format!(
                "fstab entry {e:?} has an empty field or one with spaces"
            )));
        }
        if e.passno > 2 {
            return Err(DeployError::Invalid(format!(
                "fstab entry for {}: pass {} is not 0, 1 or 2",
                e.mountpoint, e.passno
            )));
        }
        out.push_str(&format!(
            "{:<41} {:<14} {:<7} {:<10} 0       {}\n",
            format!("UUID={}", e.uuid),
            e.mountpoint,
            e.fstype,
            options,
            e.passno
        ));
    }
    Ok(out)
}

/// Replaces the target's `/etc/fstab` (images ship an empty one).
pub fn write(root: &TargetRoot, entries: &[FstabEntry]) -> Result<()> {
    root.write("/etc/fstab", render(entries)?.as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_by_uuid() {
        let e = |uuid: &str, mp: &str, fs: &str, opts: &str, pass| FstabEntry {
            uuid: uuid.into(),
            mountpoint: mp.into(),
            fstype: fs.into(),
            options: opts.into(),
            passno: pass,
        };
        let text = render(&[
            e("0f0c1c5e-5c0e-4a0e-9d1b-1b2c3d4e5f60", "/", "xfs", "", 1),
            e(
                "7A1B-2C3D",
                "/boot/efi",
                "vfat",
                "umask=0077,shortname=winnt",
                2,
            ),
            e(
                "11111111-2222-3333-4444-555555555555",
                "none",
                "swap",
                "",
                0,
            ),
        ])
        .unwrap();
        let body: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            body,
            [
                "UUID=0f0c1c5e-5c0e-4a0e-9d1b-1b2c3d4e5f60 /              xfs     defaults   0       1",
                "UUID=7A1B-2C3D                            /boot/efi      vfat    umask=0077,shortname=winnt 0       2",
                "UUID=11111111-2222-3333-4444-555555555555 none           swap    defaults   0       0",
            ]
        );
        assert!(render(&[e("x", "/a b", "xfs", "", 2)]).is_err());
    }
}
