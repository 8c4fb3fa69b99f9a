//! The installer ISO (`kickstand iso build`) boots on real firmware with no network device:
//! SeaBIOS from a CD-ROM, OVMF from a CD-ROM, and OVMF and SeaBIOS from the same ISO attached
//! as a disk (as after `dd` onto a USB stick). Each VM must reach the installer, started by the
//! boot menu's default entry with the kickstart's arguments; the customized ISO (`iso
//! customize`) boots with its new arguments.
//!
//! The ISO is built once per test process from the harness's Debian kernel and the tiny test
//! image, with the installer initramfs built by `iso build` itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kickstand_tests::bin;
use qemu_harness::{Disk, DiskBus, Firmware, VmBuilder, gate};

const LABEL: &str = "KS-ISO-TEST";

const KICKSTART: &str = "\
zerombr
clearpart --all --initlabel
autopart --fstype=ext4
rootpw --plaintext kickstand
poweroff
ostreecontainer --url=/run/install/repo/container --transport=oci
";

/// The built ISOs: `install.iso` and `custom.iso` (its customized copy).
struct Isos {
    _dir: tempfile::TempDir,
    install: PathBuf,
    custom: PathBuf,
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn isos() -> &'static Isos {
    static ISOS: OnceLock<Isos> = OnceLock::new();
    ISOS.get_or_init(|| {
        let kernel = qemu_harness::debian_kernel().expect("the Debian kernel asset");
        let tiny = qemu_harness::images::tiny::tiny().expect("the tiny test image");
        let dir = tempfile::tempdir().unwrap();
        let ks = dir.path().join("ks.cfg");
        std::fs::write(&ks, KICKSTART).unwrap();
        let install = dir.path().join("install.iso");
        let started = Instant::now();
        let built = run(
            "kickstand iso build",
            Command::new(bin("kickstand"))
                .args(["iso", "build", "--output"])
                .arg(&install)
                .arg("--kernel")
                .arg(&kernel.vmlinuz)
                .arg("--kernel-modules")
                .arg(&kernel.modules_dir)
                .arg("--installer")
                .arg(bin("kickstand-installer"))
                .arg("--kickstart")
                .arg(&ks)
                .arg("--embed-image")
                .arg(format!("oci:{}", tiny.layout.display()))
                .args(["--volume-label", LABEL, "--timeout", "1"])
                .args(["--append", "console=ttyS0,115200"]),
        );
        eprintln!(
            "iso build took {:.1?}:\n{}",
            started.elapsed(),
            built.lines().rev().take(4).collect::<Vec<_>>().join("\n")
        );
        let custom = dir.path().join("custom.iso");
        run(
            "kickstand iso customize",
            Command::new(bin("kickstand"))
                .args(["iso", "customize"])
                .arg(&install)
                .args([
                    "--append",
                    "console=ttyS0,115200 kickstand.iso_test=customized",
                ])
                .arg("--output")
                .arg(&custom),
        );
        Isos {
            _dir: dir,
            install,
            custom,
        }
    })
}

/// Boots `disk` on `firmware` and waits for the kernel's command line (the boot menu's default
/// entry, with the ISO's arguments) and then the installer's first output.
fn boots_to_the_installer(name: &str, firmware: Firmware, disk: Disk, want_arg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut vm = VmBuilder::new(name)
        .workdir(dir.path())
        .firmware(firmware)
        .memory_mib(1024)
        .disk(disk.bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let cmdline = vm
        .wait_for_line("Command line: ", Duration::from_secs(240))
        .unwrap();
    for want in [
        format!("inst.stage2=hd:LABEL={LABEL}"),
        format!("inst.ks=hd:LABEL={LABEL}:/ks.cfg"),
        want_arg.to_string(),
    ] {
        assert!(cmdline.contains(&want), "{want} missing from {cmdline}");
    }
    let kernel_at = started.elapsed();
    // The installer's first words: its usage (its about line, before PID 1 mode existed)
    // or the log of PID 1.
    let line = vm
        .wait_for_line(
            "Installs a bootable container image|kickstand-installer|kickstart: ",
            Duration::from_secs(180),
        )
        .unwrap();
    eprintln!(
        "{name}: kernel started after {kernel_at:.1?}, installer spoke after {:.1?}: {line}",
        started.elapsed()
    );
    vm.kill();
}

fn iso_path(custom: bool) -> &'static Path {
    let isos = isos();
    if custom { &isos.custom } else { &isos.install }
}

#[test]
fn iso_boots_under_seabios_from_a_cdrom() {
    if !gate::vm_test("iso_boots_under_seabios_from_a_cdrom", false) {
        return;
    }
    boots_to_the_installer(
        "iso-bios-cdrom",
        Firmware::Bios,
        Disk::cdrom(iso_path(false)),
        "console=ttyS0,115200",
    );
}

#[test]
fn iso_boots_under_ovmf_from_a_cdrom() {
    if !gate::vm_test("iso_boots_under_ovmf_from_a_cdrom", true) {
        return;
    }
    boots_to_the_installer(
        "iso-uefi-cdrom",
        Firmware::Uefi,
        Disk::cdrom(iso_path(false)),
        "console=ttyS0,115200",
    );
}

#[test]
fn customized_iso_boots_under_ovmf_as_a_disk() {
    if !gate::vm_test("customized_iso_boots_under_ovmf_as_a_disk", true) {
        return;
    }
    boots_to_the_installer(
        "iso-uefi-disk",
        Firmware::Uefi,
        Disk::new(iso_path(true))
            .bus(DiskBus::VirtioBlk)
            .read_only(),
        "kickstand.iso_test=customized",
    );
}

#[test]
fn customized_iso_boots_under_seabios_as_a_disk() {
    if !gate::vm_test("customized_iso_boots_under_seabios_as_a_disk", false) {
        return;
    }
    boots_to_the_installer(
        "iso-bios-disk",
        Firmware::Bios,
        Disk::new(iso_path(true))
            .bus(DiskBus::VirtioBlk)
            .read_only(),
        "kickstand.iso_test=customized",
    );
}
