//! GPT partition type GUIDs (UEFI spec and the Discoverable Partitions Specification).

/// BIOS boot partition: GRUB's core image on BIOS firmware.
pub const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";
/// EFI System Partition.
pub const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Generic Linux filesystem data (also `/boot`).
pub const LINUX_FS: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
/// Linux swap.
pub const SWAP: &str = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";
/// Root partition (x86-64).
pub const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
/// `/usr` partition (x86-64).
pub const USR_X86_64: &str = "8484680c-9521-48c6-9c11-b0720656f69e";
/// `/home`.
pub const HOME: &str = "933ac7e1-2eb4-4f13-b844-0e14e2aef915";
/// `/srv`.
pub const SRV: &str = "3b8f8425-20e0-4f3b-907f-1a25a76f98e8";
/// `/var`.
pub const VAR: &str = "4d21b016-b534-45c2-a9fb-5c16e091fd2d";
/// `/var/tmp`.
pub const VAR_TMP: &str = "7ec6f557-3bc5-4aca-b293-16ef5df639d1";
/// Extended Boot Loader Partition (only recognised on existing disks; `/boot` gets
/// [`LINUX_FS`] as in DESIGN.md).
pub const XBOOTLDR: &str = "bc13c2ff-59e6-4262-a352-b275fd6f7172";

/// An LVM physical volume.
pub const LVM: &str = "e6d6d379-f507-44c2-a23c-238f2a3df928";
/// A LUKS container (Discoverable Partitions' "Linux LUKS").
pub const LUKS: &str = "ca7d7ccb-63ed-4c53-861c-1742536059cc";
/// A Linux software RAID (md) member.
pub const RAID: &str = "a19d880f-05fc-4d3b-a006-743f0f84911e";

/// The type GUID for a partition mounted at `mount` (Discoverable Partitions).
pub fn for_mount(mount: &str) -> &'static str {
    match mount {
        "/" => ROOT_X86_64,
        "/usr" => USR_X86_64,
        "/home" => HOME,
        "/srv" => SRV,
        "/var" => VAR,
        "/var/tmp" => VAR_TMP,
        "/boot/efi" => ESP,
        _ => LINUX_FS,
    }
}

/// A short human name for a type GUID, for the dry-run table.
pub fn describe(guid: &str) -> &'static str {
    match guid {
        BIOS_BOOT => "BIOS boot",
        ESP => "EFI System",
        LINUX_FS => "Linux filesystem",
        SWAP => "Linux swap",
        ROOT_X86_64 => "Linux root (x86-64)",
        USR_X86_64 => "Linux /usr (x86-64)",
        HOME => "Linux home",
        SRV => "Linux server data",
        VAR => "Linux variable data",
        VAR_TMP => "Linux temporary data",
        XBOOTLDR => "Linux extended boot",
        LVM => "Linux LVM",
        LUKS => "Linux LUKS",
        RAID => "Linux RAID",
        _ => "other",
    }
}

/// Parses lower- or upper-case GUID text into the mixed-endian bytes GPT stores.
pub fn to_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_gpt_byte_order() {
        for g in [BIOS_BOOT, ESP, LINUX_FS, SWAP, ROOT_X86_64, HOME] {
            let bytes = to_bytes(g).unwrap();
            assert_eq!(crate::hardware::guid_text(&bytes), g);
        }
        // The ESP's first on-disk bytes are 28 73 2a c1.
        assert_eq!(&to_bytes(ESP).unwrap()[..4], &[0x28, 0x73, 0x2a, 0xc1]);
    }
}
