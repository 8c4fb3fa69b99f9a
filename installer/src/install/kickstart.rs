//! The kickstart as the install reads it: parsed once before `%pre` (only its `%pre` scripts
//! are needed then, since `%include`s may name files `%pre` writes) and again after, when every
//! error stops the install. Also the copy saved into the installed system, passwords masked.

use anyhow::{Result, bail};
use kickstand_grammar::{self as ks, Kickstart, Loader, Parsed, ScriptKind};

use crate::progress::Reporter;

/// Where the kickstart comes from: its text and how its `%include`s are read.
pub struct KickstartSource {
    /// The name in messages (`ks.cfg`, `http://server/ks/52:54:00:12:34:56`).
    pub name: String,
    /// The kickstart's bytes (UTF-8; a BOM is accepted).
    pub bytes: Vec<u8>,
    /// Reads `%include`d files (host mode: [`kickstand_grammar::FileLoader`]; PID 1: its
    /// HTTP/`hd:`/`cdrom:` loader).
    pub loader: Box<dyn Loader + Send + Sync>,
}

impl std::fmt::Debug for KickstartSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KickstartSource")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl KickstartSource {
    /// A kickstart file on the local file system, `%include`s read from files.
    pub fn file(path: &std::path::Path) -> Result<Self> {
        use anyhow::Context;
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the kickstart {}", path.display()))?;
        Ok(KickstartSource {
            name: path.display().to_string(),
            bytes,
            loader: Box::new(ks::FileLoader),
        })
    }

    /// Parses the kickstart (reading its `%include`s now).
    pub fn parse(&self) -> Parsed {
        ks::parse_bytes(&self.name, &self.bytes, self.loader.as_ref())
    }

    /// Parses the kickstart after `%pre` ran: an `%include` that cannot be read is an error.
    pub fn parse_after_pre(&self) -> Parsed {
        ks::parse_bytes_after_pre(&self.name, &self.bytes, self.loader.as_ref())
    }
}

/// The first parse: the kickstart when it is clean, or — when it has errors but `%pre`
/// scripts, whose output may be what an `%include` is missing — its `%pre` scripts only.
#[derive(Debug)]
pub enum FirstParse {
    /// No errors.
    Clean(Kickstart),
    /// Errors, to be judged after `%pre` ran; the `%pre` scripts that parsed.
    NeedsPre(Kickstart),
}

/// Parses before `%pre`; errors stop here when there is no `%pre` that could fix them.
pub fn first_parse(source: &KickstartSource, reporter: &Reporter) -> Result<FirstParse> {
    let parsed = source.parse();
    let has_pre = parsed
        .kickstart
        .scripts
        .iter()
        .any(|s| s.kind == ScriptKind::Pre);
    if !parsed.has_errors() {
        warn_all(&parsed, reporter);
        return Ok(FirstParse::Clean(parsed.kickstart));
    }
    if has_pre {
        reporter.info(&format!(
            "the kickstart has errors before %pre ran ({}); running %pre and parsing it again",
            parsed
                .errors()
                .map(|e| format!("{}:{}: {}", e.file, e.line, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        return Ok(FirstParse::NeedsPre(parsed.kickstart));
    }
    Err(errors(&parsed))
}

/// The parse the install goes on with: every error stops it. When `pre_ran`, an `%include`
/// that `%pre` did not write is one of them.
pub fn final_parse(
    source: &KickstartSource,
    pre_ran: bool,
    reporter: &Reporter,
) -> Result<Kickstart> {
    let parsed = if pre_ran {
        source.parse_after_pre()
    } else {
        source.parse()
    };
    if parsed.has_errors() {
        return Err(errors(&parsed));
    }
    warn_all(&parsed, reporter);
    Ok(parsed.kickstart)
}

fn warn_all(parsed: &Parsed, reporter: &Reporter) {
    for w in parsed.warnings() {
        reporter.warn(&w.to_string());
    }
}

fn errors(parsed: &Parsed) -> anyhow::Error {
    let errors: Vec<String> = parsed.errors().map(|e| e.to_string()).collect();
    anyhow::anyhow!(
        "the kickstart has {} error{}, nothing was done:\n{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        errors.join("\n")
    )
}

/// What replaces a password or passphrase in the saved kickstart.
pub const MASK: &str = "********";

/// The kickstart as installed into `/var/log/kickstand/ks.cfg`: flattened (includes
/// resolved), every password replaced by [`MASK`], and no LUKS passphrase at all (the grammar's
/// printer never prints a [`ks::Secret`]).
pub fn masked(kickstart: &Kickstart) -> String {
    let mut k = kickstart.clone();
    let mask = |p: &mut Option<String>| {
        if p.is_some() {
            *p = Some(MASK.to_string());
        }
    };
    if let Some(r) = &mut k.rootpw {
        mask(&mut r.password);
    }
    for u in &mut k.users {
        mask(&mut u.password);
    }
    if let Some(b) = &mut k.bootloader {
        mask(&mut b.password);
    }
    ks::print(&k)
}

/// Refuses a kickstart Kickstand cannot install before anything is touched.
pub fn check_supported(k: &Kickstart) -> Result<()> {
    if k.ostreecontainer.is_some() && k.bootc.is_some() {
        bail!("the kickstart has both ostreecontainer and bootc; keep one");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let parsed = ks::parse(
            "ks.cfg",
            "rootpw --plaintext s3cret\nuser --name=admin --password=hunter2 --plaintext\n\
             bootloader --password=grubpw\npart pv.01 --size=100 --encrypted --passphrase=luks1\n\
             volgroup vg pv.01\nlogvol / --vgname=vg --name=root --size=50 --encrypted \
             --passphrase=luks2\npart raid.01 --size=10\npart raid.02 --size=10\n\
             raid /srv --level=1 --device=md0 --encrypted --passphrase=luks3 raid.01 raid.02\n",
            &ks::NoIncludes,
        );
        assert!(!parsed.has_errors());
        let text = masked(&parsed.kickstart);
        for secret in ["s3cret", "hunter2", "grubpw", "luks1", "luks2", "luks3"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert!(text.contains(MASK), "{text}");
        assert!(
            text.contains("--passphrase of the next command not shown"),
            "{text}"
        );
    }
}
