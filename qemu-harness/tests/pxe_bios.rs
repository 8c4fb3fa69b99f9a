//! BIOS network boot in a NetLab: SeaBIOS + QEMU's iPXE ROM (standing in for a NIC's PXE ROM)
//! get an iPXE script from dnsmasq (DHCP + TFTP) that chains `undionly.kpxe`; that iPXE, running
//! on the PXE stack, gets the script again and boots the Debian kernel and a busybox initramfs
//! over TFTP. dnsmasq also sends IPv6 router advertisements, or iPXE waits ~13 s for them.

use qemu_harness::dnsmasq::Dnsmasq;
use qemu_harness::{NetLab, Nic, VmBuilder, debian_kernel, gate, initramfs};
use std::time::{Duration, Instant};

#[test]
fn bios_ipxe_pxe_boot_from_dnsmasq() {
    if !gate::vm_test("bios_ipxe_pxe_boot_from_dnsmasq", false) {
        return;
    }
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let tftp = dir.path().join("tftp");
    std::fs::create_dir(&tftp).unwrap();
    std::fs::copy("/usr/lib/ipxe/undionly.kpxe", tftp.join("undionly.kpxe")).unwrap();
    std::fs::copy(&kernel.vmlinuz, tftp.join("vmlinuz")).unwrap();
    initramfs::build(
        &tftp.join("initrd.img"),
        &initramfs::init_script(r#"echo "KICKSTAND-SMOKE pxe-bios cmdline=$(cat /proc/cmdline)""#),
        &[],
    )
    .unwrap();
    std::fs::write(
        tftp.join("boot.ipxe"),
        "#!ipxe\n\
         iseq ${net0/chip} undionly || chain undionly.kpxe\n\
         echo KSPXE chained through ${net0/chip}\n\
         kernel vmlinuz console=ttyS0 panic=-1 quiet ks.via=pxe-bios\n\
         initrd initrd.img\n\
         boot\n",
    )
    .unwrap();

    let mut lab = NetLab::new("pxe-bios").unwrap();
    let server = lab.add_host("server", "192.0.2.1/24").unwrap();
    lab.add_address(&server, "2001:db8::1/64").unwrap();
    let tap = lab.add_tap().unwrap();
    let _dnsmasq = Dnsmasq::new("192.0.2.100", "192.0.2.199")
        .tftp_root(&tftp)
        .option("enable-ra")
        .option("dhcp-range=2001:db8::,ra-only")
        .option("dhcp-match=set:ipxe,175")
        .option("dhcp-boot=tag:!ipxe,undionly.kpxe")
        .option("dhcp-boot=tag:ipxe,boot.ipxe")
        .start(&server, dir.path())
        .unwrap();

    let start = Instant::now();
    let mut vm = VmBuilder::new("pxe-bios")
        .workdir(dir.path())
        .nic(Nic::tap(&tap).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line("^KICKSTAND-SMOKE pxe-bios", Duration::from_secs(180))
        .unwrap();
    assert!(line.contains("ks.via=pxe-bios"), "{line}");
    assert!(
        vm.console_text().contains("KSPXE chained through undionly"),
        "the script did not run from undionly.kpxe"
    );
    vm.wait_for_exit(Duration::from_secs(30)).unwrap();
    eprintln!("BIOS iPXE PXE boot took {:.1?}", start.elapsed());
}
