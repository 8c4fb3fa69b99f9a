//! `--encrypted` and its options → [`Luks`]: what cryptsetup will be asked for, checked before
//! any disk is touched. The installer runs without anyone to ask at a console, so a missing
//! passphrase is refused here.

use super::error::PlanError;
use super::layout::Luks;
use super::request::{EncryptionRequest, Origin};

/// The LUKS container `what` (`autopart --encrypted`, `part / --encrypted`) asks for.
pub(super) fn from_request(
    e: &EncryptionRequest,
    what: &str,
    origin: Origin,
) -> Result<Luks, PlanError> {
    let invalid = |message: String| PlanError::Invalid { origin, message };
    let passphrase = match &e.passphrase {
        Some(p) if !p.expose().is_empty() => p.clone(),
        _ => {
            return Err(invalid(format!(
                "{what} needs --passphrase=…: the install runs unattended, with nobody to ask \
                 for one at a console; nothing was written"
            )));
        }
    };
    let version = match e.luks_version.as_deref() {
        None | Some("luks2") => "luks2",
        Some("luks1") => "luks1",
        Some(v) => {
            return Err(invalid(format!(
                "{what} --luks-version={v}: expected luks2 or luks1"
            )));
        }
    };
    if let Some(p) = &e.pbkdf {
        if !matches!(p.as_str(), "argon2id" | "argon2i" | "pbkdf2") {
            return Err(invalid(format!(
                "{what} --pbkdf={p}: expected argon2id, argon2i or pbkdf2"
            )));
        }
        if version == "luks1" && p != "pbkdf2" {
            return Err(invalid(format!(
                "{what} --pbkdf={p}: LUKS1 only has pbkdf2 (use --luks-version=luks2)"
            )));
        }
    }
    if e.pbkdf_iterations.is_some() && e.pbkdf_time_ms.is_some() {
        return Err(invalid(format!(
            "{what}: --pbkdf-iterations and --pbkdf-time exclude each other (give one)"
        )));
    }
    if let Some(c) = &e.cipher {
        if c.is_empty()
            || !c
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_()".contains(c))
        {
            return Err(invalid(format!(
                "{what} --cipher={c}: expected a cryptsetup cipher such as aes-xts-plain64"
            )));
        }
    }
    Ok(Luks {
        version: version.to_string(),
        cipher: e.cipher.clone(),
        pbkdf: e.pbkdf.clone(),
        pbkdf_memory: e.pbkdf_memory_kib,
        pbkdf_time: e.pbkdf_time_ms,
        pbkdf_iterations: e.pbkdf_iterations,
        passphrase,
    })
}

/// One line describing a container for the dry run (never the passphrase).
pub fn describe(l: &Luks) -> String {
    let mut out = format!(
        "{}, {}",
        l.version.to_uppercase(),
        l.cipher.as_deref().unwrap_or("aes-xts-plain64")
    );
    if let Some(p) = &l.pbkdf {
        out.push_str(&format!(", {p}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::layout::Secret;

    fn req(pass: Option<&str>) -> EncryptionRequest {
        EncryptionRequest {
            passphrase: pass.map(Secret::new),
            ..Default::default()
        }
    }

    #[test]
    fn a_passphrase_is_required_and_never_shown() {
        let err = from_request(&req(None), "autopart --encrypted", Origin::line(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs --passphrase"), "{err}");
        assert!(err.contains("(line 3)"), "{err}");
        let luks = from_request(&req(Some("s3cret")), "x", Origin::default()).unwrap();
        assert_eq!(luks.version, "luks2");
        assert!(!format!("{luks:?}").contains("s3cret"));
        assert!(!describe(&luks).contains("s3cret"));
    }

    #[test]
    fn options_are_checked() {
        let mut r = req(Some("p"));
        r.pbkdf = Some("scrypt".into());
        assert!(from_request(&r, "x", Origin::default()).is_err());
        r.pbkdf = Some("argon2i".into());
        r.luks_version = Some("luks1".into());
        let err = from_request(&r, "x", Origin::default()).unwrap_err();
        assert!(err.to_string().contains("LUKS1 only has pbkdf2"), "{err}");
        r.luks_version = None;
        r.cipher = Some("aes-xts-plain64; rm -rf".into());
        assert!(from_request(&r, "x", Origin::default()).is_err());
    }
}
