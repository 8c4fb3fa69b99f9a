//! The GPT smoke test: a disk assembled by hand from the tiny image (ESP with
//! systemd-boot written by mtools, ext4 root from `mkfs.ext4 -d`) boots under OVMF and its
//! `KICKSTAND-BOOTED` line shows what was put on it.

use qemu_harness::gate;
use qemu_harness::images::tiny::{self, BootReport};
use qemu_harness::images::{disk, unpack};
use std::process::Command;
use std::time::{Duration, Instant};

/// The hand-assembled disk of the smoke test: OVMF → systemd-boot → Debian kernel →
/// tiny initramfs → ext4 root → boot report.
#[test]
fn a_hand_assembled_gpt_disk_with_the_tiny_image_boots_under_ovmf() {
    if !gate::vm_test(
        "a_hand_assembled_gpt_disk_with_the_tiny_image_boots_under_ovmf",
        true,
    ) {
        return;
    }
    let image = tiny::tiny().unwrap();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    unpack::unpack_layout(&image.layout, Some(tiny::TAG), &rootfs).unwrap();

    // A hostname and a user with a key, so the whole report line is exercised.
    std::fs::write(rootfs.join("etc/hostname"), "smoke\n").unwrap();
    let mut passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    passwd.push_str("admin:x:1000:1000:Admin:/home/admin:/bin/sh\n");
    std::fs::write(rootfs.join("etc/passwd"), passwd).unwrap();
    let key = work.path().join("id");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let fingerprint = String::from_utf8(
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
    let ssh = rootfs.join("home/admin/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::copy(key.with_extension("pub"), ssh.join("authorized_keys")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        ssh.join("authorized_keys"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for p in [
        rootfs.join("home/admin"),
        ssh.clone(),
        ssh.join("authorized_keys"),
    ] {
        std::os::unix::fs::chown(&p, Some(1000), Some(1000)).unwrap();
    }

    let disk = disk::uefi_disk(&rootfs, &work.path().join("disk.raw"), 96).unwrap();
    let start = Instant::now();
    let mut vm = qemu_harness::VmBuilder::new("tiny-uefi-disk")
        .workdir(work.path())
        .firmware(qemu_harness::Firmware::Uefi)
        .disk(qemu_harness::Disk::new(&disk.path).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line(tiny::BOOTED, Duration::from_secs(240))
        .unwrap();
    eprintln!("booted in {:.1}s: {line}", start.elapsed().as_secs_f64());
    let report = BootReport::parse(&line).unwrap();
    assert_eq!(report.get("hostname"), Some("smoke"), "{line}");
    assert_eq!(report.get("users"), Some("root,admin"), "{line}");
    assert_eq!(
        report.keys(),
        [("admin".to_owned(), fingerprint, "ok".to_owned())],
        "{line}"
    );
    assert_eq!(report.get("root"), Some("/dev/vda2"), "{line}");
    assert_eq!(report.get("rootfs"), Some("ext4"), "{line}");
    assert_eq!(report.get("fstab"), Some("ok"), "{line}");
    assert_eq!(report.get("mounts"), Some("/boot/efi:vfat"), "{line}");
    assert_eq!(report.get("firmware"), Some("UEFI"), "{line}");
    assert_eq!(report.get("unpack"), Some("ok"), "{line}");
    assert_eq!(
        report.get("kernel"),
        Some(image.kernel_version.as_str()),
        "{line}"
    );
    vm.wait_for_exit(Duration::from_secs(60)).unwrap();
    eprintln!("powered off after {:.1}s", start.elapsed().as_secs_f64());
}
