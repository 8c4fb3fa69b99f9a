//! Disks made by the deploy's boot loader installers boot: a BIOS disk under SeaBIOS, where
//! GRUB (from this host's grub-pc-bin files, as an image would carry them) finds `/boot` by
//! UUID on an ext4 root; and a UEFI disk under OVMF, where systemd-boot reads its entry from
//! an ESP written with mtools. Each loads the Debian kernel and a tiny initramfs that prints
//! the kernel command line it was given on the serial console.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::sh;
use kickstand_installer::deploy::fat::Fat;
use kickstand_installer::deploy::grub_bios::{self, BiosDisk, BootFs};
use kickstand_installer::deploy::{TargetRoot, bootloader, kernel, systemd_boot};

const ROOT_UUID: &str = "5d0c7a4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
const MARKER: &str = "KICKSTAND-DEPLOY-BOOTED";
const DISK_MIB: u64 = 256;
const ROOT_START: u64 = 4096;

/// An initramfs whose /init prints the marker and the kernel command line, then powers off.
fn initramfs(dir: &Path) -> Vec<u8> {
    let tree = dir.join("initramfs");
    fs::create_dir_all(tree.join("bin")).unwrap();
    for d in ["proc", "dev"] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("busybox-static installed");
    let init = tree.join("init");
    fs::write(
        &init,
        format!(
            "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n\
             /bin/busybox mount -t devtmpfs dev /dev\n\
             echo \"{MARKER} $(/bin/busybox cat /proc/cmdline)\" > /dev/ttyS0\n\
             /bin/busybox poweroff -f\n"
        ),
    )
    .unwrap();
    sh("chmod", &["0755", init.to_str().unwrap()]);
    let out = Command::new("sh")
        .args(["-c", "find . | cpio -o -H newc --quiet"])
        .current_dir(&tree)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cpio: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Kills QEMU when the test ends, however it ends.
struct Vm(Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sparse disk image of [`DISK_MIB`] with the GPT partitions sgdisk's `partitions`
/// arguments make.
fn gpt_disk(d: &Path, partitions: &[&str]) -> PathBuf {
    let disk = d.join("disk.raw");
    fs::File::create(&disk)
        .unwrap()
        .set_len(DISK_MIB << 20)
        .unwrap();
    let mut args = partitions.to_vec();
    args.push(disk.to_str().unwrap());
    sh("sgdisk", &args);
    disk
}

#[test]
fn bios_grub_boots_the_debian_kernel_under_seabios() {
    if !qemu_harness::gate::vm_test("bios_grub_boots_the_debian_kernel_under_seabios", false) {
        return;
    }
    let debian =
        qemu_harness::debian_kernel().expect("the Debian kernel asset (cargo xtask assets)");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let root = image_root(d, &debian);

    // The disk: GPT with a BIOS boot partition and a root partition.
    let disk = gpt_disk(
        d,
        &[
            "-n1:2048:4095",
            "-t1:ef02",
            &format!("-n2:{ROOT_START}:0"),
            "-t2:8304",
        ],
    );
    let disk_s = disk.to_str().unwrap();

    let bootloader::BootLoader::GrubBios { mkimage } =
        bootloader::detect(&root, bootloader::Firmware::Bios).unwrap()
    else {
        panic!("expected GRUB for BIOS");
    };
    let k = kernel::find(&root).unwrap();
    let cmdline = kernel::command_line(
        &root,
        &format!("UUID={ROOT_UUID}"),
        &kernel::split_append("panic=-1"),
        "x86_64",
    )
    .unwrap();
    grub_bios::install(
        &root,
        &BiosDisk {
            path: disk.clone(),
            bios_boot_start: 2048,
        },
        &BootFs {
            uuid: ROOT_UUID.into(),
            dir_in_fs: "/boot".into(),
            on_raid: false,
        },
        &k,
        &cmdline,
        mkimage.as_deref(),
    )
    .unwrap();
    let mbr = fs::read(&disk).unwrap()[..512].to_vec();

    // The root filesystem, filled from the target directory without mounting anything.
    sh(
        "mke2fs",
        &[
            "-q",
            "-t",
            "ext4",
            "-U",
            ROOT_UUID,
            "-d",
            root.path().to_str().unwrap(),
            "-E",
            &format!("offset={}", ROOT_START * 512),
            disk_s,
            &format!("{}M", DISK_MIB - 4),
        ],
    );
    assert_eq!(
        fs::read(&disk).unwrap()[..512],
        mbr[..],
        "mke2fs changed the MBR"
    );
    sh("sgdisk", &["-v", disk_s]);

    let line = boot_until_marker(
        d,
        &[
            "-no-reboot",
            "-drive",
            &format!("file={disk_s},format=raw,if=virtio"),
        ],
    );
    // GRUB adds BOOT_IMAGE=; the rest is our command line.
    assert!(
        line.contains(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-{} root=UUID={ROOT_UUID} rw console=ttyS0,115200 panic=-1",
            debian.version
        )),
        "{line}"
    );
}

/// Boots QEMU (TCG, serial to a file, `extra` arguments for disks and firmware) and returns
/// the serial line with [`MARKER`]; panics with the serial log when it does not come.
fn boot_until_marker(dir: &Path, extra: &[&str]) -> String {
    let serial = dir.join("serial.log");
    let _lock =
        qemu_harness::cache::lock(&qemu_harness::cache::dir().unwrap().join("vm.lock")).unwrap();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel", "tcg", "-m", "512", "-display", "none", "-monitor", "none",
    ])
    .args(extra)
    .arg("-serial")
    .arg(format!("file:{}", serial.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    eprintln!("running {cmd:?}");
    let mut vm = Vm(cmd.spawn().expect("qemu-system-x86_64"));
    let start = Instant::now();
    loop {
        // Firmware output is not always UTF-8.
        let log = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
        if let Some(l) = log.lines().find(|l| l.contains(MARKER)) {
            eprintln!("booted in {:.1} s: {l}", start.elapsed().as_secs_f64());
            return l.to_string();
        }
        if let Ok(Some(status)) = vm.0.try_wait() {
            panic!("QEMU exited ({status}) before the marker; serial log:\n{log}");
        }
        if start.elapsed() > Duration::from_secs(240) {
            panic!("no {MARKER} within 240 s; serial log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The "image": the Debian kernel with our initramfs, os-release, kargs.d, and this host's
/// systemd-boot and GRUB i386-pc files.
fn image_root(d: &Path, debian: &qemu_harness::Kernel) -> TargetRoot {
    fs::create_dir(d.join("root")).unwrap();
    let root = TargetRoot::new(d.join("root"));
    let kdir = format!("/usr/lib/modules/{}", debian.version);
    root.write(
        &format!("{kdir}/vmlinuz"),
        &fs::read(&debian.vmlinuz).unwrap(),
        0o644,
    )
    .unwrap();
    root.write(&format!("{kdir}/initramfs.img"), &initramfs(d), 0o644)
        .unwrap();
    root.write(
        "/etc/os-release",
        b"PRETTY_NAME=\"Kickstand test\"\nID=kickstand\n",
        0o644,
    )
    .unwrap();
    root.write(
        "/usr/lib/bootc/kargs.d/10-console.toml",
        b"kargs = [\"console=ttyS0,115200\"]\n",
        0o644,
    )
    .unwrap();
    let efi = fs::read("/usr/lib/systemd/boot/efi/systemd-bootx64.efi").unwrap();
    root.write(bootloader::SYSTEMD_BOOT_EFI, &efi, 0o644)
        .unwrap();
    let grub = root.create_dir_all(bootloader::GRUB_I386_PC).unwrap();
    for entry in fs::read_dir("/usr/lib/grub/i386-pc").unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), grub.join(entry.file_name())).unwrap();
    }
    root
}

#[test]
fn systemd_boot_boots_the_debian_kernel_under_ovmf() {
    if !qemu_harness::gate::vm_test("systemd_boot_boots_the_debian_kernel_under_ovmf", true) {
        return;
    }
    let debian =
        qemu_harness::debian_kernel().expect("the Debian kernel asset (cargo xtask assets)");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = image_root(d, &debian);

    let disk = gpt_disk(
        d,
        &["-n1:2048:133119", "-t1:ef00", "-n2:133120:0", "-t2:8304"],
    );
    let disk_s = disk.to_str().unwrap();
    sh(
        "mkfs.vfat",
        &["-n", "ESP", "--offset=2048", disk_s, "65536"],
    );

    assert_eq!(
        bootloader::detect(&root, bootloader::Firmware::Uefi).unwrap(),
        bootloader::BootLoader::SystemdBoot
    );
    let k = kernel::find(&root).unwrap();
    let cmdline = kernel::command_line(
        &root,
        &format!("UUID={ROOT_UUID}"),
        &kernel::split_append("panic=-1"),
        "x86_64",
    )
    .unwrap();
    systemd_boot::install(&root, &Fat::new(&disk, 2048 * 512), &k, &cmdline).unwrap();

    // No -no-reboot here: OVMF resets once on a fresh variable store.
    let vars = d.join("OVMF_VARS.fd");
    fs::copy(qemu_harness::gate::OVMF_VARS, &vars).unwrap();
    let line = boot_until_marker(
        d,
        &[
            "-drive",
            &format!(
                "if=pflash,format=raw,readonly=on,file={}",
                qemu_harness::gate::OVMF_CODE
            ),
            "-drive",
            &format!("if=pflash,format=raw,file={}", vars.display()),
            "-drive",
            &format!("file={disk_s},format=raw,if=virtio"),
        ],
    );
    // systemd-boot adds initrd= for the entry's initrd; the rest is our command line.
    assert!(
        line.contains(&format!(
            "initrd=\\kickstand\\{}\\initrd root=UUID={ROOT_UUID} rw console=ttyS0,115200 panic=-1",
            debian.version
        )),
        "{line}"
    );
}
