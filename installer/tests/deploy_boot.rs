//! The boot loader half of the flat deploy, into real disk image files: a GPT made by sgdisk,
//! an ESP made by `mkfs.vfat --offset` and written with mtools (checked with mdir, mtype and
//! fsck.vfat), and BIOS GRUB built from GRUB's own i386-pc files (checked byte by byte in the
//! MBR, the BIOS boot partition and the core image's blocklist).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

mod common;
use common::sh;
use kickstand_installer::deploy::bootloader::{self, BootLoader, Firmware};
use kickstand_installer::deploy::fat::Fat;
use kickstand_installer::deploy::grub_bios::{self, BiosDisk, BootFs};
use kickstand_installer::deploy::{TargetRoot, kernel, systemd_boot};

const KVER: &str = "6.1.0-40-amd64";
const ESP_START: u64 = 4096;
const ESP_SECTORS: u64 = 65536;

/// A 96 MiB disk image: BIOS boot (LBA 2048, 1 MiB), ESP (LBA 4096, 32 MiB), Linux root.
fn disk(dir: &Path) -> PathBuf {
    let path = dir.join("disk.raw");
    fs::File::create(&path).unwrap().set_len(96 << 20).unwrap();
    let p = path.to_str().unwrap();
    sh(
        "sgdisk",
        &[
            "-n1:2048:4095",
            "-t1:ef02",
            "-n2:4096:69631",
            "-t2:ef00",
            "-n3:69632:0",
            "-t3:8304",
            p,
        ],
    );
    path
}

