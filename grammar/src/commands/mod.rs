//! One function per Kickstart command: option table, checks, and the typed AST value.
//!
//! Each function gets the command's words and the kickstart built so far; it returns an error
//! for the whole command (the command is then left out) and may push warnings.

mod image;
mod storage;
mod system;
mod volumes;

pub use volumes::Reference;

use crate::ast::{Kickstart, Source, UnsupportedCommand};
use crate::lexer::Word;
use crate::options::{self, Matches, Opt, OptError};
use std::collections::HashSet;

/// A problem found in one command: where (a word of the line) and what.
#[derive(Debug, Clone)]
pub struct Finding {
    pub column: usize,
    pub len: usize,
    pub message: String,
}

impl Finding {
    pub fn at(word: &Word, message: impl Into<String>) -> Self {
        Finding {
            column: word.column,
            len: word.len,
            message: message.into(),
        }
    }
}

impl From<OptError> for Finding {
    fn from(e: OptError) -> Self {
        Finding::at(&e.word, e.message)
    }
}

/// What a command sees: its name word, its argument words, and where to put warnings.
#[derive(Debug)]
pub struct Cmd<'a> {
    pub name: &'a Word,
    pub args: &'a [Word],
    pub warnings: &'a mut Vec<Finding>,
    /// Commands seen before this one (for conflicts), by canonical name.
    pub seen: &'a HashSet<&'static str>,
    /// Where this command is (kept in the AST for later messages).
    pub source: Source,
    /// Names this command uses that other commands must define, checked when the whole
    /// kickstart has been read; kept only when the command has no error.
    pub refs: &'a mut Vec<Reference>,
}

