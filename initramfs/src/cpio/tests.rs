//! The writer checked against Debian's GNU cpio as the independent reader.

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::{Command, Stdio};

const MTIME: u64 = 1_700_000_000;

fn sample(host_file: &Path) -> Archive {
    let mut a = Archive::new();
    a.add_bytes("etc/motd", 0o644, b"hello\n".to_vec()).unwrap();
    a.add_file("usr/bin/tool", 0o755, host_file).unwrap();
    a.add_hard_link("usr/sbin/tool-alias", "usr/bin/tool")
        .unwrap();
    a.add_symlink("bin", "usr/bin").unwrap();
    a.add_char_dev("dev/console", 0o600, 5, 1).unwrap();
    a.add_block_dev("dev/vda", 0o660, 253, 0).unwrap();
    a.add_dir("tmp", 0o1777).unwrap();
    a
}

fn written(a: &Archive) -> Vec<u8> {
    let mut out = Vec::new();
    let n = a.write_to(&mut out, MTIME).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

fn cpio(args: &[&str], input: &[u8], cwd: &Path) -> String {
    let mut child = Command::new("cpio")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cpio (Debian package cpio) must be installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cpio {args:?} failed: {stderr}");
    // GNU cpio prints its listing on stdout for -t and file names on stderr for -v extraction.
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr)
}

fn host_file(dir: &Path) -> PathBuf {
    let p = dir.join("tool-source");
    // Odd length, so padding after the data is exercised.
    std::fs::write(&p, vec![0xabu8; 4097]).unwrap();
    p
}

#[test]
fn gnu_cpio_lists_every_entry_sorted_with_parents_first() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = written(&sample(&host_file(dir.path())));
    let listing = cpio(&["-it", "--quiet"], &bytes, dir.path());
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(
        names,
        [
            "bin",
            "dev",
            "dev/console",
            "dev/vda",
            "etc",
            "etc/motd",
            "tmp",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "usr/sbin",
            "usr/sbin/tool-alias"
        ]
    );
}

#[test]
fn gnu_cpio_extracts_files_links_and_devices_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = host_file(dir.path());
    let bytes = written(&sample(&src));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    cpio(
        &["-idm", "--quiet", "--no-absolute-filenames"],
        &bytes,
        &out,
    );

    assert_eq!(std::fs::read(out.join("etc/motd")).unwrap(), b"hello\n");
    assert_eq!(
        std::fs::read(out.join("usr/bin/tool")).unwrap(),
        std::fs::read(&src).unwrap()
    );
    let tool = std::fs::metadata(out.join("usr/bin/tool")).unwrap();
    let alias = std::fs::metadata(out.join("usr/sbin/tool-alias")).unwrap();
    assert_eq!(tool.ino(), alias.ino(), "hard link extracted as a copy");
    assert_eq!(tool.nlink(), 2);
    assert_eq!(tool.mode() & 0o7777, 0o755);
    assert_eq!(tool.mtime() as u64, MTIME);
    assert_eq!(
        std::fs::read_link(out.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        std::fs::metadata(out.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );

    if nix_is_root() {
        let console = std::fs::metadata(out.join("dev/console")).unwrap();
        assert!(console.file_type().is_char_device());
        assert_eq!(console.rdev(), libc_makedev(5, 1));
        let vda = std::fs::metadata(out.join("dev/vda")).unwrap();
        assert!(vda.file_type().is_block_device());
        assert_eq!(vda.rdev(), libc_makedev(253, 0));
    } else {
        eprintln!("device node checks SKIPPED: not root (cpio cannot mknod)");
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// glibc's `makedev` encoding.
fn libc_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

#[test]
fn the_same_entries_in_any_order_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = host_file(dir.path());
    let a = written(&sample(&src));
    let mut b = Archive::new();
    b.add_dir("tmp", 0o1777).unwrap();
    b.add_block_dev("dev/vda", 0o660, 253, 0).unwrap();
    b.add_symlink("bin", "usr/bin").unwrap();
    b.add_file("usr/bin/tool", 0o755, &src).unwrap();
    b.add_char_dev("dev/console", 0o600, 5, 1).unwrap();
    b.add_hard_link("usr/sbin/tool-alias", "usr/bin/tool")
        .unwrap();
    b.add_bytes("etc/motd", 0o644, b"hello\n".to_vec()).unwrap();
    assert_eq!(a, written(&b));
}

#[test]
fn headers_are_newc_aligned_and_end_with_the_trailer() {
    let mut a = Archive::new();
    a.add_bytes("a", 0o644, b"xyz".to_vec()).unwrap();
    let out = written(&a);
    assert_eq!(&out[..6], b"070701");
    assert_eq!(out.len() % 4, 0);
    // Header (110) + "a\0" (2) = 112, data 3 + pad 1 = 116, then the trailer header.
    assert_eq!(&out[116..122], b"070701");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("TRAILER!!!"));
    // mtime field of the first header: fields start at 6, 8 hex digits each, mtime is the 6th.
    assert_eq!(
        &out[6 + 5 * 8..6 + 6 * 8],
        format!("{MTIME:08X}").as_bytes()
    );
}

#[test]
fn bad_paths_conflicts_and_non_directory_parents_are_refused() {
    let mut a = Archive::new();
    assert!(matches!(
        a.add_bytes("../etc/x", 0o644, vec![]),
        Err(CpioError::BadPath(_))
    ));
    assert!(matches!(
        a.add_bytes("/", 0o644, vec![]),
        Err(CpioError::BadPath(_))
    ));
    a.add_bytes("etc/x", 0o644, b"1".to_vec()).unwrap();
    a.add_bytes("etc/x", 0o644, b"1".to_vec()).unwrap(); // identical: fine
    let err = a.add_bytes("etc/x", 0o644, b"2".to_vec()).unwrap_err();
    assert!(
        err.to_string()
            .contains("different contents (a regular file)"),
        "{err}"
    );
    let err = a.add_bytes("etc/x/y", 0o644, vec![]).unwrap_err();
    assert!(matches!(err, CpioError::ParentNotDir { .. }), "{err}");
    assert!(matches!(
        a.add_hard_link("l", "etc"),
        Err(CpioError::BadLinkTarget { .. })
    ));
    assert_eq!(normalize("/usr//bin/").unwrap(), "usr/bin");
}

#[test]
fn a_file_that_shrank_after_being_added_fails_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, b"0123456789").unwrap();
    let mut a = Archive::new();
    a.add_file("f", 0o644, &p).unwrap();
    std::fs::write(&p, b"01").unwrap();
    let err = a.write_to(Vec::new(), 0).unwrap_err();
    assert!(
        err.to_string().contains("shrank from 10 to 2 bytes"),
        "{err}"
    );
}
