//! Images the installer must refuse, through the CLI onto disk image files (root: loop
//! devices): a bootc-labelled image without `/usr/bin/bootc` before any disk is touched (the disk's bytes are compared),
//! and an image without a kernel before the boot loader step, naming the missing file.

use kickstand_tests::{disk_file, install, mark_disk, small_image, written_regions};
use qemu_harness::gate;

const GIB: u64 = 1 << 30;

const OS_RELEASE: (&str, &str) = ("etc/os-release", "ID=test\nPRETTY_NAME=\"Test\"\n");
const PASSWD: (&str, &str) = ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");

fn ks(layout: &std::path::Path) -> String {
    format!(
        "ostreecontainer --transport=oci --url={}:latest --no-signature-verification\n\
         clearpart --all --initlabel\nautopart --fstype=ext4\n",
        layout.display()
    )
}

#[test]
fn a_bootc_labelled_image_without_bootc_is_refused_before_the_disk_is_touched() {
    if !gate::root_test(
        "a_bootc_labelled_image_without_bootc_is_refused_before_the_disk_is_touched",
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = small_image(
        &dir.join("layout"),
        &[OS_RELEASE, PASSWD],
        &[("containers.bootc", "1")],
    );
    let disk = disk_file(dir, "disk.raw", 4 * GIB);
    let before = mark_disk(&disk);

    let out = install(dir, &ks(&layout), &disk, &["--firmware", "uefi"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is labelled as a bootc image but has no /usr/bin/bootc"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(written_regions(&disk) == before, "the disk was written");
}

#[test]
fn an_image_without_a_kernel_is_refused_before_the_boot_loader() {
    if !gate::root_test("an_image_without_a_kernel_is_refused_before_the_boot_loader") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = small_image(
        &dir.join("layout"),
        &[
            OS_RELEASE,
            PASSWD,
            ("usr/lib/systemd/boot/efi/systemd-bootx64.efi", "not really"),
        ],
        &[],
    );
    let disk = disk_file(dir, "disk.raw", 4 * GIB);
    let out = install(dir, &ks(&layout), &disk, &["--firmware", "uefi"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the image has no /usr/lib/modules/<KVER>/vmlinuz"),
        "{stderr}"
    );
    assert!(stderr.contains("no boot loader was installed"), "{stderr}");
    // The image was unpacked (the refusal came after the image step) but the ESP holds no
    // boot loader.
    assert!(!stderr.contains("==> bootloader"), "{stderr}");
    let (start, _) = kickstand_tests::partition(&disk, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        .expect("the ESP was made");
    let listing = std::process::Command::new("mdir")
        .arg("-i")
        .arg(format!("{}@@{start}", disk.display()))
        .args(["-/", "-b", "::/"])
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(!listing.to_uppercase().contains("BOOTX64.EFI"), "{listing}");
}
