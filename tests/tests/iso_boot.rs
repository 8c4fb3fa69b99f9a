//! The installer ISO (`kickstand iso build`) boots on real firmware with no network device:
//! SeaBIOS from a CD-ROM, OVMF from a CD-ROM, and OVMF and SeaBIOS from the same ISO attached
//! as a disk (as after `dd` onto a USB stick). Each VM must reach the installer, started by the
//! boot menu's default entry with the kickstart's arguments; the customized ISO (`iso
//! customize`) boots with its new arguments.
//!
//! Then the offline install, with no network device at all: the ISO on a CD-ROM (SeaBIOS and
//! OVMF) or `dd`ed onto a USB stick (removable, on xHCI; OVMF) installs the embedded image from
//! `/run/install/repo/container` onto a blank disk and powers off; the installed disk then boots
//! to the tiny image's `KICKSTAND-BOOTED` report with the kickstart's hostname, and the ISO's
//! bytes are unchanged.
//!
//! An ISO without an embedded image installs over the network in a NetLab: the site's DHCP
//! server (dnsmasq) gives the address, Debian's docker-registry on another lab host the image.
//!
//! The ISO is built once per test process from the harness's Debian kernel and the tiny test
//! image, with the installer initramfs built by `iso build` itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kickstand_tests::bin;
use qemu_harness::images::tiny::{self, BootReport};
use qemu_harness::{Disk, DiskBus, Firmware, VmBuilder, gate};

const LABEL: &str = "KS-ISO-TEST";

/// The hostname the installed system reports.
const HOSTNAME: &str = "iso-offline";

const KICKSTART: &str = "\
zerombr
clearpart --all --initlabel
autopart --fstype=ext4
rootpw --plaintext kickstand
network --hostname=iso-offline
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

/// Where the ISO is attached for an offline install.
enum Medium {
    Cdrom,
    /// A USB stick (removable, on xHCI) holding a copy of the ISO, as after `dd`.
    UsbStick,
}

/// Whether two files have the same bytes (read in chunks: the ISO is tens of MiB).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The guest uptime of milestone `name` (`KICKSTAND-MILESTONE name 12.34s`).
fn milestone(vm: &mut qemu_harness::Vm, name: &str, timeout: Duration) -> String {
    let line = vm
        .wait_for_line(&format!("KICKSTAND-MILESTONE {name} "), timeout)
        .unwrap();
    line.rsplit(' ').next().unwrap_or("?").trim().to_string()
}

/// Boots the ISO with a blank disk and no network device, waits for the install and the
/// power-off, then boots the installed disk alone and checks its report.
fn installs_offline(name: &str, firmware: Firmware, medium: Medium) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.raw");
    std::fs::File::create(&target)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let iso = iso_path(false);
    let iso_disk = match medium {
        Medium::Cdrom => Disk::cdrom(iso),
        Medium::UsbStick => {
            let copy = dir.path().join("stick.img");
            std::fs::copy(iso, &copy).unwrap();
            Disk::new(copy).bus(DiskBus::Usb)
        }
    };
    let iso_file = iso_disk.path.clone();
    // No .nic(): with -nodefaults the machine has no network device at all.
    let mut vm = VmBuilder::new(name)
        .workdir(dir.path())
        .firmware(firmware)
        .memory_mib(1024)
        .disk(Disk::new(&target).bus(DiskBus::VirtioBlk))
        .disk(iso_disk.bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    // After start(): not counting the wait for a VM slot.
    let started = Instant::now();
    let mounted = vm
        .wait_for_line("install medium: .* mounted", Duration::from_secs(300))
        .unwrap();
    let fetched = milestone(&mut vm, "kickstart-fetched", Duration::from_secs(60));
    let done = milestone(&mut vm, "install-done", Duration::from_secs(600));
    vm.wait_for_exit(Duration::from_secs(60))
        .expect("the installer powers the machine off");
    let console = vm.console_text();
    drop(vm);
    assert!(
        !console.contains("network: DHCP"),
        "an offline install must not look for a network"
    );
    eprintln!(
        "{name}: {} ; kickstart fetched at {fetched}, install done at {done} (guest uptime), \
         powered off after {:.1?}",
        mounted.trim(),
        started.elapsed()
    );

    installed_disk_boots(name, firmware, dir.path(), &target, HOSTNAME);
    assert!(
        same_bytes(iso, &iso_file),
        "the install medium was modified"
    );
}

#[test]
fn iso_installs_offline_under_seabios_from_a_cdrom() {
    if !gate::vm_test("iso_installs_offline_under_seabios_from_a_cdrom", false) {
        return;
    }
    installs_offline("iso-install-bios-cdrom", Firmware::Bios, Medium::Cdrom);
}

#[test]
fn iso_installs_offline_under_ovmf_from_a_cdrom() {
    if !gate::vm_test("iso_installs_offline_under_ovmf_from_a_cdrom", true) {
        return;
    }
    installs_offline("iso-install-uefi-cdrom", Firmware::Uefi, Medium::Cdrom);
}

#[test]
fn iso_installs_offline_under_ovmf_from_a_usb_stick() {
    if !gate::vm_test("iso_installs_offline_under_ovmf_from_a_usb_stick", true) {
        return;
    }
    installs_offline("iso-install-uefi-usb", Firmware::Uefi, Medium::UsbStick);
}

