//! The boot loader step: the image's own boot loader onto the disk that
//! [`crate::storage::StoragePlan::boot_disk`] names — systemd-boot on the ESP (written with
//! mtools, no vfat mount) for UEFI, GRUB into the BIOS boot partition and MBR for BIOS; with
//! `/boot` on RAID1, GRUB onto every disk holding a member
//! ([`crate::storage::StoragePlan::boot_disks`]) so any one of them boots, and with the ESP
//! on RAID1 systemd-boot through the array onto every member at once — with
//! the kernel command line `root=UUID=… rw` (`root=/dev/mapper/VG-LV` for a logical volume),
//! what the image's initramfs needs to reach it (`rd.md.uuid=`, `rd.luks.uuid=`,
//! `rd.lvm.lv=`), the image's
//! `kargs.d`, and `bootloader --append`.
//!
//! [`check`] runs right after the image is unpacked, before anything is configured: an image
//! without a kernel, or without a boot loader for this firmware, is refused naming the missing
//! file, and the disk is left without a boot loader (it does not boot). A failure inside
//! [`run`] leaves the states the deploy modules document (the MBR is written last for BIOS).

use anyhow::{Context, Result, bail};

use crate::deploy::bootloader::{self, BootLoader};
use crate::deploy::fat::Fat;
use crate::deploy::grub_bios::{self, BiosDisk, BootFs};
use crate::deploy::kernel::{self, Kernel};
use crate::deploy::{TargetRoot, systemd_boot};
use crate::hardware::Firmware;
use crate::progress::Reporter;
use crate::steps::storage::Prepared;
use crate::storage::{Content, FsType};

/// What [`check`] found in the image.
#[derive(Debug, Clone)]
pub struct Found {
    /// The image's kernel.
    pub kernel: Kernel,
    /// Its boot loader for the firmware.
    pub loader: BootLoader,
}

fn deploy_firmware(f: Firmware) -> bootloader::Firmware {
    match f {
        Firmware::Bios => bootloader::Firmware::Bios,
        Firmware::Uefi => bootloader::Firmware::Uefi,
    }
}

/// Finds the image's kernel and boot loader; refuses the image when either is missing.
pub fn check(root: &TargetRoot, firmware: Firmware) -> Result<Found> {
    let refused = "the image cannot be booted: no boot loader was installed and the disk does \
                   not boot";
    let kernel = kernel::find(root).context(refused)?;
    let loader = bootloader::detect(root, deploy_firmware(firmware)).context(refused)?;
    Ok(Found { kernel, loader })
}

/// Where a mount point's filesystem is: UUID, btrfs subvolume if any, and whether it is on an
/// md array.
struct Placed {
    uuid: String,
    subvol: Option<String>,
    on_raid: bool,
}

fn placed(prepared: &Prepared, mount: &str) -> Option<Placed> {
    let m = prepared
        .plan
        .mount_points()
        .into_iter()
        .find(|m| m.mount == mount)?;
    let uuid = prepared.uuid_of(&m.device)?;
    let subvol = m
        .options
        .split(',')
        .find_map(|o| o.strip_prefix("subvol="))
        .map(str::to_string);
    let on_raid = matches!(m.device, crate::storage::DeviceRef::Array { .. });
    Some(Placed {
        uuid,
        subvol,
        on_raid,
    })
}

