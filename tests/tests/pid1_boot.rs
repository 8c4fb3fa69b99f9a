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
    let image = qemu_harness::images::tiny::tiny().expect("the tiny image (cargo xtask assets)");
    let registry = qemu_harness::registry::LocalRegistry::start().unwrap();
    registry
        .push_layout(
            &image.layout,
            qemu_harness::images::tiny::TAG,
            "tiny",
            "latest",
        )
        .unwrap();
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
