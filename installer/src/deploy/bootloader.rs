//! Which boot loader the image carries for the machine's firmware, decided before any boot
//! loader write.

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// The machine's firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// UEFI: an ESP and an EFI boot loader.
    Uefi,
    /// BIOS (legacy/CSM): a BIOS boot partition and the MBR.
    Bios,
}

/// systemd-boot's EFI binary in an image.
pub const SYSTEMD_BOOT_EFI: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
/// GRUB's BIOS platform directory in an image.
pub const GRUB_I386_PC: &str = "/usr/lib/grub/i386-pc";
/// Files of [`GRUB_I386_PC`] the BIOS install needs.
pub const GRUB_I386_PC_FILES: &[&str] = &["boot.img", "kernel.img", "diskboot.img", "moddep.lst"];
/// Where bootupd-based images carry their boot loaders.
pub const BOOTUPD_UPDATES: &str = "/usr/lib/bootupd/updates";

/// The boot loader to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootLoader {
    /// systemd-boot onto the ESP.
    SystemdBoot,
    /// GRUB for BIOS, from the image's `i386-pc` files.
    GrubBios {
        /// The image's `grub-mkimage` (or `grub2-mkimage`), when it has one.
        mkimage: Option<String>,
    },
}

/// The boot loader the image provides for `firmware`; an image without one is refused with
/// the file that is missing.
pub fn detect(root: &TargetRoot, firmware: Firmware) -> Result<BootLoader> {
    match firmware {
        Firmware::Uefi => {
            if root.resolve(SYSTEMD_BOOT_EFI)?.is_file() {
                return Ok(BootLoader::SystemdBoot);
            }
            let why = if root.exists(BOOTUPD_UPDATES) {
                format!(
                    "the image boots UEFI machines with GRUB through bootupd ({BOOTUPD_UPDATES}), \
                     which Kickstand's flat deploy does not install yet; it needs systemd-boot"
                )
            } else {
                "UEFI machines are booted with the image's systemd-boot (package systemd-boot-efi \
                 or systemd-boot)"
                    .to_string()
            };
            Err(DeployError::MissingInImage {
                path: SYSTEMD_BOOT_EFI.into(),
                why,
            })
        }
        Firmware::Bios => {
            for file in GRUB_I386_PC_FILES {
                let path = format!("{GRUB_I386_PC}/{file}");
                if !root.resolve(&path)?.is_file() {
                    return Err(DeployError::MissingInImage {
                        path,
                        why: "BIOS machines are booted with the image's GRUB (package grub-pc-bin \
                              or grub2-pc-modules)"
                            .into(),
                    });
                }
            }
            let mkimage = ["/usr/bin/grub-mkimage", "/usr/bin/grub2-mkimage"]
                .into_iter()
                .find(|p| root.resolve(p).is_ok_and(|h| h.is_file()))
                .map(str::to_string);
            Ok(BootLoader::GrubBios { mkimage })
        }
    }
}

/// The image's `os-release` fields the boot menu shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (`debian`, `fedora`), `linux` when missing.
    pub id: String,
    /// `PRETTY_NAME`, else `NAME`, else `Linux`.
    pub pretty_name: String,
}

impl OsRelease {
    /// Reads `/etc/os-release`, else `/usr/lib/os-release`.
    pub fn read(root: &TargetRoot) -> Result<Self> {
        let text = match root.read_optional("/etc/os-release")? {
            Some(t) => t,
            None => root
                .read_optional("/usr/lib/os-release")?
                .unwrap_or_default(),
        };
        Ok(Self::parse(&text))
    }

    /// Parses os-release text (`KEY=value`, values optionally quoted).
    pub fn parse(text: &str) -> Self {
        let get = |key: &str| {
            text.lines().find_map(|l| {
                let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                (!v.is_empty()).then(|| v.replace("\\\"", "\""))
            })
        };
        let id = get("ID")
            .filter(|id| {
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            })
            .unwrap_or_else(|| "linux".into());
        let pretty_name = get("PRETTY_NAME")
            .or_else(|| get("NAME"))
            .unwrap_or_else(|| "Linux".into())
            .replace(['\n', '\''], "");
        OsRelease { id, pretty_name }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian\"\nID=debian\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(OsRelease::parse("").id, "linux");
    }

    #[test]
    fn refuses_an_image_without_a_boot_loader() {
        let dir = tempfile::tempdir().unwrap();
        let root = TargetRoot::new(dir.path());
        let err = detect(&root, Firmware::Uefi).unwrap_err().to_string();
        assert!(
            err.starts_with("the image has no /usr/lib/systemd/boot/efi/systemd-bootx64.efi:"),
            "{err}"
        );
        root.write("/usr/lib/grub/i386-pc/boot.img", b"x", 0o644)
            .unwrap();
        let err = detect(&root, Firmware::Bios).unwrap_err().to_string();
        assert!(
            err.starts_with("the image has no /usr/lib/grub/i386-pc/kernel.img:"),
            "{err}"
        );
        root.write("/usr/lib/bootupd/updates/EFI/x", b"x", 0o644)
            .unwrap();
        let err = detect(&root, Firmware::Uefi).unwrap_err().to_string();
        assert!(err.contains("bootupd"), "{err}");
    }
}
