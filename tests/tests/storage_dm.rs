//! Device-mapper layouts end to end (issue 10): the installer initramfs (PID 1, under OVMF)
//! installs the tiny image with `autopart --type=lvm`, `--type=thinp` and an encrypted LVM
//! root; the disk then boots through the tiny image's own initramfs, which activates the
//! volume group (`rd.lvm.lv=`) and opens LUKS (`rd.luks.uuid=`, the passphrase typed on the
//! serial console by the test), and `KICKSTAND-BOOTED` reports the root on
//! `/dev/mapper/kickstand-root` (a manual `part pv.N`/`volgroup`/`logvol` layout: on
//! `/dev/mapper/vg0-root`). The host kernel has no device-mapper: a host-mode LVM install
//! is refused before the disk is touched.

mod common;

use common::{HttpServer, VmFiles};
use qemu_harness::images::tiny::{BOOTED, BootReport};
use std::io::Write;
use std::time::Duration;

/// Installs with `storage` (the kickstart's storage commands) onto a blank 5 GiB virtio disk,
/// boots it, types `passphrase` when the tiny initramfs asks for it, and returns the report.
/// The installer's plan must name `root_lv` (`/dev/mapper/VG-LV`).
fn install_and_boot(
    name: &str,
    storage: &str,
    passphrase: Option<&str>,
    root_lv: &str,
) -> BootReport {
    let files = VmFiles::new(name);
    let registry = common::tiny_registry();
    let ks = format!(
        "ignoredisk --only-use=vda\n\
         clearpart --all --initlabel\n\
         {storage}\n\
         ostreecontainer --url={}/tiny:latest --no-signature-verification\n\
         network --hostname={name}\n\
         rootpw --plaintext kickstand\n\
         poweroff\n",
        common::GUEST_REGISTRY
    );
    let server = HttpServer::start(&[("/ks.cfg", ks.into_bytes())]);
    let disk = kickstand_tests::disk_file(files.dir.path(), "disk.raw", 5 << 30);
    let vm = common::boot_installer_with_registry(
        &files,
        name,
        &server,
        Some(registry.addr().port()),
        &common::registry_install_cmdline(),
        &[qemu_harness::Disk::new(&disk)],
    );
    let installer_console = common::wait_for_install(vm, name);
    assert!(
        installer_console.contains(root_lv),
        "the plan names the logical volume {root_lv}:\n{installer_console}"
    );
    if let Some(p) = passphrase {
        assert!(
            !installer_console.contains(p),
            "the passphrase is on the installer's console"
        );
        let events: Vec<u8> = server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .flat_map(|r| r.body.clone())
            .collect();
        assert!(
            !String::from_utf8_lossy(&events).contains(p),
            "the passphrase is in an event"
        );
    }

    let mut b = qemu_harness::VmBuilder::new(format!("{name}-boot"))
        .workdir(files.dir.path())
        .firmware(qemu_harness::Firmware::Uefi)
        .memory_mib(1024)
        .disk(qemu_harness::Disk::new(&disk).bootindex(1))
        .no_reboot();
    if passphrase.is_some() {
        b = b.console_socket();
    }
    let mut boot = b.start().unwrap();
    if let Some(p) = passphrase {
        boot.wait_for_line("KICKSTAND-LUKS-PASSPHRASE luks-", Duration::from_secs(240))
            .unwrap();
        let socket = boot
            .console_socket()
            .expect("the console socket")
            .to_owned();
        let mut console = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        // A connected client must read: QEMU stalls the serial port (and the guest's boot)
        // when nobody drains the socket. The console log file keeps everything.
        let mut drain = console.try_clone().unwrap();
        std::thread::spawn(move || std::io::copy(&mut drain, &mut std::io::sink()));
        console.write_all(format!("{p}\n").as_bytes()).unwrap();
        console.flush().unwrap();
        let line = boot
            .wait_for_line(BOOTED, Duration::from_secs(240))
            .unwrap();
        assert!(
            !boot.console_text().contains(p),
            "the typed passphrase was echoed on the console"
        );
        return BootReport::parse(&line).unwrap();
    }
    let line = boot
        .wait_for_line(BOOTED, Duration::from_secs(240))
        .unwrap();
    BootReport::parse(&line).unwrap()
}

const AUTOPART_ROOT: &str = "/dev/mapper/kickstand-root";

