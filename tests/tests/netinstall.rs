//! End-to-end network installs with nothing but Kickstand on the network (its own DHCP, TFTP,
//! HTTP and embedded registry, in a NetLab): a bare VM powers on, network-boots the installer,
//! installs the tiny image, reboots, is sent to its disk by boot-once and reports
//! `KICKSTAND-BOOTED` with the kickstart's host name, user and key; `kickstand machines list`
//! then shows it installed. The same code path is `cargo xtask demo` (UEFI PXE).

use kickstand_tests::netinstall::{self, Boot, HOSTNAME, Outcome, Scenario, USER};
use qemu_harness::gate;

fn installs(name: &str, boot: Boot) {
    let run = netinstall::run(&Scenario {
        name: name.into(),
        boot,
        outcome: Outcome::Installs,
        live: false,
        keep: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", run.phases.line(name));
    let report = run.report.as_ref().expect("a boot report");
    assert_eq!(report.get("hostname"), Some(HOSTNAME), "{report:?}");
    let users = report.get("users").unwrap_or_default();
    assert!(users.split(',').any(|u| u == USER), "{report:?}");
    let keys = report.get("keys").unwrap_or_default();
    assert!(
        keys.contains(&format!("{USER}:{}:ok", run.key_fingerprint)),
        "the kickstart's key is {USER}'s: {report:?}"
    );
    // autopart on the virtio disk: the root is one of vda's partitions, ext4 as asked.
    assert!(
        report
            .get("root")
            .is_some_and(|r| r.starts_with("/dev/vda")),
        "{report:?}"
    );
    assert_eq!(report.get("rootfs"), Some("ext4"), "{report:?}");
    assert_eq!(report.get("fstab"), Some("ok"), "{report:?}");
    let firmware = if boot == Boot::BiosPxe {
        "BIOS"
    } else {
        "UEFI"
    };
    assert_eq!(report.get("firmware"), Some(firmware), "{report:?}");
    let row = run
        .machines
        .lines()
        .find(|l| l.contains(netinstall::MAC))
        .unwrap_or_else(|| panic!("the machine is not listed:\n{}", run.machines));
    assert!(row.contains("installed"), "{}", run.machines);
    assert!(row.contains(HOSTNAME), "{}", run.machines);
}

#[test]
fn bios_pxe_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("bios_pxe_installs_and_boots_the_installed_disk", false) {
        return;
    }
    installs("e2e-bios-pxe", Boot::BiosPxe);
}

#[test]
fn uefi_pxe_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("uefi_pxe_installs_and_boots_the_installed_disk", true) {
        return;
    }
    installs("e2e-uefi-pxe", Boot::UefiPxe);
}

#[test]
fn uefi_http_boot_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("uefi_http_boot_installs_and_boots_the_installed_disk", true) {
        return;
    }
    installs("e2e-uefi-http", Boot::UefiHttp);
}

/// A kickstart naming a disk the machine lacks: the install fails, `kickstand machines list`
/// shows `failed` with the error, and the next network boot goes to the local disk instead of
/// installing again.
#[test]
fn failed_install_is_listed_and_does_not_loop() {
    if !gate::vm_test("failed_install_is_listed_and_does_not_loop", true) {
        return;
    }
    let run = netinstall::run(&Scenario {
        name: "e2e-failure".into(),
        boot: Boot::UefiPxe,
        outcome: Outcome::MissingDisk,
        live: false,
        keep: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", run.phases.line("e2e-failure"));
    let row = run
        .machines
        .lines()
        .find(|l| l.contains(netinstall::MAC))
        .unwrap_or_else(|| panic!("the machine is not listed:\n{}", run.machines));
    assert!(row.contains("failed"), "{}", run.machines);
    assert!(
        run.machines.contains("sdz"),
        "the error names the disk:\n{}",
        run.machines
    );
    let log = run.kickstand.log();
    assert_eq!(
        log.matches("kickstart served").count(),
        1,
        "one install attempt only:\n{log}"
    );
}
