//! Writing and reading ISO images with xorriso (Debian `xorriso`): the hybrid layout of
//! grub-mkrescue (El Torito BIOS + UEFI, a protective MBR with GRUB's hybrid boot code, and a
//! GPT whose EFI System Partition is the UEFI boot image), file replacement that keeps the boot
//! records (`-boot_image any replay`), and extraction without mounting (`-osirrox`).

use std::path::Path;

use anyhow::{Context, Result};
use kickstand_installer::cmd::Cmd;
use kickstand_installer::tools::Tool;

use super::{CATALOG_PATH, ELTORITO_PATH, grub::HYBRID_MBR};

/// `xorriso`: writes, edits and reads the ISO.
pub const XORRISO: Tool = Tool {
    program: "xorriso",
    package: "xorriso",
    why: "write, edit and read ISO images",
    host_only: true,
};

/// Writes the hybrid ISO `out` from the directory `tree` (which must hold the BIOS image at
/// [`ELTORITO_PATH`]) and the UEFI boot image `efi_image`, with volume label `label`.
///
/// On failure `out` may be left half-written; the caller writes to a temporary name and renames.
pub fn write(tree: &Path, efi_image: &Path, label: &str, out: &Path) -> Result<()> {
    Cmd::new(XORRISO, format!("writing the ISO image {}", out.display()))
        .args(["-as", "mkisofs", "-o"])
        .arg(out)
        .args(["-V", label, "-r", "-J", "-joliet-long"])
        .args(["--grub2-mbr", HYBRID_MBR])
        .args(["-partition_offset", "16", "--mbr-force-bootable"])
        .args(["-append_partition", "2", "0xef"])
        .arg(efi_image)
        .arg("-appended_part_as_gpt")
        .args(["-c", CATALOG_PATH])
        .args(["-b", ELTORITO_PATH])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .arg("--grub2-boot-info")
        .args(["-eltorito-alt-boot", "-e"])
        .arg("--interval:appended_partition_2:all::")
        .arg("-no-emul-boot")
        .arg(tree)
        .run()?;
    Ok(())
}

/// Copies `input` to `out`, keeping its boot records and appended partitions, with the files
/// `put` (host path, ISO path) added or replaced and the ISO paths `remove` removed.
///
/// On failure `out` may be left half-written; the caller writes to a temporary name and renames.
pub fn rewrite(input: &Path, out: &Path, put: &[(&Path, &str)], remove: &[&str]) -> Result<()> {
    let mut cmd = Cmd::new(
        XORRISO,
        format!(
            "writing {} from {} with new files",
            out.display(),
            input.display()
        ),
    )
    .arg("-indev")
    .arg(input)
    .arg("-outdev")
    .arg(out)
    .args(["-boot_image", "any", "replay"]);
    for path in remove {
        cmd = cmd.arg("-rm_r").arg(format!("/{path}")).arg("--");
    }
    for (host, inside) in put {
        cmd = cmd.arg("-map").arg(host).arg(format!("/{inside}"));
    }
    cmd.run()?;
    Ok(())
}

/// Copies the file `inside` of the ISO to `dest`; `Ok(false)` when the ISO has no such file.
pub fn extract(iso: &Path, inside: &str, dest: &Path) -> Result<bool> {
    if !exists(iso, inside)? {
        return Ok(false);
    }
    Cmd::new(XORRISO, format!("reading /{inside} from {}", iso.display()))
        .args(["-osirrox", "on", "-indev"])
        .arg(iso)
        .arg("-extract")
        .arg(format!("/{inside}"))
        .arg(dest)
        .run()?;
    Ok(true)
}

/// Whether the ISO holds `inside` (a file or directory).
pub fn exists(iso: &Path, inside: &str) -> Result<bool> {
    let out = Cmd::new(XORRISO, format!("listing {}", iso.display()))
        .arg("-indev")
        .arg(iso)
        .arg("-find")
        .arg(format!("/{inside}"))
        .args(["-maxdepth", "0", "-exec", "lsdl", "--"])
        .run();
    match out {
        Ok(text) => Ok(text.lines().any(|l| l.ends_with(&format!("'/{inside}'")))),
        Err(e) if e.to_string().contains("Cannot find path") => Ok(false),
        Err(e) => Err(e).context("reading the ISO's directory"),
    }
}

/// xorriso's report of the El Torito boot catalog and the system area (MBR, GPT).
pub fn boot_report(iso: &Path) -> Result<String> {
    Ok(Cmd::new(
        XORRISO,
        format!("reading the boot records of {}", iso.display()),
    )
    .arg("-indev")
    .arg(iso)
    .args(["-report_el_torito", "plain", "-report_system_area", "plain"])
    .run()?)
}

/// The volume label of the ISO.
pub fn volume_label(iso: &Path) -> Result<String> {
    let report = Cmd::new(
        XORRISO,
        format!("reading the volume label of {}", iso.display()),
    )
    .arg("-indev")
    .arg(iso)
    .args(["-pvd_info"])
    .run()?;
    report
        .lines()
        .find_map(|l| l.strip_prefix("Volume Id    : "))
        .map(|s| s.trim().to_string())
        .with_context(|| format!("{} has no ISO 9660 volume id", iso.display()))
}
