//! Low-level disk operations of the storage step: wiping signatures, writing the GPT, telling
//! the kernel about partitions, loop devices, LUKS, LVM, mkfs, mounts and fstab. Each runs against real
//! block devices; the planner decided everything beforehand.

pub mod blkpg;
pub mod fstab;
pub mod gpt;
pub mod loopdev;
pub mod luks;
pub mod lvm;
pub mod mdadm;
pub mod mkfs;
pub mod mount;
pub mod wipe;

/// 16 random bytes shaped as a version-4 GUID in GPT's mixed-endian byte order.
pub fn random_guid() -> std::io::Result<[u8; 16]> {
    let mut b = [0u8; 16];
    let mut filled = 0;
    while filled < b.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `b`.
        let n = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), b.len() - filled, 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    b[7] = (b[7] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b)
}
