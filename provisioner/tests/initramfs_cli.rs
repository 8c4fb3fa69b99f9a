//! `kickstand initramfs build` as an operator runs it: the real binary on the real Debian
//! kernel (harness cache), and its refusal of a mismatched kernel.

use std::path::{Path, PathBuf};
use std::process::Command;

fn kickstand() -> PathBuf {
    std::env::var_os("KICKSTAND_BIN_DIR")
        .map(|d| PathBuf::from(d).join("kickstand"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kickstand")))
}

/// The Debian kernel from the harness cache (`cargo xtask assets`), if present.
fn cached_kernel() -> Option<(PathBuf, PathBuf)> {
    let home = std::env::var_os("KICKSTAND_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/kickstand")))?;
    let root = std::fs::read_dir(home.join("kernel"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("root"))
        .find(|p| p.is_dir())?;
    let vmlinuz = std::fs::read_dir(root.join("boot"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })?;
    Some((vmlinuz, root.join("lib/modules")))
}

#[test]
fn builds_from_the_debian_kernel_and_refuses_a_mismatched_one() {
    let Some((vmlinuz, modules)) = cached_kernel() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Debian kernel asset must be cached under CI (cargo xtask assets)"
        );
        eprintln!("SKIPPED: no cached Debian kernel; run `cargo xtask assets`");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("initramfs.img");
    let ks = dir.path().join("ks.cfg");
    std::fs::write(&ks, "reboot\n").unwrap();
    let run = Command::new(kickstand())
        .args([
            "initramfs",
            "build",
            "--installer",
            "/bin/busybox",
            "--tools",
            "mkfs.ext4,busybox",
        ])
        .args(["--modules", "virtio_blk,ext4"])
        .arg("--output")
        .arg(&out)
        .arg("--kernel-modules")
        .arg(&modules)
        .arg("--kernel")
        .arg(&vmlinuz)
        .arg("--kickstart")
        .arg(&ks)
        .args(["--compress", "xz"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("kernel modules") && stdout.contains("compressed"),
        "{stdout}"
    );
    let xz = std::fs::read(&out).unwrap();
    assert_eq!(&xz[..6], b"\xfd7zXZ\0");

    // A kernel whose header says another version.
    let fake = dir.path().join("vmlinuz-other");
    let mut img = vec![0u8; 0x1000];
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x20e..0x210].copy_from_slice(&0x600u16.to_le_bytes());
    img[0x800..0x80e].copy_from_slice(b"5.10.0-0-amd64");
    std::fs::write(&fake, img).unwrap();
    let run = Command::new(kickstand())
        .args([
            "initramfs",
            "build",
            "--installer",
            "/bin/busybox",
            "--tools",
            "busybox",
        ])
        .arg("--output")
        .arg(dir.path().join("other.img"))
        .arg("--kernel-modules")
        .arg(&modules)
        .arg("--kernel")
        .arg(&fake)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("5.10.0-0-amd64") && stderr.contains("are for 6.1.0-"),
        "{stderr}"
    );
    assert!(!dir.path().join("other.img").exists());
}
