//! Coldplug without udev: match the `modalias` strings the kernel exposes under
//! `/sys/devices/**/modalias` against the patterns of `modules.alias`, the way modprobe does
//! (kmod calls `fnmatch(pattern, modalias, 0)`: `*`, `?`, `[...]` with ranges and `!`/`^`
//! negation, `\` escapes).
//!
//! Patterns are grouped by their literal prefix up to the first wildcard, so each lookup only
//! tests the patterns that can match (a Debian kernel has ~30 000 aliases).

use std::collections::BTreeMap;

/// `modules.alias`, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct AliasIndex {
    /// Literal prefix → `(pattern, module, line order)`.
    by_prefix: BTreeMap<String, Vec<(String, String, usize)>>,
}

/// `fnmatch(pattern, text, 0)`.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => Some(pi + 1),
                '[' => match class(&p, pi, t[ti]) {
                    Some((true, next)) => Some(next),
                    Some((false, _)) => None,
                    // No closing ']': a literal '['.
                    None => (t[ti] == '[').then_some(pi + 1),
                },
                '\\' if pi + 1 < p.len() => (t[ti] == p[pi + 1]).then_some(pi + 2),
                c => (t[ti] == c).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the bracket expression starting at `p[start] == '['`. Returns whether
/// it matched and the index after the closing `]`, or `None` when there is no closing `]`.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    &pattern[..end]
}

impl AliasIndex {
    /// Parses `modules.alias` text (`alias PATTERN MODULE` lines; others ignored).
    pub fn parse(text: &str) -> Self {
        let mut index = Self::default();
        for (order, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) =
                (words.next(), words.next(), words.next())
            {
                index
                    .by_prefix
                    .entry(literal_prefix(pattern).to_string())
                    .or_default()
                    .push((pattern.to_string(), module.replace('-', "_"), order));
            }
        }
        index
    }

    /// Modules whose alias matches `modalias`, in `modules.alias` order, without duplicates
    /// (what `modprobe -R` would list).
    pub fn lookup(&self, modalias: &str) -> Vec<String> {
        let mut hits: Vec<(usize, &str)> = Vec::new();
        // Every prefix of the modalias is a candidate key.
        for end in 0..=modalias.len() {
            if !modalias.is_char_boundary(end) {
                continue;
            }
            if let Some(entries) = self.by_prefix.get(&modalias[..end]) {
                for (pattern, module, order) in entries {
                    if fnmatch(pattern, modalias) {
                        hits.push((*order, module));
                    }
                }
            }
        }
        hits.sort();
        let mut out: Vec<String> = Vec::new();
        for (_, m) in hits {
            if !out.iter().any(|o| o == m) {
                out.push(m.to_string());
            }
        }
        out
    }

    /// Modules for a set of devices' modaliases, deduplicated, in first-seen order.
    pub fn modules_for<'a>(&self, modaliases: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for alias in modaliases {
            for m in self.lookup(alias.trim()) {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_ranges_fail_without_a_star() {
        assert!(!fnmatch("d[0-8]*x", "d9100x"));
        assert!(!fnmatch(
            "usb:v0BC2p2300d[0-8]*dc*dsc*dp*ic*isc*ip*in*",
            "usb:v0BC2p2300d9100dc00dsc00dp00ic08isc06ip62in00"
        ));
    }

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch("abc", "abc"));
        assert!(!fnmatch("abc", "abd"));
        assert!(fnmatch("a*c", "abbbc"));
        assert!(fnmatch("a*", "a"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("a?c", "ac"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("d[0-9][0-9]", "d42"));
        assert!(!fnmatch("d[0-9]", "dx"));
        assert!(fnmatch("d[!0-9]", "dx"));
        assert!(fnmatch("d[^0-9]", "dx"));
        assert!(fnmatch("[]x]", "]"));
        assert!(fnmatch("a\\*b", "a*b"));
        assert!(!fnmatch("a\\*b", "axb"));
        assert!(fnmatch("a[b", "a[b"));
        assert!(fnmatch("*sd*bc*", "v1sd2bc3"));
        assert!(!fnmatch("*x", "abc"));
    }

    /// Lines as they appear in Debian 6.1's modules.alias.
    const ALIASES: &str = "\
# Aliases extracted from modules themselves.
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000002v* virtio_blk
alias virtio:d00000001v* virtio_net
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip62in* uas
alias usb:v0BC2p2300d[0-8]*dc*dsc*dp*ic*isc*ip*in* usb-storage
alias scsi:t-0x00* sd_mod
alias scsi:t-0x05* sr_mod
alias fs-vfat vfat
";

    #[test]
    fn real_device_modaliases_find_their_drivers() {
        let index = AliasIndex::parse(ALIASES);
        // QEMU's virtio-blk (PCI), its virtio device, an e1000, the q35 AHCI controller, an NVMe disk.
        assert_eq!(
            index.lookup("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"),
            ["virtio_pci"]
        );
        assert_eq!(
            index.lookup("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"),
            ["virtio_pci"]
        );
        assert_eq!(index.lookup("virtio:d00000002v00001AF4"), ["virtio_blk"]);
        assert_eq!(
            index.lookup("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"),
            ["e1000"]
        );
        assert_eq!(
            index.lookup("pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"),
            ["ahci"]
        );
        assert_eq!(
            index.lookup("pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"),
            ["nvme"]
        );
        assert_eq!(index.lookup("scsi:t-0x00"), ["sd_mod"]);
        assert!(
            index
                .lookup("pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00")
                .is_empty()
        );
        assert!(index.lookup("acpi:PNP0A03:").is_empty());
    }

    #[test]
    fn several_matches_come_in_file_order_without_duplicates() {
        let index = AliasIndex::parse(ALIASES);
        // A Seagate drive matching both the class alias and a bcdDevice range alias.
        let usb = "usb:v0BC2p2300d0100dc00dsc00dp00ic08isc06ip50in00";
        assert_eq!(index.lookup(usb), ["usb_storage"]);
        let uas = "usb:v0BC2p2300d0100dc00dsc00dp00ic08isc06ip62in00";
        assert_eq!(index.lookup(uas), ["uas", "usb_storage"]);
        // bcdDevice 9100 is outside d[0-8]*.
        assert_eq!(
            index.lookup("usb:v0BC2p2300d9100dc00dsc00dp00ic08isc06ip62in00"),
            ["uas"]
        );
        assert_eq!(
            index.modules_for([
                "virtio:d00000002v00001AF4\n",
                "virtio:d00000001v00001AF4",
                "virtio:d00000002v00001AF4"
            ]),
            ["virtio_blk", "virtio_net"]
        );
    }
}
