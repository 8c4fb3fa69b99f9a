//! GRUB for BIOS machines, from the image's own `i386-pc` files, without `grub-install`
//! (which cannot probe loop devices here) — the way `grub-bios-setup` does it, minus its
//! device probing:
//!
//! 1. kernel and initramfs to `/boot/vmlinuz-$KVER` and `/boot/initramfs-$KVER.img`, the
//!    `i386-pc` modules to `/boot/grub/i386-pc`, our `/boot/grub/grub.cfg` (Debian's GRUB has
//!    no BLS support);
//! 2. a core image built by `grub-mkimage` with an early config that finds `/boot` by
//!    filesystem UUID (`/boot/grub/i386-pc/load.cfg`, `core.img`, as grub-install leaves them);
//! 3. core.img written at the BIOS boot partition's first LBA, with the blocklist in its first
//!    sector (at 0x1f4: start+1 as u64, sectors−1 as u16, segment 0x820 as u16);
//! 4. last, `boot.img`'s first 440 bytes into LBA 0 with core.img's LBA at 0x5c, keeping the
//!    protective MBR's partition table and signature.
//!
//! Which `grub-mkimage`: the core image must be built by the GRUB that built the modules, so
//! the image's own `grub-mkimage` runs chrooted into the target (its libraries are the
//! target's; the installer runs as root). When the image has no `grub-mkimage` or it cannot
//! run (not root, foreign architecture), the host's `grub-mkimage` is used with the image's
//! module directory — only if its version equals the one in the image's `modinfo.sh`.
//!
//! Until step 4 the disk's MBR holds no boot code, so a failure leaves a disk that does not
//! boot rather than a half-installed GRUB.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::bootloader::{GRUB_I386_PC, OsRelease};
use super::command::run;
use super::error::{DeployError, Result};
use super::kernel::{Kernel, serial_console};
use super::target::TargetRoot;

/// Sector size of BIOS disks.
pub const SECTOR: u64 = 512;
/// Offset in boot.img of the LBA where it loads core.img from.
pub const KERNEL_SECTOR_OFFSET: usize = 0x5c;
/// Offset in core.img's first sector (diskboot.img) of its blocklist.
pub const BLOCKLIST_OFFSET: usize = 0x1f4;
/// Where diskboot loads the rest of core.img (segment).
pub const LOAD_SEGMENT: u16 = 0x820;
/// GPT type GUID of the BIOS boot partition, as stored on disk ("Hah!IdontNeedEFI").
pub const BIOS_BOOT_TYPE: [u8; 16] = *b"Hah!IdontNeedEFI";
/// Modules built into the core image (those the image lacks are left out, except the first
/// four, which are required).
pub const CORE_MODULES: &[&str] = &[
    "biosdisk",
    "part_gpt",
    "search_fs_uuid",
    "configfile",
    "part_msdos",
    "ext2",
    "xfs",
    "btrfs",
    "search",
    "normal",
    "linux",
    "serial",
    "terminal",
    "echo",
    "test",
];

/// Modules added to the core image when `/boot` is on an md array: GRUB then assembles the
/// array itself (a RAID1 with metadata 1.0 also reads as a plain filesystem on each member;
/// with 1.2, as a root holding `/boot` has, only through these).
pub const RAID_MODULES: &[&str] = &["diskfilter", "mdraid1x"];

/// The disk and its BIOS boot partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosDisk {
    /// The whole disk (image file or block device).
    pub path: PathBuf,
    /// First LBA of the BIOS boot partition (512-byte sectors).
    pub bios_boot_start: u64,
}

/// The filesystem holding `/boot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFs {
    /// Its UUID (as `blkid` prints it).
    pub uuid: String,
    /// Where the target's `/boot` is inside that filesystem: `""` when `/boot` is its own
    /// filesystem, `/boot` when it is a directory of the root filesystem.
    pub dir_in_fs: String,
    /// The filesystem is on an md array ([`RAID_MODULES`] go into the core image).
    pub on_raid: bool,
}

