//! Boots the Debian kernel directly (`-kernel/-initrd`) with a tiny busybox initramfs whose
//! `/init` prints a marker and powers off.

use qemu_harness::{VmBuilder, debian_kernel, gate, initramfs};
use std::time::{Duration, Instant};

#[test]
fn debian_kernel_boots_busybox_initramfs() {
    if !gate::vm_test("debian_kernel_boots_busybox_initramfs", false) {
        return;
    }
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    initramfs::build(
        &initrd,
        &initramfs::init_script(r#"echo "KICKSTAND-SMOKE kernel=$(uname -r) cpus=$(nproc)""#),
        &[],
    )
    .unwrap();
    let start = Instant::now();
    let mut vm = VmBuilder::new("direct")
        .workdir(dir.path())
        .kernel(&kernel.vmlinuz)
        .initrd(&initrd)
        .append("console=ttyS0 panic=-1 quiet")
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line("^KICKSTAND-SMOKE ", Duration::from_secs(120))
        .unwrap();
    assert_eq!(
        line,
        format!("KICKSTAND-SMOKE kernel={} cpus=1", kernel.version)
    );
    let status = vm.wait_for_exit(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "QEMU exited with {status}");
    eprintln!("direct kernel boot took {:.1?}", start.elapsed());
}
