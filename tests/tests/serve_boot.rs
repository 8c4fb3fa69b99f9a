//! Network boot from `kickstand serve` in a NetLab: the release binary serves TFTP and HTTP
//! (boot scripts, the iPXE binaries, kernel and initramfs), dnsmasq only answers DHCP and
//! points the firmware at it. The initramfs prints a marker line with the kernel command line
//! kickstand gave the machine. dnsmasq also sends IPv6 router advertisements, or iPXE waits
//! ~13 s for them.

use kickstand_tests::serve::{LabKickstand, Machine, Profile};
use qemu_harness::dnsmasq::Dnsmasq;
use qemu_harness::{
    Firmware, NetLab, Nic, OptionRom, Vm, VmBuilder, debian_kernel, gate, initramfs,
};
use std::path::Path;
use std::time::{Duration, Instant};

const KNOWN: &str = "52:54:00:4b:53:01";
const STRANGER: &str = "52:54:00:4b:53:99";
const SERVER: &str = "192.0.2.1";

/// The profile: the Debian kernel and a marker initramfs, written into `dir`.
fn profile(dir: &Path, marker: &str) -> Profile {
    let kernel = debian_kernel().expect("Debian kernel");
    let initrd = dir.join("smoke.img");
    initramfs::build(
        &initrd,
        &initramfs::init_script(&format!(
            r#"echo "KICKSTAND-SMOKE {marker} efi=$(test -d /sys/firmware/efi && echo yes || echo no) cmdline=$(cat /proc/cmdline)""#
        )),
        &[],
    )
    .unwrap();
    Profile {
        kernel: kernel.vmlinuz.clone(),
        initramfs: initrd,
        cmdline: "console=ttyS0 panic=-1 quiet".into(),
    }
}

/// Checks the kernel command line kickstand gave a known machine.
fn check_cmdline(line: &str, mac: &str) {
    for want in [
        format!("inst.ks=http://{SERVER}:8080/ks/{mac}"),
        format!("BOOTIF=01-{}", mac.replace(':', "-")),
        "ip=dhcp".to_string(),
        format!("kickstand.server=http://{SERVER}:8080"),
        "initrd=smoke.img".to_string(),
        "console=ttyS0".to_string(),
    ] {
        assert!(line.contains(&want), "missing {want:?} in: {line}");
    }
}

fn lab(name: &str) -> (NetLab, qemu_harness::Host, qemu_harness::Tap) {
    let mut lab = NetLab::new(name).unwrap();
    let server = lab.add_host("server", &format!("{SERVER}/24")).unwrap();
    lab.add_address(&server, "2001:db8::1/64").unwrap();
    let tap = lab.add_tap().unwrap();
    (lab, server, tap)
}

fn bios_vm(dir: &Path, name: &str, tap: &qemu_harness::Tap, mac: &str) -> Vm {
    VmBuilder::new(name)
        .workdir(dir)
        .nic(Nic::tap(tap).bootindex(1).mac(mac))
        .no_reboot()
        .start()
        .unwrap()
}

