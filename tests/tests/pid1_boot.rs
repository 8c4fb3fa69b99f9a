//! The installer initramfs end to end: the Debian kernel boots the initramfs `kickstand
//! initramfs build` makes (`-kernel/-initrd`, UEFI), `kickstand-installer` runs as PID 1, loads
//! the drivers, gets an address by DHCP from QEMU's user-mode network and fetches
//! `inst.ks=http://…` from a server on this host's loopback (reached only through a `guestfwd`
//! rule: the guest sees nothing else).
//!
//! Each test prints the boot-time benchmark: seconds since the kernel started (the guest's
//! own uptime, from the installer's `KICKSTAND-MILESTONE` lines) at which the kickstart was
//! fetched and the install was done. TCG times only compare with other TCG times.

mod common;

use common::{HttpServer, Milestones, VmFiles};
use std::time::Duration;

/// A kickstart naming a disk the machine does not have: the install must stop before
/// touching any disk, and say why on the console.
#[test]
fn bad_disk_name_leaves_the_disk_untouched_and_shows_the_error() {
    if !qemu_harness::gate::vm_test(
        "bad_disk_name_leaves_the_disk_untouched_and_shows_the_error",
        true,
    ) {
        return;
    }
    let files = VmFiles::new("pid1-baddisk");
    // The install resolves the image before it plans the disks: the image must be reachable.
    let registry = common::tiny_registry();
    let ks = format!(
        "ostreecontainer --url={}/tiny:latest --no-signature-verification\n\
         ignoredisk --only-use=sdz\nclearpart --all --initlabel\nautopart\npoweroff\n",
        common::GUEST_REGISTRY
    );
    let server = HttpServer::start(&[("/ks.cfg", ks.into_bytes())]);
    // A disk with recognisable contents; its bytes must be the same afterwards.
    let disk = files.dir.path().join("disk.raw");
    let pattern: Vec<u8> = (0..(64u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&disk, &pattern).unwrap();

    let mut vm = common::boot_installer_with_registry(
        &files,
        "pid1-baddisk",
        &server,
        Some(registry.addr().port()),
        &format!(
            "inst.ks=http://{}/ks.cfg inst.ks.sendmac kickstand.insecure_registry={}",
            common::GUEST_HTTP,
            common::GUEST_REGISTRY
        ),
        &[qemu_harness::Disk::new(&disk)],
    );
    let mut times = Milestones::default();
    times.wait(&mut vm, "kickstart-fetched", Duration::from_secs(240));
    vm.wait_for_line("KICKSTAND-INSTALL-FAILED", Duration::from_secs(120))
        .unwrap();
    vm.wait_for_line("kickstand-installer: error:", Duration::from_secs(10))
        .unwrap();
    vm.wait_for_line("Nothing was rebooted", Duration::from_secs(10))
        .unwrap();
    let console = vm.console_text();
    let report = &console[console.rfind("KICKSTAND-INSTALL-FAILED").unwrap()..];
    assert!(report.contains("sdz"), "the error names the disk: {report}");
    vm.kill();
    times.print("bad disk name (fails at planning)");

    assert!(
        std::fs::read(&disk).unwrap() == pattern,
        "the disk was modified"
    );
    // inst.ks.sendmac sent the NIC's MAC with the request.
    let requests = server.requests();
    let get = requests
        .iter()
        .find(|r| r.path == "/ks.cfg")
        .expect("the kickstart was requested");
    assert!(
        get.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-rhn-provisioning-mac-0")
                && v.ends_with(common::GUEST_MAC)),
        "{:?}",
        get.headers
    );
}

/// The whole path: PID 1 gets on the network, fetches the kickstart, installs the tiny image
/// from the local registry onto a blank disk, posts its events and powers off; the disk then
/// boots under OVMF to the tiny OS's `KICKSTAND-BOOTED` line.
fn install_and_boot(name: &str, bus: qemu_harness::DiskBus, disk_name: &str) {
    let files = VmFiles::new(name);
    let registry = common::tiny_registry();
    let ks = format!(
        "ignoredisk --only-use={disk_name}\n\
         clearpart --all --initlabel\n\
         autopart --fstype=ext4\n\
         ostreecontainer --url={}/tiny:latest --no-signature-verification\n\
         network --hostname=pid1-{name}\n\
         rootpw --plaintext kickstand\n\
         poweroff\n",
        common::GUEST_REGISTRY
    );
    let server = HttpServer::start(&[("/ks.cfg", ks.into_bytes())]);
    let disk = files.dir.path().join("disk.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let mut vm = common::boot_installer_with_registry(
        &files,
        name,
        &server,
        Some(registry.addr().port()),
        &common::registry_install_cmdline(),
        &[qemu_harness::Disk::new(&disk).bus(bus)],
    );
    let mut times = Milestones::default();
    times.wait(&mut vm, "kickstart-fetched", Duration::from_secs(240));
    times.wait(&mut vm, "install-done", Duration::from_secs(600));
    vm.wait_for_exit(Duration::from_secs(60))
        .expect("the installer powers the machine off");
    drop(vm);
    times.print(name);

    let events: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let all = events.join("");
    assert!(all.contains("\"event\":\"started\""), "{all}");
    assert!(all.contains("\"event\":\"done\""), "{all}");

    let mut boot = qemu_harness::VmBuilder::new(format!("{name}-boot"))
        .workdir(files.dir.path())
        .firmware(qemu_harness::Firmware::Uefi)
        .memory_mib(1024)
        .disk(qemu_harness::Disk::new(&disk).bus(bus).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    // On the serial console: the installer's `console=` carried over to the installed system.
    let line = boot
        .wait_for_line(qemu_harness::images::tiny::BOOTED, Duration::from_secs(240))
        .unwrap();
    assert!(line.contains(&format!("pid1-{name}")), "{line}");
}

#[test]
fn installs_the_tiny_image_onto_a_virtio_disk_and_it_boots() {
    if !qemu_harness::gate::vm_test(
        "installs_the_tiny_image_onto_a_virtio_disk_and_it_boots",
        true,
    ) {
        return;
    }
    install_and_boot("pid1-virtio", qemu_harness::DiskBus::VirtioBlk, "vda");
}

#[test]
fn installs_the_tiny_image_onto_an_nvme_disk_and_it_boots() {
    if !qemu_harness::gate::vm_test(
        "installs_the_tiny_image_onto_an_nvme_disk_and_it_boots",
        true,
    ) {
        return;
    }
    install_and_boot("pid1-nvme", qemu_harness::DiskBus::Nvme, "nvme0n1");
}
