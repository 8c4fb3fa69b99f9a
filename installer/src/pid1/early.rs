//! The first things PID 1 does: the API file systems and the console.
//!
//! Nothing here is fatal: a mount that fails is reported and the boot goes on, so the error
//! that follows (no disks, no network) is shown on a working console rather than lost.

use nix::mount::{MsFlags, mount};
use std::os::fd::AsRawFd;
use std::path::Path;

/// `(source, target, fstype, flags, data)` in mount order.
const MOUNTS: &[(&str, &str, &str, MsFlags, &str)] = &[
    ("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, ""),
    ("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, ""),
    (
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MsFlags::MS_NOSUID,
        "mode=0755",
    ),
    (
        "devpts",
        "/dev/pts",
        "devpts",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        "gid=5,mode=0620,ptmxmode=0666",
    ),
    (
        "tmpfs",
        "/dev/shm",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=1777",
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=0755",
    ),
    (
        "tmpfs",
        "/tmp",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=1777",
    ),
];

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Mounts `/proc /sys /dev /dev/pts /dev/shm /run /tmp` (and efivarfs on UEFI machines) and
/// adds the `/dev/fd`, `/dev/std*` links devtmpfs lacks. Returns what failed.
pub fn mount_all() -> Vec<String> {
    let mut problems = Vec::new();
    for (source, target, fstype, flags, data) in MOUNTS {
        if let Err(e) = std::fs::create_dir_all(target) {
            problems.push(format!("cannot create {target}: {e}"));
            continue;
        }
        let data = (!data.is_empty()).then_some(*data);
        match mount(Some(*source), *target, Some(*fstype), *flags, data) {
            // Already mounted (the kernel mounts devtmpfs itself with CONFIG_DEVTMPFS_MOUNT).
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => problems.push(format!("cannot mount {fstype} on {target}: {e}")),
        }
    }
    if Path::new("/sys/firmware/efi/efivars").is_dir() {
        let _ = mount(
            Some("efivarfs"),
            "/sys/firmware/efi/efivars",
            Some("efivarfs"),
            NOSUID_NODEV_NOEXEC,
            None::<&str>,
        );
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, link);
    }
    // The kernel runs this for request_module() (fs-xfs, crypto-crc32c): busybox's modprobe
    // reads the initramfs's modules.dep and modules.alias.
    if Path::new("/usr/sbin/modprobe").exists() {
        let _ = std::fs::write("/proc/sys/kernel/modprobe", "/usr/sbin/modprobe\n");
    }
    problems
}

/// Makes stdin, stdout and stderr the console when the kernel could not open it for `/init`
/// (no `/dev/console` before devtmpfs was mounted). The kernel already points `/dev/console`
/// at the last `console=`.
pub fn console() {
    // SAFETY: F_GETFD only asks whether descriptor 1 is open.
    let stdout_ok = unsafe { libc::fcntl(1, libc::F_GETFD) } != -1;
    if stdout_ok {
        return;
    }
    if let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors, which are closed.
            unsafe {
                libc::dup2(console.as_raw_fd(), fd);
            }
        }
    }
}