/// Installs GRUB for BIOS. See the module documentation for the steps and what a failure
/// leaves behind.
pub fn install(
    root: &TargetRoot,
    disk: &BiosDisk,
    boot: &BootFs,
    kernel: &Kernel,
    cmdline: &[String],
    mkimage: Option<&str>,
) -> Result<()> {
    let part_sectors = check_disk(disk)?;
    let os = OsRelease::read(root)?;
    let src = |name: &str| root.resolve(&format!("{GRUB_I386_PC}/{name}"));
    let boot_img = read(&src("boot.img")?)?;
    if boot_img.len() != SECTOR as usize {
        return Err(DeployError::Format {
            path: format!("{GRUB_I386_PC}/boot.img"),
            line: 0,
            message: format!("expected 512 bytes, found {}", boot_img.len()),
        });
    }

    // 1. kernel, modules, grub.cfg
    let vmlinuz = format!("vmlinuz-{}", kernel.version);
    let initrd = format!("initramfs-{}.img", kernel.version);
    copy(
        &root.resolve(&kernel.vmlinuz)?,
        &root.create_dir_all("/boot")?.join(&vmlinuz),
    )?;
    copy(
        &root.resolve(&kernel.initramfs)?,
        &root.resolve("/boot")?.join(&initrd),
    )?;
    let modules = root.create_dir_all("/boot/grub/i386-pc")?;
    let grub_dir = root.resolve(GRUB_I386_PC)?;
    for entry in fs::read_dir(&grub_dir).map_err(|e| DeployError::io("reading", &grub_dir, e))? {
        let entry = entry.map_err(|e| DeployError::io("reading", &grub_dir, e))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            copy(&entry.path(), &modules.join(entry.file_name()))?;
        }
    }
    let cfg = grub_cfg(&os, boot, &vmlinuz, &initrd, cmdline);
    root.write("/boot/grub/grub.cfg", cfg.as_bytes(), 0o644)?;

    // 2. core.img
    let load_cfg = format!(
        "search.fs_uuid {} root\nset prefix=($root)'{}/grub'\n",
        boot.uuid, boot.dir_in_fs
    );
    root.write("/boot/grub/i386-pc/load.cfg", load_cfg.as_bytes(), 0o644)?;
    let raid: &[&str] = if boot.on_raid { RAID_MODULES } else { &[] };
    let wanted: Vec<&str> = CORE_MODULES
        .iter()
        .chain(raid)
        .copied()
        .filter(|m| grub_dir.join(format!("{m}.mod")).is_file())
        .collect();
    for required in &CORE_MODULES[..4] {
        if !wanted.contains(required) {
            return Err(DeployError::MissingInImage {
                path: format!("{GRUB_I386_PC}/{required}.mod"),
                why: "the BIOS core image needs it".into(),
            });
        }
    }
    build_core(root, mkimage, &format!("{}/grub", boot.dir_in_fs), &wanted)?;
    let mut core = read(&root.resolve("/boot/grub/i386-pc/core.img")?)?;
    let sectors = (core.len() as u64).div_ceil(SECTOR);
    if sectors > part_sectors || sectors < 2 || sectors - 1 > u64::from(u16::MAX) {
        return Err(DeployError::Invalid(format!(
            "GRUB's core image is {} bytes ({sectors} sectors) but the BIOS boot partition holds {part_sectors} sectors",
            core.len()
        )));
    }
    core.resize((sectors * SECTOR) as usize, 0);

    // 3. core.img into the BIOS boot partition, with its blocklist.
    let start = disk.bios_boot_start;
    core[BLOCKLIST_OFFSET..BLOCKLIST_OFFSET + 8].copy_from_slice(&(start + 1).to_le_bytes());
    core[BLOCKLIST_OFFSET + 8..BLOCKLIST_OFFSET + 10]
        .copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
    core[BLOCKLIST_OFFSET + 10..BLOCKLIST_OFFSET + 12].copy_from_slice(&LOAD_SEGMENT.to_le_bytes());
    let mut dev = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.path)
        .map_err(|e| DeployError::io("opening", &disk.path, e))?;
    write_at(&mut dev, &disk.path, start * SECTOR, &core)?;

    // 4. boot.img into the MBR.
    let mut mbr = vec![0u8; SECTOR as usize];
    read_at(&mut dev, &disk.path, 0, &mut mbr)?;
    mbr[..440].copy_from_slice(&boot_img[..440]);
    mbr[KERNEL_SECTOR_OFFSET..KERNEL_SECTOR_OFFSET + 8].copy_from_slice(&start.to_le_bytes());
    write_at(&mut dev, &disk.path, 0, &mbr)?;
    dev.sync_all()
        .map_err(|e| DeployError::io("flushing", &disk.path, e))
}

/// Our grub.cfg: finds `/boot` by UUID and boots the one kernel; console and, when the kernel
/// command line has `console=ttyS<n>`, the same serial port.
pub fn grub_cfg(
    os: &OsRelease,
    boot: &BootFs,
    vmlinuz: &str,
    initrd: &str,
    cmdline: &[String],
) -> String {
    let mut cfg =
        String::from("# Written by kickstand-installer; the installed system's boot menu.\n");
    let terminals = match serial_console(cmdline) {
        Some((unit, speed)) => {
            cfg.push_str(&format!("serial --unit={unit} --speed={speed}\n"));
            "console serial"
        }
        None => "console",
    };
    let dir = &boot.dir_in_fs;
    cfg.push_str(&format!(
        "terminal_input {terminals}\nterminal_output {terminals}\nset timeout=3\nset default=0\n\
         insmod part_gpt\nsearch --no-floppy --fs-uuid --set=root {uuid}\n\n\
         menuentry '{title}' {{\n    linux {dir}/{vmlinuz} {args}\n    initrd {dir}/{initrd}\n}}\n",
        uuid = boot.uuid,
        title = os.pretty_name,
        args = cmdline.join(" "),
    ));
    cfg
}

