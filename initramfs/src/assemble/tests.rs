//! Whole builds from real host tools and a synthetic modules tree, read back with the real
//! decompressors and GNU cpio.

use super::*;
use std::process::{Command, Stdio};

fn spec(dir: &Path) -> Spec {
    let modules = dir.join("lib/modules/6.1.0-27-amd64");
    crate::modules::tests::debian_like(&modules);
    let ks = dir.join("ks.cfg");
    std::fs::write(&ks, "text\nreboot\n").unwrap();
    // busybox is static, like a release installer; it stands in for kickstand-installer.
    let mut spec = Spec::new(
        PathBuf::from("/bin/busybox"),
        dir.to_path_buf(),
        &["mkfs.ext4", "mkfs.vfat", "busybox", "no-such-tool"],
    );
    spec.kickstart = Some(ks);
    spec
}

/// `cpio -itv` of a compressed image: `(mode string, path, link target)` per entry.
fn list(image: &Path, compression: Compression) -> Vec<(String, String, String)> {
    let decompressed = match compression {
        Compression::None => std::fs::read(image).unwrap(),
        c => {
            let tool = match c {
                Compression::Zstd => "zstd",
                Compression::Gzip => "gzip",
                _ => "xz",
            };
            let out = Command::new(tool).arg("-dc").arg(image).output().unwrap();
            assert!(out.status.success(), "{tool} -dc failed");
            out.stdout
        }
    };
    let mut child = Command::new("cpio")
        .args(["-itv", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&decompressed).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // mode links owner group size|major,minor month day year|time name [-> target]
            let arrow = f.iter().position(|w| *w == "->");
            let name_at = arrow.map(|a| a - 1).unwrap_or(f.len() - 1);
            let target = arrow.map(|a| f[a + 1].to_string()).unwrap_or_default();
            (f[0].to_string(), f[name_at].to_string(), target)
        })
        .collect()
}

#[test]
fn a_build_holds_init_tools_libraries_busybox_modules_and_the_kickstart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let (archive, mut contents) = assemble(&spec).unwrap();
    let out = dir.path().join("initramfs.img");
    let written = write_image(&archive, Compression::Zstd, 0, &out).unwrap();
    contents.uncompressed_size = written.uncompressed;
    contents.compressed_size = written.compressed;
    assert_eq!(std::fs::metadata(&out).unwrap().len(), written.compressed);

    let entries = list(&out, Compression::Zstd);
    let find = |p: &str| {
        entries
            .iter()
            .find(|(_, path, _)| path == p)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert!(find("init").0.starts_with("-rwxr-xr-x"));
    assert!(find("ks.cfg").0.starts_with("-rw-------"));
    assert!(find("dev/console").0.starts_with("crw-------"));
    assert_eq!(find("bin").2, "usr/bin");
    assert_eq!(find("lib64").2, "usr/lib64");
    find("usr/sbin/mkfs.ext4");
    find("usr/sbin/mkfs.vfat");
    find("usr/lib64/ld-linux-x86-64.so.2");
    find("usr/lib/x86_64-linux-gnu/libext2fs.so.2");
    find("usr/lib/x86_64-linux-gnu/libc.so.6");
    find("etc/mke2fs.conf");
    find("usr/lib/modules/6.1.0-27-amd64/kernel/fs/ext4/ext4.ko");
    find("usr/lib/modules/6.1.0-27-amd64/kernel/crypto/crc32c_generic.ko");
    find("usr/lib/modules/6.1.0-27-amd64/modules.alias");
    find("usr/lib/modules/6.1.0-27-amd64/modules.builtin");
    assert_eq!(find("usr/bin/sh").2, "/usr/bin/busybox");
    // The installer and busybox are the same host file here: one copy, hard-linked.
    assert!(find("usr/bin/busybox").0.starts_with('-'));
    assert!(contents.applets > 100, "{contents}");

    let text = contents.to_string();
    assert!(
        text.contains("initramfs for kernel 6.1.0-27-amd64"),
        "{text}"
    );
    assert!(text.contains("tool no-such-tool not found"), "{text}");
    assert!(text.contains("module ice is not in"), "{text}");
    assert!(!text.contains("dynamically linked"), "{text}");
}

