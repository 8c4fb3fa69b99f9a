//! Reading a VM's serial console log as it grows: lines cleaned of carriage returns and
//! terminal escape sequences (OVMF draws with them), a cursor for successive waits, and the tail
//! for error messages.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A console log file and how far the waits have read it.
#[derive(Debug)]
pub(super) struct Console {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Console {
    pub fn new(path: PathBuf) -> Self {
        Console {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The complete lines written since the last call, cleaned. With `flush`, a final line
    /// without its newline is returned too (the VM has exited).
    pub fn new_lines(&mut self, flush: bool) -> Vec<String> {
        if let Ok(mut f) = std::fs::File::open(&self.path)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let mut buf = Vec::new();
            if let Ok(n) = f.read_to_end(&mut buf) {
                self.offset += n as u64;
                self.partial.extend_from_slice(&buf);
            }
        }
        let mut lines = Vec::new();
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let rest = self.partial.split_off(pos + 1);
            lines.push(clean(&self.partial));
            self.partial = rest;
        }
        if flush && !self.partial.is_empty() {
            lines.push(clean(&std::mem::take(&mut self.partial)));
        }
        lines
    }

    /// The last `n` non-empty lines of the whole log, cleaned, each ending in a newline.
    pub fn tail(&self, n: usize) -> String {
        tail_of(&self.path, n)
    }
}

/// The last `n` non-empty lines of a log file, cleaned, each ending in a newline.
pub(crate) fn tail_of(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let lines: Vec<String> = text
        .split(|&b| b == b'\n')
        .map(clean)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// One console line as text: without `\r`, terminal escape sequences and other control bytes.
pub(crate) fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: ESC [ params final-byte; other escapes: ESC + one or two chars.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else if matches!(chars.next(), Some('(' | ')' | '#' | '%')) {
                    // Character set and similar designations take one more byte.
                    chars.next();
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn cleans_escapes_and_carriage_returns() {
        assert_eq!(
            clean(b"\x1b[2J\x1b[01;01HBdsDxe: loading\r"),
            "BdsDxe: loading"
        );
        assert_eq!(clean(b"\x1b(Bplain\ttab\x07"), "plain\ttab");
    }

    #[test]
    fn reads_lines_as_they_grow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut c = Console::new(path.clone());
        assert!(c.new_lines(false).is_empty());
        f.write_all(b"one\r\ntw").unwrap();
        assert_eq!(c.new_lines(false), ["one"]);
        f.write_all(b"o\nthree").unwrap();
        assert_eq!(c.new_lines(false), ["two"]);
        assert_eq!(c.new_lines(true), ["three"]);
        assert_eq!(c.tail(2), "two\nthree\n");
    }
}