/// Boots the installed `target` alone on `firmware` and checks its `KICKSTAND-BOOTED` report:
/// the kickstart's `hostname`, an ext4 root, the firmware.
fn installed_disk_boots(name: &str, firmware: Firmware, dir: &Path, target: &Path, hostname: &str) {
    let booting = Instant::now();
    let mut boot = VmBuilder::new(format!("{name}-boot"))
        .workdir(dir)
        .firmware(firmware)
        .memory_mib(512)
        .disk(Disk::new(target).bus(DiskBus::VirtioBlk).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let line = boot
        .wait_for_line(tiny::BOOTED, Duration::from_secs(240))
        .unwrap();
    boot.kill();
    eprintln!(
        "{name}: the installed disk booted in {:.1?}: {line}",
        booting.elapsed()
    );
    let report = BootReport::parse(&line).unwrap();
    assert_eq!(report.get("hostname"), Some(hostname), "{line}");
    assert_eq!(report.get("rootfs"), Some("ext4"), "{line}");
    assert_eq!(
        report.get("firmware"),
        Some(match firmware {
            Firmware::Uefi => "UEFI",
            Firmware::Bios => "BIOS",
        }),
        "{line}"
    );
}

/// An ISO without an embedded image installs over the network: the machine boots it from a
/// CD-ROM in a NetLab, gets its address from the site's DHCP server (dnsmasq, no boot options)
/// and pulls the tiny image from Debian's docker-registry on another lab host.
#[test]
fn iso_without_an_image_installs_over_the_network() {
    if !gate::vm_test("iso_without_an_image_installs_over_the_network", false) {
        return;
    }
    let name = "iso-net-install";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kernel = qemu_harness::debian_kernel().expect("the Debian kernel asset");
    let image = tiny::tiny().expect("the tiny test image");

    let mut lab = qemu_harness::NetLab::new(name).unwrap();
    let site = lab.add_host("site", "192.0.2.1/24").unwrap();
    let registry_host = lab.add_host("registry", "192.0.2.3/24").unwrap();
    let registry = qemu_harness::registry::LocalRegistry::start_in(&registry_host).unwrap();
    registry
        .push_layout(&image.layout, tiny::TAG, "tiny", "latest")
        .unwrap();
    let _dhcp = qemu_harness::dnsmasq::Dnsmasq::new("192.0.2.100", "192.0.2.199")
        .start(&site, d)
        .unwrap();
    let tap = lab.add_tap().unwrap();

    let reg = format!("192.0.2.3:{}", qemu_harness::registry::LAB_PORT);
    let ks = d.join("ks.cfg");
    std::fs::write(
        &ks,
        format!(
            "zerombr\nclearpart --all --initlabel\nautopart --fstype=ext4\n\
             rootpw --plaintext kickstand\nnetwork --bootproto=dhcp --hostname=iso-net\n\
             ostreecontainer --url={reg}/tiny:latest --no-signature-verification\npoweroff\n"
        ),
    )
    .unwrap();
    let iso = d.join("net.iso");
    let started = Instant::now();
    run(
        "kickstand iso build (no embedded image)",
        Command::new(bin("kickstand"))
            .args(["iso", "build", "--output"])
            .arg(&iso)
            .arg("--kernel")
            .arg(&kernel.vmlinuz)
            .arg("--kernel-modules")
            .arg(&kernel.modules_dir)
            .arg("--installer")
            .arg(bin("kickstand-installer"))
            .arg("--kickstart")
            .arg(&ks)
            .args(["--volume-label", "KS-ISO-NET", "--timeout", "1"])
            .args([
                "--append",
                &format!("console=ttyS0,115200 ip=dhcp kickstand.insecure_registry={reg}"),
            ]),
    );
    eprintln!("{name}: iso build took {:.1?}", started.elapsed());

    let target = kickstand_tests::disk_file(d, "target.raw", 4 << 30);
    let mut vm = VmBuilder::new(name)
        .workdir(d)
        .firmware(Firmware::Bios)
        .memory_mib(1024)
        .disk(Disk::new(&target).bus(DiskBus::VirtioBlk))
        .disk(Disk::cdrom(&iso).bootindex(1))
        .nic(
            qemu_harness::Nic::tap(&tap)
                .mac("52:54:00:6b:73:09")
                .option_rom(qemu_harness::OptionRom::None),
        )
        .no_reboot()
        .start()
        .unwrap();
    let started = Instant::now();
    let network = milestone(&mut vm, "network-up", Duration::from_secs(300));
    let fetched = milestone(&mut vm, "kickstart-fetched", Duration::from_secs(60));
    let done = milestone(&mut vm, "install-done", Duration::from_secs(600));
    vm.wait_for_exit(Duration::from_secs(60))
        .expect("the installer powers the machine off");
    drop(vm);
    eprintln!(
        "{name}: network up at {network}, kickstart fetched at {fetched}, install done at {done} \
         (guest uptime), powered off after {:.1?}",
        started.elapsed()
    );
    let leases = std::fs::read_to_string(d.join("dnsmasq.leases")).unwrap_or_default();
    assert!(
        leases.contains("52:54:00:6b:73:09"),
        "the address came from the site's DHCP server: {leases:?}"
    );
    installed_disk_boots(name, Firmware::Bios, d, &target, "iso-net");
}