/// A target root holding what a bootable image carries: one kernel with its initramfs,
/// os-release, kargs.d, systemd-boot and GRUB's i386-pc directory (both from this host's
/// Debian packages).
fn image_root(dir: &Path) -> TargetRoot {
    fs::create_dir(dir.join("root")).unwrap();
    let root = TargetRoot::new(dir.join("root"));
    let kernel: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    root.write(&format!("/usr/lib/modules/{KVER}/vmlinuz"), &kernel, 0o644)
        .unwrap();
    root.write(
        &format!("/usr/lib/modules/{KVER}/initramfs.img"),
        b"initramfs\n",
        0o644,
    )
    .unwrap();
    root.write(
        "/etc/os-release",
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
        0o644,
    )
    .unwrap();
    root.write(
        "/usr/lib/bootc/kargs.d/10-console.toml",
        b"kargs = [\"console=ttyS0,115200\"]\n",
        0o644,
    )
    .unwrap();
    let efi = fs::read("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
        .expect("systemd-boot-efi installed");
    root.write(bootloader::SYSTEMD_BOOT_EFI, &efi, 0o644)
        .unwrap();
    let grub = root.create_dir_all(bootloader::GRUB_I386_PC).unwrap();
    for entry in fs::read_dir("/usr/lib/grub/i386-pc").expect("grub-pc-bin installed") {
        let entry = entry.unwrap();
        fs::copy(entry.path(), grub.join(entry.file_name())).unwrap();
    }
    root
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn systemd_boot_onto_an_esp_written_with_mtools() {
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(dir.path());
    let root = image_root(dir.path());
    let d = disk.to_str().unwrap();
    sh(
        "mkfs.vfat",
        &[
            "-n",
            "ESP",
            &format!("--offset={ESP_START}"),
            d,
            &(ESP_SECTORS / 2).to_string(),
        ],
    );
    let table_before = sh("sgdisk", &["-p", d]);

    assert_eq!(
        bootloader::detect(&root, Firmware::Uefi).unwrap(),
        BootLoader::SystemdBoot
    );
    let k = kernel::find(&root).unwrap();
    let cmdline = kernel::command_line(
        &root,
        "UUID=f00dfeed-0000-4000-8000-000000000001",
        &kernel::split_append("quiet"),
        "x86_64",
    )
    .unwrap();
    let esp = Fat::new(&disk, ESP_START * 512);
    let installed = systemd_boot::install(&root, &esp, &k, &cmdline).unwrap();
    assert_eq!(
        installed.entry,
        format!("/loader/entries/debian-{KVER}.conf")
    );

    let img = format!("{d}@@{}", ESP_START * 512);
    let listing = sh("mdir", &["-i", &img, "-/", "-b", "::/"]);
    for path in [
        "::/EFI/systemd/systemd-bootx64.efi",
        "::/EFI/BOOT/BOOTX64.EFI",
        "::/loader/loader.conf",
        "::/loader/entries.srel",
        &format!("::/loader/entries/debian-{KVER}.conf"),
        &format!("::/debian/{KVER}/linux"),
        &format!("::/debian/{KVER}/initrd"),
    ] {
        assert!(
            listing.lines().any(|l| l.eq_ignore_ascii_case(path)),
            "{path} missing from\n{listing}"
        );
    }
    assert_eq!(
        sh(
            "mtype",
            &["-i", &img, &format!("::/loader/entries/debian-{KVER}.conf")]
        ),
        format!(
            "# Written by kickstand-installer.\ntitle Debian GNU/Linux 12 (bookworm)\nversion {KVER}\nsort-key debian\n\
             linux /debian/{KVER}/linux\ninitrd /debian/{KVER}/initrd\n\
             options root=UUID=f00dfeed-0000-4000-8000-000000000001 rw console=ttyS0,115200 quiet\n"
        )
    );
    assert_eq!(
        sh("mtype", &["-i", &img, "::/loader/loader.conf"]),
        format!("# Written by kickstand-installer.\ntimeout 3\ndefault debian-{KVER}.conf\n")
    );
    // Binary files come out byte for byte.
    let efi = fs::read("/usr/lib/systemd/boot/efi/systemd-bootx64.efi").unwrap();
    assert_eq!(esp.read("/EFI/BOOT/BOOTX64.EFI").unwrap(), efi);
    assert_eq!(
        esp.read(&installed.linux).unwrap(),
        fs::read(root.resolve(&k.vmlinuz).unwrap()).unwrap()
    );

    // fsck.vfat has no --offset: check a copy of the partition.
    let part = dir.path().join("esp.img");
    fs::write(
        &part,
        read_at(&disk, ESP_START * 512, (ESP_SECTORS * 512) as usize),
    )
    .unwrap();
    sh("fsck.vfat", &["-n", part.to_str().unwrap()]);
    // The partition table is untouched.
    assert_eq!(sh("sgdisk", &["-p", d]), table_before);
    sh("sgdisk", &["-v", d]);

    // Installing again (a re-run) replaces the files.
    systemd_boot::install(&root, &esp, &k, &cmdline).unwrap();
}

/// Checks the MBR and BIOS boot partition after a BIOS GRUB install.
fn check_grub_on_disk(root: &TargetRoot, disk: &Path, mbr_before: &[u8]) {
    let boot_img = fs::read("/usr/lib/grub/i386-pc/boot.img").unwrap();
    let mbr = read_at(disk, 0, 512);
    // boot.img's code with core.img's LBA at 0x5c ...
    assert_eq!(mbr[..0x5c], boot_img[..0x5c]);
    assert_eq!(
        u64::from_le_bytes(mbr[0x5c..0x64].try_into().unwrap()),
        2048
    );
    assert_eq!(mbr[0x64..440], boot_img[0x64..440]);
    // ... and the protective MBR's disk signature, partition table and 0x55AA kept.
    assert_eq!(mbr[440..], mbr_before[440..]);
    assert_eq!(mbr[510..], [0x55, 0xaa]);
    assert_eq!(mbr[450], 0xee, "protective MBR partition type");

    let core = fs::read(root.resolve("/boot/grub/i386-pc/core.img").unwrap()).unwrap();
    let sectors = core.len().div_ceil(512);
    let on_disk = read_at(disk, 2048 * 512, sectors * 512);
    // The blocklist: the rest of core.img follows its first sector, loaded at 0x820:0.
    assert_eq!(
        u64::from_le_bytes(on_disk[0x1f4..0x1fc].try_into().unwrap()),
        2049
    );
    assert_eq!(
        u16::from_le_bytes(on_disk[0x1fc..0x1fe].try_into().unwrap()) as usize,
        sectors - 1
    );
    assert_eq!(
        u16::from_le_bytes(on_disk[0x1fe..0x200].try_into().unwrap()),
        0x820
    );
    assert_eq!(on_disk[..0x1f4], core[..0x1f4]);
    assert_eq!(on_disk[512..core.len()], core[512..]);
    // diskboot.img is core.img's first sector.
    let diskboot = fs::read("/usr/lib/grub/i386-pc/diskboot.img").unwrap();
    assert_eq!(on_disk[..0x1f4], diskboot[..0x1f4]);
}

/// Makes the image's GRUB modules claim a version the host's grub-mkimage is not.
fn claim_another_grub_version(root: &TargetRoot) {
    let modinfo = root.resolve("/usr/lib/grub/i386-pc/modinfo.sh").unwrap();
    let text = fs::read_to_string(&modinfo).unwrap();
    fs::write(
        &modinfo,
        text.replace("grub_package_version=\"", "grub_package_version=\"9."),
    )
    .unwrap();
}

fn boot_fs() -> BootFs {
    BootFs {
        uuid: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
        dir_in_fs: "/boot".into(),
        on_raid: false,
    }
}

fn install_grub(dir: &Path, root: &TargetRoot, mkimage: Option<&str>) -> (PathBuf, Vec<u8>) {
    let disk = disk(dir);
    let mbr_before = read_at(&disk, 0, 512);
    let k = kernel::find(root).unwrap();
    let cmdline =
        kernel::command_line(root, &format!("UUID={}", boot_fs().uuid), &[], "x86_64").unwrap();
    grub_bios::install(
        root,
        &BiosDisk {
            path: disk.clone(),
            bios_boot_start: 2048,
        },
        &boot_fs(),
        &k,
        &cmdline,
        mkimage,
    )
    .unwrap();
    (disk, mbr_before)
}

#[test]
fn bios_grub_with_the_hosts_grub_mkimage_when_the_image_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = image_root(dir.path());
    assert_eq!(
        bootloader::detect(&root, Firmware::Bios).unwrap(),
        BootLoader::GrubBios { mkimage: None }
    );
    let (disk, mbr_before) = install_grub(dir.path(), &root, None);
    check_grub_on_disk(&root, &disk, &mbr_before);

    let r = root.path();
    assert_eq!(
        fs::read(r.join(format!("boot/vmlinuz-{KVER}")))
            .unwrap()
            .len(),
        300_000
    );
    assert!(r.join(format!("boot/initramfs-{KVER}.img")).is_file());
    assert!(r.join("boot/grub/i386-pc/normal.mod").is_file());
    assert_eq!(
        fs::read_to_string(r.join("boot/grub/i386-pc/load.cfg")).unwrap(),
        "search.fs_uuid 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d root\nset prefix=($root)'/boot/grub'\n"
    );
    assert_eq!(
        fs::read_to_string(r.join("boot/grub/grub.cfg")).unwrap(),
        format!(
            "# Written by kickstand-installer; the installed system's boot menu.\n\
             serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n\
             set timeout=3\nset default=0\ninsmod part_gpt\n\
             search --no-floppy --fs-uuid --set=root 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n\n\
             menuentry 'Debian GNU/Linux 12 (bookworm)' {{\n    \
             linux /boot/vmlinuz-{KVER} root=UUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d rw console=ttyS0,115200\n    \
             initrd /boot/initramfs-{KVER}.img\n}}\n"
        )
    );
    sh("sgdisk", &["-v", disk.to_str().unwrap()]);
}

#[test]
fn bios_grub_with_the_images_own_grub_mkimage_in_a_chroot() {
    if !qemu_harness::gate::root_test("bios_grub_with_the_images_own_grub_mkimage_in_a_chroot") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = image_root(dir.path());
    // The image's grub-mkimage with the libraries it links (as the image would ship them).
    let bin = root.create_dir_all("/usr/bin").unwrap();
    fs::copy("/usr/bin/grub-mkimage", bin.join("grub-mkimage")).unwrap();
    for line in sh("ldd", &["/usr/bin/grub-mkimage"]).lines() {
        if let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) {
            let dest = root
                .create_dir_all(Path::new(lib).parent().unwrap().to_str().unwrap())
                .unwrap();
            fs::copy(lib, dest.join(Path::new(lib).file_name().unwrap())).unwrap();
        }
    }
    // A host grub-mkimage could not stand in: the modules claim another version.
    claim_another_grub_version(&root);

    let found = bootloader::detect(&root, Firmware::Bios).unwrap();
    assert_eq!(
        found,
        BootLoader::GrubBios {
            mkimage: Some("/usr/bin/grub-mkimage".into())
        }
    );
    let (disk, mbr_before) = install_grub(dir.path(), &root, Some("/usr/bin/grub-mkimage"));
    check_grub_on_disk(&root, &disk, &mbr_before);
}