/// Installs the boot loader found by [`check`].
pub fn run(
    root: &TargetRoot,
    prepared: &Prepared,
    found: &Found,
    append: &[String],
    reporter: &Reporter,
) -> Result<()> {
    let plan = &prepared.plan;
    let boot_disk_name = plan.boot_disk.as_deref().context(
        "the plan has no boot disk (bootloader --location=none): no boot loader installed",
    )?;
    let disk = plan
        .disks
        .iter()
        .find(|d| d.name == boot_disk_name)
        .with_context(|| format!("boot disk {boot_disk_name} is not among the written disks"))?;
    let rootfs = placed(prepared, "/").context("the plan has no root filesystem")?;
    let root_spec = prepared
        .root_spec()
        .context("the plan has no root filesystem")?;
    let mut extra = Vec::new();
    if let Some(sv) = &rootfs.subvol {
        extra.push(format!("rootflags=subvol={sv}"));
    }
    extra.extend(prepared.kernel_args());
    extra.extend(append.iter().cloned());
    let cmdline = kernel::command_line(root, &root_spec, &extra, std::env::consts::ARCH)
        .context("reading the image's kernel arguments (kargs.d)")?;
    reporter.info(&format!("kernel command line: {}", cmdline.join(" ")));
    match &found.loader {
        BootLoader::SystemdBoot if plan.array_for_mount("/boot/efi").is_some() => {
            // The ESP mirror (metadata 1.0): written through the array, so every member
            // holds the same FAT filesystem and the firmware boots from either disk.
            let array = plan.array_for_mount("/boot/efi").expect("checked");
            let made = prepared
                .array(&array.name)
                .with_context(|| format!("RAID array {} was not started", array.name))?;
            let fat = Fat::new(&made.started.node, 0);
            let installed = systemd_boot::install(root, &fat, &found.kernel, &cmdline)
                .context("installing systemd-boot onto the ESP")?;
            reporter.info(&format!(
                "systemd-boot installed on the ESP mirror {} ({}): entry {}",
                array.name,
                plan.boot_disks().join(", "),
                installed.entry
            ));
        }
        BootLoader::SystemdBoot => {
            let esp = disk
                .partitions
                .iter()
                .find(|p| {
                    matches!(&p.content, Content::Filesystem(fs)
                        if fs.fstype == FsType::Vfat && fs.mount.as_deref() == Some("/boot/efi"))
                })
                .with_context(|| format!("boot disk {} has no EFI System Partition", disk.name))?;
            let fat = Fat::new(&disk.path, esp.start);
            let installed = systemd_boot::install(root, &fat, &found.kernel, &cmdline)
                .context("installing systemd-boot onto the ESP")?;
            reporter.info(&format!(
                "systemd-boot installed on {} partition {}: entry {}",
                disk.name, esp.number, installed.entry
            ));
        }
        BootLoader::GrubBios { mkimage } => {
            let boot = match placed(prepared, "/boot") {
                Some(b) => BootFs {
                    uuid: b.uuid,
                    dir_in_fs: b.subvol.map(|s| format!("/{s}")).unwrap_or_default(),
                    on_raid: b.on_raid,
                },
                None => BootFs {
                    uuid: rootfs.uuid.clone(),
                    dir_in_fs: match &rootfs.subvol {
                        Some(s) => format!("/{s}/boot"),
                        None => "/boot".into(),
                    },
                    on_raid: rootfs.on_raid,
                },
            };
            for name in plan.boot_disks() {
                let disk = plan
                    .disks
                    .iter()
                    .find(|d| d.name == name)
                    .with_context(|| format!("boot disk {name} is not among the written disks"))?;
                grub_on(
                    root,
                    disk,
                    &boot,
                    found,
                    &cmdline,
                    mkimage.as_deref(),
                    reporter,
                )?;
            }
        }
    }
    Ok(())
}

/// GRUB for BIOS onto `disk`'s BIOS boot partition and MBR.
fn grub_on(
    root: &TargetRoot,
    disk: &crate::storage::DiskPlan,
    boot: &BootFs,
    found: &Found,
    cmdline: &[String],
    mkimage: Option<&str>,
    reporter: &Reporter,
) -> Result<()> {
    let bios = disk
        .partitions
        .iter()
        .find(|p| matches!(p.content, Content::BiosBoot))
        .with_context(|| format!("boot disk {} has no BIOS boot partition", disk.name))?;
    if disk.sector_size != grub_bios::SECTOR {
        bail!(
            "boot disk {} has {}-byte sectors; BIOS GRUB needs 512-byte sectors",
            disk.name,
            disk.sector_size
        );
    }
    grub_bios::install(
        root,
        &BiosDisk {
            path: disk.path.clone(),
            bios_boot_start: bios.start / grub_bios::SECTOR,
        },
        boot,
        &found.kernel,
        cmdline,
        mkimage,
    )
    .with_context(|| format!("installing GRUB for BIOS on {}", disk.name))?;
    reporter.info(&format!(
        "GRUB installed on {} (BIOS boot partition {}, MBR)",
        disk.name, bios.number
    ));
    Ok(())
}
