//! Wiping old signatures, and undoing a half-done install.
//!
//! Signatures live at the start of a device (MBR, primary GPT, xfs, ext4, swap, LVM, md 1.1/1.2,
//! LUKS, btrfs at 64 KiB), at its end (backup GPT, md 0.90/1.0) and, for btrfs, at 64 MiB and
//! 256 GiB: zeroing the first and last MiB and those two mirrors removes all of them, in
//! process, on block devices and image files alike.

use crate::units::{GIB, MIB};
use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Writes zeros over `[offset, offset + len)`.
pub fn zero(file: &File, offset: u64, len: u64) -> Result<()> {
    let mut at = offset;
    let end = offset + len;
    while at < end {
        let n = (end - at).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..n], at)
            .with_context(|| format!("writing zeros at byte {at}"))?;
        at += n as u64;
    }
    Ok(())
}

/// Zeroes every place a signature can be in the region `[start, start + len)`.
pub fn wipe_signatures(file: &File, start: u64, len: u64) -> Result<()> {
    let head = len.min(MIB);
    zero(file, start, head)?;
    if len > MIB {
        let tail = (len - head).min(MIB);
        zero(file, start + len - tail, tail)?;
    }
    for mirror in [64 * MIB, 256 * GIB] {
        if mirror + 4096 <= len {
            zero(file, start + mirror, 4096)?;
        }
    }
    Ok(())
}

/// The first and last MiB of a disk, kept so a failed edit can put the old table back.
#[derive(Debug, Clone)]
pub struct SavedTable {
    head: Vec<u8>,
    tail: Vec<u8>,
    tail_offset: u64,
}

impl SavedTable {
    /// Reads the primary and backup partition table areas of a disk of `size` bytes.
    pub fn read(file: &File, size: u64) -> Result<Self> {
        let head_len = size.min(MIB);
        let mut head = vec![0; head_len as usize];
        file.read_exact_at(&mut head, 0)
            .context("saving the partition table")?;
        let tail_offset = size - size.min(MIB);
        let mut tail = vec![0; (size - tail_offset) as usize];
        file.read_exact_at(&mut tail, tail_offset)
            .context("saving the backup partition table")?;
        Ok(SavedTable {
            head,
            tail,
            tail_offset,
        })
    }

    /// Writes the saved areas back.
    pub fn restore(&self, file: &File) -> Result<()> {
        file.write_all_at(&self.head, 0)?;
        file.write_all_at(&self.tail, self.tail_offset)?;
        file.sync_all()?;
        Ok(())
    }
}

/// Makes a disk unbootable after a failed install: zeroes the partition tables at both ends.
pub fn destroy_table(file: &File, size: u64) -> Result<()> {
    zero(file, 0, size.min(MIB))?;
    if size > MIB {
        zero(file, size - MIB, MIB)?;
    }
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipes_head_tail_and_btrfs_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        let size = 100 * MIB;
        std::fs::write(&path, vec![0xaau8; size as usize]).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        wipe_signatures(&f, 0, size).unwrap();
        let data = std::fs::read(&path).unwrap();
        assert!(data[..MIB as usize].iter().all(|&b| b == 0));
        assert!(data[(size - MIB) as usize..].iter().all(|&b| b == 0));
        assert!(
            data[(64 * MIB) as usize..(64 * MIB + 4096) as usize]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(
            data[(2 * MIB) as usize],
            0xaa,
            "data between the areas is left alone"
        );
    }
}
