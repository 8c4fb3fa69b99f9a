//! A bootable GPT disk assembled by hand from an image layout, without an installer: an ESP
//! (written with mtools: the host kernel has no vfat) holding systemd-boot, a loader entry, the
//! kernel and the initramfs, and an ext4 root populated with `mkfs.ext4 -d` from the unpacked
//! image (no mount needed). Tests use it to prove a test image boots before any installer runs.

use super::{Error, Result, write_file};
use crate::cmd::run;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1024 * 1024;
/// The ESP starts at 1 MiB and is 64 MiB; the root follows it.
const ESP_START: u64 = MIB;
const ESP_SIZE: u64 = 64 * MIB;
const ROOT_START: u64 = ESP_START + ESP_SIZE;
/// Volume ID of the ESP (its fstab `UUID=` is `4B1C-0A0E`).
pub const ESP_VOLUME_ID: &str = "4B1C0A0E";
/// UUID of the ext4 root.
pub const ROOT_UUID: &str = "6f1c2a3e-8b1d-4c55-9e0a-1b2c3d4e5f60";

/// What [`uefi_disk`] builds.
#[derive(Debug, Clone)]
pub struct UefiDisk {
    pub path: PathBuf,
    /// The kernel command line in the loader entry.
    pub cmdline: String,
}

/// Writes `disk` (a new raw image file) holding the image unpacked in `rootfs`: GPT with an
/// ESP (systemd-boot as `EFI/BOOT/BOOTX64.EFI`, `loader/entries/tiny.conf`, kernel and
/// initramfs from `usr/lib/modules/$KVER`) and an ext4 root of `root_mib` MiB. `rootfs` gets
/// an `/etc/fstab` naming both by UUID. Needs no root unless `rootfs` holds root-owned files
/// the caller cannot read.
pub fn uefi_disk(rootfs: &Path, disk: &Path, root_mib: u64) -> Result<UefiDisk> {
    let modules = rootfs.join("usr/lib/modules");
    let kver = std::fs::read_dir(&modules)
        .map_err(Error::io("listing", &modules))?
        .flatten()
        .find(|e| e.path().join("vmlinuz").is_file())
        .and_then(|e| e.file_name().into_string().ok())
        .ok_or_else(|| {
            Error::Asset(format!(
                "no usr/lib/modules/*/vmlinuz in {}",
                rootfs.display()
            ))
        })?;
    let kdir = modules.join(&kver);
    let efi = rootfs.join("usr/lib/systemd/boot/efi/systemd-bootx64.efi");

    let esp_uuid = format!("{}-{}", &ESP_VOLUME_ID[..4], &ESP_VOLUME_ID[4..]);
    write_file(
        &rootfs.join("etc/fstab"),
        format!(
            "UUID={ROOT_UUID} / ext4 defaults 0 1\nUUID={esp_uuid} /boot/efi vfat umask=0077 0 2\n"
        )
        .as_bytes(),
        0o644,
    )?;
    std::fs::create_dir_all(rootfs.join("boot/efi")).map_err(Error::io("creating", rootfs))?;

    let root_size = root_mib * MIB;
    let total = ROOT_START + root_size + MIB;
    let file = std::fs::File::create(disk).map_err(Error::io("creating", disk))?;
    file.set_len(total).map_err(Error::io("sizing", disk))?;
    drop(file);
    let sectors = |bytes: u64| (bytes / 512).to_string();
    run(
        "partitioning the test disk",
        Command::new("sgdisk")
            .arg(format!(
                "--new=1:{}:+{}",
                sectors(ESP_START),
                sectors(ESP_SIZE)
            ))
            .args(["--typecode=1:ef00", "--change-name=1:ESP"])
            .arg(format!(
                "--new=2:{}:+{}",
                sectors(ROOT_START),
                sectors(root_size)
            ))
            .args(["--typecode=2:8304", "--change-name=2:root"])
            .arg(disk),
    )?;

    // ESP, with mtools only.
    run(
        "formatting the ESP",
        Command::new("mkfs.vfat")
            .args(["-F", "16", "-n", "ESP", "-i", ESP_VOLUME_ID])
            .arg(format!("--offset={}", sectors(ESP_START)))
            .arg(disk)
            .arg((ESP_SIZE / 1024).to_string()),
    )?;
    let image = format!("{}@@{ESP_START}", disk.display());
    run(
        "creating ESP directories",
        Command::new("mmd")
            .args([
                "-i",
                &image,
                "::EFI",
                "::EFI/BOOT",
                "::loader",
                "::loader/entries",
                "::tiny",
            ])
            .env("MTOOLS_SKIP_CHECK", "1"),
    )?;
    let cmdline = format!("root=UUID={ROOT_UUID} rw console=ttyS0");
    let staging =
        tempfile::tempdir().map_err(Error::io("creating a temporary directory", "/tmp"))?;
    let loader_conf = staging.path().join("loader.conf");
    write_file(&loader_conf, b"timeout 0\ndefault tiny.conf\n", 0o644)?;
    let entry = staging.path().join("tiny.conf");
    write_file(
        &entry,
        format!(
            "title Kickstand tiny test OS\nversion {kver}\nlinux /tiny/vmlinuz\n\
             initrd /tiny/initramfs.img\noptions {cmdline}\n"
        )
        .as_bytes(),
        0o644,
    )?;
    for (from, to) in [
        (efi.as_path(), "::EFI/BOOT/BOOTX64.EFI"),
        (loader_conf.as_path(), "::loader/loader.conf"),
        (entry.as_path(), "::loader/entries/tiny.conf"),
        (&kdir.join("vmlinuz"), "::tiny/vmlinuz"),
        (&kdir.join("initramfs.img"), "::tiny/initramfs.img"),
    ] {
        run(
            "copying to the ESP",
            Command::new("mcopy")
                .args(["-i", &image])
                .arg(from)
                .arg(to)
                .env("MTOOLS_SKIP_CHECK", "1"),
        )?;
    }

    // ext4 root, populated from the tree without mounting it.
    run(
        "creating the ext4 root",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "root", "-U", ROOT_UUID, "-d"])
            .arg(rootfs)
            .arg("-E")
            .arg(format!("offset={ROOT_START}"))
            .arg(disk)
            .arg(format!("{}k", root_size / 1024)),
    )?;
    Ok(UefiDisk {
        path: disk.to_owned(),
        cmdline,
    })
}