fn assert_lvm_root(report: &BootReport, name: &str) {
    assert_lvm_root_on(report, name, AUTOPART_ROOT);
}

fn assert_lvm_root_on(report: &BootReport, name: &str, root: &str) {
    assert_eq!(report.get("hostname"), Some(name), "{report:?}");
    assert_eq!(report.get("root"), Some(root), "{report:?}");
    assert_eq!(report.get("rootfs"), Some("xfs"), "{report:?}");
    assert_eq!(report.get("fstab"), Some("ok"), "{report:?}");
    let mounts = report.get("mounts").unwrap_or("-");
    assert!(mounts.contains("/boot:xfs"), "{report:?}");
}

#[test]
fn lvm_autopart_installs_and_boots_from_a_logical_volume() {
    if !qemu_harness::gate::vm_test(
        "lvm_autopart_installs_and_boots_from_a_logical_volume",
        true,
    ) {
        return;
    }
    let report = install_and_boot("dm-lvm", "autopart --type=lvm", None, AUTOPART_ROOT);
    assert_lvm_root(&report, "dm-lvm");
}

#[test]
fn thin_autopart_installs_and_boots_from_a_thin_volume() {
    if !qemu_harness::gate::vm_test("thin_autopart_installs_and_boots_from_a_thin_volume", true) {
        return;
    }
    let report = install_and_boot("dm-thinp", "autopart --type=thinp", None, AUTOPART_ROOT);
    assert_lvm_root(&report, "dm-thinp");
}

#[test]
fn encrypted_lvm_root_boots_with_the_passphrase_typed_on_the_console() {
    if !qemu_harness::gate::vm_test(
        "encrypted_lvm_root_boots_with_the_passphrase_typed_on_the_console",
        true,
    ) {
        return;
    }
    // pbkdf2 with few iterations: argon2's memory and TCG's speed would make unlocking slow.
    let passphrase = "correct-horse-42";
    let report = install_and_boot(
        "dm-luks",
        &format!(
            "autopart --type=lvm --encrypted --passphrase={passphrase} --pbkdf=pbkdf2 \
             --pbkdf-iterations=1000"
        ),
        Some(passphrase),
        AUTOPART_ROOT,
    );
    assert_lvm_root(&report, "dm-luks");
}

/// A manual layout: `/boot` and a physical volume partition, a volume group on it with a root
/// volume, swap, and a thin pool holding a thin `/home` (ext4), sized by the planner.
#[test]
fn manual_lvm_layout_with_a_thin_home_installs_and_boots() {
    if !qemu_harness::gate::vm_test(
        "manual_lvm_layout_with_a_thin_home_installs_and_boots",
        true,
    ) {
        return;
    }
    let storage = "reqpart\n\
        part /boot --size=1024 --fstype=xfs\n\
        part pv.01 --size=1 --grow\n\
        volgroup vg0 pv.01\n\
        logvol / --vgname=vg0 --name=root --size=2000 --fstype=xfs\n\
        logvol swap --vgname=vg0 --name=swap --size=128\n\
        logvol none --vgname=vg0 --name=pool --thinpool --size=400 --grow\n\
        logvol /home --vgname=vg0 --name=home --thin --poolname=pool --size=300 --grow \
        --fstype=ext4";
    let report = install_and_boot("dm-manual", storage, None, "/dev/mapper/vg0-root");
    assert_lvm_root_on(&report, "dm-manual", "/dev/mapper/vg0-root");
    let mounts = report.get("mounts").unwrap_or("-");
    assert!(mounts.contains("/home:ext4"), "{report:?}");
}

/// The host kernel here has no device-mapper: the install stops before touching the disk.
#[test]
fn a_host_without_device_mapper_refuses_lvm_before_touching_the_disk() {
    if !qemu_harness::gate::root_test(
        "a_host_without_device_mapper_refuses_lvm_before_touching_the_disk",
    ) {
        return;
    }
    if std::path::Path::new("/sys/module/dm_mod").exists() {
        eprintln!("SKIPPED: this host has device-mapper; the refusal cannot be seen here");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let disk = kickstand_tests::disk_file(work.path(), "disk.raw", 4 << 30);
    let out = kickstand_tests::install(
        work.path(),
        "clearpart --all --initlabel\nautopart --type=lvm\n",
        &disk,
        &["--stop-after", "storage"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs device-mapper (LVM)") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    // The sparse file got no blocks: nothing was written.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&disk).unwrap().blocks(), 0);
}