/// Runs `grub-mkimage` (the image's in a chroot, else the host's; see the module docs),
/// writing `/boot/grub/i386-pc/core.img` in the target.
fn build_core(
    root: &TargetRoot,
    mkimage: Option<&str>,
    prefix: &str,
    modules: &[&str],
) -> Result<()> {
    let args = |dir: &Path, load_cfg: &Path, out: &Path| {
        let mut a: Vec<String> = vec![
            "-O".into(),
            "i386-pc".into(),
            "-d".into(),
            dir.display().to_string(),
            "-c".into(),
            load_cfg.display().to_string(),
            "-p".into(),
            prefix.into(),
            "-o".into(),
            out.display().to_string(),
        ];
        a.extend(modules.iter().map(|m| m.to_string()));
        a
    };
    if let Some(mkimage) = mkimage {
        let mut cmd = Command::new("chroot");
        cmd.arg(root.path()).arg(mkimage).args(args(
            Path::new(GRUB_I386_PC),
            Path::new("/boot/grub/i386-pc/load.cfg"),
            Path::new("/boot/grub/i386-pc/core.img"),
        ));
        match run(
            "building GRUB's core image with the image's grub-mkimage",
            &mut cmd,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => tracing::warn!("{e}; trying the host's grub-mkimage"),
        }
    }
    let image_version = root
        .read_optional(&format!("{GRUB_I386_PC}/modinfo.sh"))?
        .and_then(|t| {
            t.lines().find_map(|l| {
                Some(
                    l.strip_prefix("grub_package_version=")?
                        .trim_matches('"')
                        .to_string(),
                )
            })
        });
    let host = run(
        "asking the host's grub-mkimage for its version",
        Command::new("grub-mkimage").arg("--version"),
    )?;
    let host = String::from_utf8_lossy(&host);
    let host_version = host
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    match image_version {
        Some(v) if v != host_version => {
            return Err(DeployError::Invalid(format!(
                "the image's GRUB modules are version {v} but it has no runnable grub-mkimage, and \
                 the host's grub-mkimage is {host_version}; a core image must match its modules"
            )));
        }
        Some(_) => {}
        None => tracing::warn!(
            "the image's {GRUB_I386_PC}/modinfo.sh names no version; using the host's grub-mkimage {host_version}"
        ),
    }
    let mut cmd = Command::new("grub-mkimage");
    cmd.args(args(
        &root.resolve(GRUB_I386_PC)?,
        &root.resolve("/boot/grub/i386-pc/load.cfg")?,
        &root.resolve("/boot/grub/i386-pc/core.img")?,
    ));
    run(
        "building GRUB's core image with the host's grub-mkimage",
        &mut cmd,
    )?;
    Ok(())
}

/// Checks the disk before anything is written: a protective MBR (0x55AA) and a GPT whose
/// partition at `bios_boot_start` is a BIOS boot partition. Returns its size in sectors.
pub fn check_disk(disk: &BiosDisk) -> Result<u64> {
    let mut f =
        fs::File::open(&disk.path).map_err(|e| DeployError::io("opening", &disk.path, e))?;
    let mut head = vec![0u8; 2 * SECTOR as usize];
    read_at(&mut f, &disk.path, 0, &mut head)?;
    let bad = |message: String| DeployError::Format {
        path: disk.path.display().to_string(),
        line: 0,
        message,
    };
    if head[510..512] != [0x55, 0xaa] {
        return Err(bad(
            "no MBR signature 0x55AA in LBA 0: expected a GPT disk with a protective MBR".into(),
        ));
    }
    if &head[512..520] != b"EFI PART" {
        return Err(bad(
            "no GPT header in LBA 1: BIOS GRUB is installed on GPT disks only".into(),
        ));
    }
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let entries_lba = u64_at(&head, 512 + 72);
    let count = u64::from(u32_at(&head, 512 + 80));
    let size = u64::from(u32_at(&head, 512 + 84));
    if !(128..=4096).contains(&size) || count > 4096 {
        return Err(bad(format!(
            "implausible GPT entry array: {count} entries of {size} bytes"
        )));
    }
    let mut table = vec![0u8; (count * size) as usize];
    read_at(&mut f, &disk.path, entries_lba * SECTOR, &mut table)?;
    for entry in table.chunks(size as usize) {
        let (first, last) = (u64_at(entry, 32), u64_at(entry, 40));
        if first == disk.bios_boot_start && entry[..16] != [0; 16] {
            if entry[..16] != BIOS_BOOT_TYPE {
                return Err(bad(format!(
                    "the partition at LBA {first} is not a BIOS boot partition (type 21686148-6449-6E6F-744E-656564454649)"
                )));
            }
            return Ok(last + 1 - first);
        }
    }
    Err(bad(format!(
        "no partition starts at LBA {}",
        disk.bios_boot_start
    )))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| DeployError::io("reading", path, e))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| DeployError::io("copying to", to, e))?;
    Ok(())
}

fn read_at(f: &mut fs::File, path: &Path, offset: u64, buf: &mut [u8]) -> Result<()> {
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(buf))
        .map_err(|e| DeployError::io("reading", path, e))
}

fn write_at(f: &mut fs::File, path: &Path, offset: u64, buf: &[u8]) -> Result<()> {
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(buf))
        .map_err(|e| DeployError::io("writing", path, e))
}
