//! The line state machine, as pykickstart's `_stateMachine`: commands, sections, `%include`.
//!
//! Lines come from a stack of sources (the file, then each `%include`d file pushed on top), so
//! an include can supply commands or the lines of an open section, exactly as in pykickstart.

use crate::ast::{Kickstart, ScriptKind, Source};
use crate::commands::{self, Cmd, Finding, Known, Reference};
use crate::diagnostic::{Diagnostic, Severity};
use crate::lexer::{self, Word};
use crate::loader::{LoadError, Loader, decode};
use crate::redact;
use crate::sections::{self, SectionKind};
use crate::{MAX_INCLUDE_DEPTH, MAX_INPUT_BYTES, Parsed};
use std::collections::HashSet;
use std::rc::Rc;

/// More diagnostics than this in one parse are not useful; the rest are summarised.
const MAX_DIAGNOSTICS: usize = 500;
/// More `%include`s than this in one parse are refused (a fan-out bomb, not a kickstart).
const MAX_INCLUDES: usize = 1000;

/// One source on the include stack.
#[derive(Debug)]
struct Frame {
    name: Rc<str>,
    text: String,
    pos: usize,
    line_no: usize,
}

/// One line of input and where it came from.
#[derive(Debug, Clone)]
struct Line {
    file: Rc<str>,
    no: usize,
    text: String,
}

/// An include that could not be read: an error unless a `%pre` could write it.
#[derive(Debug)]
struct MissingInclude {
    line: Line,
    word: Word,
    error: String,
}

struct Parser<'l> {
    loader: &'l dyn Loader,
    stack: Vec<Frame>,
    pushed_back: Option<Line>,
    /// The line number of the last line read from the top-level file.
    last_top_line: usize,
    total_bytes: usize,
    includes: usize,
    ks: Kickstart,
    diagnostics: Vec<Diagnostic>,
    dropped: usize,
    seen: HashSet<&'static str>,
    missing: Vec<MissingInclude>,
    /// The top-level file's name.
    top: Rc<str>,
    /// The `%packages` header, for the warning that it is ignored.
    packages_header: Option<(Line, Word)>,
    /// Names used by storage commands, checked against the whole kickstart at the end.
    refs: Vec<(Line, Reference)>,
    /// The `%pre` scripts already ran: a missing `%include` is an error whatever the scripts.
    after_pre: bool,
}

pub fn parse(name: &str, text: &str, loader: &dyn Loader) -> Parsed {
    parse_with(name, text, loader, false)
}

/// [`parse`], told whether the `%pre` scripts already ran (then an `%include` that cannot be
/// read is an error, not a file a `%pre` may still write).
pub fn parse_with(name: &str, text: &str, loader: &dyn Loader, after_pre: bool) -> Parsed {
    let mut p = Parser {
        loader,
        stack: vec![Frame {
            name: Rc::from(name),
            text: text.to_string(),
            pos: 0,
            line_no: 0,
        }],
        pushed_back: None,
        last_top_line: 0,
        total_bytes: text.len(),
        includes: 0,
        ks: Kickstart::default(),
        diagnostics: Vec::new(),
        dropped: 0,
        seen: HashSet::new(),
        missing: Vec::new(),
        top: Rc::from(name),
        packages_header: None,
        refs: Vec::new(),
        after_pre,
    };
    if text.len() > MAX_INPUT_BYTES {
        p.report(
            Severity::Error,
            &Line {
                file: Rc::from(name),
                no: 0,
                text: String::new(),
            },
            1,
            1,
            format!(
                "the kickstart is {} bytes; more than {MAX_INPUT_BYTES} bytes is refused",
                text.len()
            ),
        );
        return p.finish();
    }
    p.run();
    p.finish()
}