#[test]
fn every_compression_gives_an_image_the_reference_tools_read() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = assemble(&spec(dir.path())).unwrap();
    for c in [Compression::Gzip, Compression::Xz, Compression::None] {
        let out = dir.path().join(format!("initramfs.{c}"));
        write_image(&archive, c, 0, &out).unwrap();
        assert!(list(&out, c).iter().any(|(_, p, _)| p == "init"), "{c}");
    }
}

#[test]
fn two_builds_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    write_image(
        &assemble(&spec).unwrap().0,
        Compression::Zstd,
        1_700_000_000,
        &a,
    )
    .unwrap();
    write_image(
        &assemble(&spec).unwrap().0,
        Compression::Zstd,
        1_700_000_000,
        &b,
    )
    .unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn a_dynamic_installer_brings_its_libraries_and_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path());
    spec.installer = PathBuf::from("/usr/sbin/mkfs.xfs");
    let (_, contents) = assemble(&spec).unwrap();
    assert!(
        contents
            .warnings
            .iter()
            .any(|w| w.contains("dynamically linked")),
        "{contents}"
    );
}

#[test]
fn missing_inputs_are_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path());
    s.installer = dir.path().join("nope");
    assert!(
        assemble(&s)
            .unwrap_err()
            .to_string()
            .contains("does not exist (build it, or give --installer)")
    );
    let mut s = spec(dir.path());
    s.kickstart = Some(dir.path().join("missing.ks"));
    assert!(
        assemble(&s)
            .unwrap_err()
            .to_string()
            .contains("the kickstart")
    );
    let mut s = spec(dir.path());
    s.firmware_dir = Some(dir.path().join("nofw"));
    assert!(
        assemble(&s)
            .unwrap_err()
            .to_string()
            .contains("not a directory")
    );
}

#[test]
fn a_kernel_of_another_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path());
    let k = dir.path().join("vmlinuz");
    crate::kernel::tests::fake_bzimage(&k, "6.1.0-28-amd64");
    s.kernel = Some(k.clone());
    let err = assemble(&s).unwrap_err().to_string();
    assert!(
        err.contains("version 6.1.0-28-amd64") && err.contains("are for 6.1.0-27-amd64"),
        "{err}"
    );
    crate::kernel::tests::fake_bzimage(&k, "6.1.0-27-amd64");
    assemble(&s).unwrap();
}

#[test]
fn a_kernel_package_gives_a_matched_kernel_and_modules() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pkg");
    crate::modules::tests::debian_like(&root.join("lib/modules/6.1.0-99-amd64"));
    std::fs::create_dir_all(root.join("boot")).unwrap();
    crate::kernel::tests::fake_bzimage(&root.join("boot/vmlinuz-6.1.0-99-amd64"), "6.1.0-99-amd64");
    let deb = crate::kernel::tests::build_deb(&root, "linux-image-6.1.0-99-amd64");
    let pkg = crate::kernel::unpack_deb(&deb).unwrap();
    let mut s = Spec::new(PathBuf::from("/bin/busybox"), pkg.modules.clone(), &[]);
    s.kernel = Some(pkg.vmlinuz.clone());
    let (_, contents) = assemble(&s).unwrap();
    assert_eq!(contents.kernel_version, "6.1.0-99-amd64");
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut archive = Archive::new();
    let src = dir.path().join("src");
    std::fs::write(&src, vec![1u8; 1000]).unwrap();
    archive.add_file("f", 0o644, &src).unwrap();
    std::fs::write(&src, b"short").unwrap();
    let out = dir.path().join("out.img");
    assert!(write_image(&archive, Compression::Gzip, 0, &out).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(!out.exists() && leftovers == ["src"], "{leftovers:?}");
}

#[test]
fn host_paths_fold_into_usr() {
    assert_eq!(
        usr_path(Path::new("/lib64/ld-linux-x86-64.so.2")),
        "usr/lib64/ld-linux-x86-64.so.2"
    );
    assert_eq!(usr_path(Path::new("/sbin/mkfs.xfs")), "usr/sbin/mkfs.xfs");
    assert_eq!(usr_path(Path::new("/usr/bin/mcopy")), "usr/bin/mcopy");
    assert_eq!(usr_path(Path::new("/etc/mke2fs.conf")), "etc/mke2fs.conf");
    assert_eq!(usr_path(Path::new("/library/x")), "library/x");
}
