//! Unpacking layers into a target root: whiteouts, links, special files, metadata, and hostile
//! layers that try to write, link or delete outside the target.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::LayerBuilder;
use kickstand_oci::root::Root;
use kickstand_oci::unpack::{UnpackError, UnpackOptions, Unpacker};

/// A target root next to an "outside" directory that hostile layers aim at.
struct Fixture {
    _tmp: tempfile::TempDir,
    target: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&target).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"host data").unwrap();
        Fixture {
            _tmp: tmp,
            target,
            outside,
        }
    }

    fn unpack(&self, layers: &[Vec<u8>]) -> Result<(), UnpackError> {
        let root = Root::open(&self.target).unwrap();
        let mut u = Unpacker::new(&root, UnpackOptions::default());
        for l in layers {
            u.unpack_layer(&l[..])?;
        }
        Ok(())
    }

    fn t(&self, rel: &str) -> PathBuf {
        self.target.join(rel)
    }

    /// The outside directory holds exactly its one untouched file.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec!["secret"],
            "something was written outside the target"
        );
        let meta = fs::metadata(self.outside.join("secret")).unwrap();
        assert_eq!(meta.nlink(), 1, "the outside file got a hard link");
        assert_eq!(fs::read(self.outside.join("secret")).unwrap(), b"host data");
    }
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

#[test]
fn whiteouts_remove_lower_entries() {
    let f = Fixture::new();
    let l1 = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .dir("data/x", 0o755)
        .file("data/x/y", b"y")
        .symlink("data/link", "/etc/b")
        .build();
    let l2 = LayerBuilder::new()
        .file("etc/.wh.a", b"")
        .file("data/.wh.x", b"")
        .file("data/.wh.link", b"")
        .file("etc/.wh.never-existed", b"")
        .file("missing-dir/.wh.z", b"")
        .build();
    f.unpack(&[l1, l2]).unwrap();
    assert!(!exists(&f.t("etc/a")));
    assert_eq!(fs::read(f.t("etc/b")).unwrap(), b"b");
    assert!(!exists(&f.t("data/x")));
    assert!(!exists(&f.t("data/link")));
    assert!(
        !exists(&f.t("etc/.wh.a")),
        "whiteout markers are not unpacked"
    );
}

