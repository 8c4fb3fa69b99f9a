//! Telling the kernel about new partitions: `BLKRRPART` where the driver rescans, otherwise
//! `BLKPG` add/delete (what `partx` does; loop devices here have no partition scanning), then
//! waiting for the device nodes — made by devtmpfs, or by us with mknod when there is none.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BLKPG_ADD_PARTITION: libc::c_int = 1;
const BLKPG_DEL_PARTITION: libc::c_int = 2;

#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [libc::c_char; 64],
    volname: [libc::c_char; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

nix::ioctl_write_ptr_bad!(blkpg_ioctl, 0x1269, BlkpgIoctlArg);
nix::ioctl_none!(blkrrpart, 0x12, 95);
nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);

fn blkpg(disk: &File, op: libc::c_int, number: u32, start: u64, length: u64) -> nix::Result<()> {
    let mut part = BlkpgPartition {
        start: start as libc::c_longlong,
        length: length as libc::c_longlong,
        pno: number as libc::c_int,
        devname: [0; 64],
        volname: [0; 64],
    };
    let arg = BlkpgIoctlArg {
        op,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: (&raw mut part).cast(),
    };
    // SAFETY: `arg` points at a valid blkpg_partition for the duration of the call.
    unsafe { blkpg_ioctl(disk.as_raw_fd(), &arg) }.map(drop)
}

/// Size of a block device in bytes.
pub fn device_size(disk: &File) -> Result<u64> {
    let mut size = 0u64;
    // SAFETY: BLKGETSIZE64 writes one u64.
    unsafe { blkgetsize64(disk.as_raw_fd(), &mut size) }.context("BLKGETSIZE64")?;
    Ok(size)
}

/// Partition numbers the kernel currently knows for `disk_name` (from sysfs).
pub fn kernel_partitions(disk_name: &str) -> Vec<u32> {
    let dir = Path::new("/sys/block").join(disk_name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("partition")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Removes every partition the kernel knows on `disk` (BLKPG), so no stale node stays behind.
pub fn forget_partitions(disk: &File, disk_name: &str) -> Result<()> {
    for number in kernel_partitions(disk_name) {
        blkpg(disk, BLKPG_DEL_PARTITION, number, 0, 0)
            .with_context(|| format!("removing the kernel's partition {number} of {disk_name}"))?;
    }
    Ok(())
}

/// Makes the kernel's view of `disk` match `partitions` (`(number, start, size)` in bytes)
/// and waits until each partition's device node exists. Returns the nodes in order.
pub fn announce(
    disk: &File,
    disk_name: &str,
    node_of: impl Fn(u32) -> PathBuf,
    partitions: &[(u32, u64, u64)],
) -> Result<Vec<PathBuf>> {
    // SAFETY: BLKRRPART takes no argument.
    let rescanned = unsafe { blkrrpart(disk.as_raw_fd()) }.is_ok();
    if !rescanned {
        forget_partitions(disk, disk_name)?;
        for &(number, start, size) in partitions {
            blkpg(disk, BLKPG_ADD_PARTITION, number, start, size).with_context(|| {
                format!("adding partition {number} of {disk_name} to the kernel (BLKPG)")
            })?;
        }
    }
    partitions
        .iter()
        .map(|&(number, _, _)| wait_for_node(disk_name, number, &node_of(number)))
        .collect()
}

/// Adds one partition to the kernel's view of `disk` (BLKPG, the others untouched, so it works
/// while they are mounted) and waits for its node `node`.
pub fn add_one(
    disk: &File,
    disk_name: &str,
    node: &Path,
    (number, start, size): (u32, u64, u64),
) -> Result<PathBuf> {
    blkpg(disk, BLKPG_ADD_PARTITION, number, start, size).with_context(|| {
        format!("adding partition {number} of {disk_name} to the kernel (BLKPG)")
    })?;
    wait_for_node(disk_name, number, node)
}

/// Removes one partition from the kernel's view of `disk` (BLKPG).
pub fn delete_one(disk: &File, disk_name: &str, number: u32) -> Result<()> {
    blkpg(disk, BLKPG_DEL_PARTITION, number, 0, 0)
        .with_context(|| format!("removing the kernel's partition {number} of {disk_name}"))
}

fn wait_for_node(disk_name: &str, number: u32, node: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let started = Instant::now();
    let sys_name = node
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys_dev = Path::new("/sys/block")
        .join(disk_name)
        .join(&sys_name)
        .join("dev");
    let mut made = false;
    loop {
        if std::fs::metadata(node).is_ok_and(|m| m.file_type().is_block_device()) {
            return Ok(node.to_path_buf());
        }
        if !made && started.elapsed() > Duration::from_secs(1) {
            // No devtmpfs (or it is slow): make the node from the kernel's numbers.
            if let Ok(majmin) = std::fs::read_to_string(&sys_dev) {
                if let Some((maj, min)) = majmin.trim().split_once(':') {
                    let dev = nix::sys::stat::makedev(maj.parse()?, min.parse()?);
                    let _ = std::fs::remove_file(node);
                    nix::sys::stat::mknod(
                        node,
                        nix::sys::stat::SFlag::S_IFBLK,
                        nix::sys::stat::Mode::from_bits_truncate(0o600),
                        dev,
                    )
                    .with_context(|| format!("mknod {}", node.display()))?;
                    made = true;
                    continue;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!(
                "partition {number} of {disk_name}: {} did not appear within 10 s (the kernel {} it)",
                node.display(),
                if sys_dev.exists() {
                    "knows"
                } else {
                    "does not know"
                }
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
