//! GRUB's boot images, from Debian's `grub-pc-bin` and `grub-efi-amd64-bin`: a self-contained
//! BIOS El Torito image and a FAT image holding GRUB for UEFI, each with every module it needs
//! built in (the ISO carries no module directories) and the early configuration of
//! [`super::menu::early_cfg`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kickstand_installer::cmd::Cmd;
use kickstand_installer::tools::Tool;

const fn host_tool(program: &'static str, package: &'static str, why: &'static str) -> Tool {
    Tool {
        program,
        package,
        why,
        host_only: true,
    }
}

/// `grub-mkimage`: GRUB's BIOS and UEFI images.
pub const GRUB_MKIMAGE: Tool = host_tool(
    "grub-mkimage",
    "grub-common",
    "build GRUB's boot images for the ISO",
);
/// `mkfs.vfat`: the UEFI boot image.
pub const MKFS_VFAT: Tool = host_tool("mkfs.vfat", "dosfstools", "make the UEFI boot image");
/// `mmd`: directories in the UEFI boot image.
pub const MMD: Tool = host_tool("mmd", "mtools", "make directories in the UEFI boot image");
/// `mcopy`: files into the UEFI boot image.
pub const MCOPY: Tool = host_tool("mcopy", "mtools", "copy GRUB into the UEFI boot image");

/// GRUB's module directory for BIOS (Debian `grub-pc-bin`).
pub const BIOS_MODULES: &str = "/usr/lib/grub/i386-pc";
/// GRUB's module directory for 64-bit UEFI (Debian `grub-efi-amd64-bin`).
pub const EFI_MODULES: &str = "/usr/lib/grub/x86_64-efi";
/// The MBR boot code of a hybrid ISO (Debian `grub-pc-bin`).
pub const HYBRID_MBR: &str = "/usr/lib/grub/i386-pc/boot_hybrid.img";

/// Modules both images need: the ISO's file system and partition tables, the menu, the Linux
/// loader, the serial console.
const COMMON_MODULES: &[&str] = &[
    "iso9660",
    "part_gpt",
    "part_msdos",
    "normal",
    "configfile",
    "linux",
    "search",
    "search_label",
    "serial",
    "terminal",
    "echo",
    "test",
    "sleep",
    "true",
    "halt",
    "reboot",
];

/// The files of Debian's GRUB packages the ISO needs, with the package that ships each; a
/// missing one is named with its package before anything is built.
pub fn check_installed() -> Result<()> {
    let needed = [
        (format!("{BIOS_MODULES}/cdboot.img"), "grub-pc-bin"),
        (HYBRID_MBR.to_string(), "grub-pc-bin"),
        (format!("{EFI_MODULES}/linux.mod"), "grub-efi-amd64-bin"),
    ];
    let missing: Vec<String> = needed
        .iter()
        .filter(|(p, _)| !Path::new(p).exists())
        .map(|(p, pkg)| format!("{p} (Debian package {pkg})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "GRUB files the ISO needs are missing: {}",
            missing.join(", ")
        );
    }
    for tool in [GRUB_MKIMAGE, MKFS_VFAT, MMD, MCOPY, super::xorriso::XORRISO] {
        if kickstand_installer::tools::find(tool.program).is_none() {
            bail!(
                "{} is not installed (Debian package {}); it is needed to {}",
                tool.program,
                tool.package,
                tool.why
            );
        }
    }
    Ok(())
}

/// Writes the BIOS El Torito image (`cdboot.img` + GRUB's core) to `out`.
pub fn bios_image(early_cfg: &Path, out: &Path) -> Result<()> {
    Cmd::new(GRUB_MKIMAGE, "building GRUB's BIOS El Torito image")
        .args([
            "-O",
            "i386-pc-eltorito",
            "-d",
            BIOS_MODULES,
            "-p",
            "/boot/grub",
        ])
        .arg("-c")
        .arg(early_cfg)
        .arg("-o")
        .arg(out)
        .arg("biosdisk")
        .args(COMMON_MODULES)
        .run()?;
    Ok(())
}

/// Writes the UEFI boot image to `out`: a FAT file system holding GRUB as
/// `\EFI\BOOT\BOOTX64.EFI` (the removable-media path every UEFI firmware tries). `work` holds
/// the intermediate GRUB binary.
pub fn efi_image(early_cfg: &Path, work: &Path, out: &Path) -> Result<()> {
    let grub = work.join("BOOTX64.EFI");
    Cmd::new(GRUB_MKIMAGE, "building GRUB for UEFI")
        .args(["-O", "x86_64-efi", "-d", EFI_MODULES, "-p", "/boot/grub"])
        .arg("-c")
        .arg(early_cfg)
        .arg("-o")
        .arg(&grub)
        .args(["fat", "efi_gop", "efi_uga", "all_video"])
        .args(COMMON_MODULES)
        .run()?;
    let size = std::fs::metadata(&grub)
        .with_context(|| format!("reading {}", grub.display()))?
        .len();
    // FAT12/16 overhead and slack: the binary plus 25% and 256 KiB, in KiB as mkfs.vfat -C wants.
    let kib = (size + size / 4) / 1024 + 256;
    let _ = std::fs::remove_file(out);
    Cmd::new(MKFS_VFAT, "making the UEFI boot image")
        .args(["-C", "-n", "KS-EFI"])
        .arg(out)
        .arg(kib.to_string())
        .run()?;
    let image = image_arg(out);
    Cmd::new(MMD, "making \\EFI\\BOOT in the UEFI boot image")
        .args(["-i", &image, "::/EFI", "::/EFI/BOOT"])
        .run()?;
    Cmd::new(MCOPY, "copying GRUB into the UEFI boot image")
        .args(["-i", &image])
        .arg(&grub)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .run()?;
    Ok(())
}

fn image_arg(p: &Path) -> String {
    PathBuf::from(p).to_string_lossy().into_owned()
}
