//! Ethernet MAC addresses as machines are keyed by: parsed from the spellings operators and
//! firmware use, printed one canonical way (`52:54:00:12:34:56`).

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MacAddr(pub [u8; 6]);

/// Why a string is not a MAC address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a MAC address (expected six hex pairs like 52:54:00:12:34:56)")]
pub struct MacParseError(pub String);

impl MacAddr {
    /// `BOOTIF=` form used by PXELINUX and Anaconda: `01-52-54-00-12-34-56`.
    pub fn bootif(&self) -> String {
        let b = self.0;
        format!(
            "01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `52:54:00:12:34:56`, `52-54-00-12-34-56`, `525400123456`, any case, and the
    /// PXELINUX `01-` prefixed form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let body = match s.strip_prefix("01-") {
            Some(rest) if rest.len() == 17 => rest,
            _ => s,
        };
        let hex: String = match body.len() {
            17 => {
                let sep = body.as_bytes()[2];
                if sep != b':' && sep != b'-' {
                    return Err(err());
                }
                let mut out = String::with_capacity(12);
                for (i, part) in body.split(sep as char).enumerate() {
                    if i >= 6 || part.len() != 2 {
                        return Err(err());
                    }
                    out.push_str(part);
                }
                out
            }
            12 => body.to_string(),
            _ => return Err(err()),
        };
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(err)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| err())?;
        }
        if hex.bytes().any(|c| !c.is_ascii_hexdigit()) {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let want = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        for s in [
            "52:54:00:12:34:56",
            "52-54-00-12-34-56",
            "525400123456",
            "52:54:00:12:34:56".to_uppercase().as_str(),
            "01-52-54-00-12-34-56",
        ] {
            assert_eq!(s.parse::<MacAddr>(), Ok(want), "{s}");
        }
        assert_eq!(want.to_string(), "52:54:00:12:34:56");
        assert_eq!(want.bootif(), "01-52-54-00-12-34-56");
        for bad in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:5g",
            "52:54-00:12:34:56",
            "+2:54:00:12:34:56",
            "../etc/passwd",
            "52:54:00:12:34:56:78",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
