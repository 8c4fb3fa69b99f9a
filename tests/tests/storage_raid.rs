//! Software RAID end to end (issue 10): the installer initramfs (PID 1, under SeaBIOS)
//! installs the tiny image onto two disks as Anaconda's RAID1 layout — a BIOS boot partition
//! on each disk, `/boot` mirrored with metadata 1.0 (GRUB reads either member as a plain
//! filesystem) and `/` mirrored with metadata 1.2 — with GRUB on both disks. The installed
//! disks then boot through the tiny image's own initramfs, which assembles the arrays named by
//! `rd.md.uuid=`: first with both disks, then with the FIRST disk removed (the firmware boots
//! the second disk's GRUB, and the arrays start degraded). Both times `KICKSTAND-BOOTED`
//! reports the root on an md device and `/boot` mounted from fstab.

mod common;

use common::{HttpServer, VmFiles};
use qemu_harness::images::tiny::{BOOTED, BootReport};
use qemu_harness::{Disk, Firmware, VmBuilder};
use std::path::Path;
use std::time::Duration;

const STORAGE: &str = "ignoredisk --only-use=vda,vdb
clearpart --all --initlabel
part biosboot --fstype=biosboot --size=1 --ondisk=vda
part biosboot --fstype=biosboot --size=1 --ondisk=vdb
part raid.01 --size=512 --ondisk=vda
part raid.02 --size=512 --ondisk=vdb
part raid.11 --size=1 --grow --ondisk=vda
part raid.12 --size=1 --grow --ondisk=vdb
raid /boot --level=1 --device=boot --fstype=ext4 raid.01 raid.02
raid / --level=1 --device=root --fstype=xfs raid.11 raid.12
";

/// Boots the installed system from `disks` (the first one is the boot disk) and returns its
/// report and console.
fn boot(files: &VmFiles, name: &str, disks: &[&Path]) -> (BootReport, String) {
    let mut b = VmBuilder::new(name)
        .workdir(files.dir.path())
        .firmware(Firmware::Bios)
        .memory_mib(1024)
        .no_reboot();
    for (i, d) in disks.iter().enumerate() {
        let disk = Disk::new(d);
        b = b.disk(if i == 0 { disk.bootindex(1) } else { disk });
    }
    let mut vm = b.start().unwrap();
    let line = vm
        .wait_for_line(BOOTED, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", vm.console_text()));
    let console = vm.console_text();
    (BootReport::parse(&line).unwrap(), console)
}

fn assert_md_root(report: &BootReport, console: &str) {
    let root = report.get("root").unwrap_or("-");
    assert!(
        root.starts_with("/dev/md"),
        "root is not on an md array: {report:?}\n{console}"
    );
    assert_eq!(report.get("rootfs"), Some("xfs"), "{report:?}");
    assert_eq!(report.get("fstab"), Some("ok"), "{report:?}\n{console}");
    assert_eq!(report.get("hostname"), Some("raid1"), "{report:?}");
    assert_eq!(report.get("firmware"), Some("BIOS"), "{report:?}");
    let mounts = report.get("mounts").unwrap_or("-");
    assert!(mounts.contains("/boot:ext4"), "{report:?}\n{console}");
}

#[test]
fn raid1_root_boots_from_either_disk() {
    if !qemu_harness::gate::vm_test("raid1_root_boots_from_either_disk", false) {
        return;
    }
    let name = "raid1";
    let files = VmFiles::new(name);
    let registry = common::tiny_registry();
    let ks = format!(
        "{STORAGE}\
         ostreecontainer --url={}/tiny:latest --no-signature-verification\n\
         network --hostname={name}\n\
         rootpw --plaintext kickstand\n\
         poweroff\n",
        common::GUEST_REGISTRY
    );
    let server = HttpServer::start(&[("/ks.cfg", ks.into_bytes())]);
    let first = kickstand_tests::disk_file(files.dir.path(), "disk1.raw", 4 << 30);
    let second = kickstand_tests::disk_file(files.dir.path(), "disk2.raw", 4 << 30);
    let vm = common::boot_installer_on(
        Firmware::Bios,
        &files,
        name,
        &server,
        Some(registry.addr().port()),
        &common::registry_install_cmdline(),
        &[Disk::new(&first), Disk::new(&second)],
    );
    let installer = common::wait_for_install(vm, name);
    for want in [
        "/dev/md/root",
        "/dev/md/boot",
        "rd.md.uuid=",
        "GRUB installed on vda",
        "GRUB installed on vdb",
    ] {
        assert!(installer.contains(want), "{want:?} missing:\n{installer}");
    }

    let (report, console) = boot(&files, "raid1-both", &[&first, &second]);
    assert_md_root(&report, &console);
    assert!(
        !console.contains("degraded"),
        "an array started degraded with both disks present:\n{console}"
    );

    // The first disk is gone: the second disk's GRUB boots, the arrays start degraded.
    let (report, console) = boot(&files, "raid1-second-only", &[&second]);
    assert_md_root(&report, &console);
    assert!(
        console.contains("starting it degraded"),
        "the arrays were not started degraded:\n{console}"
    );
}
