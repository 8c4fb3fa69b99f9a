//! Kickstart drive names: `vda`, `/dev/vda`, `disk/by-id/…`, `/dev/disk/by-path/…`, shell globs
//! (`sd*`, `nvme[01]n1`) and `|`-separated alternatives (`sda|vda`: the first alternative that
//! matches any disk is used), as pykickstart and Anaconda accept them.

use super::Disk;
use std::cmp::Ordering;

/// A drive name that matched nothing, or a malformed glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveSpecError {
    /// No disk has this name.
    #[error("no disk matches \"{spec}\" (disks seen: {})", seen_list(.seen))]
    NoMatch { spec: String, seen: Vec<String> },
    /// The glob pattern is not valid.
    #[error("\"{spec}\" is not a valid drive pattern: {message}")]
    BadPattern { spec: String, message: String },
}

fn seen_list(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(", ")
    }
}

/// Every name a disk answers to, without the `/dev/` prefix.
fn disk_names(disk: &Disk) -> impl Iterator<Item = &str> {
    std::iter::once(disk.name.as_str())
        .chain(disk.aliases.iter().map(String::as_str))
        .chain(disk.by_id.iter().map(String::as_str))
        .chain(disk.by_path.iter().map(String::as_str))
}

/// Indexes (into `disks`, ascending, no duplicates) of the disks the drive specs name.
pub fn match_drives<S: AsRef<str>>(
    specs: &[S],
    disks: &[Disk],
) -> Result<Vec<usize>, DriveSpecError> {
    let mut out = Vec::new();
    for spec in specs {
        let spec = spec.as_ref().trim();
        if spec.is_empty() {
            continue;
        }
        let mut matched = Vec::new();
        for alternative in spec.split('|') {
            matched = match_one(alternative.trim(), disks).map_err(|message| {
                DriveSpecError::BadPattern {
                    spec: spec.to_string(),
                    message,
                }
            })?;
            if !matched.is_empty() {
                break;
            }
        }
        if matched.is_empty() {
            return Err(DriveSpecError::NoMatch {
                spec: spec.to_string(),
                seen: disks.iter().map(Disk::describe).collect(),
            });
        }
        out.extend(matched);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn match_one(alternative: &str, disks: &[Disk]) -> Result<Vec<usize>, String> {
    let wanted = alternative.strip_prefix("/dev/").unwrap_or(alternative);
    let is_glob = wanted.contains(['*', '?', '[']);
    let pattern = if is_glob {
        Some(glob::Pattern::new(wanted).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok(disks
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            disk_names(d).any(|n| match &pattern {
                Some(p) => p.matches(n),
                None => n == wanted,
            })
        })
        .map(|(i, _)| i)
        .collect())
}

/// Natural order of kernel names: `sda < sdb < sdaa`, `vda < vdb`, `nvme0n1 < nvme1n1 < nvme10n1`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let ord = if *da && *db {
            let (na, nb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            na.len().cmp(&nb.len()).then(na.cmp(nb))
        } else if xa.get(..2).is_some() && xa.get(..2) == xb.get(..2) {
            // Same family (`sd`, `vd`): the kernel counts sdz, sdaa, … so shorter comes first.
            xa.len().cmp(&xb.len()).then(xa.cmp(xb))
        } else {
            xa.cmp(xb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, by_id: &[&str]) -> Disk {
        Disk {
            name: name.into(),
            path: format!("/dev/{name}").into(),
            by_id: by_id.iter().map(|s| s.to_string()).collect(),
            by_path: vec![format!("disk/by-path/pci-0000:00:0{}.0", name.len())],
            size: 8 << 30,
            ..Disk::default()
        }
    }

    #[test]
    fn drive_name_forms() {
        let disks = [
            disk("sda", &["disk/by-id/ata-QEMU_HARDDISK_QM1"]),
            disk("sdb", &[]),
            disk("vda", &["disk/by-id/virtio-SERIAL1"]),
        ];
        let cases: &[(&[&str], &[usize])] = &[
            (&["vda"], &[2]),
            (&["/dev/vda"], &[2]),
            (&["disk/by-id/virtio-SERIAL1"], &[2]),
            (&["/dev/disk/by-id/ata-QEMU_HARDDISK_QM1"], &[0]),
            (&["disk/by-path/pci-0000:00:03.0"], &[0, 1, 2]),
            (&["sd*"], &[0, 1]),
            (&["sd[b-z]"], &[1]),
            (&["hda|vda"], &[2]),
            (&["vda|sda"], &[2]),
            (&["sdb", "sda"], &[0, 1]),
        ];
        for (specs, want) in cases {
            assert_eq!(match_drives(specs, &disks).unwrap(), *want, "{specs:?}");
        }
        let err = match_drives(&["hda|nvme*"], &disks)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no disk matches \"hda|nvme*\""), "{err}");
        assert!(err.contains("sda (8 GiB)"), "{err}");
        assert!(matches!(
            match_drives(&["sd[a"], &disks),
            Err(DriveSpecError::BadPattern { .. })
        ));
    }

    #[test]
    fn natural_order() {
        let mut names = vec![
            "sdaa", "sdb", "nvme10n1", "sda", "nvme1n1", "nvme2n1", "vda",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "nvme1n1", "nvme2n1", "nvme10n1", "sda", "sdb", "sdaa", "vda"
            ]
        );
    }
}