impl Parser<'_> {
    fn next_line(&mut self) -> Option<Line> {
        if let Some(line) = self.pushed_back.take() {
            return Some(line);
        }
        loop {
            let depth = self.stack.len();
            let frame = self.stack.last_mut()?;
            if frame.pos >= frame.text.len() {
                self.stack.pop();
                continue;
            }
            let rest = &frame.text[frame.pos..];
            let (text, advance) = match rest.find('\n') {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            let text = text.strip_suffix('\r').unwrap_or(text).to_string();
            frame.pos += advance;
            frame.line_no += 1;
            if depth == 1 {
                self.last_top_line = frame.line_no;
            }
            return Some(Line {
                file: frame.name.clone(),
                no: frame.line_no,
                text,
            });
        }
    }

    fn report(
        &mut self,
        severity: Severity,
        line: &Line,
        column: usize,
        len: usize,
        message: impl Into<String>,
    ) {
        if self.diagnostics.len() >= MAX_DIAGNOSTICS {
            self.dropped += 1;
            return;
        }
        let text = redact::redact(&line.text);
        self.diagnostics.push(Diagnostic::new(
            severity, &line.file, line.no, column, len, message, &text,
        ));
    }

    fn report_finding(&mut self, severity: Severity, line: &Line, f: Finding) {
        self.report(severity, line, f.column, f.len, f.message);
    }

    fn split(&mut self, line: &Line) -> Option<Vec<Word>> {
        match lexer::split(&line.text) {
            Ok(words) => Some(words),
            Err(e) if e.trailing_backslash => {
                // pykickstart reads the newline as the escaped character; the line does not
                // continue. Accept it as pykickstart does, but say so.
                let message = "a trailing backslash does not continue a kickstart line; it is \
                               ignored";
                self.report(Severity::Warning, line, e.column, 1, message);
                let trimmed = &line.text[..line.text.len() - 1];
                lexer::split(trimmed).ok()
            }
            Err(e) => {
                self.report(Severity::Error, line, e.column, 1, e.message);
                None
            }
        }
    }

    fn run(&mut self) {
        while let Some(line) = self.next_line() {
            if is_blank_or_comment(&line.text) {
                continue;
            }
            let Some(words) = self.split(&line) else {
                continue;
            };
            let Some(first) = words.first() else {
                continue;
            };
            match first.text.as_str() {
                "%include" | "%ksappend" => self.include(&line, &words),
                w if w.starts_with('%') => self.section(&line, &words),
                _ => self.command(&line, &words),
            }
        }
    }

    fn command(&mut self, line: &Line, words: &[Word]) {
        let name = &words[0];
        let args = &words[1..];
        match commands::classify(&name.text) {
            Some(Known::Supported(canonical)) => {
                let mut warnings = Vec::new();
                let mut refs = Vec::new();
                let result = {
                    let mut cmd = Cmd {
                        name,
                        args,
                        warnings: &mut warnings,
                        seen: &self.seen,
                        source: Source {
                            file: line.file.to_string(),
                            line: u32::try_from(line.no).unwrap_or(u32::MAX),
                            column: u32::try_from(name.column).unwrap_or(u32::MAX),
                        },
                        refs: &mut refs,
                    };
                    commands::apply(&mut self.ks, &mut cmd)
                };
                for w in warnings {
                    self.report_finding(Severity::Warning, line, w);
                }
                match result {
                    Ok(()) => {
                        self.seen.insert(canonical);
                        self.refs
                            .extend(refs.into_iter().map(|r| (line.clone(), r)));
                    }
                    Err(f) => self.report_finding(Severity::Error, line, f),
                }
            }
            Some(Known::Unsupported) => {
                let conflict = match name.text.as_str() {
                    "mount" => Some(
                        ["autopart", "part", "raid", "volgroup", "logvol", "reqpart"].as_slice(),
                    ),
                    "ostreesetup" => Some(["ostreecontainer", "bootc"].as_slice()),
                    _ => None,
                };
                if let Some(other) =
                    conflict.and_then(|c| c.iter().find(|o| self.seen.contains(*o)))
                {
                    let message = format!(
                        "The {} and {other} commands can't be used at the same time.",
                        name.text
                    );
                    self.report(Severity::Error, line, name.column, name.len, message);
                    return;
                }
                let message = format!(
                    "the {} command is not supported by Kickstand, ignored",
                    name.text
                );
                self.report(Severity::Warning, line, name.column, name.len, message);
                commands::unsupported(&mut self.ks, name, args);
                let leaked: &'static str = match name.text.as_str() {
                    "mount" => "mount",
                    "ostreesetup" => "ostreesetup",
                    _ => return,
                };
                self.seen.insert(leaked);
            }
            Some(Known::Deprecated) => {
                let message = format!(
                    "Ignoring deprecated command: the {} command has been deprecated and no \
                     longer has any effect",
                    name.text
                );
                self.report(Severity::Warning, line, name.column, name.len, message);
            }
            Some(Known::Removed) => {
                let message = format!(
                    "{} has been removed (pykickstart's RHEL 10 handler no longer accepts it)",
                    name.text
                );
                self.report(Severity::Error, line, name.column, name.len, message);
            }
            None => {
                let mut message = format!("Unknown command: {}", name.text);
                if let Some(s) = commands::suggest(&name.text) {
                    message.push_str(&format!(" (did you mean `{s}`?)"));
                }
                self.report(Severity::Error, line, name.column, name.len, message);
            }
        }
    }

    fn include(&mut self, line: &Line, words: &[Word]) {
        let directive = &words[0];
        let Some(target) = words.get(1).filter(|w| !w.text.is_empty()) else {
            let message = format!("{} needs a file name", directive.text);
            self.report(
                Severity::Error,
                line,
                directive.column,
                directive.len,
                message,
            );
            return;
        };
        if let Some(extra) = words.get(2) {
            let message = format!(
                "{} takes one file name; `{}` is extra",
                directive.text, extra.text
            );
            self.report(Severity::Warning, line, extra.column, extra.len, message);
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            let message = format!(
                "%include nested more than {MAX_INCLUDE_DEPTH} levels deep: {}",
                self.chain()
            );
            self.report(Severity::Error, line, target.column, target.len, message);
            return;
        }
        if self.includes >= MAX_INCLUDES {
            let message = format!("more than {MAX_INCLUDES} %include directives; refusing more");
            self.report(Severity::Error, line, target.column, target.len, message);
            return;
        }
        self.includes += 1;
        let loaded = match self.loader.load(&target.text, &line.file) {
            Ok(l) => l,
            Err(e) => {
                let error = match &e {
                    LoadError::Io { source, .. } => format!("{e}: {source}"),
                    _ => e.to_string(),
                };
                self.missing.push(MissingInclude {
                    line: line.clone(),
                    word: target.clone(),
                    error,
                });
                return;
            }
        };
        if self.stack.iter().any(|f| *f.name == *loaded.name) {
            let message = format!(
                "%include cycle: {} includes {} again",
                self.chain(),
                loaded.name
            );
            self.report(Severity::Error, line, target.column, target.len, message);
            return;
        }
        self.total_bytes += loaded.bytes.len();
        if self.total_bytes > MAX_INPUT_BYTES {
            let message = format!(
                "the kickstart with its includes is over {MAX_INPUT_BYTES} bytes; refusing {}",
                loaded.name
            );
            self.report(Severity::Error, line, target.column, target.len, message);
            return;
        }
        match decode(&loaded.name, &loaded.bytes) {
            Ok(text) => self.stack.push(Frame {
                name: Rc::from(loaded.name.as_str()),
                text,
                pos: 0,
                line_no: 0,
            }),
            Err(d) => {
                if self.diagnostics.len() < MAX_DIAGNOSTICS {
                    self.diagnostics.push(*d);
                }
            }
        }
    }

    /// `a.ks → b.ks → c.ks` for the include stack.
    fn chain(&self) -> String {
        let names: Vec<&str> = self.stack.iter().map(|f| &*f.name).collect();
        names.join(" → ")
    }

    fn section(&mut self, header: &Line, words: &[Word]) {
        let open = &words[0];
        let kind = sections::classify(&open.text);
        let mut script = None;
        let mut packages = None;
        match kind {
            Some(SectionKind::Script(k)) => match sections::script_header(k, &words[1..]) {
                Ok(s) => script = Some(s),
                Err(f) => self.report_finding(Severity::Error, header, f),
            },
            Some(SectionKind::Packages) => match sections::packages_header(&words[1..]) {
                Ok(p) => packages = Some(p),
                Err(f) => self.report_finding(Severity::Error, header, f),
            },
            Some(SectionKind::Unsupported) => {
                let message = format!(
                    "the {} section is not supported by Kickstand, ignored",
                    open.text
                );
                self.report(Severity::Warning, header, open.column, open.len, message);
            }
            None => {
                let message = if open.text == "%end" {
                    "%end without an open section".to_string()
                } else {
                    format!("Unknown kickstart section: {}", open.text)
                };
                self.report(Severity::Error, header, open.column, open.len, message);
                if open.text == "%end" {
                    return;
                }
            }
        }
        let mut body = String::new();
        let mut closed = false;
        while let Some(line) = self.next_line() {
            let trimmed = line.text.trim_start();
            if trimmed.starts_with('%') {
                let first = trimmed.split_whitespace().next().unwrap_or_default();
                let is_header = sections::classify(first).is_some();
                if is_header || matches!(first, "%end" | "%include" | "%ksappend") {
                    let Some(words) = self.split(&line) else {
                        continue;
                    };
                    let first = words.first().map(|w| w.text.as_str()).unwrap_or_default();
                    if first == "%end" {
                        closed = true;
                        break;
                    }
                    if matches!(first, "%include" | "%ksappend") {
                        self.include(&line, &words);
                        continue;
                    }
                    let message = format!(
                        "Section {} does not end with %end (opened at {}:{}); a new section \
                         starts here",
                        open.text, header.file, header.no
                    );
                    self.report(Severity::Error, &line, 1, line.text.len(), message);
                    self.pushed_back = Some(line);
                    closed = true;
                    break;
                }
            }
            body.push_str(&line.text);
            body.push('\n');
        }
        if !closed {
            let message = format!(
                "Section {} does not end with %end (opened at {}:{})",
                open.text, header.file, header.no
            );
            let eof = Line {
                file: self.top.clone(),
                no: self.last_top_line,
                text: String::new(),
            };
            self.report(Severity::Error, &eof, 1, 1, message);
        }
        if let Some(mut s) = script {
            s.body = body;
            self.ks.scripts.push(s);
        } else if let Some(mut p) = packages {
            p.body = body;
            self.packages_header = Some((header.clone(), open.clone()));
            self.ks.packages = Some(p);
        }
    }

    fn finish(mut self) -> Parsed {
        let mut used = Vec::new();
        for (line, r) in std::mem::take(&mut self.refs) {
            if let Some(message) = r.check(&self.ks, &mut used) {
                self.report(Severity::Error, &line, r.column, r.len, message);
            }
        }
        let pre_exists = self.ks.scripts.iter().any(|s| s.kind == ScriptKind::Pre);
        for m in std::mem::take(&mut self.missing) {
            let (severity, message) = if self.after_pre {
                (
                    Severity::Error,
                    format!(
                        "cannot read %include {}: {} (the %pre scripts ran and did not write it)",
                        m.word.text, m.error
                    ),
                )
            } else if pre_exists {
                (
                    Severity::Warning,
                    format!(
                        "cannot read %include {}: {}; assuming a %pre script writes it (it \
                         is read again after %pre runs)",
                        m.word.text, m.error
                    ),
                )
            } else {
                (
                    Severity::Error,
                    format!(
                        "cannot read %include {}: {} (no %pre script could write it)",
                        m.word.text, m.error
                    ),
                )
            };
            self.report(severity, &m.line, m.word.column, m.word.len, message);
        }
        if let Some((line, word)) = self.packages_header.take() {
            let image = self.ks.ostreecontainer.is_some() || self.ks.bootc.is_some();
            let message = if image {
                "%packages is ignored: Kickstand installs the container image as it is"
            } else {
                "%packages is ignored: Kickstand installs container images, not packages"
            };
            self.report(Severity::Warning, &line, word.column, word.len, message);
        }
        if self.dropped > 0 {
            let d = self.diagnostics.last().cloned();
            if let Some(d) = d {
                self.diagnostics.push(Diagnostic::new(
                    Severity::Error,
                    &d.file,
                    d.line,
                    1,
                    1,
                    format!("{} more diagnostics were not shown", self.dropped),
                    "",
                ));
            }
        }
        Parsed {
            kickstart: self.ks,
            diagnostics: self.diagnostics,
        }
    }
}

/// pykickstart's `_isBlankOrComment`.
fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}
