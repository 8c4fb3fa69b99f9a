//! Host-mode installs end to end: `kickstand-installer install --kickstart KS --disk disk.raw`
//! with the harness's tiny image (from an OCI layout, and from Debian's docker-registry on
//! loopback), then the disk boots under OVMF (systemd-boot) or SeaBIOS (GRUB) and the tiny
//! OS's `KICKSTAND-BOOTED` line must show what the kickstart asked for. The `%post` marker,
//! the saved install log and the masked kickstart are read back from the root filesystem.

use std::path::Path;
use std::time::{Duration, Instant};

use kickstand_tests::{MountedPartition, ROOT_X86_64, disk_file, install, partition, ssh_key};
use qemu_harness::gate;
use qemu_harness::images::tiny::{self, BootReport};

const GIB: u64 = 1 << 30;
const PASSWORD: &str = "correct-horse-battery";

/// The kickstart: the image line, then a configuration every test checks.
fn kickstart(image_line: &str, hostname: &str, fstype: &str, key: &str) -> String {
    format!(
        "{image_line}\n\
         clearpart --all --initlabel\n\
         autopart --type=plain --fstype={fstype}\n\
         network --hostname={hostname}\n\
         rootpw --lock\n\
         user --name=admin --groups=wheel --password={PASSWORD} --plaintext\n\
         sshkey --username=admin \"{key}\"\n\
         timezone Etc/UTC --utc\n\
         poweroff\n\
         bootloader --append=\"console=ttyS0,115200\"\n\
         %post --erroronfail\n\
         echo \"post ran in $(cat /etc/hostname)\" > /etc/kickstand-post-marker\n\
         %end\n\
         %post --nochroot\n\
         test -f /mnt/sysroot/etc/kickstand/image.json && echo nochroot-ok\n\
         %end\n"
    )
}

/// Installs with `image_line`, boots the disk, checks the report and the root filesystem.
fn install_and_boot(test: &str, image_line: &str, uefi: bool, fstype: &str, extra: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (key, fingerprint) = ssh_key(dir);
    let disk = disk_file(dir, "disk.raw", 4 * GIB);
    let hostname = format!("ks-{}", if uefi { "uefi" } else { "bios" });
    let ks = kickstart(image_line, &hostname, fstype, &key);
    let mut args = vec!["--firmware", if uefi { "uefi" } else { "bios" }];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = install(dir, &ks, &disk, &args);
    assert!(out.status.success(), "{test}: the install failed");
    eprintln!(
        "{test}: installed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("  | nochroot-ok"), "{stderr}");

    let booted = Instant::now();
    let mut vm = qemu_harness::VmBuilder::new(test)
        .workdir(dir)
        .firmware(if uefi {
            qemu_harness::Firmware::Uefi
        } else {
            qemu_harness::Firmware::Bios
        })
        .disk(qemu_harness::Disk::new(&disk).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line(tiny::BOOTED, Duration::from_secs(300))
        .unwrap();
    eprintln!(
        "{test}: booted in {:.1}s: {line}",
        booted.elapsed().as_secs_f64()
    );
    let report = BootReport::parse(&line).unwrap();
    assert_eq!(report.get("hostname"), Some(hostname.as_str()), "{line}");
    assert_eq!(report.get("users"), Some("root,admin"), "{line}");
    assert_eq!(
        report.keys(),
        [("admin".to_owned(), fingerprint, "ok".to_owned())],
        "{line}"
    );
    assert_eq!(report.get("rootfs"), Some(fstype), "{line}");
    assert_eq!(report.get("fstab"), Some("ok"), "{line}");
    assert_eq!(
        report.get("firmware"),
        Some(if uefi { "UEFI" } else { "BIOS" }),
        "{line}"
    );
    assert_eq!(report.get("unpack"), Some("ok"), "{line}");
    let mounts = report.get("mounts").unwrap_or_default();
    assert!(mounts.contains(&format!("/boot:{fstype}")), "{line}");
    if uefi {
        assert!(mounts.contains("/boot/efi:vfat"), "{line}");
    }
    vm.wait_for_exit(Duration::from_secs(60)).unwrap();
    drop(vm);

    // What %post and the finish step left in the root filesystem.
    let root = MountedPartition::new(&disk, partition(&disk, ROOT_X86_64).expect("root"));
    assert_eq!(
        std::fs::read_to_string(root.path("/etc/kickstand-post-marker")).unwrap(),
        format!("post ran in {hostname}\n")
    );
    let saved_ks = std::fs::read_to_string(root.path("/var/log/kickstand/ks.cfg")).unwrap();
    assert!(!saved_ks.contains(PASSWORD), "{saved_ks}");
    assert!(saved_ks.contains("--name=admin"), "{saved_ks}");
    let log = std::fs::read_to_string(root.path("/var/log/kickstand/install.log")).unwrap();
    assert!(log.contains("==> bootloader"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
    let record = std::fs::read_to_string(root.path("/etc/kickstand/image.json")).unwrap();
    assert!(record.contains("\"digest\": \"sha256:"), "{record}");
}

/// The tiny image's layout as `ostreecontainer --transport=oci`.
fn oci_line(layout: &Path) -> String {
    format!(
        "ostreecontainer --transport=oci --url={}:{} --no-signature-verification",
        layout.display(),
        tiny::TAG
    )
}

#[test]
fn oci_layout_install_boots_with_systemd_boot_under_ovmf() {
    let test = "oci_layout_install_boots_with_systemd_boot_under_ovmf";
    if !gate::vm_test(test, true) {
        return;
    }
    let image = tiny::tiny().unwrap();
    install_and_boot(test, &oci_line(&image.layout), true, "ext4", &[]);
}

#[test]
fn oci_layout_install_boots_with_grub_under_seabios() {
    let test = "oci_layout_install_boots_with_grub_under_seabios";
    if !gate::vm_test(test, false) {
        return;
    }
    let image = tiny::tiny().unwrap();
    install_and_boot(test, &oci_line(&image.layout), false, "xfs", &[]);
}

/// The tiny image pushed to Debian's docker-registry on loopback, installed from there.
fn install_from_registry_and_boot(test: &str, uefi: bool, fstype: &str) {
    let image = tiny::tiny().unwrap();
    let registry = qemu_harness::registry::LocalRegistry::start().unwrap();
    let reference = registry
        .push_layout(&image.layout, tiny::TAG, "kickstand/tiny", "1")
        .unwrap();
    let addr = registry.addr().to_string();
    install_and_boot(
        test,
        &format!("ostreecontainer --url={reference}"),
        uefi,
        fstype,
        &["--insecure-registry", &addr],
    );
}

#[test]
fn registry_install_boots_with_grub_under_seabios() {
    let test = "registry_install_boots_with_grub_under_seabios";
    if !gate::vm_test(test, false) {
        return;
    }
    install_from_registry_and_boot(test, false, "xfs");
}

#[test]
fn registry_install_boots_with_systemd_boot_under_ovmf() {
    let test = "registry_install_boots_with_systemd_boot_under_ovmf";
    if !gate::vm_test(test, true) {
        return;
    }
    install_from_registry_and_boot(test, true, "ext4");
}
