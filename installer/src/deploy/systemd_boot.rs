//! systemd-boot on the ESP (UEFI), from the image's own EFI binary, written with mtools.
//!
//! Layout (Boot Loader Specification, Type #1 entries):
//! `/EFI/systemd/systemd-bootx64.efi`, `/EFI/BOOT/BOOTX64.EFI` (the removable-media path
//! firmware boots without a boot entry in NVRAM), `/loader/loader.conf`,
//! `/loader/entries/$ID-$KVER.conf`, and the kernel and initramfs as
//! `/$ID/$KVER/linux` and `/$ID/$KVER/initrd`.
//!
//! Files are written in an order that keeps a half-done ESP unbootable rather than broken:
//! kernel and initramfs first, then the entry and loader.conf, the EFI binaries last.

use super::bootloader::{OsRelease, SYSTEMD_BOOT_EFI};
use super::error::Result;
use super::fat::Fat;
use super::kernel::Kernel;
use super::target::TargetRoot;

/// Paths on the ESP of an installed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `/loader/entries/….conf`.
    pub entry: String,
    /// The kernel.
    pub linux: String,
    /// The initramfs.
    pub initrd: String,
}

/// The Type #1 entry text.
pub fn entry_text(
    os: &OsRelease,
    kernel: &Kernel,
    linux: &str,
    initrd: &str,
    cmdline: &[String],
) -> String {
    format!(
        "# Written by kickstand-installer.\ntitle {}\nversion {}\nsort-key {}\nlinux {linux}\ninitrd {initrd}\noptions {}\n",
        os.pretty_name,
        kernel.version,
        os.id,
        cmdline.join(" ")
    )
}

/// Installs systemd-boot, the kernel and an entry booting it with `cmdline` onto `esp`.
/// The image's files were checked by [`super::bootloader::detect`] and [`super::kernel::find`].
pub fn install(
    root: &TargetRoot,
    esp: &Fat,
    kernel: &Kernel,
    cmdline: &[String],
) -> Result<Installed> {
    let os = OsRelease::read(root)?;
    let efi = root.resolve(SYSTEMD_BOOT_EFI)?;
    let dir = format!("/{}/{}", os.id, kernel.version);
    let installed = Installed {
        entry: format!("/loader/entries/{}-{}.conf", os.id, kernel.version),
        linux: format!("{dir}/linux"),
        initrd: format!("{dir}/initrd"),
    };
    esp.copy_in(&root.resolve(&kernel.vmlinuz)?, &installed.linux)?;
    esp.copy_in(&root.resolve(&kernel.initramfs)?, &installed.initrd)?;
    esp.write(
        &installed.entry,
        entry_text(&os, kernel, &installed.linux, &installed.initrd, cmdline).as_bytes(),
    )?;
    esp.write("/loader/entries.srel", b"type1\n")?;
    let entry_name = installed.entry.rsplit('/').next().unwrap_or_default();
    esp.write(
        "/loader/loader.conf",
        format!("# Written by kickstand-installer.\ntimeout 3\ndefault {entry_name}\n").as_bytes(),
    )?;
    esp.copy_in(&efi, "/EFI/systemd/systemd-bootx64.efi")?;
    esp.copy_in(&efi, "/EFI/BOOT/BOOTX64.EFI")?;
    Ok(installed)
}
