//! Recognises partition tables and filesystem/RAID/LVM signatures from a disk's bytes, like
//! `blkid -p` does for the handful of formats an installer meets. Reads a few KiB at the start
//! and end of the disk and of each partition; never writes.

use super::ExistingPartition;
use std::io::{Read, Seek, SeekFrom};

/// Which partition table a disk carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TableKind {
    /// No partition table.
    #[default]
    None,
    /// GUID Partition Table.
    Gpt,
    /// MBR ("msdos") partition table.
    Msdos,
    /// Something that looks like a partition table but cannot be read (why).
    Unreadable(String),
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableKind::None => f.write_str("none"),
            TableKind::Gpt => f.write_str("gpt"),
            TableKind::Msdos => f.write_str("msdos"),
            TableKind::Unreadable(why) => write!(f, "unreadable ({why})"),
        }
    }
}

/// A recognised on-disk format: blkid's TYPE and, when it has one, LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// blkid's name for it: `xfs`, `ext4`, `btrfs`, `swap`, `vfat`, `iso9660`, `LVM2_member`,
    /// `linux_raid_member`, `crypto_LUKS`, `ntfs`.
    pub kind: &'static str,
    /// Its label or volume id.
    pub label: Option<String>,
}

impl Signature {
    /// Linux filesystems and Linux storage layers (what `clearpart --linux` removes).
    pub fn is_linux(&self) -> bool {
        matches!(
            self.kind,
            "xfs"
                | "ext2"
                | "ext3"
                | "ext4"
                | "btrfs"
                | "swap"
                | "LVM2_member"
                | "linux_raid_member"
                | "crypto_LUKS"
        )
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.label {
            Some(label) => write!(f, "{} \"{label}\"", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

/// What [`probe_disk`] found on a whole disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskContents {
    /// The partition table.
    pub table: TableKind,
    /// Its partitions, each probed for a signature.
    pub partitions: Vec<ExistingPartition>,
    /// Signatures of the whole disk.
    pub signatures: Vec<Signature>,
}

const HEAD: usize = 70 * 1024;
const TAIL: u64 = 128 * 1024;

/// Reads the partition table and the signatures of a disk of `size` bytes.
pub fn probe_disk<R: Read + Seek>(
    disk: &mut R,
    size: u64,
    sector_size: u64,
) -> std::io::Result<DiskContents> {
    let head = read_at(disk, 0, HEAD.min(size as usize))?;
    let signatures = probe_region(disk, &head, 0, size)?;
    let mut contents = DiskContents {
        signatures,
        ..DiskContents::default()
    };
    let has_mbr = head.len() >= 512 && head[510..512] == [0x55, 0xaa];
    let protective = has_mbr && (0..4).any(|i| head[446 + i * 16 + 4] == 0xee);
    let gpt_magic = head.len() >= (sector_size + 8) as usize
        && &head[sector_size as usize..sector_size as usize + 8] == b"EFI PART";
    let whole_disk_fs = contents
        .signatures
        .iter()
        .any(|s| matches!(s.kind, "vfat" | "ntfs" | "xfs" | "ext2" | "ext3" | "ext4"));
    if protective || gpt_magic {
        match gptman::GPT::read_from(disk, sector_size) {
            Ok(gpt) => {
                contents.table = TableKind::Gpt;
                for (number, entry) in gpt.iter().filter(|(_, e)| e.is_used()) {
                    let start = entry.starting_lba * sector_size;
                    let len = (entry.ending_lba + 1 - entry.starting_lba) * sector_size;
                    contents.partitions.push(ExistingPartition {
                        number,
                        start,
                        size: len,
                        type_id: guid_text(&entry.partition_type_guid),
                        signature: None,
                    });
                }
            }
            Err(err) => {
                contents.table = TableKind::Unreadable(format!("GPT signature but {err}"));
            }
        }
    } else if has_mbr && !whole_disk_fs {
        let mut valid = true;
        let mut parts = Vec::new();
        for i in 0..4 {
            let e = &head[446 + i * 16..446 + (i + 1) * 16];
            if e[0] != 0 && e[0] != 0x80 {
                valid = false;
            }
            let kind = e[4];
            let lba = u64::from(u32::from_le_bytes(e[8..12].try_into().unwrap_or_default()));
            let count = u64::from(u32::from_le_bytes(e[12..16].try_into().unwrap_or_default()));
            if kind != 0 && count != 0 {
                parts.push(ExistingPartition {
                    number: i as u32 + 1,
                    start: lba * 512,
                    size: count * 512,
                    type_id: format!("0x{kind:02x}"),
                    signature: None,
                });
            }
        }
        if valid && !parts.is_empty() {
            contents.table = TableKind::Msdos;
            contents.partitions = parts;
        } else if !valid {
            contents.table = TableKind::Unreadable("MBR with invalid partition entries".into());
        }
    }
    for part in &mut contents.partitions {
        if part.start >= size {
            continue;
        }
        let len = part.size.min(size - part.start);
        let head = read_at(disk, part.start, HEAD.min(len as usize))?;
        part.signature = probe_region(disk, &head, part.start, len)?
            .into_iter()
            .next();
    }
    Ok(contents)
}

fn read_at<R: Read + Seek>(disk: &mut R, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    disk.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < len {
        match disk.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Signatures in the region at `offset` of `len` bytes whose first bytes are `head`.
fn probe_region<R: Read + Seek>(
    disk: &mut R,
    head: &[u8],
    offset: u64,
    len: u64,
) -> std::io::Result<Vec<Signature>> {
    let mut found = probe_head(head);
    if found.is_empty() && len >= TAIL {
        let tail = read_at(disk, offset + len - TAIL, TAIL as usize)?;
        if probe_md_tail(&tail, len) {
            found.push(Signature {
                kind: "linux_raid_member",
                label: None,
            });
        }
    }
    Ok(found)
}

fn at(buf: &[u8], offset: usize, magic: &[u8]) -> bool {
    buf.get(offset..offset + magic.len()) == Some(magic)
}

fn text(buf: &[u8], offset: usize, len: usize) -> Option<String> {
    let raw = buf.get(offset..offset + len)?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let s = String::from_utf8_lossy(&raw[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn le32(buf: &[u8], offset: usize) -> u32 {
    buf.get(offset..offset + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

fn le64(buf: &[u8], offset: usize) -> Option<u64> {
    let b = buf.get(offset..offset + 8)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

const MD_MAGIC: u32 = 0xa92b_4efc;

/// The volume group an LVM physical volume belongs to (the planner refuses a new group of the
/// same name): the first word of the metadata text (`NAME {`) of the first metadata area, when
/// that text lies in `buf`. The label is in sector 1: `offset_xl` (+20) leads to the PV header
/// (UUID, size, data areas and then metadata areas, each list ending with a zero entry); the
/// metadata area header has the magic at +4 and the text's offset at +40.
fn lvm_vg_name(buf: &[u8]) -> Option<String> {
    let mut at_ = 512 + le32(buf, 512 + 20) as usize + 32 + 8;
    while le64(buf, at_)? != 0 {
        at_ += 16;
    }
    at_ += 16;
    let mda = usize::try_from(le64(buf, at_)?).ok()?;
    if !at(buf, mda + 4, b" LVM2 x[5A%r0N*>") {
        return None;
    }
    let text = mda + usize::try_from(le64(buf, mda + 40)?).ok()?;
    let raw = buf.get(text..(text + 128).min(buf.len()))?;
    let s = String::from_utf8_lossy(raw);
    let mut words = s.split_whitespace();
    let name = words.next()?;
    (words.next() == Some("{")).then(|| name.to_string())
}

fn probe_head(buf: &[u8]) -> Vec<Signature> {
    let sig = |kind, label| vec![Signature { kind, label }];
    if at(buf, 0, b"XFSB") {
        return sig("xfs", text(buf, 108, 12));
    }
    if at(buf, 0, b"LUKS\xba\xbe") {
        return sig("crypto_LUKS", None);
    }
    if at(buf, 1024 + 56, &[0x53, 0xef]) {
        let compat = le32(buf, 1024 + 92);
        let incompat = le32(buf, 1024 + 96);
        let kind = if incompat & 0x40 != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        return sig(kind, text(buf, 1024 + 120, 16));
    }
    if at(buf, 65536 + 64, b"_BHRfS_M") {
        return sig("btrfs", text(buf, 65536 + 299, 256));
    }
    if at(buf, 4086, b"SWAPSPACE2") || at(buf, 4086, b"SWAP-SPACE") {
        return sig("swap", text(buf, 1024 + 28, 16));
    }
    if at(buf, 512, b"LABELONE") && at(buf, 512 + 24, b"LVM2 001") {
        return sig("LVM2_member", lvm_vg_name(buf));
    }
    if le32(buf, 0) == MD_MAGIC || le32(buf, 4096) == MD_MAGIC {
        return sig("linux_raid_member", None);
    }
    if at(buf, 32769, b"CD001") {
        return sig("iso9660", text(buf, 32808, 32));
    }
    if at(buf, 3, b"NTFS    ") {
        return sig("ntfs", None);
    }
    let boot_sector = at(buf, 510, &[0x55, 0xaa]) && matches!(buf.first(), Some(0xeb | 0xe9));
    if boot_sector && at(buf, 82, b"FAT32   ") {
        return sig("vfat", text(buf, 71, 11).filter(|l| l != "NO NAME"));
    }
    if boot_sector && (at(buf, 54, b"FAT16   ") || at(buf, 54, b"FAT12   ")) {
        return sig("vfat", text(buf, 43, 11).filter(|l| l != "NO NAME"));
    }
    Vec::new()
}

/// md superblocks 0.90 (64 KiB-aligned, last 64 KiB) and 1.0 (8 KiB from the end).
fn probe_md_tail(tail: &[u8], len: u64) -> bool {
    let tail_start = len - TAIL;
    let v090 = (len & !(65536 - 1)) - 65536;
    let v10 = (len - 8192) & !(4096 - 1);
    [v090, v10]
        .into_iter()
        .any(|abs| abs >= tail_start && le32(tail, (abs - tail_start) as usize) == MD_MAGIC)
}

/// GPT GUID bytes (mixed-endian on disk) as lower-case text.
pub fn guid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g[3],
        g[2],
        g[1],
        g[0],
        g[5],
        g[4],
        g[7],
        g[6],
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn recognises_filesystems_by_magic() {
        let mut buf = vec![0u8; HEAD];
        buf[0..4].copy_from_slice(b"XFSB");
        buf[108..112].copy_from_slice(b"root");
        assert_eq!(
            probe_head(&buf),
            vec![Signature {
                kind: "xfs",
                label: Some("root".into())
            }]
        );
        let mut buf = vec![0u8; HEAD];
        buf[65536 + 64..65536 + 72].copy_from_slice(b"_BHRfS_M");
        assert_eq!(probe_head(&buf)[0].kind, "btrfs");
        let mut buf = vec![0u8; HEAD];
        buf[4096..4100].copy_from_slice(&MD_MAGIC.to_le_bytes());
        assert_eq!(probe_head(&buf)[0].kind, "linux_raid_member");
    }

    /// A PV label as `pvcreate` + `vgcreate vg0` write it: label in sector 1, PV header after
    /// it, one data area, one metadata area at 4 KiB whose text starts 512 bytes in.
    #[test]
    fn an_lvm_physical_volume_names_its_volume_group() {
        let mut buf = vec![0u8; HEAD];
        buf[512..520].copy_from_slice(b"LABELONE");
        buf[512 + 20..512 + 24].copy_from_slice(&32u32.to_le_bytes());
        buf[512 + 24..512 + 32].copy_from_slice(b"LVM2 001");
        let pv = 512 + 32;
        // data area {1 MiB, 0}, terminator, metadata area {4096, 1 MiB - 4096}, terminator.
        buf[pv + 40..pv + 48].copy_from_slice(&(1u64 << 20).to_le_bytes());
        buf[pv + 72..pv + 80].copy_from_slice(&4096u64.to_le_bytes());
        buf[4096 + 4..4096 + 20].copy_from_slice(b" LVM2 x[5A%r0N*>");
        buf[4096 + 40..4096 + 48].copy_from_slice(&512u64.to_le_bytes());
        let text = b"vg0 {\nid = \"abc\"\nseqno = 1\n";
        buf[4608..4608 + text.len()].copy_from_slice(text);
        assert_eq!(
            probe_head(&buf),
            vec![Signature {
                kind: "LVM2_member",
                label: Some("vg0".into())
            }]
        );
        // Metadata beyond what was read: still a PV, the group unknown.
        buf[4096 + 40..4096 + 48].copy_from_slice(&(1u64 << 20).to_le_bytes());
        assert_eq!(probe_head(&buf)[0].label, None);
    }

    #[test]
    fn empty_disk_has_nothing() {
        let mut disk = Cursor::new(vec![0u8; 4 << 20]);
        let c = probe_disk(&mut disk, 4 << 20, 512).unwrap();
        assert_eq!(c, DiskContents::default());
    }

    #[test]
    fn reads_an_mbr_partition_with_a_filesystem() {
        let mut data = vec![0u8; 4 << 20];
        data[510] = 0x55;
        data[511] = 0xaa;
        data[446 + 4] = 0x83;
        data[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        data[446 + 12..446 + 16].copy_from_slice(&4096u32.to_le_bytes());
        data[1 << 20..(1 << 20) + 4].copy_from_slice(b"XFSB");
        let c = probe_disk(&mut Cursor::new(data), 4 << 20, 512).unwrap();
        assert_eq!(c.table, TableKind::Msdos);
        assert_eq!(c.partitions.len(), 1);
        assert_eq!(c.partitions[0].start, 1 << 20);
        assert!(c.partitions[0].is_linux());
    }

    #[test]
    fn md_superblock_at_the_end() {
        let len = 8u64 << 20;
        let mut data = vec![0u8; len as usize];
        let off = ((len & !(65536 - 1)) - 65536) as usize;
        data[off..off + 4].copy_from_slice(&MD_MAGIC.to_le_bytes());
        let c = probe_disk(&mut Cursor::new(data), len, 512).unwrap();
        assert_eq!(c.signatures[0].kind, "linux_raid_member");
    }
}
