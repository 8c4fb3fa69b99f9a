//! Installer ISOs: a hybrid ISO 9660 image that boots the installer under BIOS and UEFI, from a
//! CD-ROM or `dd`ed onto a USB stick, optionally carrying a kickstart and the image to install.
//!
//! What is on the ISO (the contract with the installer):
//!
//! | path | what |
//! |---|---|
//! | `/images/vmlinuz`, `/images/initramfs.img` | the kernel and the installer initramfs |
//! | `/ks.cfg` | the kickstart, when the ISO carries one |
//! | `/container/` | the embedded image, an OCI layout holding exactly one image |
//! | `/boot/grub/grub.cfg` | the boot menu, generated from `/kickstand/iso.json` |
//! | `/boot/grub/i386-pc/eltorito.img` | GRUB for BIOS (El Torito, and the MBR's core image) |
//! | `/kickstand/iso.json` | [`Metadata`]: what the ISO was built with; `iso show` reads it |
//!
//! The UEFI boot image (a FAT image with GRUB as `\EFI\BOOT\BOOTX64.EFI`) is appended after the
//! ISO 9660 tree as a GPT EFI System Partition, and the El Torito UEFI entry points at it.
//!
//! The installer side: every boot entry carries `inst.stage2=hd:LABEL=<volume label>` — the
//! medium the installer mounts read-only at `/run/install/repo` (as Anaconda does), which it must
//! never select as an install target — and, with a kickstart, `inst.ks=hd:LABEL=<label>:/ks.cfg`
//! (`hd:` rather than `cdrom:` so the same ISO works `dd`ed onto a USB stick, as `mkksiso` does).
//! A kickstart installs the embedded image with
//! `ostreecontainer --url=/run/install/repo/container --transport=oci`, the form
//! bootc-image-builder ISOs use.

pub mod embed;
pub mod grub;
pub mod kickstart;
pub mod menu;
pub mod read;
pub mod xorriso;

use serde::{Deserialize, Serialize};

/// Where the installer mounts the ISO (Anaconda's path).
pub const REPO_MOUNT: &str = "/run/install/repo";
/// The embedded image's directory on the ISO.
pub const CONTAINER_DIR: &str = "container";
/// The kickstart's path on the ISO.
pub const KICKSTART_PATH: &str = "ks.cfg";
/// The metadata's path on the ISO.
pub const METADATA_PATH: &str = "kickstand/iso.json";
/// The boot menu's path on the ISO.
pub const GRUB_CFG_PATH: &str = "boot/grub/grub.cfg";
/// The kernel's path on the ISO.
pub const KERNEL_PATH: &str = "images/vmlinuz";
/// The initramfs's path on the ISO.
pub const INITRAMFS_PATH: &str = "images/initramfs.img";
/// The BIOS El Torito image's path on the ISO.
pub const ELTORITO_PATH: &str = "boot/grub/i386-pc/eltorito.img";
/// The El Torito boot catalog's path on the ISO.
pub const CATALOG_PATH: &str = "boot/boot.cat";
/// The default volume label.
pub const DEFAULT_LABEL: &str = "KICKSTAND";

/// Where the installer finds the embedded image: the `--url` of
/// `ostreecontainer --url=… --transport=oci`.
pub fn container_url() -> String {
    format!("{REPO_MOUNT}/{CONTAINER_DIR}")
}

/// What an ISO carries, written as `/kickstand/iso.json` when it is built and rewritten by
/// `iso customize`. The boot menu is generated from it ([`menu::grub_cfg`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Format version of this file.
    pub format: u32,
    /// The ISO 9660 volume label (`hd:LABEL=` on the kernel command line).
    pub label: String,
    /// Whether `/ks.cfg` is on the ISO.
    pub kickstart: bool,
    /// Kernel arguments added with `--append`, after the ones the ISO needs.
    pub append: Vec<String>,
    /// Seconds the boot menu waits before starting its default entry.
    pub timeout: u32,
    /// The embedded image, when there is one.
    pub image: Option<EmbeddedImage>,
    /// The kernel release of `/images/vmlinuz`, when known.
    pub kernel_version: Option<String>,
    /// The program that wrote this file (`kickstand 0.1.0`).
    pub written_by: String,
}

/// The image in `/container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedImage {
    /// Where it was taken from (`oci:/srv/images/app:1`, `docker://registry/app:1`).
    pub source: String,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// Its tag in the layout's `index.json`.
    pub tag: Option<String>,
    /// Sum of the compressed layer sizes, bytes.
    pub layers_size: u64,
}

impl Metadata {
    /// The current format version.
    pub const FORMAT: u32 = 1;

    /// The kernel arguments every boot entry carries: the medium, the kickstart, then `append`.
    pub fn kernel_args(&self) -> Vec<String> {
        let mut args = vec![format!("inst.stage2=hd:LABEL={}", self.label)];
        if self.kickstart {
            args.push(format!("inst.ks=hd:LABEL={}:/{KICKSTART_PATH}", self.label));
        }
        args.extend(self.append.iter().cloned());
        args
    }

    /// Whether booting the default entry installs (and so may erase disks): the ISO carries a
    /// kickstart, or `--append` names one.
    pub fn installs(&self) -> bool {
        self.kickstart || self.append_kickstart().is_some()
    }

    /// The `inst.ks=` given with `--append`, if any.
    pub fn append_kickstart(&self) -> Option<&str> {
        self.append
            .iter()
            .rev()
            .find_map(|a| a.strip_prefix("inst.ks="))
    }
}

/// Checks a volume label: ISO 9660 allows 32 characters; the label also goes on the kernel
/// command line and into GRUB's configuration unquoted, so only `A-Z a-z 0-9 _ - .` are taken.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 32 {
        return Err(format!(
            "volume label {label:?} must be 1 to 32 characters long (it is {})",
            label.len()
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "volume label {label:?} contains {c:?}; use only letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta() -> Metadata {
        Metadata {
            format: Metadata::FORMAT,
            label: "KS-TEST".into(),
            kickstart: true,
            append: vec!["console=ttyS0,115200".into()],
            timeout: 5,
            image: None,
            kernel_version: None,
            written_by: "test".into(),
        }
    }

    #[test]
    fn kernel_args_name_the_medium_then_the_kickstart_then_the_appended_ones() {
        assert_eq!(
            meta().kernel_args(),
            [
                "inst.stage2=hd:LABEL=KS-TEST",
                "inst.ks=hd:LABEL=KS-TEST:/ks.cfg",
                "console=ttyS0,115200"
            ]
        );
        let mut m = meta();
        m.kickstart = false;
        assert!(!m.installs());
        m.append.push("inst.ks=http://10.0.0.1/ks.cfg".into());
        assert!(m.installs());
        assert_eq!(m.append_kickstart(), Some("http://10.0.0.1/ks.cfg"));
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("KICKSTAND_1.0-x").is_ok());
        assert!(check_label("").unwrap_err().contains("1 to 32"));
        assert!(
            check_label(&"A".repeat(33))
                .unwrap_err()
                .contains("1 to 32")
        );
        assert!(check_label("MY DISK").unwrap_err().contains("' '"));
    }
}
