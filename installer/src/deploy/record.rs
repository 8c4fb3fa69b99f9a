//! `/etc/kickstand/image.json`: what a flat install installed (bootc cannot update it).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// Where the record goes in the target.
pub const PATH: &str = "/etc/kickstand/image.json";

/// The installed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The reference as the kickstart named it (`registry.example/os:42`).
    pub reference: String,
    /// The manifest digest that was installed (`sha256:…`).
    pub digest: String,
    /// When it was installed, RFC 3339 UTC.
    pub date: String,
}

impl ImageRecord {
    /// A record dated now.
    pub fn now(reference: &str, digest: &str) -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ImageRecord {
            reference: reference.to_string(),
            digest: digest.to_string(),
            date: rfc3339(secs),
        }
    }

    /// Writes the record into the target.
    pub fn write(&self, root: &TargetRoot) -> Result<()> {
        let mut json = serde_json::to_string_pretty(self)
            .map_err(|e| DeployError::Invalid(format!("encoding {PATH}: {e}")))?;
        json.push('\n');
        root.write(PATH, json.as_bytes(), 0o644)?;
        Ok(())
    }
}

/// Days since 1970-01-01 (for shadow's last-change field).
pub fn days_since_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (Howard Hinnant's civil-from-days).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_647_599), "2026-11-25T22:59:59Z");
    }

    #[test]
    fn writes_json() {
        let dir = tempfile::tempdir().unwrap();
        let root = TargetRoot::new(dir.path());
        let rec = ImageRecord {
            reference: "localhost:5000/tiny:1".into(),
            digest: "sha256:ab".into(),
            date: rfc3339(0),
        };
        rec.write(&root).unwrap();
        let text = std::fs::read_to_string(dir.path().join("etc/kickstand/image.json")).unwrap();
        assert_eq!(serde_json::from_str::<ImageRecord>(&text).unwrap(), rec);
    }
}