#[test]
fn opaque_directories_hide_lower_content_but_keep_their_own() {
    let f = Fixture::new();
    let l1 = LayerBuilder::new()
        .dir("d", 0o755)
        .file("d/old", b"1")
        .dir("d/sub", 0o755)
        .file("d/sub/old2", b"2")
        .file("keep", b"k")
        .build();
    // The layer's own entry comes before the marker: it must survive.
    let l2 = LayerBuilder::new()
        .dir("d", 0o755)
        .file("d/new-before", b"n")
        .file("d/.wh..wh..opq", b"")
        .file("d/new-after", b"m")
        .build();
    f.unpack(&[l1, l2]).unwrap();
    let mut names: Vec<_> = fs::read_dir(f.t("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["new-after", "new-before"]);
    assert!(exists(&f.t("keep")));
}

#[test]
fn hard_links_share_an_inode_and_symlinks_are_kept_verbatim() {
    let f = Fixture::new();
    let l = LayerBuilder::new()
        .dir("usr/bin", 0o755)
        .file_with("usr/bin/tool", b"#!/bin/sh\n", 0o755, 0, 0)
        .hardlink("usr/bin/tool-alias", "usr/bin/tool")
        .hardlink("usr/bin/abs-alias", "/usr/bin/tool")
        .symlink("bin", "usr/bin")
        .symlink("usr/bin/abs", "/usr/bin/tool")
        .build();
    f.unpack(&[l]).unwrap();
    let a = fs::metadata(f.t("usr/bin/tool")).unwrap();
    let b = fs::metadata(f.t("usr/bin/tool-alias")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 3);
    assert_eq!(a.mode() & 0o7777, 0o755);
    assert_eq!(a.mtime(), 1_700_000_000);
    assert_eq!(
        fs::read_link(f.t("usr/bin/abs")).unwrap(),
        Path::new("/usr/bin/tool")
    );
    assert_eq!(fs::read_link(f.t("bin")).unwrap(), Path::new("usr/bin"));
}

#[test]
fn absolute_symlinks_are_resolved_inside_the_target() {
    let f = Fixture::new();
    let outside = f.outside.to_str().unwrap().to_string();
    let l = LayerBuilder::new()
        .dir("run", 0o755)
        .dir("var", 0o755)
        .symlink("var/run", "/run")
        .file("var/run/pidfile", b"1")
        // Both point at the host's outside directory, as absolute and as relative paths;
        // inside the target those paths exist too.
        .dir(&outside[1..], 0o755)
        .dir("outside", 0o755)
        .symlink("abs", &outside)
        .file("abs/pwned", b"x")
        .symlink("rel", "../../../../../../../../outside")
        .file("rel/pwned", b"x")
        .build();
    f.unpack(&[l]).unwrap();
    assert_eq!(fs::read(f.t("run/pidfile")).unwrap(), b"1");
    // Inside the target, where the installed system will see them.
    assert!(exists(&f.t(&format!("{}/pwned", &outside[1..]))));
    assert!(exists(&f.t("outside/pwned")));
    f.assert_outside_untouched();
}

#[test]
fn writing_through_a_symlink_that_dangles_inside_the_target_is_refused() {
    for link in [None, Some("../../../../../../outside")] {
        let f = Fixture::new();
        let target = link
            .map(str::to_string)
            .unwrap_or_else(|| f.outside.to_str().unwrap().into());
        let l = LayerBuilder::new()
            .symlink("evil", &target)
            .file("evil/pwned", b"x")
            .build();
        let err = common::chain(&f.unpack(&[l]).unwrap_err());
        assert!(
            err.contains("evil/pwned") && err.contains("dangling"),
            "{err}"
        );
        f.assert_outside_untouched();
    }
}

#[test]
fn parent_components_are_refused() {
    for name in [
        "../../etc/passwd",
        "usr/../../outside/secret",
        "../outside/.wh.secret",
    ] {
        let f = Fixture::new();
        let l = LayerBuilder::new()
            .file(name, b"root::0:0::/:/bin/sh\n")
            .build();
        let err = f.unpack(&[l]).unwrap_err();
        assert!(
            matches!(err, UnpackError::Escape { .. }),
            "{name}: expected an escape error, got {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(".."), "{msg}");
        f.assert_outside_untouched();
    }
}

#[test]
fn hard_link_escapes_are_refused() {
    let f = Fixture::new();
    let l = LayerBuilder::new()
        .hardlink("stolen", "../outside/secret")
        .build();
    let err = f.unpack(&[l]).unwrap_err();
    assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
    f.assert_outside_untouched();

    // Through a symlink: the link target is looked up inside the target, where it is missing.
    let f = Fixture::new();
    let l = LayerBuilder::new()
        .symlink("evil", f.outside.to_str().unwrap())
        .hardlink("stolen", "evil/secret")
        .build();
    let err = f.unpack(&[l]).unwrap_err().to_string();
    assert!(err.contains("stolen"), "{err}");
    f.assert_outside_untouched();
}

#[test]
fn whiteouts_through_symlinks_stay_inside() {
    let f = Fixture::new();
    let outside = f.outside.to_str().unwrap().to_string();
    let l1 = LayerBuilder::new()
        .symlink("evil", &outside)
        .symlink("evil2", "../outside")
        .build();
    let l2 = LayerBuilder::new()
        .file("evil/.wh.secret", b"")
        .file("evil2/.wh.secret", b"")
        .file("evil/.wh..wh..opq", b"")
        .build();
    f.unpack(&[l1, l2]).unwrap();
    f.assert_outside_untouched();
}

#[test]
fn replacing_entries_never_follows_an_existing_symlink() {
    let f = Fixture::new();
    let secret = f.outside.join("secret");
    let l1 = LayerBuilder::new()
        .symlink("etc-passwd", secret.to_str().unwrap())
        .build();
    let l2 = LayerBuilder::new().file("etc-passwd", b"new").build();
    f.unpack(&[l1, l2]).unwrap();
    assert_eq!(fs::read(f.t("etc-passwd")).unwrap(), b"new");
    assert!(
        !fs::symlink_metadata(f.t("etc-passwd"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    f.assert_outside_untouched();
}

#[test]
fn a_later_layer_replaces_a_directory_with_a_file() {
    let f = Fixture::new();
    let l1 = LayerBuilder::new()
        .dir("x", 0o755)
        .file("x/y", b"1")
        .build();
    let l2 = LayerBuilder::new().file("x", b"now a file").build();
    f.unpack(&[l1, l2]).unwrap();
    assert_eq!(fs::read(f.t("x")).unwrap(), b"now a file");
}

#[test]
fn xattrs_and_fifos() {
    let f = Fixture::new();
    let l = LayerBuilder::new()
        .file_xattrs("tagged", b"t", &[("user.kickstand", b"yes")])
        .node("fifo", tar::EntryType::Fifo, 0, 0)
        .dir("ro", 0o555)
        .file("ro/inside", b"i")
        .build();
    f.unpack(&[l]).unwrap();
    let value = xattr_get(&f.t("tagged"), "user.kickstand");
    assert_eq!(value.as_deref(), Some(&b"yes"[..]));
    assert!(fs::metadata(f.t("fifo")).unwrap().file_type().is_fifo());
    assert_eq!(
        fs::metadata(f.t("ro")).unwrap().permissions().mode() & 0o777,
        0o555
    );
}

#[test]
fn device_nodes_owners_and_setuid() {
    if !qemu_harness::gate::root_test("device_nodes_owners_and_setuid") {
        return;
    }
    let f = Fixture::new();
    let l = LayerBuilder::new()
        .dir("dev", 0o755)
        .node("dev/null", tar::EntryType::Char, 1, 3)
        .node("dev/loop9", tar::EntryType::Block, 7, 9)
        .file_with("usr/bin/su", b"elf", 0o4755, 0, 0)
        .file_with("home/u/file", b"f", 0o640, 1234, 5678)
        .symlink("home/u/link", "file")
        .build();
    f.unpack(&[l]).unwrap();
    let null = fs::metadata(f.t("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    let lp = fs::metadata(f.t("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), libc::makedev(7, 9));
    let su = fs::metadata(f.t("usr/bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid survives chown");
    let file = fs::metadata(f.t("home/u/file")).unwrap();
    assert_eq!((file.uid(), file.gid()), (1234, 5678));
    assert_eq!(file.mode() & 0o7777, 0o640);
}

#[test]
fn running_out_of_space_names_the_sizes() {
    if !qemu_harness::gate::root_test("running_out_of_space_names_the_sizes") {
        return;
    }
    let f = Fixture::new();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&f.target)
        .status()
        .unwrap();
    assert!(status.success());
    let big = vec![7u8; 3 << 20];
    let l = LayerBuilder::new().file("big", &big).build();
    let err = f.unpack(&[l]);
    std::process::Command::new("umount")
        .arg(&f.target)
        .status()
        .unwrap();
    let err = err.unwrap_err();
    assert!(matches!(err, UnpackError::NoSpace { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("full") && msg.contains("1.0 MiB total") && msg.contains("big"),
        "{msg}"
    );
}

fn xattr_get(path: &Path, key: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let k = CString::new(key).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and buffer.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

#[test]
fn empty_numeric_fields_read_as_zero() {
    let f = Fixture::new();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    let l = LayerBuilder::new().raw(h, "no-owner", None, b"x").build();
    f.unpack(&[l]).unwrap();
    assert_eq!(fs::read(f.t("no-owner")).unwrap(), b"x");
}