impl Cmd<'_> {
    /// Parses the options; deprecations become warnings.
    pub fn options(&mut self, opts: &[Opt]) -> Result<Matches, Finding> {
        let m = options::parse(opts, self.args)?;
        for (word, message) in &m.deprecations {
            self.warnings.push(Finding::at(word, message.clone()));
        }
        Ok(m)
    }

    /// Error for positional arguments a command does not take.
    pub fn no_positional(&self, m: &Matches) -> Result<(), Finding> {
        self.extra_positional(m, 0, "")
    }

    /// Error for positional arguments after the first `keep` (pykickstart: "Unexpected
    /// arguments to X command"); `hint` is appended to the message.
    pub fn extra_positional(&self, m: &Matches, keep: usize, hint: &str) -> Result<(), Finding> {
        match m.positional.get(keep) {
            Some(w) => Err(Finding::at(
                w,
                format!(
                    "Unexpected arguments to {} command: {}{hint}",
                    match self.name.text.as_str() {
                        "part" => "partition",
                        other => other,
                    },
                    words_list(&m.positional[keep..])
                ),
            )),
            None => Ok(()),
        }
    }

    /// Error unless option `dest` (spelled `name`) was given.
    pub fn required(&self, m: &Matches, dest: &str, name: &str) -> Result<String, Finding> {
        m.value(dest).ok_or_else(|| {
            Finding::at(
                self.name,
                format!(
                    "the following arguments are required: {name} ({} needs {name}=VALUE)",
                    self.name.text
                ),
            )
        })
    }

    /// Error when `other` (a command that cannot be combined with this one) was seen.
    pub fn conflicts(&self, others: &[&'static str]) -> Result<(), Finding> {
        for other in others {
            if self.seen.contains(other) {
                return Err(Finding::at(
                    self.name,
                    format!(
                        "The {} and {other} commands can't be used at the same time.",
                        self.name.text
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn warn(&mut self, word: &Word, message: impl Into<String>) {
        self.warnings.push(Finding::at(word, message));
    }
}

/// `['a', 'b']`, as pykickstart prints unexpected arguments.
pub fn words_list(words: &[Word]) -> String {
    let items: Vec<String> = words.iter().map(|w| format!("'{}'", w.text)).collect();
    format!("[{}]", items.join(", "))
}

/// How a command name is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Parsed into the AST; the canonical name (for conflicts).
    Supported(&'static str),
    /// A Kickstart command Kickstand does not implement: warned about and kept verbatim.
    Unsupported,
    /// Deprecated in pykickstart's RHEL 10 handler: a warning, no effect.
    Deprecated,
    /// Removed from the RHEL 10 handler: an error, as in pykickstart.
    Removed,
}

const SUPPORTED: &[&str] = &[
    "zerombr",
    "clearpart",
    "ignoredisk",
    "autopart",
    "part",
    "partition",
    "reqpart",
    "raid",
    "volgroup",
    "logvol",
    "bootloader",
    "user",
    "sshkey",
    "rootpw",
    "lang",
    "keyboard",
    "timezone",
    "network",
    "ostreecontainer",
    "bootc",
    "reboot",
    "poweroff",
    "shutdown",
    "halt",
    "text",
    "cmdline",
    "graphical",
];

/// Commands of pykickstart's RHEL 10 handler that Kickstand does not implement.
const UNSUPPORTED: &[&str] = &[
    "authselect",
    "cdrom",
    "driverdisk",
    "eula",
    "fcoe",
    "firewall",
    "firstboot",
    "group",
    "harddrive",
    "hmc",
    "iscsi",
    "iscsiname",
    "liveimg",
    "logging",
    "mediacheck",
    "mount",
    "nfs",
    "ostreesetup",
    "rdp",
    "realm",
    "repo",
    "rescue",
    "rhsm",
    "selinux",
    "services",
    "skipx",
    "snapshot",
    "sshpw",
    "syspurpose",
    "timesource",
    "updates",
    "url",
    "xconfig",
    "zfcp",
    "zipl",
];

const DEPRECATED: &[&str] = &["module", "vnc"];

const REMOVED: &[&str] = &[
    "auth",
    "authconfig",
    "autostep",
    "btrfs",
    "device",
    "deviceprobe",
    "dmraid",
    "install",
    "method",
    "multipath",
    "nvdimm",
];

/// Classifies a command name (case-sensitive, as in pykickstart); `None` = unknown.
pub fn classify(name: &str) -> Option<Known> {
    if let Some(n) = SUPPORTED.iter().find(|n| **n == name) {
        let canonical = match *n {
            "partition" => "part",
            "poweroff" | "shutdown" | "halt" => "reboot",
            "cmdline" | "graphical" => "text",
            other => other,
        };
        return Some(Known::Supported(canonical));
    }
    if UNSUPPORTED.contains(&name) {
        return Some(Known::Unsupported);
    }
    if DEPRECATED.contains(&name) {
        return Some(Known::Deprecated);
    }
    if REMOVED.contains(&name) {
        return Some(Known::Removed);
    }
    None
}

/// Runs supported command `cmd.name` against `ks`.
pub fn apply(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    match cmd.name.text.as_str() {
        "zerombr" => storage::zerombr(ks, cmd),
        "clearpart" => storage::clearpart(ks, cmd),
        "ignoredisk" => storage::ignoredisk(ks, cmd),
        "autopart" => storage::autopart(ks, cmd),
        "part" | "partition" => storage::part(ks, cmd),
        "reqpart" => storage::reqpart(ks, cmd),
        "raid" => volumes::raid(ks, cmd),
        "volgroup" => volumes::volgroup(ks, cmd),
        "logvol" => volumes::logvol(ks, cmd),
        "bootloader" => storage::bootloader(ks, cmd),
        "user" => system::user(ks, cmd),
        "sshkey" => system::sshkey(ks, cmd),
        "rootpw" => system::rootpw(ks, cmd),
        "lang" => system::lang(ks, cmd),
        "keyboard" => system::keyboard(ks, cmd),
        "timezone" => system::timezone(ks, cmd),
        "network" => system::network(ks, cmd),
        "ostreecontainer" => image::ostreecontainer(ks, cmd),
        "bootc" => image::bootc(ks, cmd),
        "reboot" | "poweroff" | "shutdown" | "halt" => image::action(ks, cmd),
        "text" | "cmdline" | "graphical" => image::display_mode(ks, cmd),
        other => unreachable_command(other, cmd),
    }
}

fn unreachable_command(name: &str, cmd: &Cmd<'_>) -> Result<(), Finding> {
    Err(Finding::at(cmd.name, format!("Unknown command: {name}")))
}

/// Keeps an unsupported command verbatim.
pub fn unsupported(ks: &mut Kickstart, name: &Word, args: &[Word]) {
    ks.unsupported.push(UnsupportedCommand {
        name: name.text.clone(),
        args: args.iter().map(|w| w.text.clone()).collect(),
    });
}

/// The closest known command name to a misspelt one (edit distance ≤ 2).
pub fn suggest(name: &str) -> Option<&'static str> {
    SUPPORTED
        .iter()
        .chain(UNSUPPORTED)
        .map(|c| (distance(name, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