#[test]
fn bios_grub_refuses_before_writing_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = image_root(dir.path());
    let disk = disk(dir.path());
    let before = fs::read(&disk).unwrap();
    let k = kernel::find(&root).unwrap();
    let args = vec!["root=UUID=x".to_string(), "rw".to_string()];

    // Not the BIOS boot partition.
    let err = grub_bios::install(
        &root,
        &BiosDisk {
            path: disk.clone(),
            bios_boot_start: 4096,
        },
        &boot_fs(),
        &k,
        &args,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("LBA 4096 is not a BIOS boot partition"),
        "{err}"
    );

    // No runnable grub-mkimage in the image, and the host's does not match its modules.
    claim_another_grub_version(&root);
    let err = grub_bios::install(
        &root,
        &BiosDisk {
            path: disk.clone(),
            bios_boot_start: 2048,
        },
        &boot_fs(),
        &k,
        &args,
        Some("/usr/bin/grub-mkimage"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("a core image must match its modules"), "{err}");
    assert!(fs::read(&disk).unwrap() == before, "the disk was written");

    // An image without GRUB is refused by name.
    fs::remove_file(root.resolve("/usr/lib/grub/i386-pc/boot.img").unwrap()).unwrap();
    let err = bootloader::detect(&root, Firmware::Bios)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the image has no /usr/lib/grub/i386-pc/boot.img"),
        "{err}"
    );
}
