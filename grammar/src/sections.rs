//! Section headers: `%pre`, `%pre-install`, `%post`, `%onerror`, `%packages` and the sections
//! Kickstand recognises but does not run.

use crate::ast::{Packages, Script, ScriptKind};
use crate::commands::Finding;
use crate::lexer::Word;
use crate::options::{self, Opt, flag, value};

/// What a `%name` header opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Script(ScriptKind),
    Packages,
    /// Known to Anaconda, not run by Kickstand (`%traceback`, `%addon`, `%anaconda`,
    /// `%certificate`): warned about, body skipped.
    Unsupported,
}

/// The section a header word opens; `None` for an unknown section.
pub fn classify(header: &str) -> Option<SectionKind> {
    Some(match header {
        "%pre" => SectionKind::Script(ScriptKind::Pre),
        "%pre-install" => SectionKind::Script(ScriptKind::PreInstall),
        "%post" => SectionKind::Script(ScriptKind::Post),
        "%onerror" => SectionKind::Script(ScriptKind::Onerror),
        "%packages" => SectionKind::Packages,
        "%traceback" | "%addon" | "%anaconda" | "%certificate" => SectionKind::Unsupported,
        _ => return None,
    })
}

pub fn script_name(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Pre => "%pre",
        ScriptKind::PreInstall => "%pre-install",
        ScriptKind::Post => "%post",
        ScriptKind::Onerror => "%onerror",
    }
}

const SCRIPT: &[Opt] = &[
    flag(&["--erroronfail"], "erroronfail"),
    value(&["--interpreter"], "interpreter"),
    value(&["--log", "--logfile"], "log"),
];
const NOCHROOT: Opt = flag(&["--nochroot"], "nochroot");

/// Parses a script header (`%post --nochroot --log=/root/post.log`); the body is added later.
pub fn script_header(kind: ScriptKind, args: &[Word]) -> Result<Script, Finding> {
    let mut opts = SCRIPT.to_vec();
    if kind == ScriptKind::Post {
        opts.push(NOCHROOT);
    }
    let m = options::parse(&opts, args).map_err(|e| {
        if kind != ScriptKind::Post && e.word.text.starts_with("--noc") {
            Finding::at(
                &e.word,
                format!(
                    "unrecognized arguments: {} ({} always runs in the installer environment; \
                     only %post takes --nochroot)",
                    e.word.text,
                    script_name(kind)
                ),
            )
        } else {
            e.into()
        }
    })?;
    if let Some(w) = m.positional.first() {
        return Err(Finding::at(
            w,
            format!("unrecognized arguments: {}", w.text),
        ));
    }
    Ok(Script {
        kind,
        interpreter: m.value("interpreter").filter(|i| i != "/bin/sh"),
        log: m.value("log"),
        erroronfail: m.flag("erroronfail"),
        nochroot: m.flag("nochroot"),
        body: String::new(),
    })
}

const PACKAGES: &[Opt] = &[
    flag(&["--excludedocs"], "excludedocs"),
    flag(&["--ignoremissing"], "ignoremissing"),
    flag(&["--default"], "default"),
    flag(&["--multilib"], "multilib"),
    flag(&["--nocore"], "nocore"),
    value(&["--timeout"], "timeout"),
    value(&["--retries"], "retries"),
    value(&["--inst-langs"], "inst-langs"),
    flag(&["--exclude-weakdeps"], "exclude-weakdeps"),
];

/// Parses a `%packages` header.
pub fn packages_header(args: &[Word]) -> Result<Packages, Finding> {
    let m = options::parse(PACKAGES, args)?;
    if let Some(w) = m.positional.first() {
        return Err(Finding::at(
            w,
            format!("unrecognized arguments: {}", w.text),
        ));
    }
    if m.flag("default") && m.flag("nocore") {
        let w = &m.get("nocore").expect("given").word;
        return Err(Finding::at(
            w,
            "--default and --nocore cannot be used together",
        ));
    }
    Ok(Packages {
        excludedocs: m.flag("excludedocs"),
        ignoremissing: m.flag("ignoremissing"),
        default: m.flag("default"),
        multilib: m.flag("multilib"),
        nocore: m.flag("nocore"),
        exclude_weakdeps: m.flag("exclude-weakdeps"),
        timeout: m.value("timeout"),
        retries: m.value("retries"),
        inst_langs: m.value("inst-langs"),
        body: String::new(),
    })
}
