//! The tiny test image: its layout and contents, its reproducibility, its module load order,
//! and (as root) that the image's own grub-mkimage runs in it.

use kickstand_oci::Layout;
use qemu_harness::gate;
use qemu_harness::images::tiny;
use qemu_harness::images::unpack;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Every entry of every layer: path → (layer index, entry type, link target).
fn entries(layout: &Path) -> BTreeMap<String, (usize, tar::EntryType, String)> {
    let layout = Layout::open(layout).unwrap();
    let image = layout.resolve(Some(tiny::TAG)).unwrap();
    let mut out = BTreeMap::new();
    for (i, desc) in image.layers().iter().enumerate() {
        let mut stream = layout.open_layer(desc).unwrap();
        let mut archive = tar::Archive::new(&mut stream);
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let path = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(path, (i, e.header().entry_type(), link));
        }
        // Reading to the end checks the layer's digest.
        std::io::copy(&mut stream, &mut std::io::sink()).unwrap();
    }
    out
}

#[test]
fn the_tiny_image_holds_what_the_image_contract_needs() {
    let image = tiny::tiny().expect("building the tiny image");
    let layout = Layout::open(&image.layout).unwrap();
    let resolved = layout.resolve(Some(tiny::TAG)).unwrap();
    assert_eq!(resolved.layers().len(), 2);
    assert_eq!(
        resolved.label("org.kickstand.kernel"),
        Some(image.kernel_version.as_str())
    );
    assert_eq!(
        resolved.label("containers.bootc"),
        None,
        "the tiny image is not a bootc image"
    );

    let e = entries(&image.layout);
    use tar::EntryType as T;
    let kver = &image.kernel_version;
    for file in [
        format!("usr/lib/modules/{kver}/vmlinuz"),
        format!("usr/lib/modules/{kver}/initramfs.img"),
        "usr/lib/systemd/boot/efi/systemd-bootx64.efi".into(),
        "usr/lib/grub/i386-pc/boot.img".into(),
        "usr/lib/grub/i386-pc/normal.mod".into(),
        "usr/bin/grub-mkimage".into(),
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
        "usr/lib/x86_64-linux-gnu/libc.so.6".into(),
        "usr/bin/busybox".into(),
        "etc/passwd".into(),
        "usr/lib/kickstand/boot-report".into(),
    ] {
        assert!(
            matches!(e.get(&file), Some((_, T::Regular, _))),
            "{file}: {:?}",
            e.get(&file)
        );
    }
    assert_eq!(e["sbin"], (0, T::Symlink, "usr/sbin".into()));
    assert_eq!(e["var/run"], (0, T::Symlink, "/run".into()));
    assert_eq!(e["usr/bin/sh"], (0, T::Symlink, "busybox".into()));
    assert_eq!(e["dev/console"].1, T::Char);
    assert_eq!(
        e["usr/sbin/init"],
        (1, T::Link, "usr/lib/kickstand/boot-report".into())
    );
    assert!(e.contains_key("etc/kickstand/removed-by-whiteout"));
    assert_eq!(e["etc/kickstand/.wh.removed-by-whiteout"].0, 1);
    assert_eq!(e["usr/share/kickstand/opaque/.wh..wh..opq"].0, 1);
    assert!(
        !e.contains_key("usr/sbin/busybox"),
        "no init applet may shadow /sbin/init"
    );
    assert!(!e.contains_key("etc/fstab"), "the installer writes fstab");
}

#[test]
fn building_the_tiny_image_twice_gives_the_same_digests() {
    let kernel = qemu_harness::debian_kernel().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = Instant::now();
    tiny::build(&kernel, &a.path().join("l")).unwrap();
    eprintln!("tiny image built in {:.1}s", start.elapsed().as_secs_f64());
    tiny::build(&kernel, &b.path().join("l")).unwrap();
    let index = |d: &Path| std::fs::read(d.join("l/index.json")).unwrap();
    assert_eq!(
        index(a.path()),
        index(b.path()),
        "index.json (and so the manifest digest) differ"
    );
    let cached = tiny::tiny().unwrap();
    assert_eq!(
        index(a.path()),
        std::fs::read(cached.layout.join("index.json")).unwrap()
    );
}

#[test]
fn the_initramfs_loads_modules_in_dependency_order() {
    let kernel = qemu_harness::debian_kernel().unwrap();
    let order = qemu_harness::images::initramfs::load_order(
        &kernel.modules_dir,
        qemu_harness::images::initramfs::MODULES,
    )
    .unwrap();
    let pos = |name: &str| {
        order
            .iter()
            .position(|p| p.ends_with(&format!("/{name}.ko")))
            .unwrap_or_else(|| panic!("{name} not in {order:?}"))
    };
    assert!(pos("virtio_pci") < pos("virtio_blk"));
    assert!(pos("virtio_ring") < pos("virtio_pci"));
    assert!(pos("crc32c_generic") < pos("ext4"));
    assert!(pos("jbd2") < pos("ext4"));
    assert!(pos("libcrc32c") < pos("xfs"));
    assert!(pos("nvme-core") < pos("nvme"));
    assert!(pos("libahci") < pos("ahci"));
    assert!(pos("fat") < pos("vfat"));
}

#[test]
fn grub_mkimage_runs_inside_the_unpacked_image() {
    if !gate::root_test("grub_mkimage_runs_inside_the_unpacked_image") {
        return;
    }
    let image = tiny::tiny().unwrap();
    let root = tempfile::tempdir().unwrap();
    unpack::unpack_layout(&image.layout, Some(tiny::TAG), root.path()).unwrap();
    assert!(
        !root
            .path()
            .join("etc/kickstand/removed-by-whiteout")
            .exists()
    );
    let core = root.path().join("tmp/core.img");
    let out = Command::new("chroot")
        .arg(root.path())
        .args([
            "/usr/bin/grub-mkimage",
            "-O",
            "i386-pc",
            "-d",
            "/usr/lib/grub/i386-pc",
            "-p",
            "(hd0,gpt2)/boot/grub",
            "-o",
            "/tmp/core.img",
            "biosdisk",
            "part_gpt",
            "ext2",
            "normal",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "grub-mkimage in the image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(core).unwrap().len() > 20_000);
}