/// SeaBIOS + QEMU's iPXE ROM (standing in for a NIC's PXE ROM) get `boot.ipxe` from kickstand
/// over TFTP, which chains to the machine's own script over HTTP. A known machine boots its
/// profile; once it reported its install done it is sent to the local disk; a stranger gets
/// nothing.
#[test]
fn bios_pxe_boot_from_kickstand() {
    if !gate::vm_test("bios_pxe_boot_from_kickstand", false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_lab, server, tap) = lab("ks-pxe-bios");
    let profile = profile(d, "pxe-bios");
    let ks = LabKickstand::start(
        &server,
        d,
        &profile,
        &[Machine {
            mac: KNOWN,
            hostname: "pxe-01",
        }],
    );
    let _dnsmasq = Dnsmasq::new("192.0.2.100", "192.0.2.199")
        .option("enable-ra")
        .option("dhcp-range=2001:db8::,ra-only")
        .option("dhcp-match=set:ipxe,175")
        .option(format!("dhcp-boot=tag:!ipxe,undionly.kpxe,,{SERVER}"))
        .option(format!("dhcp-boot=tag:ipxe,boot.ipxe,,{SERVER}"))
        .start(&server, d)
        .unwrap();

    // 1. The known machine boots its profile.
    let start = Instant::now();
    let mut vm = bios_vm(d, "pxe-known", &tap, KNOWN);
    let line = vm
        .wait_for_line("^KICKSTAND-SMOKE pxe-bios", Duration::from_secs(180))
        .unwrap();
    check_cmdline(&line, KNOWN);
    assert!(
        vm.console_text()
            .contains(&format!("Kickstand: installing profile smoke on {KNOWN}")),
        "the machine's iPXE script did not run"
    );
    vm.wait_for_exit(Duration::from_secs(30)).unwrap();
    drop(vm);
    eprintln!("BIOS PXE install boot took {:.1?}", start.elapsed());
    ks.wait_for_log(
        &["tftp transfer complete", "boot.ipxe"],
        Duration::from_secs(5),
    );

    // 2. It reports its install done: its next boot goes to the local disk.
    ks.post_done(KNOWN);
    let start = Instant::now();
    let mut vm = bios_vm(d, "pxe-installed", &tap, KNOWN);
    vm.wait_for_line(
        &format!("Kickstand: {KNOWN} is installed; booting the local disk"),
        Duration::from_secs(180),
    )
    .unwrap();
    assert!(!vm.console_text().contains("KICKSTAND-SMOKE"));
    drop(vm);
    eprintln!("BIOS PXE local-boot script took {:.1?}", start.elapsed());

    // 3. A machine that is not in the inventory gets nothing.
    let start = Instant::now();
    let vm = bios_vm(d, "pxe-stranger", &tap, STRANGER);
    ks.wait_for_log(
        &["unknown machine and no [unknown] profile", STRANGER],
        Duration::from_secs(180),
    );
    // Give iPXE the moment it would need to start a kernel it was (wrongly) given.
    std::thread::sleep(Duration::from_secs(3));
    let console = vm.console_text();
    assert!(
        !console.contains("Kickstand: installing") && !console.contains("KICKSTAND-SMOKE"),
        "a stranger was given an install:\n{console}"
    );
    drop(vm);
    eprintln!("BIOS PXE stranger took {:.1?}", start.elapsed());
}

/// UEFI HTTP Boot: OVMF's own network stack (QEMU's iPXE ROM removed, PXE disabled through
/// fw_cfg) gets a full URL to kickstand's `snponly.efi`; that iPXE gets `boot.ipxe` over HTTP,
/// chains to the machine's script and boots its profile over HTTP.
#[test]
fn uefi_http_boot_from_kickstand() {
    if !gate::vm_test("uefi_http_boot_from_kickstand", true) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_lab, server, tap) = lab("ks-http-boot");
    let profile = profile(d, "http-boot");
    let ks = LabKickstand::start(
        &server,
        d,
        &profile,
        &[Machine {
            mac: KNOWN,
            hostname: "efi-01",
        }],
    );
    let base = ks.base().to_string();
    let _dnsmasq = Dnsmasq::new("192.0.2.100", "192.0.2.199")
        .option("enable-ra")
        .option("dhcp-range=2001:db8::,ra-only")
        .option("dhcp-match=set:ipxe,175")
        .option("dhcp-vendorclass=set:http,HTTPClient")
        // Without option 60 = HTTPClient in the offer OVMF ignores it.
        .option("dhcp-option-force=tag:http,60,HTTPClient")
        .option(format!(
            "dhcp-boot=tag:http,tag:!ipxe,{base}/ipxe-bin/snponly.efi"
        ))
        .option(format!("dhcp-boot=tag:ipxe,{base}/boot.ipxe"))
        .start(&server, d)
        .unwrap();

    let start = Instant::now();
    let mut vm = VmBuilder::new("http-boot-known")
        .workdir(d)
        .firmware(Firmware::Uefi)
        .nic(
            Nic::tap(&tap)
                .bootindex(1)
                .option_rom(OptionRom::None)
                .mac(KNOWN),
        )
        .fw_cfg("opt/org.tianocore/IPv4PXESupport", "no")
        .fw_cfg("opt/org.tianocore/IPv6PXESupport", "no")
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line("^KICKSTAND-SMOKE http-boot", Duration::from_secs(240))
        .unwrap();
    assert!(line.contains("efi=yes"), "{line}");
    check_cmdline(&line, KNOWN);
    assert!(
        vm.console_text()
            .contains(&format!("Kickstand: installing profile smoke on {KNOWN}")),
        "the machine's iPXE script did not run"
    );
    vm.wait_for_exit(Duration::from_secs(30)).unwrap();
    eprintln!("UEFI HTTP boot from kickstand took {:.1?}", start.elapsed());
    ks.wait_for_log(&["boot script served", KNOWN], Duration::from_secs(5));
}
