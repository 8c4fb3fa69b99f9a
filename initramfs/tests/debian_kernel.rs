//! The default initramfs against the real Debian kernel (from the harness's cache): the module
//! closure holds the load chains measured on this kernel, the kernel's version matches, and the
//! compressed image stays under the 40 MiB target. Prints the size.

use std::path::PathBuf;

use kickstand_initramfs::modules::{DEFAULT_MODULES, ModulesDir};
use kickstand_initramfs::{Compression, Spec, assemble, write_image};

fn kernel() -> Option<qemu_harness::assets::Kernel> {
    match qemu_harness::assets::debian_kernel() {
        Ok(k) => Some(k),
        Err(e) if !qemu_harness::gate::required() => {
            eprintln!(
                "SKIPPED: the Debian kernel asset is not available ({e}); run `cargo xtask assets`"
            );
            None
        }
        Err(e) => panic!("the Debian kernel asset is required here: {e}"),
    }
}

#[test]
fn default_module_closure_on_the_debian_kernel() {
    let Some(kernel) = kernel() else { return };
    let modules = ModulesDir::open(&kernel.modules_dir).unwrap();
    assert_eq!(modules.version, kernel.version);
    let closure = modules.closure(DEFAULT_MODULES);
    // The load chains DESIGN.md lists for this kernel, plus the storage/network/dm set.
    for m in [
        "virtio_ring",
        "virtio",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio_pci",
        "virtio_blk",
        "crc16",
        "mbcache",
        "jbd2",
        "crc32c_generic",
        "ext4",
        "failover",
        "net_failover",
        "virtio_net",
        "fat",
        "vfat",
        "nls_cp437",
        "nls_ascii",
        "e1000",
        "e1000e",
        "nvme",
        "nvme_core",
        "ahci",
        "libahci",
        "libata",
        "sd_mod",
        "scsi_mod",
        "usb_storage",
        "xhci_pci",
        "xhci_hcd",
        "xfs",
        "isofs",
        "dm_mod",
        "dm_crypt",
        "mpt3sas",
        "megaraid_sas",
        "mlx5_core",
        "ice",
        "bnxt_en",
        "tg3",
        "efivarfs",
    ] {
        assert!(
            closure.modules.iter().any(|c| c == m),
            "{m} missing from the closure"
        );
    }
    assert!(
        closure.missing.is_empty(),
        "default modules missing from Debian's kernel: {:?}",
        closure.missing
    );
    eprintln!(
        "{} modules from {} wanted; built in: {:?}",
        closure.modules.len(),
        DEFAULT_MODULES.len(),
        closure.builtin
    );
}

#[test]
fn default_initramfs_for_the_debian_kernel_is_under_40_mib() {
    let Some(kernel) = kernel() else { return };
    // The release installer when the suite provides it; a static stand-in of similar role otherwise.
    let installer = std::env::var_os("KICKSTAND_BIN_DIR")
        .map(|d| PathBuf::from(d).join("kickstand-installer"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"));
    let tools = [
        "mkfs.xfs",
        "mkfs.ext4",
        "mkfs.vfat",
        "mkfs.btrfs",
        "mkswap",
        "mcopy",
        "mmd",
        "sfdisk",
        "wipefs",
        "blkid",
        "lvm",
        "cryptsetup",
        "grub-mkimage",
        "busybox",
    ];
    let mut spec = Spec::new(installer.clone(), kernel.modules_dir.clone(), &tools);
    spec.kernel = Some(kernel.vmlinuz.clone());
    let (archive, mut contents) = assemble(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("initramfs.img");
    let written = write_image(&archive, Compression::Zstd, 0, &out).unwrap();
    contents.uncompressed_size = written.uncompressed;
    contents.compressed_size = written.compressed;
    eprintln!("installer: {}\n{contents}", installer.display());
    assert_eq!(contents.kernel_version, kernel.version);
    assert!(written.compressed < 40 * 1024 * 1024, "{contents}");
}

/// The Debian kernel unpacks the image (zstd, cpio newc), opens `/dev/console` from it and
/// runs a busybox applet through the `bin -> usr/bin` symlink: `rdinit=/bin/ls` lists `/`.
#[test]
fn the_debian_kernel_unpacks_and_runs_the_image() {
    if !qemu_harness::gate::vm_test("the_debian_kernel_unpacks_and_runs_the_image", false) {
        return;
    }
    let Some(kernel) = kernel() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("ks.cfg");
    std::fs::write(&ks, "reboot\n").unwrap();
    let mut spec = Spec::new(
        PathBuf::from("/bin/busybox"),
        kernel.modules_dir.clone(),
        &["busybox"],
    );
    spec.modules = vec!["virtio_blk".into()];
    spec.kickstart = Some(ks);
    let (archive, _) = assemble(&spec).unwrap();
    let initrd = dir.path().join("initramfs.img");
    write_image(&archive, Compression::Zstd, 0, &initrd).unwrap();
    let mut vm = qemu_harness::VmBuilder::new("initramfs-ls")
        .workdir(dir.path())
        .kernel(&kernel.vmlinuz)
        .initrd(&initrd)
        .append("console=ttyS0 rdinit=/bin/ls panic=-1 quiet")
        .no_reboot()
        .start()
        .unwrap();
    // `ls` prints `/` in columns whose layout depends on the names; wait for one, check all.
    vm.wait_for_line(r"\blib64\b", std::time::Duration::from_secs(120))
        .unwrap();
    let _ = vm.wait_for_exit(std::time::Duration::from_secs(30));
    let console = vm.console_text();
    // SeaBIOS ends its last line with "Booting from ROM.." and no newline, so the first name
    // `ls` prints is glued to it ("ROM..bin"): take what follows a "..".
    let words: Vec<&str> = console
        .split_whitespace()
        .map(|w| w.rsplit("..").next().unwrap_or(w))
        .collect();
    for name in ["init", "ks.cfg", "bin", "usr", "dev", "etc"] {
        assert!(
            words.contains(&name),
            "/{name} missing from `ls /`:\n{console}"
        );
    }
}
