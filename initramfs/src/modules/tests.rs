//! Module closure on a synthetic tree shaped like Debian 6.1's (real names and dependencies),
//! and on the real Debian kernel when the harness provides it.

use super::*;

/// Writes a modules tree: `deps` as `(path, [dep paths])`, plus the given index files.
pub(crate) fn synthetic_tree(
    root: &Path,
    deps: &[(&str, &[&str])],
    softdep: &str,
    alias: &str,
    builtin: &str,
) {
    std::fs::create_dir_all(root).unwrap();
    let mut dep = String::new();
    for (path, ds) in deps {
        dep.push_str(&format!("{path}: {}\n", ds.join(" ")));
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("module {path}")).unwrap();
    }
    std::fs::write(root.join("modules.dep"), dep).unwrap();
    std::fs::write(root.join("modules.softdep"), softdep).unwrap();
    std::fs::write(root.join("modules.alias"), alias).unwrap();
    std::fs::write(root.join("modules.builtin"), builtin).unwrap();
}

/// A tree with Debian 6.1's virtio, ext4, usb-storage and vfat chains.
pub(crate) fn debian_like(root: &Path) {
    synthetic_tree(
        root,
        &[
            ("kernel/drivers/virtio/virtio.ko", &[]),
            ("kernel/drivers/virtio/virtio_ring.ko", &[]),
            ("kernel/drivers/virtio/virtio_pci_modern_dev.ko", &[]),
            ("kernel/drivers/virtio/virtio_pci_legacy_dev.ko", &[]),
            (
                "kernel/drivers/virtio/virtio_pci.ko",
                &[
                    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
                    "kernel/drivers/virtio/virtio_ring.ko",
                    "kernel/drivers/virtio/virtio.ko",
                ],
            ),
            (
                "kernel/drivers/block/virtio_blk.ko",
                &[
                    "kernel/drivers/virtio/virtio_ring.ko",
                    "kernel/drivers/virtio/virtio.ko",
                ],
            ),
            ("kernel/lib/crc16.ko", &[]),
            ("kernel/fs/mbcache.ko", &[]),
            ("kernel/fs/jbd2/jbd2.ko", &[]),
            ("kernel/crypto/crc32c_generic.ko", &[]),
            ("kernel/arch/x86/crypto/crc32c-intel.ko", &[]),
            (
                "kernel/fs/ext4/ext4.ko",
                &[
                    "kernel/lib/crc16.ko",
                    "kernel/fs/mbcache.ko",
                    "kernel/fs/jbd2/jbd2.ko",
                ],
            ),
            ("kernel/drivers/scsi/scsi_mod.ko", &[]),
            (
                "kernel/drivers/usb/storage/usb-storage.ko",
                &["kernel/drivers/scsi/scsi_mod.ko"],
            ),
            ("kernel/fs/fat/fat.ko", &[]),
            ("kernel/fs/fat/vfat.ko", &["kernel/fs/fat/fat.ko"]),
            ("kernel/fs/nls/nls_cp437.ko", &[]),
            ("kernel/drivers/net/e1000/e1000.ko", &[]),
        ],
        "# Soft dependencies extracted from modules themselves.\nsoftdep ext4 pre: crc32c\nsoftdep usb_storage post: uas_missing\n",
        "# Aliases extracted from modules themselves.\n\
         alias crypto-crc32c crc32c_generic\nalias crc32c crc32c_generic\nalias crc32c crc32c_intel\n\
         alias fs-vfat vfat\nalias pci:v00001AF4d00001001sv*sd*bc*sc*i* virtio_blk\n\
         alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\nalias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\n\
         alias fs-isofs isofs\n",
        "kernel/fs/isofs/isofs.ko\nkernel/drivers/ata/libata.ko\n",
    );
}

