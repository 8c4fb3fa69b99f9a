//! UEFI HTTP Boot in a NetLab: OVMF's own network stack (QEMU's iPXE ROM removed, PXE disabled
//! through fw_cfg) asks dnsmasq as an `HTTPClient`, gets a full URL to `snponly.efi` and fetches
//! it from busybox httpd in the server namespace; that iPXE gets a script URL and boots the
//! Debian kernel and a busybox initramfs over HTTP.

use qemu_harness::dnsmasq::Dnsmasq;
use qemu_harness::{Firmware, NetLab, Nic, OptionRom, VmBuilder, debian_kernel, gate, initramfs};
use std::time::{Duration, Instant};

#[test]
fn uefi_http_boot_from_dnsmasq() {
    if !gate::vm_test("uefi_http_boot_from_dnsmasq", true) {
        return;
    }
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::copy("/usr/lib/ipxe/snponly.efi", www.join("snponly.efi")).unwrap();
    std::fs::copy(&kernel.vmlinuz, www.join("vmlinuz")).unwrap();
    initramfs::build(
        &www.join("initrd.img"),
        &initramfs::init_script(
            r#"echo "KICKSTAND-SMOKE http-boot efi=$(test -d /sys/firmware/efi && echo yes || echo no) cmdline=$(cat /proc/cmdline)""#,
        ),
        &[],
    )
    .unwrap();
    // Debian's iPXE hands the initrd to the kernel only through `initrd=NAME`.
    std::fs::write(
        www.join("boot.ipxe"),
        "#!ipxe\n\
         echo KSHTTP iPXE on ${platform}\n\
         initrd --name initrd http://192.0.2.1/initrd.img\n\
         kernel http://192.0.2.1/vmlinuz initrd=initrd console=ttyS0 panic=-1 quiet ks.via=http\n\
         boot\n",
    )
    .unwrap();

    let mut lab = NetLab::new("http-boot").unwrap();
    let server = lab.add_host("server", "192.0.2.1/24").unwrap();
    lab.add_address(&server, "2001:db8::1/64").unwrap();
    let tap = lab.add_tap().unwrap();
    let mut httpd = server.command("busybox").unwrap();
    httpd
        .args(["httpd", "-f", "-v", "-p", "192.0.2.1:80", "-h"])
        .arg(&www);
    let _httpd = server.spawn("httpd", httpd).unwrap();
    server.wait_for_tcp(80, Duration::from_secs(10)).unwrap();
    let _dnsmasq = Dnsmasq::new("192.0.2.100", "192.0.2.199")
        .option("enable-ra")
        .option("dhcp-range=2001:db8::,ra-only")
        .option("dhcp-match=set:ipxe,175")
        .option("dhcp-vendorclass=set:http,HTTPClient")
        // Without option 60 = HTTPClient in the offer OVMF ignores it.
        .option("dhcp-option-force=tag:http,60,HTTPClient")
        .option("dhcp-boot=tag:http,tag:!ipxe,http://192.0.2.1/snponly.efi")
        .option("dhcp-boot=tag:ipxe,http://192.0.2.1/boot.ipxe")
        .start(&server, dir.path())
        .unwrap();

    let start = Instant::now();
    let mut vm = VmBuilder::new("http-boot")
        .workdir(dir.path())
        .firmware(Firmware::Uefi)
        .nic(Nic::tap(&tap).bootindex(1).option_rom(OptionRom::None))
        .fw_cfg("opt/org.tianocore/IPv4PXESupport", "no")
        .fw_cfg("opt/org.tianocore/IPv6PXESupport", "no")
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line("^KICKSTAND-SMOKE http-boot", Duration::from_secs(240))
        .unwrap();
    assert!(line.contains("efi=yes"), "{line}");
    assert!(line.contains("ks.via=http"), "{line}");
    assert!(
        vm.console_text().contains("KSHTTP iPXE on efi"),
        "the script did not run under UEFI iPXE"
    );
    vm.wait_for_exit(Duration::from_secs(30)).unwrap();
    eprintln!("UEFI HTTP boot took {:.1?}", start.elapsed());
}
