//! Byte sizes: constants and human-readable formatting ("600 MiB", "19.4 GiB").

/// One kibibyte.
pub const KIB: u64 = 1 << 10;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// One gibibyte.
pub const GIB: u64 = 1 << 30;
/// One tebibyte.
pub const TIB: u64 = 1 << 40;

/// `bytes` in the largest binary unit that keeps at least 1, with at most one decimal.
pub fn human(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (1 << 10, "KiB")];
    for &(unit, name) in UNITS {
        if bytes >= unit {
            let tenths = (bytes as u128 * 10 / unit as u128) as u64;
            return if tenths % 10 == 0 {
                format!("{} {name}", tenths / 10)
            } else {
                format!("{}.{} {name}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{bytes} B")
}

/// Rounds `value` down to a multiple of `align`.
pub fn align_down(value: u64, align: u64) -> u64 {
    value / align * align
}

/// Rounds `value` up to a multiple of `align`.
pub fn align_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

/// A size in bytes, or with a binary `K`, `M`, `G` or `T` suffix (`512M`, `2G`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{text:?}: expected bytes or a K, M, G or T suffix")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: expected a whole number, e.g. 512M or 2G"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(600 * MIB), "600 MiB");
        assert_eq!(human(2 * GIB), "2 GiB");
        assert_eq!(human(GIB + GIB / 2), "1.5 GiB");
        assert_eq!(human(16 * TIB), "16 TiB");
        assert_eq!(human(512), "512 B");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("2X").unwrap_err().contains("suffix"));
        assert!(parse_size("M").is_err());
        assert!(
            parse_size("99999999999T")
                .unwrap_err()
                .contains("too large")
        );
    }
}