#[test]
fn closure_follows_deps_softdeps_through_aliases_and_dash_underscore() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("6.1.0-27-amd64");
    debian_like(&root);
    let m = ModulesDir::open(&root).unwrap();
    assert_eq!(m.version, "6.1.0-27-amd64");
    let c = m.closure(&[
        "virtio_blk",
        "ext4",
        "usb-storage",
        "fs-vfat",
        "isofs",
        "libata",
        "ice",
    ]);
    assert_eq!(
        c.modules,
        [
            "crc16",
            "crc32c_generic",
            "crc32c_intel",
            "ext4",
            "fat",
            "jbd2",
            "mbcache",
            "scsi_mod",
            "usb_storage",
            "vfat",
            "virtio",
            "virtio_blk",
            "virtio_ring"
        ]
    );
    assert_eq!(c.builtin, ["isofs", "libata"]);
    assert_eq!(c.missing, ["ice"]);
}

#[test]
fn filtered_indexes_mention_only_included_modules() {
    let dir = tempfile::tempdir().unwrap();
    debian_like(dir.path());
    let m = ModulesDir::open(dir.path()).unwrap();
    let c = m.closure(&["virtio_blk"]);
    let included: BTreeSet<String> = c.modules.into_iter().collect();
    assert_eq!(
        m.filtered_dep(&included),
        "kernel/drivers/virtio/virtio.ko:\n\
         kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
         kernel/drivers/virtio/virtio_ring.ko:\n"
    );
    let alias = m.filtered_alias(&included);
    assert!(
        alias.contains("alias pci:v00001AF4d00001001sv*sd*bc*sc*i* virtio_blk\n"),
        "{alias}"
    );
    assert!(!alias.contains("e1000"), "{alias}");
}

#[test]
fn finds_the_version_directory_below_a_root_and_refuses_ambiguity() {
    let dir = tempfile::tempdir().unwrap();
    debian_like(&dir.path().join("lib/modules/6.1.0-27-amd64"));
    assert!(
        find_modules_dir(dir.path())
            .unwrap()
            .ends_with("6.1.0-27-amd64")
    );
    debian_like(&dir.path().join("lib/modules/6.1.0-28-amd64"));
    let err = find_modules_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("6.1.0-27-amd64, 6.1.0-28-amd64"), "{err}");
    let err = ModulesDir::open(&dir.path().join("nothing"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a kernel modules directory"), "{err}");
}

#[test]
fn a_malformed_dep_line_is_reported_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("modules.dep"),
        "kernel/a.ko:\nkernel/b.ko kernel/a.ko\n",
    )
    .unwrap();
    let err = ModulesDir::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("modules.dep:2: expected `MODULE.ko: DEP.ko ...`"),
        "{err}"
    );
}

#[test]
fn names_of_compressed_modules() {
    assert_eq!(
        module_name("kernel/drivers/usb/storage/usb-storage.ko.zst"),
        "usb_storage"
    );
    assert_eq!(module_name("kernel/fs/xfs/xfs.ko.xz"), "xfs");
    assert_eq!(module_name("ext4.ko"), "ext4");
}

#[test]
fn modinfo_firmware_entries_are_read_from_a_real_elf_object() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("m.c");
    std::fs::write(
        &c,
        "__attribute__((section(\".modinfo\"), used)) static const char a[] = \"license=GPL\";\n\
         __attribute__((section(\".modinfo\"), used)) static const char b[] = \"firmware=e100/d101m_ucode.bin\";\n\
         __attribute__((section(\".modinfo\"), used)) static const char d[] = \"firmware=rtl_nic/rtl8168g-2.fw\";\n",
    )
    .unwrap();
    let ko = dir.path().join("m.ko");
    let ok = std::process::Command::new("cc")
        .arg("-c")
        .arg(&c)
        .arg("-o")
        .arg(&ko)
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED modinfo test: no C compiler");
        return;
    }
    let bytes = std::fs::read(&ko).unwrap();
    assert_eq!(
        modinfo(&bytes, "firmware"),
        ["e100/d101m_ucode.bin", "rtl_nic/rtl8168g-2.fw"]
    );
    assert_eq!(modinfo(&bytes, "license"), ["GPL"]);
    assert!(modinfo(b"not elf", "firmware").is_empty());
}
